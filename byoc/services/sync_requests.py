"""Sync requests: at most one queued sync per target; later requests ride on the pending one.

A burst of events (a sweep finding 200 numbers, a block purchase) would otherwise queue one full sync
of every target per number. A pending marker per target coalesces them: a request while a sync of that
target is queued and not yet started adds nothing, because that sync will read the inventory after
the request was recorded. The marker is cleared when the sync starts (before it reads anything), so
a request arriving during a sync queues the next one; nothing recorded is ever left unsynced. A
marker older than `stale_after_s` (its job lost or poisoned) no longer holds requests back.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from byoc.domain.jobs import SyncTarget
from byoc.ports import JobQueue, StateStore

log = logging.getLogger("byoc.sync_requests")

PENDING_NAMESPACE = "sync-pending"


class SyncRequests:
    """Queues `SyncTarget` jobs, coalescing requests for a target whose sync is still queued."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        state: StateStore,
        stale_after_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._queue = queue
        self._state = state
        self._stale_after_s = stale_after_s
        self._clock = clock

    def request(self, target: str, *, reason: str, correlation_id: str, force: bool = False) -> bool:
        """Queue a sync of `target` unless one is already pending; True when a job was queued."""
        now = self._clock()
        pending = self._state.get(PENDING_NAMESPACE, target)
        if (
            not force
            and isinstance(pending, dict)
            and now - float(pending.get("at", 0)) < self._stale_after_s
        ):
            log.debug("sync already pending", extra={"event": "sync.coalesced", "target": target,
                                                      "correlation_id": correlation_id})
            return False
        self._state.put(PENDING_NAMESPACE, target, {"at": now, "correlation_id": correlation_id})
        self._queue.send(
            SyncTarget(target=target, reason=reason[:200], correlation_id=correlation_id,
                       force=force)
        )
        return True

    def started(self, target: str) -> None:
        """A sync of `target` is starting: requests from now on need a sync of their own."""
        self._state.put(PENDING_NAMESPACE, target, None)
