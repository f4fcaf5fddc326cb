"""SBC TLS certificate rotation from Key Vault: validated first, one SBC at a time, verified by a
live TLS handshake, rolled back to the previous Key Vault version on any failure.

A rotation run:
1. reads the certificate's secret (PKCS#12 or PEM) and parses it into key, leaf and chain;
2. validates it for every SBC in the run before touching any (dates and days left, key matches
   leaf, key type, SAN covers the SBC's FQDN, chain reaches a trusted root); any problem refuses
   the whole run and nothing is uploaded;
3. inspects every SBC: the certificate in its TLS context, and the leaf its SIP TLS port presents
   (live handshake with SNI = the SBC's FQDN, at `probe_host` when set). Both equal to the new
   one: nothing to do;
4. for one SBC at a time: adds missing intermediates to the context's trusted-root store, uploads
   the private key, then the certificate, saves the configuration, then verifies twice (the
   certificate read back, and a handshake presenting the new leaf with a chain a peer accepts).
   On any failure it re-uploads the previous Key Vault version (the one the SBC served), verifies
   that, stops and reports. It never goes on to the next SBC after a failure;
5. records every step in the operations log (target `sbc:<name>`, operations `certificate.*`) and
   writes each SBC's certificate health (`health` / `certificate:<sbc>`) with its days left,
   warning at 30, 14 and 7 days.

`force` re-uploads even when an SBC already serves the certificate, and allows a rotation when no
Key Vault version matches what the SBC serves (so a failure could not be rolled back).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.x509.verification import VerificationError

from byoc.adapters.lock import LockBusy
from byoc.domain.certs import (
    CertificateBundle,
    CertificateError,
    allowed_key_types,
    certificate_label,
    days_left,
    expiry_warning_level,
    find_certificate_problems,
    fingerprint_sha256,
    parse_certificate_bundle,
    parse_pem_certificate,
    verified_path,
)
from byoc.domain.jobs import RotateCertificate
from byoc.ports import PresentedCertificate, TlsHandshakeFailed

if TYPE_CHECKING:
    from byoc.ports import (
        CertificateSecrets,
        HeldLease,
        JobQueue,
        OperationsLog,
        SbcTlsContextPort,
        StateStore,
        TargetLocks,
        TlsHandshakePort,
    )
    from byoc.settings import SbcSettings, Settings

log = logging.getLogger("byoc.certificates")

HEALTH_NAMESPACE = "health"
TRUST_NAMESPACE = "certificates"
STEP_ATTEMPTS = 4
STEP_RETRY_S = 2.0
CERTIFICATE_TARGET = "certificate"
MAX_VERSIONS_SEARCHED = 10
BUSY_RETRY_DELAY_S = 30
_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL
)


def health_key(sbc: str) -> str:
    """The key of an SBC's certificate health record in the `health` namespace."""
    return f"certificate:{sbc}"


def trust_record_key(sbc: str) -> str:
    """The key (namespace `certificates`) of what byoc added to an SBC's trusted-root store."""
    return f"trusted-roots:{sbc}"


# --- errors -------------------------------------------------------------------------------------


class CertificateRotationError(Exception):
    """Base of the rotation's own errors (bundle problems are `byoc.domain.certs` errors)."""


class CertificateNotConfigured(CertificateRotationError):
    """No certificate is configured for an SBC (`BYOC_CERTIFICATE_NAME` or its `certificate_name`)."""


class UnknownSbc(CertificateRotationError, ValueError):
    """An SBC name that is not in `BYOC_SBCS`."""


class CertificateSourceRefused(CertificateRotationError):
    """Key Vault refused the read (not found, disabled version, no permission): a person must act."""


class CertificateSourceUnavailable(CertificateRotationError):
    """Key Vault could not be read right now (network, throttling, 5xx): retry later."""


# --- results ------------------------------------------------------------------------------------


class RotationOutcome(StrEnum):
    """What happened to one SBC in a rotation run."""

    UNCHANGED = "unchanged"
    """It already serves the Key Vault certificate."""
    WOULD_ROTATE = "would_rotate"
    """Dry run: it would get the Key Vault certificate."""
    ROTATED = "rotated"
    """It got the certificate and both verifications passed."""
    ROLLED_BACK = "rolled_back"
    """The rotation failed; the previous version was put back and verified."""
    ROLLBACK_FAILED = "rollback_failed"
    """The rotation failed and so did putting the previous version back: act now."""
    OLD_CERTIFICATE_SERVED = "old_certificate_served"
    """The rotation failed, putting the previous version back failed too, but a handshake shows
    the SBC still serves the previous certificate: nothing is down, the context needs a look."""
    FAILED = "failed"
    """A step failed before the SBC's key or certificate was changed."""
    REFUSED = "refused"
    """Not attempted: no Key Vault version to roll back to (run with --force to accept that)."""
    UNREACHABLE = "unreachable"
    """It could not be inspected; not touched."""
    NOT_REACHED = "not_reached"
    """An earlier SBC failed, so the run stopped before this one."""


_FAILED_OUTCOMES = frozenset({
    RotationOutcome.ROLLED_BACK,
    RotationOutcome.ROLLBACK_FAILED,
    RotationOutcome.OLD_CERTIFICATE_SERVED,
    RotationOutcome.FAILED,
    RotationOutcome.REFUSED,
    RotationOutcome.UNREACHABLE,
})


@dataclass(frozen=True)
class KeyVaultCertificate:
    """One Key Vault version of the certificate, parsed."""

    name: str
    version: str
    bundle: CertificateBundle

    @property
    def fingerprint(self) -> str:
        return self.bundle.fingerprint_sha256


@dataclass
class ServedCertificate:
    """What one SBC serves: the certificate in its TLS context and the leaf its SIP TLS port shows."""

    sbc: str
    context_leaf: x509.Certificate | None = None
    presented_leaf: x509.Certificate | None = None
    presented: PresentedCertificate | None = None
    handshake_checked: bool = True
    handshake_error: str | None = None
    handshake_reached: bool = True
    problems: list[str] = field(default_factory=list)
    unreachable: bool = False
    trusted_roots: list[x509.Certificate] | None = None

    @property
    def leaf(self) -> x509.Certificate | None:
        """The certificate peers see (the presented one when the handshake worked)."""
        return self.presented_leaf or self.context_leaf

    def serves(self, fingerprint: str) -> bool:
        """Both the context and the SIP TLS port hold `fingerprint`, and peers accept the chain."""
        if self.context_leaf is None or fingerprint_sha256(self.context_leaf) != fingerprint:
            return False
        if not self.handshake_checked:
            return True
        return (
            self.presented_leaf is not None
            and fingerprint_sha256(self.presented_leaf) == fingerprint
            and self.presented is not None
            and self.presented.chain_verified
        )


