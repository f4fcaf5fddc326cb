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
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from cryptography import x509

from byoc.domain.cert_checks import find_certificate_problems
from byoc.domain.certs import (
    CertificateBundle,
    CertificateError,
    allowed_key_types,
    certificate_label,
    fingerprint_sha256,
)
from byoc.domain.jobs import RotateCertificate
from byoc.ports import LockBusy
from byoc.services.certificate_inspection import CertificateInspector
from byoc.services.certificate_install import STEP_ATTEMPTS, STEP_RETRY_S, CertificateInstaller
from byoc.services.certificate_report import (
    CertificateNotConfigured,
    CertificateSourceRefused,
    CertificateSourceUnavailable,
    KeyVaultCertificate,
    RotationAudit,
    RotationOutcome,
    RotationReport,
    SbcCertificateStatus,
    SbcRotation,
    ServedCertificate,
    UnknownSbc,
    fingerprint_or_none,
    merged_report,
)
from byoc.services.certificate_sources import KeyVaultVersions
from byoc.services.certificate_trust_store import SbcTrustStore

if TYPE_CHECKING:
    from byoc.ports import (
        CertificateSecrets,
        JobQueue,
        OperationsLog,
        SbcTlsContextPort,
        StateStore,
        TargetLocks,
        TlsHandshakePort,
    )
    from byoc.settings import SbcSettings, Settings

log = logging.getLogger("byoc.certificates")

BUSY_RETRY_DELAY_S = 30


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
        self._trust_roots = trust_roots
        self._locks = locks
        self._queue = queue
        self._clock = clock
        self._audit = RotationAudit(operations)
        trust_store = SbcTrustStore(
            state=state, audit=self._audit, sbc_trusted_roots=settings.sbc_trusted_roots,
            trust_roots=trust_roots, clock=clock,
        )
        self._inspector = CertificateInspector(
            sbc_tls=sbc_tls, handshake=handshake, trust_store=trust_store, state=state,
            clock=clock,
        )
        self._installer = CertificateInstaller(
            handshake=handshake, trust_store=trust_store, inspector=self._inspector,
            audit=self._audit, verify_attempts=verify_attempts,
            verify_interval_s=verify_interval_s, step_attempts=step_attempts,
            step_retry_s=step_retry_s, sleep=sleep,
        )

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
        return reports[0] if len(reports) == 1 else merged_report(reports, correlation_id, dry_run)

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
        versions = KeyVaultVersions(self._secrets, name)
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

        served = {s.name: self._inspector.inspect(s) for s in sbcs}
        stopped = False
        for settings_sbc in sbcs:
            current = served[settings_sbc.name]
            if stopped:
                report.sbcs.append(SbcRotation(
                    settings_sbc.name, RotationOutcome.NOT_REACHED,
                    "not touched: the rotation stopped at an earlier SBC",
                    before=fingerprint_or_none(current.leaf),
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
                    else self._inspector.inspect(settings_sbc)
                )
                self._inspector.write_health(
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
        caches: dict[str, tuple[KeyVaultVersions, KeyVaultCertificate | None, str | None]] = {}
        for sbc in self._settings.sbcs:
            name = self._certificate_for(sbc)
            if name in caches:
                continue
            versions = KeyVaultVersions(self._secrets, name)
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
            status = self._describe(sbc, self._inspector.inspect(sbc), versions, current)
            if problem is not None:
                status.problems.append(problem)
            if record_health:
                self._inspector.write_health(status, None)
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

    def _describe(
        self,
        sbc: SbcSettings,
        served: ServedCertificate,
        versions: KeyVaultVersions,
        current: KeyVaultCertificate | None,
    ) -> SbcCertificateStatus:
        return self._inspector.describe(sbc, served, versions, current,
                                        certificate=self._certificate_for(sbc))

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
        self, versions: KeyVaultVersions, requested: str | None, report: RotationReport
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
        return list(dict.fromkeys(problems))

    # --- inspection -----------------------------------------------------------------------------

    def _rotate_one(
        self,
        sbc: SbcSettings,
        served: ServedCertificate,
        target: KeyVaultCertificate,
        versions: KeyVaultVersions,
        *,
        force: bool,
        dry_run: bool,
        correlation_id: str,
    ) -> SbcRotation:
        before = fingerprint_or_none(served.leaf)
        if served.unreachable:
            result = SbcRotation(sbc.name, RotationOutcome.UNREACHABLE,
                                 "; ".join(served.problems), before=before)
            if not dry_run:
                self._audit.record(sbc.name, "inspect", "failed", correlation_id, detail=result.detail)
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
                self._audit.record(sbc.name, "plan", "failed", correlation_id, detail=detail)
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
                self._audit.record(sbc.name, "plan", "refused", correlation_id, before=before,
                             after=target.fingerprint, detail=detail)
            return SbcRotation(sbc.name, RotationOutcome.REFUSED, detail, before=before)
        if dry_run:
            return SbcRotation(
                sbc.name, RotationOutcome.WOULD_ROTATE,
                f"would install {target.bundle.label} (version {target.version}); {rollback_note}",
                before=before, after=target.fingerprint,
                rollback_version=previous.version if previous else None,
            )
        with self._locks.hold(f"sbc:{sbc.name}") as lease, self._inspector.tls(sbc) as tls:
            return self._installer.apply(sbc, tls, lease, target, previous, before, correlation_id)

    def _rollback_version(
        self,
        sbc: SbcSettings,
        served: ServedCertificate,
        target: KeyVaultCertificate,
        versions: KeyVaultVersions,
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

    def _refuse(
        self,
        report: RotationReport,
        sbcs: Sequence[SbcSettings],
        versions: KeyVaultVersions,
        target: KeyVaultCertificate | None,
    ) -> None:
        """Nothing is uploaded; the refusal is logged, recorded, and shown in each SBC's health."""
        log.error("certificate rotation refused",
                  extra={"event": "certificate.refused", "certificate": report.certificate,
                         "version": report.version, "reason": report.refused,
                         "correlation_id": report.correlation_id})
        if report.dry_run:
            return
        self._audit.record(None, "validate", "refused", report.correlation_id, after=report.version,
                     detail=report.refused or "")
        for sbc in sbcs:
            status = self._describe(sbc, self._inspector.inspect(sbc), versions, target)
            status.problems.append(report.refused or "the Key Vault certificate was refused")
            self._inspector.write_health(status, None)
