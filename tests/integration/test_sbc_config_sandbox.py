"""The generated SBC configuration applied to the emulated SBCs: both forms upload cleanly, and
the emulator (which parses them against its own table dictionary, written from the manuals) keeps
the rows a call needs."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from byoc.adapters.audiocodes import AudioCodesSbc
from byoc.adapters.audiocodes_errors import SbcScriptFailed
from byoc.bootstrap import get_services
from byoc.services.sbc_config import build_configuration
from byoc.services.sbc_config_model import inputs_from_settings
from byoc.services.sbc_config_render import render_cli, render_ini

pytestmark = pytest.mark.integration


def _state(url: str, ca: str) -> dict[str, Any]:
    trust = ssl.create_default_context(cafile=ca)
    response = httpx.get(f"{url}/_sandbox/state", verify=trust, timeout=10)
    response.raise_for_status()
    return dict(response.json())


@pytest.mark.sandbox_variants("audiocodes.upload_answer")
@pytest.mark.parametrize("form", ["ini", "cli"])
def test_both_forms_upload_cleanly_to_every_sandbox_sbc(sandbox_env: dict[str, Any],
                                                        form: str) -> None:
    services = get_services()
    settings = services.settings
    assert len(settings.sbcs) == len(sandbox_env["audiocodes"]) >= 2
    for sbc, url in zip(settings.sbcs, sandbox_env["audiocodes"], strict=True):
        inputs = inputs_from_settings(settings, sbc, services.policy(),
                                      twilio_domain="byoc-sandbox.pstn.twilio.com",
                                      genesys_identifier="byoc-sandbox", public_ip="20.1.2.3")
        config = build_configuration(inputs)
        text = (render_ini if form == "ini" else render_cli)(config)
        adapter = AudioCodesSbc.from_settings(settings, sbc, lambda: services.secret("sbc_password"))
        try:
            adapter.upload_configuration(text, form)
        finally:
            adapter.close()

        tables = _state(url, sandbox_env["ca_bundle"])["tables"]
        groups = {row["Name"]: row for row in tables["IPGroup"].values()}
        assert {"IPG_Twilio", "IPG_Genesys"} <= set(groups)
        assert groups["IPG_Twilio"]["SBCDialPlanName"] == sbc.dial_plan
        sources = {(row["SrcAddress"], row["SrcIPGroupName"])
                   for row in tables["Classification"].values()}
        expected = {(address, r[-1]) for _, r in config.table("Classification").rows
                    for address in (r[3],)}
        assert expected <= sources
        realms = {row["MediaRealmName"] for row in tables["CpMediaRealm"].values()}
        assert "MR_Public" in realms
        manipulations = [row["ActionValue"] for row in tables["MessageManipulations"].values()]
        assert "'byoc-sandbox.byoc." + settings.genesys_region + "'" in manipulations


def test_a_row_the_device_refuses_fails_the_upload_loudly(sandbox_env: dict[str, Any]) -> None:
    services = get_services()
    sbc = services.settings.sbcs[0]
    adapter = AudioCodesSbc.from_settings(services.settings, sbc,
                                          lambda: services.secret("sbc_password"))
    bad = ("[ Classification ]\r\nFORMAT Index = ClassificationName, SrcAddress, SrcIPGroupName;\r\n"
           'Classification 0 = "Genesys", "192.0.2.[16-31]", "IPG_Genesys";\r\n'
           "[ \\Classification ]\r\n")
    try:
        with pytest.raises(SbcScriptFailed, match="SrcAddress"):
            adapter.upload_configuration(bad, "ini")
    finally:
        adapter.close()


@pytest.mark.sandbox_variants("audiocodes.ini_dialplan_rules", "audiocodes.upload_answer",
                             "audiocodes.dialplan_cli")
def test_dial_plan_sync_converges_under_each_export_and_answer_variant(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str] | None) -> None:
    """Whether the ini export carries the rules and whether the upload answer has `status`:
    byoc reads from the CLI export when the ini lacks the rules, and converges either way."""
    from byoc.domain.inventory import NumberRecord, NumberState

    services = get_services()
    numbers = [f"+1415555{n:04d}" for n in range(100, 120)]
    services.inventory.put_many(NumberRecord(number=n, state=NumberState.ONBOARDING)
                                for n in numbers)
    for sbc, url in zip(services.settings.sbcs, sandbox_env["audiocodes"], strict=True):
        outcome = services.reconcile.sync(f"sbc:{sbc.name}", correlation_id="variants")

        assert outcome.converged, (sandbox_variant, outcome.problems)
        trust = ssl.create_default_context(cafile=sandbox_env["ca_bundle"])
        match = httpx.get(f"{url}/_sandbox/dialplan/match",
                          params={"plan": sbc.dial_plan, "number": numbers[5]},
                          verify=trust, timeout=10).json()
        assert match["matched"] and match["rule"]["name"].startswith("byoc-")
        assert _state(url, sandbox_env["ca_bundle"])["save_needed"] is False


def test_render_config_reads_the_twilio_domain_from_the_trunk_and_says_so(
        sandbox_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from byoc.entrypoints.cli import app

    monkeypatch.delenv("BYOC_TWILIO_TERMINATION_DOMAIN", raising=False)
    domain = get_services().twilio.fetch_trunk().domain_name
    assert domain

    result = CliRunner().invoke(app, ["sbc", "render-config", "--sbc", "sbc1", "--format", "cli",
                                      "--genesys-identifier", "byoc-sandbox"])

    assert result.exit_code == 0, result.output
    label = domain.removesuffix(".pstn.twilio.com")
    assert f"action-value \"'{label}.pstn.ashburn.twilio.com'\"" in result.stdout
    said = " ".join(result.stderr.split())
    assert f"Twilio domain {domain}: the domain name of Twilio trunk TK" in said
    assert "Genesys identifier byoc-sandbox: given" in said


@pytest.mark.sandbox_variants("audiocodes.dialplan_cli")
def test_doctor_reads_the_dial_plan_dialect_from_the_cli_export(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    _, value = sandbox_variant

    item = get_services().doctor().run(probe_writes=False).item("variant:audiocodes.dialplan_cli")

    assert item.variant == value, item
