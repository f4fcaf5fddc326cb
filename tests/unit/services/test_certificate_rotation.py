"""Certificate rotation with in-memory fakes: Key Vault versions, SBC TLS contexts whose SIP TLS port
presents the live pair, and byoc's operations log, health records and locks."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from certfactory import (
    IssuedCertificate,
    make_intermediate_ca,
    make_leaf,
    make_root_ca,
    pem_bundle,
    pkcs12_base64,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from fakes import FakeLocks, FakeOperations, FakeQueue, FakeState

from byoc.domain.certs import PEM_CONTENT_TYPE, PKCS12_CONTENT_TYPE, fingerprint_sha256
from byoc.domain.jobs import RotateCertificate
from byoc.ports import PresentedCertificate, SbcBusy, SbcStatus, TlsHandshakeFailed
from byoc.services.certificate_inspection import sip_tls_address
from byoc.services.certificate_report import (
    CertificateNotConfigured,
    CertificateSourceUnavailable,
    RotationOutcome,
    UnknownSbc,
)
from byoc.services.certificates import CertificateRotation
from byoc.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
NOW = datetime.now(UTC).replace(microsecond=0)
SBC_NAMES = ("sbc1", "sbc2")


def fqdn(name: str) -> str:
    return f"{name}.byoc.example.net"


# --- fakes --------------------------------------------------------------------------------------


class VaultError(Exception):
    def __init__(self, status_code: int | None) -> None:
        super().__init__(f"status {status_code}")
        self.status_code = status_code


@dataclass
class Version:
    version: str
    value: str
    content_type: str
    enabled: bool = True
    created_on: int = 0


@dataclass
class Secret:
    value: str
    content_type: str | None
    version: str


class FakeVault:
    """One certificate's versions, oldest first; disabled versions answer 403."""

    def __init__(self) -> None:
        self.versions: list[Version] = []
        self.reads: list[str | None] = []
        self.failure: Exception | None = None

    def add(self, value: str, content_type: str = PKCS12_CONTENT_TYPE, *,
            enabled: bool = True) -> str:
        version = f"v{len(self.versions):02d}" + "0" * 29
        self.versions.append(Version(version, value, content_type, enabled, len(self.versions)))
        return version

    def get_secret(self, name: str, version: str | None = None) -> Secret:
        self.reads.append(version)
        if self.failure is not None:
            raise self.failure
        if name != "sbc-tls":
            raise VaultError(404)
        if version is None:
            found = [v for v in self.versions if v.enabled][-1]
        else:
            match = [v for v in self.versions if v.version == version]
            if not match:
                raise VaultError(404)
            found = match[0]
            if not found.enabled:
                raise VaultError(403)
        return Secret(found.value, found.content_type, found.version)

    def list_versions(self, name: str) -> list[Version]:
        return list(self.versions)


def spki(key_or_cert: Any) -> bytes:
    return key_or_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class RequestRefused(Exception):
    pass


@dataclass
class FakeSbc:
    """A TLS context: the second half of a key/certificate pair completes it and goes live."""

    name: str
    key_spki: bytes
    cert: x509.Certificate
    trusted: list[x509.Certificate]
    live: x509.Certificate | None = None
    uploads: list[str] = field(default_factory=list)
    keep_old_certificate: int = 0
    refuse_certificate_uploads: int = 0
    busy_certificate_uploads: int = 0
    key_uploads_allowed: int | None = None
    reset_needed: bool = False
    unreachable: bool = False
    port_closed: bool = False
    saved: int = 0

    def __post_init__(self) -> None:
        self.live = self.cert

    # the port
    def read_certificate_pem(self) -> str:
        if self.unreachable:
            raise ConnectionError(f"{self.name}: connection refused")
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def private_key_valid(self) -> bool | None:
        return self.key_spki == spki(self.cert)

    def upload_private_key(self, pem: str, *, once: bool = False) -> None:
        if self.key_uploads_allowed is not None:
            if self.key_uploads_allowed == 0:
                self.uploads.append("key refused")
                raise SbcBusy(f"{self.name}: PUT privateKey: 503")
            self.key_uploads_allowed -= 1
        self.uploads.append("key")
        key = serialization.load_pem_private_key(pem.encode(), None)
        self.key_spki = spki(key)
        self._maybe_live()

    def upload_certificate(self, pem: str) -> None:
        if self.refuse_certificate_uploads:
            self.refuse_certificate_uploads -= 1
            self.uploads.append("certificate refused")
            raise RequestRefused("400 (the certificate does not match the private key)")
        if self.busy_certificate_uploads:
            self.busy_certificate_uploads -= 1
            self.uploads.append("certificate 503")
            raise SbcBusy(f"{self.name}: PUT certificate: 503 after 1 attempt(s)")
        self.uploads.append("certificate")
        assert pem.count("BEGIN CERTIFICATE") == 1, "only the leaf goes to the context"
        self.cert = x509.load_pem_x509_certificate(pem.encode())
        self._maybe_live()

    def read_trusted_roots_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.trusted)

    def add_trusted_root(self, pem: str) -> None:
        self.uploads.append("trusted root")
        self.trusted.append(x509.load_pem_x509_certificate(pem.encode()))

    def replace_trusted_roots(self, pem: str) -> None:
        self.uploads.append("trusted roots replaced")
        self.trusted = x509.load_pem_x509_certificates(pem.encode()) if pem else []

    def save_configuration(self) -> None:
        self.uploads.append("save")
        self.saved += 1

    def status(self) -> SbcStatus:
        return SbcStatus("ACTIVE", "Not Operational", "7.40A", False, self.reset_needed)

    def close(self) -> None:
        pass

    def _maybe_live(self) -> None:
        if self.key_spki != spki(self.cert):
            return
        if self.keep_old_certificate:
            self.keep_old_certificate -= 1
            return
        self.live = self.cert

    # what the SIP TLS port presents
    def presented(self) -> PresentedCertificate:
        if self.port_closed:
            raise TlsHandshakeFailed(f"{self.name}: connection refused", reached=False)
        if self.key_spki != spki(self.cert) and self.live is self.cert:
            raise TlsHandshakeFailed(f"{self.name}: handshake broke off", reached=True)
        assert self.live is not None
        verified = any(c.subject == self.live.issuer for c in self.trusted)
        return PresentedCertificate(
            leaf_der=self.live.public_bytes(serialization.Encoding.DER),
            chain_verified=verified,
            verify_error=None if verified else "unable to get local issuer certificate",
        )


