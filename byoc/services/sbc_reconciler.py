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
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache, partial
from itertools import islice
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
from byoc.ports import SbcDialPlanEdit, SbcDialPlanRule, SbcDialPlans, SbcWriteIncomplete

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


class DialPlanCapacityExceeded(ValueError):
    """A plan would hold more Dial Plan rules (or number groups) than the SBC's capacity."""


class DialPlanWriteRolledBack(Exception):
    """An upload failed part way; byoc wrote the touched rules back as they were and saved."""


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
    return _pick(
        (rule, pattern) for rule in sorted(rules, key=lambda r: r.index)
        if (pattern := parse_dial_pattern(rule.prefix)) is not None and pattern.matches(number)
    )


def _pick(
    matching: Iterable[tuple[SbcDialPlanRule, DialPattern]],
) -> SbcDialPlanRule | None:
    """The device's choice among rules that all match one number, given in rule-index order
    (equal indexes as listed): the most specific, the first of equals."""
    best: tuple[SbcDialPlanRule, DialPattern] | None = None
    for rule, pattern in matching:
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


# --- resolving many numbers ----------------------------------------------------------------------

INDEXED_RANGES = 4096
"""A `#` rule whose numbers need more ranges than this is matched number by number instead."""

_Group = tuple[str, int]
_Segments = tuple[list[int], list[int], list[tuple[int, ...]]]


class DialPlanIndex:
    """One Dial Plan's rules parsed and ordered once, to resolve many numbers as `best_rule` does.

    A rule ending in `#` is found by the ranges of its numbers (`ranges_of`); any other rule by the
    literal characters it starts with, then `DialPattern.matches`; `*` matches every number.
    """

    __slots__ = ("_always", "_choices", "_head_lengths", "_heads", "_reach", "_tables", "entries",
                 "exact")

    def __init__(self, rules: Iterable[SbcDialPlanRule]) -> None:
        self.entries: list[tuple[SbcDialPlanRule, DialPattern]] = [
            (rule, pattern) for rule in sorted(rules, key=lambda r: r.index)
            if (pattern := parse_dial_pattern(rule.prefix)) is not None
        ]
        """The rules the device can match, in the order `best_rule` considers them."""
        self.exact: list[NumberRanges | None] = []
        """Each entry's numbers, when it is found by range (`ranges_of`)."""
        always: list[int] = []
        heads: dict[str, list[int]] = defaultdict(list)
        intervals: dict[_Group, list[tuple[int, int, int]]] = defaultdict(list)
        for position, (_, pattern) in enumerate(self.entries):
            ranges = _indexable_ranges(pattern)
            self.exact.append(ranges)
            if pattern.any_number:
                always.append(position)
            elif ranges is None:
                heads[pattern.head].append(position)
            else:
                for lead, width, values in ranges.groups():
                    intervals[(lead, width)] += [(lo, hi, position) for lo, hi in values]
        self._always = tuple(always)
        self._heads = {head: tuple(positions) for head, positions in heads.items()}
        self._head_lengths = tuple(sorted({len(head) for head in heads}))
        self._tables = {group: _segments(found, self._always) for group, found in intervals.items()}
        self._reach: NumberRanges | None = None
        self._choices: dict[tuple[int, ...], SbcDialPlanRule | None] = {}

    def matching(self, number: str) -> tuple[int, ...]:
        """The positions in `entries` of the rules matching `number`, ascending."""
        return next(self.matching_each((number,)))

    def matching_each(self, numbers: Iterable[str]) -> Iterator[tuple[int, ...]]:
        """`matching` for each of `numbers`, in their order (one loop: 100,000 numbers)."""
        always, tables, heads, lengths = self._always, self._tables, self._heads, self._head_lengths
        entries = self.entries
        for number in numbers:
            found = always
            cut = number.rfind("+") + 1
            digits = number[cut:]
            if not digits or (digits.isascii() and digits.isdigit()):
                table = tables.get((number[:cut], len(digits)))
                if table is not None:
                    starts, ends, covering = table
                    value = int(digits) if digits else 0
                    at = bisect_right(starts, value) - 1
                    if at >= 0 and value <= ends[at]:
                        found = covering[at]
            if heads:
                opened = [
                    position
                    for length in lengths if length <= len(number)
                    for position in heads.get(number[:length], ())
                    if entries[position][1].matches(number)
                ]
                if opened:
                    found = tuple(sorted((*found, *opened)))
            yield found

    def choose(self, positions: tuple[int, ...]) -> SbcDialPlanRule | None:
        """The rule the device picks among the entries at `positions` (all matching one number)."""
        try:
            return self._choices[positions]
        except KeyError:
            chosen = self._choices[positions] = _pick(self.entries[at] for at in positions)
            return chosen

    def resolve(self, number: str) -> SbcDialPlanRule | None:
        """`best_rule(rules, number)`."""
        return self.choose(self.matching(number))

    def near(self, numbers: NumberRanges) -> NumberRanges:
        """The part of `numbers` that some rule may match (every number `matching` finds a rule for,
        and maybe more)."""
        if self._always:
            return numbers
        if self._reach is None:
            self._reach = NumberRanges.union(r for r in self.exact if r is not None)
        spans = [
            (lead, width, (span,))
            for lead, width, _ in numbers.groups() for head in self._heads
            if (span := _head_span(head, lead, width)) is not None
        ]
        reach = self._reach | NumberRanges(spans) if spans else self._reach
        return numbers - (numbers - reach)


