"""No secret value reaches a log: an end-to-end run on the whole sandbox (a signed webhook, every
target converged, a Genesys notification, a certificate rotation, a health run, the status, and
failures with their tracebacks) with every logger of the process captured at DEBUG, the way the
Functions host forwards them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
from estate import Vendors, converge
from twilio.request_validator import RequestValidator

import function_app  # noqa: F401 - registers the blueprints
from byoc.entrypoints.functions import http, timers

pytestmark = pytest.mark.integration

SECRETS = ("sandbox-twilio-auth-token", "sandbox-genesys-secret", "sandbox-sbc-password",
           "sandbox-events-secret", "sandbox-azure-token")
PUBLIC_URL = "http://127.0.0.1:7071/api/twilio/numbers"  # the sandbox settings' webhook URL
EMULATORS = ("sandbox", "uvicorn", "starlette")
"""The emulators run in this process; what they log is not byoc's."""


class Everything(logging.Handler):
    """Every record, rendered with its message, arguments, extra fields and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] in EMULATORS:
            return
        extras = {k: v for k, v in vars(record).items() if k not in ("msg", "args")}
        self.lines.append(self.format(record) + " " + json.dumps(extras, default=str))


@pytest.fixture
def logs() -> Iterator[Everything]:
    handler = Everything()
    loggers = [logging.getLogger(), logging.getLogger("byoc")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield handler
    for logger, level in zip(loggers, levels, strict=True):
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_an_end_to_end_run_logs_no_secret_value(sandbox_env: dict[str, Any], logs: Everything,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.bootstrap import get_services
    from byoc.domain.jobs import new_correlation_id

    services = get_services()
    vendors = Vendors(sandbox_env)
    bought = vendors.call(vendors.ports["twilio"], "POST", "/_sandbox/twilio/purchase",
                          {"phone_number": "+14155551777"})
    params = {"EventId": "secrets-1", "Action": "purchased", "PhoneNumber": "+14155551777",
              "PhoneNumberSid": bought["sid"]}
    signature = RequestValidator(SECRETS[0]).compute_signature(PUBLIC_URL, params)
    for sign in (signature, "forged"):
        http.twilio_numbers_webhook(func.HttpRequest(
            "POST", "http://10.0.0.1/api/twilio/numbers", body=urlencode(params).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "X-Twilio-Signature": sign}))
    for secret in (SECRETS[3], "wrong"):
        http.genesys_events(func.HttpRequest(
            "POST", "http://10.0.0.1/api/genesys/events", headers={"X-Byoc-Secret": secret},
            body=json.dumps({"topicName": "v2.audits.entitytype.IVR.entityid.abc",
                             "eventBody": {"entityType": "IVR"}}).encode()))

    converge(services)
    services.certificates.rotate(sbc=None, force=True, dry_run=False,
                                 correlation_id=new_correlation_id())
    timers.health_check(_timer())
    http.status(func.HttpRequest("GET", "http://10.0.0.1/api/status", body=b""))
    # Failures log tracebacks: a vendor refusing every write, and a sync that crashes.
    vendors.fault("audiocodes", {"route": "/files/", "method": "PUT", "status": 403})
    services.reconcile.plan("all")
    with pytest.raises(Exception):  # noqa: B017 - any failure will do; its log is what counts
        services.numbers.handle(_event("+14155551778"))
        services.reconcile.sync("sbc:sbc1", correlation_id=new_correlation_id())
    vendors.close()

    text = "\n".join(logs.lines)
    assert len(logs.lines) > 100 and "sync.done" in text  # the capture saw the run
    leaked = [s for s in SECRETS if s in text]
    assert leaked == [], [line for line in logs.lines if any(s in line for s in leaked)][:3]
    assert "PRIVATE KEY" not in text


def _timer() -> Any:
    from azure.functions.timer import TimerRequest

    return TimerRequest(past_due=False)


def _event(number: str) -> Any:
    from byoc.domain.jobs import NumberEvent, new_correlation_id

    return NumberEvent(action="purchased", number=number, source="cli", event_id=f"e-{number}",
                       correlation_id=new_correlation_id())
