"""Certificate bundles from Key Vault: parsing, and the checks that come before an SBC upload.

Key Vault hands a certificate out as a secret whose value is base64 PKCS#12 (`application/x-pkcs12`)
or PEM text (`application/x-pem-file`) holding the private key, the leaf and the chain.

The checks that come before an upload are in `cert_checks`.

Fingerprints are SHA-256 of the leaf's DER encoding, as uppercase hex without colons.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
    PublicKeyTypes,
)
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

PKCS12_CONTENT_TYPE = "application/x-pkcs12"
PEM_CONTENT_TYPE = "application/x-pem-file"

EXPIRY_WARNING_DAYS: tuple[int, ...] = (30, 14, 7)
"""Days left at which a certificate raises a warning, least to most urgent."""

_FINGERPRINT_PREFIX_LENGTH = 8


class KeyType(StrEnum):
    """Key algorithm and size as named in messages and settings."""

    RSA_2048 = "RSA-2048"
    RSA_3072 = "RSA-3072"
    RSA_4096 = "RSA-4096"
    EC_P256 = "EC-P256"
    EC_P384 = "EC-P384"


RSA_KEY_TYPES: frozenset[str] = frozenset({KeyType.RSA_2048, KeyType.RSA_3072, KeyType.RSA_4096})
EC_KEY_TYPES: frozenset[str] = frozenset({KeyType.EC_P256, KeyType.EC_P384})

DEFAULT_ALLOWED_KEY_TYPES: frozenset[str] = RSA_KEY_TYPES
"""RSA of 2048 bits or more: Genesys BYOC Cloud negotiates only RSA-authenticated suites."""

GENESYS_TLS_SOURCE = (
    "Genesys 'TLS trunk transport protocol specification' (https://help.mypurecloud.com/?p=197875)"
)
GENESYS_KEY_REQUIREMENT = (
    f"Genesys BYOC Cloud speaks TLS 1.2 with RSA-authenticated cipher suites only ({GENESYS_TLS_SOURCE}),"
    " so it cannot complete a handshake with an SBC serving this key"
)


def allowed_key_types(*, allow_ec: bool) -> frozenset[str]:
    """The key types rotation accepts: RSA ≥ 2048, plus EC P-256/P-384 when `allow_ec`."""
    return RSA_KEY_TYPES | EC_KEY_TYPES if allow_ec else RSA_KEY_TYPES


# --- errors -------------------------------------------------------------------------------------


class CertificateError(Exception):
    """Base of every certificate problem."""


class CertificateBundleError(CertificateError):
    """The secret value is not a usable certificate bundle (format, encoding, missing parts)."""


class BundleDecryptionFailed(CertificateBundleError):
    """The bundle is encrypted and the password is wrong or missing (or the content is damaged)."""


class CertificateInvalid(CertificateError):
    """A parsed bundle must not be uploaded; the message names the certificate and the problem."""

    def __init__(self, certificate: str, problem: str) -> None:
        super().__init__(f"certificate {certificate} {problem}")
        self.certificate = certificate
        self.problem = problem


class CertificateExpired(CertificateInvalid):
    """The leaf (or an intermediate on its path) is past its notAfter."""


class CertificateNotYetValid(CertificateInvalid):
    """The leaf (or an intermediate on its path) is before its notBefore."""


class CertificateExpiresTooSoon(CertificateInvalid):
    """The leaf is valid but has fewer days left than rotation requires."""


class KeyMismatch(CertificateInvalid):
    """The private key is not the one whose public half is in the leaf."""


class SanMismatch(CertificateInvalid):
    """No SAN DNS name of the leaf covers the SBC's FQDN."""


class ChainIncomplete(CertificateInvalid):
    """No path leads from the leaf through the bundle's intermediates to a trusted root."""


class UnsupportedKey(CertificateInvalid):
    """The leaf's key algorithm or size is not one the SBC's TLS peers accept."""


class UntrustedRoot(ChainIncomplete):
    """The chain ends at a root that is not among the trusted (publicly trusted) roots."""


class NoServerAuth(CertificateInvalid):
    """The leaf's extended key usage does not include TLS server authentication."""


