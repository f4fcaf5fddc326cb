"""A call through the sandbox estate: Twilio's Calls API sends an INVITE to the trunk's origination
URLs, the SBC routes it by the configuration byoc rendered and the dial plan byoc keeps, and the
Genesys org answers by its pools, IVRs and trunk. Breaking one hop fails the call at that hop,
with the reason in the SIP answer."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from byoc.adapters.audiocodes import AudioCodesSbc
from byoc.bootstrap import get_services
from byoc.services.sbc_config import build_configuration
from byoc.services.sbc_config_model import inputs_from_settings
from byoc.services.sbc_config_render import render_ini
from tests.reliability.estate import converge

pytestmark = pytest.mark.integration


def onboard(sandbox: Any) -> list[str]:
    """Converge the estate, apply the rendered SBC configuration; the managed numbers routed to
    an IVR in Genesys."""
    services = get_services()
    converge(services)
    for sbc in services.settings.sbcs:
        inputs = inputs_from_settings(services.settings, sbc, services.policy(),
                                      twilio_domain="byoc-sandbox.pstn.twilio.com",
                                      genesys_identifier="byoc-sandbox")
        adapter = AudioCodesSbc.from_settings(services.settings, sbc,
                                              lambda: services.secret("sbc_password"))
        try:
            adapter.upload_configuration(render_ini(build_configuration(inputs)), "ini")
        finally:
            adapter.close()
    policy = services.policy()
    org = sandbox.emulators["genesys"].org
    twilio = sandbox.emulators["twilio"]
    on_trunk = {n.phone_number for n in twilio.numbers.values() if n.trunk_sid}
    return sorted(n for ivr in org.ivrs.values() for n in ivr.dnis
                  if policy.is_managed(n) and n in on_trunk)


def place(sandbox: Any, number: str, timeout_s: float = 20) -> dict[str, Any]:
    """A call to `number` through the Twilio emulator's Calls resource; its record when it ended."""
    from twilio.rest import Client

    twilio = sandbox.emulators["twilio"]
    services = get_services()
    client = services.twilio._client()
    created = client.calls.create(to=number, from_="+14155550150",
                                  twiml="<Response><Pause length=\"0.2\"/></Response>")
    assert isinstance(client, Client)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        call = client.calls(created.sid).fetch()
        if call.status in ("completed", "failed", "busy", "no-answer", "canceled"):
            legs = next(c["legs"] for c in twilio.calls.state() if c["sid"] == created.sid)
            return {"status": call.status, "legs": legs, "sid": created.sid}
        time.sleep(0.05)
    raise AssertionError(f"the call to {number} did not end in {timeout_s}s")


def test_a_test_call_to_each_onboarded_number_reaches_its_ivr(
        sandbox_env: dict[str, Any], sandbox_session: Any) -> None:
    numbers = onboard(sandbox_session)
    assert numbers
    genesys = sandbox_session.emulators["genesys"]
    for number in numbers:
        result = place(sandbox_session, number)
        assert result["status"] == "completed", result
        assert result["legs"][0]["status"] == 200 and result["legs"][0]["codec"] == "PCMU"
        conversation = [c for c in genesys.sip.conversations if c["dnis"] == number][-1]
        assert conversation["routed_to"]["type"] == "IVR_CONFIG"
        assert conversation["end"] is not None, "the call was left up"


def _rows(sandbox: Any, table: str) -> list[dict[str, Any]]:
    return [row for sbc in sandbox.audiocodes for row in sbc.running.tables.table(table).values()]


def break_dial_plan(sandbox: Any, number: str) -> None:  # undone by restoring the SBC configuration
    for sbc in sandbox.audiocodes:
        plan = sbc.running.plan_named("BYOC")
        for index, rule in list(plan.rules.items()):
            if rule.name.startswith("byoc-"):
                del plan.rules[index]


def break_classification(sandbox: Any, number: str) -> None:  # undone by restoring the SBC configuration
    for sbc in sandbox.audiocodes:
        rows = sbc.running.tables.table("Classification")
        for index, row in list(rows.items()):
            if str(row["SrcIPGroupName"]).startswith("IPG_Twilio"):
                del rows[index]


def break_ruri_rewrite(sandbox: Any, number: str) -> None:  # undone by restoring the SBC configuration
    for row in _rows(sandbox, "MessageManipulations"):
        if row["ManipulationName"] == "Genesys RURI":
            row["ActionValue"] = "'wrong-identifier.byoc.mypurecloud.com'"


def break_pool(sandbox: Any, number: str) -> Callable[[], None]:
    org = sandbox.emulators["genesys"].org
    pool = org.pool_for(number)
    del org.pools[pool.id]
    return lambda: org.pools.__setitem__(pool.id, pool)


