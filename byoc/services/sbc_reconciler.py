"""The Dial Plan of each AudioCodes SBC: byoc's rules cover exactly the managed numbers, by tag.

Target `sbc:<name>`, one per configured SBC. In the Dial Plan named by the SBC's `dial_plan`
setting, a rule whose name starts with `byoc-` is owned by byoc; every other rule is foreign and is
never written. The owned rules are one set: for each SBC tag of the policy, the fewest prefixes
matching exactly that tag's managed numbers (`compress_to_prefixes`: every prefix ends with `#`, at
most 50 characters), each named `byoc-` + the last 10 digits of the first number it matches
(15 characters; a hash when two would collide), so a block keeps its rule, and its index, when it
grows, shrinks or changes tag.

A sync reads the device once, writes every change in one incremental upload plus one save (the
adapter reads back after saving), and verifies with the AudioCodes matching rules (most specific
prefix wins, then the lower rule index): every managed number must resolve to its owned rule and
tag, no owned rule may match a number outside the inventory, and no foreign rule may have changed.

Foreign rules in the way are reported in the plan's conflicts: one that would win over an owned rule
for a managed number (byoc cannot route that number until it is changed by hand), and one ending in
`#` (so naming exact numbers) that loses numbers to an owned rule. A catch-all (`*`) or an open
prefix without `#` is a fallback by nature and is not reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import TYPE_CHECKING

from byoc.domain.dialplan import number_groups, ranges_of
from byoc.domain.dialplan_index import DialPlanIndex
from byoc.domain.number_ranges import NumberRanges
from byoc.domain.plan import Action, Change, Plan, Problem, Takes, unfit
from byoc.domain.targets import sbc_target
from byoc.ports import SbcDialPlanEdit, SbcDialPlanRule, SbcDialPlans, SbcWriteIncomplete
from byoc.services.reconciler import SliceReconciler
from byoc.services.sbc_model import (
    OWNED_NAME_PREFIX,
    PLAN_KIND,
    RULE_KIND,
    SAVE_KIND,
    DesiredRule,
    DialPlanCapacityExceeded,
    DialPlanWriteRolledBack,
    ForeignDialPlanRuleError,
    RouteTags,
    SbcDesired,
    desired_rules,
    is_owned,
)
from byoc.services.sbc_payloads import NewDialPlan, PlacedRule
from byoc.services.sbc_plan_rules import (
    SHOWN,
    check_limits,
    examples,
    foreign_conflicts,
    plan_notes,
    wrong_resolution,
)
from byoc.services.sbc_slice import (
    OpenOwnedRule,
    SbcSliceDesired,
    desired_slice,
    device_tags,
    slice_problems,
)

if TYPE_CHECKING:
    from byoc.ports import HeldLease, SbcDialPlanPort
    from byoc.services.reconciler import DesiredState
    from byoc.settings import SbcSettings


# --- the reconciler ----------------------------------------------------------------------------


_TAKES: dict[str, Takes] = {
    PLAN_KIND: Takes(after=NewDialPlan), RULE_KIND: Takes(PlacedRule, PlacedRule),
    SAVE_KIND: Takes(),
}
"""change kind -> the payloads the upload takes (checked for the whole plan before any write)."""


class SbcDialPlanReconciler(
    SliceReconciler[SbcDialPlans, SbcDesired, SbcDialPlans, SbcSliceDesired],
):
    """Keeps byoc's rules in one SBC's Dial Plan equal to the managed numbers and their tags."""

    tracks_numbers = True

    def __init__(self, sbc: SbcSettings, port: SbcDialPlanPort) -> None:
        self.target = sbc_target(sbc.name)
        self._plan_name = sbc.dial_plan
        self._max_rules = sbc.max_dial_plan_rules
        self._port = port
        self._snapshot: SbcDialPlans | None = None
        self._after: SbcDialPlans | None = None

    def read_actual(self) -> SbcDialPlans:
        """Every Dial Plan of the SBC (one or two GETs: ini, and cliScript if needed)."""
        self._snapshot = self._port.read_dial_plans()
        self._after = None
        return self._snapshot

    def desired(self, state: DesiredState) -> SbcDesired:
        """The owned rules for every managed number, grouped by the policy's SBC tag."""
        tags = RouteTags(state.present, state.by_route)
        return SbcDesired(plan_name=self._plan_name, tags=tags, rules=tuple(desired_rules(tags)),
                          releasing=state.releasing)

    # --- slice (a number event's sync: services/sbc_slice.py) ----------------------------------

    def read_slice(self, numbers: frozenset[str]) -> SbcDialPlans:
        """The Dial Plan, read once as for a full sync."""
        return self.read_actual()

    def desired_slice(self, state: DesiredState, numbers: frozenset[str]) -> SbcSliceDesired:
        return desired_slice(state, numbers, self._plan_name)

    def plan_slice(self, actual: SbcDialPlans, desired: SbcSliceDesired) -> Plan:
        """The full plan for the device's own numbers with the slice's as wanted: only the rules
        that differ, those covering the slice's numbers, change."""
        plan = actual.named(desired.plan_name)
        try:
            tags = device_tags(plan.rules if plan else (), desired, is_owned)
        except OpenOwnedRule as open_rule:
            return Plan(target=self.target, conflicts=(str(open_rule),))
        whole = SbcDesired(plan_name=desired.plan_name, tags=tags,
                           rules=tuple(desired_rules(tags)))
        return self.plan(actual, whole)

    def verify_slice(self, desired: SbcSliceDesired) -> list[str]:
        actual = self._after or self._snapshot or self.read_actual()
        plan = actual.named(desired.plan_name)
        if plan is None:
            return [f"Dial Plan {desired.plan_name!r} does not exist on the SBC"]
        problems = slice_problems(plan.rules, desired, is_owned, wrong_resolution)
        return problems + self._foreign_changes(desired.plan_name, plan.rules)

    def plan(self, actual: SbcDialPlans, desired: SbcDesired) -> Plan:
        """Rule changes (written first: updates and additions; then removals) and conflicts."""
        plan = actual.named(desired.plan_name)
        changes: list[Change] = []
        if plan is None:
            plan_index = min(set(range(len(actual.plans) + 1)) - {p.index for p in actual.plans})
            changes.append(Change(
                target=self.target, action=Action.ADD, kind=PLAN_KIND, key=desired.plan_name,
                summary=f"create Dial Plan {desired.plan_name!r} (index {plan_index})",
                after=NewDialPlan(plan_index, desired.plan_name),
            ))
            rules: tuple[SbcDialPlanRule, ...] = ()
        else:
            plan_index, rules = plan.index, plan.rules
        owned = {r.name.casefold(): r for r in rules if is_owned(r.name)}
        foreign = [r for r in rules if not is_owned(r.name)]
        taken = {r.index for r in rules}
        free = (i for i in range(len(rules) + len(desired.rules) + 1) if i not in taken)
        wanted = {r.name.casefold() for r in desired.rules}
        # The numbers of each owned rule; most have a desired rule's prefix, already known.
        known = {r.prefix: r.coverage for r in desired.rules}
        coverage = {
            key: known[r.prefix] if r.prefix in known else ranges_of(r.prefix)
            for key, r in owned.items()
        }
        covered_before = NumberRanges.union(c for c in coverage.values() if c is not None)
        updates: list[Change] = []
        additions: list[Change] = []
        for rule in desired.rules:
            key = rule.name.casefold()
            current = owned.get(key)
            if current is None:
                additions.append(self._add(plan_index, rule, next(free)))
            elif (current.name, current.prefix, current.tag) != (rule.name, rule.prefix, rule.tag):
                updates.append(self._update(plan_index, current, coverage[key], rule))
        removals = [
            self._remove(plan_index, rule, coverage[key])
            for key, rule in sorted(owned.items())
            if key not in wanted
        ]
        changes += [*updates, *additions, *removals]
        self._check_capacity(actual, plan_index, desired, owned)
        if not changes and actual.save_needed:
            # An earlier write reached the device but its save did not (a crash, a lost
            # answer): the rules run, and a reset would drop them.
            changes.append(Change(
                target=self.target, action=Action.UPDATE, kind=SAVE_KIND, key=desired.plan_name,
                summary="the device runs changes it has not saved; save its configuration",
            ))
        return Plan(
            target=self.target,
            changes=tuple(changes),
            numbers_before=len(covered_before),
            conflicts=tuple(foreign_conflicts(foreign, owned, desired)),
            notes=tuple(plan_notes(owned, coverage, desired, actual.source)),
        )

    def apply(self, plan: Plan, lease: HeldLease) -> None:
        """Every change in one incremental upload, then save and read back (the adapter)."""
        unknown = unfit(plan, _TAKES)
        if unknown:
            raise ForeignDialPlanRuleError(
                f"unknown change kind(s) {', '.join(unknown)}; byoc writes only its Dial Plan and "
                "rules; not applied")
        if plan.target == self.target and plan.changes and all(
            change.kind == SAVE_KIND for change in plan.changes
        ):
            lease.check()
            self._port.save_configuration()
            return
        edit = self._edit(plan)
        lease.check()
        try:
            self._after = self._port.write_dial_plan(edit)
        except SbcWriteIncomplete as failed:
            self._roll_back(plan, edit, failed)

    def verify(self, desired: SbcDesired) -> list[str]:
        """What is still wrong on the device; reads again only if this sync has not read yet."""
        actual = self._after or self._snapshot or self.read_actual()
        plan = actual.named(desired.plan_name)
        if plan is None:
            return [f"Dial Plan {desired.plan_name!r} does not exist on the SBC"]
        problems: list[str] = []
        owned = [r for r in plan.rules if is_owned(r.name)]
        index = DialPlanIndex(plan.rules)
        wrong: dict[str, list[str]] = defaultdict(list)
        seen: dict[tuple[int, ...], list[str]] = defaultdict(list)  # set of matching rules -> numbers
        verdicts: dict[tuple[tuple[int, ...], str], str | None] = {}
        numbers = sorted(desired.tags)
        for number, found in zip(numbers, index.matching_each(numbers), strict=True):
            seen[found].append(number)
            key = (found, desired.tags[number])
            if key not in verdicts:
                verdicts[key] = wrong_resolution(index.choose(found), key[1])
            reason = verdicts[key]
            if reason is not None:
                wrong[reason].append(number)
        for reason, numbers in wrong.items():
            problems.append(Problem(f"{len(numbers)} managed number(s) {reason}: "
                                    f"{examples(numbers)}", numbers))
        managed_matched: list[list[str]] = [[] for _ in index.entries]
        for found, on_rules in seen.items():
            for position in found:
                managed_matched[position] += on_rules
        position_of = {id(rule): at for at, (rule, _) in enumerate(index.entries)}
        for rule in owned:
            at = position_of.get(id(rule))
            matched = index.exact[at] if at is not None else None
            if matched is None:
                matched = ranges_of(rule.prefix)
                at = None  # not found by range: its managed numbers were not counted
            if matched is None:
                problems.append(
                    f"owned rule {rule.name!r} ({rule.prefix}) matches an open or very wide set "
                    "of numbers, not only managed ones"
                )
                continue
            managed = (managed_matched[at] if at is not None
                       else [n for n in desired.tags if n in matched])
            if len(matched) > len(managed):
                stray = (n for n in matched if n not in desired.tags)
                unmanaged = len(matched) - len(managed)
                # The numbers on the rule fail (managed: the rule is rewritten for them;
                # releasing: the SBC has not let go); others are on rules of their own.
                problems.append(Problem(
                    f"owned rule {rule.name!r} ({rule.prefix}) matches {unmanaged}"
                    " number(s) byoc does not manage (not in the inventory, or being released): "
                    f"{examples(list(islice(stray, SHOWN)), unmanaged)}",
                    [*managed, *(n for n in desired.releasing if n in matched)]))
        have = {(r.name, r.prefix, r.tag) for r in owned}
        want = {(r.name, r.prefix, r.tag) for r in desired.rules}
        if have != want:
            problems.append(Problem(
                f"owned rules differ from the desired set: missing "
                f"{sorted(n for n, *_ in want - have)[:SHOWN]}, unexpected "
                f"{sorted(n for n, *_ in have - want)[:SHOWN]}",
                self._numbers_on(want - have, [r for r in owned
                                               if (r.name, r.prefix, r.tag) not in want],
                                 desired, managed_matched, position_of)))
        problems += self._foreign_changes(desired.plan_name, plan.rules)
        return problems

    # --- internals ---------------------------------------------------------------------------

    @staticmethod
    def _numbers_on(missing: set[tuple[str, str, str]], unexpected: list[SbcDialPlanRule],
                    desired: SbcDesired, managed_matched: list[list[str]],
                    position_of: dict[int, int]) -> set[str] | None:
        """The numbers a rule difference concerns: the managed ones a `missing` rule would cover,
        and the managed and releasing ones an `unexpected` owned rule matches; None when a prefix
        cannot be read as ranges."""
        numbers: set[str] = set()
        covered = [ranges_of(prefix) for _, prefix, _ in missing]
        if any(c is None for c in covered):
            return None
        if covered:
            union = NumberRanges.union(c for c in covered if c is not None)
            numbers.update(n for n in desired.tags if n in union)
        for rule in unexpected:
            at = position_of.get(id(rule))
            matched = ranges_of(rule.prefix)
            if at is None or matched is None:
                return None
            numbers.update(managed_matched[at])
            numbers.update(n for n in desired.releasing if n in matched)
        return numbers

    def _roll_back(self, plan: Plan, edit: SbcDialPlanEdit, failed: Exception) -> None:
        """Write every rule the failed upload touched back as it was, and save: the device then
        runs (and has saved) its previous Dial Plan instead of part of the new one."""
        try:
            now = self._port.read_dial_plans()
            on_device = {r.index: r for p in now.plans if p.index == edit.plan_index
                         for r in p.rules}
            put: list[SbcDialPlanRule] = []
            delete: list[int] = []
            for change in plan.changes:
                if change.kind != RULE_KIND:
                    continue
                if change.action is Action.ADD:
                    index = change.after_as(PlacedRule).rule.index
                    if index in on_device:
                        delete.append(index)
                elif change.before is not None:
                    old = change.before_as(PlacedRule).rule
                    if on_device.get(old.index) != old:
                        put.append(old)
            if put or delete:
                undo = SbcDialPlanEdit(plan_name=edit.plan_name, plan_index=edit.plan_index,
                                       create_plan=False, put=tuple(put), delete=tuple(delete))
                self._after = self._port.write_dial_plan(undo)
            elif now.save_needed:
                self._port.save_configuration()
        except Exception as again:
            raise DialPlanWriteRolledBack(
                f"{self.target}: the upload failed part way ({failed}) and putting the previous "
                f"rules back failed too ({type(again).__name__}: {again}). The device may run part"
                " of the change unsaved: the next sync repairs it; a device reset before then "
                "drops the unsaved part."
            ) from failed
        raise DialPlanWriteRolledBack(
            f"{self.target}: the upload failed part way ({failed}). byoc wrote the "
            f"{len(put) + len(delete)} rule(s) it touched back as they were and saved: the SBC "
            "runs its previous Dial Plan. Nothing of this change is live; fix the cause above "
            "and sync again."
        ) from failed

    def _check_capacity(self, actual: SbcDialPlans, plan_index: int, desired: SbcDesired,
                        owned: Mapping[str, SbcDialPlanRule]) -> None:
        """Refuse, before any write, a plan the device could only take in part: the rules of every
        plan, and the number groups of every prefix (manual: at most 6 x the rule capacity)."""
        kept = [r for p in actual.plans for r in p.rules
                if not (p.index == plan_index and is_owned(r.name))]
        rules = len(kept) + len(desired.rules)
        groups = sum(number_groups(r.prefix) for r in kept) + sum(
            number_groups(r.prefix) for r in desired.rules)
        problems = []
        if rules > self._max_rules:
            problems.append(f"{rules} Dial Plan rules ({len(desired.rules)} byoc rules for "
                            f"{len(desired.tags)} numbers, {len(kept)} other rules)")
        if groups > 6 * self._max_rules:
            problems.append(f"{groups} number groups (the manual allows 6 x the rule capacity)")
        if problems:
            raise DialPlanCapacityExceeded(
                f"{self.target}: the plan needs {' and '.join(problems)}; the SBC holds "
                f"{self._max_rules} rules (sbcs[].max_dial_plan_rules). Nothing was written. "
                f"Today {len(owned)} byoc rules are on the device. Numbers in contiguous blocks "
                "compress into far fewer rules: buy or port numbers in ranges, use fewer SBC tags "
                "in the policy (each tag splits blocks), move other rules off this SBC, or raise "
                "max_dial_plan_rules if your firmware holds more (docs/sbc.md, 'Dial-plan "
                "capacity')."
            )

    def _foreign_changes(self, plan_name: str, after: Iterable[SbcDialPlanRule]) -> list[str]:
        if self._after is None or self._snapshot is None:
            return []
        before_plan = self._snapshot.named(plan_name)
        before = {r for r in (before_plan.rules if before_plan else ()) if not is_owned(r.name)}
        now = {r for r in after if not is_owned(r.name)}
        return [f"foreign rule {r.index} {r.name!r} ({r.prefix}) changed or vanished during the "
                "write" for r in sorted(before - now, key=lambda r: r.index)]

    def _add(self, plan_index: int, rule: DesiredRule, index: int) -> Change:
        return Change(
            target=self.target, action=Action.ADD, kind=RULE_KIND, key=rule.name,
            summary=f"{rule.prefix} tag {rule.tag} ({len(rule.coverage)} numbers)",
            after=_placed(plan_index, rule, index),
            numbers_added=tuple(rule.coverage),
        )

    def _update(self, plan_index: int, current: SbcDialPlanRule, matched: NumberRanges | None,
                rule: DesiredRule) -> Change:
        before = matched or NumberRanges()
        parts = []
        if current.prefix != rule.prefix:
            parts.append(f"{current.prefix} -> {rule.prefix}")
        if current.tag != rule.tag:
            parts.append(f"tag {current.tag} -> {rule.tag}")
        return Change(
            target=self.target, action=Action.UPDATE, kind=RULE_KIND, key=rule.name,
            summary=", ".join(parts) or "rename", before=PlacedRule(plan_index, current),
            after=_placed(plan_index, rule, current.index),
            numbers_added=tuple(rule.coverage - before),
            numbers_removed=tuple(before - rule.coverage),
        )

    def _remove(self, plan_index: int, rule: SbcDialPlanRule, matched: NumberRanges | None
                ) -> Change:
        return Change(
            target=self.target, action=Action.REMOVE, kind=RULE_KIND, key=rule.name,
            summary=f"no longer wanted: {rule.prefix} tag {rule.tag}",
            before=PlacedRule(plan_index, rule),
            numbers_removed=tuple(matched or ()),
        )

    def _edit(self, plan: Plan) -> SbcDialPlanEdit:
        if plan.target != self.target:
            raise ForeignDialPlanRuleError(
                f"plan for {plan.target} given to the reconciler of {self.target}; not applied"
            )
        plan_index: int | None = None
        create = False
        put: list[SbcDialPlanRule] = []
        delete: list[int] = []
        for change in plan.changes:
            if change.target != self.target:
                raise ForeignDialPlanRuleError(f"change for {change.target} in {self.target}'s plan")
            if change.kind == PLAN_KIND:
                if change.key.casefold() != self._plan_name.casefold():
                    raise ForeignDialPlanRuleError(
                        f"Dial Plan {change.key!r} is not byoc's ({self._plan_name!r}); not created")
                create, plan_index = True, change.after_as(NewDialPlan).index
                continue
            if change.kind != RULE_KIND or not is_owned(change.key):
                raise ForeignDialPlanRuleError(
                    f"{change.kind} {change.key!r} is not a byoc rule (name prefix "
                    f"{OWNED_NAME_PREFIX!r}); byoc never writes or deletes other rules"
                )
            placed = (change.after_as(PlacedRule) if change.action is not Action.REMOVE
                      else change.before_as(PlacedRule))
            plan_index = placed.plan_index if plan_index is None else plan_index
            if change.action is Action.REMOVE:
                delete.append(placed.rule.index)
                continue
            rule = placed.rule
            check_limits(rule)
            put.append(rule)
        if plan_index is None:
            raise ValueError(f"{self.target}: the plan has no change to apply")
        return SbcDialPlanEdit(plan_name=self._plan_name, plan_index=plan_index,
                               create_plan=create, put=tuple(put), delete=tuple(delete))


def _placed(plan_index: int, rule: DesiredRule, index: int) -> PlacedRule:
    return PlacedRule(plan_index, SbcDialPlanRule(index, rule.name, rule.prefix, rule.tag))
