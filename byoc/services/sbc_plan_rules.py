"""The SBC planner's and verifier's rules: conflicts with foreign rules, notes, rule limits,
how a managed number resolves (`sbc_reconciler`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from byoc.domain.dialplan import parse_dial_pattern, pick
from byoc.domain.dialplan_index import DialPlanIndex
from byoc.domain.number_ranges import NumberRanges
from byoc.domain.prefix_compression import MAX_PREFIX_CHARS
from byoc.ports import SbcDialPlanRule
from byoc.services.sbc_model import (
    MAX_RULE_NAME,
    MAX_TAG,
    DialPlanRuleInvalid,
    SbcDesired,
    is_owned,
)

SHOWN = 5



def wrong_resolution(chosen: SbcDialPlanRule | None, tag: str) -> str | None:
    """Why a managed number with policy tag `tag` is not routed right by `chosen`, if it is not."""
    if chosen is None:
        return "resolve to no rule"
    if not is_owned(chosen.name):
        return f"resolve to foreign rule {chosen.name!r} (tag {chosen.tag!r})"
    if chosen.tag != tag:
        return f"resolve to tag {chosen.tag!r} instead of their policy tag"
    return None


def check_limits(rule: SbcDialPlanRule) -> None:
    problems = []
    if len(rule.name) > MAX_RULE_NAME:
        problems.append(f"name {rule.name!r} is longer than {MAX_RULE_NAME}")
    if len(rule.prefix) > MAX_PREFIX_CHARS:
        problems.append(f"prefix {rule.prefix!r} is longer than {MAX_PREFIX_CHARS}")
    if len(rule.tag) > MAX_TAG:
        problems.append(f"tag {rule.tag!r} is longer than {MAX_TAG}")
    if problems:
        raise DialPlanRuleInvalid(f"rule {rule.name!r}: " + "; ".join(problems))


def examples(numbers: list[str], count: int | None = None) -> str:
    """The first numbers of a sorted list; `count` of them in all when only the first are given."""
    count = len(numbers) if count is None else count
    shown = ", ".join(numbers[:SHOWN])
    return shown + (f" (+{count - SHOWN} more)" if count > SHOWN else "")


def foreign_conflicts(
    foreign: list[SbcDialPlanRule], owned: Mapping[str, SbcDialPlanRule], desired: SbcDesired
) -> list[str]:
    """Foreign rules that win over, or lose exact numbers to, the desired owned rules."""
    listed = [r for r in foreign if (p := parse_dial_pattern(r.prefix)) is not None
              and not p.any_number]
    if not listed:
        return []
    index = DialPlanIndex(listed)
    next_index = max([r.index for r in foreign] + [r.index for r in owned.values()] + [-1]) + 1
    beats: dict[SbcDialPlanRule, list[str]] = defaultdict(list)
    shadows: dict[SbcDialPlanRule, list[str]] = defaultdict(list)
    for rule in desired.rules:
        current = owned.get(rule.name.casefold())
        mine = SbcDialPlanRule(current.index if current else next_index, rule.name, rule.prefix,
                               rule.tag)
        mine_pattern = parse_dial_pattern(rule.prefix)
        winners: dict[tuple[tuple[int, ...], bool], SbcDialPlanRule | None] = {}
        for number in index.near(rule.coverage):
            matching = index.matching(number)
            if not matching:
                continue
            key = (matching, mine_pattern is not None and mine_pattern.matches(number))
            if key not in winners:
                # As `best_rule([mine, *matching])`: by rule index, mine first among equal ones.
                entries = [index.entries[at] for at in matching]
                before = sum(1 for r, _ in entries if r.index < mine.index)
                if key[1] and mine_pattern is not None:
                    entries.insert(before, (mine, mine_pattern))
                winners[key] = pick(entries)
            winner = winners[key]
            if winner is not mine and winner is not None:
                beats[winner].append(number)
                continue
            for at in matching:  # by index, then as listed: the order `found` reports ties in
                other, pattern = index.entries[at]
                if pattern.end_of_number:
                    shadows[other].append(number)
    found = [
        f"foreign rule {r.name!r} ({r.prefix}, tag {r.tag!r}) wins over byoc's rules for "
        f"{len(n)} managed number(s): {examples(sorted(n))}; they cannot route to their policy "
        "tag until that rule is narrowed or removed by hand"
        for r, n in sorted(beats.items(), key=lambda item: item[0].index)
    ]
    found += [
        f"byoc's rules take {len(n)} number(s) from foreign rule {r.name!r} ({r.prefix}, tag "
        f"{r.tag!r}): {examples(sorted(n))}; check that the policy should manage them"
        for r, n in sorted(shadows.items(), key=lambda item: item[0].index)
    ]
    return found


def plan_notes(
    owned: Mapping[str, SbcDialPlanRule],
    coverage: Mapping[str, NumberRanges | None],
    desired: SbcDesired,
    source: str,
) -> list[str]:
    notes = [f"Dial Plan read from the {source} export"] if source != "ini" else []
    wide = [r.name for key, r in owned.items() if coverage[key] is None]
    if wide:
        notes.append(
            f"owned rule(s) {wide} match an open or very wide set of numbers; their numbers are "
            "not counted by the mass-deletion guard"
        )
    notes.append(f"{len(desired.tags)} managed number(s) in {len(desired.rules)} owned rule(s)")
    return notes
