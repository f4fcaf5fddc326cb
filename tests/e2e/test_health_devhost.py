"""Health end to end: the health timer through devhost, then `GET /api/status`; `byoc health`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from byoc.entrypoints.devhost import DevHost

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class SandboxSbc:
    rest_url: str
    sip_tls: str
    ca_file: str
    password: str
    genesys_url: str


@pytest.fixture(scope="module")
def sandbox_sbc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSbc]:
    """The sandbox's sbc1 (REST API over HTTPS, SIP TLS listener with a 20-day certificate) and
    the sandbox Genesys org (its BYOC trunk is connected, OPTIONS answered by both SBCs)."""
    from sandbox.audiocodes import AudioCodesEmulator
    from sandbox.core import ServedApp, build_app
    from sandbox.genesys import GenesysEmulator
    from sandbox.launcher import issue_seed_certificates, load_seed
    from sandbox.pki import SandboxPki

    seed = load_seed()
    pki = SandboxPki()
    certificates = issue_seed_certificates(pki, seed["certificates"])
    workdir = tmp_path_factory.mktemp("health-e2e")
    ca_file = str(pki.write_ca_bundle(workdir / "ca.pem"))
    entry = next(s for s in seed["audiocodes"]["sbcs"] if s["name"] == "sbc1")
    credentials = seed["audiocodes"]["credentials"]
    emulator = AudioCodesEmulator({**entry, "credentials": credentials}, pki=pki,
                                  certificates=certificates)
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(workdir, "https")).start()
    genesys = ServedApp(build_app(GenesysEmulator(seed["genesys"]))).start()
    try:
        yield SandboxSbc(server.url, emulator.start_tls_listener(), ca_file, credentials["password"],
                         genesys.url)
    finally:
        emulator.stop_tls_listener()
        server.stop()
        genesys.stop()


def point_at(monkeypatch: pytest.MonkeyPatch, sbc: SandboxSbc, **changes: Any) -> None:
    from byoc.bootstrap import reset_services

    sbcs = [{"name": "sbc1", "management_url": sbc.rest_url, "fqdn": "sbc1.byoc.example.net",
             "probe_host": sbc.sip_tls, "sip_ports": {"udp": 0, "tcp": 0, "tls": 5061}, **changes}]
    monkeypatch.setenv("BYOC_SBCS", json.dumps(sbcs))
    monkeypatch.setenv("BYOC_CA_BUNDLE", sbc.ca_file)
    monkeypatch.setenv("BYOC_SBC_PASSWORD", sbc.password)
    monkeypatch.setenv("BYOC_HEALTH_PROBE_TIMEOUT_S", "5")
    monkeypatch.setenv("BYOC_SIP_TIMER_SCALE", "0.1")
    monkeypatch.setenv("BYOC_GENESYS_API_BASE", sbc.genesys_url)
    monkeypatch.setenv("BYOC_GENESYS_CLIENT_ID", "sandbox-client")
    monkeypatch.setenv("BYOC_GENESYS_CLIENT_SECRET", "sandbox-genesys-secret")
    monkeypatch.setenv("BYOC_GENESYS_TRUNK_BASE_NAME", "Twilio-BYOC")
    reset_services()


@pytest.fixture
def host(byoc_env: dict[str, str], sandbox_sbc: SandboxSbc, monkeypatch: pytest.MonkeyPatch,
         tmp_path: Path) -> Iterator[DevHost]:
    import function_app

    point_at(monkeypatch, sandbox_sbc)
    running = DevHost(function_app.app, host_json=ROOT / "host.json", port=0, timers=False,
                      queues=False).start()
    yield running
    running.stop()


def test_the_health_timer_fills_the_status_report(host: DevHost) -> None:
    base = f"http://127.0.0.1:{host.port}"
    before = httpx.get(f"{base}/api/status").json()
    assert before["health"] == {} and before["health_run"] is None

    fired = httpx.post(f"{base}/admin/functions/health_check", json={}, timeout=30)

    assert fired.status_code == 202 and host.invocations["health_check"] == 1
    status = httpx.get(f"{base}/api/status").json()
    health = status["health"]
    assert health["sip:sbc1:tls"]["status"] == "ok", health["sip:sbc1:tls"]
    assert health["sip:sbc1:tls"]["figures"]["rtt_ms"] >= 0
    assert health["sbc:sbc1"]["status"] == "ok", health["sbc:sbc1"]
    assert health["sbc-alarms:sbc1"]["status"] == "degraded"  # the seed's major alarm
    [trunk] = [v for k, v in health.items() if k.startswith("genesys-trunk:")]
    assert trunk["status"] == "ok" and trunk["figures"]["name"] == "Twilio-BYOC", trunk
    assert status["certificates"]["tls-certificate:sbc1"]["days_left"] in (19, 20)
    assert status["health_run"]["status"] == "degraded" and status["health_run"]["skipped"] == []
    assert status["ok"] is True  # degraded needs attention; nothing is down
    assert httpx.get(f"{base}/api/health").json() == {"status": "ok"}  # liveness stays cheap


def test_byoc_health_prints_a_table_and_exits_0_when_nothing_is_down(
    byoc_env: dict[str, str], sandbox_sbc: SandboxSbc, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from byoc.entrypoints.cli import app

    point_at(monkeypatch, sandbox_sbc)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(app, ["health"])

    assert result.exit_code == 0, result.output
    for component in ("sip:sbc1:tls", "tls-certificate:sbc1", "sbc-alarms:sbc1", "genesys-trunk:"):
        assert component in result.output
    assert "overall: degraded" in result.output


def test_byoc_health_exits_1_when_an_sbc_is_down(
    byoc_env: dict[str, str], sandbox_sbc: SandboxSbc, monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from byoc.entrypoints.cli import app

    point_at(monkeypatch, sandbox_sbc, fqdn="sbc9.byoc.example.net")  # not in the certificate
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(app, ["health", "--json"])

    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["status"] == "down"
    assert report["components"]["sip:sbc1:tls"]["figures"]["failure"] == "tls_error"
    status = CliRunner().invoke(app, ["status", "--json"])
    assert status.exit_code == 1  # `byoc status` reads the stored results: something is down
    assert json.loads(status.output)["health"]["tls-certificate:sbc1"]["status"] == "down"
