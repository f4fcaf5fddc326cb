"""The SBC dial-plan reconciler against an in-memory SBC: owned rules cover exactly the managed
numbers by tag, foreign rules are never written, and every sync is one upload plus one save."""

from __future__ import annotations

from dataclasses import replace

import pytest
from fakes import FakeInventory, FakeLease, FakeLocks, FakeOperations, FakeQueue, FakeState

from byoc.adapters.audiocodes_dialplan import edit_problems
from byoc.adapters.audiocodes_errors import SbcScriptFailed, SbcWriteNotApplied
from byoc.domain.dialplan import best_rule, numbers_of, parse_dial_pattern, ranges_of
from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.numbers import NumberSet
from byoc.domain.plan import Action, Change, GuardLimits, Plan
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.ports import SbcDialPlan, SbcDialPlanEdit, SbcDialPlanRule, SbcDialPlans
from byoc.services.reconcile import ReconcilerRegistry, ReconcileService, desired_state
from byoc.services.sbc_model import (
    DialPlanCapacityExceeded,
    DialPlanWriteRolledBack,
    ForeignDialPlanRuleError,
    desired_rules,
)
from byoc.services.sbc_payloads import PlacedRule
from byoc.services.sbc_reconciler import SbcDialPlanReconciler
from byoc.settings import SbcSettings

POLICY = """
version: 1
managed: {all_on_trunk: false, prefixes: ["+1415555"]}
rules:
  - {name: main-line, match: "+14155550", genesys: {ivr: Main IVR}, sbc_tag: main}
  - {name: alice, match: "+14155550150", genesys: {user: alice@example.com}, sbc_tag: direct}
defaults: {genesys: {ivr: Sales IVR}, sbc_tag: default}
"""
SBC = SbcSettings(name="sbc1", management_url="https://10.0.1.4", fqdn="sbc1.example.net")
FOREIGN = (
    SbcDialPlanRule(0, "hq-pool", "+141555509xx#", "hq"),
    SbcDialPlanRule(1, "catch-all", "*", "pstn"),
)


class FakeSbc:
    """One SBC's Dial Plans in memory; writes apply like the device (upsert by index, delete),
    unless `ignore_writes`, when the device answers success and changes nothing."""

    def __init__(self, plans: list[SbcDialPlan] | None = None, source: str = "ini") -> None:
        self.plans = {p.index: p for p in (plans or [SbcDialPlan(0, "BYOC", FOREIGN)])}
        self.source = source
        self.reads = 0
        self.writes: list[SbcDialPlanEdit] = []
        self.ignore_writes = False

    def read_dial_plans(self) -> SbcDialPlans:
        self.reads += 1
        return SbcDialPlans(tuple(sorted(self.plans.values(), key=lambda p: p.index)), self.source)

    def write_dial_plan(self, edit: SbcDialPlanEdit) -> SbcDialPlans:
        self.writes.append(edit)
        if not self.ignore_writes:
            plan = self.plans.get(edit.plan_index) or SbcDialPlan(edit.plan_index, edit.plan_name)
            rules = {r.index: r for r in plan.rules}
            rules.update({r.index: r for r in edit.put})
            for index in edit.delete:
                rules.pop(index, None)
            self.plans[edit.plan_index] = replace(
                plan, rules=tuple(sorted(rules.values(), key=lambda r: r.index)))
        after = self.read_dial_plans()
        problems = edit_problems(edit, after)
        if problems:
            raise SbcWriteNotApplied("; ".join(problems))
        return after

    def rules(self, plan: str = "BYOC") -> list[SbcDialPlanRule]:
        found = self.read_dial_plans().named(plan)
        self.reads -= 1
        return list(found.rules) if found else []

    def owned(self) -> list[SbcDialPlanRule]:
        return [r for r in self.rules() if r.name.startswith("byoc-")]


def policy() -> Policy:
    return load_policy(POLICY, "policy.yaml")


def records(numbers: list[str], state: NumberState = NumberState.ONBOARDING) -> list[NumberRecord]:
    return [NumberRecord(number=n, state=state) for n in numbers]


def block(first: int, count: int) -> list[str]:
    return [f"+{first + i}" for i in range(count)]


def sync(
    sbc: FakeSbc, numbers: list[str], releasing: list[str] | None = None
) -> tuple[Plan, list[str]]:
    reconciler = SbcDialPlanReconciler(SBC, sbc)
    gone = records(releasing or [], NumberState.RELEASING)
    state = desired_state(records(numbers) + gone, policy())
    desired = reconciler.desired(state)
    plan = reconciler.plan(reconciler.read_actual(), desired)
    if not plan.is_empty:
        reconciler.apply(plan, FakeLease())
    return plan, reconciler.verify(desired)


