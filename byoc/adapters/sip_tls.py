"""TLS for the SIP probe: the verifying client context and a summary of the peer's certificate."""

from __future__ import annotations

import hashlib
import ssl
from datetime import UTC, datetime
from typing import Any

from byoc.ports.sip import PeerCertificate


def tls_client_context(ca_bundle: str | None) -> ssl.SSLContext:
    """Verifying client context: CA bundle (PEM) or system store, name checked, TLS >= 1.2."""
    context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


_NAME_ATTRIBUTES = {
    "commonName": "CN",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "countryName": "C",
    "stateOrProvinceName": "ST",
    "localityName": "L",
    "domainComponent": "DC",
}


def peer_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket) -> PeerCertificate | None:
    """Summarize the verified peer leaf certificate of an established TLS connection."""
    der = ssl_object.getpeercert(binary_form=True)
    decoded = ssl_object.getpeercert()
    if not der or not decoded:
        return None
    sans: tuple[tuple[str, str], ...] = decoded.get("subjectAltName", ())  # type: ignore[assignment]
    cipher = ssl_object.cipher()
    return PeerCertificate(
        subject=_distinguished_name(decoded.get("subject", ())),
        issuer=_distinguished_name(decoded.get("issuer", ())),
        dns_names=tuple(value for kind, value in sans if kind == "DNS"),
        ip_addresses=tuple(value.strip() for kind, value in sans if kind == "IP Address"),
        not_before=_certificate_time(str(decoded["notBefore"])),
        not_after=_certificate_time(str(decoded["notAfter"])),
        sha256_fingerprint=hashlib.sha256(der).hexdigest(),
        tls_version=ssl_object.version(),
        cipher=cipher[0] if cipher else None,
    )


def _distinguished_name(rdns: Any) -> str:
    parts = [f"{_NAME_ATTRIBUTES.get(str(key), str(key))}={value}" for rdn in rdns for key, value in rdn]
    return ", ".join(parts)


def _certificate_time(text: str) -> datetime:
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(text), tz=UTC)
