"""Logs are JSON lines with byoc's fields, and never contain a secret value byoc resolved."""

from __future__ import annotations

import io
import json
import logging

from byoc.observability import JsonFormatter, RedactingFilter, register_secret


def test_a_registered_secret_is_redacted_from_message_and_fields() -> None:
    register_secret("s3cr3t-token-value")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("byoc.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("auth failed with %s", "s3cr3t-token-value",
                   extra={"event": "auth.failed", "detail": "token=s3cr3t-token-value"})
    line = json.loads(stream.getvalue())
    assert "s3cr3t-token-value" not in stream.getvalue()
    assert line["event"] == "auth.failed" and "[redacted]" in line["message"]
