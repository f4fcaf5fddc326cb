"""The number inventory: one record per managed number and its lifecycle.

    discovered ─► onboarding ─► active          (every target converged)
         │             │
         └─────────────┴─► releasing ─► released (every target let go, then Twilio released it)
    failed: a target refused the number for good (the error says why); a new event retries it.

Twilio is the source of truth for ownership; the inventory is the desired state of the others.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum


class NumberState(StrEnum):
    """Where a number is in its lifecycle."""

    DISCOVERED = "discovered"
    ONBOARDING = "onboarding"
    ACTIVE = "active"
    RELEASING = "releasing"
    RELEASED = "released"
    FAILED = "failed"


PRESENT_STATES = (NumberState.ONBOARDING, NumberState.ACTIVE, NumberState.FAILED)
"""States whose numbers the targets must carry (a tuple: `in` compares identity first, where a
set would call the enum's Python-level `__hash__`, which shows when planning 100,000 numbers)."""


@dataclass(frozen=True)
class NumberRecord:
    """One managed number."""

    number: str
    state: NumberState
    sid: str | None = None
    genesys_target: str | None = None
    sbc_tag: str | None = None
    converged: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    source: str | None = None
    correlation_id: str | None = None
    updated: str | None = None
    onboarding_since: str | None = None
    """When byoc started onboarding the number (for the time-to-routable figure)."""

    @property
    def wanted_on_targets(self) -> bool:
        """True while the targets must carry this number."""
        return self.state in PRESENT_STATES


def now_iso(now: dt.datetime | None = None) -> str:
    """UTC timestamp text used in records."""
    return (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")


def on_purchased(
    existing: NumberRecord | None,
    number: str,
    *,
    sid: str | None,
    source: str,
    correlation_id: str,
) -> NumberRecord:
    """A number was bought (or found): it must be onboarded on every target.

    A number already on its way in keeps the convergence it has: the same purchase reported again
    (by the webhook, the poller and the sweep) must not send every target back to the start.
    """
    if existing is not None and existing.state in (NumberState.ACTIVE, NumberState.ONBOARDING):
        return replace(existing, sid=sid or existing.sid, updated=now_iso())
    return NumberRecord(
        number=number,
        state=NumberState.ONBOARDING,
        sid=sid or (existing.sid if existing else None),
        converged={},
        errors={},
        source=source,
        correlation_id=correlation_id,
        updated=now_iso(),
        onboarding_since=now_iso(),
    )


def stale_purchase(existing: NumberRecord, sid: str | None) -> bool:
    """Whether a purchase report of a number byoc is releasing, or released, is older than that.

    Twilio gives a number bought again a new SID. So a report for a releasing number (Twilio
    still owns it) is old unless it names a new SID, and one for a released number is old when it
    names the SID that was released.
    """
    if existing.state is NumberState.RELEASING:
        return sid is None or existing.sid is None or sid == existing.sid
    if existing.state is NumberState.RELEASED:
        return sid is not None and sid == existing.sid
    return False


def on_released(existing: NumberRecord | None, number: str, *, correlation_id: str) -> NumberRecord:
    """A number is going away: every target must let go of it."""
    base = existing or NumberRecord(number=number, state=NumberState.RELEASING)
    return replace(
        base,
        state=NumberState.RELEASING,
        converged={},
        errors={},
        correlation_id=correlation_id,
        updated=now_iso(),
    )


def on_target_converged(record: NumberRecord, target: str, targets: list[str]) -> NumberRecord:
    """A target reports the number as it should be; promote the record when all have."""
    converged = {**record.converged, target: now_iso()}
    errors = {k: v for k, v in record.errors.items() if k != target}
    state = record.state
    if state in (NumberState.ONBOARDING, NumberState.FAILED) and all(
        t in converged for t in targets
    ):
        state = NumberState.ACTIVE if not errors else state
    return replace(record, converged=converged, errors=errors, state=state, updated=now_iso())


def on_target_failed(record: NumberRecord, target: str, error: str) -> NumberRecord:
    """A target could not take the number; keep it onboarding with the error visible."""
    return replace(
        record,
        errors={**record.errors, target: error[:500]},
        converged={k: v for k, v in record.converged.items() if k != target},
        updated=now_iso(),
    )