def resolved_tag(sbc: FakeSbc, number: str) -> str | None:
    rule = best_rule(sbc.rules(), number)
    return rule.tag if rule else None


# --- onboarding -------------------------------------------------------------------------------


def test_contiguous_block_of_1000_numbers_is_one_rule_written_in_one_upload() -> None:
    sbc = FakeSbc()
    numbers = block(14155551000, 1000)

    plan, problems = sync(sbc, numbers)

    assert problems == []
    assert [(r.name, r.prefix, r.tag) for r in sbc.owned()] == [
        ("byoc-4155551000", "+14155551xxx#", "default")
    ]
    assert len(sbc.writes) == 1
    assert plan.numbers_added() == set(numbers)
    assert all(resolved_tag(sbc, n) == "default" for n in numbers)
    assert resolved_tag(sbc, "+14155552000") == "pstn"  # outside the block: the foreign catch-all


def test_numbers_are_grouped_by_their_policy_tag() -> None:
    sbc = FakeSbc()
    numbers = block(14155550100, 100)  # main-line, with alice's +14155550150 tagged direct

    _, problems = sync(sbc, numbers)

    assert problems == []
    assert resolved_tag(sbc, "+14155550150") == "direct"
    assert resolved_tag(sbc, "+14155550151") == "main"
    assert {r.tag for r in sbc.owned()} == {"main", "direct"}


def test_scattered_numbers_get_valid_rules_and_still_one_upload() -> None:
    import random

    rng = random.Random(7)
    numbers = sorted({f"+1415555{rng.randint(1000, 9999):04d}" for _ in range(400)})
    sbc = FakeSbc()

    _, problems = sync(sbc, numbers)

    assert problems == []
    assert len(sbc.writes) == 1
    owned = sbc.owned()
    assert all(len(r.name) <= 15 and len(r.prefix) <= 50 and len(r.tag) <= 16 for r in owned)
    assert len({r.name for r in owned}) == len(owned)
    assert all(resolved_tag(sbc, n) == "default" for n in numbers)


def test_a_second_sync_changes_nothing_and_writes_nothing() -> None:
    sbc = FakeSbc()
    numbers = block(14155551000, 50)
    sync(sbc, numbers)

    plan, problems = sync(sbc, numbers)

    assert plan.is_empty and problems == []
    assert len(sbc.writes) == 1


def test_missing_dial_plan_is_created_with_the_rules() -> None:
    sbc = FakeSbc([SbcDialPlan(0, "Teams", (SbcDialPlanRule(0, "teams", "+1628[0-9]xxx#", "t"),))])

    plan, problems = sync(sbc, block(14155551000, 10))

    assert problems == []
    assert plan.changes[0].kind == "dial-plan"
    assert sbc.writes[0].create_plan and sbc.writes[0].plan_index == 1
    assert sbc.rules("Teams") == [SbcDialPlanRule(0, "teams", "+1628[0-9]xxx#", "t")]


# --- changes ----------------------------------------------------------------------------------


def test_growing_block_updates_its_rule_in_place() -> None:
    sbc = FakeSbc()
    sync(sbc, block(14155551000, 100))
    index = sbc.owned()[0].index

    plan, problems = sync(sbc, block(14155551000, 200))

    assert problems == []
    assert [c.action for c in plan.changes] == [Action.UPDATE]
    assert [(r.index, r.prefix) for r in sbc.owned()] == [(index, "+14155551[0-1]xx#")]
    assert plan.numbers_added() == set(block(14155551100, 100))


def test_tag_change_is_an_update_not_a_removal() -> None:
    sbc = FakeSbc()
    numbers = block(14155551000, 10)
    sync(sbc, numbers)
    retagged = load_policy(POLICY.replace("sbc_tag: default", "sbc_tag: sales"), "p.yaml")
    reconciler = SbcDialPlanReconciler(SBC, sbc)
    desired = reconciler.desired(desired_state(records(numbers), retagged))

    plan = reconciler.plan(reconciler.read_actual(), desired)

    assert [(c.action, c.summary) for c in plan.changes] == [
        (Action.UPDATE, "tag default -> sales")
    ]
    assert plan.numbers_removed() == set()