class FakeHandshake:
    def __init__(self, sbcs: dict[str, FakeSbc]) -> None:
        self.sbcs = sbcs
        self.calls: list[tuple[str, int, str]] = []

    def presented_certificate(self, host: str, port: int, server_name: str) -> PresentedCertificate:
        self.calls.append((host, port, server_name))
        return self.sbcs[host.removesuffix("-sip")].presented()


# --- the estate ---------------------------------------------------------------------------------


@dataclass
class Estate:
    root: IssuedCertificate
    intermediate: IssuedCertificate
    vault: FakeVault
    sbcs: dict[str, FakeSbc]
    settings: Settings
    operations: FakeOperations = field(default_factory=FakeOperations)
    state: FakeState = field(default_factory=FakeState)
    locks: FakeLocks = field(default_factory=FakeLocks)
    queue: FakeQueue = field(default_factory=FakeQueue)
    handshake: FakeHandshake | None = None
    new: IssuedCertificate | None = None
    new_version: str = ""

    def leaf(self, *, days: int = 365, sans: tuple[str, ...] | None = None,
             issuer: IssuedCertificate | None = None, **kwargs: Any) -> IssuedCertificate:
        return make_leaf(
            issuer or self.intermediate,
            sans=sans if sans is not None else tuple(fqdn(n) for n in SBC_NAMES),
            not_after=kwargs.pop("not_after", NOW + timedelta(days=days)),
            **kwargs,
        )

    def add_version(self, leaf: IssuedCertificate, chain: tuple[x509.Certificate, ...] | None = None,
                    content_type: str = PKCS12_CONTENT_TYPE) -> str:
        chain = (self.intermediate.certificate,) if chain is None else chain
        value = (pkcs12_base64(leaf, chain) if content_type == PKCS12_CONTENT_TYPE
                 else pem_bundle(leaf, chain))
        return self.vault.add(value, content_type)

    def service(self, **options: Any) -> CertificateRotation:
        self.handshake = FakeHandshake(self.sbcs)
        return CertificateRotation(
            settings=self.settings,
            secrets=self.vault,
            sbc_tls=lambda sbc: self.sbcs[sbc.name],
            handshake=self.handshake,
            trust_roots=lambda: [self.root.certificate],
            operations=self.operations,
            state=self.state,
            locks=self.locks,
            queue=self.queue,
            clock=lambda: NOW,
            verify_attempts=options.pop("verify_attempts", 2),
            verify_interval_s=0,
            sleep=options.pop("sleep", lambda _: None),
            **options,
        )

    def rotate(self, **kwargs: Any) -> Any:
        kwargs.setdefault("correlation_id", "corr-0001")
        return self.service().rotate(**kwargs)

    def serving(self, name: str) -> str:
        live = self.sbcs[name].live
        assert live is not None
        return fingerprint_sha256(live)

    def health(self, name: str) -> dict[str, Any]:
        record = self.state.get("health", f"certificate:{name}")
        assert record is not None, f"no certificate health for {name}"
        return dict(record)

    def operations_for(self, name: str) -> list[str]:
        return [f"{r['operation']}:{r['outcome']}" for r in self.operations.rows
                if r["target"] == f"sbc:{name}"]


