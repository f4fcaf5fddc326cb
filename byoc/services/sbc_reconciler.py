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

import hashlib
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any

from byoc.domain.numbers import (
    MAX_PREFIX_CHARS,
    NumberRanges,
    NumberSet,
    compress_to_prefix_ranges,
    expand_prefix,
    prefix_ranges,
)
from byoc.domain.plan import Action, Change, Plan
from byoc.ports import SbcDialPlanEdit, SbcDialPlanRule, SbcDialPlans

if TYPE_CHECKING:
    from byoc.bootstrap import Services
    from byoc.domain.policy import Route
    from byoc.ports import HeldLease, SbcDialPlanPort
    from byoc.services.reconcile import DesiredState, ReconcilerRegistry
    from byoc.settings import SbcSettings

TARGET_PREFIX = "sbc:"
RULE_KIND = "dial-plan-rule"
PLAN_KIND = "dial-plan"
SAVE_KIND = "configuration-save"
OWNED_NAME_PREFIX = "byoc-"
MAX_RULE_NAME = 15
MAX_TAG = 16
MAX_EXPANSION = 1_000_000
"""A rule matching more numbers than this is not expanded (counted as unknown)."""
_SHOWN = 5


class ForeignDialPlanRuleError(Exception):
    """A plan would write a rule byoc does not own, or reached the wrong SBC; refused."""


class DialPlanRuleInvalid(ValueError):
    """A rule byoc would write breaks a device limit (name, prefix or tag length)."""


def sbc_target(sbc_name: str) -> str:
    """The target name of SBC `sbc_name`'s Dial Plan."""
    return f"{TARGET_PREFIX}{sbc_name}"


def is_owned(rule_name: str) -> bool:
    """Whether byoc owns a rule with this name."""
    return rule_name.casefold().startswith(OWNED_NAME_PREFIX)


# --- AudioCodes prefix matching (most specific wins) -------------------------------------------


@dataclass(frozen=True, slots=True)
class _Element:
    kind: str  # lit, x, range, n, z, dot
    width: int = 1
    literal: str = ""
    ranges: tuple[tuple[int, int], ...] = ()

    def accepts(self, text: str) -> bool:
        if len(text) != self.width:
            return False
        if self.kind == "lit":
            return text.casefold() == self.literal.casefold()
        if self.kind == "dot":
            return True
        if not (text.isascii() and text.isdigit()):
            return False
        if self.kind == "range":
            value = int(text)
            return any(lo <= value <= hi for lo, hi in self.ranges)
        return text >= {"x": "0", "z": "1", "n": "2"}[self.kind]

    @property
    def is_list(self) -> bool:
        return len(self.ranges) > 1

    def options(self) -> int:
        return sum(hi - lo + 1 for lo, hi in self.ranges)


@dataclass(frozen=True, slots=True)
class DialPattern:
    """A Dial Plan Rule prefix as the device reads it (vendor notes §2.1; Mediant 7.4 manual).

    Digits, `+` and other characters are literal (`\\` escapes the next one); `x` is 0-9, `z` 1-9,
    `n` 2-9, `.` any character; `[a-b,c]` a list of equal-width items; a final `(...)` a suffix; a
    final `#` ends the number; `*` alone matches everything.
    """

    source: str
    any_number: bool
    prefix: tuple[_Element, ...]
    suffix: tuple[_Element, ...] | None
    end_of_number: bool
    head: str  # the literal characters it starts with (a cheap pre-filter)

    def matches(self, number: str) -> bool:
        if self.any_number:
            return True
        if not number.startswith(self.head):
            return False
        width = sum(e.width for e in self.prefix)
        if len(number) < width or not _accepts(self.prefix, number[:width]):
            return False
        if self.end_of_number:
            return len(number) == width
        if self.suffix is None:
            return True
        tail = sum(e.width for e in self.suffix)
        return len(number) >= width + tail and _accepts(self.suffix, number[len(number) - tail:])


def _accepts(elements: Iterable[_Element], text: str) -> bool:
    position = 0
    for element in elements:
        if not element.accepts(text[position: position + element.width]):
            return False
        position += element.width
    return True


