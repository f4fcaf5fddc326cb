"""Structured logs: one JSON object per line with byoc's fields, and secret values redacted.

Each function invocation binds its ids once (`bind`, a context variable); `ContextFilter` adds them
to every record, so no log call has to pass them along.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_secrets: set[str] = set()
_secrets_lock = threading.Lock()
REDACTED = "[redacted]"


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def log_level_from(value: str | None) -> str:
    """BYOC_LOG_LEVEL as a logging level name: case-insensitive, INFO when unset; ValueError
    naming the allowed values otherwise."""
    text = (value or "").strip().upper() or "INFO"
    if text not in LOG_LEVELS:
        raise ValueError(f"BYOC_LOG_LEVEL {value!r} is not one of {', '.join(LOG_LEVELS)}")
    return text


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
    """Redacts secrets from the message and the extra fields of records handled by formatters and
    exporters byoc does not own (the Functions host, OpenTelemetry)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            record.msg = redact(record.getMessage())
            record.args = None
            for key, value in list(vars(record).items()):
                if key not in _STANDARD and isinstance(value, str):
                    setattr(record, key, redact(value))
                elif key not in _STANDARD and isinstance(value, (dict, list, tuple)):
                    text = json.dumps(value, default=str)
                    if redact(text) != text:
                        setattr(record, key, redact(text))
            if record.exc_info and not record.exc_text:
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            elif record.exc_text:
                record.exc_text = redact(record.exc_text)
        return True


# --- the invocation context ------------------------------------------------------------------

_context: ContextVar[dict[str, str] | None] = ContextVar("byoc_invocation", default=None)


@contextmanager
def bound(**fields: str | None) -> Iterator[dict[str, str]]:
    """Bind fields (invocation_id, function, correlation_id...) to every record logged inside."""
    current = dict(_context.get() or {})
    current.update({k: v for k, v in fields.items() if v})
    token = _context.set(current)
    try:
        yield current
    finally:
        _context.reset(token)


def bind(**fields: str | None) -> None:
    """Add fields to the context bound by the enclosing `bound` (no-op outside one)."""
    current = _context.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v})


class ContextFilter(logging.Filter):
    """Adds the bound invocation fields to a record that does not carry them already."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class AttributeFilter(logging.Filter):
    """Makes extra fields exportable as OpenTelemetry attributes: nested values become JSON text."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in list(vars(record).items()):
            if key in _STANDARD or isinstance(value, (str, bool, int, float)):
                continue
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                continue
            setattr(record, key, json.dumps(value, default=str))
        return True


def install_filters(handler: logging.Handler, *, attributes: bool = False) -> None:
    """Give a handler byoc owns or not the context and redaction filters (once)."""
    kinds = {type(f) for f in handler.filters}
    wanted: list[logging.Filter] = [ContextFilter(), RedactingFilter()]
    if attributes:
        wanted.append(AttributeFilter())
    for flt in wanted:
        if type(flt) not in kinds:
            handler.addFilter(flt)


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Log byoc's records to stderr as JSON lines (CLI and devhost); idempotent."""
    root = logging.getLogger("byoc")
    root.setLevel(level)
    if any(getattr(h, "_byoc", False) for h in root.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter("%(message)s"))
    install_filters(handler)
    handler._byoc = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.propagate = False
