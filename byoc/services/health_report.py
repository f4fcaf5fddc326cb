"""What a health run yields: each component's result (ok / degraded / down, a reason a person
can act on, figures), what was skipped, the run as a whole; and how results show times and counts."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

HEALTH_NAMESPACE = "health"
"""State-table namespace of the per-component results (`GET /api/status` reads it)."""
HEALTH_RUN_NAMESPACE = "health-run"
HEALTH_RUN_KEY = "last"
"""Where the summary of the last run is kept: when, how long, what was skipped."""

MAX_LISTED = 10
"""How many alarms, numbers or problems a stored result lists (the figures keep the counts)."""


class HealthStatus(StrEnum):
    """How a component is doing, best first."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {HealthStatus.OK: 0, HealthStatus.DEGRADED: 1, HealthStatus.DOWN: 2}


@dataclass(frozen=True)
class CheckResult:
    """One component's health at `checked_at`."""

    component: str
    status: HealthStatus
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)
    checked_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reason": self.reason,
            "figures": self.figures,
            "checked_at": self.checked_at,
        }


@dataclass(frozen=True)
class SkippedCheck:
    """A check that did not run, and why (not configured, adapter not available)."""

    check: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "reason": self.reason}


@dataclass
class HealthReport:
    """Every result of one run, and the checks that were skipped."""

    results: list[CheckResult]
    skipped: list[SkippedCheck]
    started_at: str
    duration_ms: float
    stored: bool = False

    @property
    def status(self) -> HealthStatus:
        """The worst status of any component (ok when there is none)."""
        return max((r.status for r in self.results), key=lambda s: s.rank, default=HealthStatus.OK)

    @property
    def down(self) -> list[CheckResult]:
        return [r for r in self.results if r.status is HealthStatus.DOWN]

    def counts(self) -> dict[str, int]:
        found = Counter(r.status.value for r in self.results)
        return {s.value: found.get(s.value, 0) for s in HealthStatus}

    def summary(self) -> dict[str, Any]:
        """What is kept about the run itself (namespace `health-run`)."""
        return {
            "at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "status": self.status.value,
            "counts": self.counts(),
            "skipped": [s.to_json() for s in self.skipped],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "components": {r.component: r.to_json() for r in self.results},
        }


def parse_time(text: str) -> dt.datetime | None:
    """An ISO timestamp (naive means UTC), or None when unreadable."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def duration_text(span: dt.timedelta) -> str:
    """`span` as a person reads it: minutes, hours or days."""
    minutes = int(span.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def int_or_none(value: Any) -> int | None:
    """`value` as an int, or None."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