@lru_cache(maxsize=16384)
def parse_dial_pattern(prefix: str) -> DialPattern | None:
    """The pattern of a prefix, or None when the device would not accept it either."""
    if prefix == "*":
        return DialPattern(prefix, True, (), None, False, "")
    if not prefix or any(c.isspace() for c in prefix):
        return None
    body, suffix = prefix, None
    if "(" in prefix:
        if not prefix.endswith(")"):
            return None
        body, inner = prefix[: prefix.index("(")], prefix[prefix.index("(") + 1: -1]
        parsed_suffix = _elements(inner) if not re.fullmatch(r"\d+-\d+", inner) else _elements(
            f"[{inner}]")
        if not parsed_suffix:
            return None
        suffix = tuple(parsed_suffix)
    end_of_number = suffix is None and body.endswith("#") and not body.endswith("\\#")
    if end_of_number:
        body = body[:-1]
    elements = _elements(body)
    if elements is None or (not elements and suffix is None):
        return None
    head = ""
    for element in elements:
        if element.kind != "lit":
            break
        head += element.literal
    return DialPattern(prefix, False, tuple(elements), suffix, end_of_number, head)


def _elements(body: str) -> list[_Element] | None:
    out: list[_Element] = []
    position = 0
    while position < len(body):
        char = body[position]
        if char == "\\":
            if position + 1 >= len(body):
                return None
            out.append(_Element("lit", literal=body[position + 1]))
            position += 2
            continue
        if char == "[":
            close = body.find("]", position)
            if close < 0:
                return None
            element = _list_element(body[position + 1: close])
            if element is None:
                return None
            out.append(element)
            position = close + 1
            continue
        if char in "*]()":
            return None
        lower = char.lower()
        if lower in "xzn":
            out.append(_Element(lower))
        elif char == ".":
            out.append(_Element("dot"))
        else:
            out.append(_Element("lit", literal=char))
        position += 1
    return out


def _list_element(inner: str) -> _Element | None:
    ranges: list[tuple[int, int]] = []
    widths: set[int] = set()
    for item in inner.split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+))?", item)
        if not match:
            return None
        low, high = match.group(1), match.group(2) or match.group(1)
        if len(low) != len(high) or int(low) > int(high):
            return None
        widths.add(len(low))
        ranges.append((int(low), int(high)))
    if len(widths) != 1:
        return None
    return _Element("range", width=widths.pop(), ranges=tuple(ranges))


# 7.4 "Dial Plan Matching Priority": a literal beats x, x beats a range, then n, z, "prefix ended,
# a suffix follows", '.', "prefix ended", and the lone '*' last.
_RANK = {"lit": 0, "x": 1, "range": 2, "n": 3, "z": 4, "suffix": 5, "dot": 6, "end": 7, "any": 8}


def _rank(pattern: DialPattern, elements: tuple[_Element, ...], at: int, in_suffix: bool) -> int:
    if pattern.any_number:
        return _RANK["any"]
    if at < len(elements):
        return _RANK[elements[at].kind]
    if not in_suffix and pattern.suffix is not None:
        return _RANK["suffix"]
    return _RANK["end"]


def _compare_elements(a: DialPattern, ea: tuple[_Element, ...], b: DialPattern,
                      eb: tuple[_Element, ...], in_suffix: bool) -> int | None:
    """<0: a more specific, >0: b, 0: equal so far, None: the rule index decides."""
    at = 0
    while at < len(ea) or at < len(eb):
        ra, rb = _rank(a, ea, at, in_suffix), _rank(b, eb, at, in_suffix)
        if ra != rb:
            return ra - rb
        if at >= len(ea) or at >= len(eb):
            return 0
        x, y = ea[at], eb[at]
        if x.kind == "range":
            if x.is_list or y.is_list or x.options() == y.options():
                return None
            return x.options() - y.options()
        at += 1
    return 0


def compare_specificity(a: DialPattern, b: DialPattern) -> int:
    """<0 when `a` wins for a number both match, >0 when `b` does, 0 when the index decides."""
    decided = _compare_elements(a, a.prefix, b, b.prefix, in_suffix=False)
    if decided is None:
        return 0
    if decided or a.any_number or b.any_number:
        return decided
    if a.end_of_number != b.end_of_number:
        return -1 if a.end_of_number else 1
    width_a = sum(e.width for e in a.suffix or ())
    width_b = sum(e.width for e in b.suffix or ())
    if width_a != width_b:
        return width_b - width_a
    return _compare_elements(a, a.suffix or (), b, b.suffix or (), in_suffix=True) or 0


def best_rule(rules: Iterable[SbcDialPlanRule], number: str) -> SbcDialPlanRule | None:
    """The rule the device picks for `number`: most specific, then the lowest rule index."""
    best: tuple[SbcDialPlanRule, DialPattern] | None = None
    for rule in sorted(rules, key=lambda r: r.index):
        pattern = parse_dial_pattern(rule.prefix)
        if pattern is None or not pattern.matches(number):
            continue
        if best is None or compare_specificity(pattern, best[1]) < 0:
            best = (rule, pattern)
    return best[0] if best else None


