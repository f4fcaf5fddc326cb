"""The real `azure-keyvault-secrets` SDK against the Key Vault emulator, through what byoc reads."""

from __future__ import annotations

import base64
import copy
import gc
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from byoc.adapters.identity import StaticTokenCredential
from sandbox.core import LoggedRequest, ServedApp, build_app
from sandbox.keyvault import KeyVaultEmulator
from sandbox.launcher import issue_seed_certificates
from sandbox.pki import IssuedCertificate, SandboxPki

pytestmark = pytest.mark.integration

SEEDS = Path(__file__).parents[3] / "sandbox/seeds"
SEED = yaml.safe_load((SEEDS / "keyvault.yaml").read_text())
CERTIFICATES = yaml.safe_load((SEEDS / "certificates.yaml").read_text())
SANS = ["sbc1.byoc.example.net", "sbc2.byoc.example.net"]


@dataclass
class Vault:
    emulator: KeyVaultEmulator
    url: str
    ca_bundle: str
    certificates: dict[str, list[IssuedCertificate]]

    def client(self, token: str = "sandbox-azure-token") -> SecretClient:
        return SecretClient(
            self.url,
            StaticTokenCredential(token),
            verify_challenge_resource=False,
            connection_verify=self.ca_bundle,
        )

    def sandbox(self, path: str, body: Any) -> httpx.Response:
        trust = ssl.create_default_context(cafile=self.ca_bundle)
        return httpx.post(f"{self.url}{path}", json=body, verify=trust)


def serve(workdir: Path, seed: dict[str, Any]) -> Iterator[Vault]:
    pki = SandboxPki()
    certificates = issue_seed_certificates(pki, CERTIFICATES)
    emulator = KeyVaultEmulator(seed, certificates=certificates, pki=pki)
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(workdir, "https")).start()
    try:
        yield Vault(emulator, server.url, str(pki.write_ca_bundle(workdir / "ca.pem")), certificates)
    finally:
        gc.collect()  # frees connections held by expected SDK exceptions, so the stop is quick
        server.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vault]:
    yield from serve(tmp_path_factory.mktemp("kv"), copy.deepcopy(SEED))


@pytest.fixture
def vault(served: Vault) -> Vault:
    with served.emulator.lock:
        served.emulator.reset()
    served.emulator.faults.clear()
    served.emulator.log.clear()
    return served


@pytest.fixture
def client(vault: Vault) -> Iterator[SecretClient]:
    with vault.client() as secrets:
        yield secrets


def logged(emulator: KeyVaultEmulator, count: int) -> list[LoggedRequest]:
    """The request log once it holds `count` entries (the last one is written after its reply)."""
    deadline = time.monotonic() + 5
    while len(emulator.log.entries()) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    return emulator.log.entries()


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def test_challenge_then_bearer(vault: Vault, client: SecretClient) -> None:
    client.get_secret("sbc-password")
    client.get_secret("sbc-password")

    calls = [(e.method, e.path, e.status) for e in logged(vault.emulator, 3)]
    assert calls == [
        ("GET", "/secrets/sbc-password/", 401),  # unauthenticated probe answers the challenge
        ("GET", "/secrets/sbc-password/", 200),
        ("GET", "/secrets/sbc-password/", 200),  # the challenge is cached
    ]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("twilio-auth-token", "sandbox-twilio-auth-token"),
        ("genesys-client-secret", "sandbox-genesys-secret"),
        ("sbc-password", "sandbox-sbc-password"),
        ("genesys-events-secret", "sandbox-events-secret"),
    ],
)
def test_plain_secrets_hold_the_estate_constants(
    client: SecretClient, name: str, value: str
) -> None:
    secret = client.get_secret(name)

    assert secret.value == value
    assert secret.properties.managed is not True
    assert secret.properties.enabled is True
    assert secret.properties.version and len(secret.properties.version) == 32


def test_certificate_secret_is_a_pfx_without_password(vault: Vault, client: SecretClient) -> None:
    secret = client.get_secret("sbc-tls")

    assert secret.properties.content_type == "application/x-pkcs12"
    assert secret.properties.managed is True
    assert secret.properties.key_id == f"{vault.url}/keys/sbc-tls/{secret.properties.version}"
    assert secret.value is not None
    key, cert, chain = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
    assert key is not None and cert is not None
    newest = vault.certificates["sbc-tls"][-1]
    assert fingerprint(cert) == newest.fingerprint_sha256()
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.PEM, spki) == (
        cert.public_key().public_bytes(serialization.Encoding.PEM, spki)
    )
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == SANS
    assert [c.subject for c in chain] == [c.subject for c in newest.chain]
    assert secret.properties.not_before is not None and secret.properties.expires_on is not None