def break_ivr_routing(sandbox: Any, number: str) -> Callable[[], None]:
    ivrs = list(sandbox.emulators["genesys"].org.ivrs.values())
    before = [list(ivr.dnis) for ivr in ivrs]
    for ivr in ivrs:
        ivr.dnis = [n for n in ivr.dnis if n != number]

    def undo() -> None:
        for ivr, dnis in zip(ivrs, before, strict=True):
            ivr.dnis = dnis
    return undo


def break_trunk(sandbox: Any, number: str) -> Callable[[], None]:
    trunks = list(sandbox.emulators["genesys"].org.trunks.values())
    for trunk in trunks:
        trunk.in_service = False

    def undo() -> None:
        for trunk in trunks:
            trunk.in_service = True
    return undo


def break_codecs(sandbox: Any, number: str) -> Callable[[], None]:
    bases = list(sandbox.emulators["genesys"].org.trunk_bases.values())
    before = [base.properties.get("trunk_media_codec") for base in bases]
    for base in bases:
        base.properties["trunk_media_codec"] = {"type": "array",
                                                "value": {"default": [], "instance": ["audio/opus"]}}

    def undo() -> None:
        for base, value in zip(bases, before, strict=True):
            base.properties["trunk_media_codec"] = value
    return undo


BREAKS = [
    (break_dial_plan, 404, "the tag 'pstn', which no route to an IP Group names"),
    (break_classification, 408, "no answer"),
    (break_ruri_rewrite, 404, "no BYOC trunk has the inbound SIP termination identifier"),
    (break_pool, 404, "is in no DID pool"),
    (break_ivr_routing, 480, "is routed to no IVR or user"),
    (break_trunk, 503, "is not in service"),
    (break_codecs, 488, "no offered codec (PCMU, PCMA) is in trunk"),
]


def test_breaking_one_hop_fails_the_call_there_with_the_reason(
        sandbox_env: dict[str, Any], sandbox_session: Any) -> None:
    """One onboarding, then each hop broken and restored in turn."""
    number = onboard(sandbox_session)[0]
    configs = [sbc.running.clone() for sbc in sandbox_session.audiocodes]
    missed = []
    for breaks, status, reason in BREAKS:
        assert place(sandbox_session, number)["status"] == "completed", breaks.__name__
        undo = breaks(sandbox_session, number)
        result = place(sandbox_session, number)
        if undo is not None:
            undo()
        for sbc, config in zip(sandbox_session.audiocodes, configs, strict=True):
            sbc.running = config.clone()
        first = result["legs"][0]
        said = first.get("warning") or first.get("reason") or ""
        if result["status"] != "failed" or first["status"] != status or reason not in said:
            missed.append(f"{breaks.__name__}: {result}")
    assert not missed, "\n".join(missed)


def _cli(*args: str, answer: str | None = None) -> Any:
    from typer.testing import CliRunner

    from byoc.entrypoints.cli import app

    return CliRunner().invoke(app, list(args), input=answer)


def test_byoc_test_call_reports_each_hop_and_the_codec_and_leaves_no_call_up(
        sandbox_env: dict[str, Any], sandbox_session: Any) -> None:
    number = onboard(sandbox_session)[0]
    refused = _cli("test-call", number, "--json")
    assert refused.exit_code == 2 and "--yes" in refused.stdout

    placed = _cli("test-call", number, "--json", "--yes")
    assert placed.exit_code == 0, placed.stdout
    report = json.loads(placed.stdout)
    assert report["ok"] and report["codec"] == "audio/pcmu"
    assert [h["hop"] for h in report["hops"]] == ["twilio", "genesys"]
    assert "Main IVR" in report["hops"][1]["detail"] or "ivr" in report["hops"][1]["detail"]
    calls = sandbox_session.emulators["twilio"].calls.state()
    assert [c["status"] for c in calls if c["sid"] == report["call_sid"]] == ["completed"]
    conversation = [c for c in sandbox_session.emulators["genesys"].sip.conversations
                    if c["dnis"] == number][-1]
    assert conversation["end"] is not None

    text = _cli("test-call", number, answer="y\n")
    assert text.exit_code == 0 and "rings" in text.stdout and "cost:" in text.stderr


def test_byoc_test_call_refuses_a_number_it_does_not_manage_unless_forced(
        sandbox_env: dict[str, Any], sandbox_session: Any) -> None:
    foreign = "+14155550950"  # in Genesys' HQ pool, not on byoc's trunk
    refused = _cli("test-call", foreign, "--yes")
    assert refused.exit_code == 2 and "not a number byoc manages" in refused.stderr
    forced = _cli("test-call", foreign, "--yes", "--force", "--json")
    report = json.loads(forced.stdout)
    assert forced.exit_code == 1 and not report["ok"]
    assert report["hops"][0]["detail"].endswith("failed, 0 s up")