class UnknownCriticalExtension(CertificateInvalid):
    """A certificate on the path carries a critical extension a TLS client does not know."""


class IssuerNotCa(CertificateInvalid):
    """A certificate on the path was issued by a certificate that is not a CA."""


class ChainRejected(CertificateInvalid):
    """The path validator refused the chain for another reason (its message says which)."""


# --- the bundle ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CertificateBundle:
    """Private key, leaf certificate and the rest of the chain (issuer first, then upwards).

    `chain` holds every other certificate from the secret, ordered from the leaf's issuer upwards;
    it may include the root when the secret does. Compare bundles by `fingerprint_sha256`.
    """

    key: PrivateKeyTypes = field(repr=False)
    leaf: x509.Certificate
    chain: tuple[x509.Certificate, ...] = ()

    @property
    def fingerprint_sha256(self) -> str:
        """SHA-256 of the leaf's DER, uppercase hex without colons."""
        return fingerprint_sha256(self.leaf)

    @property
    def not_before(self) -> datetime:
        """Start of the leaf's validity (UTC)."""
        return self.leaf.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        """End of the leaf's validity (UTC)."""
        return self.leaf.not_valid_after_utc

    @property
    def san_dns_names(self) -> tuple[str, ...]:
        """DNS names in the leaf's Subject Alternative Name extension."""
        return san_dns_names(self.leaf)

    @property
    def subject_cn(self) -> str | None:
        """The leaf's subject common name, if it has one."""
        return subject_cn(self.leaf)

    @property
    def label(self) -> str:
        """How messages name the leaf: `CN=sbc1.example.com (AB12CD34…)`."""
        return certificate_label(self.leaf)

    def leaf_pem(self) -> str:
        """The leaf certificate as PEM."""
        return _cert_pem(self.leaf)

    def key_pem(self) -> str:
        """The private key as unencrypted PKCS#8 PEM, for upload to the SBC. Never log it."""
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii")

    def chain_pem(self) -> str:
        """The chain certificates as concatenated PEM, issuer first; empty when there are none."""
        return "".join(_cert_pem(cert) for cert in self.chain)


