"""Sync requests: at most one queued sync per target; later requests ride on the pending one.

A burst of events (a sweep finding 200 numbers, a block purchase) would otherwise queue one sync of
every target per number. A pending marker per target coalesces them: a request while a sync of that
target is queued and not yet started queues nothing, because that sync will read the inventory after
the request was recorded. The marker is cleared when the sync starts (before it reads anything), so
a request arriving during a sync queues the next one. A marker older than `stale_after_s` (its job
lost or poisoned) no longer holds requests back.

A number event asks for a slice sync: only what its numbers touch (issue 25). The numbers a queued
slice must cover are noted one entry per request (a fresh key each time, so no write overwrites
another), and the job carries (up to `MAX_SLICE_NUMBERS` of) the numbers of the request that queued
it. A starting slice sync `take_slice`s at most `MAX_SLICE_NUMBERS` of the numbers noted so far
(sorted, so numbers next to each other share a slice: a Genesys pool is a run of numbers) and
`forget`s exactly their entries once it finished. The rest stay noted: the finished sync queues a
follow-on slice job for the next of them (`follow_on`) unless a pending sync already covers them,
so a burst of 10,000 numbers drains job by job in slices of 100 and is never widened to a full sync
(which would read the whole estate). An entry noted after the take has a key of its own, so it
stays for the next sync (which the request queued, the marker being cleared). Nothing noted is
lost, without conditional writes: the worst a race costs is a number synced twice. A slice whose
sync failed keeps its entries for the job's retry, and its numbers stay not converged in the
inventory, which the timer's full reconcile repairs in any case. A full sync (requested without
numbers: the timer, `byoc apply`) `take`s and forgets every entry noted when it started.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from byoc.domain.jobs import MAX_SLICE_NUMBERS, SyncTarget
from byoc.ports import JobQueue, StateStore

log = logging.getLogger("byoc.sync_requests")

PENDING_NAMESPACE = "sync-pending"
SLICE_NAMESPACE = "sync-slice"
"""`sync-slice:<target>`: one entry per number a slice sync of the target still owes."""


@dataclass(frozen=True)
class TakenSlice:
    """The entries a starting sync took: the numbers, and the keys to forget once it is done."""

    numbers: frozenset[str] = frozenset()
    keys: tuple[str, ...] = ()
    rest: tuple[str, ...] = ()
    """A slice's take: the next numbers noted and not taken (sorted, at most one slice's worth),
    for the follow-on job."""


class SyncRequests:
    """Queues `SyncTarget` jobs, coalescing requests for a target whose sync is still queued."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        state: StateStore,
        stale_after_s: float = 600.0,
        clock: Callable[[], float] = time.time,
        max_slice: int = MAX_SLICE_NUMBERS,
    ) -> None:
        self._queue = queue
        self._state = state
        self._stale_after_s = stale_after_s
        self._clock = clock
        self._max_slice = min(max_slice, MAX_SLICE_NUMBERS)

    def request(
        self, target: str, *, reason: str, correlation_id: str, force: bool = False,
        numbers: Iterable[str] | None = None,
    ) -> bool:
        """Queue a sync of `target` (of the slice `numbers` touch, when given) unless one already
        pending covers it; True when a job was queued."""
        wanted = sorted(set(numbers)) if numbers is not None else None
        if wanted is not None and not wanted:
            return False
        if wanted is not None:
            self._note(target, wanted)
            wanted = wanted[:self._max_slice]  # the rest stay noted, for the follow-on slices
        now = self._clock()
        pending = self._live_marker(target, now)
        # A marker written before slices existed has no "full": it stands for a full sync.
        covered = pending is not None and (wanted is not None or bool(pending.get("full", True)))
        if not force and covered:
            log.debug("sync already pending", extra={"event": "sync.coalesced", "target": target,
                                                      "correlation_id": correlation_id})
            return False
        self._queue_sync(now, SyncTarget(
            target=target, reason=reason[:200], correlation_id=correlation_id, force=force,
            numbers=tuple(wanted) if wanted is not None else None))
        return True

    def started(self, target: str) -> None:
        """A sync of `target` is starting: requests from now on need a sync of their own."""
        self._state.put(PENDING_NAMESPACE, target, None)

    def take(self, target: str) -> TakenSlice:
        """The numbers noted for `target` so far (call after `started`, before reading anything)."""
        entries, unreadable = self._entries(target)
        return TakenSlice(numbers=frozenset(entries),
                          keys=tuple(k for keys in entries.values() for k in keys) + unreadable)

    def take_slice(self, target: str, numbers: Iterable[str]) -> TakenSlice:
        """At most one slice of `numbers` (a job's own) and the numbers noted for `target`, the
        lowest first, with the entries of those numbers only (call after `started`)."""
        own = set(numbers)
        entries, unreadable = self._entries(target)
        ordered = sorted(own | entries.keys())
        piece, rest = ordered[:self._max_slice], ordered[self._max_slice:]
        unnoted = [n for n in rest if n in own and n not in entries]
        if unnoted:  # a job's own number left out of its slice: noted, so a follow-on covers it
            self._note(target, unnoted)
        return TakenSlice(numbers=frozenset(piece),
                          keys=tuple(k for n in piece for k in entries.get(n, ())) + unreadable,
                          rest=tuple(rest[:self._max_slice]))

    def follow_on(self, target: str, taken: TakenSlice, *, correlation_id: str) -> bool:
        """After a slice sync of `taken`: queue a slice of the numbers still noted, unless a
        pending sync covers them (it takes them when it starts); True when a job was queued."""
        if not taken.rest:
            return False
        now = self._clock()
        if self._live_marker(target, now) is not None:
            return False
        self._queue_sync(now, SyncTarget(target=target, reason="slice backlog: numbers still noted",
                                         correlation_id=correlation_id, numbers=taken.rest))
        log.info("slice backlog: next slice queued", extra={
            "event": "sync.follow_on", "target": target, "correlation_id": correlation_id})
        return True

    def forget(self, target: str, taken: TakenSlice) -> None:
        """The sync that took `taken` finished: its entries are covered (later ones stay)."""
        namespace = _slice_namespace(target)
        for key in taken.keys:
            self._state.release_claim(namespace, key)

    def pending(self, target: str) -> int:
        """How many numbers are noted for slice syncs of `target` and not yet taken."""
        return len(self._entries(target)[0])

    def _queue_sync(self, now: float, job: SyncTarget) -> None:
        """Mark the target's sync pending (later requests ride on it), then queue the job."""
        self._state.put(PENDING_NAMESPACE, job.target, {
            "at": now, "correlation_id": job.correlation_id, "full": job.numbers is None})
        self._queue.send(job)

    def _live_marker(self, target: str, now: float) -> dict[str, Any] | None:
        """The target's pending marker, unless none is set or it is stale (its job lost)."""
        pending = self._state.get(PENDING_NAMESPACE, target)
        if isinstance(pending, dict) and now - float(pending.get("at", 0)) < self._stale_after_s:
            return pending
        return None

    def _entries(self, target: str) -> tuple[dict[str, list[str]], tuple[str, ...]]:
        """The noted numbers with their entry keys, and the keys of entries naming no number."""
        entries: dict[str, list[str]] = {}
        unreadable: list[str] = []
        for key, value in self._state.items(_slice_namespace(target)).items():
            number = value.get("number") if isinstance(value, dict) else None
            if isinstance(number, str):
                entries.setdefault(number, []).append(key)
            else:
                unreadable.append(key)
        return entries, tuple(unreadable)

    def _note(self, target: str, numbers: list[str]) -> None:
        at = self._clock()
        namespace = _slice_namespace(target)
        for number in numbers:
            self._state.put(namespace, f"{number}.{uuid.uuid4().hex[:12]}",
                            {"number": number, "at": at})


def _slice_namespace(target: str) -> str:
    return f"{SLICE_NAMESPACE}:{target}"
