"""An SBC Dial Plan's slice sync: the rules a number event's numbers touch (issue 25).

One read of the Dial Plan, as a full sync does, but not the inventory: the numbers outside the
slice are taken as the device routes them now (each owned rule's numbers, with its tag), and the
slice's numbers as the inventory and policy say. byoc's rules for that whole set are the fewest
prefixes per tag (the same packing a full sync computes), so the plan writes only the rules that
differ, which are the rules whose prefixes cover the slice's numbers, and a slice leaves the device
exactly as a full sync would for the same inventory. The write is the full sync's (one incremental
upload and one save).

An owned rule whose numbers cannot be listed (an open prefix) leaves the SBC to the full reconcile:
the slice could not keep that rule's numbers as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from byoc.domain.dialplan import ranges_of
from byoc.domain.dialplan_index import DialPlanIndex
from byoc.domain.plan import Problem
from byoc.ports import SbcDialPlanRule

if TYPE_CHECKING:
    from byoc.services.reconciler import DesiredState


@dataclass(frozen=True)
class SbcSliceDesired:
    """The slice's numbers, and the SBC tag each one the inventory wants present should have."""

    plan_name: str
    numbers: frozenset[str]
    tags: dict[str, str]


def desired_slice(state: DesiredState, numbers: frozenset[str], plan_name: str) -> SbcSliceDesired:
    """The slice's routed numbers and tags (any other slice number must be on no owned rule)."""
    tags = {n: state.present[n].sbc_tag for n in sorted(numbers) if n in state.present}
    return SbcSliceDesired(plan_name=plan_name, numbers=numbers, tags=tags)


class OpenOwnedRule(ValueError):
    """An owned rule matches an open set of numbers: the slice cannot keep them as they are."""


def device_tags(
    rules: tuple[SbcDialPlanRule, ...], want: SbcSliceDesired, owned: Callable[[str], bool]
) -> dict[str, str]:
    """`{number: tag}` byoc's rules should carry: the device's owned rules outside the slice,
    the slice as wanted. Where owned rules overlap, the rule the device picks gives the tag."""
    index = DialPlanIndex([r for r in rules if owned(r.name)])
    tags: dict[str, str] = {}
    for at, (rule, _) in enumerate(index.entries):
        covered = index.exact[at] or ranges_of(rule.prefix)
        if covered is None:
            raise OpenOwnedRule(
                f"owned rule {rule.name!r} ({rule.prefix}) matches an open set of numbers; a "
                "slice sync cannot keep them as they are, so the full reconcile handles this SBC")
        for number in covered:
            if number in want.numbers:
                continue
            if number in tags:  # overlapping owned rules: the one the device would use
                chosen = index.choose(index.matching(number))
                tags[number] = chosen.tag if chosen is not None else rule.tag
            else:
                tags[number] = rule.tag
    tags.update(want.tags)
    return tags


def slice_problems(
    rules: tuple[SbcDialPlanRule, ...], want: SbcSliceDesired, owned: Callable[[str], bool],
    wrong: Callable[[SbcDialPlanRule | None, str], str | None],
) -> list[str]:
    """What is wrong for the slice's numbers on the device: a routed number not resolving to its
    owned rule and tag (`wrong` says why), a number to let go still on an owned rule."""
    index = DialPlanIndex(rules)
    problems: list[str] = []
    numbers = sorted(want.numbers)
    for number, found in zip(numbers, index.matching_each(numbers), strict=True):
        if number in want.tags:
            reason = wrong(index.choose(found), want.tags[number])
            if reason is not None:
                problems.append(Problem(f"{number}: its managed number(s) {reason}", [number]))
        elif any(owned(index.entries[at][0].name) for at in found):
            problems.append(Problem(
                f"{number} is still matched by an owned rule; byoc does not route it", [number]))
    return problems
