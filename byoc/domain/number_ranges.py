"""Contiguous ranges of numbers: sets held as runs of values, so their algebra costs per run.

`NumberRanges` is the one set type: dial strings (a lead up to the last `+`, then a fixed count
of digits) as sorted disjoint ranges per kind of string; the SBC dial plan's prefixes and the
Genesys DID pools both plan on it. A `Span` is one run of E.164 numbers of equal length (`width`
counts the `+`) and may carry the object it was read from (a DID pool); `SpanIndex` finds the
span, and so the pool, holding a number.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, compress, repeat
from operator import itemgetter, ne, sub
from typing import Any, Final, Generic, NamedTuple, TypeAlias, TypeVar

__all__ = [
    "BY_START",
    "Group",
    "NumberRanges",
    "Ranges",
    "Span",
    "SpanIndex",
    "merge_ranges",
    "render_value",
    "span_numbers",
    "span_text",
    "sweep",
    "value_runs",
]

P = TypeVar("P")

Ranges: TypeAlias = tuple[tuple[int, int], ...]
Group: TypeAlias = tuple[str, int]
_LOW = itemgetter(0)
_SUFFIX_DIGITS: Final = 3
_SUFFIXES: Final = ("",), *(
    tuple(f"{v:0{width}d}" for v in range(10**width)) for width in range(1, _SUFFIX_DIGITS + 1)
)


class NumberRanges:
    """An immutable set of dial strings (`+` and digits) held as ranges of values, not listed.

    A string is its lead (up to and including its last `+`: `+` for E.164) and a fixed count of
    digits; the set keeps, per (lead, digit count), sorted disjoint ranges of the digits' values.
    `len`, `in`, `|`, `-`, `&` and `==` work on the ranges; iteration lists the strings in
    ascending string order, as `sorted()` would. Of E.164 numbers (`of_numbers`, `of_spans`) it
    also answers per span (`covers`, `touches`, `bounds_within`, `count_within`) and lists its
    runs as spans (`spans()`), what DID pools are planned with.
    """

    __slots__ = ("_groups",)

    _groups: dict[Group, Ranges]

    def __init__(self, groups: Iterable[tuple[str, int, Iterable[tuple[int, int]]]] = ()) -> None:
        """From (lead, digit count, ranges of values) triples; ranges may overlap or be unordered."""
        collected: dict[Group, list[tuple[int, int]]] = {}
        for lead, width, ranges in groups:
            if width < 0 or (lead and not lead.endswith("+")) or not set(lead) <= {"+", *"0123456789"}:
                raise ValueError(f"({lead!r}, {width}): a lead must be empty or end with '+'")
            for lo, hi in ranges:
                if not 0 <= lo <= hi < 10**width:
                    raise ValueError(f"range {lo}..{hi} does not fit in {width} digit(s)")
                collected.setdefault((lead, width), []).append((lo, hi))
        self._groups = {key: merge_ranges(ranges) for key, ranges in sorted(collected.items())}

    @classmethod
    def from_groups(cls, groups: dict[Group, Ranges]) -> NumberRanges:
        """From ranges already sorted, disjoint and apart within each (lead, digit count)."""
        instance = object.__new__(cls)
        instance._groups = {key: ranges for key, ranges in sorted(groups.items()) if ranges}
        return instance

    @classmethod
    def union(cls, sets: Iterable[NumberRanges]) -> NumberRanges:
        """Every string in any of `sets` (one merge, however many sets)."""
        collected: dict[Group, list[tuple[int, int]]] = {}
        for ranges in sets:
            for key, values in ranges._groups.items():
                collected.setdefault(key, []).extend(values)
        return cls.from_groups({key: merge_ranges(values) for key, values in collected.items()})

    @classmethod
    def of_numbers(cls, numbers: Iterable[str]) -> NumberRanges:
        """The runs of consecutive numbers among E.164 `numbers` (valid: no leading zero, so a
        number's value gives its length, and a run of values only changes length at 10**k)."""
        values = sorted(map(int, numbers))
        if len(set(values)) != len(values):
            values = sorted(set(values))
        return cls.of_values(values)

    @classmethod
    def of_values(cls, values: list[int]) -> NumberRanges:
        """The E.164 numbers whose digits are `values` (sorted, distinct, positive), as runs."""
        groups: dict[Group, list[tuple[int, int]]] = {}
        for digits, lo, hi in value_runs(values):
            groups.setdefault(("+", digits), []).append((lo, hi))
        return cls.from_groups({key: tuple(ranges) for key, ranges in groups.items()})

    @classmethod
    def of_spans(cls, spans: Iterable[Span[Any]]) -> NumberRanges:
        """Every number of `spans` (E.164 runs, `low <= high`; they may overlap or touch)."""
        collected: dict[Group, list[tuple[int, int]]] = {}
        for span in spans:
            collected.setdefault(("+", span.width - 1), []).append((span.low, span.high))
        return cls.from_groups({key: merge_ranges(values) for key, values in collected.items()})

    def spans(self) -> list[Span[Any]]:
        """The set as E.164 spans, by length then value (ValueError: it holds other strings)."""
        if any(lead != "+" or not width for lead, width in self._groups):
            raise ValueError(f"{self!r} holds dial strings that are not E.164 numbers")
        return [Span(width + 1, lo, hi)
                for (_, width), ranges in self._groups.items() for lo, hi in ranges]

    def groups(self) -> list[tuple[str, int, Ranges]]:
        """(lead, digit count, sorted disjoint ranges) per kind of string, ascending."""
        return [(lead, width, ranges) for (lead, width), ranges in self._groups.items()]

    @property
    def first(self) -> str | None:
        """The smallest string: the shortest, then the first in string order (None when empty)."""
        firsts = [render_value(lead, width, ranges[0][0])
                  for (lead, width), ranges in self._groups.items()]
        return min(firsts, key=lambda s: (len(s), s)) if firsts else None

    def covers(self, span: Span[Any]) -> bool:
        """Whether every number of `span` is in the set."""
        ranges = self._e164(span)
        at = bisect_right(ranges, span.low, key=_LOW) - 1
        return at >= 0 and ranges[at][1] >= span.high

    def touches(self, span: Span[Any]) -> bool:
        """Whether any number of `span` is in the set."""
        ranges = self._e164(span)
        at = bisect_right(ranges, span.high, key=_LOW) - 1
        return at >= 0 and ranges[at][1] >= span.low

    def bounds_within(self, span: Span[Any]) -> tuple[int, int] | None:
        """The lowest and highest numbers of `span` in the set (None: none is)."""
        ranges = self._e164(span)
        last = bisect_right(ranges, span.high, key=_LOW) - 1
        if last < 0 or ranges[last][1] < span.low:
            return None
        first = bisect_right(ranges, span.low, key=_LOW) - 1
        low = span.low if first >= 0 and ranges[first][1] >= span.low else ranges[first + 1][0]
        return low, min(ranges[last][1], span.high)

    def count_within(self, span: Span[Any]) -> int:
        """How many numbers of `span` are in the set."""
        ranges = self._e164(span)
        at = bisect_right(ranges, span.high, key=_LOW)
        count = 0
        while at > 0 and ranges[at - 1][1] >= span.low:
            lo, hi = ranges[at - 1]
            count += min(hi, span.high) - max(lo, span.low) + 1
            at -= 1
        return count

    def _e164(self, span: Span[Any]) -> Ranges:
        return self._groups.get(("+", span.width - 1), ())

    def __len__(self) -> int:
        return sum(hi - lo + 1 for ranges in self._groups.values() for lo, hi in ranges)

    def __bool__(self) -> bool:
        return bool(self._groups)

    def __contains__(self, text: object) -> bool:
        if not isinstance(text, str):
            return False
        cut = text.rfind("+") + 1
        digits = text[cut:]
        if digits and not (digits.isascii() and digits.isdigit()):
            return False
        ranges = self._groups.get((text[:cut], len(digits)))
        if ranges is None:
            return False
        value = int(digits) if digits else 0
        at = bisect_right(ranges, (value, 10**len(digits))) - 1
        return at >= 0 and ranges[at][0] <= value <= ranges[at][1]

    def __iter__(self) -> Iterator[str]:
        if len(self._groups) == 1:
            ((lead, width), ranges), = self._groups.items()
            return chain.from_iterable(_strings(lead, width, lo, hi) for lo, hi in ranges)
        return iter(sorted(chain.from_iterable(
            _strings(lead, width, lo, hi)
            for (lead, width), ranges in self._groups.items() for lo, hi in ranges
        )))

    def __or__(self, other: NumberRanges) -> NumberRanges:
        if not isinstance(other, NumberRanges):
            return NotImplemented
        return NumberRanges.union((self, other))

    def __sub__(self, other: NumberRanges) -> NumberRanges:
        if not isinstance(other, NumberRanges):
            return NotImplemented
        return NumberRanges.from_groups({
            key: sweep(ranges, other._groups.get(key, ()), keep_inside=False)
            for key, ranges in self._groups.items()
        })

    def __and__(self, other: NumberRanges) -> NumberRanges:
        if not isinstance(other, NumberRanges):
            return NotImplemented
        return NumberRanges.from_groups({
            key: sweep(ranges, other._groups.get(key, ()), keep_inside=True)
            for key, ranges in self._groups.items()
        })

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, NumberRanges):
            return NotImplemented
        return self._groups == other._groups

    def __hash__(self) -> int:
        return hash(tuple(self._groups.items()))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{render_value(lead, width, lo)}..{render_value(lead, width, hi)}"
            for lead, width, ranges in self.groups() for lo, hi in ranges[:3]
        )
        return f"NumberRanges(<{len(self)} numbers: {shown}{' …' if len(self) else ''}>)"


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> Ranges:
    """Sorted, with overlapping and adjacent ranges joined."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return tuple(out)


def sweep(ranges: Sequence[tuple[int, int]], cuts: Sequence[tuple[int, int]], *,
          keep_inside: bool) -> Ranges:
    """The parts of `ranges` inside (or outside) `cuts`, both sorted and disjoint, in one pass."""
    out: list[tuple[int, int]] = []
    at = 0
    for lo, hi in ranges:
        while at < len(cuts) and cuts[at][1] < lo:
            at += 1  # ends before this range, hence before every later one
        scan = at
        while scan < len(cuts) and cuts[scan][0] <= hi:
            cut_lo, cut_hi = cuts[scan]
            if keep_inside:
                out.append((max(lo, cut_lo), min(hi, cut_hi)))
            elif cut_lo > lo:
                out.append((lo, cut_lo - 1))
            lo = max(lo, cut_hi + 1)
            if lo > hi:
                break
            scan += 1
        if not keep_inside and lo <= hi:
            out.append((lo, hi))
    return tuple(out)


def render_value(lead: str, width: int, value: int) -> str:
    return f"{lead}{value:0{width}d}" if width else lead


def _strings(lead: str, width: int, lo: int, hi: int) -> list[str]:
    """The strings of one range, ascending; the last digits come from a table, not formatting."""
    tail = min(width, _SUFFIX_DIGITS)
    suffixes = _SUFFIXES[tail]
    size = 10**tail
    out: list[str] = []
    head, first = divmod(lo, size)
    last_head, last = divmod(hi, size)
    while head <= last_head:
        text = render_value(lead, width - tail, head)
        end = last + 1 if head == last_head else size
        out.extend(map(text.__add__, suffixes[first:end]))
        head, first = head + 1, 0
    return out


# --- E.164 spans -------------------------------------------------------------------------------


class Span(NamedTuple, Generic[P]):
    """Numbers `low`..`high` of `width` characters (with the '+'), and the pool they make, if any
    (a tuple: plans build thousands of them)."""

    width: int
    low: int
    high: int
    pool: P | None = None

    @classmethod
    def of(cls, first: str, last: str, pool: P | None = None) -> Span[P]:
        return cls(len(first), int(first[1:]), int(last[1:]), pool)

    @property
    def size(self) -> int:
        return self.high - self.low + 1

    def overlaps(self, other: Span[Any]) -> bool:
        return self.width == other.width and self.low <= other.high and other.low <= self.high


BY_START = itemgetter(0, 1)
"""A span's (width, low)."""


