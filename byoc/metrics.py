"""byoc's metrics: the OpenTelemetry meter `byoc`, one instrument per figure in docs/observability.md.

Instruments are created at import from the global meter provider's proxy, so they report to
whatever provider is installed later (Azure Monitor at the first invocation, an in-memory reader in
tests) and cost nothing when none is.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from opentelemetry import metrics

log = logging.getLogger("byoc.metrics")

_meter = metrics.get_meter("byoc")

TIME_TO_ROUTABLE = _meter.create_histogram(
    "byoc.number.time_to_routable", unit="s",
    description="From byoc recording a new number to every target carrying it.")
SYNC_DURATION = _meter.create_histogram(
    "byoc.sync.duration", unit="s", description="One sync of one target, lease held.")
SYNC_CHANGES = _meter.create_counter(
    "byoc.sync.changes", unit="{change}", description="Changes applied to a target.")
SYNC_REFUSALS = _meter.create_counter(
    "byoc.sync.refusals", unit="{refusal}",
    description="Plans refused by the mass-deletion guard.")
SYNC_FAILURES = _meter.create_counter(
    "byoc.sync.failures", unit="{failure}", description="Syncs that raised (retried by the queue).")
VENDOR_CALLS = _meter.create_counter(
    "byoc.vendor.calls", unit="{call}", description="Requests sent to a vendor API.")
VENDOR_RATE_LIMITED = _meter.create_counter(
    "byoc.vendor.rate_limited", unit="{response}",
    description="Vendor answers that said slow down (HTTP 429, Twilio 20429, ARM throttling).")
VENDOR_RETRIES = _meter.create_counter(
    "byoc.vendor.retries", unit="{retry}", description="Vendor requests sent again.")
POLLER_RUNS = _meter.create_counter(
    "byoc.poller.runs", unit="{run}", description="Twilio Monitor polls, by outcome.")
POLLER_LAG = _meter.create_gauge(
    "byoc.poller.lag", unit="s", description="Time since the Twilio poller last succeeded.")
QUEUE_DEPTH = _meter.create_gauge(
    "byoc.queue.depth", unit="{message}", description="Messages waiting in byoc-jobs.")
POISON_DEPTH = _meter.create_gauge(
    "byoc.queue.poison_depth", unit="{message}",
    description="Messages in byoc-jobs-poison (each needs a person).")
CERTIFICATE_DAYS_LEFT = _meter.create_gauge(
    "byoc.certificate.days_left", unit="d",
    description="Days until an SBC's TLS certificate expires.")
NSG_EXPOSURE = _meter.create_gauge(
    "byoc.nsg.exposure", unit="{exposure}",
    description="Ways the SBC is reachable from sources wider than the carriers publish.")
HEALTH_STATUS = _meter.create_gauge(
    "byoc.health.status", unit="1",
    description="Worst health of a component: 0 ok, 1 degraded, 2 down.")

_HEALTH_RANK = {"ok": 0, "degraded": 1, "down": 2}


def sync_finished(
    target: str, *, seconds: float, outcome: str, changes: int, kind: str = "full"
) -> None:
    """One sync ended: `outcome` is converged, diverged, refused or failed; `kind` full or
    slice."""
    attributes = {"target": target, "outcome": outcome, "kind": kind}
    SYNC_DURATION.record(seconds, attributes)
    if changes and outcome in ("converged", "diverged"):
        SYNC_CHANGES.add(changes, {"target": target})
    if outcome == "refused":
        SYNC_REFUSALS.add(1, {"target": target, "kind": kind})
    elif outcome == "failed":
        SYNC_FAILURES.add(1, {"target": target, "kind": kind})


def vendor_call(vendor: str) -> None:
    VENDOR_CALLS.add(1, {"vendor": vendor})


def vendor_retry(vendor: str, reason: str, *, rate_limited: bool = False) -> None:
    """A request is sent again; `reason` is rate_limited, busy, no_answer or unauthorized."""
    VENDOR_RETRIES.add(1, {"vendor": vendor, "reason": reason})
    if rate_limited:
        VENDOR_RATE_LIMITED.add(1, {"vendor": vendor})


def rate_limited(vendor: str) -> None:
    """A 429 that is not retried (the budget is spent): counted all the same."""
    VENDOR_RATE_LIMITED.add(1, {"vendor": vendor})


def number_routable(number: str, *, since: str | None, source: str | None,
                    now: dt.datetime | None = None) -> None:
    """A number became active on every target; `since` is when byoc started onboarding it."""
    started = _parse(since)
    if started is None:
        return
    seconds = max(0.0, ((now or dt.datetime.now(dt.UTC)) - started).total_seconds())
    TIME_TO_ROUTABLE.record(seconds, {"source": source or "unknown"})
    log.info("number routable", extra={"event": "number.routable", "number": number,
                                       "seconds": seconds, "source": source})


def poller_ran(ok: bool) -> None:
    POLLER_RUNS.add(1, {"outcome": "ok" if ok else "failed"})


def estate(report: Mapping[str, Any]) -> None:
    """Gauges from a status report (`StatusReport.to_json()`)."""
    if isinstance(report.get("queue_depth"), int):
        QUEUE_DEPTH.set(report["queue_depth"])
    if isinstance(report.get("poison_depth"), int):
        POISON_DEPTH.set(report["poison_depth"])
    for item in (report.get("certificates") or {}).values():
        if isinstance(item, dict) and isinstance(item.get("days_left"), (int, float)):
            CERTIFICATE_DAYS_LEFT.set(item["days_left"], {"sbc": str(item.get("sbc", ""))})
    for component, item in (report.get("health") or {}).items():
        if isinstance(item, dict) and item.get("status") in _HEALTH_RANK:
            HEALTH_STATUS.set(_HEALTH_RANK[item["status"]], {"component": str(component)})
    for sbc, count in nsg_exposures(report).items():
        NSG_EXPOSURE.set(count, {"sbc": sbc})
    lag = (report.get("twilio_poller") or {}).get("lag_s")
    if isinstance(lag, (int, float)) and not isinstance(lag, bool):
        POLLER_LAG.set(max(0.0, float(lag)))


def nsg_exposures(report: Mapping[str, Any]) -> dict[str, int]:
    """Exposures per SBC: the `exposures` figure of each `nsg-exposure:<sbc>` health component."""
    found: dict[str, int] = {}
    for component, item in (report.get("health") or {}).items():
        if not str(component).startswith("nsg-exposure:") or not isinstance(item, Mapping):
            continue
        count = (item.get("figures") or {}).get("exposures")
        if isinstance(count, int) and not isinstance(count, bool):
            found[str(component).split(":", 1)[1]] = count
    return found


def _parse(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)