def numbers_of(prefix: str) -> frozenset[str] | None:
    """Every number a `#`-terminated prefix matches; None when open-ended, invalid or huge."""
    pattern = parse_dial_pattern(prefix)
    if pattern is None or pattern.any_number or not pattern.end_of_number:
        return None
    try:
        return frozenset(expand_prefix(prefix, limit=MAX_EXPANSION))
    except ValueError:
        return None


def ranges_of(prefix: str) -> NumberRanges | None:
    """`numbers_of` held as ranges: the same numbers, and None in the same cases."""
    pattern = parse_dial_pattern(prefix)
    if pattern is None or pattern.any_number or not pattern.end_of_number:
        return None
    try:
        return prefix_ranges(prefix, limit=MAX_EXPANSION)
    except ValueError:
        return None


# --- desired rules -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DesiredRule:
    """One rule byoc wants, and the numbers it matches (as ranges: listed only when needed)."""

    name: str
    prefix: str
    tag: str
    coverage: NumberRanges

    @property
    def numbers(self) -> frozenset[str]:
        """Every number the rule matches."""
        return frozenset(self.coverage)


@dataclass(frozen=True)
class SbcDesired:
    """byoc's rules for one SBC's Dial Plan."""

    plan_name: str
    tags: Mapping[str, str]
    rules: tuple[DesiredRule, ...]


class RouteTags(Mapping[str, str]):
    """`{number: SBC tag}` read from the routes of the desired state, not copied (100,000 entries)."""

    __slots__ = ("_grouped", "_routes")

    def __init__(
        self, routes: Mapping[str, Route], grouped: Mapping[Route, list[str]] | None = None
    ) -> None:
        self._routes = routes
        self._grouped = grouped

    def __getitem__(self, number: str) -> str:
        return self._routes[number].sbc_tag

    def __iter__(self) -> Iterator[str]:
        return iter(self._routes)

    def __len__(self) -> int:
        return len(self._routes)

    def __contains__(self, number: object) -> bool:
        return number in self._routes

    def by_tag(self) -> dict[str, list[str]]:
        """The numbers of each tag."""
        grouped: dict[str, list[str]] = defaultdict(list)
        if self._grouped is not None:  # the numbers already grouped by route
            for route, numbers in self._grouped.items():
                grouped[route.sbc_tag] += numbers
            return grouped
        for number, route in self._routes.items():
            grouped[route.sbc_tag].append(number)
        return grouped


def desired_rules(tags: Mapping[str, str]) -> list[DesiredRule]:
    """The owned rules for `{number: tag}`: per tag the fewest exact prefixes, deterministic names."""
    if isinstance(tags, RouteTags):
        by_tag = tags.by_tag()
    else:
        by_tag = defaultdict(list)
        for number, tag in tags.items():
            by_tag[tag].append(number)
    drafts: list[tuple[str, str, str, NumberRanges]] = []
    for tag in sorted(by_tag):
        if not tag or len(tag) > MAX_TAG or '"' in tag:
            raise DialPlanRuleInvalid(f"SBC tag {tag!r} must be 1-{MAX_TAG} characters")
        for prefix, covered in compress_to_prefix_ranges(NumberSet.from_e164(by_tag[tag])):
            if len(prefix) > MAX_PREFIX_CHARS:
                raise DialPlanRuleInvalid(f"prefix {prefix} is longer than {MAX_PREFIX_CHARS}")
            drafts.append((_base_name(covered.first or ""), prefix, tag, covered))
    counts: dict[str, int] = defaultdict(int)
    for name, *_ in drafts:
        counts[name] += 1
    rules = [
        DesiredRule(name if counts[name] == 1 else _hashed_name(prefix), prefix, tag, covered)
        for name, prefix, tag, covered in drafts
    ]
    return sorted(rules, key=lambda r: r.name)


def _base_name(first_number: str) -> str:
    return OWNED_NAME_PREFIX + first_number.lstrip("+")[-(MAX_RULE_NAME - len(OWNED_NAME_PREFIX)):]


def _hashed_name(prefix: str) -> str:
    digest = hashlib.sha256(prefix.encode()).hexdigest()
    return OWNED_NAME_PREFIX + "h" + digest[: MAX_RULE_NAME - len(OWNED_NAME_PREFIX) - 1]


# --- the reconciler ----------------------------------------------------------------------------


