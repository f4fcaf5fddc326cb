"""Genesys notifications end to end: the sandbox org, as a Process Automation trigger → workflow →
data action would, posts to byoc's `POST /api/genesys/events` (served by devhost) when something
changes in it. byoc's own writes queue nothing, an administrator's change queues one sync, and a
trunk that disconnects shows as down in `GET /api/status`; under both readings of what the trigger
hands the workflow (`genesys.trigger_envelope`)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from devhosts import running_devhost, wait_for

from byoc.entrypoints.devhost import DevHost

pytestmark = pytest.mark.e2e

EVENTS_SECRET = "sandbox-events-secret"  # sandbox/seeds/keyvault.yaml


@pytest.fixture
def host(sandbox_env: dict[str, Any], tmp_path: Path) -> Iterator[DevHost]:
    with running_devhost(tmp_path, maxPollingInterval="00:00:01") as running:
        yield running


class Org:
    def __init__(self, ports: dict[str, Any]) -> None:
        self.url = ports["genesys"]
        self.verify = ssl.create_default_context(cafile=ports["ca_bundle"])

    def post(self, path: str, body: dict[str, Any]) -> Any:
        reply = httpx.post(f"{self.url}{path}", json=body, verify=self.verify)
        reply.raise_for_status()
        return reply.json()

    def deliveries(self) -> list[dict[str, Any]]:
        found = httpx.get(f"{self.url}/_sandbox/genesys/notifications", verify=self.verify).json()
        return list(found["deliveries"]) if found["idle"] else []


def queue_depth() -> int:
    from byoc.bootstrap import get_services

    return get_services().queue.depth()


@pytest.mark.sandbox_variants("genesys.trigger_envelope")
def test_changes_in_genesys_reach_the_events_route_and_only_foreign_ones_queue_a_sync(
    sandbox_env: dict[str, Any], host: DevHost, sandbox_variant: tuple[str, str],
) -> None:
    from byoc.adapters.genesys import GenesysAdapter
    from byoc.bootstrap import get_services

    org = Org(sandbox_env)
    org.post("/_sandbox/genesys/notifications", {
        "url": f"http://127.0.0.1:{host.port}/api/genesys/events", "secret": EVENTS_SECRET})
    services = get_services()
    adapter = GenesysAdapter.from_settings(
        services.settings, lambda: services.secret("genesys_client_secret"))

    adapter.create_did_pool("+16285550100", "+16285550109", name="byoc x",
                            description="managed-by:byoc")  # a write of byoc's own client
    wait_for(lambda: len(org.deliveries()) == 1)
    (own,) = org.deliveries()
    assert own["status"] == 202 and own["reply"]["reason"] == "byoc's own change"
    assert queue_depth() == 0

    org.post("/_sandbox/genesys/admin-change", {"ivr": "Main IVR", "remove": ["+14155550100"]})
    wait_for(lambda: len(org.deliveries()) == 2)
    foreign = org.deliveries()[1]
    assert foreign["status"] == 202 and foreign["reply"]["sync"] == "genesys"
    assert queue_depth() == 1

    org.post("/_sandbox/genesys/trunk-status", {"connected": False, "option_state": False})
    wait_for(lambda: len(org.deliveries()) == 3)
    trunk = org.deliveries()[2]
    assert trunk["status"] == 202 and trunk["reply"]["status"] == "down"
    status = httpx.get(f"http://127.0.0.1:{host.port}/api/status").json()
    assert status["health"][trunk["reply"]["health"]]["status"] == "down"
    assert sandbox_variant[0] == "genesys.trigger_envelope"