def test_offboarding_removes_coverage() -> None:
    sbc = FakeSbc()
    numbers = block(14155551000, 20)
    sync(sbc, numbers)

    plan, problems = sync(sbc, numbers[:10], releasing=numbers[10:])

    assert problems == []
    assert plan.numbers_removed() == set(numbers[10:])
    assert all(resolved_tag(sbc, n) == "pstn" for n in numbers[10:])
    assert all(resolved_tag(sbc, n) == "default" for n in numbers[:10])


def test_offboarding_every_number_deletes_every_owned_rule() -> None:
    sbc = FakeSbc()
    numbers = [*block(14155551000, 20), "+14155553333"]
    sync(sbc, numbers)

    _, problems = sync(sbc, [], releasing=numbers)

    assert problems == []
    assert sbc.owned() == []
    assert sbc.rules() == list(FOREIGN)


def test_hand_widened_owned_rule_is_put_back() -> None:
    sbc = FakeSbc()
    sync(sbc, block(14155551000, 10))
    rule = sbc.owned()[0]
    plan = sbc.plans[0]
    sbc.plans[0] = replace(plan, rules=tuple(
        replace(r, prefix="+141555510xx#") if r == rule else r for r in plan.rules))

    reconciler = SbcDialPlanReconciler(SBC, sbc)
    desired = reconciler.desired(desired_state(records(block(14155551000, 10)), policy()))
    assert any("byoc does not manage" in p for p in reconciler.verify(desired))

    _, problems = sync(sbc, block(14155551000, 10))
    assert problems == []
    assert sbc.owned()[0].prefix == rule.prefix


def test_a_hand_widened_rule_fails_only_the_numbers_on_it() -> None:
    from byoc.domain.plan import problems_by_number

    sbc = FakeSbc()
    numbers = block(14155550000, 10) + block(14155551000, 10)  # tagged main and default
    sync(sbc, numbers)
    widened = next(r for r in sbc.owned() if r.tag == "default")
    plan = sbc.plans[0]
    sbc.plans[0] = replace(plan, rules=tuple(
        replace(r, prefix="+141555510xx#") if r == widened else r for r in plan.rules))

    reconciler = SbcDialPlanReconciler(SBC, sbc)
    desired = reconciler.desired(desired_state(records(numbers), policy()))
    named = problems_by_number(reconciler.verify(desired))

    assert named is not None  # not every number of the sync
    assert set(named) == set(block(14155551000, 10))
    assert any("byoc does not manage" in p for p in named["+14155551000"])


# --- foreign rules ----------------------------------------------------------------------------


def test_foreign_rules_are_never_written() -> None:
    sbc = FakeSbc()

    sync(sbc, block(14155551000, 30))
    sync(sbc, [], releasing=block(14155551000, 30))

    for edit in sbc.writes:
        assert all(r.name.startswith("byoc-") for r in edit.put)
        assert not {0, 1} & set(edit.delete)
    assert sbc.rules() == list(FOREIGN)


def test_foreign_rule_that_wins_over_managed_numbers_is_a_conflict_and_fails_verify() -> None:
    more_specific = SbcDialPlanRule(2, "vip", "+141555512xx#", "vip")
    sbc = FakeSbc([SbcDialPlan(0, "BYOC", (*FOREIGN, more_specific))])

    plan, problems = sync(sbc, block(14155551000, 1000))

    assert any("'vip'" in c and "wins over byoc's rules for 100 managed" in c
               for c in plan.conflicts)
    assert any("100 managed number(s) resolve to foreign rule 'vip'" in p for p in problems)
    assert more_specific in sbc.rules()


def test_exact_foreign_rule_losing_numbers_to_byoc_is_reported() -> None:
    named = SbcDialPlanRule(2, "old-block", "+1415555[1000-1099]#", "old")
    sbc = FakeSbc([SbcDialPlan(0, "BYOC", (*FOREIGN, named))])

    plan, problems = sync(sbc, block(14155551000, 1000))

    assert problems == []
    assert any("take 100 number(s) from foreign rule 'old-block'" in c for c in plan.conflicts)
    assert not any("catch-all" in c for c in plan.conflicts)


def test_apply_refuses_a_change_to_a_foreign_rule() -> None:
    reconciler = SbcDialPlanReconciler(SBC, FakeSbc())
    change = Change(target="sbc:sbc1", action=Action.REMOVE, kind="dial-plan-rule", key="hq-pool",
                    summary="", before=PlacedRule(0, SbcDialPlanRule(0, "hq-pool", "+141555509xx#",
                                                                    "hq")))

    with pytest.raises(ForeignDialPlanRuleError, match="not a byoc rule"):
        reconciler.apply(Plan(target="sbc:sbc1", changes=(change,)), FakeLease())


