"""Telemetry as Application Insights would receive it, read from OpenTelemetry's in-memory exporters:
a number bought and reported by Twilio's webhook is one trace from the webhook through the queue to
every target's sync, each span and log carrying the ids an operator searches by and no secret; the
metrics docs/observability.md lists are emitted under their documented names and units."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from otel import Telemetry, installed, log_export
from reliability.estate import Vendors, converge
from twilio.request_validator import RequestValidator

import function_app  # noqa: F401 - registers the blueprints
from byoc.entrypoints.functions import http, queue, timers

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]
SECRETS = ("sandbox-twilio-auth-token", "sandbox-genesys-secret", "sandbox-sbc-password",
           "sandbox-events-secret", "sandbox-azure-token")
PUBLIC_URL = "http://127.0.0.1:7071/api/twilio/numbers"  # the sandbox settings' webhook URL
NUMBER = "+14155551888"


@pytest.fixture
def telemetry(sandbox_env: dict[str, Any]) -> Iterator[Telemetry]:
    found = installed()
    with log_export(found):
        yield found


def context(invocation_id: str, traceparent: str = "") -> Any:
    """What the Python worker passes as `context` (the host's invocation id and trace)."""
    return SimpleNamespace(invocation_id=invocation_id,
                           trace_context=SimpleNamespace(trace_parent=traceparent))


def run_queue_function(services: Any, *, rounds: int = 60) -> int:
    """Deliver every queued message to the queue function, as the host's trigger does."""
    handled = 0
    for _ in range(rounds):
        messages = services.queue.receive(max_messages=32, visibility_timeout_s=120)
        if not messages:
            return handled
        for message in messages:
            handled += 1
            queue.byoc_jobs(QueueMessage(id=message.id, body=message.body.encode(),
                                         dequeue_count=message.dequeue_count),
                            context=context(f"inv-queue-{handled}"))
            services.queue.delete(message)
    raise AssertionError("the job queue did not drain")


def report_by_webhook(vendors: Vendors, host_trace: str) -> tuple[Any, str, str]:
    """Buy a number in the Twilio console and have Twilio's webhook tell byoc."""
    bought = vendors.call(vendors.ports["twilio"], "POST", "/_sandbox/twilio/purchase",
                          {"phone_number": NUMBER})
    params = {"EventId": "trace-1", "Action": "purchased", "PhoneNumber": NUMBER,
              "PhoneNumberSid": bought["sid"]}
    signature = RequestValidator(SECRETS[0]).compute_signature(PUBLIC_URL, params)
    response = http.twilio_numbers_webhook(func.HttpRequest(
        "POST", "http://10.0.0.1/api/twilio/numbers", body=urlencode(params).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded",
                 "X-Twilio-Signature": signature}), context=context("inv-webhook", host_trace))
    return response, NUMBER, "twilio_numbers_webhook"


def buy_through_the_api(vendors: Vendors, host_trace: str) -> tuple[Any, str, str]:
    """`POST /api/numbers/purchase`: byoc buys one managed number itself."""
    response = http.numbers_purchase(func.HttpRequest(
        "POST", "http://10.0.0.1/api/numbers/purchase", headers={"Content-Type": "application/json"},
        body=json.dumps({"area_code": "415", "count": 1, "contains": "555"}).encode()),
        context=context("inv-webhook", host_trace))
    numbers = json.loads(response.get_body()).get("numbers") or [""]
    return response, numbers[0], "numbers_purchase"


@pytest.mark.parametrize("report", [report_by_webhook, buy_through_the_api],
                         ids=["webhook", "purchase"])
