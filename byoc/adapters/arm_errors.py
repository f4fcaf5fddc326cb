"""What an ARM error answer says: its code, and whether it means "busy, try again".

Read by the NSG adapter and by the ARM retry policy (`arm_retry.py`); no SDK import, so the NSG
adapter stays light to import.
"""

from __future__ import annotations

from typing import Any

BUSY_CODES = frozenset(
    {
        "anotheroperationinprogress",
        "operationpreempted",
        "canceled",
        "retryableerror",
        "toomanyrequests",
        "internalservererror",
    }
)
"""ARM error codes that mean "busy, try again" whatever the status they come with."""
BUSY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def is_busy(status: int | None, code: str | None) -> bool:
    """Whether an ARM answer (or an operation's end) means the resource was busy, not refused."""
    return (code or "").lower() in BUSY_CODES or status in BUSY_STATUSES


def arm_error_code(body: Any) -> str | None:
    """The `error.code` (or top-level `code`) of an ARM error body, if any."""
    if not isinstance(body, dict):
        return None
    inner = body.get("error")
    if isinstance(inner, dict) and isinstance(inner.get("code"), str):
        return str(inner["code"])
    return str(body["code"]) if isinstance(body.get("code"), str) else None