def test_versions_list_pages_and_sorts_by_creation(vault: Vault, client: SecretClient) -> None:
    versions = sorted(
        client.list_properties_of_secret_versions("sbc-tls", max_page_size=1),
        key=lambda p: p.created_on or 0,
    )

    issued = vault.certificates["sbc-tls"]
    assert len(versions) == len(issued) == 2
    for props, expected in zip(versions, issued, strict=True):
        assert props.version is not None
        secret = client.get_secret("sbc-tls", props.version)
        assert secret.value is not None
        _, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
        assert cert is not None and fingerprint(cert) == expected.fingerprint_sha256()
    pages = [e for e in logged(vault.emulator, 4) if e.path.endswith("/versions")]
    assert len([p for p in pages if p.status == 200]) == 2  # second page via nextLink


def test_a_version_read_twice_is_byte_identical(client: SecretClient) -> None:
    first = client.get_secret("sbc-tls")
    again = client.get_secret("sbc-tls", first.properties.version)

    assert first.value == again.value


def test_out_content_type_converts_to_pem(client: SecretClient) -> None:
    secret = client.get_secret("sbc-tls", out_content_type="application/x-pem-file")

    assert secret.properties.content_type == "application/x-pem-file"
    assert secret.value is not None
    pem = secret.value.encode()
    assert serialization.load_pem_private_key(pem, None) is not None
    assert len(x509.load_pem_x509_certificates(pem)) == 2  # leaf and intermediate


def test_pem_content_type_from_the_seed(tmp_path: Path) -> None:
    seed = copy.deepcopy(SEED)
    seed["certificates"]["sbc-tls"]["content_type"] = "application/x-pem-file"
    for vault in serve(tmp_path, seed):
        with vault.client() as client:
            secret = client.get_secret("sbc-tls")
        assert secret.properties.content_type == "application/x-pem-file"
        assert secret.value is not None
        leaf = x509.load_pem_x509_certificates(secret.value.encode())[0]
        assert fingerprint(leaf) == vault.certificates["sbc-tls"][-1].fingerprint_sha256()


def test_set_secret_adds_a_version(client: SecretClient) -> None:
    before = client.get_secret("sbc-password")

    written = client.set_secret("sbc-password", "rotated-password", content_type="text/plain")

    assert written.properties.version != before.properties.version
    latest = client.get_secret("sbc-password")
    assert (latest.value, latest.properties.content_type) == ("rotated-password", "text/plain")
    assert client.get_secret("sbc-password", before.properties.version).value == before.value
    assert len(list(client.list_properties_of_secret_versions("sbc-password"))) == 2


def test_disabling_a_version_with_the_sdk(client: SecretClient) -> None:
    written = client.set_secret("scratch", "v1")

    updated = client.update_secret_properties("scratch", written.properties.version, enabled=False)

    assert updated.enabled is False
    listed = list(client.list_properties_of_secret_versions("scratch"))
    assert [p.enabled for p in listed] == [False]


def test_list_secrets_names_every_secret(client: SecretClient) -> None:
    names = {p.name for p in client.list_properties_of_secrets()}

    assert names == {
        "twilio-auth-token", "genesys-client-secret", "sbc-password", "genesys-events-secret",
        "sbc-tls",
    }


def test_new_certificate_version_becomes_current(vault: Vault, client: SecretClient) -> None:
    issued = vault.sandbox("/_sandbox/keyvault/new-certificate-version", {"name": "sbc-tls"})

    assert issued.status_code == 200
    body = issued.json()
    secret = client.get_secret("sbc-tls")
    assert secret.properties.version == body["version"]
    assert secret.value is not None
    _, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
    assert cert is not None and fingerprint(cert) == body["fingerprint_sha256"]
    assert body["dns_names"] == SANS and body["key_matches"] is True
    assert len(list(client.list_properties_of_secret_versions("sbc-tls"))) == 3


@pytest.mark.parametrize(
    ("flaw", "check"),
    [
        ("expired", "expired"),
        ("wrong_san", "san"),
        ("key_mismatch", "key"),
    ],
)
def test_new_certificate_version_with_a_flaw(
    vault: Vault, client: SecretClient, flaw: str, check: str
) -> None:
    vault.sandbox("/_sandbox/keyvault/new-certificate-version", {"name": "sbc-tls", flaw: True})

    secret = client.get_secret("sbc-tls")
    assert secret.value is not None
    key, cert, extra = pkcs12.load_key_and_certificates(base64.b64decode(secret.value), None)
    if check == "key":
        # The key belongs to no certificate in the bundle, so no certificate is paired with it.
        assert key is not None and cert is None
        assert len(extra) == 2
        return
    assert cert is not None
    if check == "expired":
        assert secret.properties.expires_on is not None
        assert cert.not_valid_after_utc < datetime.now(UTC)
    else:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert not set(sans.get_values_for_type(x509.DNSName)) & set(SANS)