class SpanIndex(Generic[P]):
    """Pools' spans (which should not overlap), searchable by number; each keeps its pool."""

    def __init__(self, spans: Iterable[Span[P]]) -> None:
        self._spans = sorted(spans, key=BY_START)
        self._keys = [(s.width, s.low) for s in self._spans]

    def find(self, number: str) -> Span[P] | None:
        width, value = len(number), int(number[1:])
        i = bisect_right(self._keys, (width, value)) - 1
        if i >= 0:
            span = self._spans[i]
            if span.width == width and span.low <= value <= span.high:
                return span
        return None

    def overlapping(self, span: Span[P]) -> list[Span[P]]:
        return [s for s in self._spans if s.overlaps(span)]


POWERS_OF_TEN = frozenset(10**k for k in range(1, 16))


def value_runs(values: list[int]) -> list[tuple[int, int, int]]:
    """Maximal runs of consecutive values, as (digit count, first, last), ascending.

    `values` are sorted, distinct and positive (E.164 digits: no leading zero, so a value gives
    its digit count); a run of values that gains a digit (99, 100) is two runs of numbers.
    """
    if not values:
        return []
    # Where a run ends, found by C-level iteration: a value that is not the last plus one, or
    # that gains a digit.
    breaks = {*compress(range(1, len(values)),
                        map(ne, map(sub, values[1:], values[:-1]), repeat(1))),
              *(bisect_left(values, p) for p in POWERS_OF_TEN if values[0] < p <= values[-1])}
    starts = [0, *sorted(breaks)]
    ends = [*(i - 1 for i in starts[1:]), len(values) - 1]
    return [(len(str(values[i])), values[i], values[j]) for i, j in zip(starts, ends, strict=True)]


def span_text(width: int, value: int) -> str:
    return f"+{value:0{width - 1}d}"


def span_numbers(span: Span[Any]) -> list[str]:
    return list(map(f"+{{:0{span.width - 1}d}}".format, range(span.low, span.high + 1)))
