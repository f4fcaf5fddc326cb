"""The AudioCodes Dial Plan grammar and matcher: which rule the device picks for a number.

A Dial Plan Rule prefix as the SBC reads it (vendor notes docs/vendors/audiocodes.md section 2.1;
Mediant 7.4 user manual, "Dial Plan Rule table" and "Dial Plan Matching Priority"): the most
specific prefix matching a number wins, then the lower rule index. `DialPlanIndex` resolves many
numbers at once exactly as `best_rule` does one by one.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Generic, Protocol, TypeVar

from byoc.domain.number_ranges import NumberRanges
from byoc.domain.numbers import expand_prefix, prefix_ranges

MAX_EXPANSION = 1_000_000
"""A rule matching more numbers than this is not expanded (counted as unknown)."""


class DialPlanRule(Protocol):
    """What matching needs of a rule: its RuleIndex within the plan and its prefix."""

    @property
    def index(self) -> int: ...

    @property
    def prefix(self) -> str: ...


R = TypeVar("R", bound=DialPlanRule)

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


def best_rule(rules: Iterable[R], number: str) -> R | None:
    """The rule the device picks for `number`: most specific, then the lowest rule index."""
    return pick(
        (rule, pattern) for rule in sorted(rules, key=lambda r: r.index)
        if (pattern := parse_dial_pattern(rule.prefix)) is not None and pattern.matches(number)
    )


def pick(
    matching: Iterable[tuple[R, DialPattern]],
) -> R | None:
    """The device's choice among rules that all match one number, given in rule-index order
    (equal indexes as listed): the most specific, the first of equals."""
    best: tuple[R, DialPattern] | None = None
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


class DialPlanIndex(Generic[R]):
    """One Dial Plan's rules parsed and ordered once, to resolve many numbers as `best_rule` does.

    A rule ending in `#` is found by the ranges of its numbers (`ranges_of`); any other rule by the
    literal characters it starts with, then `DialPattern.matches`; `*` matches every number.
    """

    __slots__ = ("_always", "_choices", "_head_lengths", "_heads", "_reach", "_tables", "entries",
                 "exact")

    def __init__(self, rules: Iterable[R]) -> None:
        self.entries: list[tuple[R, DialPattern]] = [
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
        self._choices: dict[tuple[int, ...], R | None] = {}

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

    def choose(self, positions: tuple[int, ...]) -> R | None:
        """The rule the device picks among the entries at `positions` (all matching one number)."""
        try:
            return self._choices[positions]
        except KeyError:
            chosen = self._choices[positions] = pick(self.entries[at] for at in positions)
            return chosen

    def resolve(self, number: str) -> R | None:
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
