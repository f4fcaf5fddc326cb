"""Certificate rotation against the sandbox: the Key Vault emulator through azure-keyvault-secrets
(HTTPS, challenge auth, static token), two AudioCodes SBC emulators through the REST adapter, and
live TLS handshakes with their SIP TLS listeners, which present the context's live certificate."""

from __future__ import annotations

import base64
import json
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from fakes import FakeLocks, FakeOperations, FakeQueue, FakeState

from byoc.adapters.audiocodes_tls import AudioCodesTlsContext, SipTlsHandshake
from byoc.adapters.identity import StaticTokenCredential
from byoc.adapters.keyvault import KeyVaultSecrets
from byoc.adapters.retry import Backoff
from byoc.domain.certs import PEM_CONTENT_TYPE, PKCS12_CONTENT_TYPE
from byoc.services.certificate_report import RotationOutcome, RotationReport
from byoc.services.certificate_sources import load_trust_roots
from byoc.services.certificates import CertificateRotation
from byoc.settings import Settings, load_settings
from sandbox.audiocodes import AudioCodesEmulator
from sandbox.core import ServedApp, build_app
from sandbox.keyvault import KeyVaultEmulator
from sandbox.launcher import issue_seed_certificates
from sandbox.pki import IssuedCertificate, SandboxPki

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "sandbox" / "seeds"
TOKEN = "sandbox-azure-token"
SBC_PASSWORD = "sandbox-sbc-password"


@dataclass
class SandboxSbc:
    emulator: AudioCodesEmulator
    server: ServedApp
    sip_tls: str
    fqdn: str


@dataclass
class Sandbox:
    ca_file: str
    certificates: dict[str, list[IssuedCertificate]]
    vault: ServedApp
    vault_emulator: KeyVaultEmulator
    sbcs: dict[str, SandboxSbc]

    def trust(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def control(self, url: str, path: str, body: Any = None, method: str = "POST") -> Any:
        response = httpx.request(method, f"{url}{path}", json=body, verify=self.trust())
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control(self.vault.url, "/_sandbox/reset")
        for sbc in self.sbcs.values():
            self.control(sbc.server.url, "/_sandbox/reset")

    def new_version(self, **spec: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.control(
            self.vault.url, "/_sandbox/keyvault/new-certificate-version", {"name": "sbc-tls", **spec}
        )
        return result

    def fault(self, sbc: str, kind: str, **extra: Any) -> None:
        self.control(self.sbcs[sbc].server.url, "/_sandbox/faults", {"kind": kind, **extra})

    def writes(self, sbc: str) -> list[str]:
        log = self.control(self.sbcs[sbc].server.url, "/_sandbox/requests", method="GET")
        return [f"{r['method']} {r['path']}" for r in log["requests"] if r["method"] != "GET"]

    def presented(self, sbc: str) -> str:
        """SHA-256 of the leaf a verifying client sees on the SBC's SIP TLS port (SNI = FQDN)."""
        host, port = self.sbcs[sbc].sip_tls.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=5) as raw, self.trust().wrap_socket(
            raw, server_hostname=self.sbcs[sbc].fqdn
        ) as tls:
            der = tls.getpeercert(binary_form=True)
        assert der is not None
        return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex().upper()

    def fingerprint(self, version: int) -> str:
        return self.certificates["sbc-tls"][version].fingerprint_sha256()

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "twilio_account_sid": "AC" + "0" * 32,
            "twilio_trunk_sid": "TK" + "0" * 32,
            "twilio_auth_token": "test-token",
            "genesys_client_id": "client",
            "genesys_client_secret": "secret",
            "sbc_password": SBC_PASSWORD,
            "storage_connection_string": "UseDevelopmentStorage=true",
            "policy_path": str(ROOT / "policy.example.yaml"),
            "sbcs": [
                {"name": name, "management_url": sbc.server.url, "fqdn": sbc.fqdn,
                 "probe_host": sbc.sip_tls}
                for name, sbc in self.sbcs.items()
            ],
            "keyvault_url": self.vault.url,
            "keyvault_verify_challenge_resource": False,
            "azure_credential": "static-token",
            "azure_static_token": TOKEN,
            "ca_bundle": self.ca_file,
            "cert_trust_bundle": self.ca_file,
            "certificate_name": "sbc-tls",
        }
        values.update(overrides)
        return load_settings(**values)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    pki = SandboxPki()
    certificates = issue_seed_certificates(
        pki, yaml.safe_load((SEEDS / "certificates.yaml").read_text())
    )
    workdir = tmp_path_factory.mktemp("certificates")
    https = pki.write_server_files(workdir, "https")
    ca_file = str(pki.write_ca_bundle(workdir / "ca.pem"))
    vault_emulator = KeyVaultEmulator(
        yaml.safe_load((SEEDS / "keyvault.yaml").read_text()), certificates=certificates, pki=pki
    )
    vault = ServedApp(build_app(vault_emulator), tls=https).start()
    seed = yaml.safe_load((SEEDS / "audiocodes.yaml").read_text())
    sbcs: dict[str, SandboxSbc] = {}
    try:
        for entry in seed["sbcs"]:
            emulator = AudioCodesEmulator(
                {**entry, "credentials": seed["credentials"]}, pki=pki, certificates=certificates
            )
            server = ServedApp(build_app(emulator), tls=https).start()
            sbcs[entry["name"]] = SandboxSbc(emulator, server, emulator.start_tls_listener(),
                                             entry["fqdn"])
        yield Sandbox(ca_file, certificates, vault, vault_emulator, sbcs)
    finally:
        for sbc in sbcs.values():
            sbc.emulator.stop_tls_listener()
            sbc.server.stop()
        vault.stop()