@dataclass
class SbcRotation:
    """One SBC's part of a rotation run."""

    sbc: str
    outcome: RotationOutcome
    detail: str = ""
    before: str | None = None
    after: str | None = None
    rollback_version: str | None = None
    steps: list[str] = field(default_factory=list)
    certificate: str | None = None
    version: str | None = None
    mismatch_window_s: float | None = None
    """Longest time the SBC held the new key with another certificate (key PUT answered → the
    certificate PUT or the previous key answered)."""

    @property
    def failed(self) -> bool:
        return self.outcome in _FAILED_OUTCOMES

    def to_json(self) -> dict[str, Any]:
        return {
            "sbc": self.sbc,
            "certificate": self.certificate,
            "version": self.version,
            "outcome": self.outcome.value,
            "detail": self.detail,
            "before": self.before,
            "after": self.after,
            "rollback_version": self.rollback_version,
            "mismatch_window_s": None if self.mismatch_window_s is None
            else round(self.mismatch_window_s, 3),
            "steps": list(self.steps),
        }


@dataclass
class RotationReport:
    """A rotation run: the certificate version, and what happened to each SBC."""

    certificate: str
    correlation_id: str
    dry_run: bool
    version: str | None = None
    fingerprint: str | None = None
    label: str | None = None
    refused: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    sbcs: list[SbcRotation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.refused is None and not any(s.failed for s in self.sbcs)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "certificate": self.certificate,
            "version": self.version,
            "fingerprint": self.fingerprint,
            "label": self.label,
            "dry_run": self.dry_run,
            "correlation_id": self.correlation_id,
            "refused": self.refused,
            "problems": list(self.problems),
            "notes": list(self.notes),
            "sbcs": [s.to_json() for s in self.sbcs],
        }


@dataclass
class SbcCertificateStatus:
    """What one SBC serves compared with Key Vault: `byoc cert status` and the health record."""

    sbc: str
    fqdn: str
    serves: str | None = None
    fingerprint: str | None = None
    context_fingerprint: str | None = None
    presented_fingerprint: str | None = None
    not_after: str | None = None
    days_left: int | None = None
    warning_level: int | None = None
    chain_verified: bool | None = None
    key_vault_version: str | None = None
    current_version: str | None = None
    current_fingerprint: str | None = None
    handshake_error: str | None = None
    handshake_reached: bool = True
    problems: list[str] = field(default_factory=list)
    unreachable: bool = False
    certificate: str | None = None
    trusted_roots: int | None = None
    byoc_trusted_roots: list[dict[str, str]] = field(default_factory=list)

    @property
    def matches_current(self) -> bool:
        return self.current_fingerprint is not None and self.fingerprint == self.current_fingerprint

    def to_json(self) -> dict[str, Any]:
        return {
            "sbc": self.sbc,
            "fqdn": self.fqdn,
            "serves": self.serves,
            "fingerprint": self.fingerprint,
            "context_fingerprint": self.context_fingerprint,
            "presented_fingerprint": self.presented_fingerprint,
            "not_after": self.not_after,
            "days_left": self.days_left,
            "warning_level": self.warning_level,
            "chain_verified": self.chain_verified,
            "handshake_error": self.handshake_error,
            "key_vault_version": self.key_vault_version,
            "current_version": self.current_version,
            "current_fingerprint": self.current_fingerprint,
            "matches_current": self.matches_current,
            "certificate": self.certificate,
            "trusted_roots": self.trusted_roots,
            "byoc_trusted_roots": [dict(e) for e in self.byoc_trusted_roots],
            "problems": list(self.problems),
        }


def certificate_health(
    status: SbcCertificateStatus, rotation: SbcRotation | None, checked_at: datetime
) -> dict[str, Any]:
    """The health record of one SBC's certificate: `ok`, `degraded` or `down`, with the reason.

    down: the served certificate has expired, the SIP TLS port accepts connections but completes no
    handshake, or a failed rotation could not be rolled back. degraded: 30 days or fewer left
    (warnings at 30, 14, 7), a chain peers reject, the SBC serves something other than Key Vault's
    current version, the SBC or its SIP TLS port cannot be reached from byoc, or the last rotation
    failed (the previous certificate is still served).
    """
    down: list[str] = []
    degraded: list[str] = []
    if rotation is not None and rotation.outcome is RotationOutcome.ROLLBACK_FAILED:
        down.append(f"rotation failed and was not rolled back: {rotation.detail}")
    if status.handshake_error is not None:
        (down if status.handshake_reached else degraded).append(status.handshake_error)
    degraded.extend(status.problems)
    if status.days_left is not None:
        if status.days_left < 0:
            down.append(f"the served certificate expired {-status.days_left} day(s) ago")
        elif status.warning_level is not None:
            degraded.append(
                f"the served certificate expires in {status.days_left} day(s) "
                f"(warning at {status.warning_level})"
            )
    if status.current_fingerprint is not None and not status.matches_current:
        degraded.append(
            f"serves {status.serves or 'an unknown certificate'}, not Key Vault's current "
            f"version {status.current_version}"
        )
    if rotation is not None and rotation.failed and rotation.outcome is not (
        RotationOutcome.ROLLBACK_FAILED
    ):
        degraded.append(f"last rotation {rotation.outcome.value}: {rotation.detail}")
    state = "down" if down else "degraded" if degraded else "ok"
    reasons = _unique([*down, *degraded])
    return {
        "status": state,
        "reason": "; ".join(reasons) if reasons else "serves Key Vault's current certificate",
        "days_left": status.days_left,
        "warning_level": status.warning_level,
        "fingerprint": status.fingerprint,
        "serves": status.serves,
        "not_after": status.not_after,
        "key_vault_version": status.key_vault_version,
        "current_version": status.current_version,
        "matches_current": status.matches_current,
        "chain_verified": status.chain_verified,
        "last_rotation": rotation.outcome.value if rotation is not None else None,
        "checked_at": checked_at.isoformat(timespec="seconds"),
    }


def sip_tls_address(sbc: SbcSettings) -> tuple[str, int] | None:
    """Where the SBC's SIP TLS port is reached: `probe_host` (host or host:port) or the FQDN.

    None when the SBC offers no SIP TLS (port 0) and `probe_host` names no port.
    """
    host, port = sbc.fqdn, sbc.sip_ports.tls
    if sbc.probe_host:
        text = sbc.probe_host.strip()
        if text.startswith("["):
            inner, _, rest = text[1:].partition("]")
            host = inner
            if rest.startswith(":") and rest[1:].isdigit():
                port = int(rest[1:])
        elif text.count(":") == 1:
            name, _, number = text.partition(":")
            host = name
            if number.isdigit():
                port = int(number)
        else:
            host = text
    return None if port == 0 else (host, port)


def trust_bundle_path(configured: str | None) -> str:
    """The PEM file of roots certificate chains must reach: `BYOC_CERT_TRUST_BUNDLE`, or certifi's."""
    if configured:
        return configured
    import certifi

    return str(certifi.where())


