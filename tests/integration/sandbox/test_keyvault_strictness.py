"""The Key Vault emulator refuses what Key Vault refuses, in Key Vault's error shape."""

from __future__ import annotations

import copy
import gc
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)
from azure.keyvault.secrets import SecretClient

from byoc.adapters.identity import StaticTokenCredential
from sandbox.core import ServedApp, build_app
from sandbox.keyvault import KeyVaultEmulator
from sandbox.launcher import issue_seed_certificates
from sandbox.pki import SandboxPki

pytestmark = pytest.mark.integration

SEEDS = Path(__file__).parents[3] / "sandbox/seeds"
SEED = yaml.safe_load((SEEDS / "keyvault.yaml").read_text())
CERTIFICATES = yaml.safe_load((SEEDS / "certificates.yaml").read_text())
API = "api-version=2026-04-01"
TOKEN = {"Authorization": "Bearer sandbox-azure-token"}
CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000",'
    ' resource="https://vault.azure.net"'
)


@dataclass
class Vault:
    emulator: KeyVaultEmulator
    url: str
    ca_bundle: str
    http: httpx.Client

    def get(self, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self.http.get(f"{self.url}{path}", headers=TOKEN if headers is None else headers)

    def client(self, token: str = "sandbox-azure-token") -> SecretClient:
        return SecretClient(
            self.url,
            StaticTokenCredential(token),
            verify_challenge_resource=False,
            connection_verify=self.ca_bundle,
            retry_total=0,
        )



def trust(pki: SandboxPki, workdir: Path) -> ssl.SSLContext:
    """An SSL context trusting the sandbox CA."""
    return ssl.create_default_context(cafile=pki.write_ca_bundle(workdir / "ca.pem"))


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[KeyVaultEmulator, str, str]]:
    workdir = tmp_path_factory.mktemp("kv")
    pki = SandboxPki()
    emulator = KeyVaultEmulator(
        copy.deepcopy(SEED),
        certificates=issue_seed_certificates(pki, CERTIFICATES),
        pki=pki,
    )
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(workdir, "https")).start()
    try:
        yield emulator, server.url, str(pki.write_ca_bundle(workdir / "ca.pem"))
    finally:
        gc.collect()  # frees connections held by expected SDK exceptions, so the stop is quick
        server.stop()


@pytest.fixture
def vault(served: tuple[KeyVaultEmulator, str, str]) -> Iterator[Vault]:
    emulator, url, ca_bundle = served
    with emulator.lock:
        emulator.reset()
    with httpx.Client(verify=ssl.create_default_context(cafile=ca_bundle)) as http:
        yield Vault(emulator, url, ca_bundle, http)


@pytest.fixture
def client(vault: Vault) -> Iterator[SecretClient]:
    with vault.client() as secrets:
        yield secrets


def error(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return dict(body["error"])


def test_unauthenticated_request_gets_the_challenge(vault: Vault) -> None:
    response = vault.get(f"/secrets/sbc-password/?{API}", headers={})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    assert error(response)["code"] == "Unauthorized"


def test_wrong_token_is_refused(vault: Vault) -> None:
    response = vault.get(f"/secrets/sbc-password/?{API}", headers={"Authorization": "Bearer nope"})

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == CHALLENGE
    with vault.client("not-the-token") as client, pytest.raises(ClientAuthenticationError):
        client.get_secret("sbc-password")


def test_basic_auth_is_refused(vault: Vault) -> None:
    response = vault.get(f"/secrets/sbc-password/?{API}", headers={"Authorization": "Basic eDp5"})

    assert response.status_code == 401


def test_tenant_in_the_challenge_comes_from_the_seed(tmp_path: Path) -> None:
    seed = {**copy.deepcopy(SEED), "tenant_id": "11111111-2222-3333-4444-555555555555"}
    emulator = KeyVaultEmulator(seed, certificates={})
    pki = SandboxPki()
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(tmp_path, "https")).start()
    try:
        response = httpx.get(
            f"{server.url}/secrets/sbc-password/?{API}",
            verify=trust(pki, tmp_path),
        )
    finally:
        server.stop()

    assert "microsoftonline.com/11111111-2222-3333-4444-555555555555" in (
        response.headers["WWW-Authenticate"]
    )


@pytest.mark.parametrize("query", ["", "?api-version=", "?api-version=latest"])
def test_api_version_is_required(vault: Vault, query: str) -> None:
    response = vault.get(f"/secrets/sbc-password/{query}")

    assert response.status_code == 400
    assert error(response)["code"] == "BadParameter"


def test_unknown_secret_is_404(vault: Vault, client: SecretClient) -> None:
    response = vault.get(f"/secrets/no-such-secret/?{API}")

    assert response.status_code == 404
    assert error(response)["code"] == "SecretNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("no-such-secret")
    with pytest.raises(ResourceNotFoundError):
        list(client.list_properties_of_secret_versions("no-such-secret"))


def test_unknown_version_is_404(vault: Vault, client: SecretClient) -> None:
    response = vault.get(f"/secrets/sbc-password/{'0' * 32}?{API}")

    assert response.status_code == 404
    assert error(response)["code"] == "SecretNotFound"
    with pytest.raises(ResourceNotFoundError):
        client.get_secret("sbc-tls", "f" * 32)


