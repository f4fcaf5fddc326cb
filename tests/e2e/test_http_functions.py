"""HTTP functions called as the host calls them, against Azurite."""

from __future__ import annotations

import json

import azure.functions as func
import pytest

import function_app  # noqa: F401 - registers the blueprints
from byoc.entrypoints.functions import http

pytestmark = pytest.mark.e2e


def request(method: str, path: str, params: dict[str, str] | None = None,
            body: bytes = b"") -> func.HttpRequest:
    return func.HttpRequest(method, f"http://localhost/api/{path}", params=params or {},
                            body=body)


def test_health_answers_without_configuration() -> None:
    response = http.health(request("GET", "health"))
    assert response.status_code == 200 and json.loads(response.get_body()) == {"status": "ok"}


TARGETS = ["twilio", "sbc:sbc1", "sbc:sbc2", "genesys", "nsg:sbc1", "nsg:sbc2"]


def test_a_dry_run_resync_returns_every_plan_and_changes_nothing(
    sandbox_env: dict[str, object],
) -> None:
    import httpx

    from byoc.bootstrap import get_services

    response = http.resync(request("POST", "resync", {"dry_run": "true"}))
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body["errors"] == []
    assert [p["target"] for p in body["plans"]] == TARGETS
    nsg_plan = next(p for p in body["plans"] if p["target"] == "nsg:sbc1")
    assert nsg_plan["counts"]["add"] > 0  # the seeded NSG has no carrier rules yet
    assert get_services().queue.depth() == 0
    arm = httpx.get(f"{sandbox_env['arm']}/_sandbox/requests",
                    verify=str(sandbox_env["ca_bundle"])).json()
    assert arm["writes"] == 0


def test_resync_answers_202_and_queues_one_sync_per_target(sandbox_env: dict[str, object]) -> None:
    from byoc.bootstrap import get_services

    response = http.resync(request("POST", "resync"))
    assert response.status_code == 202
    body = json.loads(response.get_body())
    assert len(body["correlation_id"]) == 32 and body["targets"] == TARGETS
    assert get_services().queue.depth() == len(TARGETS)


def test_a_target_that_cannot_be_read_is_reported_beside_the_other_plans(
    byoc_env: dict[str, str],
) -> None:
    response = http.resync(request("POST", "resync", {"dry_run": "true", "target": "sbc:sbc1"}))
    body = json.loads(response.get_body())
    assert response.status_code == 200 and body["plans"] == []
    assert body["errors"][0]["target"] == "sbc:sbc1"


@pytest.mark.parametrize("params,status", [
    ({"target": "everything"}, 400),
    ({"dry_run": "maybe"}, 400),
    ({"target": "sbc:nope", "dry_run": "true"}, 404),
])
def test_resync_refuses_bad_parameters_clearly(byoc_env: dict[str, str], params: dict[str, str],
                                               status: int) -> None:
    response = http.resync(request("POST", "resync", params))
    assert response.status_code == status
    assert json.loads(response.get_body())["error"]


def test_status_reports_inventory_targets_and_queues(byoc_env: dict[str, str]) -> None:
    response = http.status(request("GET", "status"))
    assert response.status_code == 200
    body = json.loads(response.get_body())
    assert body["inventory"]["active"] == 0
    assert body["poison_depth"] == 0 and body["ok"] is True


def test_a_misconfigured_app_says_what_is_wrong(byoc_env: dict[str, str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.bootstrap import reset_services

    monkeypatch.delenv("BYOC_TWILIO_TRUNK_SID")
    reset_services()
    response = http.status(request("GET", "status"))
    assert response.status_code == 503
    assert "BYOC_TWILIO_TRUNK_SID is required" in json.loads(response.get_body())["problems"]


def test_a_purchase_with_a_body_that_is_not_json_is_refused_clearly(byoc_env: dict[str, str]) -> None:
    response = http.numbers_purchase(request("POST", "numbers/purchase", body=b"area_code=415"))
    assert response.status_code == 400
    assert "JSON" in json.loads(response.get_body())["error"]