def load_sbc_trusted_roots(path: str | None) -> list[x509.Certificate]:
    """The CA certificates of `BYOC_SBC_TRUSTED_ROOTS` (none when unset); anything else refused."""
    if not path:
        return []
    try:
        with open(path, "rb") as handle:
            certificates = x509.load_pem_x509_certificates(handle.read())
    except (OSError, ValueError) as exc:
        raise CertificateRotationError(
            f"BYOC_SBC_TRUSTED_ROOTS {path}: no readable PEM certificates ({exc})"
        ) from None
    for cert in certificates:
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            raise CertificateRotationError(
                f"BYOC_SBC_TRUSTED_ROOTS {path}: {certificate_label(cert)} is not a CA "
                "certificate; the SBC's trusted-root store takes only CA certificates"
            )
    return certificates


def load_trust_roots(path: str) -> list[x509.Certificate]:
    """Every certificate in the PEM file `path`."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        return x509.load_pem_x509_certificates(data)
    except (OSError, ValueError) as exc:
        raise CertificateRotationError(
            f"BYOC_CERT_TRUST_BUNDLE {path}: no readable PEM certificates ({exc})"
        ) from None


# --- the service --------------------------------------------------------------------------------


class CertificateRotation:
    """Rotates the Key Vault certificate onto the SBCs' TLS contexts and reports what they serve."""

    def __init__(
        self,
        *,
        settings: Settings,
        secrets: CertificateSecrets,
        sbc_tls: Callable[[SbcSettings], SbcTlsContextPort],
        handshake: TlsHandshakePort,
        trust_roots: Callable[[], Sequence[x509.Certificate]],
        operations: OperationsLog,
        state: StateStore,
        locks: TargetLocks,
        queue: JobQueue | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        verify_attempts: int = 3,
        verify_interval_s: float = 2.0,
        step_attempts: int = STEP_ATTEMPTS,
        step_retry_s: float = STEP_RETRY_S,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._secrets = secrets
        self._sbc_tls = sbc_tls
        self._handshake = handshake
        self._trust_roots = trust_roots
        self._operations = operations
        self._state = state
        self._locks = locks
        self._queue = queue
        self._clock = clock
        self._verify_attempts = max(1, verify_attempts)
        self._verify_interval_s = verify_interval_s
        self._step_attempts = max(1, step_attempts)
        self._step_retry_s = step_retry_s
        self._sleep = sleep
        self._sbc_roots: list[x509.Certificate] | None = None

    # --- entry points ---------------------------------------------------------------------------

    def run_job(self, job: RotateCertificate) -> RotationReport | None:
        """The worker's handler: rotate; re-queue when an SBC is busy in another worker.

        Refusals and rolled-back failures are reported (log, operations log, health), not raised:
        retrying them would fail the same way. Key Vault being unavailable is raised, so the
        queue retries.
        """
        try:
            report = self.rotate(
                sbc=job.sbc,
                force=job.force,
                certificate_version=job.certificate_version,
                certificate=job.certificate,
                correlation_id=job.correlation_id,
            )
        except LockBusy:
            if self._queue is None:
                raise
            self._queue.send(job, delay_s=BUSY_RETRY_DELAY_S)
            log.info("SBC busy; certificate rotation re-queued",
                     extra={"event": "certificate.requeued", "correlation_id": job.correlation_id})
            return None
        except (CertificateNotConfigured, UnknownSbc) as exc:
            log.error("certificate rotation not possible",
                      extra={"event": "certificate.not_possible", "reason": str(exc),
                             "correlation_id": job.correlation_id})
            return None
        return report

    def rotate(
        self,
        *,
        correlation_id: str,
        sbc: str | None = None,
        force: bool = False,
        dry_run: bool = False,
        certificate_version: str | None = None,
        certificate: str | None = None,
    ) -> RotationReport:
        """One rotation run over `sbc` (or every SBC using `certificate`, or every SBC), one
        certificate after the other when SBCs have their own (`certificate_name`); see the module
        docstring. A failure stops the run: later SBCs are not reached."""
        groups: dict[str, list[SbcSettings]] = {}
        for member in self._select(sbc):
            name = self._certificate_for(member)
            if certificate is None or name.lower() == certificate.lower():
                groups.setdefault(name, []).append(member)
        if not groups:
            raise CertificateNotConfigured(
                f"no SBC{' named ' + sbc if sbc else ''} uses Key Vault certificate {certificate}"
            )
        reports: list[RotationReport] = []
        for name, members in groups.items():
            if reports and not reports[-1].ok:
                skipped = RotationReport(certificate=name, correlation_id=correlation_id,
                                         dry_run=dry_run)
                skipped.sbcs = [
                    SbcRotation(m.name, RotationOutcome.NOT_REACHED,
                                "not touched: the rotation stopped at an earlier SBC",
                                certificate=name)
                    for m in members
                ]
                reports.append(skipped)
                continue
            version = certificate_version if certificate is not None or len(groups) == 1 else None
            reports.append(self._rotate_certificate(
                name, members, correlation_id=correlation_id, force=force, dry_run=dry_run,
                certificate_version=version,
            ))
        return reports[0] if len(reports) == 1 else _merged(reports, correlation_id, dry_run)

    def _rotate_certificate(
        self,
        name: str,
        sbcs: list[SbcSettings],
        *,
        correlation_id: str,
        force: bool,
        dry_run: bool,
        certificate_version: str | None,
    ) -> RotationReport:
        report = RotationReport(certificate=name, correlation_id=correlation_id, dry_run=dry_run)
        versions = _VersionCache(self._secrets, name)
        target = self._target_version(versions, certificate_version, report)
        report.version = target.version if target else None
        if target is None:
            self._refuse(report, sbcs, versions, None)
            return report
        report.fingerprint = target.fingerprint
        report.label = target.bundle.label
        report.problems = self._validation_problems(target.bundle, sbcs)
        if report.problems:
            report.refused = (
                f"Key Vault certificate {name} version {target.version} is not fit for the SBCs; "
                f"nothing was uploaded: {report.problems[0]}"
            )
            self._refuse(report, sbcs, versions, target)
            return report

        served = {s.name: self._inspect(s) for s in sbcs}
        stopped = False
        for settings_sbc in sbcs:
            current = served[settings_sbc.name]
            if stopped:
                report.sbcs.append(SbcRotation(
                    settings_sbc.name, RotationOutcome.NOT_REACHED,
                    "not touched: the rotation stopped at an earlier SBC",
                    before=_fingerprint_or_none(current.leaf),
                ))
                continue
            result = self._rotate_one(settings_sbc, current, target, versions, force=force,
                                      dry_run=dry_run, correlation_id=correlation_id)
            result.certificate, result.version = name, target.version
            report.sbcs.append(result)
            if result.outcome in (RotationOutcome.ROLLED_BACK, RotationOutcome.ROLLBACK_FAILED,
                                  RotationOutcome.OLD_CERTIFICATE_SERVED,
                                  RotationOutcome.FAILED, RotationOutcome.REFUSED):
                stopped = True
        if not dry_run:
            rotations = {r.sbc: r for r in report.sbcs}
            for settings_sbc in sbcs:
                rotation = rotations.get(settings_sbc.name)
                fresh = (
                    served[settings_sbc.name]
                    if rotation is not None and rotation.outcome in (
                        RotationOutcome.UNCHANGED, RotationOutcome.NOT_REACHED,
                        RotationOutcome.UNREACHABLE)
                    else self._inspect(settings_sbc)
                )
                self._write_health(
                    self._describe(settings_sbc, fresh, versions, target), rotation
                )
        log.log(
            logging.INFO if report.ok else logging.ERROR,
            "certificate rotation finished" if report.ok else "certificate rotation failed",
            extra={"event": "certificate.rotation", "correlation_id": correlation_id,
                   "certificate": name, "version": target.version, "dry_run": dry_run,
                   "outcomes": {r.sbc: r.outcome.value for r in report.sbcs}},
        )
        return report

    def status(self, *, record_health: bool = True) -> list[SbcCertificateStatus]:
        """Per SBC: what it serves, its fingerprint and days left, its Key Vault version, match."""
        caches: dict[str, tuple[_VersionCache, KeyVaultCertificate | None, str | None]] = {}
        for sbc in self._settings.sbcs:
            name = self._certificate_for(sbc)
            if name in caches:
                continue
            versions = _VersionCache(self._secrets, name)
            current: KeyVaultCertificate | None = None
            problem: str | None = None
            try:
                current = versions.current()
            except (CertificateSourceRefused, CertificateSourceUnavailable,
                    CertificateError) as exc:
                problem = f"Key Vault certificate {name}: {exc}"
            caches[name] = (versions, current, problem)
        statuses = []
        for sbc in self._settings.sbcs:
            versions, current, problem = caches[self._certificate_for(sbc)]
            status = self._describe(sbc, self._inspect(sbc), versions, current)
            if problem is not None:
                status.problems.append(problem)
            if record_health:
                self._write_health(status, None)
            statuses.append(status)
        return statuses

    # --- Key Vault ------------------------------------------------------------------------------

    def _certificate_for(self, sbc: SbcSettings) -> str:
        name = sbc.certificate_name or self._settings.certificate_name
        if not name:
            raise CertificateNotConfigured(
                f"no certificate for SBC {sbc.name}: set BYOC_CERTIFICATE_NAME (one certificate "
                "for every SBC) or certificate_name in its BYOC_SBCS entry"
            )
        return name

    def _allowed_key_types(self) -> frozenset[str]:
        return allowed_key_types(allow_ec=self._settings.cert_allow_ec)

    def _configured_sbc_roots(self) -> list[x509.Certificate]:
        if self._sbc_roots is None:
            self._sbc_roots = load_sbc_trusted_roots(self._settings.sbc_trusted_roots)
        return self._sbc_roots

    def _select(self, sbc: str | None) -> list[SbcSettings]:
        if sbc is None:
            return list(self._settings.sbcs)
        for candidate in self._settings.sbcs:
            if candidate.name == sbc:
                return [candidate]
        raise UnknownSbc(
            f"no SBC named {sbc!r}; configured: {', '.join(s.name for s in self._settings.sbcs)}"
        )

    def _target_version(
        self, versions: _VersionCache, requested: str | None, report: RotationReport
    ) -> KeyVaultCertificate | None:
        """The version to install: the requested one unless Key Vault has a newer current one."""
        try:
            current = versions.current()
            if requested is None or requested == current.version:
                return current
            if versions.is_older(requested, current.version):
                report.notes.append(
                    f"version {requested} was asked for, but Key Vault's current version "
                    f"{current.version} is newer; installing the current one"
                )
                return current
            return versions.get(requested)
        except (CertificateError, CertificateSourceRefused) as exc:
            report.refused = (
                f"Key Vault certificate {report.certificate} cannot be used; nothing was "
                f"uploaded: {exc}"
            )
            report.problems = [str(exc)]
            return None

    def _validation_problems(
        self, bundle: CertificateBundle, sbcs: Sequence[SbcSettings]
    ) -> list[str]:
        roots = self._trust_roots()
        now = self._clock()
        problems: list[str] = []
        for sbc in sbcs:
            for problem in find_certificate_problems(
                bundle, fqdn=sbc.fqdn, now=now,
                min_days_left=self._settings.cert_min_days_left, trusted_roots=roots,
                allowed_key_types=self._allowed_key_types(),
            ):
                problems.append(str(problem))
        return _unique(problems)

    # --- inspection -----------------------------------------------------------------------------

    def _inspect(self, sbc: SbcSettings) -> ServedCertificate:
        served = ServedCertificate(sbc=sbc.name)
        try:
            with self._tls(sbc) as tls:
                served.context_leaf = parse_pem_certificate(tls.read_certificate_pem())
                try:
                    served.trusted_roots = _pem_certificates(tls.read_trusted_roots_pem())
                except Exception as exc:
                    served.problems.append(f"the trusted-root store could not be read: {exc}")
        except Exception as exc:  # any read failure: the SBC is reported, not touched
            served.unreachable = True
            served.problems.append(f"TLS context {sbc.tls_context} could not be read: {exc}")
        address = sip_tls_address(sbc)
        if address is None:
            served.handshake_checked = False
            return served
        try:
            presented = self._handshake.presented_certificate(*address, sbc.fqdn)
            served.presented_leaf = x509.load_der_x509_certificate(presented.leaf_der)
            served.presented = presented
        except TlsHandshakeFailed as exc:
            served.handshake_error = str(exc)
            served.handshake_reached = exc.reached
        except ValueError as exc:
            served.handshake_error = f"the SIP TLS port presented an unreadable certificate: {exc}"
        return served

    @contextmanager
    def _tls(self, sbc: SbcSettings) -> Iterator[SbcTlsContextPort]:
        tls = self._sbc_tls(sbc)
        try:
            yield tls
        finally:
            tls.close()

    def _describe(
        self,
        sbc: SbcSettings,
        served: ServedCertificate,
        versions: _VersionCache,
        current: KeyVaultCertificate | None,
    ) -> SbcCertificateStatus:
        status = SbcCertificateStatus(
            sbc=sbc.name, fqdn=sbc.fqdn, unreachable=served.unreachable,
            handshake_error=served.handshake_error, handshake_reached=served.handshake_reached,
            certificate=self._certificate_for(sbc),
        )
        status.problems.extend(served.problems)
        if served.trusted_roots is not None:
            status.trusted_roots = len(served.trusted_roots)
            present = {fingerprint_sha256(c) for c in served.trusted_roots}
            for fingerprint, label in sorted(self._trusted_root_record(sbc).items()):
                if fingerprint in present:
                    status.byoc_trusted_roots.append({"fingerprint": fingerprint, "label": label})
                else:
                    status.problems.append(
                        f"{label}, which byoc added to the trusted-root store, is no longer there"
                    )
        leaf = served.leaf
        if served.context_leaf is not None:
            status.context_fingerprint = fingerprint_sha256(served.context_leaf)
        if served.presented_leaf is not None:
            status.presented_fingerprint = fingerprint_sha256(served.presented_leaf)
        if served.presented is not None:
            status.chain_verified = served.presented.chain_verified
            if not served.presented.chain_verified:
                status.problems.append(
                    f"the SIP TLS port presents a certificate peers reject: "
                    f"{served.presented.verify_error}"
                )
        if (status.context_fingerprint and status.presented_fingerprint
                and status.context_fingerprint != status.presented_fingerprint):
            status.problems.append(
                f"the TLS context holds {status.context_fingerprint[:8]}… but the SIP TLS port "
                f"presents {status.presented_fingerprint[:8]}… (a reset may be pending)"
            )
        if current is not None:
            status.current_version = current.version
            status.current_fingerprint = current.fingerprint
        if leaf is not None:
            now = self._clock()
            status.serves = certificate_label(leaf)
            status.fingerprint = fingerprint_sha256(leaf)
            status.not_after = leaf.not_valid_after_utc.isoformat(timespec="seconds")
            status.days_left = days_left(leaf, now)
            status.warning_level = expiry_warning_level(status.days_left)
            match = versions.find(status.fingerprint)
            status.key_vault_version = match.version if match else None
        return status

    def _write_health(self, status: SbcCertificateStatus, rotation: SbcRotation | None) -> None:
        record = certificate_health(status, rotation, self._clock())
        if status.warning_level is not None:
            log.warning(
                "the certificate SBC %s serves expires in %s day(s) (warning at %s)",
                status.sbc, status.days_left, status.warning_level,
                extra={"event": "certificate.expiry_warning", "target": f"sbc:{status.sbc}",
                       "days_left": status.days_left, "threshold": status.warning_level,
                       "fingerprint": status.fingerprint},
            )
        try:
            self._state.put(HEALTH_NAMESPACE, health_key(status.sbc), record)
        except Exception as exc:  # health is advisory; the rotation's outcome stands
            log.error("certificate health not recorded",
                      extra={"event": "certificate.health_error", "target": f"sbc:{status.sbc}",
                             "error": str(exc)})

    # --- one SBC --------------------------------------------------------------------------------

    def _rotate_one(
        self,
        sbc: SbcSettings,
        served: ServedCertificate,
        target: KeyVaultCertificate,
        versions: _VersionCache,
        *,
        force: bool,
        dry_run: bool,
        correlation_id: str,
    ) -> SbcRotation:
        before = _fingerprint_or_none(served.leaf)
        if served.unreachable:
            result = SbcRotation(sbc.name, RotationOutcome.UNREACHABLE,
                                 "; ".join(served.problems), before=before)
            if not dry_run:
                self._record(sbc.name, "inspect", "failed", correlation_id, detail=result.detail)
            return result
        if served.serves(target.fingerprint) and not force:
            return SbcRotation(sbc.name, RotationOutcome.UNCHANGED,
                               f"already serves {target.bundle.label}", before=before,
                               after=target.fingerprint)
        if served.handshake_error is not None and not served.handshake_reached:
            detail = (
                f"not touched: a new certificate could not be verified by a live handshake, "
                f"because {served.handshake_error}. Make the SIP TLS port reachable from byoc "
                "(or set probe_host in BYOC_SBCS)"
            )
            if not dry_run:
                self._record(sbc.name, "plan", "failed", correlation_id, detail=detail)
            return SbcRotation(sbc.name, RotationOutcome.FAILED, detail, before=before)
        previous = self._rollback_version(sbc, served, target, versions)
        rollback_note = (
            f"rollback version {previous.version} ({previous.bundle.label})" if previous
            else "no Key Vault version to roll back to"
        )
        if previous is None and not force:
            detail = (
                f"SBC {sbc.name} serves "
                f"{certificate_label(served.leaf) if served.leaf else 'no readable certificate'}, "
                f"which is no Key Vault version of {target.name}, and no older version is fit "
                "for it: a failed rotation could not be rolled back. Run `byoc cert rotate "
                f"--sbc {sbc.name} --force` to install {target.bundle.label} anyway."
            )
            if not dry_run:
                self._record(sbc.name, "plan", "refused", correlation_id, before=before,
                             after=target.fingerprint, detail=detail)
            return SbcRotation(sbc.name, RotationOutcome.REFUSED, detail, before=before)
        if dry_run:
            return SbcRotation(
                sbc.name, RotationOutcome.WOULD_ROTATE,
                f"would install {target.bundle.label} (version {target.version}); {rollback_note}",
                before=before, after=target.fingerprint,
                rollback_version=previous.version if previous else None,
            )
        with self._locks.hold(f"sbc:{sbc.name}") as lease, self._tls(sbc) as tls:
            return self._apply(sbc, tls, lease, target, previous, before, correlation_id)

    def _rollback_version(
        self,
        sbc: SbcSettings,
        served: ServedCertificate,
        target: KeyVaultCertificate,
        versions: _VersionCache,
    ) -> KeyVaultCertificate | None:
        """The Key Vault version the SBC served (presented, else stored), or else the newest
        older version fit for it (not expired, right name, trusted chain)."""
        for leaf in (served.presented_leaf, served.context_leaf):
            if leaf is None:
                continue
            if fingerprint_sha256(leaf) == target.fingerprint:
                return target  # a forced re-upload: what it served is what it gets
            match = versions.find(fingerprint_sha256(leaf), exclude=target.version)
            if match is not None:
                return match
        roots = self._trust_roots()
        for candidate in versions.older_than(target.version):
            if candidate.fingerprint == target.fingerprint:
                continue
            if not find_certificate_problems(candidate.bundle, fqdn=sbc.fqdn, now=self._clock(),
                                             min_days_left=0, trusted_roots=roots,
                                             allowed_key_types=self._allowed_key_types()):
                return candidate
        return None

    def _apply(
        self,
        sbc: SbcSettings,
        tls: SbcTlsContextPort,
        lease: HeldLease,
        target: KeyVaultCertificate,
        previous: KeyVaultCertificate | None,
        before: str | None,
        correlation_id: str,
    ) -> SbcRotation:
        result = SbcRotation(sbc.name, RotationOutcome.ROTATED, before=before,
                             rollback_version=previous.version if previous else None)
        step = "add CA certificates to the trusted-root store"
        try:
            lease.check()
            keep = self._trust_store_entries(sbc, target)
            if previous is not None and previous is not target:
                keep += [c for c in self._trust_store_entries(sbc, previous) if c not in keep]
            self._complete_trust_store(sbc, tls, keep, result, correlation_id)
        except Exception as exc:
            result.outcome = RotationOutcome.FAILED
            result.detail = f"{step} failed, the key and certificate were not touched: {exc}"
            self._record(sbc.name, "add_trusted_root", "failed", correlation_id,
                         detail=result.detail)
            return result

        problem: str | None = None
        try:
            step = "upload the private key and the certificate"
            self._install(sbc, tls, lease, target, previous, result, correlation_id)
            step = "save the configuration"
            tls.save_configuration()
            self._step(result, sbc.name, "save_configuration", correlation_id)
            step = "verify"
            problem = self._verify(sbc, tls, target.fingerprint, result)
        except _StepAbandoned as exc:
            result.outcome = RotationOutcome.FAILED
            result.detail = str(exc)
            self._record(sbc.name, "rotate", "failed", correlation_id, before=before,
                         after=before, detail=result.detail)
            return result
        except Exception as exc:
            problem = f"{step} failed: {exc}"
        if problem is None:
            self._record(sbc.name, "verify", "ok", correlation_id, before=before,
                         after=target.fingerprint,
                         detail=f"context and SIP TLS port present {target.bundle.label}")
            result.after = target.fingerprint
            result.detail = f"now serves {target.bundle.label} (version {target.version})"
            pruned = self._prune_trust_store(sbc, tls, self._trust_store_entries(sbc, target),
                                             result, correlation_id)
            if pruned:
                result.detail += f"; {pruned}"
            self._record(sbc.name, "rotate", "ok", correlation_id, before=before,
                         after=target.fingerprint, detail=result.detail)
            return result

        self._record(sbc.name, "verify", "failed", correlation_id, before=before,
                     after=target.fingerprint, detail=problem)
        log.error("certificate rotation failed; rolling back",
                  extra={"event": "certificate.rollback", "target": f"sbc:{sbc.name}",
                         "problem": problem, "correlation_id": correlation_id})
        if previous is None:
            result.outcome = RotationOutcome.ROLLBACK_FAILED
            result.detail = (
                f"{problem}; there is no Key Vault version to roll back to (the rotation was "
                "forced): check the SBC's TLS context now"
            )
            self._record(sbc.name, "rollback", "failed", correlation_id, detail=result.detail)
            return result
        rollback_problem = self._roll_back(sbc, tls, previous, result, correlation_id)
        if rollback_problem is None:
            result.outcome = RotationOutcome.ROLLED_BACK
            result.after = previous.fingerprint
            result.detail = (
                f"{problem}; rolled back to version {previous.version} "
                f"({previous.bundle.label}), verified"
            )
            self._record(sbc.name, "rollback", "ok", correlation_id, before=target.fingerprint,
                         after=previous.fingerprint, detail=result.detail)
            return result
        if self._port_serves(sbc, previous.fingerprint):
            result.outcome = RotationOutcome.OLD_CERTIFICATE_SERVED
            result.after = previous.fingerprint
            result.detail = (
                f"{problem}; putting version {previous.version} back failed ({rollback_problem}), "
                f"but a handshake shows the SIP TLS port still presents {previous.bundle.label}: "
                "calls are not affected. The TLS context may hold other files than it serves "
                "(a reset would apply them): check it before the next reset"
            )
            self._record(sbc.name, "rollback", "failed", correlation_id,
                         after=previous.fingerprint, detail=result.detail)
            return result
        result.outcome = RotationOutcome.ROLLBACK_FAILED
        result.detail = (
            f"{problem}; rolling back to version {previous.version} also failed: "
            f"{rollback_problem}. The SBC's TLS may be down: check it now"
        )
        self._record(sbc.name, "rollback", "failed", correlation_id,
                     after=previous.fingerprint, detail=result.detail)
        return result

    def _install(
        self,
        sbc: SbcSettings,
        tls: SbcTlsContextPort,
        lease: HeldLease,
        target: KeyVaultCertificate,
        previous: KeyVaultCertificate | None,
        result: SbcRotation,
        correlation_id: str,
    ) -> None:
        """Key, then certificate. Between the two the SBC holds a key and a certificate that do not
        match, so the certificate upload is tried once; if it fails, the previous key goes back at
        once and the whole step is retried later (`step_attempts`, backing off from
        `step_retry_s`). Raises `_StepAbandoned` when every attempt failed and the previous key
        was put back each time."""
        failures: list[str] = []
        for attempt in range(self._step_attempts):
            if attempt:
                self._sleep(self._step_retry_s * 2 ** (attempt - 1))
            lease.check()
            tls.upload_private_key(target.bundle.key_pem())
            mismatched_at = time.monotonic()
            self._step(result, sbc.name, "upload_private_key", correlation_id,
                       after=target.fingerprint, detail=f"key of {target.bundle.label}")
            try:
                tls.upload_certificate(target.bundle.leaf_pem())
            except Exception as exc:
                if previous is None or previous is target:
                    raise
                failures.append(str(exc))
                tls.upload_private_key(previous.bundle.key_pem(), once=True)
                self._note_window(result, mismatched_at)
                self._step(result, sbc.name, "restore_private_key", correlation_id,
                           after=previous.fingerprint,
                           detail=f"certificate upload failed ({exc}); key of "
                                  f"{previous.bundle.label} put back")
                if not _transient(exc):
                    break
                continue
            self._note_window(result, mismatched_at)
            self._step(result, sbc.name, "upload_certificate", correlation_id,
                       before=result.before, after=target.fingerprint, detail=target.bundle.label)
            return
        assert previous is not None
        raise _StepAbandoned(
            f"the certificate upload failed {len(failures)} time(s) (last: {failures[-1]}); each "
            f"time the key of {previous.bundle.label} was put back at once, so the SBC kept "
            "serving it. Nothing changed; the next rotation tries again"
        )

    @staticmethod
    def _note_window(result: SbcRotation, since: float) -> None:
        window = time.monotonic() - since
        result.mismatch_window_s = max(result.mismatch_window_s or 0.0, window)

    def _port_serves(self, sbc: SbcSettings, fingerprint: str) -> bool:
        """Whether a handshake (as Genesys) shows `fingerprint` with a chain peers accept."""
        address = sip_tls_address(sbc)
        if address is None:
            return False
        try:
            presented = self._handshake.presented_certificate(*address, sbc.fqdn)
            leaf = x509.load_der_x509_certificate(presented.leaf_der)
        except (TlsHandshakeFailed, ValueError):
            return False
        return fingerprint_sha256(leaf) == fingerprint and presented.chain_verified

    def _roll_back(
        self,
        sbc: SbcSettings,
        tls: SbcTlsContextPort,
        previous: KeyVaultCertificate,
        result: SbcRotation,
        correlation_id: str,
    ) -> str | None:
        step = "add CA certificates"
        try:
            self._complete_trust_store(sbc, tls, self._trust_store_entries(sbc, previous), result,
                                       correlation_id)
            step = "re-upload the previous private key"
            tls.upload_private_key(previous.bundle.key_pem())
            self._step(result, sbc.name, "rollback_private_key", correlation_id,
                       after=previous.fingerprint, detail=f"key of {previous.bundle.label}")
            step = "re-upload the previous certificate"
            tls.upload_certificate(previous.bundle.leaf_pem())
            self._step(result, sbc.name, "rollback_certificate", correlation_id,
                       after=previous.fingerprint, detail=previous.bundle.label)
            step = "save the configuration"
            tls.save_configuration()
            self._step(result, sbc.name, "rollback_save_configuration", correlation_id)
            step = "verify the rollback"
            return self._verify(sbc, tls, previous.fingerprint, result, rollback=True)
        except Exception as exc:
            return f"{step} failed: {exc}"

    # --- the trusted-root store -----------------------------------------------------------------

    def _trust_store_entries(
        self, sbc: SbcSettings, certificate: KeyVaultCertificate
    ) -> list[x509.Certificate]:
        """What the store must hold for `certificate`: the CA roots BYOC_SBC_TRUSTED_ROOTS names,
        and the intermediates of the path the validator built (the SBC completes the chain it
        sends from this store). Never the leaf, the path's root, or other bundle certificates."""
        wanted = list(self._configured_sbc_roots())
        try:
            path = verified_path(certificate.bundle, fqdn=sbc.fqdn, now=self._clock(),
                                 trusted_roots=self._trust_roots())
        except (VerificationError, ValueError):  # no path, or no trusted roots at all
            return wanted
        fingerprints = {fingerprint_sha256(c) for c in wanted}
        for cert in path[1:-1]:
            if fingerprint_sha256(cert) not in fingerprints:
                wanted.append(cert)
                fingerprints.add(fingerprint_sha256(cert))
        return wanted

    def _complete_trust_store(
        self,
        sbc: SbcSettings,
        tls: SbcTlsContextPort,
        wanted: Sequence[x509.Certificate],
        result: SbcRotation,
        correlation_id: str,
    ) -> None:
        if not wanted:
            return
        stored = {fingerprint_sha256(c) for c in _pem_certificates(tls.read_trusted_roots_pem())}
        for cert in wanted:
            fingerprint = fingerprint_sha256(cert)
            if fingerprint in stored:
                continue
            tls.add_trusted_root(_pem(cert))
            stored.add(fingerprint)
            self._remember_trusted_root(sbc, cert)
            self._step(result, sbc.name, "add_trusted_root", correlation_id,
                       after=fingerprint, detail=certificate_label(cert))

    def _prune_trust_store(
        self,
        sbc: SbcSettings,
        tls: SbcTlsContextPort,
        keep: Sequence[x509.Certificate],
        result: SbcRotation,
        correlation_id: str,
    ) -> str:
        """Take out what byoc added and no longer needs; other entries are sent back unchanged.
        A failure is reported in the detail, never undoes the rotation."""
        owned = self._trusted_root_record(sbc)
        kept = {fingerprint_sha256(c) for c in keep}
        stale = {fp for fp in owned if fp not in kept}
        if not stale:
            return ""
        try:
            stored = _pem_certificates(tls.read_trusted_roots_pem())
            present = [c for c in stored if fingerprint_sha256(c) in stale]
            if present:
                tls.replace_trusted_roots(
                    "".join(_pem(c) for c in stored if fingerprint_sha256(c) not in stale)
                )
                for cert in present:
                    self._step(result, sbc.name, "remove_trusted_root", correlation_id,
                               before=fingerprint_sha256(cert), detail=certificate_label(cert))
            self._forget_trusted_roots(sbc, stale)
        except Exception as exc:
            self._record(sbc.name, "remove_trusted_root", "failed", correlation_id,
                         detail=str(exc))
            return f"taking {len(stale)} unneeded CA certificate(s) byoc added out of the " \
                   f"trusted-root store failed ({exc}); the next rotation tries again"
        return ""

    def _trusted_root_record(self, sbc: SbcSettings) -> dict[str, str]:
        try:
            record = self._state.get(TRUST_NAMESPACE, trust_record_key(sbc.name))
        except Exception:
            return {}
        entries = record.get("entries") if isinstance(record, dict) else None
        return {str(k): str(v) for k, v in entries.items()} if isinstance(entries, dict) else {}

    def _remember_trusted_root(self, sbc: SbcSettings, cert: x509.Certificate) -> None:
        entries = self._trusted_root_record(sbc)
        entries[fingerprint_sha256(cert)] = certificate_label(cert)
        self._state.put(TRUST_NAMESPACE, trust_record_key(sbc.name), {"entries": entries})

    def _forget_trusted_roots(self, sbc: SbcSettings, fingerprints: set[str]) -> None:
        entries = {k: v for k, v in self._trusted_root_record(sbc).items()
                   if k not in fingerprints}
        self._state.put(TRUST_NAMESPACE, trust_record_key(sbc.name), {"entries": entries})

    def _verify(
        self,
        sbc: SbcSettings,
        tls: SbcTlsContextPort,
        fingerprint: str,
        result: SbcRotation,
        *,
        rollback: bool = False,
    ) -> str | None:
        """None when the context holds `fingerprint` and the SIP TLS port presents it with a chain
        peers accept; otherwise what is wrong. A rollback is not failed by `resetNeeded` (set by
        the failed upload): what counts is that the port presents the previous certificate."""
        read_back = parse_pem_certificate(tls.read_certificate_pem())
        if fingerprint_sha256(read_back) != fingerprint:
            return (
                f"the TLS context's certificate read back is {certificate_label(read_back)}, "
                f"not {fingerprint[:8]}…"
            )
        if tls.private_key_valid() is False:
            return "the SBC says the context's private key does not match its certificate"
        if not rollback and tls.status().reset_needed:
            return (
                "the SBC reports resetNeeded: on this firmware a new TLS certificate applies only "
                "after a device reset (AudioCodes does not document whether one is needed; see "
                "docs/certificates.md), and byoc never resets an SBC on its own. Reset it in a "
                "maintenance window after the upload, or update its firmware"
            )
        result.steps.append("verified: context read back")
        address = sip_tls_address(sbc)
        if address is None:
            result.steps.append("not verified by handshake: the SBC has no SIP TLS port")
            return None
        problem = ""
        for attempt in range(self._verify_attempts):
            if attempt:
                self._sleep(self._verify_interval_s)
            try:
                presented = self._handshake.presented_certificate(*address, sbc.fqdn)
            except TlsHandshakeFailed as exc:
                problem = str(exc)
                continue
            leaf = x509.load_der_x509_certificate(presented.leaf_der)
            if fingerprint_sha256(leaf) != fingerprint:
                problem = (
                    f"the SIP TLS port {address[0]}:{address[1]} still presents "
                    f"{certificate_label(leaf)}, not {fingerprint[:8]}… (the upload was accepted "
                    "but is not live)"
                )
                continue
            if not presented.chain_verified:
                problem = (
                    f"the SIP TLS port presents the new certificate but peers would reject it: "
                    f"{presented.verify_error}"
                )
                continue
            result.steps.append("verified: live TLS handshake")
            return None
        return f"{problem} (after {self._verify_attempts} handshake(s))"

    # --- records --------------------------------------------------------------------------------

    def _step(
        self,
        result: SbcRotation,
        sbc: str,
        operation: str,
        correlation_id: str,
        *,
        before: str | None = None,
        after: str | None = None,
        detail: str = "",
    ) -> None:
        result.steps.append(operation)
        self._record(sbc, operation, "ok", correlation_id, before=before, after=after,
                     detail=detail)

    def _record(
        self,
        sbc: str | None,
        operation: str,
        outcome: str,
        correlation_id: str,
        *,
        before: str | None = None,
        after: str | None = None,
        detail: str = "",
    ) -> None:
        target = f"sbc:{sbc}" if sbc else CERTIFICATE_TARGET
        try:
            self._operations.record(
                target=target, operation=f"certificate.{operation}", outcome=outcome,
                correlation_id=correlation_id, before=before, after=after, detail=detail,
            )
        except Exception as exc:  # the audit trail must never stop a rollback
            log.error("operations log write failed",
                      extra={"event": "certificate.audit_error", "target": target,
                             "operation": operation, "error": str(exc)})

    def _refuse(
        self,
        report: RotationReport,
        sbcs: Sequence[SbcSettings],
        versions: _VersionCache,
        target: KeyVaultCertificate | None,
    ) -> None:
        """Nothing is uploaded; the refusal is logged, recorded, and shown in each SBC's health."""
        log.error("certificate rotation refused",
                  extra={"event": "certificate.refused", "certificate": report.certificate,
                         "version": report.version, "reason": report.refused,
                         "correlation_id": report.correlation_id})
        if report.dry_run:
            return
        self._record(None, "validate", "refused", report.correlation_id, after=report.version,
                     detail=report.refused or "")
        for sbc in sbcs:
            status = self._describe(sbc, self._inspect(sbc), versions, target)
            status.problems.append(report.refused or "the Key Vault certificate was refused")
            self._write_health(status, None)


# --- Key Vault versions, read once per run ------------------------------------------------------


class _VersionCache:
    """The certificate's Key Vault versions, each fetched and parsed at most once."""

    def __init__(self, secrets: CertificateSecrets, name: str) -> None:
        self._secrets = secrets
        self._name = name
        self._parsed: dict[str, KeyVaultCertificate | None] = {}
        self._current: KeyVaultCertificate | None = None
        self._order: list[str] | None = None

    def current(self) -> KeyVaultCertificate:
        if self._current is None:
            self._current = self._fetch(None)
            self._parsed[self._current.version] = self._current
        return self._current

    def get(self, version: str) -> KeyVaultCertificate:
        cached = self._parsed.get(version)
        if cached is not None:
            return cached
        certificate = self._fetch(version)
        self._parsed[version] = certificate
        return certificate

    def is_older(self, version: str, than: str) -> bool:
        order = self._versions()
        return version in order and than in order and order.index(version) < order.index(than)

    def older_than(self, version: str) -> Iterator[KeyVaultCertificate]:
        """Readable versions created before `version`, newest first (at most 10 looked at)."""
        order = self._versions()
        end = order.index(version) if version in order else len(order)
        for candidate in list(reversed(order[:end]))[:MAX_VERSIONS_SEARCHED]:
            parsed = self._try(candidate)
            if parsed is not None:
                yield parsed

    def find(self, fingerprint: str, *, exclude: str | None = None) -> KeyVaultCertificate | None:
        """The newest version whose leaf has `fingerprint` (among the 10 newest)."""
        for known in self._parsed.values():
            if known is not None and known.fingerprint == fingerprint and known.version != exclude:
                return known
        try:
            order = self._versions()
        except CertificateRotationError:
            return None
        for version in list(reversed(order))[:MAX_VERSIONS_SEARCHED]:
            if version == exclude:
                continue
            parsed = self._try(version)
            if parsed is not None and parsed.fingerprint == fingerprint:
                return parsed
        return None

    def _try(self, version: str) -> KeyVaultCertificate | None:
        if version not in self._parsed:
            try:
                self._parsed[version] = self._fetch(version)
            except (CertificateError, CertificateRotationError):
                self._parsed[version] = None
        return self._parsed[version]

    def _versions(self) -> list[str]:
        if self._order is None:
            try:
                listed = self._secrets.list_versions(self._name)
            except Exception as exc:
                raise _source_error(self._name, None, exc) from exc
            self._order = [v.version for v in listed if v.enabled]
        return self._order

    def _fetch(self, version: str | None) -> KeyVaultCertificate:
        try:
            secret = self._secrets.get_secret(self._name, version)
        except Exception as exc:
            raise _source_error(self._name, version, exc) from exc
        bundle = parse_certificate_bundle(secret.value, secret.content_type or "")
        return KeyVaultCertificate(name=self._name, version=secret.version, bundle=bundle)


def _source_error(name: str, version: str | None, exc: Exception) -> CertificateRotationError:
    what = f"certificate {name}" + (f" version {version}" if version else "")
    status = getattr(exc, "status_code", None)
    if status == 404:
        return CertificateSourceRefused(f"Key Vault has no {what} (404); check BYOC_CERTIFICATE_NAME")
    if status == 403:
        return CertificateSourceRefused(
            f"Key Vault refused to read {what} (403): the version is disabled, or the function's "
            "identity lacks 'Key Vault Secrets User' on the vault"
        )
    if status == 401:
        return CertificateSourceRefused(f"Key Vault did not accept byoc's credential for {what} (401)")
    return CertificateSourceUnavailable(f"Key Vault could not be read for {what}: {exc}")


class _StepAbandoned(CertificateRotationError):
    """The key/certificate step failed every time and the previous key was put back each time."""


def _transient(exc: Exception) -> bool:
    """409/5xx or a connection never made: the same upload may work a little later."""
    from byoc.adapters.audiocodes import SbcBusy, SbcUnreachable

    return isinstance(exc, SbcBusy | SbcUnreachable)


def _merged(reports: Sequence[RotationReport], correlation_id: str, dry_run: bool) -> RotationReport:
    """One report for a run over several certificates (SBCs with their own certificate)."""
    merged = RotationReport(
        certificate=", ".join(r.certificate for r in reports), correlation_id=correlation_id,
        dry_run=dry_run,
    )
    refusals = [f"{r.certificate}: {r.refused}" for r in reports if r.refused]
    merged.refused = "; ".join(refusals) or None
    for report in reports:
        merged.problems.extend(report.problems)
        merged.notes.extend(report.notes)
        merged.sbcs.extend(report.sbcs)
    return merged


def _pem_certificates(text: str) -> list[x509.Certificate]:
    """Every readable certificate in a PEM text (a damaged block is skipped)."""
    certificates = []
    for block in _PEM_CERTIFICATE.findall(text or ""):
        try:
            certificates.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except ValueError:
            continue
    return certificates


def _pem(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _fingerprint_or_none(cert: x509.Certificate | None) -> str | None:
    return fingerprint_sha256(cert) if cert is not None else None


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))
