"""The one range type the SBC and Genesys plans run on agrees with plain sets of numbers.

Planning 100,000 numbers works on runs of numbers (DID pools, contiguous runs, dial-plan
prefixes) instead of on each number; a mistake here would put a number in the wrong pool or rule,
or drop it from routing, so every operation is checked against Python sets of the same numbers.
"""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byoc.domain.number_ranges import NumberRanges, Span, span_numbers, value_runs
from byoc.domain.numbers import NumberSet

# Numbers of two lengths, close together (runs form and touch), and across 10**k (a run of
# values that gains a digit is two runs of numbers).
_VALUES = st.one_of(
    st.integers(14155550000, 14155550060),
    st.integers(441234560000, 441234560040),
    st.integers(9999999990, 10000000010),
)
_NUMBER_SETS = st.frozensets(_VALUES.map(lambda v: f"+{v}"), max_size=60)


def _as_set(ranges: NumberRanges) -> set[str]:
    return {n for span in ranges.spans() for n in span_numbers(span)}


def _spans(numbers: frozenset[str]) -> NumberRanges:
    return NumberRanges.of_numbers(sorted(numbers, key=lambda n: (len(n), n)))


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(_NUMBER_SETS, _NUMBER_SETS)
def test_set_algebra_matches_sets_of_numbers(a: frozenset[str], b: frozenset[str]) -> None:
    left, right = _spans(a), _spans(b)
    assert _as_set(left) == a
    assert len(left) == len(a)
    assert _as_set(left - right) == a - b
    assert _as_set(left & right) == a & b
    assert _as_set(left | right) == a | b
    assert set(left) == a  # the spans and the strings are the same numbers
    for number in a | b:
        assert (number in left) == (number in a)
    assert NumberRanges.of_spans([*left.spans(), *right.spans()]) == left | right


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.lists(st.tuples(_VALUES, st.integers(0, 15)), max_size=8))
def test_overlapping_spans_make_the_set_of_their_numbers(runs: list[tuple[int, int]]) -> None:
    spans: list[Span[str]] = [Span(len(str(low)) + 1, low, low + size, "pool") for low, size in runs
                              if len(str(low + size)) == len(str(low))]
    numbers = {n for span in spans for n in span_numbers(span)}
    ranges = NumberRanges.of_spans(spans)
    assert _as_set(ranges) == numbers and len(ranges) == len(numbers)
    assert ranges == NumberRanges.of_numbers(numbers)
    assert all(span.pool is None for span in ranges.spans())  # a set holds numbers, not pools
    for before, after in pairwise(ranges.spans()):  # by length, then apart and in order
        assert before.width < after.width or (before.width == after.width
                                              and after.low > before.high + 1)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_NUMBER_SETS, _VALUES, st.integers(0, 20))
def test_span_queries_match_sets_of_numbers(numbers: frozenset[str], low: int, size: int) -> None:
    ranges = _spans(numbers)
    span = Span(len(str(low)) + 1, low, low + size)
    inside = set(span_numbers(span)) if len(str(low + size)) == len(str(low)) else set()
    if not inside:
        return  # a span of numbers never changes length
    assert ranges.count_within(span) == len(inside & numbers)
    assert ranges.covers(span) == (inside <= numbers)
    assert ranges.touches(span) == bool(inside & numbers)
    held = sorted(int(n[1:]) for n in inside & numbers)
    assert ranges.bounds_within(span) == ((held[0], held[-1]) if held else None)


def test_runs_are_maximal_and_split_where_a_number_gains_a_digit() -> None:
    numbers = ["+9999999998", "+9999999999", "+10000000000", "+14155550100", "+14155550101",
               "+14155550103"]
    assert [(s.width, s.low, s.high) for s in NumberRanges.of_numbers(numbers).spans()] == [
        (11, 9999999998, 9999999999),
        (12, 10000000000, 10000000000),
        (12, 14155550100, 14155550101),
        (12, 14155550103, 14155550103),
    ]


def test_unordered_input_gives_the_same_runs() -> None:
    numbers = [f"+{14155550000 + v}" for v in (5, 1, 2, 9, 3, 4, 8)]
    ordered = NumberRanges.of_numbers(sorted(numbers))
    assert NumberRanges.of_numbers(numbers).spans() == ordered.spans()
    assert [(s.low % 100, s.high % 100) for s in ordered.spans()] == [(1, 5), (8, 9)]


def test_a_string_that_is_not_a_number_is_not_in_any_range() -> None:
    ranges = NumberRanges.of_numbers(["+14155550100"])
    assert "+1415555010x" not in ranges
    assert "" not in ranges
    assert "14155550100" not in ranges  # no '+': a dial string of another kind


def test_a_set_of_dial_strings_is_no_list_of_e164_spans() -> None:
    assert NumberRanges([("+", 3, [(100, 105)])]).spans() == [Span(4, 100, 105)]
    with pytest.raises(ValueError, match=r"not E\.164"):
        NumberRanges([("+", 3, [(100, 105)]), ("1+", 2, [(5, 5)])]).spans()


# --- the one sweep and the one run finder, against plain sets ------------------------------------

_GROUPS = [("+", 3), ("+", 4), ("", 2)]


@st.composite
def _number_ranges(draw: st.DrawFn) -> NumberRanges:
    parts = draw(st.lists(st.tuples(st.sampled_from(_GROUPS), st.integers(0, 99),
                                    st.integers(0, 20)), max_size=8))
    return NumberRanges([(lead, width, [(lo, min(lo + size, 10**width - 1))])
                         for (lead, width), lo, size in parts])


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_number_ranges(), _number_ranges())
def test_number_ranges_difference_and_intersection_match_sets(a: NumberRanges,
                                                              b: NumberRanges) -> None:
    assert set(a - b) == set(a) - set(b)
    assert set(a & b) == set(a) & set(b)
    assert len(a & b) == len(set(a) & set(b))
    assert (a - b) | (a & b) == a


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.frozensets(_VALUES, max_size=60))
def test_value_runs_are_the_maximal_runs_of_one_length(values: frozenset[int]) -> None:
    runs = value_runs(sorted(values))
    assert {v for _, lo, hi in runs for v in range(lo, hi + 1)} == values
    assert all(len(str(lo)) == len(str(hi)) == digits for digits, lo, hi in runs)
    for (d1, _, hi), (d2, lo, _) in pairwise(runs):
        assert lo > hi + 1 or d2 != d1  # apart, or a change of length
    numbers = NumberSet.from_e164(f"+{v}" for v in values if v >= 10**5)
    assert numbers.contiguous_runs() == [
        (f"+{lo}", f"+{hi}") for _, lo, hi in value_runs(sorted(v for v in values if v >= 10**5))]
