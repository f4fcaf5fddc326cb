"""The sandbox's own PKI, generated at start: a CA, HTTPS certificates for the emulators, SBC leaves.

Nothing here is committed: every key is made when the sandbox starts and written under its work dir.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from sandbox.core import TlsFiles


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "byoc sandbox"),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


LeafKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
KEY_TYPES = ("rsa-2048", "rsa-3072", "ec-p256", "ec-p384")
"""Leaf key types the sandbox issues. RSA-2048 by default: the SBC certificate Genesys BYOC Cloud
accepts (TLS 1.2, RSA-authenticated suites only, help.mypurecloud.com/?p=197875)."""


def new_leaf_key(key_type: str = "rsa-2048") -> LeafKey:
    """A key of one of `KEY_TYPES`."""
    if key_type == "rsa-2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if key_type == "rsa-3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if key_type == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "ec-p384":
        return ec.generate_private_key(ec.SECP384R1())
    raise ValueError(f"key_type must be one of {', '.join(KEY_TYPES)}, not {key_type!r}")


@dataclass(frozen=True)
class IssuedCertificate:
    """A leaf certificate with its key and the chain above it (CA excluded)."""

    key: LeafKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    def cert_pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()

    def key_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def chain_pem(self) -> str:
        return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in self.chain)

    def pem_bundle(self) -> str:
        """Key, leaf and chain in one PEM file (Key Vault's `application/x-pem-file`)."""
        return self.key_pem() + self.cert_pem() + self.chain_pem()

    def pkcs12(self) -> bytes:
        """PKCS#12 without a password (Key Vault's `application/x-pkcs12`)."""
        return pkcs12.serialize_key_and_certificates(
            b"byoc-sandbox", self.key, self.cert, list(self.chain) or None,
            serialization.NoEncryption(),
        )

    def fingerprint_sha256(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex().upper()


class SandboxPki:
    """A root CA and an intermediate; issues server leaves."""

    def __init__(self) -> None:
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        self.root = (
            x509.CertificateBuilder()
            .subject_name(_name("byoc sandbox root CA"))
            .issuer_name(_name("byoc sandbox root CA"))
            .public_key(self.root_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.root_key.public_key()),
                critical=False,
            )
            .sign(self.root_key, hashes.SHA256())
        )
        self.intermediate_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = (
            x509.CertificateBuilder()
            .subject_name(_name("byoc sandbox intermediate CA"))
            .issuer_name(self.root.subject)
            .public_key(self.intermediate_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1825))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(self.intermediate_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.root_key.public_key()),
                critical=False,
            )
            .sign(self.root_key, hashes.SHA256())
        )

    def root_pem(self) -> str:
        return self.root.public_bytes(serialization.Encoding.PEM).decode()

    def issue(
        self,
        dns_names: list[str],
        *,
        ips: list[str] | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        days: int = 90,
        key_type: str = "rsa-2048",
        server_auth: bool = True,
        extra: tuple[tuple[x509.ExtensionType, bool], ...] = (),
    ) -> IssuedCertificate:
        """A server leaf signed by the intermediate (`server_auth=False`: EKU clientAuth only;
        `extra`: (extension, critical) pairs added as they are)."""
        key = new_leaf_key(key_type)
        now = _now()
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips or []]
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH]
        if server_auth:
            usages.insert(0, ExtendedKeyUsageOID.SERVER_AUTH)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(dns_names[0] if dns_names else (ips or ["leaf"])[0]))
            .issuer_name(self.intermediate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before or now - dt.timedelta(hours=1))
            .not_valid_after(not_after or now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(
                    self.intermediate_key.public_key()
                ),
                critical=False,
            )
        )
        for extension, critical in extra:
            builder = builder.add_extension(extension, critical=critical)
        cert = builder.sign(self.intermediate_key, hashes.SHA256())
        return IssuedCertificate(key=key, cert=cert, chain=(self.intermediate,))

    def issue_elsewhere(self, dns_names: list[str], *, under: str, days: int = 90,
                        key_type: str = "rsa-2048") -> IssuedCertificate:
        """A leaf that does not chain to this PKI's root the way a public one must.

        `under="private-root"`: a private root and issuing CA of their own, both in the chain.
        `under="non-ca"`: signed by another server leaf of this PKI (not a CA), which is in the
        chain together with the intermediate above it.
        """
        now = _now()
        if under == "private-root":
            root_key = ec.generate_private_key(ec.SECP256R1())
            root = _ca(_name("private root CA"), root_key, None, root_key, now)
            issuing_key = ec.generate_private_key(ec.SECP256R1())
            issuing = _ca(_name("private issuing CA"), issuing_key, root, root_key, now)
            signer, signer_key, chain = issuing, issuing_key, (issuing, root)
        elif under == "non-ca":
            other = self.issue(dns_names, days=days)
            signer, signer_key, chain = other.cert, other.key, (other.cert, self.intermediate)
        else:
            raise ValueError(f"under must be private-root or non-ca, not {under!r}")
        key = new_leaf_key(key_type)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(dns_names[0]))
            .issuer_name(signer.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                signer_key.public_key()), critical=False)
            .sign(signer_key, hashes.SHA256())
        )
        return IssuedCertificate(key=key, cert=cert, chain=chain)

    def write_server_files(self, workdir: Path, name: str) -> TlsFiles:
        """An HTTPS certificate for 127.0.0.1/localhost, written as PEM files for uvicorn."""
        leaf = self.issue(["localhost"], ips=["127.0.0.1"], days=30, key_type="ec-p256")
        certfile = workdir / f"{name}.crt"
        keyfile = workdir / f"{name}.key"
        certfile.write_text(leaf.cert_pem() + leaf.chain_pem())
        keyfile.write_text(leaf.key_pem())
        keyfile.chmod(0o600)
        return TlsFiles(certfile=str(certfile), keyfile=str(keyfile))

    def write_ca_bundle(self, path: Path) -> Path:
        path.write_text(self.root_pem())
        return path


def _ca(name: x509.Name, key: ec.EllipticCurvePrivateKey, issuer: x509.Certificate | None,
        issuer_key: ec.EllipticCurvePrivateKey, now: dt.datetime) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1825))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                       critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    return builder.sign(issuer_key, hashes.SHA256())
