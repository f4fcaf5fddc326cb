"""Plans render for people and machines; the guard refuses mass deletions unless forced."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

import pytest

from byoc.domain.plan import (
    Action,
    Change,
    GuardLimits,
    JsonValue,
    Payload,
    PayloadMismatch,
    Plan,
    SafetyGuardRefused,
    Takes,
    guard,
    unfit,
)


def removal(n: int, target: str = "genesys") -> Change:
    numbers = tuple(f"+1415555{i:04d}" for i in range(n))
    return Change(target=target, action=Action.REMOVE, kind="did_pool", key="p",
                  summary=f"remove {n}", numbers_removed=numbers)


def test_a_plan_removing_more_than_the_fraction_is_refused_with_a_way_forward() -> None:
    plan = Plan(target="genesys", changes=(removal(20),), numbers_before=100)
    with pytest.raises(SafetyGuardRefused) as caught:
        guard(plan, GuardLimits(max_delete_fraction=0.1, max_delete_count=100))
    assert "20 of 100" in str(caught.value)
    assert "--force" in str(caught.value)


def test_a_plan_within_the_limits_passes() -> None:
    plan = Plan(target="genesys", changes=(removal(10),), numbers_before=100)
    guard(plan, GuardLimits(max_delete_fraction=0.1, max_delete_count=100))


def test_the_absolute_cap_applies_even_to_a_small_fraction() -> None:
    plan = Plan(target="sbc:sbc1", changes=(removal(150, "sbc:sbc1"),), numbers_before=10_000)
    with pytest.raises(SafetyGuardRefused, match="cap of 100"):
        guard(plan, GuardLimits(max_delete_fraction=0.5, max_delete_count=100))


def test_force_lets_a_refused_plan_through() -> None:
    plan = Plan(target="genesys", changes=(removal(90),), numbers_before=100)
    guard(plan, GuardLimits(), force=True)


def test_moving_a_number_between_pools_is_not_a_deletion() -> None:
    numbers = ("+14155550100",)
    plan = Plan(target="genesys", numbers_before=1, changes=(
        Change("genesys", Action.REMOVE, "did_pool", "a", "old", numbers_removed=numbers),
        Change("genesys", Action.ADD, "did_pool", "b", "new", numbers_added=numbers),
    ))
    assert plan.numbers_removed() == set()
    guard(plan, GuardLimits(max_delete_fraction=0.0, max_delete_count=0))


@dataclass(frozen=True)
class Prefix(Payload):
    prefix: str

    def to_json(self) -> JsonValue:
        return {"prefix": self.prefix}


def test_text_and_json_renderings_show_every_change() -> None:
    plan = Plan(target="sbc:sbc1", changes=(
        Change("sbc:sbc1", Action.ADD, "dial_plan_rule", "byoc-main-1", "+1415555[0100-0199]",
               after=Prefix("+1415555[0100-0199]"), numbers_added=("+14155550100",)),
    ), conflicts=("rule X overlaps foreign rule Y",))
    text = plan.render_text()
    assert "sbc:sbc1: 1 to add" in text and "+ dial_plan_rule byoc-main-1" in text
    assert "conflict: rule X overlaps" in text
    data = json.loads(json.dumps(plan.to_json()))
    assert data["changes"][0]["after"] == {"prefix": "+1415555[0100-0199]"}
    assert Plan(target="twilio").render_text() == "twilio: no changes"


def test_numbers_asked_to_be_released_count_only_against_the_cap() -> None:
    plan = Plan(target="twilio", changes=(removal(5, "twilio"),), numbers_before=20)
    asked = frozenset(f"+1415555{i:04d}" for i in range(5))
    guard(plan, GuardLimits(max_delete_fraction=0.1, max_delete_count=100), releasing=asked)
    with pytest.raises(SafetyGuardRefused, match="of 20"):
        guard(plan, GuardLimits(max_delete_fraction=0.1, max_delete_count=100),
              releasing=frozenset(list(asked)[:2]))
    with pytest.raises(SafetyGuardRefused, match="cap of 4"):
        guard(plan, GuardLimits(max_delete_fraction=0.1, max_delete_count=4), releasing=asked)


def test_unfit_lists_unknown_kinds_and_refuses_a_payload_its_kind_does_not_take() -> None:
    takes = {"rule": Takes(before=Prefix, after=Prefix), "save": Takes()}
    add = Change("sbc:sbc1", Action.ADD, "rule", "r", "", after=Prefix("+1"))
    plan = Plan(target="sbc:sbc1", changes=(
        add, Change("sbc:sbc1", Action.UPDATE, "save", "s", ""),
        Change("sbc:sbc1", Action.ADD, "zone", "z", ""), Change("sbc:sbc1", Action.ADD, "a", "a", "")))

    assert unfit(plan, takes) == ["a", "zone"]
    with pytest.raises(PayloadMismatch, match="save s: its after is Prefix, not empty"):
        unfit(Plan(target="sbc:sbc1", changes=(replace(plan.changes[1], after=Prefix("+1")),)),
              takes)
