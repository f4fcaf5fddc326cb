"""`byoc doctor` against the sandbox: the demo estate passes; a broken estate gets ✗ with the fix;
each variant that a read can show is reported as the emulator plays it."""

from __future__ import annotations

import json
import ssl
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from byoc.bootstrap import get_services
from byoc.services.doctor import DoctorReport, Mark

pytestmark = pytest.mark.integration


def _doctor(*, probe_writes: bool = False) -> DoctorReport:
    report: DoctorReport = get_services().doctor().run(probe_writes=probe_writes)
    return report


def _control(ports: dict[str, Any], url: str, path: str, body: Any) -> Any:
    trust = ssl.create_default_context(cafile=ports["ca_bundle"])
    response = httpx.post(f"{url}{path}", json=body, verify=trust, timeout=30)
    response.raise_for_status()
    return response.json()


def _failed(report: DoctorReport) -> dict[str, str]:
    return {i.key: i.fix or "" for i in report.failed}


def test_the_demo_estate_passes_every_checklist_item_it_can_read(
        sandbox_env: dict[str, Any]) -> None:
    report = _doctor()

    assert _failed(report) == {}
    checklist = {i.key: i.mark for i in report.items if i.section == "checklist"}
    for key in ("tls:sbc1", "tls:sbc2", "twilio-origination", "genesys-trunk", "codecs",
                "options:sbc1:tls", "options:sbc2:tls", "options:genesys", "failover"):
        assert checklist[key] is Mark.PASS, report.item(key)
    # What byoc cannot read is a "?" with the manual step, never a silent pass.
    for key in ("twilio-termination", "monitoring:alerts"):
        assert checklist[key] is Mark.UNKNOWN
        assert report.item(key).fix
    codecs = report.item("codecs")
    assert "common to every leg: PCMU, PCMA" in codecs.evidence


def test_the_cli_prints_marks_and_json_and_exits_0_on_the_demo_estate(
        sandbox_env: dict[str, Any]) -> None:
    from byoc.entrypoints.cli import app

    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True
    assert {i["key"]: i["status"] for i in data["items"]}["twilio-origination"] == "pass"

    text = CliRunner().invoke(app, ["doctor"])
    assert text.exit_code == 0
    assert "✓ Twilio origination points at the SBCs" in text.output
    assert "? Twilio termination admits the SBCs" in text.output


def test_an_origination_url_pointing_elsewhere_fails_with_the_fix(
        sandbox_env: dict[str, Any]) -> None:
    twilio = get_services().twilio
    first = twilio.list_origination_urls()[0]
    from dataclasses import replace

    twilio.update_origination_url(replace(first, sip_url="sip:pbx.elsewhere.example.com:5061;transport=tls"))

    report = _doctor()

    failed = _failed(report)
    assert "twilio-origination" in failed
    assert "pbx.elsewhere.example.com" in failed["twilio-origination"]
    assert "not a configured SBC" in failed["twilio-origination"]
    assert "sip:sbc1.byoc.example.net:5061;transport=tls" in failed["twilio-origination"]
    assert "byoc apply -t twilio" in failed["twilio-origination"]


def test_a_trunk_out_of_service_fails_with_the_fix(sandbox_env: dict[str, Any]) -> None:
    _control(sandbox_env, sandbox_env["genesys"], "/_sandbox/genesys/trunk-status",
             {"in_service": False})

    report = _doctor()

    failed = _failed(report)
    assert "out of service" in failed["genesys-trunk"]
    assert "In Service" in failed["genesys-trunk"]


def test_a_genesys_trunk_without_g711_fails_the_codec_check(sandbox_env: dict[str, Any]) -> None:
    _set_genesys_codecs(sandbox_env, ["audio/opus"])

    report = _doctor()

    failed = _failed(report)
    assert "codecs" in failed
    assert "audio/pcmu" in failed["codecs"]
    assert "Preferred Codec List" in failed["codecs"]


def _set_genesys_codecs(ports: dict[str, Any], codecs: list[str]) -> None:
    """Change the trunk base's codec list through the Platform API, as an admin would."""
    from byoc.adapters.genesys import GenesysAdapter
    from byoc.bootstrap import get_services

    services = get_services()
    adapter = GenesysAdapter.from_settings(services.settings,
                                           lambda: services.secret("genesys_client_secret"))
    edges = adapter._apis().edges  # the SDK object: byoc itself never writes trunk bases
    base = adapter.find_trunk_base(services.settings.genesys_trunk_base_name or "")
    assert base is not None
    model = edges.get_telephony_providers_edges_trunkbasesetting(base.id)
    model.properties["trunk_media_codec"]["value"]["instance"] = codecs
    edges.put_telephony_providers_edges_trunkbasesetting(base.id, model)