def _rule_json(plan_index: int, rule: SbcDialPlanRule | DesiredRule, index: int) -> dict[str, Any]:
    return {"plan_index": plan_index, "index": index, "name": rule.name, "prefix": rule.prefix,
            "tag": rule.tag}


class SbcDialPlanReconciler:
    """Keeps byoc's rules in one SBC's Dial Plan equal to the managed numbers and their tags."""

    tracks_numbers = True

    def __init__(self, sbc: SbcSettings, port: SbcDialPlanPort) -> None:
        self.target = sbc_target(sbc.name)
        self._plan_name = sbc.dial_plan
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
        return SbcDesired(plan_name=self._plan_name, tags=tags, rules=tuple(desired_rules(tags)))

    def plan(self, actual: SbcDialPlans, desired: SbcDesired) -> Plan:
        """Rule changes (written first: updates and additions; then removals) and conflicts."""
        plan = actual.named(desired.plan_name)
        changes: list[Change] = []
        if plan is None:
            plan_index = min(set(range(len(actual.plans) + 1)) - {p.index for p in actual.plans})
            changes.append(Change(
                target=self.target, action=Action.ADD, kind=PLAN_KIND, key=desired.plan_name,
                summary=f"create Dial Plan {desired.plan_name!r} (index {plan_index})",
                after={"index": plan_index, "name": desired.plan_name},
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
            conflicts=tuple(_conflicts(foreign, owned, desired)),
            notes=tuple(_notes(owned, coverage, desired, actual.source)),
        )

    def apply(self, plan: Plan, lease: HeldLease) -> None:
        """Every change in one incremental upload, then save and read back (the adapter)."""
        if plan.target == self.target and plan.changes and all(
            change.kind == SAVE_KIND for change in plan.changes
        ):
            lease.check()
            self._port.save_configuration()
            return
        edit = self._edit(plan)
        lease.check()
        self._after = self._port.write_dial_plan(edit)

    def verify(self, desired: SbcDesired) -> list[str]:
        """What is still wrong on the device; reads again only if this sync has not read yet."""
        actual = self._after or self._snapshot or self.read_actual()
        plan = actual.named(desired.plan_name)
        if plan is None:
            return [f"Dial Plan {desired.plan_name!r} does not exist on the SBC"]
        problems: list[str] = []
        owned = [r for r in plan.rules if is_owned(r.name)]
        wrong: dict[str, list[str]] = defaultdict(list)
        for number in sorted(desired.tags):
            tag = desired.tags[number]
            chosen = best_rule(plan.rules, number)
            if chosen is None:
                wrong["resolve to no rule"].append(number)
            elif not is_owned(chosen.name):
                wrong[f"resolve to foreign rule {chosen.name!r} (tag {chosen.tag!r})"].append(number)
            elif chosen.tag != tag:
                wrong[f"resolve to tag {chosen.tag!r} instead of their policy tag"].append(number)
        for reason, numbers in wrong.items():
            problems.append(f"{len(numbers)} managed number(s) {reason}: {_examples(numbers)}")
        for rule in owned:
            matched = numbers_of(rule.prefix)
            if matched is None:
                problems.append(
                    f"owned rule {rule.name!r} ({rule.prefix}) matches an open or very wide set "
                    "of numbers, not only managed ones"
                )
                continue
            stray = sorted(n for n in matched if n not in desired.tags)
            if stray:
                problems.append(
                    f"owned rule {rule.name!r} ({rule.prefix}) matches {len(stray)} number(s) "
                    f"byoc does not manage (not in the inventory, or being released): {_examples(stray)}"
                )
        have = {(r.name, r.prefix, r.tag) for r in owned}
        want = {(r.name, r.prefix, r.tag) for r in desired.rules}
        if have != want:
            problems.append(
                f"owned rules differ from the desired set: missing "
                f"{sorted(n for n, *_ in want - have)[:_SHOWN]}, unexpected "
                f"{sorted(n for n, *_ in have - want)[:_SHOWN]}"
            )
        problems += self._foreign_changes(desired.plan_name, plan.rules)
        return problems

    # --- internals ---------------------------------------------------------------------------

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
            after=_rule_json(plan_index, rule, index),
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
            summary=", ".join(parts) or "rename", before=_rule_json(plan_index, current, current.index),
            after=_rule_json(plan_index, rule, current.index),
            numbers_added=tuple(rule.coverage - before),
            numbers_removed=tuple(before - rule.coverage),
        )

    def _remove(self, plan_index: int, rule: SbcDialPlanRule, matched: NumberRanges | None
                ) -> Change:
        return Change(
            target=self.target, action=Action.REMOVE, kind=RULE_KIND, key=rule.name,
            summary=f"no longer wanted: {rule.prefix} tag {rule.tag}",
            before=_rule_json(plan_index, rule, rule.index),
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
                create, plan_index = True, int(change.after["index"])
                continue
            if change.kind != RULE_KIND or not is_owned(change.key):
                raise ForeignDialPlanRuleError(
                    f"{change.kind} {change.key!r} is not a byoc rule (name prefix "
                    f"{OWNED_NAME_PREFIX!r}); byoc never writes or deletes other rules"
                )
            data = change.after if change.action is not Action.REMOVE else change.before
            plan_index = int(data["plan_index"]) if plan_index is None else plan_index
            if change.action is Action.REMOVE:
                delete.append(int(data["index"]))
                continue
            rule = SbcDialPlanRule(int(data["index"]), str(data["name"]), str(data["prefix"]),
                                   str(data["tag"]))
            _check_limits(rule)
            put.append(rule)
        if plan_index is None:
            raise ValueError(f"{self.target}: the plan has no change to apply")
        return SbcDialPlanEdit(plan_name=self._plan_name, plan_index=plan_index,
                               create_plan=create, put=tuple(put), delete=tuple(delete))


def _check_limits(rule: SbcDialPlanRule) -> None:
    problems = []
    if len(rule.name) > MAX_RULE_NAME:
        problems.append(f"name {rule.name!r} is longer than {MAX_RULE_NAME}")
    if len(rule.prefix) > MAX_PREFIX_CHARS:
        problems.append(f"prefix {rule.prefix!r} is longer than {MAX_PREFIX_CHARS}")
    if len(rule.tag) > MAX_TAG:
        problems.append(f"tag {rule.tag!r} is longer than {MAX_TAG}")
    if problems:
        raise DialPlanRuleInvalid(f"rule {rule.name!r}: " + "; ".join(problems))


def _examples(numbers: list[str]) -> str:
    shown = ", ".join(numbers[:_SHOWN])
    return shown + (f" (+{len(numbers) - _SHOWN} more)" if len(numbers) > _SHOWN else "")


def _conflicts(
    foreign: list[SbcDialPlanRule], owned: Mapping[str, SbcDialPlanRule], desired: SbcDesired
) -> list[str]:
    """Foreign rules that win over, or lose exact numbers to, the desired owned rules."""
    patterns = [(r, p) for r in foreign if (p := parse_dial_pattern(r.prefix)) is not None
                and not p.any_number]
    if not patterns:
        return []
    next_index = max([r.index for r in foreign] + [r.index for r in owned.values()] + [-1]) + 1
    beats: dict[SbcDialPlanRule, list[str]] = defaultdict(list)
    shadows: dict[SbcDialPlanRule, list[str]] = defaultdict(list)
    for rule in desired.rules:
        current = owned.get(rule.name.casefold())
        mine = SbcDialPlanRule(current.index if current else next_index, rule.name, rule.prefix,
                               rule.tag)
        nearby = [(r, p) for r, p in patterns if any(p.matches(n) for n in rule.coverage)]
        for number in rule.coverage if nearby else ():
            matching = [(r, p) for r, p in nearby if p.matches(number)]
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
        f"{len(n)} managed number(s): {_examples(sorted(n))}; they cannot route to their policy "
        "tag until that rule is narrowed or removed by hand"
        for r, n in sorted(beats.items(), key=lambda item: item[0].index)
    ]
    found += [
        f"byoc's rules take {len(n)} number(s) from foreign rule {r.name!r} ({r.prefix}, tag "
        f"{r.tag!r}): {_examples(sorted(n))}; check that the policy should manage them"
        for r, n in sorted(shadows.items(), key=lambda item: item[0].index)
    ]
    return found


def _notes(
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


# --- registration ------------------------------------------------------------------------------


def register_sbc_targets(services: Services, registry: ReconcilerRegistry) -> None:
    """Register `sbc:<name>` for every configured SBC."""
    for sbc in services.settings.sbcs:
        registry.register(sbc_target(sbc.name), partial(_build_reconciler, services, sbc))


def _build_reconciler(services: Services, sbc: SbcSettings) -> SbcDialPlanReconciler:
    from byoc.adapters.audiocodes import AudioCodesSbc

    port = AudioCodesSbc.from_settings(
        services.settings, sbc, lambda: services.secret("sbc_password")
    )
    return SbcDialPlanReconciler(sbc, port)
