"""Health of byoc itself: each target's last sync (`byoc-sync:<target>`), the job queue
(`byoc-queue`), the Twilio poller (`twilio-poller`) and numbers stuck or failed (`byoc-numbers`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable
from typing import Any

from byoc.domain.inventory import NumberRecord, NumberState
from byoc.services.health_report import (
    MAX_LISTED,
    CheckResult,
    HealthStatus,
    duration_text,
    int_or_none,
    parse_time,
)

SYNC_STALE_AFTER = dt.timedelta(hours=1)
"""A target whose last recorded sync is older than this is degraded (reconcile runs every 15 min)."""
NUMBER_STUCK_AFTER = dt.timedelta(minutes=30)
"""A number onboarding or releasing for longer than this is reported as stuck."""


def evaluate_sync(
    target: str,
    sync: dict[str, Any] | None,
    previous: dict[str, Any] | None,
    now: dt.datetime,
    stale_after: dt.timedelta = SYNC_STALE_AFTER,
    *,
    last_slice: dict[str, Any] | None = None,
) -> CheckResult:
    """The last recorded full sync of `target`, and when it last converged; a slice sync (a
    number event's) refused since then counts as the full sync's refusal would.

    `previous` is this component's earlier health record: it remembers the last successful sync
    while later syncs fail. A sync that raised is recorded with its `error`, not converged.
    """
    component = f"byoc-sync:{target}"
    earlier = (previous or {}).get("figures") or {}
    piece = last_slice if isinstance(last_slice, dict) else {}
    if piece.get("refused") and str(piece.get("at", "")) > str((sync or {}).get("at", "")):
        return CheckResult(
            component, HealthStatus.DOWN,
            f"the last slice sync of {target} ({piece.get('at')}, {piece.get('slice_size')} "
            f"number(s)) was refused by the mass-deletion guard: {piece['refused']}. Review "
            f"`byoc plan -t {target}`; if the removals are intended, "
            f"`byoc apply -t {target} --force`",
            {"last_sync_at": (sync or {}).get("at"), "refused": piece["refused"],
             "last_slice_at": piece.get("at"),
             "last_converged_at": earlier.get("last_converged_at")},
        )
    if not sync:
        return CheckResult(
            component, HealthStatus.DEGRADED,
            f"no sync of {target} is recorded yet: the reconcile timer queues one every 15 minutes; "
            f"`byoc apply -t {target}` converges it now",
            {"last_sync_at": None, "last_converged_at": earlier.get("last_converged_at")},
        )
    at = str(sync.get("at") or "")
    converged = bool(sync.get("converged"))
    last_converged = at if converged else earlier.get("last_converged_at")
    problems = [str(p) for p in sync.get("problems") or []] or (
        [f"the sync failed: {sync['error']}"] if sync.get("error") else [])
    conflicts = [str(c) for c in sync.get("conflicts") or []]
    figures = {
        "last_sync_at": at,
        "last_converged_at": last_converged,
        "converged": converged,
        "drift": int(sync.get("changes") or 0),
        "refused": sync.get("refused"),
        "problems": len(problems),
        "conflicts": len(conflicts),
        "correlation_id": sync.get("correlation_id"),
        "last_slice_at": piece.get("at"),
    }
    if sync.get("refused"):
        return CheckResult(
            component, HealthStatus.DOWN,
            f"the last sync of {target} ({at}) was refused by the mass-deletion guard: "
            f"{sync['refused']}. Review `byoc plan -t {target}`; if the removals are intended, "
            f"`byoc apply -t {target} --force`",
            figures,
        )
    when = parse_time(at)
    if when is None or now - when > stale_after:
        age = f"{duration_text(now - when)} ago" if when is not None else "at an unreadable time"
        return CheckResult(
            component, HealthStatus.DEGRADED,
            f"the last sync of {target} was {age} ({at or 'no time'}): is the reconcile timer "
            "running and the job queue draining? Look for sync errors in the logs, or run "
            f"`byoc apply -t {target}`",
            figures,
        )
    if not converged:
        since = f"; last converged {last_converged}" if last_converged else "; never converged"
        return CheckResult(
            component, HealthStatus.DEGRADED,
            f"{target} did not converge on its last sync ({at}): {'; '.join(problems[:3]) or 'no detail'}"
            f"{since}",
            figures,
        )
    if conflicts:
        return CheckResult(
            component, HealthStatus.DEGRADED,
            f"{target} converged ({at}) but foreign objects are in the way: {'; '.join(conflicts[:3])}",
            figures,
        )
    drift = figures["drift"]
    changed = f"; that sync changed {drift} thing(s)" if drift else "; no drift"
    return CheckResult(component, HealthStatus.OK, f"{target} converged at {at}{changed}", figures)



def evaluate_queue(depth: int | None, poison: int | None, error: str | None = None) -> CheckResult:
    """The job queue's depth and, above all, its poison queue."""
    figures = {"queue_depth": depth, "poison_depth": poison}
    if error is not None:
        return CheckResult("byoc-queue", HealthStatus.DEGRADED,
                           f"cannot read the job queues: {error}", figures)
    if poison:
        return CheckResult(
            "byoc-queue", HealthStatus.DEGRADED,
            f"{poison} job(s) in the poison queue failed too often or were malformed: "
            "`byoc jobs poison list` shows why; `byoc jobs poison replay` retries them",
            figures,
        )
    return CheckResult("byoc-queue", HealthStatus.OK,
                       f"poison queue empty; {depth} job(s) waiting", figures)


POLLER_LATE_AFTER = dt.timedelta(minutes=10)
"""The Twilio poll runs every minute: no success for this long means numbers bought in the console
are not being picked up."""


def evaluate_poller(record: Any, now: dt.datetime) -> CheckResult:
    """The Twilio Monitor poller: its last success, its failures, its lag."""
    component = "twilio-poller"
    if not isinstance(record, dict):
        return CheckResult(component, HealthStatus.OK, "the Twilio poller has not run yet")
    success = parse_time(str(record.get("last_success_at") or ""))
    lag = now - success if success else None
    figures = {"last_success_at": record.get("last_success_at"),
               "lag_s": round(lag.total_seconds()) if lag else None,
               "failures": record.get("failures") or 0, "mode": record.get("mode")}
    failures = int_or_none(record.get("failures")) or 0
    if failures:
        since = f"last success {duration_text(lag)} ago" if lag else "it never succeeded"
        status = HealthStatus.DOWN if lag is None or lag > POLLER_LATE_AFTER \
            else HealthStatus.DEGRADED
        return CheckResult(component, status, f"the Twilio poller failed {failures} time(s) in a "
                           f"row ({since}): {record.get('last_error')}", figures)
    if lag is not None and lag > POLLER_LATE_AFTER:
        return CheckResult(component, HealthStatus.DEGRADED,
                           f"the Twilio poller last ran {duration_text(lag)} ago; is the twilio_poll "
                           "timer running?", figures)
    return CheckResult(component, HealthStatus.OK,
                       f"the Twilio poller ran {record.get('mode')} at {record.get('last_success_at')}",
                       figures)


def evaluate_numbers(
    records: Iterable[NumberRecord], now: dt.datetime, stuck_after: dt.timedelta = NUMBER_STUCK_AFTER
) -> CheckResult:
    """Numbers that failed, or sit in onboarding/releasing for too long or with errors."""
    counts: Counter[str] = Counter()
    failed: list[NumberRecord] = []
    stuck: list[NumberRecord] = []
    for record in records:
        counts[record.state.value] += 1
        if record.state is NumberState.FAILED:
            failed.append(record)
        elif record.state in (NumberState.ONBOARDING, NumberState.RELEASING):
            updated = parse_time(record.updated or "")
            if record.errors or updated is None or now - updated > stuck_after:
                stuck.append(record)
    figures: dict[str, Any] = {
        "by_state": {s.value: counts.get(s.value, 0) for s in NumberState},
        "failed": len(failed),
        "stuck": len(stuck),
        "numbers": [
            {"number": r.number, "state": r.state.value, "updated": r.updated, "errors": r.errors}
            for r in (failed + stuck)[:MAX_LISTED]
        ],
    }
    if not failed and not stuck:
        active = counts.get(NumberState.ACTIVE.value, 0)
        return CheckResult("byoc-numbers", HealthStatus.OK,
                           f"{active} number(s) active; none stuck or failed", figures)
    parts = []
    for record in (failed + stuck)[:3]:
        error = "; ".join(f"{t}: {e}" for t, e in record.errors.items()) or (
            f"{record.state.value} since {record.updated}")
        parts.append(f"{record.number} ({record.state.value}): {error}")
    return CheckResult(
        "byoc-numbers", HealthStatus.DEGRADED,
        f"{len(failed)} failed and {len(stuck)} stuck number(s) (onboarding or releasing for more than "
        f"{duration_text(stuck_after)} or with errors): " + " | ".join(parts)
        + ". Fix the cause, then `byoc apply` (or a new event) retries them",
        figures,
    )
