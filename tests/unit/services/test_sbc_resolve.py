"""Resolving many numbers at once (`DialPlanIndex`, verify, conflicts) picks exactly the rule the
device does: `best_rule`, rule by rule, stays the one statement of the AudioCodes matching order."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byoc.domain.dialplan import best_rule, numbers_of, parse_dial_pattern
from byoc.domain.dialplan_index import DialPlanIndex
from byoc.ports import SbcDialPlan, SbcDialPlanRule, SbcDialPlans
from byoc.services.sbc_model import SbcDesired, desired_rules, is_owned
from byoc.services.sbc_reconciler import SbcDialPlanReconciler
from byoc.settings import SbcSettings

SBC = SbcSettings(name="sbc1", management_url="https://10.0.1.4", fqdn="sbc1.example.net")
EXAMPLES = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

# Numbers and prefixes in a small space, so that rules overlap and numbers hit them often.
digits = st.text("0123456789", min_size=1, max_size=4)
numbers = st.one_of(
    digits.map(lambda d: "+1" + d),
    st.sampled_from(["+1", "+", "", "1415", "+1+2", "+12a", "+1²", "+10"]),
)
element = st.one_of(
    st.sampled_from("0123456789"), st.sampled_from("0123456789"), st.sampled_from("xXzn."),
    st.tuples(st.integers(0, 9), st.integers(0, 9)).map(lambda t: f"[{min(t)}-{max(t)}]"),
    st.sampled_from(["[1,3-4]", "[10-29]", "[0-9]", "[00-99]", "[5-2]", "["]),
)
prefix = st.one_of(
    st.just("*"),
    st.tuples(
        st.sampled_from(["+1", "+1", "+", "", "1"]),
        st.lists(element, max_size=4),
        st.sampled_from(["#", "#", "", "", "(5)", "(1-3)", "\\#"]),
    ).map(lambda parts: parts[0] + "".join(parts[1]) + parts[2]),
)
rule_sets = st.lists(
    st.tuples(st.integers(0, 6), st.booleans(), prefix, st.sampled_from(["a", "b"])),
    max_size=8,
).map(lambda drafts: [
    SbcDialPlanRule(index, f"{'byoc-' if owned else 'f'}{at}", text, tag)
    for at, (index, owned, text, tag) in enumerate(drafts)
])


@EXAMPLES
@given(rules=rule_sets, checked=st.lists(numbers, min_size=1, max_size=12))
def test_index_picks_the_rule_best_rule_picks(rules: list[SbcDialPlanRule],
                                              checked: list[str]) -> None:
    index = DialPlanIndex(rules)

    for number in checked:
        assert index.resolve(number) is best_rule(rules, number)
        assert [index.entries[at][0] for at in index.matching(number)] == [
            r for r in sorted(rules, key=lambda r: r.index)
            if (p := parse_dial_pattern(r.prefix)) is not None and p.matches(number)
        ]


def test_wide_exact_rules_overlapping_open_prefixes_and_a_catch_all_resolve_like_best_rule() -> None:
    rules = [
        SbcDialPlanRule(5, "byoc-a", "+1415555[0-4]xxx#", "a"),
        SbcDialPlanRule(1, "hq", "+14155551xxx#", "hq"),
        SbcDialPlanRule(2, "wide", "+1415xxxx5xx#", "w"),  # 10,000 ranges: matched one by one
        SbcDialPlanRule(3, "open", "+141555*", "o"),
        SbcDialPlanRule(4, "any", "*", "pstn"),
        SbcDialPlanRule(0, "same-as-a", "+1415555[0-4]xxx#", "s"),
    ]
    index = DialPlanIndex(rules)

    for number in ["+14155551234", "+14155550500", "+14155559999", "+14155550000", "+1", "x"]:
        assert index.resolve(number) is best_rule(rules, number)
    assert index.resolve("+14155551234") is rules[1]
    assert index.resolve("+14155550000") is rules[5]  # same prefix: the lower index wins
    assert index.exact[[r for r, _ in index.entries].index(rules[2])] is None


# --- verify and conflicts against the rule-by-rule definition -----------------------------------


def verify_rule_by_rule(rules: list[SbcDialPlanRule], desired: SbcDesired) -> list[str]:
    """What verify reported before the index: `best_rule` per number, `numbers_of` per rule."""
    problems: list[str] = []
    wrong: dict[str, list[str]] = defaultdict(list)
    for number in sorted(desired.tags):
        chosen = best_rule(rules, number)
        if chosen is None:
            wrong["resolve to no rule"].append(number)
        elif not is_owned(chosen.name):
            wrong[f"resolve to foreign rule {chosen.name!r} (tag {chosen.tag!r})"].append(number)
        elif chosen.tag != desired.tags[number]:
            wrong[f"resolve to tag {chosen.tag!r} instead of their policy tag"].append(number)
    problems += [f"{len(n)} managed number(s) {reason}: {examples(n)}" for reason, n in wrong.items()]
    for rule in (r for r in rules if is_owned(r.name)):
        matched = numbers_of(rule.prefix)
        if matched is None:
            problems.append(f"owned rule {rule.name!r} ({rule.prefix}) matches an open or very wide "
                            "set of numbers, not only managed ones")
            continue
        stray = sorted(n for n in matched if n not in desired.tags)
        if stray:
            problems.append(
                f"owned rule {rule.name!r} ({rule.prefix}) matches {len(stray)} number(s) byoc "
                f"does not manage (not in the inventory, or being released): {examples(stray)}")
    return problems


def conflicts_rule_by_rule(rules: list[SbcDialPlanRule], desired: SbcDesired) -> list[str]:
    """The foreign rules in the way, found by trying every foreign rule on every desired number."""
    foreign = [r for r in rules if not is_owned(r.name)]
    owned = {r.name.casefold(): r for r in rules if is_owned(r.name)}
    patterns = [(r, p) for r in foreign if (p := parse_dial_pattern(r.prefix)) is not None
                and not p.any_number]
    next_index = max([r.index for r in foreign] + [r.index for r in owned.values()] + [-1]) + 1
    beats: dict[SbcDialPlanRule, list[str]] = defaultdict(list)
    shadows: dict[SbcDialPlanRule, list[str]] = defaultdict(list)
    for rule in desired.rules:
        current = owned.get(rule.name.casefold())
        mine = SbcDialPlanRule(current.index if current else next_index, rule.name, rule.prefix,
                               rule.tag)
        for number in rule.coverage:
            matching = [(r, p) for r, p in patterns if p.matches(number)]
            if not matching:
                continue
            winner = best_rule([mine, *(r for r, _ in matching)], number)
            if winner is not mine and winner is not None:
                beats[winner].append(number)
                continue
            for other, pattern in matching:
                if pattern.end_of_number:
                    shadows[other].append(number)
    found = [
        f"foreign rule {r.name!r} ({r.prefix}, tag {r.tag!r}) wins over byoc's rules for "
        f"{len(n)} managed number(s): {examples(sorted(n))}; they cannot route to their policy "
        "tag until that rule is narrowed or removed by hand"
        for r, n in sorted(beats.items(), key=lambda item: item[0].index)
    ]
    return found + [
        f"byoc's rules take {len(n)} number(s) from foreign rule {r.name!r} ({r.prefix}, tag "
        f"{r.tag!r}): {examples(sorted(n))}; check that the policy should manage them"
        for r, n in sorted(shadows.items(), key=lambda item: item[0].index)
    ]


def examples(found: list[str]) -> str:
    return ", ".join(found[:5]) + (f" (+{len(found) - 5} more)" if len(found) > 5 else "")


class OnePlan:
    def __init__(self, rules: list[SbcDialPlanRule]) -> None:
        self.plans = SbcDialPlans((SbcDialPlan(0, "BYOC", tuple(rules)),))

    def read_dial_plans(self) -> SbcDialPlans:
        return self.plans


managed = st.dictionaries(
    st.integers(1400, 1999).map(lambda v: f"+10{v}"), st.sampled_from(["a", "b"]), max_size=40)


def near_rule(data: st.DataObject, number: str, at: int) -> SbcDialPlanRule:
    """A rule made from a managed number: cut short, some digits widened, exact or open."""
    kept = data.draw(st.integers(2, len(number)))
    parts = [data.draw(st.sampled_from([c, c, c, "x", "z", f"[{c}-9]", "[0-4]"]))
             if c.isdigit() else c for c in number[:kept]]
    end = data.draw(st.sampled_from(["#", "", "(9)"]) if kept == len(number) else st.just(""))
    owned = data.draw(st.booleans())
    return SbcDialPlanRule(data.draw(st.integers(0, 20)), f"{'byoc-x' if owned else 'near'}{at}",
                           "".join(parts) + end, data.draw(st.sampled_from(["a", "b"])))


@EXAMPLES
@given(tags=managed, kept=st.lists(st.booleans(), max_size=40), extra=rule_sets, data=st.data())
def test_verify_and_conflicts_report_what_rule_by_rule_matching_reports(
    tags: dict[str, str], kept: list[bool], extra: list[SbcDialPlanRule], data: st.DataObject
) -> None:
    """The owned rules a sync wrote (some lost), beside random owned and foreign rules, some made
    from managed numbers (so in their way), with rule indexes that collide."""
    written = [r for r, keep in zip(desired_rules(tags), kept + [True] * 40, strict=False) if keep]
    rules = [SbcDialPlanRule(10 + at, r.name, r.prefix, r.tag) for at, r in enumerate(written)]
    rules += [SbcDialPlanRule(r.index * 3, r.name.replace("byoc-", "byoc-x"), r.prefix, r.tag)
              for r in extra]
    if tags:
        chosen = data.draw(st.lists(st.sampled_from(sorted(tags)), max_size=4))
        rules += [near_rule(data, number, at) for at, number in enumerate(chosen)]
    rules = data.draw(st.permutations(rules))
    reconciler = SbcDialPlanReconciler(SBC, OnePlan(rules))  # type: ignore[arg-type]
    desired = SbcDesired("BYOC", tags, tuple(desired_rules(tags)))
    actual = reconciler.read_actual()

    problems = reconciler.verify(desired)
    conflicts = reconciler.plan(actual, desired).conflicts

    wanted_problems = verify_rule_by_rule(rules, desired)
    assert problems[: len(wanted_problems)] == wanted_problems
    assert list(conflicts) == conflicts_rule_by_rule(rules, desired)


def test_stray_numbers_of_a_widened_owned_rule_are_counted_and_shown_first_five() -> None:
    tags = {f"+1415555{v:03d}": "a" for v in range(50, 70)}
    rules = [
        SbcDialPlanRule(1, "byoc-wide", "+1415xxxx5x#", "a"),  # 100,000 numbers, not indexed
        SbcDialPlanRule(2, "byoc-block", "+1415555[05-07]x#", "a"),
        SbcDialPlanRule(3, "byoc-open", "+1415555*", "a"),
    ]
    reconciler = SbcDialPlanReconciler(SBC, OnePlan(rules))  # type: ignore[arg-type]
    desired = SbcDesired("BYOC", tags, tuple(desired_rules(tags)))
    reconciler.read_actual()

    problems = reconciler.verify(desired)

    assert problems[:3] == verify_rule_by_rule(rules, desired)
    assert problems[0] == (
        "owned rule 'byoc-wide' (+1415xxxx5x#) matches 99990 number(s) byoc does not manage (not "
        "in the inventory, or being released): +1415000050, +1415000051, +1415000052, "
        "+1415000053, +1415000054 (+99985 more)")
    assert problems[1].endswith(": +1415555070, +1415555071, +1415555072, +1415555073, "
                                "+1415555074 (+5 more)")
    assert "'byoc-open' (+1415555*) matches an open or very wide set" in problems[2]


def test_open_foreign_rule_winning_the_last_number_its_start_allows_is_a_conflict() -> None:
    tags = {f"+10149{d}": "a" for d in range(10)}
    rules = [
        SbcDialPlanRule(1, "byoc-101490", "+10149x#", "a"),
        SbcDialPlanRule(2, "vip", "+101499", "v"),
        SbcDialPlanRule(3, "wide", "+zxzzz8#", "w"),  # 65,610 ranges: found by its start, "+"
    ]
    reconciler = SbcDialPlanReconciler(SBC, OnePlan(rules))  # type: ignore[arg-type]
    desired = SbcDesired("BYOC", tags, tuple(desired_rules(tags)))
    actual = reconciler.read_actual()

    conflicts = reconciler.plan(actual, desired).conflicts
    problems = reconciler.verify(desired)

    assert list(conflicts) == conflicts_rule_by_rule(rules, desired)
    assert conflicts[0].startswith("foreign rule 'vip' (+101499, tag 'v') wins over byoc's rules "
                                   "for 1 managed number(s): +101499;")
    assert conflicts[1].startswith("byoc's rules take 1 number(s) from foreign rule 'wide' "
                                   "(+zxzzz8#, tag 'w'): +101498;")
    assert problems[0] == "1 managed number(s) resolve to foreign rule 'vip' (tag 'v'): +101499"


def test_foreign_rule_at_the_owned_rules_index_loses_to_it_as_best_rule_decides() -> None:
    tags = {f"+10149{d}": "a" for d in range(10)}
    rules = [SbcDialPlanRule(5, "hq", "+10149x#", "hq"),
             SbcDialPlanRule(5, "byoc-101490", "+10149x#", "a")]
    reconciler = SbcDialPlanReconciler(SBC, OnePlan(rules))  # type: ignore[arg-type]
    desired = SbcDesired("BYOC", tags, tuple(desired_rules(tags)))
    actual = reconciler.read_actual()

    conflicts = reconciler.plan(actual, desired).conflicts

    assert list(conflicts) == conflicts_rule_by_rule(rules, desired)
    assert conflicts == (
        "byoc's rules take 10 number(s) from foreign rule 'hq' (+10149x#, tag 'hq'): +101490, "
        "+101491, +101492, +101493, +101494 (+5 more); check that the policy should manage them",)