def test_a_failed_call_names_the_hop_it_did_not_pass(
        sandbox_env: dict[str, Any], sandbox_session: Any) -> None:
    number = onboard(sandbox_session)[0]
    break_trunk(sandbox_session, number)
    failed = _cli("test-call", number, "--yes", "--json")
    report = json.loads(failed.stdout)
    assert failed.exit_code == 1
    assert report["hops"][1] == {"hop": "genesys", "ok": False, "seconds": None,
                                 "detail": report["hops"][1]["detail"]}
    assert "never reached Genesys" in report["reason"]


def test_options_are_answered_by_the_routes_and_unclassified_sources_get_nothing(
        sandbox_env: dict[str, Any], sandbox_session: Any) -> None:
    from sandbox.sip_wire import SipMessage

    onboard(sandbox_session)
    directory = sandbox_session.sip_directory
    sbc = sandbox_session.audiocodes[0]

    def options(source: str) -> SipMessage | None:
        stream = directory.connect(f"{sbc.fqdn}:5061", "TLS", source=source)
        try:
            stream.send(SipMessage(f"OPTIONS sip:{sbc.fqdn}:5061 SIP/2.0", [
                ("via", f"SIP/2.0/TLS {source}:5061;branch=z9hG4bKopt"), ("from", "<sip:p@x>;tag=1"),
                ("to", f"<sip:{sbc.fqdn}>"), ("call-id", "opt-1"), ("cseq", "1 OPTIONS")]))
            return stream.final(1.0)
        finally:
            stream.close()

    answer = options("127.0.0.2")  # Twilio's Ashburn edge: classified to IPG_Twilio
    assert answer is not None and answer.status == 200
    assert options("127.0.0.9") is None  # no Classification row: ClassificationFailureResponseType 0
    answer = options("127.0.0.1")  # byoc's probe source (BYOC_PROBE_SOURCE_CIDRS): IPG_Probe
    assert answer is not None and answer.status == 200
    for index, row in list(sbc.running.tables.table("IP2IPRouting").items()):
        if row["RouteName"] == "OPTIONS":
            del sbc.running.tables.table("IP2IPRouting")[index]
    answer = options("127.0.0.2")
    assert answer is not None and answer.status == 404


def test_byoc_health_probe_is_answered_by_an_sbc_byoc_configured(
        sandbox_env: dict[str, Any], sandbox_session: Any) -> None:
    """The SBC classifies byoc's probe source (BYOC_PROBE_SOURCE_CIDRS) to an IP Group of its own:
    OPTIONS from it get 200, anything else from it is refused; unclassified sources stay unanswered."""
    import asyncio

    from byoc.adapters.sip_probe import probe
    from byoc.services.health_report import HealthStatus
    from byoc.services.health_sip import evaluate_probe, sbc_probe_targets
    from sandbox.sip_wire import SipMessage

    onboard(sandbox_session)
    settings = get_services().settings
    for sbc in settings.sbcs:
        for target in sbc_probe_targets(sbc):
            result = asyncio.run(probe(target.target, timeout_s=3, timer_scale=0.1,
                                       ca_bundle=settings.ca_bundle))
            checked = evaluate_probe(target, result)
            assert checked.status is HealthStatus.OK, checked.reason
            assert "answered OPTIONS with 200" in checked.reason

    sbc = sandbox_session.audiocodes[0]
    stream = sandbox_session.sip_directory.connect(f"{sbc.fqdn}:5061", "TLS", source="127.0.0.1")
    try:
        stream.send(SipMessage(f"INVITE sip:+14155550101@{sbc.fqdn}:5061 SIP/2.0", [
            ("via", "SIP/2.0/TLS 127.0.0.1:5061;branch=z9hG4bKprobeinv"),
            ("from", "<sip:probe@x>;tag=1"), ("to", "<sip:+14155550101@x>"),
            ("call-id", "probe-invite-1"), ("cseq", "1 INVITE")]))
        final = stream.final(2.0)
    finally:
        stream.close()
    assert final is not None and final.status == 403, final
    assert "probe only" in (final.header("warning") or "")


def test_without_the_probe_source_setting_health_names_it_instead_of_calling_the_sbc_down(
        sandbox_env: dict[str, Any], sandbox_session: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.bootstrap import reset_services

    monkeypatch.setenv("BYOC_PROBE_SOURCE_CIDRS", "")
    reset_services()
    onboard(sandbox_session)  # rendered without a probe row: the SBCs ignore the probe

    result = _cli("health", "--json")
    components = json.loads(result.stdout)["components"]
    sip = components["sip:sbc1:tls"]
    assert sip["status"] == "degraded", sip
    assert "BYOC_PROBE_SOURCE_CIDRS is not set" in sip["reason"]
    assert sip["figures"]["failure"] == "timeout" and sip["figures"]["probe_source"] == "unset"
