"""The pool view finds the pool holding a number, as the org's pools say, without a call."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from byoc.ports import GenesysDidPool
from byoc.services.genesys_pool_view import PoolView

# Pools of two lengths, close together (they touch), and one crossing into a longer length.
_STARTS = st.sampled_from([14155550000, 14155550010, 14155550020, 441234560000, 99999990])


@st.composite
def _pools(draw: st.DrawFn) -> list[GenesysDidPool]:
    """Pools that do not overlap (Genesys refuses an overlapping create)."""
    taken: set[str] = set()
    pools = []
    for index, (start, size) in enumerate(draw(st.lists(
            st.tuples(_STARTS, st.integers(0, 12)), max_size=6))):
        low = start + draw(st.integers(0, 9))
        numbers = {f"+{v}" for v in range(low, low + size + 1)}
        if len(str(low)) != len(str(low + size)) or numbers & taken:
            continue
        taken |= numbers
        pools.append(GenesysDidPool(id=f"pool-{index}", start=f"+{low}", end=f"+{low + size}"))
    return pools


@settings(max_examples=200, deadline=None, derandomize=True)
@given(_pools(), st.lists(st.integers(-1, 25), max_size=12))
def test_a_number_is_found_in_the_pool_that_holds_it(pools: list[GenesysDidPool],
                                                      offsets: list[int]) -> None:
    view = PoolView(clock=lambda: 0.0)
    view.replace_all(pools)
    holder = {f"+{v}": p for p in pools for v in range(int(p.start), int(p.end) + 1)}
    probes = {*holder, *(f"+{s + o}" for s in (14155550000, 99999990) for o in offsets)}
    for number in probes:
        assert view.find(number) == holder.get(number)
    if pools:  # a pool byoc deleted holds nothing any more
        view.drop(pools[0].id)
        for number in probes:
            expected = holder.get(number)
            assert view.find(number) == (None if expected == pools[0] else expected)