def test_disabled_version_is_forbidden(vault: Vault, client: SecretClient) -> None:
    oldest = min(
        client.list_properties_of_secret_versions("sbc-tls"),
        key=lambda p: p.created_on or datetime.max.replace(tzinfo=UTC),
    )
    vault.http.post(
        f"{vault.url}/_sandbox/keyvault/set-enabled",
        json={"name": "sbc-tls", "version": oldest.version, "enabled": False},
    )

    response = vault.get(f"/secrets/sbc-tls/{oldest.version}?{API}")

    assert response.status_code == 403
    assert error(response) == {
        "code": "Forbidden",
        "message": "Operation get is not allowed on a disabled secret.",
        "innererror": {"code": "SecretDisabled"},
    }
    with pytest.raises(HttpResponseError) as refused:
        client.get_secret("sbc-tls", oldest.version)
    assert refused.value.status_code == 403
    assert client.get_secret("sbc-tls").value  # the current version is still readable
    listed = {p.version: p.enabled for p in client.list_properties_of_secret_versions("sbc-tls")}
    assert listed[oldest.version] is False


def test_disabled_current_version_is_not_skipped(vault: Vault, client: SecretClient) -> None:
    client.set_secret("scratch", "v1")
    newest = client.set_secret("scratch", "v2")
    client.update_secret_properties("scratch", newest.properties.version, enabled=False)

    with pytest.raises(HttpResponseError) as refused:
        client.get_secret("scratch")

    assert refused.value.status_code == 403


def test_disabled_versions_from_the_seed(tmp_path: Path) -> None:
    seed = copy.deepcopy(SEED)
    seed["certificates"]["sbc-tls"]["disabled_versions"] = [0]
    seed["secrets"]["sbc-password"] = {"versions": [{"value": "old", "enabled": False}]}
    pki = SandboxPki()
    emulator = KeyVaultEmulator(seed, certificates=issue_seed_certificates(pki, CERTIFICATES))

    versions = emulator.state()["secrets"]

    assert [v["enabled"] for v in versions["sbc-tls"]["versions"]] == [False, True]
    assert [v["enabled"] for v in versions["sbc-password"]["versions"]] == [False]


def test_certificate_backed_secret_cannot_be_set(client: SecretClient) -> None:
    with pytest.raises(ResourceExistsError) as refused:
        client.set_secret("sbc-tls", "not a certificate")

    assert refused.value.status_code == 409


@pytest.mark.parametrize("name", ["under_score", "dot.name", "x" * 128])
def test_invalid_secret_names_are_refused(vault: Vault, name: str) -> None:
    response = vault.http.put(
        f"{vault.url}/secrets/{name}?{API}", json={"value": "v"}, headers=TOKEN
    )

    assert response.status_code == 400
    assert error(response)["code"] == "BadParameter"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"value": 5},
        {"value": "x" * (25 * 1024 + 1)},
        {"value": "v", "tags": []},
        {"value": "v", "attributes": {"exp": "tomorrow"}},
        {"value": "v", "attributes": {"enabled": "yes"}},
    ],
)
def test_invalid_secret_bodies_are_refused(vault: Vault, body: dict[str, Any]) -> None:
    response = vault.http.put(f"{vault.url}/secrets/scratch?{API}", json=body, headers=TOKEN)

    assert response.status_code == 400
    assert error(response)["code"] == "BadParameter"


@pytest.mark.parametrize("maxresults", ["0", "26", "many"])
def test_page_size_is_1_to_25(vault: Vault, maxresults: str) -> None:
    response = vault.get(f"/secrets/sbc-tls/versions?{API}&maxresults={maxresults}")

    assert response.status_code == 400
    assert error(response)["code"] == "BadParameter"


def test_out_content_type_only_for_certificates(vault: Vault) -> None:
    plain = vault.get(f"/secrets/sbc-password/?{API}&outContentType=application/x-pem-file")
    bogus = vault.get(f"/secrets/sbc-tls/?{API}&outContentType=text/plain")

    assert plain.status_code == bogus.status_code == 400


def test_managed_secret_properties_cannot_be_patched(vault: Vault) -> None:
    response = vault.http.patch(
        f"{vault.url}/secrets/sbc-tls/?{API}", json={"attributes": {"enabled": False}}, headers=TOKEN
    )

    assert response.status_code == 403


def test_unknown_certificate_is_404(vault: Vault) -> None:
    response = vault.get(f"/certificates/sbc-password?{API}")

    assert response.status_code == 404
    assert error(response)["code"] == "CertificateNotFound"


def test_new_certificate_version_needs_the_pki(tmp_path: Path) -> None:
    emulator = KeyVaultEmulator(copy.deepcopy(SEED), certificates={})
    pki = SandboxPki()
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(tmp_path, "https")).start()
    try:
        response = httpx.post(
            f"{server.url}/_sandbox/keyvault/new-certificate-version",
            json={"name": "sbc-tls"},
            verify=trust(pki, tmp_path),
        )
    finally:
        server.stop()

    assert response.status_code == 409
    assert "pki" in response.json()["error"]


def test_new_version_of_a_plain_secret_is_refused(vault: Vault) -> None:
    response = vault.http.post(
        f"{vault.url}/_sandbox/keyvault/new-certificate-version", json={"name": "sbc-password"}
    )

    assert response.status_code == 409


def test_certificate_endpoints_give_the_public_part_only(vault: Vault) -> None:
    current = vault.get(f"/certificates/sbc-tls/?{API}").json()
    versions = vault.get(f"/certificates/sbc-tls/versions?{API}").json()

    assert {"id", "kid", "sid", "x5t", "cer", "attributes", "policy"} <= set(current)
    assert "value" not in current
    assert current["policy"]["secret_props"]["contentType"] == "application/x-pkcs12"
    assert len(versions["value"]) == 2 and versions["nextLink"] is None
