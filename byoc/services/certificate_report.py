"""What a certificate rotation reports and records: its errors, each SBC's outcome, the status
`byoc cert status` shows, the health record it writes, and its operations-log entries."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from cryptography import x509

from byoc.domain.certs import CertificateBundle, fingerprint_sha256
from byoc.domain.targets import sbc_target
from byoc.ports import PresentedCertificate

if TYPE_CHECKING:
    from byoc.ports import OperationsLog

log = logging.getLogger("byoc.certificates")

HEALTH_NAMESPACE = "health"
CERTIFICATE_TARGET = "certificate"


def health_key(sbc: str) -> str:
    """The key of an SBC's certificate health record in the `health` namespace."""
    return f"certificate:{sbc}"


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



def merged_report(
    reports: Sequence[RotationReport], correlation_id: str, dry_run: bool
) -> RotationReport:
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


def fingerprint_or_none(cert: x509.Certificate | None) -> str | None:
    return fingerprint_sha256(cert) if cert is not None else None


def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


class RotationAudit:
    """The rotation's operations-log entries: target `sbc:<name>` (or `certificate` for the run),
    operations `certificate.*`. A failed write is logged and never stops a rotation or rollback."""

    def __init__(self, operations: OperationsLog) -> None:
        self._operations = operations

    def step(
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
        self.record(sbc, operation, "ok", correlation_id, before=before, after=after,
                     detail=detail)

    def record(
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
        target = sbc_target(sbc) if sbc else CERTIFICATE_TARGET
        try:
            self._operations.record(
                target=target, operation=f"certificate.{operation}", outcome=outcome,
                correlation_id=correlation_id, before=before, after=after, detail=detail,
            )
        except Exception as exc:  # the audit trail must never stop a rollback
            log.error("operations log write failed",
                      extra={"event": "certificate.audit_error", "target": target,
                             "operation": operation, "error": str(exc)})