def _indexable_ranges(pattern: DialPattern) -> NumberRanges | None:
    """The numbers of a `#` rule as ranges, unless listing them takes more than INDEXED_RANGES."""
    if pattern.any_number or not pattern.end_of_number:
        return None
    elements = pattern.prefix
    last = max((at for at, e in enumerate(elements) if e.kind != "x"), default=-1)
    work = 1  # values `prefix_ranges` steps through: the choices before its last non-`x`, bounded
    for element in elements[: last + 1]:
        if element.kind == "dot":
            return None
        work *= {"lit": 1, "x": 10, "z": 9, "n": 8}.get(element.kind) or element.options()
        if work > INDEXED_RANGES:
            return None
    return ranges_of(pattern.source)


def _segments(intervals: list[tuple[int, int, int]], always: tuple[int, ...]) -> _Segments:
    """Disjoint spans of values (starts, ends), each with the rules covering it (and `always`)."""
    points = sorted({lo for lo, _, _ in intervals} | {hi + 1 for _, hi, _ in intervals})
    cover: list[list[int]] = [[] for _ in points]
    for lo, hi, position in intervals:
        for at in range(bisect_left(points, lo), bisect_left(points, hi + 1)):
            cover[at].append(position)
    starts: list[int] = []
    ends: list[int] = []
    covering: list[tuple[int, ...]] = []
    for at, positions in enumerate(cover):
        if positions:  # never the last point: it ends every interval that reaches it
            starts.append(points[at])
            ends.append(points[at + 1] - 1)
            covering.append(tuple(sorted((*positions, *always))))
    return starts, ends, covering


def _head_span(head: str, lead: str, width: int) -> tuple[int, int] | None:
    """The values of the strings `lead` + `width` digits that start with `head`, as one range."""
    if len(head) <= len(lead):
        return (0, 10**width - 1) if lead.startswith(head) else None
    rest = head[len(lead):]
    if not head.startswith(lead) or len(rest) > width or not (rest.isascii() and rest.isdigit()):
        return None
    scale = 10 ** (width - len(rest))
    return int(rest) * scale, int(rest) * scale + scale - 1


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
        seen: dict[tuple[int, ...], int] = defaultdict(int)  # numbers per set of matching rules
        verdicts: dict[tuple[tuple[int, ...], str], str | None] = {}
        numbers = sorted(desired.tags)
        for number, found in zip(numbers, index.matching_each(numbers), strict=True):
            seen[found] += 1
            key = (found, desired.tags[number])
            if key not in verdicts:
                verdicts[key] = _wrong_resolution(index.choose(found), key[1])
            reason = verdicts[key]
            if reason is not None:
                wrong[reason].append(number)
        for reason, numbers in wrong.items():
            problems.append(f"{len(numbers)} managed number(s) {reason}: {_examples(numbers)}")
        managed_matched = [0] * len(index.entries)
        for found, count in seen.items():
            for position in found:
                managed_matched[position] += count
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
            in_inventory = (managed_matched[at] if at is not None
                            else sum(1 for n in desired.tags if n in matched))
            if len(matched) > in_inventory:
                stray = (n for n in matched if n not in desired.tags)
                problems.append(
                    f"owned rule {rule.name!r} ({rule.prefix}) matches {len(matched) - in_inventory}"
                    " number(s) byoc does not manage (not in the inventory, or being released): "
                    f"{_examples(list(islice(stray, _SHOWN)), len(matched) - in_inventory)}"
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
                    index = int(change.after["index"])
                    if index in on_device:
                        delete.append(index)
                elif change.before is not None:
                    b = change.before
                    old = SbcDialPlanRule(int(b["index"]), str(b["name"]), str(b["prefix"]),
                                          str(b["tag"]))
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


def number_groups(prefix: str) -> int:
    """Single numbers and ranges inside brackets: the device's capacity unit for prefixes."""
    return sum(len(body.split(",")) for body in re.findall(r"\[([^\]]*)\]", prefix))


def _wrong_resolution(chosen: SbcDialPlanRule | None, tag: str) -> str | None:
    """Why a managed number with policy tag `tag` is not routed right by `chosen`, if it is not."""
    if chosen is None:
        return "resolve to no rule"
    if not is_owned(chosen.name):
        return f"resolve to foreign rule {chosen.name!r} (tag {chosen.tag!r})"
    if chosen.tag != tag:
        return f"resolve to tag {chosen.tag!r} instead of their policy tag"
    return None


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


def _examples(numbers: list[str], count: int | None = None) -> str:
    """The first numbers of a sorted list; `count` of them in all when only the first are given."""
    count = len(numbers) if count is None else count
    shown = ", ".join(numbers[:_SHOWN])
    return shown + (f" (+{count - _SHOWN} more)" if count > _SHOWN else "")


def _conflicts(
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
                winners[key] = _pick(entries)
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
