"""What an SBC serves: the certificate in its TLS context and the leaf its SIP TLS port presents
(live handshake with SNI = the SBC's FQDN), compared with Key Vault, and written as its certificate
health (`health` / `certificate:<sbc>`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509

from byoc.domain.cert_checks import days_left, expiry_warning_level
from byoc.domain.certs import certificate_label, fingerprint_sha256, parse_pem_certificate
from byoc.domain.targets import sbc_target
from byoc.ports import TlsHandshakeFailed
from byoc.services.certificate_report import (
    HEALTH_NAMESPACE,
    KeyVaultCertificate,
    SbcCertificateStatus,
    SbcRotation,
    ServedCertificate,
    certificate_health,
    health_key,
)
from byoc.services.certificate_trust_store import SbcTrustStore, pem_certificates

if TYPE_CHECKING:
    from byoc.ports import SbcTlsContextPort, StateStore, TlsHandshakePort
    from byoc.services.certificate_sources import KeyVaultVersions
    from byoc.settings import SbcSettings

log = logging.getLogger("byoc.certificates")


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


class CertificateInspector:
    """Reads what the SBCs serve and records their certificate health."""

    def __init__(
        self,
        *,
        sbc_tls: Callable[[SbcSettings], SbcTlsContextPort],
        handshake: TlsHandshakePort,
        trust_store: SbcTrustStore,
        state: StateStore,
        clock: Callable[[], datetime],
    ) -> None:
        self._sbc_tls = sbc_tls
        self._handshake = handshake
        self._trust_store = trust_store
        self._state = state
        self._clock = clock

    def inspect(self, sbc: SbcSettings) -> ServedCertificate:
        served = ServedCertificate(sbc=sbc.name)
        try:
            with self.tls(sbc) as tls:
                served.context_leaf = parse_pem_certificate(tls.read_certificate_pem())
                try:
                    served.trusted_roots = pem_certificates(tls.read_trusted_roots_pem())
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
    def tls(self, sbc: SbcSettings) -> Iterator[SbcTlsContextPort]:
        tls = self._sbc_tls(sbc)
        try:
            yield tls
        finally:
            tls.close()

    def describe(
        self,
        sbc: SbcSettings,
        served: ServedCertificate,
        versions: KeyVaultVersions,
        current: KeyVaultCertificate | None,
        certificate: str,
    ) -> SbcCertificateStatus:
        """What `sbc` serves compared with Key Vault (`certificate`, `current` its newest version)."""
        status = SbcCertificateStatus(
            sbc=sbc.name, fqdn=sbc.fqdn, unreachable=served.unreachable,
            handshake_error=served.handshake_error, handshake_reached=served.handshake_reached,
            certificate=certificate,
        )
        status.problems.extend(served.problems)
        if served.trusted_roots is not None:
            status.trusted_roots = len(served.trusted_roots)
            present = {fingerprint_sha256(c) for c in served.trusted_roots}
            for fingerprint, label in sorted(self._trust_store.owned(sbc).items()):
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

    def write_health(self, status: SbcCertificateStatus, rotation: SbcRotation | None) -> None:
        record = certificate_health(status, rotation, self._clock())
        if status.warning_level is not None:
            log.warning(
                "the certificate SBC %s serves expires in %s day(s) (warning at %s)",
                status.sbc, status.days_left, status.warning_level,
                extra={"event": "certificate.expiry_warning", "target": sbc_target(status.sbc),
                       "days_left": status.days_left, "threshold": status.warning_level,
                       "fingerprint": status.fingerprint},
            )
        try:
            self._state.put(HEALTH_NAMESPACE, health_key(status.sbc), record)
        except Exception as exc:  # health is advisory; the rotation's outcome stands
            log.error("certificate health not recorded",
                      extra={"event": "certificate.health_error", "target": sbc_target(status.sbc),
                             "error": str(exc)})

    # --- one SBC --------------------------------------------------------------------------------

    def port_serves(self, sbc: SbcSettings, fingerprint: str) -> bool:
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