def fingerprint_sha256(cert: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER, uppercase hex without colons."""
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def subject_cn(cert: x509.Certificate) -> str | None:
    """The subject common name, if the certificate has one."""
    attributes = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return None
    value = attributes[0].value
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def san_dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    """DNS names in the Subject Alternative Name extension (empty when there is none)."""
    try:
        extension = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return ()
    return tuple(extension.value.get_values_for_type(x509.DNSName))


def certificate_label(cert: x509.Certificate) -> str:
    """`CN=<name> (<fingerprint prefix>…)`, or the full subject when there is no CN."""
    cn = subject_cn(cert)
    name = f"CN={cn}" if cn is not None else (cert.subject.rfc4514_string() or "(empty subject)")
    return f"{name} ({fingerprint_sha256(cert)[:_FINGERPRINT_PREFIX_LENGTH]}…)"


def key_type_name(public_key: CertificatePublicKeyTypes) -> str:
    """`RSA-2048`, `EC-P256`, `EC-secp521r1`, `Ed25519`… (a `KeyType` value when supported)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        curve = public_key.curve.name
        return {"secp256r1": KeyType.EC_P256.value, "secp384r1": KeyType.EC_P384.value}.get(
            curve, f"EC-{curve}"
        )
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(public_key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(public_key, dsa.DSAPublicKey):
        return f"DSA-{public_key.key_size}"
    return type(public_key).__name__


def parse_pem_certificate(pem: bytes | str) -> x509.Certificate:
    """One PEM certificate (e.g. what an SBC serves), for fingerprint comparison."""
    data = pem.encode("ascii", "replace") if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError:
        raise CertificateBundleError("certificate PEM is damaged or not a certificate") from None


# --- parsing ------------------------------------------------------------------------------------


def parse_certificate_bundle(
    data: bytes | str, content_type: str, password: bytes | None = None
) -> CertificateBundle:
    """Parse a Key Vault certificate secret value into key, leaf and chain.

    `application/x-pkcs12`: base64 PFX text (raw DER is accepted when given as bytes). With no
    password, the empty password Key Vault exports use is tried too.
    `application/x-pem-file`: exactly one private key and at least one certificate; the leaf is
    the certificate matching the key (the first one when none matches).
    """
    if not data:
        raise CertificateBundleError("certificate secret value is empty")
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == PKCS12_CONTENT_TYPE:
        return _parse_pkcs12(data, password)
    if kind == PEM_CONTENT_TYPE:
        return _parse_pem(data, password)
    raise CertificateBundleError(
        f"unsupported certificate content type {content_type!r}; "
        f"expected {PKCS12_CONTENT_TYPE!r} or {PEM_CONTENT_TYPE!r}"
    )


def _parse_pkcs12(data: bytes | str, password: bytes | None) -> CertificateBundle:
    der = _pkcs12_der(data)
    if not _looks_like_pfx(der):
        raise CertificateBundleError(
            "PKCS#12 bundle is damaged: its structure is not a PFX (truncated, padded, or not "
            "PKCS#12 at all); fetch the secret again or re-export the certificate"
        )
    # Key Vault exports carry no password; try that too when a given one does not open the bundle.
    passwords: list[bytes | None] = [None, b""] if password is None else [password, None, b""]
    loaded: tuple[PrivateKeyTypes | None, x509.Certificate | None, list[x509.Certificate]] | None
    loaded = None
    for candidate in passwords:
        try:
            loaded = pkcs12.load_key_and_certificates(der, candidate)
            break
        except UnsupportedAlgorithm:
            raise CertificateBundleError(
                "PKCS#12 bundle uses an encryption algorithm that cannot be read here "
                "(legacy RC2/RC4?); re-export it with AES (Key Vault's own export is fine)"
            ) from None
        except ValueError:
            continue
    if loaded is None:
        hint = (
            "the given password does not open it"
            if password is not None
            else "it needs a password (Key Vault's own exports use none)"
        )
        raise BundleDecryptionFailed(
            f"PKCS#12 bundle could not be opened: {hint}, or its content is damaged "
            "(integrity check failed)"
        )
    key, leaf, others = loaded
    if key is None:
        raise CertificateBundleError(
            "PKCS#12 bundle holds no private key; the Key Vault certificate policy must mark "
            "the key exportable (non-exportable keys are left out of the secret)"
        )
    if leaf is None:
        raise CertificateBundleError("PKCS#12 bundle holds a private key but no certificate for it")
    return CertificateBundle(key=key, leaf=leaf, chain=_ordered_chain(leaf, others))


def _pkcs12_der(data: bytes | str) -> bytes:
    if isinstance(data, bytes):
        if _looks_like_pfx(data):
            return data
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise CertificateBundleError(
                "PKCS#12 secret value is neither base64 text nor a PFX file"
            ) from None
    else:
        text = data
    try:
        return base64.b64decode(re.sub(r"\s+", "", text), validate=True)
    except (binascii.Error, ValueError):
        raise CertificateBundleError(
            "PKCS#12 secret value is not valid base64; Key Vault returns PFX as base64 text "
            "(is the content type right?)"
        ) from None


def _looks_like_pfx(der: bytes) -> bool:
    """PFX ::= SEQUENCE { version INTEGER (3), authSafe, macData OPTIONAL }, spanning all bytes."""
    if len(der) < 5 or der[0] != 0x30:
        return False
    first = der[1]
    if first == 0x80:  # BER indefinite length, as some exporters write
        offset = 2
    elif first & 0x80:
        width = first & 0x7F
        if not 1 <= width <= 4 or len(der) < 2 + width:
            return False
        offset = 2 + width
        if offset + int.from_bytes(der[2:offset], "big") != len(der):
            return False
    else:
        offset = 2
        if offset + first != len(der):
            return False
    return der[offset : offset + 3] == b"\x02\x01\x03"


_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----", re.DOTALL)
_PEM_KEY_LABELS = frozenset(
    {"PRIVATE KEY", "ENCRYPTED PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"}
)


def _parse_pem(data: bytes | str, password: bytes | None) -> CertificateBundle:
    if isinstance(data, bytes):
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise CertificateBundleError(
                "PEM bundle is not ASCII text (is the content type right? PKCS#12 secrets are "
                f"{PKCS12_CONTENT_TYPE})"
            ) from None
    else:
        text = data
    blocks = [(m.group(1), m.group(0)) for m in _PEM_BLOCK.finditer(text)]
    if not blocks:
        raise CertificateBundleError(
            "PEM bundle holds no PEM blocks (is the content type right? PKCS#12 secrets are "
            f"{PKCS12_CONTENT_TYPE})"
        )
    key_blocks = [block for label, block in blocks if label in _PEM_KEY_LABELS]
    cert_blocks = [block for label, block in blocks if label == "CERTIFICATE"]
    if not key_blocks:
        raise CertificateBundleError(
            "PEM bundle holds no private key; the Key Vault certificate policy must mark the key "
            "exportable (non-exportable keys are left out of the secret)"
        )
    if len(key_blocks) > 1:
        raise CertificateBundleError(
            f"PEM bundle holds {len(key_blocks)} private keys; expected exactly one"
        )
    if not cert_blocks:
        raise CertificateBundleError("PEM bundle holds a private key but no certificate")
    key = _load_pem_key(key_blocks[0].encode("ascii"), password)
    certs: list[x509.Certificate] = []
    for position, block in enumerate(cert_blocks, start=1):
        try:
            certs.append(x509.load_pem_x509_certificate(block.encode("ascii")))
        except ValueError:
            raise CertificateBundleError(
                f"certificate {position} of {len(cert_blocks)} in the PEM bundle is damaged"
            ) from None
    wanted = public_key_der(key.public_key())
    leaf = next((cert for cert in certs if public_key_der(cert.public_key()) == wanted), certs[0])
    others = [cert for cert in certs if cert is not leaf]
    return CertificateBundle(key=key, leaf=leaf, chain=_ordered_chain(leaf, others))


def _load_pem_key(block: bytes, password: bytes | None) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(block, password)
    except TypeError:  # raised when the key's encryption and the password's presence disagree
        if password is None:
            raise BundleDecryptionFailed(
                "the private key in the PEM bundle is encrypted and no password was given"
            ) from None
        return _load_pem_key(block, None)
    except UnsupportedAlgorithm:
        raise CertificateBundleError(
            "the private key in the PEM bundle uses an unsupported algorithm or encryption"
        ) from None
    except ValueError:
        if password is not None or b"ENCRYPTED" in block:
            raise BundleDecryptionFailed(
                "the private key in the PEM bundle could not be decrypted: wrong password, "
                "or the key is damaged"
            ) from None
        raise CertificateBundleError(
            "the private key in the PEM bundle is damaged or in an unknown format"
        ) from None


def _ordered_chain(
    leaf: x509.Certificate, others: Sequence[x509.Certificate]
) -> tuple[x509.Certificate, ...]:
    """Order from the leaf's issuer upwards; unrelated certificates follow in their own order."""
    remaining = [cert for cert in others if cert != leaf]
    ordered: list[x509.Certificate] = []
    current = leaf
    while remaining and current.issuer != current.subject:
        issuer = next((c for c in remaining if is_issued_by(current, c)), None)
        if issuer is None:
            issuer = next((c for c in remaining if c.subject == current.issuer), None)
        if issuer is None:
            break
        remaining.remove(issuer)
        ordered.append(issuer)
        current = issuer
    return (*ordered, *remaining)


def is_issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Issuer name matches, the issuer may sign certificates, and the signature verifies."""
    try:
        constraints = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and not constraints.ca and issuer != cert:
        return False
    return signed_by(cert, issuer)


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """`cert` names `issuer` as its issuer and carries a signature `issuer`'s key verifies."""
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def public_key_der(public_key: PublicKeyTypes) -> bytes:
    """The SubjectPublicKeyInfo DER of a key: equal for a private key's public half and its leaf."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _cert_pem(cert: x509.Certificate) -> str:
    """`cert` as one PEM block."""
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")
