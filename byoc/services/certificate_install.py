"""The steps that put a Key Vault certificate on one SBC (held under its lock): CA certificates
into the trusted-root store, the private key, then the certificate, save, verify twice (read back
and a live handshake); on a failure the previous version goes back the same way and is verified."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from cryptography import x509

from byoc.domain.certs import certificate_label, fingerprint_sha256, parse_pem_certificate
from byoc.domain.targets import sbc_target
from byoc.ports import SbcBusy, SbcUnreachable, TlsHandshakeFailed
from byoc.services.certificate_inspection import sip_tls_address
from byoc.services.certificate_report import (
    CertificateRotationError,
    RotationOutcome,
    SbcRotation,
)

if TYPE_CHECKING:
    from byoc.ports import HeldLease, SbcTlsContextPort, TlsHandshakePort
    from byoc.services.certificate_inspection import CertificateInspector
    from byoc.services.certificate_report import KeyVaultCertificate, RotationAudit
    from byoc.services.certificate_trust_store import SbcTrustStore
    from byoc.settings import SbcSettings

log = logging.getLogger("byoc.certificates")

STEP_ATTEMPTS = 4
STEP_RETRY_S = 2.0


class _StepAbandoned(CertificateRotationError):
    """The key/certificate step failed every time and the previous key was put back each time."""


def _transient(exc: Exception) -> bool:
    """409/5xx or a connection never made: the same upload may work a little later."""
    return isinstance(exc, SbcBusy | SbcUnreachable)


class CertificateInstaller:
    """Installs a certificate on one SBC, verifies it, and rolls back on any failure."""

    def __init__(
        self,
        *,
        handshake: TlsHandshakePort,
        trust_store: SbcTrustStore,
        inspector: CertificateInspector,
        audit: RotationAudit,
        verify_attempts: int,
        verify_interval_s: float,
        step_attempts: int,
        step_retry_s: float,
        sleep: Callable[[float], None],
    ) -> None:
        self._handshake = handshake
        self._trust_store = trust_store
        self._inspector = inspector
        self._audit = audit
        self._verify_attempts = max(1, verify_attempts)
        self._verify_interval_s = verify_interval_s
        self._step_attempts = max(1, step_attempts)
        self._step_retry_s = step_retry_s
        self._sleep = sleep

    def apply(
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
            keep = self._trust_store.entries_for(sbc, target)
            if previous is not None and previous is not target:
                keep += [c for c in self._trust_store.entries_for(sbc, previous) if c not in keep]
            self._trust_store.complete(sbc, tls, keep, result, correlation_id)
        except Exception as exc:
            result.outcome = RotationOutcome.FAILED
            result.detail = f"{step} failed, the key and certificate were not touched: {exc}"
            self._audit.record(sbc.name, "add_trusted_root", "failed", correlation_id,
                         detail=result.detail)
            return result

        problem: str | None = None
        try:
            step = "upload the private key and the certificate"
            self._upload(sbc, tls, lease, target, previous, result, correlation_id)
            step = "save the configuration"
            tls.save_configuration()
            self._audit.step(result, sbc.name, "save_configuration", correlation_id)
            step = "verify"
            problem = self._verify(sbc, tls, target.fingerprint, result)
        except _StepAbandoned as exc:
            result.outcome = RotationOutcome.FAILED
            result.detail = str(exc)
            self._audit.record(sbc.name, "rotate", "failed", correlation_id, before=before,
                         after=before, detail=result.detail)
            return result
        except Exception as exc:
            problem = f"{step} failed: {exc}"
        if problem is None:
            self._audit.record(sbc.name, "verify", "ok", correlation_id, before=before,
                         after=target.fingerprint,
                         detail=f"context and SIP TLS port present {target.bundle.label}")
            result.after = target.fingerprint
            result.detail = f"now serves {target.bundle.label} (version {target.version})"
            pruned = self._trust_store.prune(sbc, tls, self._trust_store.entries_for(sbc, target),
                                             result, correlation_id)
            if pruned:
                result.detail += f"; {pruned}"
            self._audit.record(sbc.name, "rotate", "ok", correlation_id, before=before,
                         after=target.fingerprint, detail=result.detail)
            return result

        self._audit.record(sbc.name, "verify", "failed", correlation_id, before=before,
                     after=target.fingerprint, detail=problem)
        log.error("certificate rotation failed; rolling back",
                  extra={"event": "certificate.rollback", "target": sbc_target(sbc.name),
                         "problem": problem, "correlation_id": correlation_id})
        if previous is None:
            result.outcome = RotationOutcome.ROLLBACK_FAILED
            result.detail = (
                f"{problem}; there is no Key Vault version to roll back to (the rotation was "
                "forced): check the SBC's TLS context now"
            )
            self._audit.record(sbc.name, "rollback", "failed", correlation_id, detail=result.detail)
            return result
        rollback_problem = self._roll_back(sbc, tls, previous, result, correlation_id)
        if rollback_problem is None:
            result.outcome = RotationOutcome.ROLLED_BACK
            result.after = previous.fingerprint
            result.detail = (
                f"{problem}; rolled back to version {previous.version} "
                f"({previous.bundle.label}), verified"
            )
            self._audit.record(sbc.name, "rollback", "ok", correlation_id, before=target.fingerprint,
                         after=previous.fingerprint, detail=result.detail)
            return result
        if self._inspector.port_serves(sbc, previous.fingerprint):
            result.outcome = RotationOutcome.OLD_CERTIFICATE_SERVED
            result.after = previous.fingerprint
            result.detail = (
                f"{problem}; putting version {previous.version} back failed ({rollback_problem}), "
                f"but a handshake shows the SIP TLS port still presents {previous.bundle.label}: "
                "calls are not affected. The TLS context may hold other files than it serves "
                "(a reset would apply them): check it before the next reset"
            )
            self._audit.record(sbc.name, "rollback", "failed", correlation_id,
                         after=previous.fingerprint, detail=result.detail)
            return result
        result.outcome = RotationOutcome.ROLLBACK_FAILED
        result.detail = (
            f"{problem}; rolling back to version {previous.version} also failed: "
            f"{rollback_problem}. The SBC's TLS may be down: check it now"
        )
        self._audit.record(sbc.name, "rollback", "failed", correlation_id,
                     after=previous.fingerprint, detail=result.detail)
        return result

    def _upload(
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
            self._audit.step(result, sbc.name, "upload_private_key", correlation_id,
                       after=target.fingerprint, detail=f"key of {target.bundle.label}")
            try:
                tls.upload_certificate(target.bundle.leaf_pem())
            except Exception as exc:
                if previous is None or previous is target:
                    raise
                failures.append(str(exc))
                tls.upload_private_key(previous.bundle.key_pem(), once=True)
                self._note_window(result, mismatched_at)
                self._audit.step(result, sbc.name, "restore_private_key", correlation_id,
                           after=previous.fingerprint,
                           detail=f"certificate upload failed ({exc}); key of "
                                  f"{previous.bundle.label} put back")
                if not _transient(exc):
                    break
                continue
            self._note_window(result, mismatched_at)
            self._audit.step(result, sbc.name, "upload_certificate", correlation_id,
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
            self._trust_store.complete(sbc, tls, self._trust_store.entries_for(sbc, previous), result,
                                       correlation_id)
            step = "re-upload the previous private key"
            tls.upload_private_key(previous.bundle.key_pem())
            self._audit.step(result, sbc.name, "rollback_private_key", correlation_id,
                       after=previous.fingerprint, detail=f"key of {previous.bundle.label}")
            step = "re-upload the previous certificate"
            tls.upload_certificate(previous.bundle.leaf_pem())
            self._audit.step(result, sbc.name, "rollback_certificate", correlation_id,
                       after=previous.fingerprint, detail=previous.bundle.label)
            step = "save the configuration"
            tls.save_configuration()
            self._audit.step(result, sbc.name, "rollback_save_configuration", correlation_id)
            step = "verify the rollback"
            return self._verify(sbc, tls, previous.fingerprint, result, rollback=True)
        except Exception as exc:
            return f"{step} failed: {exc}"

    # --- the trusted-root store -----------------------------------------------------------------

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
