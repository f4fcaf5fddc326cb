"""Ports certificate rotation uses: Key Vault certificate secrets, live TLS handshakes, SBC TLS contexts."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from byoc.ports.sbc import SbcStatus


class TlsHandshakeFailed(Exception):
    """No TLS handshake with an SBC's SIP TLS port.

    `reached` is False when nothing answered (refused, timeout, DNS): the port may be fine and only
    the path from byoc blocked. True when the port accepted the connection and the handshake broke
    off, which is what peers see too.
    """

    def __init__(self, message: str, *, reached: bool) -> None:
        super().__init__(message)
        self.reached = reached


@dataclass(frozen=True)
class PresentedCertificate:
    """What a live TLS handshake with an SBC's SIP TLS port showed.

    `chain_verified`: the chain reached the configured trust roots and the leaf covers the SNI
    name; `verify_error` says why not otherwise.
    """

    leaf_der: bytes
    chain_verified: bool
    verify_error: str | None = None
    tls_version: str | None = None


class CertificateSecret(Protocol):
    """One version of a Key Vault certificate's secret (value: base64 PFX or PEM text)."""

    @property
    def value(self) -> str: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def version(self) -> str: ...


class CertificateSecretVersion(Protocol):
    """One version of a certificate's secret, without its value."""

    @property
    def version(self) -> str: ...

    @property
    def enabled(self) -> bool: ...


class CertificateSecrets(Protocol):
    """Key Vault, as certificate rotation reads it (`KeyVaultSecrets` fits)."""

    def get_secret(self, name: str, version: str | None = None) -> CertificateSecret: ...

    def list_versions(self, name: str) -> Iterable[CertificateSecretVersion]:
        """Every version, oldest first."""
        ...


class TlsHandshakePort(Protocol):
    """Live handshakes with SIP TLS ports."""

    def presented_certificate(self, host: str, port: int, server_name: str) -> PresentedCertificate:
        """The leaf presented to a client sending SNI `server_name`; TlsHandshakeFailed if none."""
        ...


class SbcTlsContextPort(Protocol):
    """One TLS context of one AudioCodes SBC (REST `/files/tls/<ctx>/...`)."""

    def read_certificate_pem(self) -> str: ...

    def private_key_valid(self) -> bool | None: ...

    def upload_private_key(self, pem: str, *, once: bool = False) -> None: ...

    def upload_certificate(self, pem: str) -> None: ...

    def read_trusted_roots_pem(self) -> str: ...

    def add_trusted_root(self, pem: str) -> None: ...

    def replace_trusted_roots(self, pem: str) -> None: ...

    def save_configuration(self) -> None: ...

    def status(self) -> SbcStatus: ...

    def close(self) -> None: ...