def test_a_bought_number_is_one_trace_from_the_request_to_every_targets_sync(
        sandbox_env: dict[str, Any], telemetry: Telemetry, report: Any) -> None:
    from byoc.bootstrap import get_services

    services = get_services()
    vendors = Vendors(sandbox_env)
    converge(services)  # the seeded estate first: what follows is one number's work
    telemetry.clear()
    host_trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    response, number, function = report(vendors, host_trace)
    handled = run_queue_function(services)
    vendors.close()

    assert response.status_code == 202 and handled >= 2
    correlation_id = json.loads(response.get_body())["correlation_id"]
    assert number.startswith("+1415555")
    assert services.inventory.get(number).state.value == "active"
    spans = telemetry.finished()
    webhook = next(s for s in spans if s.name == function)
    trace_id = webhook.context.trace_id
    assert trace_id == int(host_trace.split("-")[1], 16)  # under the host's request
    in_trace = [s for s in spans if s.context.trace_id == trace_id]
    names = {s.name for s in in_trace}
    targets = services.reconcile.number_targets()
    assert {"job number_event", "job sync_target"} <= names
    assert {f"sync {t}" for t in targets} <= names, names
    assert webhook.attributes["byoc.correlation_id"] == correlation_id
    assert webhook.attributes["byoc.invocation_id"] == "inv-webhook"
    jobs = [s for s in in_trace if s.name.startswith("job ")]
    assert all(s.attributes["byoc.correlation_id"] == correlation_id for s in jobs)
    # Each job is linked to the queue function's own invocation.
    event_job = next(s for s in jobs if s.name == "job number_event")
    assert event_job.attributes["byoc.number"] == number
    for target in targets:
        sync = next(s for s in in_trace if s.name == f"sync {target}")
        assert sync.attributes["byoc.target"] == target
        assert sync.attributes["byoc.outcome"] == "converged"
        assert _ancestors(sync, in_trace)[-1] is webhook

    logs = [entry.log_record for entry in telemetry.logs.get_finished_logs()]
    first = [r for r in logs if r.attributes.get("invocation_id") == "inv-webhook"]
    assert first and all(r.trace_id == trace_id for r in first)
    synced = [r for r in logs if (r.attributes or {}).get("event") == "sync.done"]
    assert {r.attributes["target"] for r in synced} >= set(targets)
    assert all(r.attributes["correlation_id"] == correlation_id for r in synced)
    assert all(str(r.attributes["invocation_id"]).startswith("inv-queue-") for r in synced)

    exported = json.dumps([_span_text(s) for s in spans] + [_log_text(r) for r in logs],
                          default=str)
    assert [s for s in SECRETS if s in exported] == []
    points = telemetry.points()
    source = "webhook" if function == "twilio_numbers_webhook" else "purchase"
    assert points["byoc.number.time_to_routable"] == [({"source": source}, 1)]
    assert {a["target"] for a, _ in points["byoc.sync.duration"]} >= set(targets)
    assert {a["vendor"] for a, _ in points["byoc.vendor.calls"]} >= {
        "twilio", "genesys", "audiocodes"}


def test_the_timers_emit_the_estate_gauges_and_a_poll_that_fails_is_counted(
        sandbox_env: dict[str, Any], telemetry: Telemetry) -> None:
    from byoc.bootstrap import get_services

    services = get_services()
    converge(services)
    timers.twilio_poll(TimerRequest(past_due=False), context=context("inv-poll"))
    telemetry.clear()

    timers.health_check(TimerRequest(past_due=False), context=context("inv-health"))
    Vendors(sandbox_env).fault("twilio", {"route": "/v1/Events", "status": 401})
    with pytest.raises(Exception):  # noqa: B017 - the poll's own error propagates to the host
        timers.twilio_poll(TimerRequest(past_due=False), context=context("inv-poll-2"))
    points = telemetry.points()

    assert points["byoc.queue.depth"] == [({}, 0)]
    assert points["byoc.queue.poison_depth"] == [({}, 0)]
    assert 0 <= points["byoc.poller.lag"][0][1] < 3600
    days = dict((a["sbc"], v) for a, v in points["byoc.certificate.days_left"])
    assert days and all(v > 0 for v in days.values())
    assert any(a["component"].startswith("sip:") for a, _ in points["byoc.health.status"])
    # A converged NSG lets nothing wider than the carriers in.
    assert points["byoc.nsg.exposure"] and all(v == 0 for _, v in points["byoc.nsg.exposure"])
    assert ({"outcome": "failed"}, 1) in points["byoc.poller.runs"]
    health = next(s for s in telemetry.finished() if s.name == "health_check")
    assert health.attributes["byoc.trigger"] == "timer"


def test_every_metric_is_documented_with_its_name_and_unit() -> None:
    from byoc import metrics

    doc = (ROOT / "docs" / "observability.md").read_text()
    rows = dict(re.findall(r"^\| `(byoc\.[a-z_.]+)` \| `([^`]+)` \|", doc, re.MULTILINE))
    instruments = {v._name: v._unit for v in vars(metrics).values()  # the proxies keep both
                   if hasattr(v, "_name") and str(getattr(v, "_name", "")).startswith("byoc.")}
    assert instruments and rows == instruments


def _ancestors(span: Any, spans: list[Any]) -> list[Any]:
    by_id = {s.context.span_id: s for s in spans}
    chain = []
    while span.parent is not None and span.parent.span_id in by_id:
        span = by_id[span.parent.span_id]
        chain.append(span)
    return chain


def _span_text(span: Any) -> dict[str, Any]:
    return {"name": span.name, "attributes": dict(span.attributes or {}),
            "status": span.status.description,
            "events": [(e.name, dict(e.attributes or {})) for e in span.events]}


def _log_text(record: Any) -> dict[str, Any]:
    return {"body": record.body, "attributes": dict(record.attributes or {})}
