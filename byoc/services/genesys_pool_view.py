"""What this process last saw of the org's DID pools: the read model slice syncs plan from.

Looking each number up costs three Genesys calls (the number and its two neighbours); a bulk port
of 10,000 scattered numbers would spend 30,000 calls reading and 10,000 writing. Instead the pools
a full sync (or a large slice) just listed are kept per Genesys adapter, and updated by every pool
write byoc makes, so a slice finds the pools holding or next to its numbers without a call.

The view is only a hint. It is used for `VIEW_TTL_S` after the listing it came from; Genesys itself
refuses what a stale view would get wrong: an overlapping pool create is refused (the view is then
forgotten and the retried sync looks numbers up), a resize of a pool changed meanwhile fails its
version or finds it gone, and a slice number the view puts in a pool is looked up anyway (for its
holder): found in none, the view is forgotten and the slice looks its numbers up. Numbers the slice
did not write a pool for are looked up again by verify.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from weakref import WeakKeyDictionary

from byoc.domain.number_ranges import Span, SpanIndex
from byoc.ports import GenesysDidPool, GenesysPort

VIEW_TTL_S = 3600.0
"""How long a listing of the pools is planned from (the timer's full sync lists them again).
Long enough for a bulk port at the rate limit: 10,000 scattered numbers into 100,000 take about 36
minutes at 300 calls a minute, and listing the 54,575 pools again costs 546 calls; with 5 minutes
the port either re-listed every 1,500 calls (a third more) or looked each number up (three calls
a number) once the view had expired (benchmarks/genesys_bulk_port.py)."""


class PoolView:
    """The active pools as last listed, searchable by number."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._pools: dict[str, GenesysDidPool] = {}
        self._listed_at: float | None = None
        self._index: SpanIndex[GenesysDidPool] | None = None

    def fresh(self) -> bool:
        return self._listed_at is not None and self._clock() - self._listed_at < VIEW_TTL_S

    def replace_all(self, pools: Iterable[GenesysDidPool]) -> None:
        self._pools = {p.id: p for p in pools if p.state != "deleted"}
        self._listed_at = self._clock()
        self._index = None

    def put(self, pool: GenesysDidPool) -> None:
        if self._listed_at is not None:
            self._pools[pool.id] = pool
            self._index = None

    def drop(self, pool_id: str) -> None:
        if self._pools.pop(pool_id, None) is not None:
            self._index = None

    def forget(self) -> None:
        """Plan from fresh reads until the next listing (a write met what the view did not show)."""
        self._pools, self._listed_at, self._index = {}, None, None

    def find(self, number: str) -> GenesysDidPool | None:
        """The pool holding `number`, as far as the view knows."""
        if self._index is None:
            # in (length, start, end, id) order: of pools that overlap (Genesys refuses such a
            # create), the same one answers every time
            spans = sorted((Span.of(p.start, p.end, p) for p in self._pools.values()),
                           key=lambda s: (s.width, s.low, s.high, s.pool.id if s.pool else ""))
            self._index = SpanIndex(spans)
        found = self._index.find(number)
        return found.pool if found is not None else None

    def __len__(self) -> int:
        return len(self._pools)


_VIEWS: WeakKeyDictionary[GenesysPort, PoolView] = WeakKeyDictionary()


def pool_view(port: GenesysPort) -> PoolView:
    """The view of the org behind `port` (one per adapter, so per process and org)."""
    view = _VIEWS.get(port)
    if view is None:
        view = _VIEWS[port] = PoolView()
    return view


__all__ = ["VIEW_TTL_S", "PoolView", "pool_view"]