def make_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_trunk_sid": "TK" + "0" * 32,
        "twilio_auth_token": "test-token",
        "genesys_client_id": "client",
        "genesys_client_secret": "secret",
        "sbc_password": "password",
        "storage_connection_string": "UseDevelopmentStorage=true",
        "policy_path": str(ROOT / "policy.example.yaml"),
        "keyvault_url": "https://kv.example.net",
        "certificate_name": "sbc-tls",
        "sbcs": [
            {"name": name, "management_url": f"https://10.0.{i}.4", "fqdn": fqdn(name),
             "probe_host": f"{name}-sip:5061"}
            for i, name in enumerate(SBC_NAMES, start=1)
        ],
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def estate() -> Estate:
    """Two SBCs serving version 0 (20 days left); Key Vault's current version 1 (365 days)."""
    root = make_root_ca()
    intermediate = make_intermediate_ca(root)
    built = Estate(root, intermediate, FakeVault(), {}, make_settings())
    old = built.leaf(days=20)
    built.add_version(old)
    for name in SBC_NAMES:
        built.sbcs[name] = FakeSbc(name, spki(old.key), old.certificate,
                                   [intermediate.certificate, root.certificate])
    built.new = built.leaf(days=365)
    built.new_version = built.add_version(built.new)
    return built


def new_leaf(estate: Estate) -> IssuedCertificate:
    assert estate.new is not None
    return estate.new


def new_fingerprint(estate: Estate) -> str:
    return fingerprint_sha256(new_leaf(estate).certificate)


# --- a good rotation ----------------------------------------------------------------------------


def test_new_key_vault_version_is_installed_on_every_sbc_and_verified_by_handshake(
    estate: Estate,
) -> None:
    report = estate.rotate()

    assert report.ok, report.to_json()
    assert [s.outcome for s in report.sbcs] == [RotationOutcome.ROTATED] * 2
    for name in SBC_NAMES:
        assert estate.serving(name) == new_fingerprint(estate)
        assert estate.sbcs[name].uploads == ["key", "certificate", "save"]
        assert estate.health(name)["status"] == "ok"
        assert estate.health(name)["days_left"] == 365
        assert estate.health(name)["key_vault_version"] == estate.new_version
    assert estate.handshake is not None
    assert ("sbc1-sip", 5061, "sbc1.byoc.example.net") in estate.handshake.calls


def test_every_step_is_recorded_in_the_operations_log(estate: Estate) -> None:
    estate.rotate(sbc="sbc1")

    assert estate.operations_for("sbc1") == [
        "certificate.upload_private_key:ok",
        "certificate.upload_certificate:ok",
        "certificate.save_configuration:ok",
        "certificate.verify:ok",
        "certificate.rotate:ok",
    ]
    assert all(r["correlation_id"] == "corr-0001" for r in estate.operations.rows)
    assert "PRIVATE KEY" not in repr(estate.operations.rows)


def test_an_sbc_already_serving_the_current_version_is_left_alone(estate: Estate) -> None:
    estate.rotate()
    for sbc in estate.sbcs.values():
        sbc.uploads.clear()

    report = estate.rotate()

    assert [s.outcome for s in report.sbcs] == [RotationOutcome.UNCHANGED] * 2
    assert all(sbc.uploads == [] for sbc in estate.sbcs.values())


def test_force_uploads_again_even_when_the_sbc_serves_the_current_version(estate: Estate) -> None:
    estate.rotate()
    estate.sbcs["sbc1"].uploads.clear()

    report = estate.rotate(sbc="sbc1", force=True)

    assert report.sbcs[0].outcome is RotationOutcome.ROTATED
    assert estate.sbcs["sbc1"].uploads == ["key", "certificate", "save"]


def test_missing_intermediates_go_to_the_trusted_root_store_before_the_key(estate: Estate) -> None:
    other_intermediate = make_intermediate_ca(estate.root, "byoc Test Intermediate CA 2")
    leaf = estate.leaf(issuer=other_intermediate)
    estate.add_version(leaf, chain=(other_intermediate.certificate, estate.root.certificate))

    report = estate.rotate(sbc="sbc1")

    assert report.ok, report.to_json()
    assert estate.sbcs["sbc1"].uploads == ["trusted root", "key", "certificate", "save"]
    assert other_intermediate.certificate in estate.sbcs["sbc1"].trusted
    assert estate.sbcs["sbc1"].trusted.count(estate.root.certificate) == 1


def test_pem_secrets_rotate_like_pkcs12_ones(estate: Estate) -> None:
    leaf = estate.leaf()
    estate.add_version(leaf, content_type=PEM_CONTENT_TYPE)

    report = estate.rotate()

    assert report.ok
    assert estate.serving("sbc2") == fingerprint_sha256(leaf.certificate)


# --- failures and rollback ----------------------------------------------------------------------