def test_apply_refuses_a_plan_for_another_sbc() -> None:
    reconciler = SbcDialPlanReconciler(SBC, FakeSbc())

    with pytest.raises(ForeignDialPlanRuleError, match="sbc:sbc2"):
        reconciler.apply(Plan(target="sbc:sbc2"), FakeLease())


# --- device misbehaviour ----------------------------------------------------------------------


def test_write_the_device_ignored_fails_loudly_and_marks_numbers_failed() -> None:
    sbc = FakeSbc()
    sbc.ignore_writes = True
    numbers = block(14155551000, 10)
    inventory = FakeInventory(records(numbers))
    service = service_for(sbc, inventory)

    with pytest.raises(SbcWriteNotApplied, match="missing"):
        service.sync("sbc:sbc1", correlation_id="c1")

    assert all("sbc:sbc1" in r.errors for r in inventory.all())


def test_a_number_being_released_whose_rule_the_device_kept_is_not_let_go() -> None:
    from byoc.domain.plan import problems_by_number

    sbc = FakeSbc()
    kept, going = block(14155550000, 10), block(14155551000, 10)  # tagged main and default
    sync(sbc, kept + going)  # the device keeps the rule of `going` (a write that did not land)

    reconciler = SbcDialPlanReconciler(SBC, sbc)
    state = desired_state(records(kept, NumberState.ACTIVE)
                          + records(going, NumberState.RELEASING), policy())
    named = problems_by_number(reconciler.verify(reconciler.desired(state)))

    assert named is not None
    assert set(named) == set(going)  # not let go on this SBC, so Twilio does not release them


def test_sync_through_the_service_converges_numbers_on_the_sbc_target() -> None:
    sbc = FakeSbc()
    inventory = FakeInventory(records(block(14155551000, 10)))
    service = service_for(sbc, inventory)

    outcome = service.sync("sbc:sbc1", correlation_id="c1")

    assert outcome.converged and outcome.applied
    assert all("sbc:sbc1" in r.converged for r in inventory.all())


def test_mass_removal_is_refused_by_the_guard() -> None:
    sbc = FakeSbc()
    numbers = block(14155551000, 200)
    sync(sbc, numbers)
    inventory = FakeInventory(records(numbers, NumberState.RELEASING))
    service = service_for(sbc, inventory)

    outcome = service.sync("sbc:sbc1", correlation_id="c1")

    assert outcome.refused is not None
    assert len(sbc.writes) == 1


def service_for(sbc: FakeSbc, inventory: FakeInventory) -> ReconcileService:
    registry = ReconcilerRegistry()
    registry.register("sbc:sbc1", lambda: SbcDialPlanReconciler(SBC, sbc))
    return ReconcileService(
        registry=registry, inventory=inventory, operations=FakeOperations(), state=FakeState(),
        locks=FakeLocks(), queue=FakeQueue(), policy=policy, limits=GuardLimits(),
    )


# --- rules and matching -----------------------------------------------------------------------


def test_rule_names_are_deterministic_and_fall_back_to_a_hash_on_collision() -> None:
    tags = {"+14155551000": "a", "+4414155551000": "a"}  # same last 10 digits

    names = [r.name for r in desired_rules(tags)]

    assert len(set(names)) == 2 and all(len(n) <= 15 and n.startswith("byoc-") for n in names)
    assert names == [r.name for r in desired_rules(dict(reversed(tags.items())))]
    assert [r.name for r in desired_rules({"+14155551000": "a"})] == ["byoc-4155551000"]


@pytest.mark.parametrize(
    ("prefixes", "number", "winner"),
    [
        (["+1415x", "+14155"], "+14155", "+14155"),  # literal beats x
        (["*", "+1"], "+1555", "+1"),  # anything beats the catch-all
        (["532[1-9]", "532[2-4]"], "5323", "532[2-4]"),  # fewer numbers in the range wins
        (["54324", "54324#"], "54324", "54324#"),  # end-of-number beats an open prefix
        (["321", "321xxx"], "321444", "321xxx"),  # a longer match beats a shorter one
        (["x2", "[1-5]2"], "32", "x2"),  # 7.4: x outranks a range
        (["[1,3]5", "[3,4]5"], "35", "[1,3]5"),  # lists are not compared: the lower index wins
        (["1(5)", "1"], "125", "1(5)"),  # a suffix beats nothing
    ],
)
def test_most_specific_rule_wins(prefixes: list[str], number: str, winner: str) -> None:
    rules = [SbcDialPlanRule(i, f"r{i}", p, p) for i, p in enumerate(prefixes)]

    chosen = best_rule(rules, number)

    assert chosen is not None and chosen.prefix == winner


