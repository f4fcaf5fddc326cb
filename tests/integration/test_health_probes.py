"""Health checks against real far ends on 127.0.0.1: SIPp as the SBC's UDP/TCP interface, and the
sandbox AudioCodes SBC (its SIP TLS listener with a sandbox-CA certificate, and its REST API)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes import FakeInventory, FakeQueue, FakeState

from byoc.adapters.sip_probe import probe
from byoc.services.health import HealthService
from byoc.services.health_report import CheckResult, HealthReport, HealthStatus
from byoc.settings import SbcSettings, Settings, load_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = Path(__file__).parent / "sipp"
SIPP = shutil.which("sipp")
needs_sipp = pytest.mark.skipif(
    SIPP is None, reason="SIPp is not installed (Debian package sip-tester); CI installs it"
)


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(sbc: dict[str, Any], **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_trunk_sid": "TK" + "0" * 32,
        "twilio_auth_token": "test-token",
        "genesys_client_id": "client",
        "genesys_client_secret": "secret",
        "sbc_password": "sandbox-sbc-password",
        "storage_connection_string": "UseDevelopmentStorage=true",
        "policy_path": str(ROOT / "policy.example.yaml"),
        "sbcs": [{"name": "sbc1", "management_url": "https://127.0.0.1:9",
                  "fqdn": "sbc1.byoc.example.net", **sbc}],
        "genesys_signaling_cidrs": {"us-east-1": ["203.0.113.0/28"]},
        "health_probe_timeout_s": 5,
        "sip_timer_scale": 0.1,  # T1 = 50 ms: Timer F (3.2 s) ends a silent probe before the timeout
        "probe_source_cidrs": ["127.0.0.1"],  # the SBC classifies the probe: its silence is down
    }
    values.update(overrides)
    return load_settings(**values)


def run_health(settings: Settings, **extra: Any) -> tuple[HealthReport, dict[str, CheckResult]]:
    state = FakeState()
    service = HealthService(settings=settings, inventory=FakeInventory(), state=state,
                            queue=FakeQueue(), prober=probe, targets=list, **extra)
    report = service.run()
    assert report.stored and state.items("health")
    return report, {r.component: r for r in report.results}


# --- SIPp as the SBC's UDP and TCP interfaces ----------------------------------------------------


def is_listening(port: int, transport: str) -> bool:
    table, state = ("/proc/net/udp", None) if transport == "udp" else ("/proc/net/tcp", "0A")
    for line in Path(table).read_text().splitlines()[1:]:
        fields = line.split()
        address, port_hex = fields[1].split(":")
        if int(port_hex, 16) == port and address == "0100007F" and state in (None, fields[3]):
            return True
    return False


@pytest.fixture
def sipp_uas(tmp_path: Path) -> Iterator[Callable[[str, str], int]]:
    """Start SIPp as a one-transaction UAS on a free port; returns the port; killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(scenario: str, transport: str) -> int:
        assert SIPP is not None
        port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
        log = tmp_path / f"sipp-{scenario}-{transport}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [SIPP, "-sf", str(SCENARIOS / f"{scenario}.xml"), "-i", "127.0.0.1", "-p", str(port),
                 "-t", "u1" if transport == "udp" else "t1", "-m", "1", "-timeout", "60s",
                 "-nostdin"],
                cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            )
        started.append(process)
        give_up = time.monotonic() + 10
        while not is_listening(port, transport):
            if process.poll() is not None or time.monotonic() > give_up:
                pytest.fail(f"SIPp did not start on {transport} {port}:\n{log.read_text()}")
            time.sleep(0.02)
        return port

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=10)


@needs_sipp
@pytest.mark.sipp
def test_an_sbc_answering_on_udp_and_tcp_is_ok_with_its_round_trip_time(
    sipp_uas: Callable[[str, str], int],
) -> None:
    udp, tcp = sipp_uas("options_200", "udp"), sipp_uas("options_200", "tcp")
    settings = make_settings({"probe_host": "127.0.0.1", "sip_ports": {"udp": udp, "tcp": tcp, "tls": 0}})

    report, found = run_health(settings)

    assert report.status is HealthStatus.OK
    for transport, port in (("udp", udp), ("tcp", tcp)):
        result = found[f"sip:sbc1:{transport}"]
        assert result.status is HealthStatus.OK, result
        assert "answered OPTIONS with 200 OK" in result.reason
        assert result.figures["rtt_ms"] >= 0 and result.figures["server"] == "SIPp-probe-peer/1.0"
        assert result.figures["remote_address"] == f"127.0.0.1:{port}"
    assert "tls-certificate:sbc1" not in found  # TLS not offered: no certificate to check


@needs_sipp
@pytest.mark.sipp
def test_an_sbc_answering_503_and_a_silent_one_are_down(sipp_uas: Callable[[str, str], int]) -> None:
    udp, tcp = sipp_uas("options_503", "udp"), sipp_uas("options_silent", "tcp")
    settings = make_settings({"probe_host": "127.0.0.1", "sip_ports": {"udp": udp, "tcp": tcp, "tls": 0}},
                             sip_timer_scale=0.02)  # Timer F = 640 ms

    report, found = run_health(settings)

    assert report.status is HealthStatus.DOWN
    assert found["sip:sbc1:udp"].status is HealthStatus.DOWN
    assert "503 Service Unavailable" in found["sip:sbc1:udp"].reason
    silent = found["sip:sbc1:tcp"]
    assert silent.status is HealthStatus.DOWN and silent.figures["failure"] == "timeout"
    assert "Timer F" in silent.reason and "NSG admits TCP" in silent.reason