def test_an_sbc_that_keeps_serving_the_old_certificate_is_rolled_back_and_the_next_is_untouched(
    estate: Estate,
) -> None:
    old = estate.serving("sbc1")
    estate.sbcs["sbc1"].keep_old_certificate = 1

    report = estate.rotate()

    first, second = report.sbcs
    assert first.outcome is RotationOutcome.ROLLED_BACK
    assert "still presents" in first.detail and "rolled back to version" in first.detail
    assert estate.sbcs["sbc1"].uploads == ["key", "certificate", "save", "key", "certificate",
                                           "save"]
    assert estate.serving("sbc1") == old
    assert fingerprint_sha256(estate.sbcs["sbc1"].cert) == old
    assert second.outcome is RotationOutcome.NOT_REACHED
    assert estate.sbcs["sbc2"].uploads == []
    assert not report.ok
    assert "certificate.rollback:ok" in estate.operations_for("sbc1")
    assert estate.operations_for("sbc2") == []
    health = estate.health("sbc1")
    assert health["status"] == "degraded" and "rolled_back" in health["reason"]


def test_a_refused_certificate_upload_puts_the_previous_key_back_at_once(estate: Estate) -> None:
    old = estate.serving("sbc1")
    estate.sbcs["sbc1"].refuse_certificate_uploads = 1

    report = estate.rotate(sbc="sbc1")

    assert report.sbcs[0].outcome is RotationOutcome.FAILED
    assert "certificate upload failed 1 time(s)" in report.sbcs[0].detail
    assert estate.sbcs["sbc1"].uploads == ["key", "certificate refused", "key"]
    assert estate.sbcs["sbc1"].private_key_valid() is True
    assert estate.serving("sbc1") == old
    assert estate.health("sbc1")["status"] == "degraded"


def test_a_busy_certificate_upload_is_not_retried_inside_the_window_but_as_a_whole_step(
    estate: Estate,
) -> None:
    estate.sbcs["sbc1"].busy_certificate_uploads = 2
    sleeps: list[float] = []

    report = estate.service(sleep=sleeps.append, step_retry_s=1.0).rotate(
        sbc="sbc1", correlation_id="corr-0002")

    assert report.sbcs[0].outcome is RotationOutcome.ROTATED, report.to_json()
    assert estate.sbcs["sbc1"].uploads == [
        "key", "certificate 503", "key",   # old key back at once: no retry while mismatched
        "key", "certificate 503", "key",
        "key", "certificate", "save",
    ]
    assert sleeps == [1.0, 2.0]  # the waits fall while key and certificate match
    assert estate.serving("sbc1") == new_fingerprint(estate)


def test_a_certificate_upload_busy_every_time_leaves_the_old_pair_served(estate: Estate) -> None:
    old = estate.serving("sbc1")
    estate.sbcs["sbc1"].busy_certificate_uploads = 5

    report = estate.rotate(sbc="sbc1")

    assert report.sbcs[0].outcome is RotationOutcome.FAILED
    assert "failed 4 time(s)" in report.sbcs[0].detail and "kept serving" in report.sbcs[0].detail
    assert estate.sbcs["sbc1"].private_key_valid() is True
    assert estate.serving("sbc1") == old


def test_an_sbc_that_needs_a_reset_for_the_new_certificate_is_rolled_back(estate: Estate) -> None:
    estate.sbcs["sbc1"].reset_needed = True
    old = estate.serving("sbc1")

    report = estate.rotate(sbc="sbc1")

    assert report.sbcs[0].outcome is RotationOutcome.ROLLED_BACK
    assert "resetNeeded" in report.sbcs[0].detail and "never resets" in report.sbcs[0].detail
    assert estate.serving("sbc1") == old
    assert estate.health("sbc1")["status"] == "degraded"


def test_a_failed_rollback_that_leaves_the_old_certificate_served_says_so(estate: Estate) -> None:
    old = estate.serving("sbc1")
    estate.sbcs["sbc1"].keep_old_certificate = 1  # the new pair never goes live
    estate.sbcs["sbc1"].key_uploads_allowed = 1   # and the rollback's key upload is refused

    report = estate.rotate(sbc="sbc1")

    result = report.sbcs[0]
    assert result.outcome is RotationOutcome.OLD_CERTIFICATE_SERVED, result.to_json()
    assert "still presents" in result.detail and "calls are not affected" in result.detail
    assert estate.serving("sbc1") == old
    assert estate.health("sbc1")["status"] == "degraded"


def test_a_rollback_that_does_not_verify_is_reported_as_down(estate: Estate) -> None:
    estate.sbcs["sbc1"].keep_old_certificate = 2  # the rollback's upload is not live either...
    estate.sbcs["sbc1"].live = None  # ...and the port has nothing consistent to present

    def broken() -> PresentedCertificate:
        raise TlsHandshakeFailed("sbc1: handshake broke off", reached=True)

    estate.sbcs["sbc1"].presented = broken  # type: ignore[method-assign]
    report = estate.rotate(sbc="sbc1")

    assert report.sbcs[0].outcome is RotationOutcome.ROLLBACK_FAILED
    assert "check it now" in report.sbcs[0].detail
    assert estate.health("sbc1")["status"] == "down"
    assert "certificate.rollback:failed" in estate.operations_for("sbc1")