def test_unparseable_prefix_matches_nothing() -> None:
    assert parse_dial_pattern("12[3") is None
    assert parse_dial_pattern("1*2") is None
    assert best_rule([SbcDialPlanRule(0, "bad", "12[3", "t")], "123") is None


@pytest.mark.parametrize(
    "prefix",
    ["+14155550[10-19,30]x#", "+1415555000[0-9]#", "1+5#", "+1415X#", "+1415xxxxxxx#", "+1415555*",
     "+14155550[1-3]", "*", "+14155550(1)", "+14155550.#", "14155550xx#", "12[3"],
)
def test_ranges_of_holds_the_numbers_numbers_of_lists(prefix: str) -> None:
    listed, ranges = numbers_of(prefix), ranges_of(prefix)

    assert (ranges is None) is (listed is None)
    assert ranges is None or listed is None or (list(ranges) == sorted(listed))


def test_desired_tags_are_each_managed_numbers_policy_tag() -> None:
    numbers = [*block(14155550148, 4), "+14155551000"]
    reconciler = SbcDialPlanReconciler(SBC, FakeSbc())  # type: ignore[arg-type]

    desired = reconciler.desired(desired_state(records(numbers), policy()))

    expected = {"+14155550148": "main", "+14155550149": "main", "+14155550150": "direct",
                "+14155550151": "main", "+14155551000": "default"}
    assert dict(desired.tags) == expected and desired.tags == expected
    assert len(desired.tags) == 5 and "+14155550150" in desired.tags and "+1" not in desired.tags
    assert list(desired.rules) == desired_rules(expected)


def test_compressed_prefixes_match_exactly_their_numbers() -> None:
    numbers = [*block(14155550990, 30), "+14155557777"]
    rules = desired_rules(dict.fromkeys(numbers, "t"))

    covered: set[str] = set()
    for rule in rules:
        pattern = parse_dial_pattern(rule.prefix)
        assert pattern is not None
        covered |= rule.numbers
        assert all(pattern.matches(n) for n in rule.numbers)
    assert covered == set(NumberSet.from_e164(numbers))


def test_100000_scattered_numbers_are_refused_before_any_write() -> None:
    """100,000 numbers scattered over 8 million need far more rules than the device holds: the
    plan is refused with the figures and what to do, and nothing is uploaded."""
    import random

    rng = random.Random(16)
    numbers = [f"+1415{n:07d}" for n in rng.sample(range(2_000_000, 10_000_000), 100_000)]
    sbc = FakeSbc()
    reconciler = SbcDialPlanReconciler(SBC, sbc)
    wide = load_policy(POLICY.replace('prefixes: ["+1415555"]', 'prefixes: ["+1415"]'), "p.yaml")
    state = desired_state(records(numbers), wide)

    with pytest.raises(DialPlanCapacityExceeded) as refused:
        reconciler.plan(reconciler.read_actual(), reconciler.desired(state))

    message = str(refused.value)
    print(message)
    assert "holds 5000 rules" in message and "Nothing was written" in message
    assert "max_dial_plan_rules" in message and "fewer SBC tags" in message
    assert int(message.split("needs ")[1].split(" ")[0]) > 5000
    assert sbc.writes == []


def test_capacity_counts_the_rules_of_every_plan_on_the_device() -> None:
    foreign = SbcDialPlan(1, "Teams", tuple(SbcDialPlanRule(i, f"t{i}", f"+1628555{i:04d}#", "t")
                                            for i in range(3)))
    sbc = FakeSbc([foreign])
    small = SBC.model_copy(update={"max_dial_plan_rules": 4})
    reconciler = SbcDialPlanReconciler(small, sbc)
    state = desired_state(records(["+14155550150", "+14155559000"]), policy())

    with pytest.raises(DialPlanCapacityExceeded, match=r"5 Dial Plan rules .*3 other rules"):
        reconciler.plan(reconciler.read_actual(), reconciler.desired(state))
    assert sbc.writes == []

    fits = SbcDialPlanReconciler(SBC.model_copy(update={"max_dial_plan_rules": 5}), sbc)
    plan = fits.plan(fits.read_actual(), fits.desired(state))
    assert len(plan.changes) == 3  # the plan, two rules


