"""Resolving many numbers against one Dial Plan at once, exactly as `best_rule` does one by one.

100,000 managed numbers are checked against a plan's rules in one pass: a rule ending in `#` is
found by the ranges of its numbers, any other by the literal characters it starts with.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Generic

from byoc.domain.dialplan import DialPattern, R, parse_dial_pattern, pick, ranges_of
from byoc.domain.number_ranges import NumberRanges

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
