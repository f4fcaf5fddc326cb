"""Number lifecycle: turn `NumberEvent`s into inventory records and target syncs.

An event is a hint: it records what byoc now wants (onboard or release the number) and queues a slice
sync of every target that carries numbers (only what the number touches; services/sync_requests.py
coalesces a burst). The syncs do the work, and are safe to repeat.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from byoc.domain.inventory import (
    NumberRecord,
    NumberState,
    now_iso,
    on_purchased,
    on_released,
    stale_purchase,
)
from byoc.domain.jobs import NumberEvent
from byoc.domain.policy import Policy
from byoc.domain.targets import TWILIO
from byoc.ports import Inventory, JobQueue, StateStore
from byoc.services.sync_requests import SyncRequests

log = logging.getLogger("byoc.numbers")

EVENT_NAMESPACE = "event"
OWNER_TARGET = TWILIO
"""The target that owns the numbers: it lets go last, by releasing the number."""
OWNER_FACT_SOURCES = frozenset({"poller", "sweep"})
"""Sources whose `released` events report what Twilio shows, not a request to release. (A
`webhook` notice reaches the lifecycle only as Twilio confirmed it, services/notices.py, and only
for a number Twilio no longer has, so nothing is left to release at Twilio either way.)"""


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
        """Record the event once (by event id) and queue the syncs it calls for.

        The id is claimed before the work and marked handled after it. A claim never marked
        handled belongs to a worker that stopped half-way (or is still at it): the event is
        handled again, which is safe, rather than lost.
        """
        if not self._state.claim(EVENT_NAMESPACE, event.event_id):
            if _handled(self._state.get(EVENT_NAMESPACE, event.event_id)):
                log.info(
                    "duplicate number event ignored",
                    extra={"event": "number.duplicate", "number": event.number,
                           "event_id": event.event_id, "correlation_id": event.correlation_id},
                )
                return EventOutcome(number=event.number, duplicate=True)
            log.info(
                "number event claimed before but never finished; handling it again",
                extra={"event": "number.resumed", "number": event.number,
                       "event_id": event.event_id, "correlation_id": event.correlation_id},
            )
        try:
            outcome = self._apply(event)
        except Exception:
            self._state.release_claim(EVENT_NAMESPACE, event.event_id)
            raise
        self._state.put(EVENT_NAMESPACE, event.event_id, {"handled": now_iso()})
        return outcome

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
        return self._inventory.update(event.number, partial(_onboard, event, policy))

    def _apply(self, event: NumberEvent) -> EventOutcome:
        policy = self._policy()
        others = [t for t in self._number_targets() if t != OWNER_TARGET]
        decided: list[_Decision] = []

        def change(existing: NumberRecord | None) -> NumberRecord | None:
            decision = _decide(event, existing, policy, others)
            decided[:] = [decision]  # the last run is the one that was stored
            return decision.record

        stored = self._inventory.update(event.number, change)
        decision = decided[-1]
        if decision.log_event:
            log.info(decision.message, extra={
                "event": decision.log_event, "number": event.number,
                "state": stored.state.value if stored else None,
                "correlation_id": event.correlation_id})
        if not decision.sync:
            return EventOutcome(number=event.number, managed=decision.managed,
                                state=stored.state if stored else None)
        targets = tuple(self._number_targets())
        for target in targets:
            # Only the slice this number touches: the event path must not scale with the estate.
            self._syncs.request(target, reason=f"number {event.action}: {event.number}",
                                correlation_id=event.correlation_id, numbers=[event.number])
        log.info(
            "number event recorded",
            extra={"event": f"number.{event.action}", "number": event.number,
                   "state": stored.state.value if stored else None,
                   "correlation_id": event.correlation_id, "targets": list(targets)},
        )
        return EventOutcome(number=event.number, state=stored.state if stored else None,
                            targets=targets)


@dataclass(frozen=True)
class _Decision:
    """What one event does to the number's record."""

    record: NumberRecord | None
    """The record to store (None: leave the record as it is)."""
    sync: bool = False
    managed: bool = True
    log_event: str = ""
    message: str = ""


def _decide(
    event: NumberEvent, existing: NumberRecord | None, policy: Policy, others: list[str]
) -> _Decision:
    """The record after `event`, from the record as stored now (pure; may run more than once)."""
    if event.action == "released":
        if existing is None:
            if event.source in OWNER_FACT_SOURCES or not policy.is_managed(event.number):
                return _Decision(None, managed=False)
            # A release request overtook the number's purchase report (the queue does not keep
            # order): remember it, so the late report cannot onboard the number again.
            record = on_released(None, event.number, correlation_id=event.correlation_id)
            return _Decision(replace(record, sid=event.sid), sync=True)
        if existing.state is NumberState.RELEASED:
            return _Decision(None)
        if _released_at_owner(existing, event, others):
            return _Decision(
                replace(existing, state=NumberState.RELEASED, updated=now_iso()),
                log_event="number.released_everywhere", message="number released everywhere")
        return _Decision(on_released(existing, event.number, correlation_id=event.correlation_id),
                         sync=True)
    if existing is not None and existing.state in (NumberState.RELEASING, NumberState.RELEASED):
        if event.action == "updated":
            # An update of a number on its way out (its trunk association going, say) is no
            # reason to onboard it again.
            return _Decision(None)
        if stale_purchase(existing, event.sid):
            return _Decision(None, log_event="number.stale_purchase",
                             message="purchase report older than the number's release; ignored")
    if not policy.is_managed(event.number):
        return _Decision(None, managed=False, log_event="number.unmanaged",
                         message="number is not managed by the policy; ignored")
    return _Decision(_onboard(event, policy, existing), sync=True)


def _onboard(event: NumberEvent, policy: Policy, existing: NumberRecord | None) -> NumberRecord:
    record = on_purchased(existing, event.number, sid=event.sid, source=event.source,
                          correlation_id=event.correlation_id)
    route = policy.route_for(event.number)
    target_name = f"{route.genesys_kind}:{route.genesys_name}" if route.genesys_name else "none"
    return replace(record, genesys_target=target_name, sbc_tag=route.sbc_tag)


def _released_at_owner(record: NumberRecord, event: NumberEvent, others: list[str]) -> bool:
    """True when Twilio shows the number gone and every other target already let go of it."""
    if event.source not in OWNER_FACT_SOURCES or record.state is not NumberState.RELEASING:
        return False
    return all(t in record.converged for t in others)


def _handled(claim: object) -> bool:
    return isinstance(claim, dict) and bool(claim.get("handled"))
