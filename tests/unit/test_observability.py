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


def test_in_the_function_app_the_hosts_handler_gets_the_invocation_ids_and_no_secret() -> None:
    from byoc.telemetry import bind_correlation, invocation_scope

    register_secret("an-app-secret-value")
    stream = io.StringIO()
    host = logging.StreamHandler(stream)  # the Python worker's handler on the root logger
    host.setFormatter(logging.Formatter("%(message)s %(invocation_id)s %(correlation_id)s %(detail)s"))
    root, byoc = logging.getLogger(), logging.getLogger("byoc")
    root.addHandler(host)
    propagate, byoc.propagate = byoc.propagate, True  # as in the app (the CLI turns it off)
    try:
        with invocation_scope("numbers_purchase", trigger="http", invocation_id="inv-1"):
            bind_correlation("corr-1")
            logging.getLogger("byoc.test.host").warning(
                "token an-app-secret-value refused", extra={"detail": "key=an-app-secret-value"})
    finally:
        root.removeHandler(host)
        byoc.propagate = propagate
    line = stream.getvalue()
    assert "an-app-secret-value" not in line
    assert line.strip() == "token [redacted] refused inv-1 corr-1 key=[redacted]"
