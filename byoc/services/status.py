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
        refused = any(t.get("refused") for t in self.targets.values() if isinstance(t, dict))
        poller_failing = bool((self.twilio_poller or {}).get("failures"))
        return (not down and not refused and not self.stuck and not self.poison_depth
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
    syncs = state.items("sync")
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
    """Per target: the last sync, whether it converged, the drift it found, the last success."""
    found = {}
    for target, sync in syncs.items():
        if not isinstance(sync, dict):
            continue
        remembered = ((health.get(f"byoc-sync:{target}") or {}).get("figures") or {})
        found[target] = {
            "last_sync_at": sync.get("at"),
            "converged": sync.get("converged"),
            "drift": sync.get("changes"),
            "refused": sync.get("refused"),
            "last_converged_at": sync.get("at") if sync.get("converged")
            else remembered.get("last_converged_at"),
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


def last_sync(sync: dict[str, Any]) -> str:
    """When a target last synced, and whether only a slice of it (a number event's sync)."""
    size = sync.get("slice_size")
    return str(sync.get("at", "")) + (f" (slice: {size} number(s))" if size else "")