def test_a_presented_chain_peers_reject_fails_verification(estate: Estate) -> None:
    other_intermediate = make_intermediate_ca(estate.root, "byoc Test Intermediate CA 3")
    estate.add_version(estate.leaf(issuer=other_intermediate),
                       chain=(other_intermediate.certificate,))
    sbc = estate.sbcs["sbc1"]
    sbc.add_trusted_root = lambda pem: sbc.uploads.append("trusted root ignored")  # type: ignore[method-assign]

    report = estate.rotate(sbc="sbc1")

    assert report.sbcs[0].outcome is RotationOutcome.ROLLED_BACK
    assert "peers would reject" in report.sbcs[0].detail


def test_without_a_rollback_version_an_sbc_is_not_touched_unless_forced(estate: Estate) -> None:
    stranger = make_leaf(make_root_ca("Someone else's CA"), sans=(fqdn("sbc1"),))
    sbc = estate.sbcs["sbc1"]
    sbc.cert = sbc.live = stranger.certificate
    sbc.key_spki = spki(stranger.key)
    estate.vault.versions[0].enabled = False  # no older version fit for it either

    refused = estate.rotate(sbc="sbc1")
    assert refused.sbcs[0].outcome is RotationOutcome.REFUSED
    assert "--force" in refused.sbcs[0].detail
    assert sbc.uploads == []

    forced = estate.rotate(sbc="sbc1", force=True)
    assert forced.sbcs[0].outcome is RotationOutcome.ROTATED


def test_an_older_key_vault_version_is_the_rollback_when_nothing_matches_what_is_served(
    estate: Estate,
) -> None:
    stranger = make_leaf(make_root_ca("Someone else's CA"), sans=(fqdn("sbc1"),))
    sbc = estate.sbcs["sbc1"]
    sbc.cert = sbc.live = stranger.certificate
    sbc.key_spki = spki(stranger.key)
    sbc.keep_old_certificate = 1

    report = estate.rotate(sbc="sbc1")

    assert report.sbcs[0].outcome is RotationOutcome.ROLLED_BACK
    assert report.sbcs[0].rollback_version == estate.vault.versions[0].version


def test_an_sbc_whose_sip_tls_port_cannot_be_reached_is_not_touched(estate: Estate) -> None:
    estate.sbcs["sbc1"].port_closed = True

    report = estate.rotate()

    assert report.sbcs[0].outcome is RotationOutcome.FAILED
    assert "probe_host" in report.sbcs[0].detail
    assert report.sbcs[1].outcome is RotationOutcome.NOT_REACHED
    assert all(sbc.uploads == [] for sbc in estate.sbcs.values())


def test_an_sbc_whose_rest_api_is_unreachable_is_skipped_and_the_others_rotate(
    estate: Estate,
) -> None:
    estate.sbcs["sbc1"].unreachable = True

    report = estate.rotate()

    assert report.sbcs[0].outcome is RotationOutcome.UNREACHABLE
    assert report.sbcs[1].outcome is RotationOutcome.ROTATED
    assert estate.sbcs["sbc1"].uploads == []
    assert estate.health("sbc1")["status"] == "degraded"


# --- invalid certificates are refused before any SBC is touched ---------------------------------


def _expired(e: Estate) -> None:
    e.add_version(e.leaf(not_before=NOW - timedelta(days=100), not_after=NOW - timedelta(days=1)))


def _not_yet_valid(e: Estate) -> None:
    e.add_version(e.leaf(not_before=NOW + timedelta(days=2), not_after=NOW + timedelta(days=300)))


def _expires_too_soon(e: Estate) -> None:
    e.add_version(e.leaf(days=5))


def _wrong_san(e: Estate) -> None:
    e.add_version(e.leaf(sans=("unrelated-host.example.org",)))


def _key_mismatch(e: Estate) -> None:
    leaf = e.leaf()
    other = e.leaf()
    e.vault.add(pem_bundle(leaf, (e.intermediate.certificate,), key=other.key), PEM_CONTENT_TYPE)


def _missing_intermediate(e: Estate) -> None:
    e.add_version(e.leaf(), chain=())