@needs_sipp
@pytest.mark.sipp
def test_a_garbled_reply_and_a_closed_port_are_down_with_what_to_check(
    sipp_uas: Callable[[str, str], int],
) -> None:
    udp = sipp_uas("options_garbled", "udp")
    closed = free_port(socket.SOCK_STREAM)
    settings = make_settings({"probe_host": "127.0.0.1", "sip_ports": {"udp": udp, "tcp": closed, "tls": 0}})

    _, found = run_health(settings)

    assert found["sip:sbc1:udp"].figures["failure"] == "malformed_reply"
    assert "did not answer in SIP" in found["sip:sbc1:udp"].reason
    assert found["sip:sbc1:tcp"].figures["failure"] == "refused"
    assert "Nothing accepts TCP" in found["sip:sbc1:tcp"].reason


# --- the sandbox AudioCodes SBC ------------------------------------------------------------------


@dataclass
class SandboxSbc:
    emulator: Any
    rest_url: str
    sip_tls: str
    ca_file: str


@pytest.fixture(scope="module")
def sandbox_sbc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxSbc]:
    """sbc1 from the sandbox seed: serves certificate version 0 (20 days) on its SIP TLS port."""
    from sandbox.audiocodes import AudioCodesEmulator
    from sandbox.core import ServedApp, build_app
    from sandbox.launcher import issue_seed_certificates, load_seed
    from sandbox.pki import SandboxPki

    seed = load_seed()
    pki = SandboxPki()
    certificates = issue_seed_certificates(pki, seed["certificates"])
    workdir = tmp_path_factory.mktemp("health-sbc")
    ca_file = str(pki.write_ca_bundle(workdir / "ca.pem"))
    entry = next(s for s in seed["audiocodes"]["sbcs"] if s["name"] == "sbc1")
    emulator = AudioCodesEmulator({**entry, "credentials": seed["audiocodes"]["credentials"]},
                                  pki=pki, certificates=certificates)
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(workdir, "https")).start()
    try:
        yield SandboxSbc(emulator, server.url, emulator.start_tls_listener(), ca_file)
    finally:
        emulator.stop_tls_listener()
        server.stop()


def tls_only(sbc: SandboxSbc, **changes: Any) -> dict[str, Any]:
    return {"probe_host": sbc.sip_tls, "sip_ports": {"udp": 0, "tcp": 0, "tls": 5061},
            "management_url": sbc.rest_url, **changes}


def test_the_sandbox_sbc_tls_port_answers_and_its_certificate_days_are_counted(
    sandbox_sbc: SandboxSbc,
) -> None:
    settings = make_settings(tls_only(sandbox_sbc), ca_bundle=sandbox_sbc.ca_file)

    _, found = run_health(settings)

    sip = found["sip:sbc1:tls"]
    assert sip.status is HealthStatus.OK, sip
    assert sip.figures["server"].startswith("Mediant VE SBC")
    cert = found["tls-certificate:sbc1"]
    assert cert.figures["days_left"] in (19, 20)  # seed version 0: 20 days from now
    assert cert.figures["warning_level"] == 30
    assert cert.status is HealthStatus.DEGRADED and "30-day warning" in cert.reason
    assert "sbc1.byoc.example.net" in cert.figures["dns_names"]


def test_a_certificate_that_does_not_cover_the_fqdn_is_down(sandbox_sbc: SandboxSbc) -> None:
    settings = make_settings(tls_only(sandbox_sbc, fqdn="sbc9.byoc.example.net"),
                             ca_bundle=sandbox_sbc.ca_file)

    report, found = run_health(settings)

    assert report.status is HealthStatus.DOWN
    assert found["sip:sbc1:tls"].status is HealthStatus.DOWN
    assert found["sip:sbc1:tls"].figures["failure"] == "tls_error"
    assert found["tls-certificate:sbc1"].status is HealthStatus.DOWN
    assert "sbc9.byoc.example.net" in found["tls-certificate:sbc1"].reason


def test_an_untrusted_certificate_is_down(sandbox_sbc: SandboxSbc, tmp_path: Path) -> None:
    from sandbox.pki import SandboxPki

    other_ca = str(SandboxPki().write_ca_bundle(tmp_path / "other-ca.pem"))
    settings = make_settings(tls_only(sandbox_sbc), ca_bundle=other_ca)

    _, found = run_health(settings)

    assert found["tls-certificate:sbc1"].status is HealthStatus.DOWN
    assert "verification" in found["sip:sbc1:tls"].reason


def test_the_sandbox_sbc_rest_status_and_alarms_through_the_audiocodes_adapter(
    sandbox_sbc: SandboxSbc,
) -> None:
    audiocodes = pytest.importorskip("byoc.adapters.audiocodes")
    settings = make_settings(tls_only(sandbox_sbc), ca_bundle=sandbox_sbc.ca_file)

    def monitor(sbc: SbcSettings) -> Any:
        return audiocodes.AudioCodesSbc.from_settings(settings, sbc, lambda: "sandbox-sbc-password")

    _, found = run_health(settings, sbc_monitor=monitor)

    status = found["sbc:sbc1"]
    assert status.status is HealthStatus.OK, status
    assert status.figures["operational_state"] == "UNLOCKED"
    assert status.figures["save_needed"] is False
    alarms = found["sbc-alarms:sbc1"]
    seeded = yaml.safe_load((ROOT / "sandbox" / "seeds" / "audiocodes.yaml").read_text())
    assert alarms.figures["active"] == len(seeded["sbcs"][0]["alarms"]) == 3
    assert alarms.status is HealthStatus.DEGRADED  # the seed's major Ethernet link alarm
    assert "major: Ethernet link alarm" in alarms.reason