@dataclass
class Run:
    service: CertificateRotation
    operations: FakeOperations
    state: FakeState

    def rotate(self, **kwargs: Any) -> RotationReport:
        kwargs.setdefault("correlation_id", "sandbox-run-1")
        return self.service.rotate(**kwargs)


def rotation(
    sandbox: Sandbox, settings: Settings | None = None, retry: Backoff | None = None
) -> Run:
    """The service wired as bootstrap wires it, with real adapters; byoc's own tables faked."""
    settings = settings or sandbox.settings()
    assert settings.keyvault_url and settings.cert_trust_bundle
    secrets = KeyVaultSecrets(settings.keyvault_url, StaticTokenCredential(TOKEN),
                              verify_challenge_resource=False, ca_bundle=settings.ca_bundle)
    operations, state = FakeOperations(), FakeState()
    service = CertificateRotation(
        settings=settings,
        secrets=secrets,
        sbc_tls=lambda sbc: AudioCodesTlsContext(
            sbc.management_url, settings.sbc_username, lambda: SBC_PASSWORD,
            context=sbc.tls_context, name=sbc.name, ca_bundle=settings.ca_bundle,
            retry=retry or Backoff(attempts=3, base_s=0.05),
        ),
        handshake=SipTlsHandshake(trust_file=settings.cert_trust_bundle, timeout_s=5),
        trust_roots=lambda: load_trust_roots(str(settings.cert_trust_bundle)),
        operations=operations,
        state=state,
        locks=FakeLocks(),
        queue=FakeQueue(),
        verify_attempts=2,
        verify_interval_s=0.2,
    )
    return Run(service, operations, state)


@pytest.fixture
def fresh(sandbox: Sandbox) -> Sandbox:
    sandbox.reset()
    return sandbox


# --- rotations ----------------------------------------------------------------------------------