def test_an_ec_certificate_on_an_sbc_fails_with_the_fix(sandbox_env: dict[str, Any]) -> None:
    from byoc.adapters.audiocodes_tls import AudioCodesTlsContext
    from byoc.domain.certs import parse_certificate_bundle

    _control(sandbox_env, sandbox_env["keyvault"], "/_sandbox/keyvault/new-certificate-version",
             {"name": "sbc-tls", "key_type": "ec-p256"})
    services = get_services()
    secret = services.keyvault.get_secret("sbc-tls")
    bundle = parse_certificate_bundle(secret.value, secret.content_type or "")
    sbc1 = services.settings.sbcs[0]
    tls = AudioCodesTlsContext.for_sbc(services.settings, sbc1,
                                       lambda: services.secret("sbc_password"))
    try:  # installed by hand on the SBC, as byoc's rotation would refuse it
        tls.upload_private_key(bundle.key_pem())
        tls.upload_certificate(bundle.leaf_pem())
        tls.save_configuration()
    finally:
        tls.close()

    report = _doctor()

    failed = _failed(report)
    assert set(failed) >= {"tls:sbc1"}
    assert "tls:sbc2" not in failed
    assert "EC-P256 key" in failed["tls:sbc1"]
    assert "RSA key" in failed["tls:sbc1"]
    assert "byoc cert rotate" in failed["tls:sbc1"]


def _pools() -> list[tuple[str, str, str]]:

    return sorted((p.start, p.end, p.state) for p in get_services().genesys.list_did_pools())


