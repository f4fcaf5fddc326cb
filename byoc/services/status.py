"""The status report: one place to look (inventory, convergence per target, health, poison)."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from byoc.domain.inventory import NumberState
from byoc.ports import Inventory, QueueMetrics, StateStore


@dataclass
class StatusReport:
    """Everything `GET /api/status` and `byoc status` show."""

    inventory: dict[str, int]
    stuck: list[dict[str, Any]]
    targets: dict[str, Any]
    health: dict[str, Any]
    queue_depth: int | None
    poison_depth: int | None
    convergence: dict[str, Any] = field(default_factory=dict)
    certificates: dict[str, Any] = field(default_factory=dict)
    health_run: dict[str, Any] | None = None
    twilio_poller: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        """False when something needs a person: a target down, refused, failing numbers, or a
        Twilio poller whose last poll failed."""
        down = any(h.get("status") == "down" for h in self.health.values())
        refusals = any(refused(t) for t in self.targets.values() if isinstance(t, dict))
        poller_failing = bool((self.twilio_poller or {}).get("failures"))
        return (not down and not refusals and not self.stuck and not self.poison_depth
                and not poller_failing)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "inventory": self.inventory,
            "stuck": self.stuck,
            "targets": self.targets,
            "health": self.health,
            "queue_depth": self.queue_depth,
            "poison_depth": self.poison_depth,
            "convergence": self.convergence,
            "certificates": self.certificates,
            "health_run": self.health_run,
            "twilio_poller": self.twilio_poller,
        }


_UNSETTLED = (NumberState.ONBOARDING, NumberState.RELEASING, NumberState.FAILED)
log = logging.getLogger("byoc.status")

SYNC_NAMESPACE = "sync"
"""`sync/<target>`: the target's last full sync (what it changed, whether it converged)."""
SLICE_SYNC_NAMESPACE = "sync-last-slice"
"""`sync-last-slice/<target>`: its last slice sync (a number event's): kept apart, so a slice's
status never hides the last full sync's."""
DEFERRED_NAMESPACE = "sync-deferred"
"""`sync-deferred/<target>`: the reconcile timer put off its full sync (a slice backlog was being
worked); cleared by the next full sync."""


def status_namespace(*, slice_sync: bool) -> str:
    """Where a sync's status is stored: a slice sync's apart from a full one's."""
    return SLICE_SYNC_NAMESPACE if slice_sync else SYNC_NAMESPACE


def target_syncs(state: StateStore) -> dict[str, dict[str, Any]]:
    """Per target: its last full sync's status (the record's fields, as stored) and
    `last_slice`, its last slice sync's (None when there was none).

    A `sync/<target>` record written before the two were kept apart may be a slice's (it has a
    `slice_size`): it is read as the last slice, and no full sync is known until the next one."""
    full, slices = state.items(SYNC_NAMESPACE), state.items(SLICE_SYNC_NAMESPACE)
    deferrals = state.items(DEFERRED_NAMESPACE)
    found: dict[str, dict[str, Any]] = {}
    for target in sorted({*full, *slices}):
        row = full.get(target) if isinstance(full.get(target), dict) else None
        last_slice = slices.get(target) if isinstance(slices.get(target), dict) else None
        if row is not None and row.get("slice_size"):
            if last_slice is None or str(row.get("at", "")) > str(last_slice.get("at", "")):
                last_slice = row
            row = None
        found[target] = {**(row or {}), "last_slice": last_slice}
        if isinstance(deferrals.get(target), dict):
            found[target]["deferred"] = deferrals[target]
    return found


def full_sync(sync: dict[str, Any] | None) -> dict[str, Any] | None:
    """The last full sync's status alone, from a `target_syncs` entry (None: none recorded)."""
    if not sync or "at" not in sync:
        return None
    return {k: v for k, v in sync.items() if k not in ("last_slice", "deferred")}


def refused(sync: dict[str, Any]) -> str | None:
    """Why the target's latest sync was refused (a slice's, when later than the full sync)."""
    last_slice = sync.get("last_slice")
    if isinstance(last_slice, dict) and str(last_slice.get("at", "")) > str(sync.get("at", "")):
        return str(last_slice["refused"]) if last_slice.get("refused") else None
    return str(sync["refused"]) if sync.get("refused") else None


