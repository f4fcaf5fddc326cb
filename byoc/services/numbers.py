"""Number lifecycle: turn `NumberEvent`s into inventory records and target syncs.

An event is a hint: it records what byoc now wants (onboard or release the number) and queues a sync
of every target that carries numbers. The syncs do the work, and are safe to repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from byoc.domain.inventory import (
    NumberRecord,
    NumberState,
    now_iso,
    on_purchased,
    on_released,
)
from byoc.domain.jobs import NumberEvent
from byoc.domain.policy import Policy
from byoc.ports import Inventory, JobQueue, StateStore
from byoc.services.sync_requests import SyncRequests

log = logging.getLogger("byoc.numbers")

EVENT_NAMESPACE = "event"
OWNER_TARGET = "twilio"
"""The target that owns the numbers: it lets go last, by releasing the number."""
OWNER_FACT_SOURCES = frozenset({"poller", "sweep"})
"""Sources whose `released` events report what Twilio shows, not a request to release."""


@dataclass(frozen=True)
class EventOutcome:
    """What handling one event did."""

    number: str
    duplicate: bool = False
    managed: bool = True
    state: NumberState | None = None
    targets: tuple[str, ...] = ()


class NumberLifecycle:
    """Applies number events to the inventory and queues the target syncs."""

    def __init__(
        self,
        *,
        inventory: Inventory,
        state: StateStore,
        queue: JobQueue,
        policy: Callable[[], Policy],
        number_targets: Callable[[], list[str]],
    ) -> None:
        self._inventory = inventory
        self._state = state
        self._syncs = SyncRequests(queue=queue, state=state)
        self._policy = policy
        self._number_targets = number_targets

    def handle(self, event: NumberEvent) -> EventOutcome:
        """Record the event once (by event id) and queue the syncs it calls for."""
        if not self._state.claim(EVENT_NAMESPACE, event.event_id):
            log.info(
                "duplicate number event ignored",
                extra={"event": "number.duplicate", "number": event.number,
                       "event_id": event.event_id, "correlation_id": event.correlation_id},
            )
            return EventOutcome(number=event.number, duplicate=True)
        try:
            return self._apply(event)
        except Exception:
            self._state.release_claim(EVENT_NAMESPACE, event.event_id)
            raise

    def record_onboarding(self, event: NumberEvent) -> NumberRecord | None:
        """Record that `event.number` must be onboarded, routed as policy says (None: unmanaged)."""
        policy = self._policy()
        if not policy.is_managed(event.number):
            log.info(
                "number is not managed by the policy; ignored",
                extra={"event": "number.unmanaged", "number": event.number,
                       "correlation_id": event.correlation_id},
            )
            return None
        record = on_purchased(
            self._inventory.get(event.number), event.number, sid=event.sid, source=event.source,
            correlation_id=event.correlation_id,
        )
        route = policy.route_for(event.number)
        target_name = f"{route.genesys_kind}:{route.genesys_name}" if route.genesys_name else "none"
        record = replace(record, genesys_target=target_name, sbc_tag=route.sbc_tag)
        self._inventory.put(record)
        return record

    def _apply(self, event: NumberEvent) -> EventOutcome:
        existing = self._inventory.get(event.number)
        if event.action == "released":
            if existing is None or existing.state is NumberState.RELEASED:
                return EventOutcome(number=event.number, managed=existing is not None,
                                    state=existing.state if existing else None)
            if self._released_at_owner(existing, event):
                done = replace(existing, state=NumberState.RELEASED, updated=now_iso())
                self._inventory.put(done)
                log.info("number released everywhere",
                         extra={"event": "number.released_everywhere", "number": event.number,
                                "correlation_id": event.correlation_id})
                return EventOutcome(number=event.number, state=done.state)
            record = on_released(existing, event.number, correlation_id=event.correlation_id)
            self._inventory.put(record)
        elif event.action == "updated" and existing is not None and existing.state in (
            NumberState.RELEASING, NumberState.RELEASED
        ):
            # An update of a number on its way out (its trunk association going, say) is no
            # reason to onboard it again.
            return EventOutcome(number=event.number, state=existing.state)
        else:
            onboarding = self.record_onboarding(event)
            if onboarding is None:
                return EventOutcome(number=event.number, managed=False)
            record = onboarding
        targets = tuple(self._number_targets())
        for target in targets:
            self._syncs.request(target, reason=f"number {event.action}: {event.number}",
                                correlation_id=event.correlation_id)
        log.info(
            "number event recorded",
            extra={"event": f"number.{event.action}", "number": event.number,
                   "state": record.state.value, "correlation_id": event.correlation_id,
                   "targets": list(targets)},
        )
        return EventOutcome(number=event.number, state=record.state, targets=targets)

    def _released_at_owner(self, record: NumberRecord, event: NumberEvent) -> bool:
        """True when Twilio shows the number gone and every other target already let go of it."""
        if event.source not in OWNER_FACT_SOURCES or record.state is not NumberState.RELEASING:
            return False
        others = [t for t in self._number_targets() if t != OWNER_TARGET]
        return all(t in record.converged for t in others)
