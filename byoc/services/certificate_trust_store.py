"""The SBC's trusted-root store as a rotation keeps it: the CA certificates a certificate's chain
needs are added before the upload, and what byoc added and no longer needs is taken out after.
What byoc added is remembered per SBC (namespace `certificates`, key `trusted-roots:<sbc>`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import VerificationError

from byoc.domain.cert_checks import verified_path
from byoc.domain.certs import certificate_label, fingerprint_sha256
from byoc.services.certificate_sources import load_sbc_trusted_roots

if TYPE_CHECKING:
    from byoc.ports import SbcTlsContextPort, StateStore
    from byoc.services.certificate_report import KeyVaultCertificate, RotationAudit, SbcRotation
    from byoc.settings import SbcSettings

TRUST_NAMESPACE = "certificates"
_PEM_CERTIFICATE = re.compile(
    r"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----", re.DOTALL
)


def trust_record_key(sbc: str) -> str:
    """The key (namespace `certificates`) of what byoc added to an SBC's trusted-root store."""
    return f"trusted-roots:{sbc}"


class SbcTrustStore:
    """Adds to, prunes and remembers what byoc put in the SBCs' trusted-root stores."""

    def __init__(
        self,
        *,
        state: StateStore,
        audit: RotationAudit,
        sbc_trusted_roots: str | None,
        trust_roots: Callable[[], Sequence[x509.Certificate]],
        clock: Callable[[], datetime],
    ) -> None:
        self._state = state
        self._audit = audit
        self._sbc_trusted_roots = sbc_trusted_roots
        self._trust_roots = trust_roots
        self._clock = clock
        self._sbc_roots: list[x509.Certificate] | None = None

    def configured_roots(self) -> list[x509.Certificate]:
        """The CA certificates BYOC_SBC_TRUSTED_ROOTS names (read once)."""
        if self._sbc_roots is None:
            self._sbc_roots = load_sbc_trusted_roots(self._sbc_trusted_roots)
        return self._sbc_roots

    def entries_for(
        self, sbc: SbcSettings, certificate: KeyVaultCertificate
    ) -> list[x509.Certificate]:
        """What the store must hold for `certificate`: the CA roots BYOC_SBC_TRUSTED_ROOTS names,
        and the intermediates of the path the validator built (the SBC completes the chain it
        sends from this store). Never the leaf, the path's root, or other bundle certificates."""
        wanted = list(self.configured_roots())
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

    def complete(
        self,
        sbc: SbcSettings,
        tls: SbcTlsContextPort,
        wanted: Sequence[x509.Certificate],
        result: SbcRotation,
        correlation_id: str,
    ) -> None:
        if not wanted:
            return
        stored = {fingerprint_sha256(c) for c in pem_certificates(tls.read_trusted_roots_pem())}
        for cert in wanted:
            fingerprint = fingerprint_sha256(cert)
            if fingerprint in stored:
                continue
            tls.add_trusted_root(pem(cert))
            stored.add(fingerprint)
            self._remember(sbc, cert)
            self._audit.step(result, sbc.name, "add_trusted_root", correlation_id,
                       after=fingerprint, detail=certificate_label(cert))

    def prune(
        self,
        sbc: SbcSettings,
        tls: SbcTlsContextPort,
        keep: Sequence[x509.Certificate],
        result: SbcRotation,
        correlation_id: str,
    ) -> str:
        """Take out what byoc added and no longer needs; other entries are sent back unchanged.
        A failure is reported in the detail, never undoes the rotation."""
        owned = self.owned(sbc)
        kept = {fingerprint_sha256(c) for c in keep}
        stale = {fp for fp in owned if fp not in kept}
        if not stale:
            return ""
        try:
            stored = pem_certificates(tls.read_trusted_roots_pem())
            present = [c for c in stored if fingerprint_sha256(c) in stale]
            if present:
                tls.replace_trusted_roots(
                    "".join(pem(c) for c in stored if fingerprint_sha256(c) not in stale)
                )
                for cert in present:
                    self._audit.step(result, sbc.name, "remove_trusted_root", correlation_id,
                               before=fingerprint_sha256(cert), detail=certificate_label(cert))
            self._forget(sbc, stale)
        except Exception as exc:
            self._audit.record(sbc.name, "remove_trusted_root", "failed", correlation_id,
                         detail=str(exc))
            return f"taking {len(stale)} unneeded CA certificate(s) byoc added out of the " \
                   f"trusted-root store failed ({exc}); the next rotation tries again"
        return ""

    def owned(self, sbc: SbcSettings) -> dict[str, str]:
        """What byoc added to `sbc`'s store: fingerprint → label (empty when unreadable)."""
        try:
            record = self._state.get(TRUST_NAMESPACE, trust_record_key(sbc.name))
        except Exception:
            return {}
        entries = record.get("entries") if isinstance(record, dict) else None
        return {str(k): str(v) for k, v in entries.items()} if isinstance(entries, dict) else {}

    def _remember(self, sbc: SbcSettings, cert: x509.Certificate) -> None:
        entries = self.owned(sbc)
        entries[fingerprint_sha256(cert)] = certificate_label(cert)
        self._state.put(TRUST_NAMESPACE, trust_record_key(sbc.name), {"entries": entries})

    def _forget(self, sbc: SbcSettings, fingerprints: set[str]) -> None:
        entries = {k: v for k, v in self.owned(sbc).items()
                   if k not in fingerprints}
        self._state.put(TRUST_NAMESPACE, trust_record_key(sbc.name), {"entries": entries})


def pem_certificates(text: str) -> list[x509.Certificate]:
    """Every readable certificate in a PEM text (a damaged block is skipped)."""
    certificates = []
    for block in _PEM_CERTIFICATE.findall(text or ""):
        try:
            certificates.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except ValueError:
            continue
    return certificates


def pem(cert: x509.Certificate) -> str:
    """`cert` as one PEM block."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
