"""The Twilio Monitor Events poller: numbers bought, changed or released outside byoc.

Twilio sends no webhook when a number is bought or released; its Monitor Events audit log records
`phone-number.created|updated|deleted`. Every minute the poller reads the events since a cursor kept
in the state store and enqueues one `NumberEvent` per relevant event (source `poller`, event id =
the Monitor event SID, so a repeat is never processed twice). Reads overlap the cursor by a few
minutes (events can appear in the log late) and skip what the previous read already saw.

Without a cursor, with one that cannot be read, or with one older than the retention window
(events may have been lost), the poller sweeps instead: it lists the account's and the trunk's
numbers and emits events for managed numbers the inventory does not know, and for inventory
numbers Twilio no longer owns; then it starts a new cursor.

The cursor stays small whatever arrives: it remembers at most `MAX_SEEN` short digests of the
event SIDs inside the overlap. An event beyond that (a burst of hundreds in five minutes) may be
enqueued twice, which the number lifecycle ignores by its event id. Every poll records its outcome
(`poller/twilio`: last success, last error, lag), which `byoc status` and `byoc health` show.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.jobs import NumberEvent, new_correlation_id
from byoc.domain.policy import Policy
from byoc.ports import Inventory, JobQueue, StateStore, TwilioNumber, TwilioNumberAuditEvent, TwilioPort
from byoc.services.twilio_model import TwilioActual, managed_at_twilio, sweep_events

log = logging.getLogger("byoc.twilio_poller")

CURSOR_NAMESPACE = "twilio"
CURSOR_KEY = "monitor-cursor"
OVERLAP = dt.timedelta(minutes=5)
"""Each read starts this long before the cursor; events seen before are skipped by SID."""
RETENTION_MARGIN = dt.timedelta(hours=1)
"""A cursor this close to the end of the retention window counts as expired."""
MAX_SEEN = 1500
"""Event digests the cursor keeps (12 hex characters each: about 24 KB at most)."""
STATUS_NAMESPACE = "poller"
STATUS_KEY = "twilio"

_ACTIONS = {"created": "purchased", "updated": "updated", "deleted": "released"}


@dataclass
class PollOutcome:
    """What one poll did."""

    mode: str
    events_read: int = 0
    enqueued: list[str] = field(default_factory=list)
    skipped: int = 0
    cursor: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "events_read": self.events_read, "enqueued": self.enqueued,
                "skipped": self.skipped, "cursor": self.cursor}


class TwilioEventPoller:
    """Reads Monitor `phone-number.*` events since the stored cursor and enqueues NumberEvents."""

    def __init__(
        self,
        *,
        twilio: TwilioPort,
        inventory: Inventory,
        queue: JobQueue,
        state: StateStore,
        policy: Callable[[], Policy],
        trunk_sid: str,
        retention_days: int,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._twilio = twilio
        self._inventory = inventory
        self._queue = queue
        self._state = state
        self._policy = policy
        self._trunk_sid = trunk_sid
        self._retention = dt.timedelta(days=retention_days)
        self._clock = clock

    def poll(self) -> PollOutcome:
        """One poll: events since the cursor, or a full sweep when the cursor is missing, unreadable
        or old. Its outcome (or failure) is recorded for `byoc status` and `byoc health`."""
        now = self._clock()
        try:
            outcome = self._poll(now)
        except Exception as exc:
            self._record(now, error=f"{type(exc).__name__}: {exc}")
            raise
        self._record(now, outcome=outcome)
        return outcome

    def _poll(self, now: dt.datetime) -> PollOutcome:
        try:
            cursor = self._state.get(CURSOR_NAMESPACE, CURSOR_KEY)
        except ValueError:  # not JSON any more: sweep and start again
            cursor = {"unreadable": True}
        at, seen = _read_cursor(cursor)
        if at is None:
            reason = "no cursor" if cursor is None else "cursor unreadable"
            return self._sweep(now, reason=reason)
        if at < now - self._retention + RETENTION_MARGIN:
            return self._sweep(now, reason="cursor expired")
        return self._read_events(now, at, seen)

    def _record(self, now: dt.datetime, *, outcome: PollOutcome | None = None,
                error: str | None = None) -> None:
        """Keep the last outcome: when the poller last worked, and what stops it if it fails."""
        try:
            previous = self._state.get(STATUS_NAMESPACE, STATUS_KEY)
        except ValueError:
            previous = None
        status: dict[str, Any] = dict(previous) if isinstance(previous, dict) else {}
        status["last_attempt_at"] = now.isoformat()
        if outcome is not None:
            status.update(last_success_at=now.isoformat(), last_error=None, failures=0,
                          mode=outcome.mode, events_read=outcome.events_read,
                          enqueued=len(outcome.enqueued), cursor=outcome.cursor)
        else:
            status.update(last_error=(error or "")[:500],
                          failures=int(status.get("failures") or 0) + 1)
        try:
            self._state.put(STATUS_NAMESPACE, STATUS_KEY, status)
        except Exception as exc:  # the poll's own outcome matters more than its record
            log.warning("poller status not recorded",
                        extra={"event": "poller.status_unrecorded", "error": str(exc)})

    def _read_events(self, now: dt.datetime, at: dt.datetime, seen: set[str]) -> PollOutcome:
        events = self._twilio.list_number_events(at - OVERLAP)
        outcome = PollOutcome(mode="events", events_read=len(events))
        records = {r.number: r for r in self._inventory.all()}
        policy = self._policy()
        correlation_id = new_correlation_id()
        for event in events:
            if _digest(event.sid) in seen:
                continue
            job = self._number_event(event, records, policy, correlation_id)
            if job is None:
                outcome.skipped += 1
                continue
            self._queue.send(job)
            outcome.enqueued.append(job.number)
        # The cursor follows the clock too, so a quiet month does not look like a lost cursor.
        newest = max([at, now - OVERLAP, *(e.event_date for e in events)])
        horizon = newest - OVERLAP
        # The next read starts OVERLAP before `newest`: only events from then on can come again.
        recent = sorted((e for e in events if e.event_date >= horizon),
                        key=lambda e: e.event_date, reverse=True)
        kept = [_digest(e.sid) for e in recent][:MAX_SEEN]
        self._state.put(CURSOR_NAMESPACE, CURSOR_KEY, {"at": newest.isoformat(), "seen": kept})
        outcome.cursor = newest.isoformat()
        if outcome.enqueued:
            log.info("Monitor events enqueued",
                     extra={"event": "poller.events", "numbers": outcome.enqueued,
                            "correlation_id": correlation_id})
        return outcome

    def _number_event(
        self,
        event: TwilioNumberAuditEvent,
        records: dict[str, NumberRecord],
        policy: Policy,
        correlation_id: str,
    ) -> NumberEvent | None:
        """The NumberEvent an audit event calls for; None when it changes nothing byoc cares about."""
        verb = event.event_type.removeprefix("phone-number.")
        action = _ACTIONS.get(verb)
        if action is None:
            return None
        phone, trunk_sid = self._identify(event, records)
        if phone is None:
            log.warning("Monitor event without a phone number; skipped (the sweep catches it)",
                        extra={"event": "poller.unidentified", "event_sid": event.sid})
            return None
        record = records.get(phone)
        wanted = record is not None and record.wanted_on_targets
        if action == "released":
            if record is None or record.state is NumberState.RELEASED:
                return None
        elif action == "purchased":
            if wanted and record is not None and record.sid == event.resource_sid:
                return None  # byoc bought it, or already knows it
            number = TwilioNumber(sid=event.resource_sid or "", phone_number=phone,
                                  trunk_sid=trunk_sid)
            if not managed_at_twilio(policy, number, self._trunk_sid):
                return None
        else:
            if event.changed is not None and "trunk_sid" not in event.changed:
                return None  # a change byoc does not manage (name, voice URL...)
            if record is not None and record.state in (NumberState.RELEASING,
                                                       NumberState.RELEASED):
                return None
            moved_to = event.trunk_sid[1] if event.trunk_sid else None
            if event.trunk_sid is None and wanted and event.resource_sid:
                # the event does not say what changed (its event_data shape): read the number
                found = self._twilio.fetch_number(event.resource_sid)
                moved_to = found.trunk_sid if found is not None else None
                if found is not None and moved_to == self._trunk_sid:
                    return None  # still on byoc's trunk: nothing byoc manages changed
            elif wanted and event.trunk_sid is not None and moved_to == self._trunk_sid:
                return None  # the echo of byoc's own association
            number = TwilioNumber(sid=event.resource_sid or "", phone_number=phone,
                                  trunk_sid=moved_to if event.trunk_sid else trunk_sid)
            if not wanted and not managed_at_twilio(policy, number, self._trunk_sid):
                return None
        sid = event.resource_sid if event.resource_sid and event.resource_sid.startswith("PN") \
            else None
        return NumberEvent(
            action=action,
            number=phone, sid=sid, source="poller", event_id=event.sid,
            correlation_id=correlation_id,
        )

    def _identify(
        self, event: TwilioNumberAuditEvent, records: dict[str, NumberRecord]
    ) -> tuple[str | None, str | None]:
        """(phone number, trunk sid now) of the event's number: from the event, else looked up."""
        trunk_now = event.trunk_sid[1] if event.trunk_sid else None
        if event.phone_number:
            return event.phone_number, trunk_now
        if event.resource_sid:
            for record in records.values():
                if record.sid == event.resource_sid:
                    return record.number, trunk_now
            if not event.event_type.endswith(".deleted"):
                found = self._twilio.fetch_number(event.resource_sid)
                if found is not None:
                    return found.phone_number, found.trunk_sid
        return None, None

    def _sweep(self, now: dt.datetime, *, reason: str) -> PollOutcome:
        """List the account's and the trunk's numbers; events for what the inventory misses."""
        trunk = self._twilio.fetch_trunk()
        actual = TwilioActual(
            trunk=trunk,
            origination_urls=(),
            trunk_numbers={n.phone_number: n for n in self._twilio.list_trunk_numbers()},
            account_numbers={n.phone_number: n for n in self._twilio.list_account_numbers()},
        )
        records = {r.number: r for r in self._inventory.all()}
        events = sweep_events(actual, records, self._policy(), new_correlation_id())
        for job in events:
            self._queue.send(job)
        self._state.put(CURSOR_NAMESPACE, CURSOR_KEY, {"at": now.isoformat(), "seen": []})
        log.info("Monitor cursor missing or expired: swept the account instead",
                 extra={"event": "poller.sweep", "reason": reason,
                        "numbers": [e.number for e in events]})
        return PollOutcome(mode="sweep", enqueued=[e.number for e in events],
                           cursor=now.isoformat())


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode()).hexdigest()[:12]


def _read_cursor(cursor: Any) -> tuple[dt.datetime | None, set[str]]:
    """(where the last read ended, digests of the events seen since OVERLAP before it); (None,
    empty) when the cursor is missing or not in this shape."""
    if not isinstance(cursor, dict):
        return None, set()
    at = _parse_time(cursor.get("at"))
    seen = cursor.get("seen") or []
    if isinstance(seen, dict):  # the earlier shape: {sid: date}
        seen = list(seen)
    if at is None or not isinstance(seen, list) or not all(isinstance(s, str) for s in seen):
        return None, set()
    return at, {s if len(s) == 12 else _digest(s) for s in seen}


def _parse_time(text: Any) -> dt.datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