def _corrupted_pkcs12(e: Estate) -> None:
    der = base64.b64decode(pkcs12_base64(e.leaf(), (e.intermediate.certificate,)))
    e.vault.add(base64.b64encode(der[: len(der) // 2]).decode(), PKCS12_CONTENT_TYPE)


def _pem_declared_as_pkcs12(e: Estate) -> None:
    e.vault.add(pem_bundle(e.leaf(), (e.intermediate.certificate,)), PKCS12_CONTENT_TYPE)


def _pkcs12_declared_as_pem(e: Estate) -> None:
    e.vault.add(pkcs12_base64(e.leaf(), (e.intermediate.certificate,)), PEM_CONTENT_TYPE)


def _unsupported_key(e: Estate) -> None:
    e.add_version(e.leaf(key_type="ec", key_size=521))


def _ec_key(estate: Estate) -> None:
    estate.add_version(estate.leaf(key_type="ec", key_size=256))


def _no_server_auth(estate: Estate) -> None:
    estate.add_version(estate.leaf(usages=[ExtendedKeyUsageOID.CLIENT_AUTH]))


def _unknown_critical_extension(estate: Estate) -> None:
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.7"), b"\x05\x00")
    estate.add_version(estate.leaf(extra=[(odd, True)]))


def _issued_by_a_non_ca(estate: Estate) -> None:
    assert estate.new is not None
    estate.add_version(estate.leaf(issuer=estate.new),
                       chain=(estate.new.certificate, estate.intermediate.certificate))


def _private_root(estate: Estate) -> None:
    private_root = make_root_ca("Private Root")
    private_ca = make_intermediate_ca(private_root, "Private Issuing CA")
    estate.add_version(estate.leaf(issuer=private_ca),
                       chain=(private_ca.certificate, private_root.certificate))


@pytest.mark.parametrize(
    ("make_bad_version", "message"),
    [
        (_expired, "expired on"),
        (_not_yet_valid, "is not valid until"),
        (_expires_too_soon, "rotation needs at least 14"),
        (_wrong_san, "does not cover sbc1.byoc.example.net"),
        (_key_mismatch, "does not match the private key"),
        (_missing_intermediate, "incomplete chain"),
        (_corrupted_pkcs12, "PKCS#12 bundle is damaged"),
        (_pem_declared_as_pkcs12, "not valid base64"),
        (_pkcs12_declared_as_pem, "holds no PEM blocks"),
        (_unsupported_key, "has a EC-secp521r1 key"),
        (_ec_key, "has a EC-P256 key; Genesys BYOC Cloud speaks TLS 1.2 with RSA-authenticated"),
        (_no_server_auth, "without serverAuth"),
        (_unknown_critical_extension, "critical extension 1.3.6.1.4.1.55555.7"),
        (_issued_by_a_non_ca, "which is not a CA"),
        (_private_root, "not one of the 1 trusted root"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] if callable(v) else "",
)
def test_an_unfit_certificate_is_refused_with_its_own_reason_and_nothing_is_uploaded(
    estate: Estate, make_bad_version: Callable[[Estate], None], message: str
) -> None:
    served = {name: estate.serving(name) for name in SBC_NAMES}
    make_bad_version(estate)

    report = estate.rotate()

    assert report.refused is not None and "nothing was uploaded" in report.refused
    assert message in report.refused, report.refused
    assert report.sbcs == []
    assert all(sbc.uploads == [] for sbc in estate.sbcs.values())
    assert {name: estate.serving(name) for name in SBC_NAMES} == served
    refusal = [r for r in estate.operations.rows if r["target"] == "certificate"]
    assert refusal and refusal[0]["outcome"] == "refused"
    assert message in estate.health("sbc1")["reason"]


# --- dry run, versions, jobs --------------------------------------------------------------------


def test_a_dry_run_changes_nothing_and_says_what_it_would_do(estate: Estate) -> None:
    report = estate.rotate(dry_run=True)

    assert [s.outcome for s in report.sbcs] == [RotationOutcome.WOULD_ROTATE] * 2
    assert "would install" in report.sbcs[0].detail
    assert report.sbcs[0].rollback_version == estate.vault.versions[0].version
    assert all(sbc.uploads == [] for sbc in estate.sbcs.values())
    assert estate.operations.rows == []
    assert estate.state.data == {}


def test_an_event_for_an_older_version_installs_the_current_one(estate: Estate) -> None:
    newest = estate.leaf()
    estate.add_version(newest)

    report = estate.rotate(certificate_version=estate.new_version)

    assert report.version == estate.vault.versions[-1].version
    assert "newer" in report.notes[0]
    assert estate.serving("sbc1") == fingerprint_sha256(newest.certificate)


def test_a_requested_version_that_is_current_is_installed(estate: Estate) -> None:
    report = estate.rotate(certificate_version=estate.new_version)

    assert report.ok and report.version == estate.new_version


def test_a_disabled_or_unknown_version_is_refused_with_the_key_vault_reason(estate: Estate) -> None:
    estate.vault.versions[-1].enabled = False

    disabled = estate.rotate(certificate_version=estate.new_version)
    unknown = estate.rotate(certificate_version="f" * 32)

    assert disabled.refused is not None and "the version is disabled" in disabled.refused
    assert unknown.refused is not None and "Key Vault has no certificate sbc-tls version" in (
        unknown.refused)
    assert all(sbc.uploads == [] for sbc in estate.sbcs.values())


def test_key_vault_being_unavailable_is_raised_for_a_retry(estate: Estate) -> None:
    estate.vault.failure = VaultError(503)
    with pytest.raises(CertificateSourceUnavailable):
        estate.rotate()


def test_a_rotation_job_runs_the_rotation_and_a_busy_sbc_requeues_it(estate: Estate) -> None:
    job = RotateCertificate(sbc="sbc1", correlation_id="job-00001")
    estate.locks.held.add("sbc:sbc1")
    service = estate.service()

    assert service.run_job(job) is None
    assert estate.queue.sent == [(job, 30)]

    estate.locks.held.clear()
    report = service.run_job(job)
    assert report is not None and report.ok


def test_unknown_sbc_and_missing_certificate_name_are_clear_errors(estate: Estate) -> None:
    with pytest.raises(UnknownSbc, match="configured: sbc1, sbc2"):
        estate.rotate(sbc="sbc9")
    estate.settings = make_settings(certificate_name=None, keyvault_url=None)
    with pytest.raises(CertificateNotConfigured, match="BYOC_CERTIFICATE_NAME"):
        estate.rotate()


# --- status and health --------------------------------------------------------------------------


def test_status_shows_what_each_sbc_serves_against_key_vault(estate: Estate) -> None:
    statuses = estate.service().status()

    first = statuses[0]
    assert first.sbc == "sbc1"
    assert first.fingerprint == estate.serving("sbc1")
    assert first.key_vault_version == estate.vault.versions[0].version
    assert first.current_version == estate.new_version
    assert not first.matches_current
    assert first.days_left == 20 and first.warning_level == 30
    health = estate.health("sbc1")
    assert health["status"] == "degraded"
    assert "expires in 20 day(s) (warning at 30)" in health["reason"]


@pytest.mark.parametrize(("days", "level", "status"),
                         [(31, None, "ok"), (30, 30, "degraded"), (14, 14, "degraded"),
                          (7, 7, "degraded"), (-1, 7, "down")])
def test_health_warns_at_30_14_and_7_days_and_is_down_once_expired(
    estate: Estate, days: int, level: int | None, status: str
) -> None:
    leaf = estate.leaf(not_before=NOW - timedelta(days=400), not_after=NOW + timedelta(days=days))
    estate.vault.versions.clear()
    estate.add_version(leaf)
    for sbc in estate.sbcs.values():
        sbc.cert = sbc.live = leaf.certificate
        sbc.key_spki = spki(leaf.key)

    health = estate.service().status()[0]

    assert health.warning_level == level
    assert estate.health("sbc1")["status"] == status


def test_status_reports_a_port_presenting_something_other_than_the_context(estate: Estate) -> None:
    estate.sbcs["sbc1"].keep_old_certificate = 1
    estate.rotate(sbc="sbc1")
    estate.sbcs["sbc1"].cert = new_leaf(estate).certificate
    estate.sbcs["sbc1"].key_spki = spki(new_leaf(estate).key)

    status = estate.service().status()[0]

    assert status.context_fingerprint != status.presented_fingerprint
    assert any("a reset may be pending" in p for p in status.problems)


@pytest.mark.parametrize(
    ("probe_host", "tls_port", "expected"),
    [
        (None, 5061, ("sbc1.byoc.example.net", 5061)),
        ("10.0.1.4", 5061, ("10.0.1.4", 5061)),
        ("10.0.1.4:15061", 5061, ("10.0.1.4", 15061)),
        ("[2001:db8::4]:5062", 5061, ("2001:db8::4", 5062)),
        (None, 0, None),
    ],
)
def test_the_sip_tls_address_comes_from_probe_host_or_the_fqdn(
    probe_host: str | None, tls_port: int, expected: tuple[str, int] | None
) -> None:
    settings = make_settings(sbcs=[{
        "name": "sbc1", "management_url": "https://10.0.1.4", "fqdn": "sbc1.byoc.example.net",
        "probe_host": probe_host, "sip_ports": {"tls": tls_port},
    }])
    assert sip_tls_address(settings.sbcs[0]) == expected


# --- the trusted-root store ---------------------------------------------------------------------


def test_the_trust_store_gains_only_path_intermediates_never_leaves_or_unrelated_certificates(
    estate: Estate,
) -> None:
    other_intermediate = make_intermediate_ca(estate.root, "byoc Test Intermediate CA 2")
    unrelated_ca = make_root_ca("Somebody Else's CA")
    stray_leaf = make_leaf(unrelated_ca, sans=("mail.example.org",))
    leaf = estate.leaf(issuer=other_intermediate)
    estate.add_version(leaf, chain=(other_intermediate.certificate, unrelated_ca.certificate,
                                    stray_leaf.certificate, estate.root.certificate))
    before = list(estate.sbcs["sbc1"].trusted)

    report = estate.rotate(sbc="sbc1")

    assert report.ok, report.to_json()
    assert estate.sbcs["sbc1"].trusted == [*before, other_intermediate.certificate]
    status = estate.service().status()[0]
    assert status.byoc_trusted_roots == [{
        "fingerprint": fingerprint_sha256(other_intermediate.certificate),
        "label": f"CN=byoc Test Intermediate CA 2 "
                 f"({fingerprint_sha256(other_intermediate.certificate)[:8]}…)",
    }]
    assert status.trusted_roots == len(before) + 1


def test_configured_sbc_roots_are_added_and_what_byoc_added_is_removed_once_unneeded(
    estate: Estate, tmp_path: Path,
) -> None:
    carrier_root = make_root_ca("Carrier Root CA")
    roots_file = tmp_path / "sbc-roots.pem"
    roots_file.write_text(carrier_root.cert_pem)
    estate.settings = make_settings(sbc_trusted_roots=str(roots_file))
    first_ca = make_intermediate_ca(estate.root, "Issuing CA 1")
    estate.add_version(estate.leaf(issuer=first_ca), chain=(first_ca.certificate,))
    seeded = list(estate.sbcs["sbc1"].trusted)

    assert estate.rotate(sbc="sbc1").ok
    assert estate.sbcs["sbc1"].trusted == [*seeded, carrier_root.certificate, first_ca.certificate]

    second_ca = make_intermediate_ca(estate.root, "Issuing CA 2")
    estate.add_version(estate.leaf(issuer=second_ca), chain=(second_ca.certificate,))
    report = estate.rotate(sbc="sbc1", correlation_id="corr-0002")

    assert report.ok, report.to_json()
    # the seeded entries (not byoc's) stay; byoc's first issuing CA goes once nothing needs it
    assert estate.sbcs["sbc1"].trusted == [*seeded, carrier_root.certificate,
                                           second_ca.certificate]
    assert "remove_trusted_root" in report.sbcs[0].steps


def test_a_configured_sbc_root_that_is_not_a_ca_is_refused(estate: Estate, tmp_path: Path) -> None:
    roots_file = tmp_path / "sbc-roots.pem"
    roots_file.write_text(make_leaf(estate.root).cert_pem)
    estate.settings = make_settings(sbc_trusted_roots=str(roots_file))

    report = estate.rotate(sbc="sbc1")

    assert report.sbcs[0].outcome is RotationOutcome.FAILED
    assert "is not a CA certificate" in report.sbcs[0].detail
    assert "key" not in estate.sbcs["sbc1"].uploads


# --- one certificate per SBC --------------------------------------------------------------------


def test_sbcs_with_their_own_certificates_each_get_theirs(estate: Estate) -> None:
    own = FakeVault()
    only_sbc2 = make_leaf(estate.intermediate, sans=(fqdn("sbc2"),))
    own_version = own.add(pkcs12_base64(only_sbc2, (estate.intermediate.certificate,)))
    sbcs = [
        {"name": "sbc1", "management_url": "https://10.0.1.4", "fqdn": fqdn("sbc1"),
         "probe_host": "sbc1-sip:5061"},
        {"name": "sbc2", "management_url": "https://10.0.2.4", "fqdn": fqdn("sbc2"),
         "probe_host": "sbc2-sip:5061", "certificate_name": "sbc2-tls"},
    ]
    estate.settings = make_settings(sbcs=sbcs)
    shared = estate.vault

    class TwoVaults:
        def get_secret(self, name: str, version: str | None = None) -> Secret:
            return own.get_secret("sbc-tls", version) if name == "sbc2-tls" else \
                shared.get_secret(name, version)

        def list_versions(self, name: str) -> list[Version]:
            return own.versions if name == "sbc2-tls" else shared.versions

    estate.vault = TwoVaults()  # type: ignore[assignment]
    # sbc2 serves nothing Key Vault knows under sbc2-tls: forced, as a first install would be
    report = estate.rotate(force=True)

    assert report.ok, report.to_json()
    assert [(s.sbc, s.certificate) for s in report.sbcs] == [("sbc1", "sbc-tls"),
                                                             ("sbc2", "sbc2-tls")]
    assert report.sbcs[1].version == own_version
    assert estate.serving("sbc1") == new_fingerprint(estate)
    assert estate.serving("sbc2") == fingerprint_sha256(only_sbc2.certificate)
    statuses = estate.service().status()
    assert [(s.sbc, s.certificate, s.matches_current) for s in statuses] == [
        ("sbc1", "sbc-tls", True), ("sbc2", "sbc2-tls", True)]
    only = estate.rotate(certificate="sbc2-tls", correlation_id="corr-0003")
    assert [s.sbc for s in only.sbcs] == ["sbc2"]
    assert only.sbcs[0].outcome is RotationOutcome.UNCHANGED
