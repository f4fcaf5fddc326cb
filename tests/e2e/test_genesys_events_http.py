"""`POST /api/genesys/events` called as the Functions host calls it, against Azurite: the shared
secret header gates everything, a trunk event shows up in `GET /api/status`, and an audit event
queues a Genesys sync."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest

import function_app  # noqa: F401 - registers the blueprints
from byoc.entrypoints.functions import http

pytestmark = pytest.mark.e2e

SECRET = "e2e-genesys-events-secret"
TRUNK_ID = "2f139bd7-816e-5f41-be0d-fdfc1a231540"


@pytest.fixture
def events_env(byoc_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from byoc.bootstrap import reset_services

    monkeypatch.setenv("BYOC_GENESYS_EVENTS_SECRET", SECRET)
    reset_services()
    yield
    reset_services()


def post(body: Any, secret: str | None = SECRET) -> func.HttpResponse:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Byoc-Secret"] = secret
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return http.genesys_events(func.HttpRequest(
        "POST", "http://localhost/api/genesys/events", headers=headers, body=raw))


def queue_depth() -> int:
    from byoc.bootstrap import get_services

    return get_services().queue.depth()


AUDIT = {"topicName": "v2.audits.entitytype.IVR.entityid.abc", "eventBody": {"entityType": "IVR"}}


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_a_wrong_or_missing_secret_is_401_and_queues_nothing(events_env: None,
                                                              secret: str | None) -> None:
    response = post(AUDIT, secret)

    assert response.status_code == 401
    assert queue_depth() == 0


def test_without_a_configured_secret_the_endpoint_says_so(byoc_env: dict[str, str]) -> None:
    response = post(AUDIT)

    assert response.status_code == 503
    assert "BYOC_GENESYS_EVENTS_SECRET_SECRET_NAME" in json.loads(response.get_body())["error"]


def test_a_malformed_body_is_400(events_env: None) -> None:
    response = post(b"{not json")

    assert response.status_code == 400 and "not JSON" in json.loads(response.get_body())["error"]


def test_an_unknown_topic_is_202_and_ignored(events_env: None) -> None:
    response = post({"topicName": "v2.flows.abc", "eventBody": {}})

    assert response.status_code == 202 and json.loads(response.get_body())["ignored"] is True
    assert queue_depth() == 0


def test_an_audit_event_queues_a_genesys_sync(events_env: None) -> None:
    response = post(AUDIT)

    assert response.status_code == 202
    assert json.loads(response.get_body())["sync"] == "genesys"
    assert queue_depth() == 1


def test_a_trunk_that_disconnects_is_down_in_the_status_report(events_env: None) -> None:
    response = post({
        "topicName": f"v2.telephony.providers.edges.trunks.{TRUNK_ID}",
        "eventBody": {"id": TRUNK_ID, "connectedStatus": {"connected": False},
                      "optionsStatus": [{"proxyAddress": "sbc1.byoc.example.net",
                                         "optionState": False}]},
    })
    assert response.status_code == 202

    status = json.loads(http.status(func.HttpRequest(
        "GET", "http://localhost/api/status", body=b"")).get_body())

    assert status["health"][f"genesys-trunk:{TRUNK_ID}"]["status"] == "down"
    assert status["ok"] is False