def test_both_sbcs_get_key_vaults_current_certificate_and_present_it_on_their_sip_tls_port(
    fresh: Sandbox,
) -> None:
    assert fresh.presented("sbc1") == fresh.fingerprint(0)

    run = rotation(fresh)
    report = run.rotate()

    assert report.ok, json.dumps(report.to_json(), indent=2)
    assert [s.outcome for s in report.sbcs] == [RotationOutcome.ROTATED] * 2
    for name in ("sbc1", "sbc2"):
        assert fresh.presented(name) == fresh.fingerprint(1)
        assert fresh.writes(name) == [
            "PUT /api/v1/files/tls/0/privateKey",
            "PUT /api/v1/files/tls/0/certificate",
            "POST /api/v1/actions/saveConfiguration",
        ]
        health = run.state.get("health", f"certificate:{name}")
        assert health["status"] == "ok" and health["days_left"] in (364, 365)
    assert "verified: live TLS handshake" in report.sbcs[0].steps


def test_a_second_run_finds_nothing_to_do(fresh: Sandbox) -> None:
    rotation(fresh).rotate()
    for name in fresh.sbcs:
        fresh.control(fresh.sbcs[name].server.url, "/_sandbox/requests", method="DELETE")

    report = rotation(fresh).rotate()

    assert [s.outcome for s in report.sbcs] == [RotationOutcome.UNCHANGED] * 2
    assert fresh.writes("sbc1") == [] and fresh.writes("sbc2") == []


def test_an_sbc_that_keeps_serving_the_old_certificate_is_rolled_back_and_the_next_not_touched(
    fresh: Sandbox,
) -> None:
    fresh.fault("sbc1", "keep_old_certificate", count=1)
    run = rotation(fresh)

    report = run.rotate()

    first, second = report.sbcs
    assert first.outcome is RotationOutcome.ROLLED_BACK, first.detail
    assert "still presents" in first.detail
    assert fresh.presented("sbc1") == fresh.fingerprint(0)
    assert fresh.writes("sbc1") == [
        "PUT /api/v1/files/tls/0/privateKey",
        "PUT /api/v1/files/tls/0/certificate",
        "POST /api/v1/actions/saveConfiguration",
        "PUT /api/v1/files/tls/0/privateKey",
        "PUT /api/v1/files/tls/0/certificate",
        "POST /api/v1/actions/saveConfiguration",
    ]
    assert second.outcome is RotationOutcome.NOT_REACHED
    assert fresh.writes("sbc2") == []
    assert fresh.presented("sbc2") == fresh.fingerprint(0)
    operations = [r["operation"] + ":" + r["outcome"] for r in run.operations.rows]
    assert "certificate.verify:failed" in operations and "certificate.rollback:ok" in operations
    assert run.state.get("health", "certificate:sbc1")["status"] == "degraded"


def test_ha_sync_409s_are_retried_and_the_rotation_completes(fresh: Sandbox) -> None:
    fresh.fault("sbc1", "ha_sync", count=2)
    run = rotation(fresh, retry=Backoff(attempts=4, base_s=0.01))

    report = run.rotate(sbc="sbc1")

    assert report.ok, report.to_json()
    assert fresh.presented("sbc1") == fresh.fingerprint(1)


def test_the_event_version_is_installed_when_it_is_key_vaults_current(fresh: Sandbox) -> None:
    version = fresh.new_version(days=180)

    report = rotation(fresh).rotate(certificate_version=version["version"])

    assert report.ok and report.version == version["version"]
    assert fresh.presented("sbc2") == version["fingerprint_sha256"]


def test_a_pem_certificate_rotates_like_a_pkcs12_one(fresh: Sandbox) -> None:
    with fresh.vault_emulator.lock:
        fresh.vault_emulator.secrets["sbc-tls"].content_type = PEM_CONTENT_TYPE
    version = fresh.new_version(days=90)
    assert version["content_type"] == PEM_CONTENT_TYPE

    report = rotation(fresh).rotate()

    assert report.ok
    assert fresh.presented("sbc1") == version["fingerprint_sha256"]