class PartlyFailingSbc(FakeSbc):
    """Applies the first `accepted` rules of the next write, then reports the rest refused (the
    device executes a script line by line and carries on after an error)."""

    def __init__(self, accepted: int) -> None:
        super().__init__()
        self.accepted = accepted

    def write_dial_plan(self, edit: SbcDialPlanEdit) -> SbcDialPlans:
        if self.accepted < 0:
            return super().write_dial_plan(edit)
        partial = replace(edit, put=edit.put[: self.accepted], delete=())
        self.accepted = -1
        super().write_dial_plan(partial)
        raise SbcScriptFailed("the upload reported Error: line 9: activate failed: the Dial Plan "
                              "Rule table is full", "Error: line 9: ...")


def test_a_write_that_fails_part_way_is_put_back_and_saved() -> None:
    sbc = PartlyFailingSbc(accepted=2)
    sync_numbers = ["+14155550150", "+14155559000", "+14155550100"]
    before = {i: p.rules for i, p in sbc.plans.items()}

    with pytest.raises(DialPlanWriteRolledBack, match="runs its previous Dial Plan"):
        sync(sbc, sync_numbers)

    assert {i: p.rules for i, p in sbc.plans.items()} == before
    assert len(sbc.writes) == 2  # the failed upload, then the rules put back (and saved)


# --- slices (issue 25): only the rules a number event's numbers touch --------------------------


def slice_sync(
    sbc: FakeSbc, numbers: list[str], slice_: list[str], releasing: list[str] | None = None
) -> tuple[Plan, list[str]]:
    """A slice sync of `slice_`, the inventory holding `numbers` (the slice reads only its own)."""
    reconciler = SbcDialPlanReconciler(SBC, sbc)
    gone = [n for n in releasing or [] if n in slice_]
    state = desired_state(records([n for n in numbers if n in slice_ and n not in gone])
                          + records(gone, NumberState.RELEASING), policy())
    desired = reconciler.desired_slice(state, frozenset(slice_))
    plan = reconciler.plan_slice(reconciler.read_slice(frozenset(slice_)), desired)
    if not plan.is_empty:
        reconciler.apply(plan, FakeLease())
    return plan, reconciler.verify_slice(desired)


@pytest.mark.parametrize("extra", ["+14155551050", "+14155557777", "+14155550150"])
def test_a_slice_leaves_the_dial_plan_as_a_full_sync_would(extra: str) -> None:
    import random

    rng = random.Random(11)
    numbers = sorted({f"+1415555{rng.randint(1000, 9999):04d}" for _ in range(300)}
                     | set(block(14155551000, 40)) - {extra})
    sbc = FakeSbc()
    sync(sbc, numbers)
    writes = len(sbc.writes)

    plan, problems = slice_sync(sbc, [*numbers, extra], [extra])

    assert problems == [] and len(sbc.writes) == writes + 1
    assert extra in plan.numbers_added() and not plan.numbers_removed() - {extra}
    full, _ = sync(sbc, [*numbers, extra])
    assert full.is_empty  # nothing left for the full reconcile


def test_a_released_number_leaves_its_rule_in_a_slice() -> None:
    numbers = block(14155551000, 100)
    sbc = FakeSbc()
    sync(sbc, numbers)

    plan, problems = slice_sync(sbc, numbers, ["+14155551042"], releasing=["+14155551042"])

    assert problems == [] and plan.numbers_removed() == {"+14155551042"}
    assert resolved_tag(sbc, "+14155551042") == "pstn"
    assert resolved_tag(sbc, "+14155551043") == "default"
    full, _ = sync(sbc, [n for n in numbers if n != "+14155551042"])
    assert full.is_empty


def test_a_slice_refuses_to_guess_the_numbers_of_an_open_owned_rule() -> None:
    sbc = FakeSbc([SbcDialPlan(0, "BYOC", (*FOREIGN, SbcDialPlanRule(2, "byoc-open", "+1415556",
                                                                      "default")))])
    plan, problems = slice_sync(sbc, ["+14155551000"], ["+14155551000"])
    assert plan.is_empty and sbc.writes == []
    assert any("full reconcile" in c for c in plan.conflicts)
    assert problems  # the number stays not converged until the full reconcile
