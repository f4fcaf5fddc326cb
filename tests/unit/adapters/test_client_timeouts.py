"""The configured Twilio and Genesys timeouts reach the HTTP clients production builds."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from byoc.settings import Settings, load_settings

CONFIG: dict[str, Any] = {
    "twilio_account_sid": "AC0123456789abcdef0123456789abcdef",
    "twilio_trunk_sid": "TK0123456789abcdef0123456789abcdef",
    "twilio_auth_token": "unit-test-token",
    "genesys_client_id": "client",
    "genesys_client_secret": "unit-test-secret",
    "sbc_password": "unit-test-password",
    "sbcs": json.dumps([{"name": "sbc1", "management_url": "https://10.0.0.4",
                         "fqdn": "sbc1.example.com"}]),
    "storage_connection_string": "UseDevelopmentStorage=true",
    "policy_path": "policy.example.yaml",
}


def settings(monkeypatch: pytest.MonkeyPatch, **values: str) -> Settings:
    for key in list(os.environ):
        if key.startswith("BYOC_") or key.startswith("AzureWebJobsStorage"):
            monkeypatch.delenv(key)
    for key, value in {**CONFIG, **values}.items():
        monkeypatch.setenv(f"BYOC_{key.upper()}", value)
    return load_settings()


def test_the_twilio_timeout_setting_reaches_the_sdk_http_client(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.bootstrap import Services

    twilio = Services(settings(monkeypatch, twilio_timeout_s="4.5")).twilio

    assert twilio._client().http_client.timeout == 4.5


def test_the_genesys_timeout_settings_reach_the_urllib3_pool(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.adapters.genesys import GenesysAdapter

    configured = settings(monkeypatch, genesys_connect_timeout_s="2",
                          genesys_read_timeout_s="7.5")
    adapter = GenesysAdapter.from_settings(configured, lambda: "unit-test-secret")

    timeout = adapter._apis().http.rest_client.pool_manager.connection_pool_kw["timeout"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (2.0, 7.5)


def test_without_settings_the_clients_keep_the_adapter_defaults(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.adapters.genesys import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, GenesysAdapter
    from byoc.adapters.twilio import REQUEST_TIMEOUT_S
    from byoc.bootstrap import Services

    configured = settings(monkeypatch)
    twilio = Services(configured).twilio
    genesys = GenesysAdapter.from_settings(configured, lambda: "unit-test-secret")

    assert twilio._client().http_client.timeout == REQUEST_TIMEOUT_S
    timeout = genesys._apis().http.rest_client.pool_manager.connection_pool_kw["timeout"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
