"""Where a rotation's certificates come from: the Key Vault versions of a certificate (each read
and parsed at most once per run), and the PEM files of trusted roots."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from cryptography import x509

from byoc.domain.certs import CertificateError, certificate_label, parse_certificate_bundle
from byoc.services.certificate_report import (
    CertificateRotationError,
    CertificateSourceRefused,
    CertificateSourceUnavailable,
    KeyVaultCertificate,
)

if TYPE_CHECKING:
    from byoc.ports import CertificateSecrets

MAX_VERSIONS_SEARCHED = 10


class KeyVaultVersions:
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
                raise source_error(self._name, None, exc) from exc
            self._order = [v.version for v in listed if v.enabled]
        return self._order

    def _fetch(self, version: str | None) -> KeyVaultCertificate:
        try:
            secret = self._secrets.get_secret(self._name, version)
        except Exception as exc:
            raise source_error(self._name, version, exc) from exc
        bundle = parse_certificate_bundle(secret.value, secret.content_type or "")
        return KeyVaultCertificate(name=self._name, version=secret.version, bundle=bundle)


def source_error(name: str, version: str | None, exc: Exception) -> CertificateRotationError:
    """The rotation error for a failed Key Vault read: refused (a person must act) or unavailable."""
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
