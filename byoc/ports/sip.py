"""The SIP OPTIONS probe port: what a probe is asked (`ProbeTarget`), what it found (`ProbeResult`).

`byoc.adapters.sip_probe.probe` implements `SipProber`; the health check speaks these types.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from byoc.domain.carriers import TRANSPORTS, Transport

FailureKind = Literal["timeout", "refused", "tls_error", "malformed_reply", "dns_error"]

_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_URI_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%]+")


@dataclass(frozen=True)
class ProbeTarget:
    """Where to send OPTIONS: host (DNS name or IP), port, transport, TLS server name, URI user."""

    host: str
    port: int
    transport: Transport = "udp"
    server_name: str | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        if not is_host(self.host):
            raise ValueError(f"probe target host {self.host!r} is neither an IP address nor a DNS name")
        if not 1 <= self.port <= 65_535:
            raise ValueError(f"probe target port {self.port} is outside 1-65535")
        if self.transport not in TRANSPORTS:
            raise ValueError(f"probe transport {self.transport!r} is not one of udp, tcp, tls")
        if self.server_name is not None and not _HOSTNAME_RE.fullmatch(self.server_name):
            raise ValueError(f"TLS server name {self.server_name!r} is not a DNS name")
        if self.user is not None and not _URI_USER_RE.fullmatch(self.user):
            raise ValueError(f"Request-URI user {self.user!r} has characters not allowed in a SIP URI")

    @property
    def uri_host(self) -> str:
        """Host part of the Request-URI: the server name when set (SBCs route on it), else host."""
        return uri_host(self.server_name or self.host)

    def __str__(self) -> str:
        return f"{self.transport}:{uri_host(self.host)}:{self.port}"


@dataclass(frozen=True)
class PeerCertificate:
    """What the TLS peer presented (already verified against the CA bundle and server name)."""

    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    sha256_fingerprint: str  # lowercase hex of SHA-256 over the DER leaf certificate, no separators
    tls_version: str | None
    cipher: str | None


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one OPTIONS transaction: a final response, or a classified failure with detail."""

    target: ProbeTarget
    status_code: int | None = None
    reason: str | None = None
    rtt_ms: float | None = None
    remote_address: str | None = None
    transmissions: int = 0
    allow: tuple[str, ...] = ()
    accept: tuple[str, ...] = ()
    supported: tuple[str, ...] = ()
    server: str | None = None
    user_agent: str | None = None
    certificate: PeerCertificate | None = None
    failure: FailureKind | None = None
    detail: str | None = None

    def __post_init__(self) -> None:
        if (self.status_code is None) == (self.failure is None):
            raise ValueError("a probe result has either a final status code or a failure, not both")

    @property
    def transport(self) -> Transport:
        return self.target.transport

    @property
    def answered(self) -> bool:
        """True when the peer sent a final response (any 2xx-6xx)."""
        return self.status_code is not None


def is_host(text: str) -> bool:
    """True for an IP address or a DNS name (what a SIP URI host may be)."""
    return _is_ip_address(text) or _HOSTNAME_RE.fullmatch(text) is not None


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def uri_host(host: str) -> str:
    """`host` as a SIP URI writes it: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


class SipProber(Protocol):
    """One SIP OPTIONS transaction; never raises for network conditions (`byoc.adapters.sip_probe.probe`)."""

    async def __call__(
        self,
        target: ProbeTarget,
        *,
        timeout_s: float,
        timer_scale: float = 1.0,
        ca_bundle: str | None = None,
    ) -> ProbeResult: ...
