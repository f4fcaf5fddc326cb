"""Whether the reconcile timer may put off a target's full sync while a slice backlog is worked.

During a bulk port the slice syncs write the ported numbers at the rate limit; a full sync of a
large Genesys estate in the middle lists every pool (546 pages at 100,000 numbers) and lists them
again after its writes, which the port then waits for. The timer defers the full sync while the
target has numbers noted for slices and its last slice sync converged recently, but never longer
than `max_age_s` after the last converged full sync: drift a person made (or a slice missed) is
repaired at the latest then. Without a converged full sync on record nothing is deferred.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

RECENT_SLICE_S = 15 * 60.0
"""A slice sync converged within this long (the timer's interval): the backlog is being worked."""


@dataclass(frozen=True)
class Deferral:
    """A full sync put off: how many numbers wait for slices, and when the last full sync ran."""

    target: str
    pending: int
    last_full_at: str

    @property
    def text(self) -> str:
        return (f"full sync deferred: {self.pending:,} number{'s' if self.pending != 1 else ''} "
                f"pending in slices (last full sync at {self.last_full_at})")

    def to_json(self) -> dict[str, Any]:
        return {"target": self.target, "pending": self.pending,
                "last_full_sync_at": self.last_full_at, "text": self.text}


def defer_full_sync(
    target: str, *, pending: int, last_full: dict[str, Any] | None,
    last_slice: dict[str, Any] | None, now: dt.datetime, max_age_s: float,
) -> Deferral | None:
    """The deferral of `target`'s full sync, or None when it must run now.

    `pending`: numbers noted for slice syncs not yet taken; `last_full` and `last_slice`: the
    status rows of the target's last full and slice sync (`at`, `converged`, `refused`, `error`)."""
    if pending <= 0 or max_age_s <= 0:
        return None
    full_at = _converged_at(last_full)
    slice_at = _converged_at(last_slice)
    if last_full is None or full_at is None or slice_at is None:
        return None
    if (now - full_at).total_seconds() >= max_age_s:
        return None
    if (now - slice_at).total_seconds() >= RECENT_SLICE_S:
        return None
    return Deferral(target=target, pending=pending, last_full_at=str(last_full["at"]))


def _converged_at(row: dict[str, Any] | None) -> dt.datetime | None:
    """When the sync of `row` ended, if it converged (not refused, not failed)."""
    if not isinstance(row, dict) or row.get("converged") is not True:
        return None
    if row.get("refused") or row.get("error"):
        return None
    try:
        at = dt.datetime.fromisoformat(str(row.get("at")))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)