@pytest.mark.sandbox_variants("genesys.pool_delete_lag", "genesys.pool_range_change")
def test_the_pool_variants_are_told_only_by_the_scratch_pool_writes(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    name, value = sandbox_variant
    key = f"variant:{name}"
    before = _pools()

    read_only = _doctor()

    assert read_only.item(key).mark is Mark.UNKNOWN
    assert "didpools" in (read_only.item(key).fix or "")
    assert _pools() == before  # nothing written by default

    probed = _doctor(probe_writes=True)

    item = probed.item(key)
    expected = value if name == "genesys.pool_delete_lag" or value == "refuses-any" else None
    assert item.variant == expected, item
    assert item.mark is (Mark.PASS if expected else Mark.UNKNOWN)
    assert not [i.key for i in probed.failed], probed.failed  # the scratch pools were removed
    if name != "genesys.pool_delete_lag":
        assert not [p for p in _pools() if p[0] == "+12025550190" and p[2] != "deleted"]


def test_the_dial_plan_write_probe_adds_and_removes_a_scratch_rule(
        sandbox_env: dict[str, Any]) -> None:
    from byoc.adapters.audiocodes import AudioCodesSbc

    services = get_services()

    def plans() -> list[Any]:
        result = []
        for sbc in services.settings.sbcs:
            port = AudioCodesSbc.from_settings(services.settings, sbc,
                                               lambda: services.secret("sbc_password"))
            result.append(port.read_dial_plans().plans)
            port.close()
        return result

    before = plans()
    report = _doctor(probe_writes=True)

    item = report.item("variant:audiocodes.dialplan_write")
    assert item.variant == "accepted", item
    assert any("written, read back and removed" in line for line in item.evidence)
    assert plans() == before


@pytest.mark.sandbox_variants("audiocodes.tls_apply")
def test_a_pair_waiting_for_a_reset_shows_the_tls_apply_variant(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    from byoc.adapters.audiocodes_tls import AudioCodesTlsContext
    from byoc.domain.certs import parse_certificate_bundle

    _, value = sandbox_variant
    assert _doctor().item("variant:audiocodes.tls_apply").variant is None  # nothing pending yet
    _control(sandbox_env, sandbox_env["keyvault"], "/_sandbox/keyvault/new-certificate-version",
             {"name": "sbc-tls"})
    services = get_services()
    secret = services.keyvault.get_secret("sbc-tls")
    bundle = parse_certificate_bundle(secret.value, secret.content_type or "")
    tls = AudioCodesTlsContext.for_sbc(services.settings, services.settings.sbcs[0],
                                       lambda: services.secret("sbc_password"))
    try:  # a new pair installed by hand, no reset
        tls.upload_private_key(bundle.key_pem())
        tls.upload_certificate(bundle.leaf_pem())
        tls.save_configuration()
    finally:
        tls.close()

    item = _doctor().item("variant:audiocodes.tls_apply")

    assert item.variant == ("needs-reset" if value == "needs-reset" else None), item
    assert item.mark is (Mark.PASS if value == "needs-reset" else Mark.UNKNOWN)


@pytest.mark.sandbox_variants("audiocodes.ini_dialplan_rules")
def test_the_ini_export_variant_is_read_per_sbc(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    _, value = sandbox_variant

    item = _doctor().item("variant:audiocodes.ini_dialplan_rules")

    # The seeded sbc2 runs firmware whose export always leaves the rules out.
    assert item.variant == ("omitted" if value == "omitted" else "sbc1=included, sbc2=omitted")
    assert item.mark is Mark.PASS
    assert any("firmware" in line for line in item.evidence)


@pytest.mark.sandbox_variants("audiocodes.upload_answer")
def test_the_upload_answer_variant_needs_the_empty_upload_probe(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    _, value = sandbox_variant

    read_only = _doctor().item("variant:audiocodes.upload_answer")
    probed = _doctor(probe_writes=True).item("variant:audiocodes.upload_answer")

    assert read_only.mark is Mark.UNKNOWN
    assert "cliScript/incremental" in (read_only.fix or "")
    assert probed.variant == value


def _manual_only_variants() -> list[Any]:
    """(variant, value) of every sandbox variant whose probe neither reads nor writes."""
    from byoc.services.doctor_probes import PROBES
    from sandbox.launcher import emulator_classes

    manual = {p.variant for p in PROBES if p.observe is None and p.write is None}
    return [pytest.param(f"{section}.{name}", value, id=f"{section}.{name}={value}")
            for section, cls in emulator_classes().items()
            for name, variant in cls.VARIANTS.items() if f"{section}.{name}" in manual
            for value in variant.values]


@pytest.mark.parametrize(("variant", "value"), _manual_only_variants())
def test_a_variant_only_a_person_can_tell_is_a_question_with_the_step_never_a_guess(
        sandbox_env: dict[str, Any], variant: str, value: str) -> None:
    section, name = variant.split(".", 1)
    urls = sandbox_env["audiocodes"] if section == "audiocodes" else [sandbox_env[section]]
    for url in urls:
        _control(sandbox_env, url, "/_sandbox/variants", {name: value})

    item = _doctor(probe_writes=True).item(f"variant:{variant}")

    assert item.mark is Mark.UNKNOWN
    assert item.variant is None
    assert item.fix


def test_termination_fails_until_every_public_address_is_on_the_trunk(
        sandbox_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from byoc.bootstrap import reset_services

    sbcs = json.loads(os.environ["BYOC_SBCS"])
    for sbc, address in zip(sbcs, ("20.50.60.70", "20.50.60.71"), strict=True):
        sbc["public_ips"] = [address]
    monkeypatch.setenv("BYOC_SBCS", json.dumps(sbcs))
    reset_services()

    failed = _failed(_doctor())

    assert "sbc1 20.50.60.70, sbc2 20.50.60.71" in failed["twilio-termination"]
    assert "byoc apply -t twilio" in failed["twilio-termination"]

    twilio = get_services().twilio  # what `byoc apply -t twilio` would converge, done by hand
    acl = twilio.create_ip_acl("byoc-sbcs")
    twilio.add_acl_address(acl.sid, "20.50.60.70", "sbc1")
    twilio.add_acl_address(acl.sid, "20.50.60.71", "sbc2")
    twilio.associate_ip_acl(acl.sid)

    item = _doctor().item("twilio-termination")
    assert item.mark is Mark.PASS, item


def test_a_sip_tls_port_limited_to_tls13_fails_with_the_tls_context_fix(
        sandbox_env: dict[str, Any]) -> None:
    creds = sandbox_env["credentials"]["audiocodes"]
    ini = ("[ TLSContexts ]\r\nFORMAT Index = Name, TLSVersion;\r\n"
           'TLSContexts 0 = "byoc-tls", 8;\r\n[ \\TLSContexts ]\r\n')
    response = httpx.put(  # what an engineer tightening the SBC to TLS 1.3 would upload
        f"{sandbox_env['audiocodes'][0]}/api/v1/files/ini/incremental",
        files={"file": ("tls.ini", ini.encode(), "application/octet-stream")},
        auth=(creds["username"], creds["password"]),
        verify=ssl.create_default_context(cafile=sandbox_env["ca_bundle"]), timeout=30)
    response.raise_for_status()

    failed = _failed(_doctor())

    assert "Genesys cannot connect" in failed["tls:sbc1"]
    assert "TLS 1.2" in failed["tls:sbc1"] and "TLS Contexts" in failed["tls:sbc1"]
    assert "tls:sbc2" not in failed


@pytest.mark.sandbox_variants("audiocodes.dialplan_cli")
def test_the_dial_plan_cli_dialect_is_read_from_the_cli_export(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    _, value = sandbox_variant

    item = _doctor().item("variant:audiocodes.dialplan_cli")
    probed = _doctor(probe_writes=True).item("variant:audiocodes.dialplan_write")

    assert item.variant == value
    assert item.mark is Mark.PASS
    assert probed.variant == "accepted", probed  # byoc writes in the dialect the SBC showed


@pytest.mark.sandbox_variants("twilio.monitor_event_data")
def test_the_monitor_event_shape_is_read_from_the_accounts_events(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    _, value = sandbox_variant
    twilio = get_services().twilio
    number = twilio.search_available(country="US", area_code="415", contains=None, limit=1)[0]
    twilio.purchase_number(number)  # Monitor records phone-number.created

    item = _doctor().item("variant:twilio.monitor_event_data")

    assert item.variant == value, item
    assert item.mark is Mark.PASS


@pytest.mark.sandbox_variants("genesys.dids_number_match")
def test_how_genesys_matches_a_pool_number_is_told_by_a_read(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    report = _doctor()

    item = report.item("variant:genesys.dids_number_match")

    assert item.variant == sandbox_variant[1], item
    assert item.mark is Mark.PASS
