"""Fixtures shared by every test layer."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azurite import Azurite, start_azurite

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite for the session, on free ports, in memory."""
    instance = start_azurite()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(autouse=True)
def no_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Vendor retries do not wait: the one switch for every test (`byoc.adapters.retry.pause`).
    A test that gives an adapter its own `sleep` still sees, and can assert, every wait."""
    import byoc.adapters.retry

    monkeypatch.setattr(byoc.adapters.retry, "pause", lambda seconds: None)


def base_settings_env(connection_string: str, **extra: str) -> dict[str, str]:
    """A complete, valid byoc environment (vendor endpoints are placeholders unless overridden)."""
    env = {
        "AzureWebJobsStorage": connection_string,
        "BYOC_TWILIO_ACCOUNT_SID": "AC0123456789abcdef0123456789abcdef",
        "BYOC_TWILIO_TRUNK_SID": "TK0123456789abcdef0123456789abcdef",
        "BYOC_TWILIO_AUTH_TOKEN": "test-twilio-auth-token",
        "BYOC_GENESYS_CLIENT_ID": "test-client",
        "BYOC_GENESYS_CLIENT_SECRET": "test-genesys-secret",
        "BYOC_SBC_PASSWORD": "test-sbc-password",
        "BYOC_SBCS": '[{"name": "sbc1", "management_url": "https://127.0.0.1:9", '
        '"fqdn": "sbc1.byoc.example.net"}]',
        "BYOC_POLICY_PATH": str(ROOT / "policy.example.yaml"),
        # Per-test names keep tests apart on one Azurite.
        "BYOC_INVENTORY_TABLE": "inv" + uuid.uuid4().hex[:12],
        "BYOC_OPERATIONS_TABLE": "ops" + uuid.uuid4().hex[:12],
        "BYOC_STATE_TABLE": "st" + uuid.uuid4().hex[:12],
        "BYOC_LOCK_CONTAINER": "locks-" + uuid.uuid4().hex[:12],
    }
    env.update(extra)
    return env


@pytest.fixture
def byoc_env(azurite: Azurite, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The process environment set to a valid byoc configuration on Azurite; services reset."""
    from byoc.bootstrap import reset_services

    for key in list(os.environ):
        if key.startswith("BYOC_"):
            monkeypatch.delenv(key)
    env = base_settings_env(azurite.connection_string)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_services()
    _clear_queues(azurite.connection_string)
    yield env
    reset_services()


def _clear_queues(connection_string: str) -> None:
    """The job queues are fixed names (the trigger binds them): empty them between tests."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import QueueClient

    from byoc.names import POISON_QUEUE_NAME, QUEUE_NAME

    for name in (QUEUE_NAME, POISON_QUEUE_NAME):
        with contextlib.suppress(ResourceNotFoundError):
            QueueClient.from_connection_string(connection_string, name).clear_messages()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`@pytest.mark.sandbox_variants("audiocodes.upload_answer", ...)`: one run per value."""
    marker = metafunc.definition.get_closest_marker("sandbox_variants")
    if marker is None:
        return
    if "sandbox_env" not in metafunc.fixturenames:
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: sandbox_variants needs sandbox_env")
    from sandbox.launcher import emulator_classes

    classes = emulator_classes()
    params = []
    for qualified in marker.args:
        section, _, name = str(qualified).partition(".")
        variant = classes[section].VARIANTS.get(name) if section in classes else None
        if variant is None:
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: no sandbox variant {qualified!r}")
        params += [pytest.param((qualified, value), id=f"{qualified}={value}")
                   for value in variant.values]
    metafunc.parametrize("sandbox_variant", params, indirect=True)


@pytest.fixture
def sandbox_variant(request: pytest.FixtureRequest) -> tuple[str, str] | None:
    """The `(SECTION.NAME, VALUE)` this test runs under, or None (every variant at its seed value)."""
    return getattr(request, "param", None)


@pytest.fixture(scope="session")
def sandbox_session() -> Iterator[Any]:
    """Every vendor emulator, started once per session (reset before each test that uses it)."""
    from sandbox.launcher import load_seed, start_sandbox

    running = start_sandbox(load_seed())
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def sandbox_env(
    sandbox_session: Any, byoc_env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
    sandbox_variant: tuple[str, str] | None,
) -> Iterator[dict[str, Any]]:
    """byoc configured against the (freshly reset) sandbox and Azurite, under `sandbox_variant`
    when the test names variants; yields the ports."""
    import ssl

    import httpx

    from byoc.bootstrap import reset_services
    from sandbox.__main__ import settings_for

    ports = sandbox_session.ports()
    trust = ssl.create_default_context(cafile=ports["ca_bundle"])
    for url in (ports["twilio"], ports["genesys"], ports["arm"], ports["keyvault"],
                *ports["audiocodes"]):
        httpx.post(f"{url}/_sandbox/reset", verify=trust).raise_for_status()
    if sandbox_variant is not None:
        (section, name), value = sandbox_variant[0].split(".", 1), sandbox_variant[1]
        urls = ports["audiocodes"] if section == "audiocodes" else [ports[section]]
        for url in urls:
            httpx.post(f"{url}/_sandbox/variants", json={name: value},
                       verify=trust).raise_for_status()
    for plain in ("BYOC_TWILIO_AUTH_TOKEN", "BYOC_GENESYS_CLIENT_SECRET", "BYOC_SBC_PASSWORD"):
        monkeypatch.delenv(plain, raising=False)  # the sandbox's secrets come from its Key Vault
    for key, value in settings_for(ports, azurite=byoc_env["AzureWebJobsStorage"]).items():
        monkeypatch.setenv(key, value)
    reset_services()
    yield ports
    reset_services()
