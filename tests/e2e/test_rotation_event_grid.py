"""Rotation through the function entrypoints: a Key Vault Event Grid event (or the daily timer)
queues a job on Azurite, the queue function runs the worker, and the SBCs of the sandbox present
the new certificate on their SIP TLS ports."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

import function_app  # noqa: F401 - registers the blueprints
from byoc.entrypoints.functions import events, queue, timers
from sandbox.__main__ import settings_for
from sandbox.launcher import Sandbox, load_seed, start_sandbox

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    running = start_sandbox(load_seed())
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def sandbox_env(
    sandbox: Sandbox, byoc_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """byoc's settings pointing at the sandbox (as `byoc sandbox env` prints them) and Azurite."""
    from byoc.bootstrap import reset_services

    for url in [*sandbox.ports()["audiocodes"], sandbox.ports()["keyvault"]]:
        _post(sandbox, f"{url}/_sandbox/reset")
    env = settings_for(sandbox.ports(), azurite=byoc_env["AzureWebJobsStorage"])
    for key in ("BYOC_INVENTORY_TABLE", "BYOC_OPERATIONS_TABLE", "BYOC_STATE_TABLE",
                "BYOC_LOCK_CONTAINER"):
        env[key] = byoc_env[key]
    for key in byoc_env:
        if key not in env:  # plain local secrets would win over the sandbox's Key Vault ones
            monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_services()
    yield sandbox.ports()
    reset_services()


def _post(sandbox: Sandbox, url: str) -> None:
    import httpx

    httpx.post(url, verify=ssl.create_default_context(cafile=str(sandbox.ca_bundle))
               ).raise_for_status()


def presented(sandbox: Sandbox, index: int) -> str:
    host, port = sandbox.ports()["audiocodes_tls"][index].rsplit(":", 1)
    fqdn = sandbox.ports()["estate"]["sbcs"][index]["fqdn"]
    context = ssl.create_default_context(cafile=str(sandbox.ca_bundle))
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname=fqdn
    ) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex().upper()


def key_vault_event(event_type: str, name: str, version: str) -> func.EventGridEvent:
    now = dt.datetime.now(dt.UTC)
    return func.EventGridEvent(
        id="5a1b0d3e-0000-4000-8000-000000000001",
        data={
            "Id": f"https://sandbox.vault.azure.net/certificates/{name}/{version}",
            "VaultName": "sandbox", "ObjectType": "Certificate", "ObjectName": name,
            "Version": version, "NBF": int(now.timestamp()), "EXP": int(now.timestamp()) + 86400,
        },
        topic="/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/byoc/"
              "providers/Microsoft.KeyVault/vaults/sandbox",
        subject=name,
        event_type=event_type,
        event_time=now,
        data_version="1",
    )


def run_queued_jobs() -> list[str]:
    """Deliver every queued message to the queue function, as the host does; their bodies."""
    from byoc.bootstrap import get_services

    job_queue = get_services().queue
    bodies = []
    for message in job_queue.receive(max_messages=32, visibility_timeout_s=120):
        queue.byoc_jobs(QueueMessage(id=message.id, body=message.body.encode(),
                                     dequeue_count=message.dequeue_count))
        job_queue.delete(message)
        bodies.append(message.body)
    return bodies


def current_version(sandbox: Sandbox) -> tuple[str, str]:
    state = sandbox.emulators["keyvault"].state()
    current = state["secrets"]["sbc-tls"]["versions"][-1]
    return current["version"], current["fingerprint_sha256"]


def test_a_new_certificate_version_event_rotates_every_sbc(sandbox_env: dict[str, Any],
                                                           sandbox: Sandbox) -> None:
    from byoc.bootstrap import get_services

    version, fingerprint = current_version(sandbox)
    assert presented(sandbox, 0) != fingerprint

    events.keyvault_certificate_events(
        key_vault_event("Microsoft.KeyVault.CertificateNewVersionCreated", "sbc-tls", version)
    )
    bodies = run_queued_jobs()

    assert len(bodies) == 1 and f'"certificate_version":"{version}"' in bodies[0]
    services = get_services()
    assert presented(sandbox, 0) == fingerprint
    assert presented(sandbox, 1) == fingerprint
    health = services.state.items("health")
    assert health["certificate:sbc1"]["status"] == "ok"
    assert health["certificate:sbc2"]["key_vault_version"] == version
    operations = {r["operation"] for r in services.operations.recent(target="sbc:sbc1")}
    assert {"certificate.upload_private_key", "certificate.upload_certificate",
            "certificate.save_configuration", "certificate.verify",
            "certificate.rotate"} <= operations
    assert services.queue.depth(poison=True) == 0


def test_an_event_for_another_certificate_queues_nothing(sandbox_env: dict[str, Any],
                                                         sandbox: Sandbox) -> None:
    events.keyvault_certificate_events(
        key_vault_event("Microsoft.KeyVault.CertificateNewVersionCreated", "web-tls", "0" * 32)
    )
    assert run_queued_jobs() == []


def test_the_daily_timer_rotates_to_key_vaults_current_version(sandbox_env: dict[str, Any],
                                                               sandbox: Sandbox) -> None:
    _, fingerprint = current_version(sandbox)

    timers.certificate_rotation(TimerRequest(past_due=False))
    bodies = run_queued_jobs()

    assert len(bodies) == 1 and '"type":"rotate_certificate"' in bodies[0]
    assert presented(sandbox, 1) == fingerprint