def test_a_dry_run_changes_nothing(fresh: Sandbox) -> None:
    run = rotation(fresh)

    report = run.rotate(dry_run=True)

    assert [s.outcome for s in report.sbcs] == [RotationOutcome.WOULD_ROTATE] * 2
    assert fresh.writes("sbc1") == [] and fresh.writes("sbc2") == []
    assert fresh.presented("sbc1") == fresh.fingerprint(0)
    assert run.operations.rows == [] and run.state.data == {}


# --- refusals -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flaw", "message"),
    [
        ({"expired": True}, "expired on"),
        ({"wrong_san": True}, "does not cover sbc1.byoc.example.net"),
        # A PFX pairs key and certificate by localKeyId: a foreign key leaves no leaf for it.
        ({"key_mismatch": True}, "holds a private key but no certificate for it"),
        ({"days": 5}, "rotation needs at least 14"),
    ],
    ids=["expired", "wrong-san", "key-mismatch", "expires-too-soon"],
)
def test_a_flawed_key_vault_version_is_refused_and_nothing_is_uploaded(
    fresh: Sandbox, flaw: dict[str, Any], message: str
) -> None:
    fresh.new_version(**flaw)

    report = rotation(fresh).rotate()

    assert report.refused is not None and message in report.refused, report.refused
    assert fresh.writes("sbc1") == [] and fresh.writes("sbc2") == []
    assert fresh.presented("sbc1") == fresh.fingerprint(0)


def _broken_pkcs12(sandbox: Sandbox) -> tuple[str, str]:
    pfx = sandbox.certificates["sbc-tls"][1].pkcs12()
    return base64.b64encode(pfx[:-40]).decode(), PKCS12_CONTENT_TYPE


def _pem_labelled_pkcs12(sandbox: Sandbox) -> tuple[str, str]:
    return sandbox.certificates["sbc-tls"][1].pem_bundle(), PKCS12_CONTENT_TYPE


def _pkcs12_labelled_pem(sandbox: Sandbox) -> tuple[str, str]:
    return base64.b64encode(sandbox.certificates["sbc-tls"][1].pkcs12()).decode(), PEM_CONTENT_TYPE


def _chain_missing(sandbox: Sandbox) -> tuple[str, str]:
    issued = sandbox.certificates["sbc-tls"][1]
    return issued.key_pem() + issued.cert_pem(), PEM_CONTENT_TYPE


@pytest.mark.parametrize(
    ("make_secret", "message"),
    [
        (_broken_pkcs12, "PKCS#12 bundle is damaged"),
        (_pem_labelled_pkcs12, "not valid base64"),
        (_pkcs12_labelled_pem, "holds no PEM blocks"),
        (_chain_missing, "incomplete chain"),
    ],
    ids=["corrupted-pkcs12", "pem-labelled-pkcs12", "pkcs12-labelled-pem", "missing-intermediate"],
)
def test_an_unreadable_or_incomplete_secret_is_refused_and_nothing_is_uploaded(
    fresh: Sandbox, make_secret: Any, message: str
) -> None:
    value, content_type = make_secret(fresh)
    settings = fresh.settings(certificate_name="imported-tls")
    assert settings.keyvault_url
    KeyVaultSecrets(settings.keyvault_url, StaticTokenCredential(TOKEN),
                    verify_challenge_resource=False, ca_bundle=fresh.ca_file)._get_client().set_secret(
        "imported-tls", value, content_type=content_type
    )

    report = rotation(fresh, settings).rotate()

    assert report.refused is not None and message in report.refused, report.refused
    assert fresh.writes("sbc1") == [] and fresh.writes("sbc2") == []


def test_status_compares_what_each_sbc_serves_with_key_vault(fresh: Sandbox) -> None:
    statuses = rotation(fresh).service.status()

    assert [s.sbc for s in statuses] == ["sbc1", "sbc2"]
    first = statuses[0]
    assert first.presented_fingerprint == first.context_fingerprint == fresh.fingerprint(0)
    assert first.chain_verified is True
    assert first.days_left in (19, 20) and first.warning_level == 30
    assert first.key_vault_version is not None and not first.matches_current
