"""Health evaluation and the health service with fakes: what each outcome means to a person."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeInventory, FakeQueue, FakeState

from byoc.domain.inventory import NumberRecord, NumberState
from byoc.ports import (
    GenesysProxyStatus,
    GenesysTrunkStatus,
    PeerCertificate,
    ProbeResult,
    ProbeTarget,
    SbcAlarm,
    SbcStatus,
)
from byoc.services.health import HealthService
from byoc.services.health_byoc import evaluate_numbers, evaluate_queue, evaluate_sync
from byoc.services.health_genesys import evaluate_trunk
from byoc.services.health_report import HealthStatus
from byoc.services.health_sbc import evaluate_alarms, evaluate_sbc_status
from byoc.services.health_sip import (
    NamedProbe,
    evaluate_certificate,
    evaluate_probe,
    parse_probe_uri,
    sbc_probe_targets,
)
from byoc.services.status import build_status
from byoc.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)
OK, DEGRADED, DOWN = HealthStatus.OK, HealthStatus.DEGRADED, HealthStatus.DOWN


def make_settings(sbc: dict[str, Any] | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_trunk_sid": "TK" + "0" * 32,
        "twilio_auth_token": "test-token",
        "genesys_client_id": "client",
        "genesys_client_secret": "secret",
        "sbc_password": "password",
        "storage_connection_string": "UseDevelopmentStorage=true",
        "policy_path": str(ROOT / "policy.example.yaml"),
        "sbcs": [{"name": "sbc1", "management_url": "https://10.0.1.4",
                  "fqdn": "sbc1.example.net", **(sbc or {})}],
        "genesys_signaling_cidrs": {"us-east-1": ["203.0.113.0/28"]},
    }
    values.update(overrides)
    return load_settings(**values)


def probe_of(transport: str = "udp", port: int = 5060) -> NamedProbe:
    target = ProbeTarget("sbc1.example.net", port, transport, server_name="sbc1.example.net")  # type: ignore[arg-type]
    return NamedProbe(f"sip:sbc1:{transport}", target, "SBC sbc1", "sbc1")


def answered(code: int, reason: str, transport: str = "udp", **extra: Any) -> ProbeResult:
    return ProbeResult(target=probe_of(transport).target, status_code=code, reason=reason,
                       rtt_ms=12.4, remote_address="192.0.2.10:5060", transmissions=1, **extra)


def failed(kind: str, detail: str, transport: str = "udp", **extra: Any) -> ProbeResult:
    return ProbeResult(target=probe_of(transport).target, failure=kind, detail=detail,  # type: ignore[arg-type]
                       **extra)


def certificate(days: float) -> PeerCertificate:
    return PeerCertificate(
        subject="CN=sbc1.example.net", issuer="CN=Example CA", dns_names=("sbc1.example.net",),
        ip_addresses=(), not_before=NOW - dt.timedelta(days=30),
        not_after=NOW + dt.timedelta(days=days), sha256_fingerprint="ab" * 32,
        tls_version="TLSv1.3", cipher="TLS_AES_256_GCM_SHA384",
    )


# --- probe targets -------------------------------------------------------------------------------


def test_an_sbc_is_probed_on_udp_tcp_and_tls_at_its_fqdn() -> None:
    probes = sbc_probe_targets(make_settings().sbcs[0])

    assert [(p.component, p.target.host, p.target.port, p.target.transport) for p in probes] == [
        ("sip:sbc1:udp", "sbc1.example.net", 5060, "udp"),
        ("sip:sbc1:tcp", "sbc1.example.net", 5060, "tcp"),
        ("sip:sbc1:tls", "sbc1.example.net", 5061, "tls"),
    ]
    assert all(p.target.server_name == "sbc1.example.net" for p in probes)


def test_a_probe_host_with_a_port_moves_only_the_tls_probe_and_port_0_is_not_probed() -> None:
    sbc = make_settings({"probe_host": "127.0.0.1:40123", "sip_ports": {"udp": 0}}).sbcs[0]

    probes = sbc_probe_targets(sbc)

    assert [(p.target.host, p.target.port, p.target.transport) for p in probes] == [
        ("127.0.0.1", 5060, "tcp"), ("127.0.0.1", 40123, "tls")]
    assert probes[1].target.server_name == "sbc1.example.net"  # SNI and name check stay the FQDN


def test_an_ipv6_probe_host_is_understood() -> None:
    sbc = make_settings({"probe_host": "[2001:db8::5]:5071", "sip_ports": {"udp": 0, "tcp": 0}}).sbcs[0]

    [probe] = sbc_probe_targets(sbc)

    assert (probe.target.host, probe.target.port) == ("2001:db8::5", 5071)


@pytest.mark.parametrize("uri,expected", [
    ("sip:carrier.example.com", ("udp", "carrier.example.com", 5060)),
    ("sip:carrier.example.com:5080;transport=tcp", ("tcp", "carrier.example.com", 5080)),
    ("sips:byoc.example.pure.cloud", ("tls", "byoc.example.pure.cloud", 5061)),
    ("SIP:ping@192.0.2.7:5062;transport=TLS", ("tls", "192.0.2.7", 5062)),
])
def test_extra_probe_targets_are_sip_uris(uri: str, expected: tuple[str, str, int]) -> None:
    probe = parse_probe_uri(uri)

    assert (probe.target.transport, probe.target.host, probe.target.port) == expected
    assert probe.component == f"sip-target:{expected[0]}:{expected[1]}:{expected[2]}"


@pytest.mark.parametrize("uri", ["http://x.example.com", "sip:x.example.com;transport=sctp",
                                 "sips:x.example.com;transport=udp", "sip:"])
def test_a_bad_extra_probe_uri_is_refused_with_its_text(uri: str) -> None:
    with pytest.raises(ValueError, match=r"transport|SIP URI|not"):
        parse_probe_uri(uri)


def test_settings_refuse_an_extra_probe_that_is_not_a_sip_uri() -> None:
    from byoc.settings import ConfigurationError

    with pytest.raises(ConfigurationError, match="BYOC_HEALTH_PROBE_URIS"):
        make_settings(health_probe_uris="sip:a.example.com, https://b.example.com")
    assert make_settings(health_probe_uris="sip:a.example.com, sips:b.example.com").health_probe_uris == [
        "sip:a.example.com", "sips:b.example.com"]


# --- SIP outcomes --------------------------------------------------------------------------------


def test_a_200_is_ok_and_says_how_fast() -> None:
    result = evaluate_probe(probe_of(), answered(200, "OK", server="Mediant VE SBC/v.7.40A"))

    assert result.status is OK
    assert "answered OPTIONS with 200 OK in 12 ms" in result.reason
    assert result.figures["rtt_ms"] == 12.4 and result.figures["server"] == "Mediant VE SBC/v.7.40A"


def test_a_503_means_the_sbc_is_down_for_calls() -> None:
    result = evaluate_probe(probe_of(), answered(503, "Service Unavailable"))

    assert result.status is DOWN
    assert "503 Service Unavailable" in result.reason and "refuses service" in result.reason


def test_a_403_means_reachable_but_rejecting_this_prober() -> None:
    result = evaluate_probe(probe_of("tcp"), answered(403, "Forbidden", "tcp"))

    assert result.status is DEGRADED
    assert "reachable" in result.reason and "classification" in result.reason


@pytest.mark.parametrize("kind,hint", [
    ("timeout", "NSG admits UDP 5060"),
    ("refused", "Nothing accepts UDP 5060"),
    ("tls_error", "certificate"),
    ("malformed_reply", "did not answer in SIP"),
    ("dns_error", "DNS record"),
])
def test_each_probe_failure_is_down_with_what_to_check(kind: str, hint: str) -> None:
    result = evaluate_probe(probe_of(), failed(kind, "the detail the probe gave"))

    assert result.status is DOWN
    assert hint in result.reason and "the detail the probe gave" in result.reason
    assert result.figures["failure"] == kind


# --- certificates --------------------------------------------------------------------------------


@pytest.mark.parametrize("days,status,words", [
    (90, OK, "90 days left"),
    (25, DEGRADED, "expires in 25 days"),
    (10, DEGRADED, "expires in 10 days"),
    (5, DEGRADED, "urgent"),
])
def test_certificate_days_left_are_degraded_from_30_days(days: int, status: HealthStatus, words: str) -> None:
    result = evaluate_certificate("sbc1", answered(200, "OK", "tls", certificate=certificate(days + 0.5)),
                                  NOW)

    assert result.component == "tls-certificate:sbc1"
    assert result.status is status and words in result.reason
    assert result.figures["days_left"] == days


def test_a_certificate_that_fails_verification_is_down() -> None:
    probe_result = failed("tls_error", "certificate verify failed: certificate has expired", "tls")

    result = evaluate_certificate("sbc1", probe_result, NOW)

    assert result.status is DOWN and "certificate has expired" in result.reason


def test_an_unreachable_tls_port_leaves_the_certificate_unchecked() -> None:
    result = evaluate_certificate("sbc1", failed("refused", "connection refused", "tls"), NOW)

    assert result.status is DEGRADED and "not checked" in result.reason and "sip:sbc1:tls" in result.reason


# --- SBC REST status and alarms ------------------------------------------------------------------


def sbc_status(**changes: Any) -> SbcStatus:
    values: dict[str, Any] = {"operational_state": "UNLOCKED", "high_availability": "Not Operational",
                              "version": "7.40A.500.775", "save_needed": False, "reset_needed": False,
                              "raw": {"systemUpTime": 3600}}
    values.update(changes)
    return SbcStatus(**values)


def test_an_unlocked_saved_sbc_is_ok() -> None:
    result = evaluate_sbc_status("sbc1", sbc_status())

    assert result.status is OK and result.figures["uptime_s"] == 3600


def test_a_locked_sbc_is_down() -> None:
    result = evaluate_sbc_status("sbc1", sbc_status(operational_state="LOCKED"))

    assert result.status is DOWN and "accepts no new calls" in result.reason


def test_unsaved_changes_and_a_pending_reset_are_degraded_with_what_to_do() -> None:
    result = evaluate_sbc_status("sbc1", sbc_status(save_needed=True, reset_needed=True))

    assert result.status is DEGRADED
    assert "save the configuration" in result.reason and "device reset" in result.reason


def test_alarm_severity_decides_the_status() -> None:
    major = SbcAlarm("0", "Ethernet link alarm. LAN port number 2 is down.", "major",
                     "Board#1/EthernetLink#2")
    minor = SbcAlarm("2", "NTP server 0.0.0.0 is not available", "minor")
    critical = SbcAlarm("3", "No license", "critical")

    assert evaluate_alarms("sbc1", []).status is OK
    assert evaluate_alarms("sbc1", [minor]).status is OK
    assert evaluate_alarms("sbc1", [minor, major]).status is DEGRADED
    assert evaluate_alarms("sbc1", [minor, major, critical]).status is DOWN
    assert evaluate_alarms("sbc1", [SbcAlarm("9", "something")]).status is DEGRADED  # severity unknown


def test_alarms_are_listed_most_severe_first() -> None:
    alarms = [SbcAlarm(str(i), f"minor thing {i}", "minor") for i in range(4)]
    alarms.append(SbcAlarm("7", "Proxy Set Alarm Proxy Set 1 (PS_Genesys): Proxy lost", "major"))

    result = evaluate_alarms("sbc1", alarms)

    assert result.reason.startswith("SBC sbc1 has 5 active alarm(s): major: Proxy Set Alarm")
    assert "(and 2 more)" in result.reason
    assert result.figures["by_severity"] == {"minor": 4, "major": 1}


# --- Genesys trunks ------------------------------------------------------------------------------


def trunk(connected: bool = True, proxies: tuple[bool, ...] = (True, True),
          **changes: Any) -> GenesysTrunkStatus:
    options = tuple(GenesysProxyStatus(f"sbc{i + 1}.example.net", ok,
                                       error=None if ok else "Request Timeout")
                    for i, ok in enumerate(proxies))
    values: dict[str, Any] = {"id": "t-1", "name": "Twilio-BYOC", "trunk_base": "Twilio-BYOC",
                              "in_service": True, "enabled": True, "connected": connected,
                              "connected_since": "2025-06-01T11:00:00Z", "options": options}
    values.update(changes)
    return GenesysTrunkStatus(**values)


def test_a_connected_trunk_with_every_proxy_answering_is_ok() -> None:
    result = evaluate_trunk(trunk())

    assert result.component == "genesys-trunk:t-1" and result.status is OK


def test_one_sbc_failing_genesys_options_is_degraded_and_named() -> None:
    result = evaluate_trunk(trunk(proxies=(True, False)))

    assert result.status is DEGRADED
    assert "1 of 2" in result.reason and "sbc2.example.net: Request Timeout" in result.reason


def test_a_disconnected_or_disabled_trunk_is_down() -> None:
    assert evaluate_trunk(trunk(connected=False, proxies=(False, False))).status is DOWN
    assert evaluate_trunk(trunk(proxies=(False, False))).status is DOWN
    disabled = evaluate_trunk(trunk(in_service=False))
    assert disabled.status is DOWN and "out of service" in disabled.reason


# --- byoc itself ---------------------------------------------------------------------------------


def sync(at: dt.datetime = NOW - dt.timedelta(minutes=5), **changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"at": at.isoformat(timespec="seconds"), "converged": True, "refused": None,
                              "changes": 0, "problems": [], "conflicts": [], "correlation_id": "c1"}
    record.update(changes)
    return record


def test_a_recent_converged_sync_is_ok_and_reports_its_drift() -> None:
    result = evaluate_sync("nsg:sbc1", sync(changes=2), None, NOW)

    assert result.status is OK and result.figures["drift"] == 2
    assert result.figures["last_converged_at"] == result.figures["last_sync_at"]
    assert "changed 2 thing(s)" in result.reason


def test_a_failed_sync_remembers_the_last_success() -> None:
    earlier = evaluate_sync("sbc:sbc1", sync(at=NOW - dt.timedelta(minutes=40)), None, NOW).to_json()

    result = evaluate_sync("sbc:sbc1", sync(converged=False, problems=["rule byoc-0100 missing"]),
                           earlier, NOW)

    assert result.status is DEGRADED and "rule byoc-0100 missing" in result.reason
    assert result.figures["last_converged_at"] == earlier["figures"]["last_sync_at"]


def test_a_refused_sync_is_down_and_says_how_to_proceed() -> None:
    result = evaluate_sync("genesys", sync(converged=False, refused="would remove 40 of 100 numbers"),
                           None, NOW)

    assert result.status is DOWN
    assert "would remove 40 of 100" in result.reason and "--force" in result.reason


def test_a_slice_sync_refused_after_the_last_full_sync_is_down_and_converged_slices_are_not() -> None:
    full = sync(at=NOW - dt.timedelta(minutes=10))
    refused = sync(at=NOW - dt.timedelta(minutes=2), refused="would remove 2 of 4 numbers",
                   slice=["+14155550100", "+14155550101"], slice_size=2)

    down = evaluate_sync("twilio", full, None, NOW, last_slice=refused)
    fine = evaluate_sync("twilio", full, None, NOW, last_slice={**refused, "refused": None})
    older = evaluate_sync("twilio", sync(), None, NOW, last_slice={
        **refused, "at": (NOW - dt.timedelta(minutes=30)).isoformat(timespec="seconds")})

    assert down.status is DOWN and "slice sync of twilio" in down.reason
    assert "2 number(s)" in down.reason and "would remove 2 of 4" in down.reason
    assert fine.status is OK and fine.figures["last_slice_at"] == refused["at"]
    assert older.status is OK  # a full sync since then converged


def test_no_sync_or_an_old_one_is_degraded() -> None:
    assert evaluate_sync("twilio", None, None, NOW).status is DEGRADED
    stale = evaluate_sync("twilio", sync(at=NOW - dt.timedelta(hours=3)), None, NOW)
    assert stale.status is DEGRADED and "3 h ago" in stale.reason


def test_poison_messages_are_degraded_with_the_commands_to_look() -> None:
    assert evaluate_queue(0, 0).status is OK
    result = evaluate_queue(3, 2)
    assert result.status is DEGRADED and "byoc jobs poison list" in result.reason


def test_numbers_stuck_in_onboarding_or_failed_are_reported() -> None:
    fresh = NumberRecord("+14155550100", NumberState.ONBOARDING,
                         updated=(NOW - dt.timedelta(minutes=2)).isoformat())
    old = NumberRecord("+14155550101", NumberState.ONBOARDING,
                       updated=(NOW - dt.timedelta(hours=2)).isoformat())
    broken = NumberRecord("+14155550102", NumberState.FAILED, errors={"genesys": "number in use"},
                          updated=NOW.isoformat())
    active = NumberRecord("+14155550103", NumberState.ACTIVE, updated=NOW.isoformat())

    assert evaluate_numbers([fresh, active], NOW).status is OK
    result = evaluate_numbers([fresh, old, broken, active], NOW)
    assert result.status is DEGRADED
    assert result.figures["failed"] == 1 and result.figures["stuck"] == 1
    assert "+14155550102 (failed): genesys: number in use" in result.reason
    assert "+14155550101" in result.reason and "+14155550100" not in result.reason


# --- the service ---------------------------------------------------------------------------------


class FakeProber:
    """Answers per transport; records what it was asked."""

    def __init__(self, outcomes: dict[str, ProbeResult | None]) -> None:
        self.outcomes = outcomes
        self.asked: list[tuple[ProbeTarget, float, float, str | None]] = []

    async def __call__(self, target: ProbeTarget, *, timeout_s: float, timer_scale: float = 1.0,
                       ca_bundle: str | None = None) -> ProbeResult:
        self.asked.append((target, timeout_s, timer_scale, ca_bundle))
        outcome = self.outcomes.get(target.transport)
        if outcome is None:
            cert = certificate(90.5) if target.transport == "tls" else None
            return ProbeResult(target=target, status_code=200, reason="OK", rtt_ms=3.0, certificate=cert)
        return ProbeResult(**{**outcome.__dict__, "target": target})


class FakeMonitor:
    def __init__(self, status: SbcStatus | Exception, alarms: list[SbcAlarm],
                 hang: threading.Event | None = None) -> None:
        self._status, self._alarms, self._hang = status, alarms, hang
        self.closed = False

    def status(self) -> SbcStatus:
        if self._hang is not None:
            self._hang.wait(10)
        if isinstance(self._status, Exception):
            raise self._status
        return self._status

    def active_alarms(self, *, details: bool = False) -> list[SbcAlarm]:
        return self._alarms

    def close(self) -> None:
        self.closed = True


class FakeTrunks:
    def __init__(self, trunks: list[GenesysTrunkStatus]) -> None:
        self.trunks = trunks
        self.asked: list[str | None] = []

    def read_trunk_status(self, trunk_base_name: str | None = None) -> list[GenesysTrunkStatus]:
        self.asked.append(trunk_base_name)
        return self.trunks


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def make_service(settings: Settings, prober: FakeProber, *, state: FakeState | None = None,
                 monitor: FakeMonitor | None = None, trunks: FakeTrunks | None = None,
                 records: list[NumberRecord] | None = None, targets: list[str] | None = None,
                 queue: FakeQueue | None = None) -> HealthService:
    return HealthService(
        settings=settings, inventory=FakeInventory(records or []), state=state or FakeState(),
        queue=queue or FakeQueue(), prober=prober, targets=lambda: targets or [],
        sbc_monitor=(lambda sbc: monitor) if monitor is not None else None,
        trunk_status=(lambda: trunks) if trunks is not None else None,
        read_timeout_s=0.5, clock=lambda: NOW,
    )


def test_a_run_stores_every_component_and_a_summary() -> None:
    settings = make_settings(health_probe_timeout_s=3, sip_timer_scale=0.1, ca_bundle="/tmp/ca.pem",
                             genesys_trunk_base_name="Twilio-BYOC")
    prober = FakeProber({"tls": answered(200, "OK", "tls", certificate=certificate(90.5))})
    state = FakeState()
    state.put("sync", "nsg:sbc1", sync())
    monitor = FakeMonitor(sbc_status(), [])
    trunks = FakeTrunks([trunk()])
    service = make_service(settings, prober, state=state, monitor=monitor, trunks=trunks,
                           targets=["nsg:sbc1"])

    report = service.run()

    stored = state.items("health")
    assert sorted(stored) == [
        "byoc-numbers", "byoc-queue", "byoc-sync:nsg:sbc1", "genesys-signaling:sbc1",
        "genesys-trunk:t-1", "sbc-alarms:sbc1", "sbc:sbc1", "sip:sbc1:tcp", "sip:sbc1:tls",
        "sip:sbc1:udp", "tls-certificate:sbc1", "twilio-poller"]
    assert all(item["status"] == "ok" for item in stored.values()), stored
    assert stored["tls-certificate:sbc1"]["figures"]["days_left"] == 90
    assert stored["sip:sbc1:udp"]["checked_at"] == NOW.isoformat(timespec="seconds")
    assert report.status is OK and report.stored and report.skipped == []
    assert state.get("health-run", "last")["counts"] == {"ok": 12, "degraded": 0, "down": 0}
    assert {(t.transport, timeout, scale, ca) for t, timeout, scale, ca in prober.asked} == {
        ("udp", 3, 0.1, "/tmp/ca.pem"), ("tcp", 3, 0.1, "/tmp/ca.pem"), ("tls", 3, 0.1, "/tmp/ca.pem")}
    assert monitor.closed and trunks.asked == ["Twilio-BYOC"]


def test_checks_without_an_adapter_are_skipped_not_failed() -> None:
    service = make_service(make_settings(), FakeProber({}))

    report = service.run()

    assert {s.check for s in report.skipped} == {"sbc", "genesys-trunk"}
    assert not any(r.component.startswith(("sbc:", "genesys-trunk")) for r in report.results)
    assert report.status is OK


def test_a_silent_sbc_is_down_and_its_certificate_unchecked() -> None:
    timeout = failed("timeout", "no final response within 8 s")
    service = make_service(make_settings(probe_source_cidrs="10.40.0.64/26"),
                           FakeProber({"udp": timeout, "tcp": timeout, "tls": timeout}))

    report = service.run()

    assert report.status is DOWN
    assert {r.component for r in report.down} == {"sip:sbc1:udp", "sip:sbc1:tcp", "sip:sbc1:tls"}
    cert = next(r for r in report.results if r.component == "tls-certificate:sbc1")
    assert cert.status is DEGRADED


def test_a_silent_sbc_without_the_probe_source_setting_is_not_called_down() -> None:
    timeout = failed("timeout", "no final response within 8 s")
    service = make_service(make_settings(), FakeProber({"udp": timeout, "tcp": timeout, "tls": timeout}))

    report = service.run()

    assert not report.down
    sip = [r for r in report.results if r.component.startswith("sip:sbc1:")]
    assert len(sip) == 3 and all(r.status is DEGRADED for r in sip)
    assert all("BYOC_PROBE_SOURCE_CIDRS is not set" in r.reason for r in sip)
    assert sip[0].figures["probe_source"] == "unset"
    refused = failed("refused", "connection refused")
    service = make_service(make_settings(), FakeProber({"udp": refused, "tcp": refused,
                                                        "tls": refused}))
    assert {r.component for r in service.run().down} >= {"sip:sbc1:udp"}  # a closed port is down


def test_an_sbc_rest_api_that_hangs_costs_bounded_time_and_is_reported(
    release: threading.Event,
) -> None:
    service = make_service(make_settings(), FakeProber({}),
                           monitor=FakeMonitor(sbc_status(), [], hang=release))

    report = service.run()

    by_component = {r.component: r for r in report.results}
    assert by_component["sbc:sbc1"].status is DEGRADED
    assert "no answer from the REST API of SBC sbc1 within 0.5 s" in by_component["sbc:sbc1"].reason
    assert by_component["sip:sbc1:udp"].status is OK  # the probes did not wait for it


def test_an_sbc_rest_error_does_not_hide_its_alarms() -> None:
    monitor = FakeMonitor(RuntimeError("401 Unauthorized"), [SbcAlarm("1", "Proxy lost", "major")])
    service = make_service(make_settings(), FakeProber({}), monitor=monitor)

    report = service.run()

    by_component = {r.component: r for r in report.results}
    assert "401 Unauthorized" in by_component["sbc:sbc1"].reason
    assert by_component["sbc-alarms:sbc1"].status is DEGRADED
    assert "Proxy lost" in by_component["sbc-alarms:sbc1"].reason


def test_an_extra_probe_target_is_checked_too() -> None:
    settings = make_settings(health_probe_uris="sips:byoc.example.pure.cloud",
                             sbcs=[{"name": "sbc1", "management_url": "https://10.0.1.4",
                                    "fqdn": "sbc1.example.net",
                                    "sip_ports": {"udp": 0, "tcp": 0, "tls": 0}}])
    prober = FakeProber({})

    report = make_service(settings, prober).run()

    assert [t.host for t, *_ in prober.asked] == ["byoc.example.pure.cloud"]
    assert "sip-target:tls:byoc.example.pure.cloud:5061" in {r.component for r in report.results}
    assert any(s.check == "sip:sbc1" for s in report.skipped)


def test_the_status_report_carries_convergence_certificates_and_the_last_run() -> None:
    state = FakeState()
    state.put("sync", "sbc:sbc1", sync(converged=False, problems=["x"], changes=3))
    state.put("health", "byoc-sync:sbc:sbc1",
              {"status": "ok", "reason": "", "figures": {"last_converged_at": "2025-06-01T10:00:00+00:00"}})
    prober = FakeProber({"tls": answered(200, "OK", "tls", certificate=certificate(20.5))})
    make_service(make_settings(), prober, state=state, targets=["sbc:sbc1"]).run()

    report = build_status(inventory=FakeInventory(), state=state, queue=FakeQueue()).to_json()

    assert report["convergence"]["sbc:sbc1"] == {
        "last_sync_at": sync()["at"], "converged": False, "drift": 3, "refused": None,
        "last_converged_at": "2025-06-01T10:00:00+00:00", "last_slice_at": None,
        "last_slice_result": None, "full_sync_deferred": None}
    assert report["certificates"]["tls-certificate:sbc1"]["days_left"] == 20
    assert report["health_run"]["status"] == "degraded"
    assert report["health"]["sip:sbc1:tls"]["status"] == "ok"


def test_a_sync_that_raised_is_degraded_with_its_error() -> None:
    result = evaluate_sync("genesys", sync(converged=False, error="GenesysError: 503 busy"),
                           None, NOW)

    assert result.status is DEGRADED and "the sync failed: GenesysError: 503 busy" in result.reason


def test_reads_in_the_health_pool_run_in_the_callers_trace() -> None:
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

    seen: list[int] = []

    class TracingMonitor(FakeMonitor):
        def status(self) -> SbcStatus:
            seen.append(trace.get_current_span().get_span_context().trace_id)
            return super().status()

    caller = SpanContext(trace_id=0x5EED, span_id=0xB0C, is_remote=False,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    service = make_service(make_settings(), FakeProber({}),
                           monitor=TracingMonitor(sbc_status(), []))
    with trace.use_span(NonRecordingSpan(caller)):
        service.run()

    assert seen == [0x5EED]  # the SBC read, in a pool thread, is part of the health run's trace
