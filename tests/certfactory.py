"""Test certificates made on the fly: root and intermediate CAs, SBC leaves, Key Vault bundles.

Import it from tests as `from certfactory import ...`. CA keys default to EC P-256 (microseconds);
leaves default to RSA-2048, what Genesys BYOC Cloud requires, drawn from a pool of keys made once per
process (distinct within any 32 consecutive leaves) so tests stay fast. Validity windows default to the real
clock (CAs: 30 days back to 10 years ahead; leaves: 1 day back to 90 days ahead), so the
certificates also work in live TLS handshakes.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyKind = Literal["ec", "rsa", "ed25519"]
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_CURVES: dict[int, ec.EllipticCurve] = {
    256: ec.SECP256R1(),
    384: ec.SECP384R1(),
    521: ec.SECP521R1(),
}


_RSA_POOL: list[rsa.RSAPrivateKey] = []
_RSA_POOL_SIZE = 32
_rsa_drawn = 0


def new_private_key(key_type: KeyKind = "ec", key_size: int = 256) -> PrivateKey:
    """A key: EC (`key_size` 256, 384 or 521), RSA of `key_size` bits, Ed25519.

    RSA-2048 keys come from the pool (a new one until it holds 32, then round robin)."""
    global _rsa_drawn
    if key_type == "ec":
        return ec.generate_private_key(_CURVES[key_size])
    if key_type == "rsa" and key_size == 2048:
        if len(_RSA_POOL) < _RSA_POOL_SIZE:
            _RSA_POOL.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
            return _RSA_POOL[-1]
        _rsa_drawn += 1
        return _RSA_POOL[_rsa_drawn % _RSA_POOL_SIZE]
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return ed25519.Ed25519PrivateKey.generate()


@dataclass(frozen=True)
class IssuedCertificate:
    """A certificate and its private key."""

    certificate: x509.Certificate
    key: PrivateKey

    @property
    def cert_pem(self) -> str:
        return self.certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


@dataclass(frozen=True)
class Pki:
    """A root CA, an intermediate under it, and a leaf under the intermediate."""

    root: IssuedCertificate
    intermediate: IssuedCertificate
    leaf: IssuedCertificate

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        """What a bundle carries above the leaf: the intermediate."""
        return (self.intermediate.certificate,)


def make_root_ca(
    common_name: str = "byoc Test Root CA",
    *,
    key_type: KeyKind = "ec",
    key_size: int = 256,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> IssuedCertificate:
    """A self-signed root CA."""
    key = new_private_key(key_type, key_size)
    start, end = _window(not_before, not_after, timedelta(days=30), timedelta(days=3650))
    return _issue(
        subject=_name(common_name),
        public_key=key.public_key(),
        signer=None,
        signing_key=key,
        not_before=start,
        not_after=end,
        ca=True,
        sans=(),
        own_key=key,
    )


def make_intermediate_ca(
    issuer: IssuedCertificate,
    common_name: str = "byoc Test Intermediate CA",
    *,
    key_type: KeyKind = "ec",
    key_size: int = 256,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> IssuedCertificate:
    """An intermediate CA signed by `issuer`."""
    key = new_private_key(key_type, key_size)
    start, end = _window(not_before, not_after, timedelta(days=30), timedelta(days=3650))
    return _issue(
        subject=_name(common_name),
        public_key=key.public_key(),
        signer=issuer.certificate,
        signing_key=issuer.key,
        not_before=start,
        not_after=end,
        ca=True,
        sans=(),
        own_key=key,
    )


def make_leaf(
    issuer: IssuedCertificate | None,
    *,
    sans: Sequence[str] = ("sbc1.example.com",),
    common_name: str | None = None,
    key_type: KeyKind = "rsa",
    key_size: int = 2048,
    key: PrivateKey | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    usages: Sequence[x509.ObjectIdentifier] | None = (
        ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH,
    ),
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> IssuedCertificate:
    """A TLS server certificate signed by `issuer`, or self-signed when `issuer` is None.

    The CN defaults to the first SAN; `sans=()` leaves the SAN extension out. `usages` is the
    extended key usage (None leaves it out); `extra` adds (extension, critical) pairs.
    """
    own_key = key if key is not None else new_private_key(key_type, key_size)
    cn = common_name if common_name is not None else (sans[0] if sans else "sbc.example.com")
    start, end = _window(not_before, not_after, timedelta(days=1), timedelta(days=90))
    return _issue(
        subject=_name(cn),
        public_key=own_key.public_key(),
        signer=issuer.certificate if issuer is not None else None,
        signing_key=issuer.key if issuer is not None else own_key,
        not_before=start,
        not_after=end,
        ca=False,
        sans=tuple(sans),
        own_key=own_key,
        usages=usages,
        extra=extra,
    )


def make_pki(
    *,
    sans: Sequence[str] = ("sbc1.example.com",),
    key_type: KeyKind = "rsa",
    key_size: int = 2048,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> Pki:
    """Root → intermediate → leaf; the leaf takes the given SANs, key and window."""
    root = make_root_ca()
    intermediate = make_intermediate_ca(root)
    leaf = make_leaf(
        intermediate,
        sans=sans,
        key_type=key_type,
        key_size=key_size,
        not_before=not_before,
        not_after=not_after,
    )
    return Pki(root=root, intermediate=intermediate, leaf=leaf)


def pkcs12_base64(
    leaf: IssuedCertificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    password: bytes | None = None,
    friendly_name: bytes = b"sbc-tls",
) -> str:
    """The bundle as Key Vault serves an `application/x-pkcs12` secret: base64 PFX text.

    Without a password the PFX is unencrypted, as Key Vault exports are. A key that does not match
    the leaf cannot be put in a PFX; use `pem_bundle(..., key=other)` for that case.
    """
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    der = pkcs12.serialize_key_and_certificates(
        friendly_name, leaf.key, leaf.certificate, list(chain) or None, encryption
    )
    return base64.b64encode(der).decode("ascii")


def pem_bundle(
    leaf: IssuedCertificate,
    chain: Sequence[x509.Certificate] = (),
    *,
    key: PrivateKey | None = None,
    password: bytes | None = None,
) -> str:
    """The bundle as Key Vault serves an `application/x-pem-file` secret: key, leaf, chain.

    `key` replaces the leaf's own key (to build a mismatched bundle); `password` encrypts the key.
    """
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    key_pem = (key if key is not None else leaf.key).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    certs = [leaf.certificate, *chain]
    return key_pem.decode("ascii") + "".join(
        cert.public_bytes(serialization.Encoding.PEM).decode("ascii") for cert in certs
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "byoc tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _window(
    not_before: datetime | None,
    not_after: datetime | None,
    back: timedelta,
    ahead: timedelta,
) -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    return (not_before or now - back, not_after or now + ahead)


def _issue(
    *,
    subject: x509.Name,
    public_key: PublicKey,
    signer: x509.Certificate | None,
    signing_key: PrivateKey,
    not_before: datetime,
    not_after: datetime,
    ca: bool,
    sans: tuple[str, ...],
    own_key: PrivateKey,
    usages: Sequence[x509.ObjectIdentifier] | None = (),
    extra: Sequence[tuple[x509.ExtensionType, bool]] = (),
) -> IssuedCertificate:
    issuer_name = signer.subject if signer is not None else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    else:
        if usages is not None:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
        if sans:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in sans]),
                critical=False,
            )
    for extension, critical in extra:
        builder = builder.add_extension(extension, critical=critical)
    algorithm = None if isinstance(signing_key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return IssuedCertificate(certificate=builder.sign(signing_key, algorithm), key=own_key)
