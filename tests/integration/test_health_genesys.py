"""Genesys trunk health through the Genesys adapter (the real SDK) against the sandbox org."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import FakeInventory, FakeQueue, FakeState

from byoc.ports import ProbeResult, ProbeTarget
from byoc.services.health import HealthService
from byoc.services.health_report import CheckResult, HealthStatus
from byoc.settings import Settings, load_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def genesys_url() -> Iterator[str]:
    from sandbox.core import ServedApp, build_app
    from sandbox.genesys import GenesysEmulator
    from sandbox.launcher import load_seed

    server = ServedApp(build_app(GenesysEmulator(load_seed()["genesys"]))).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def genesys(genesys_url: str) -> Iterator[str]:
    httpx.post(f"{genesys_url}/_sandbox/reset").raise_for_status()
    yield genesys_url


def make_settings(genesys_url: str) -> Settings:
    return load_settings(
        twilio_account_sid="AC" + "0" * 32, twilio_trunk_sid="TK" + "0" * 32,
        twilio_auth_token="test-token", sbc_password="password",
        storage_connection_string="UseDevelopmentStorage=true",
        policy_path=str(ROOT / "policy.example.yaml"),
        sbcs=[{"name": "sbc1", "management_url": "https://127.0.0.1:9", "fqdn": "sbc1.example.net",
               "sip_ports": {"udp": 0, "tcp": 0, "tls": 0}}],
        genesys_signaling_cidrs={"us-east-1": ["203.0.113.0/28"]},
        genesys_api_base=genesys_url, genesys_client_id="sandbox-client",
        genesys_client_secret="sandbox-genesys-secret", genesys_trunk_base_name="Twilio-BYOC",
    )


async def no_probe(target: ProbeTarget, **_: Any) -> ProbeResult:
    raise AssertionError("no SIP port is configured")


def trunk_health(genesys: str) -> dict[str, CheckResult]:
    adapter = pytest.importorskip("byoc.adapters.genesys")
    settings = make_settings(genesys)
    port = adapter.GenesysAdapter.from_settings(settings, lambda: "sandbox-genesys-secret")
    service = HealthService(settings=settings, inventory=FakeInventory(), state=FakeState(),
                            queue=FakeQueue(), prober=no_probe, targets=list,
                            trunk_status=lambda: port)
    report = service.run()
    return {r.component: r for r in report.results if r.component.startswith("genesys-trunk")}


def flip(genesys: str, **state: Any) -> None:
    httpx.post(f"{genesys}/_sandbox/genesys/trunk-status", json=state).raise_for_status()


def test_a_connected_trunk_answering_options_is_ok(genesys: str) -> None:
    [result] = trunk_health(genesys).values()

    assert result.status is HealthStatus.OK, result
    assert result.figures["name"] == "Twilio-BYOC" and result.figures["proxies"] == 2


def test_one_sbc_failing_genesys_options_is_degraded(genesys: str) -> None:
    flip(genesys, options={"sbc2.byoc.example.net": False},
         error={"text": "Request Timeout", "code": "408"})

    [result] = trunk_health(genesys).values()

    assert result.status is HealthStatus.DEGRADED, result
    assert "sbc2.byoc.example.net" in result.reason and "1 of 2" in result.reason


def test_a_disconnected_trunk_is_down(genesys: str) -> None:
    flip(genesys, connected=False, option_state=False)

    [result] = trunk_health(genesys).values()

    assert result.status is HealthStatus.DOWN and "disconnected" in result.reason
