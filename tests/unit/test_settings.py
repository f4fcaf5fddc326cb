"""Settings: a bad configuration fails at start with one message listing every problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from byoc.settings import ConfigurationError, load_settings
from byoc.settings_reference import settings_reference

ROOT = Path(__file__).resolve().parents[2]

VALID = {
    "BYOC_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
    "BYOC_TWILIO_TRUNK_SID": "TK0123456789abcdef0123456789abcdef",
    "BYOC_TWILIO_AUTH_TOKEN_SECRET_NAME": "twilio-auth-token",
    "BYOC_GENESYS_CLIENT_ID": "client",
    "BYOC_GENESYS_CLIENT_SECRET_SECRET_NAME": "genesys-client-secret",
    "BYOC_SBC_PASSWORD_SECRET_NAME": "sbc-password",
    "BYOC_KEYVAULT_URL": "https://vault.vault.azure.net",
    "BYOC_SBCS": json.dumps([{"name": "sbc1", "management_url": "https://10.0.0.4",
                              "fqdn": "sbc1.example.com"}]),
    "AzureWebJobsStorage": "UseDevelopmentStorage=true",
    "BYOC_POLICY_PATH": "policy.example.yaml",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for key in list(os.environ):
        if key.startswith("BYOC_") or key.startswith("AzureWebJobsStorage"):
            monkeypatch.delenv(key)
    return monkeypatch


def test_a_complete_configuration_loads(env: pytest.MonkeyPatch) -> None:
    for key, value in VALID.items():
        env.setenv(key, value)
    settings = load_settings()
    assert settings.sbcs[0].name == "sbc1"
    assert settings.twilio_auth_token is None
    assert settings.twilio_auth_token_secret_name == "twilio-auth-token"


def test_an_empty_environment_lists_every_missing_setting_at_once(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    text = str(caught.value)
    for name in ("BYOC_TWILIO_ACCOUNT_SID", "BYOC_TWILIO_TRUNK_SID", "BYOC_GENESYS_CLIENT_ID",
                 "BYOC_SBCS", "BYOC_POLICY_PATH", "BYOC_TWILIO_AUTH_TOKEN_SECRET_NAME",
                 "BYOC_SBC_PASSWORD_SECRET_NAME", "AzureWebJobsStorage"):
        assert name in text
    assert len(caught.value.problems) >= 9


def test_invalid_values_are_named_with_their_setting(env: pytest.MonkeyPatch) -> None:
    for key, value in VALID.items():
        env.setenv(key, value)
    env.setenv("BYOC_SBCS", json.dumps([{"name": "SBC 1", "management_url": "http://x",
                                         "fqdn": "a"}]))
    env.setenv("BYOC_MAX_DELETE_FRACTION", "2")
    env.setenv("BYOC_TWILIO_ACCOUNT_SID", "not-a-sid")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    text = str(caught.value)
    assert "BYOC_SBCS[0].name" in text
    assert "BYOC_SBCS[0].management_url" in text and "https" in text
    assert "BYOC_MAX_DELETE_FRACTION" in text
    assert "BYOC_TWILIO_ACCOUNT_SID" in text


def test_secret_names_need_a_key_vault(env: pytest.MonkeyPatch) -> None:
    for key, value in VALID.items():
        env.setenv(key, value)
    env.delenv("BYOC_KEYVAULT_URL")
    with pytest.raises(ConfigurationError, match="BYOC_KEYVAULT_URL"):
        load_settings()


def test_a_secret_value_never_appears_in_the_error(env: pytest.MonkeyPatch) -> None:
    env.setenv("BYOC_TWILIO_AUTH_TOKEN", "super-secret-token-value")
    env.setenv("BYOC_TWILIO_ACCOUNT_SID", "bad")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "super-secret-token-value" not in str(caught.value)


def test_empty_values_count_as_unset(env: pytest.MonkeyPatch) -> None:
    for key, value in VALID.items():
        env.setenv(key, value)
    env.setenv("BYOC_TWILIO_AUTH_TOKEN", "")
    env.setenv("BYOC_TWILIO_API_BASE", "")
    settings = load_settings()
    assert settings.twilio_auth_token is None
    assert settings.twilio_api_base is None


def test_two_sbcs_with_one_name_are_refused(env: pytest.MonkeyPatch) -> None:
    for key, value in VALID.items():
        env.setenv(key, value)
    sbc = {"name": "sbc1", "management_url": "https://10.0.0.4", "fqdn": "a.example.com"}
    env.setenv("BYOC_SBCS", json.dumps([sbc, sbc]))
    with pytest.raises(ConfigurationError, match="unique"):
        load_settings()


def test_the_sample_settings_file_lists_every_setting_without_secret_values() -> None:
    sample = json.loads((ROOT / "local.settings.sample.json").read_text())
    values = sample["Values"]
    for row in settings_reference():
        assert row["env"] in values, f"{row['env']} missing from local.settings.sample.json"
        assert row["env"] in sample["Descriptions"]
        if row["secret"] and row["env"] != "AzureWebJobsStorage":
            assert values[row["env"]] == "", f"{row['env']} must be empty in the sample"


def test_the_configuration_reference_documents_every_setting() -> None:
    reference = (ROOT / "docs" / "configuration.md").read_text()
    missing = [row["env"] for row in settings_reference() if f"`{row['env']}`" not in reference]
    assert missing == []


def test_vendor_client_timeouts_default_to_the_adapters_and_can_be_set(
        env: pytest.MonkeyPatch) -> None:
    for key, value in VALID.items():
        env.setenv(key, value)
    defaults = load_settings()
    assert (defaults.twilio_timeout_s, defaults.genesys_connect_timeout_s,
            defaults.genesys_read_timeout_s) == (30.0, 10.0, 60.0)

    env.setenv("BYOC_TWILIO_TIMEOUT_S", "5")
    env.setenv("BYOC_GENESYS_CONNECT_TIMEOUT_S", "2.5")
    env.setenv("BYOC_GENESYS_READ_TIMEOUT_S", "120")
    settings = load_settings()
    assert (settings.twilio_timeout_s, settings.genesys_connect_timeout_s,
            settings.genesys_read_timeout_s) == (5.0, 2.5, 120.0)


def test_bad_vendor_client_timeouts_are_all_listed_with_the_reason(
        env: pytest.MonkeyPatch) -> None:
    for key, value in VALID.items():
        env.setenv(key, value)
    env.setenv("BYOC_TWILIO_TIMEOUT_S", "0")
    env.setenv("BYOC_GENESYS_CONNECT_TIMEOUT_S", "-3")
    env.setenv("BYOC_GENESYS_READ_TIMEOUT_S", "900")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    problems = caught.value.problems
    assert len(problems) == 3
    twilio, connect, read = problems
    assert twilio.startswith("BYOC_TWILIO_TIMEOUT_S:") and "above 0, not 0" in twilio
    assert connect.startswith("BYOC_GENESYS_CONNECT_TIMEOUT_S:") and "above 0, not -3" in connect
    assert read.startswith("BYOC_GENESYS_READ_TIMEOUT_S:")
    assert "functionTimeout" in read and "host.json" in read and "600" in read


def test_sbc_and_health_probe_timeouts_are_bounded_like_the_vendor_timeouts(
        env: pytest.MonkeyPatch) -> None:
    for key, value in VALID.items():
        env.setenv(key, value)
    defaults = load_settings()
    assert (defaults.sbc_timeout_s, defaults.health_probe_timeout_s) == (15.0, 8.0)

    env.setenv("BYOC_SBC_TIMEOUT_S", "0")
    env.setenv("BYOC_HEALTH_PROBE_TIMEOUT_S", "601")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    sbc, probe = caught.value.problems
    assert sbc.startswith("BYOC_SBC_TIMEOUT_S:") and "above 0, not 0" in sbc
    assert probe.startswith("BYOC_HEALTH_PROBE_TIMEOUT_S:")
    assert "functionTimeout" in probe and "host.json" in probe and "600" in probe

    env.setenv("BYOC_SBC_TIMEOUT_S", "600")
    env.setenv("BYOC_HEALTH_PROBE_TIMEOUT_S", "2.5")
    settings = load_settings()
    assert (settings.sbc_timeout_s, settings.health_probe_timeout_s) == (600.0, 2.5)


def test_a_timeout_that_is_not_a_number_is_named(env: pytest.MonkeyPatch) -> None:
    for key, value in VALID.items():
        env.setenv(key, value)
    env.setenv("BYOC_TWILIO_TIMEOUT_S", "30s")
    with pytest.raises(ConfigurationError, match="BYOC_TWILIO_TIMEOUT_S"):
        load_settings()


def test_the_timeout_ceiling_is_the_function_timeout_in_host_json() -> None:
    from byoc.settings import FUNCTION_TIMEOUT_S

    hours, minutes, seconds = json.loads((ROOT / "host.json").read_text())[
        "functionTimeout"].split(":")
    host_timeout_s = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    assert host_timeout_s == FUNCTION_TIMEOUT_S


@pytest.mark.parametrize(("value", "why"), [
    ("0.0.0.0/0", "wider than /22"),
    ("10.40.0.0/16", "wider than /22"),
    ("10.40.0.65/26", "host bits"),
    ("2001:db8::/64", "IPv6"),
    ("app-subnet", "not an IPv4 address"),
])
def test_a_probe_source_that_is_not_a_narrow_ipv4_range_is_refused(
        env: pytest.MonkeyPatch, value: str, why: str) -> None:
    for key, item in VALID.items():
        env.setenv(key, item)
    env.setenv("BYOC_PROBE_SOURCE_CIDRS", f"20.1.2.3,{value}")
    with pytest.raises(ConfigurationError) as caught:
        load_settings()
    assert "BYOC_PROBE_SOURCE_CIDRS" in str(caught.value) and why in str(caught.value)


def test_probe_sources_are_addresses_or_subnets(env: pytest.MonkeyPatch) -> None:
    for key, item in VALID.items():
        env.setenv(key, item)
    env.setenv("BYOC_PROBE_SOURCE_CIDRS", "20.1.2.3, 10.40.0.64/26")
    assert load_settings().probe_source_cidrs == ["20.1.2.3/32", "10.40.0.64/26"]


def test_the_log_level_is_read_case_insensitively_and_a_wrong_one_is_named(
        env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from byoc.entrypoints.cli import app

    for key, item in VALID.items():
        env.setenv(key, item)
    env.setenv("BYOC_LOG_LEVEL", "debug")
    assert load_settings().log_level == "DEBUG"
    env.setenv("BYOC_LOG_LEVEL", "verbose")
    with pytest.raises(ConfigurationError, match="BYOC_LOG_LEVEL"):
        load_settings()
    env.chdir(tmp_path)  # no local.settings.json
    result = CliRunner().invoke(app, ["--verbose", "nsg", "ranges"])
    assert result.exit_code == 2
    assert "BYOC_LOG_LEVEL 'verbose' is not one of DEBUG, INFO, WARNING, ERROR" in result.output