def build_status(
    *, inventory: Inventory, state: StateStore, queue: QueueMetrics, stuck_limit: int = 50
) -> StatusReport:
    """Read every source once and assemble the report."""
    records = inventory.all()
    counts = Counter(r.state.value for r in records)
    inventory_counts = {s.value: counts.get(s.value, 0) for s in NumberState}
    stuck = [
        {"number": r.number, "state": r.state.value, "errors": r.errors, "updated": r.updated}
        for r in records
        if r.errors and r.state in _UNSETTLED
    ][:stuck_limit]
    depth = poison = None
    try:
        depth = queue.depth()
        poison = queue.depth(poison=True)
    except Exception as exc:  # the report still answers without queue figures
        log.warning("queue depth unavailable", extra={"event": "status.queue", "error": str(exc)})
    syncs = target_syncs(state)
    health = state.items("health")
    return StatusReport(
        inventory=inventory_counts,
        stuck=stuck,
        targets=syncs,
        health=health,
        queue_depth=depth,
        poison_depth=poison,
        convergence=_convergence(syncs, health),
        certificates=_certificates(health),
        health_run=state.get("health-run", "last"),
        twilio_poller=_poller(state),
    )


def _poller(state: StateStore) -> dict[str, Any] | None:
    """The Twilio poller's last outcome, with its lag (seconds since its last success)."""

    try:
        record = state.get("poller", "twilio")
    except ValueError:
        return {"failures": 1, "last_error": "the poller's status record is unreadable"}
    if not isinstance(record, dict):
        return None
    try:
        success = dt.datetime.fromisoformat(str(record.get("last_success_at")))
        lag: float | None = (dt.datetime.now(dt.UTC) - success).total_seconds()
    except (TypeError, ValueError):
        lag = None
    return {**record, "lag_s": round(lag) if lag is not None else None}


def _convergence(syncs: dict[str, Any], health: dict[str, Any]) -> dict[str, Any]:
    """Per target: the last full sync, whether it converged, the drift it found, the last success;
    and the last slice sync's time and result."""
    found = {}
    for target, sync in syncs.items():
        remembered = ((health.get(f"byoc-sync:{target}") or {}).get("figures") or {})
        last_slice = sync.get("last_slice") or {}
        found[target] = {
            "last_sync_at": sync.get("at"),
            "converged": sync.get("converged"),
            "drift": sync.get("changes"),
            "refused": sync.get("refused"),
            "last_converged_at": sync.get("at") if sync.get("converged")
            else remembered.get("last_converged_at"),
            "last_slice_at": last_slice.get("at"),
            "last_slice_result": sync_result(last_slice) if last_slice else None,
            "full_sync_deferred": deferred(sync) or None,
        }
    return found


def _certificates(health: dict[str, Any]) -> dict[str, Any]:
    """Days left per certificate health component (served on the SIP TLS port, or rotated)."""
    found = {}
    for component, item in health.items():
        if not isinstance(item, dict) or not component.startswith(("tls-certificate:", "certificate:")):
            continue
        figures = item.get("figures") or {}
        days = figures.get("days_left", item.get("days_left"))
        if days is None:
            continue
        found[component] = {
            "sbc": component.split(":", 1)[1],
            "days_left": days,
            "not_after": figures.get("not_after", item.get("not_after")),
            "status": item.get("status"),
        }
    return found


def sync_result(sync: dict[str, Any]) -> str:
    """One word for how a sync ended: failed, refused, converged or diverged."""
    if sync.get("error"):
        return "failed"
    if sync.get("refused"):
        return "refused"
    return "converged" if sync.get("converged") else "diverged"


def last_sync(sync: dict[str, Any]) -> str:
    """When a target's last full sync ran ("none yet" when only slices are recorded)."""
    return str(sync.get("at") or "none yet")


def deferred(sync: dict[str, Any]) -> str:
    """Why the timer put off the target's next full sync (empty: it did not)."""
    deferral = sync.get("deferred")
    return str(deferral.get("text", "")) if isinstance(deferral, dict) else ""


def last_slice(sync: dict[str, Any]) -> str:
    """The target's last slice sync (a number event's): when, how it ended, how many numbers,
    its changes and first problem; empty when there was none."""
    piece = sync.get("last_slice")
    if not isinstance(piece, dict):
        return ""
    size = piece.get("slice_size")
    text = (f"{piece.get('at', '')}: {sync_result(piece)}, {size or '?'} number(s), "
            f"{piece.get('changes', 0)} change(s)")
    problem = piece.get("error") or piece.get("refused") or "; ".join(piece.get("problems") or [])
    return text + (f" ({problem})" if problem else "")
