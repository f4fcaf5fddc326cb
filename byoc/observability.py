"""Structured logs: one JSON object per line with byoc's fields, and secret values redacted."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
REDACTED = "[redacted]"


def register_secret(value: str) -> None:
    """Make sure `value` never appears in a log line (it is replaced by [redacted])."""
    if len(value) >= 6:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """`text` with every registered secret value replaced."""
    with _secrets_lock:
        secrets = list(_secrets)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class JsonFormatter(logging.Formatter):
    """`{"level", "logger", "message", <extra fields>}` per line."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        payload.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str))


class RedactingFilter(logging.Filter):
    """Redacts secrets from records handled by formatters byoc does not own (the Functions host)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = redact(record.getMessage())
            record.args = None
        return True


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Log byoc's records to stderr as JSON lines (CLI and devhost); idempotent."""
    root = logging.getLogger("byoc")
    root.setLevel(level)
    if any(getattr(h, "_byoc", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(message)s"))
    handler.addFilter(RedactingFilter())
    handler._byoc = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False
