"""SIP OPTIONS probe: one RFC 3261 OPTIONS transaction over UDP, TCP or TLS, and its outcome.

Pure stdlib (asyncio + ssl). The message builder and the strict response parser are public so they
can be tested and fuzzed without a network; `probe()` runs one transaction and never raises for
network conditions: every outcome is a `ProbeResult` (a final response, or a classified failure).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import re
import secrets
import socket
import ssl
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

Transport = Literal["udp", "tcp", "tls"]
FailureKind = Literal["timeout", "refused", "tls_error", "malformed_reply", "dns_error"]

TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "tls")
USER_AGENT = "byoc-sip-probe/0.1"
BRANCH_MAGIC_COOKIE = "z9hG4bK"
T1_S = 0.5
T2_S = 4.0
MAX_HEAD_BYTES = 65_536
MAX_BODY_BYTES = 65_536
_CLOSE_GRACE_S = 1.0

_COMPACT_FORMS = {
    "a": "Accept-Contact",
    "b": "Referred-By",
    "c": "Content-Type",
    "d": "Request-Disposition",
    "e": "Content-Encoding",
    "f": "From",
    "i": "Call-ID",
    "j": "Reject-Contact",
    "k": "Supported",
    "l": "Content-Length",
    "m": "Contact",
    "n": "Identity-Info",
    "o": "Event",
    "r": "Refer-To",
    "s": "Subject",
    "t": "To",
    "u": "Allow-Events",
    "v": "Via",
    "x": "Session-Expires",
    "y": "Identity",
}
_CANONICAL_NAMES = {
    name.lower(): name
    for name in (
        *_COMPACT_FORMS.values(),
        "Accept",
        "Accept-Encoding",
        "Accept-Language",
        "Allow",
        "CSeq",
        "Date",
        "Max-Forwards",
        "Record-Route",
        "Require",
        "Retry-After",
        "Route",
        "Server",
        "Timestamp",
        "Unsupported",
        "User-Agent",
        "Warning",
    )
}
_TOKEN = r"[A-Za-z0-9.!%*_+`'~-]+"  # noqa: S105 (RFC 3261 "token" grammar, not a secret)
_TOKEN_RE = re.compile(_TOKEN)
_STATUS_LINE_RE = re.compile(r"SIP/2\.0 ([1-6][0-9]{2})(?: (.*))?", re.IGNORECASE | re.DOTALL)
_REQUEST_LINE_RE = re.compile(rf"({_TOKEN}) (\S+) SIP/2\.0", re.IGNORECASE)
_VIA_RE = re.compile(r"SIP\s*/\s*2\.0\s*/\s*(" + _TOKEN + r")\s+(\S.*)", re.IGNORECASE | re.DOTALL)
_CSEQ_RE = re.compile(rf"([0-9]{{1,10}})[ \t]+({_TOKEN})")
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}\Z)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?"
)
_URI_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%]+")
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class MalformedSipMessageError(ValueError):
    """Bytes from the peer that are not a well-formed SIP response (RFC 3261 §7, §18.3)."""


class UnexpectedSipRequestError(Exception):
    """The peer sent a SIP request where a response was expected; a probe ignores it."""

    def __init__(self, method: str) -> None:
        super().__init__(f"peer sent a {method} request, not a response")
        self.method = method


@dataclass(frozen=True)
class ProbeTarget:
    """Where to send OPTIONS: host (DNS name or IP), port, transport, TLS server name, URI user."""

    host: str
    port: int
    transport: Transport = "udp"
    server_name: str | None = None
    user: str | None = None

    def __post_init__(self) -> None:
        if not (_is_ip_address(self.host) or _HOSTNAME_RE.fullmatch(self.host)):
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
        return _uri_host(self.server_name or self.host)

    def __str__(self) -> str:
        return f"{self.transport}:{_uri_host(self.host)}:{self.port}"


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


@dataclass(frozen=True)
class SipResponse:
    """A parsed SIP response; headers keep their order, compact names are expanded."""

    status_code: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    via_branch: str | None
    call_id: str
    cseq_number: int
    cseq_method: str

    @property
    def is_provisional(self) -> bool:
        return 100 <= self.status_code < 200

    def values(self, name: str) -> tuple[str, ...]:
        """Every value of header `name` (case-insensitive, compact form accepted), in order."""
        wanted = _canonical_name(name).lower()
        return tuple(value for key, value in self.headers if key.lower() == wanted)

    def first(self, name: str) -> str | None:
        found = self.values(name)
        return found[0] if found else None

    def list_values(self, name: str) -> tuple[str, ...]:
        """Comma-separated list header (Allow, Supported, ...) flattened across repeated headers."""
        return tuple(item for value in self.values(name) for item in _split_commas(value))


@dataclass(frozen=True)
class OptionsRequest:
    """An OPTIONS request ready to send, with the identifiers a response must echo."""

    data: bytes
    request_uri: str
    branch: str
    call_id: str
    cseq: int
    from_tag: str

    def matches(self, response: SipResponse) -> bool:
        """RFC 3261 §17.1.3: same top Via branch, and the same Call-ID and CSeq as this request."""
        return (
            response.via_branch == self.branch
            and response.call_id == self.call_id
            and response.cseq_number == self.cseq
            and response.cseq_method == "OPTIONS"
        )


def build_options_request(
    target: ProbeTarget, *, local_host: str, local_port: int, cseq: int = 1
) -> OptionsRequest:
    """Build an OPTIONS request whose Via/Contact advertise `local_host:local_port`."""
    if not (_is_ip_address(local_host) or _HOSTNAME_RE.fullmatch(local_host)):
        raise ValueError(f"local host {local_host!r} is neither an IP address nor a DNS name")
    branch = BRANCH_MAGIC_COOKIE + secrets.token_hex(12)
    call_id = secrets.token_hex(16)
    from_tag = secrets.token_hex(6)
    uri_params = "" if target.transport == "udp" else f";transport={target.transport}"
    user = f"{target.user}@" if target.user else ""
    request_uri = f"sip:{user}{target.uri_host}:{target.port}{uri_params}"
    local = f"{_uri_host(local_host)}:{local_port}"
    lines = [
        f"OPTIONS {request_uri} SIP/2.0",
        f"Via: SIP/2.0/{target.transport.upper()} {local};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:byoc-probe@{_uri_host(local_host)}>;tag={from_tag}",
        f"To: <sip:{user}{target.uri_host}>",
        f"Call-ID: {call_id}",
        f"CSeq: {cseq} OPTIONS",
        f"Contact: <sip:byoc-probe@{local}{uri_params}>",
        "Accept: application/sdp",
        f"User-Agent: {USER_AGENT}",
        "Content-Length: 0",
    ]
    data = ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")
    return OptionsRequest(data, request_uri, branch, call_id, cseq, from_tag)


def parse_response(message: bytes, *, require_content_length: bool = False) -> SipResponse:
    """Parse one complete SIP response strictly.

    `require_content_length` is for stream transports (TCP/TLS), where RFC 3261 §18.3 makes
    Content-Length mandatory. Over UDP it may be absent (the body is the rest of the datagram);
    bytes beyond Content-Length are discarded, fewer bytes than it announces are an error.
    Raises `MalformedSipMessageError`, or `UnexpectedSipRequestError` for a request line.
    """
    end = message.find(b"\r\n\r\n")
    if end < 0:
        raise MalformedSipMessageError("header section is not terminated by an empty line (CRLF CRLF)")
    start_line, headers = _parse_head(message[:end], expect_response=True)
    rest = message[end + 4 :]
    content_length = _content_length(headers)
    if content_length is None:
        if require_content_length:
            raise MalformedSipMessageError(
                "Content-Length is missing; it is mandatory over TCP/TLS (RFC 3261 §18.3)"
            )
        body = rest
    elif len(rest) < content_length:
        raise MalformedSipMessageError(
            f"Content-Length is {content_length} but only {len(rest)} body bytes arrived"
        )
    else:
        body = rest[:content_length]
    return _response_from(start_line, headers, body)


async def read_stream_message(reader: asyncio.StreamReader) -> bytes:
    """Read one message from a TCP/TLS stream, framed by its Content-Length.

    Leading CRLFs (keep-alives, RFC 3261 §7.5 and RFC 5626) are skipped. Raises
    `MalformedSipMessageError` for a header section that is too long or has no Content-Length, and
    `asyncio.IncompleteReadError` when the peer closes the connection (`partial`: what arrived).
    """
    while True:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError as exc:
            raise MalformedSipMessageError(f"no end of header section within {MAX_HEAD_BYTES} bytes") from exc
        head = head.lstrip(b"\r\n")
        if head:
            break
    _, headers = _parse_head(head[:-4], expect_response=False)
    content_length = _content_length(headers)
    if content_length is None:
        raise MalformedSipMessageError(
            "Content-Length is missing; it is mandatory over TCP/TLS (RFC 3261 §18.3)"
        )
    body = await reader.readexactly(content_length)
    return head + body


async def probe(
    target: ProbeTarget,
    *,
    timeout_s: float,
    timer_scale: float = 1.0,
    ca_bundle: str | None = None,
    local_host: str | None = None,
) -> ProbeResult:
    """Send one OPTIONS to `target` and wait for its final response.

    `timeout_s` bounds everything (DNS, connect, TLS handshake, transaction); the transaction itself
    also ends at Timer F = 64*T1. UDP retransmits on Timer E (T1=500 ms doubling to T2=4 s, then T2
    after a provisional response). All timers are multiplied by `timer_scale`. TLS always verifies
    the peer against `ca_bundle` (PEM file) or the system store, using `target.server_name` (else
    `host`) for SNI and name checking. `local_host` is the source address to bind (default: chosen
    by the OS); Via and Contact advertise the socket's actual local address.
    """
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    if timer_scale <= 0:
        raise ValueError(f"timer_scale must be positive, got {timer_scale}")
    loop = asyncio.get_running_loop()
    run = _ProbeRun(
        target=target,
        deadline=loop.time() + timeout_s,
        timeout_s=timeout_s,
        timer_scale=timer_scale,
        local_host=local_host,
    )
    try:
        async with asyncio.timeout_at(run.deadline):
            run.stage = f"DNS lookup of {target.host}"
            address = await _resolve(target)
    except TimeoutError:
        return run.failed("timeout", f"{run.stage} did not finish within {timeout_s:g} s")
    except OSError as exc:
        return run.failed("dns_error", f"cannot resolve {target.host}: {_os_error_text(exc)}")
    if target.transport == "udp":
        return await _probe_udp(run, address)
    return await _probe_stream(run, address, ca_bundle)


def probe_sync(
    target: ProbeTarget,
    *,
    timeout_s: float,
    timer_scale: float = 1.0,
    ca_bundle: str | None = None,
    local_host: str | None = None,
) -> ProbeResult:
    """Run `probe()` in a fresh event loop (CLI and other synchronous callers; not from a loop)."""
    return asyncio.run(
        probe(
            target,
            timeout_s=timeout_s,
            timer_scale=timer_scale,
            ca_bundle=ca_bundle,
            local_host=local_host,
        )
    )


# --- transaction ---------------------------------------------------------------------------------


@dataclass
class _ProbeRun:
    """Mutable progress of one probe, so any failure can say how far it got."""

    target: ProbeTarget
    deadline: float
    timeout_s: float
    timer_scale: float
    local_host: str | None
    stage: str = "start"
    remote_address: str | None = None
    transmissions: int = 0
    provisional_seen: int = 0
    unmatched_seen: int = 0
    certificate: PeerCertificate | None = None
    sent_at: float | None = None

    @property
    def timer_f_s(self) -> float:
        return 64 * T1_S * self.timer_scale

    def failed(self, kind: FailureKind, detail: str) -> ProbeResult:
        return ProbeResult(
            target=self.target,
            remote_address=self.remote_address,
            transmissions=self.transmissions,
            certificate=self.certificate,
            failure=kind,
            detail=detail,
        )

    def no_final_response(self, waited_s: float, by_timer_f: bool) -> ProbeResult:
        limit = "RFC 3261 Timer F" if by_timer_f else "timeout_s"
        notes = [f"{self.transmissions} transmission(s)"]
        if self.provisional_seen:
            notes.append(f"{self.provisional_seen} provisional response(s)")
        if self.unmatched_seen:
            notes.append(
                f"{self.unmatched_seen} response(s) ignored because Via branch, Call-ID or CSeq "
                "did not match the request"
            )
        return self.failed(
            "timeout",
            f"no final response from {self.remote_address} within {waited_s:.2f} s ({limit}); "
            + ", ".join(notes),
        )

    def answered(self, response: SipResponse, rtt_s: float) -> ProbeResult:
        return ProbeResult(
            target=self.target,
            status_code=response.status_code,
            reason=response.reason,
            rtt_ms=round(rtt_s * 1000, 3),
            remote_address=self.remote_address,
            transmissions=self.transmissions,
            allow=response.list_values("Allow"),
            accept=response.list_values("Accept"),
            supported=response.list_values("Supported"),
            server=response.first("Server"),
            user_agent=response.first("User-Agent"),
            certificate=self.certificate,
        )


@dataclass(frozen=True)
class _Address:
    family: int
    host: str
    port: int

    def __str__(self) -> str:
        return f"{_uri_host(self.host)}:{self.port}"


async def _resolve(target: ProbeTarget) -> _Address:
    loop = asyncio.get_running_loop()
    kind = socket.SOCK_DGRAM if target.transport == "udp" else socket.SOCK_STREAM
    infos = await loop.getaddrinfo(target.host, target.port, type=kind)
    if not infos:
        raise socket.gaierror(f"no address for {target.host}")
    family, _, _, _, sockaddr = infos[0]
    return _Address(family, str(sockaddr[0]), int(sockaddr[1]))


class _DatagramInbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | Exception] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        self.queue.put_nowait(exc)


async def _probe_udp(run: _ProbeRun, address: _Address) -> ProbeResult:
    loop = asyncio.get_running_loop()
    run.remote_address = str(address)
    inbox = _DatagramInbox()
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: inbox,
            local_addr=(run.local_host, 0) if run.local_host else None,
            remote_addr=(address.host, address.port),
            family=address.family,
        )
    except OSError as exc:
        return run.failed("refused", f"cannot send UDP to {address}: {_os_error_text(exc)}")
    try:
        local_ip, local_port = transport.get_extra_info("sockname")[:2]
        request = build_options_request(run.target, local_host=local_ip, local_port=local_port)
        return await _udp_transaction(run, transport, inbox, request)
    finally:
        transport.close()


async def _udp_transaction(
    run: _ProbeRun,
    transport: asyncio.DatagramTransport,
    inbox: _DatagramInbox,
    request: OptionsRequest,
) -> ProbeResult:
    loop = asyncio.get_running_loop()
    t1, t2 = T1_S * run.timer_scale, T2_S * run.timer_scale
    started = loop.time()
    deadline = min(run.deadline, started + run.timer_f_s)
    interval = t1
    transport.sendto(request.data)
    run.transmissions = 1
    next_send = started + interval
    while True:
        now = loop.time()
        if now >= deadline:
            return run.no_final_response(now - started, deadline < run.deadline)
        try:
            item = await asyncio.wait_for(inbox.queue.get(), min(next_send, deadline) - now)
        except TimeoutError:
            if loop.time() < deadline:
                transport.sendto(request.data)
                run.transmissions += 1
                interval = t2 if run.provisional_seen else min(2 * interval, t2)
                next_send = loop.time() + interval
            continue
        if isinstance(item, ConnectionRefusedError):
            return run.failed(
                "refused",
                f"ICMP port unreachable from {run.remote_address}: nothing listens on that port",
            )
        if isinstance(item, Exception):
            return run.failed("refused", f"UDP to {run.remote_address} failed: {item}")
        if not item.strip(b"\r\n"):
            continue  # keep-alive
        try:
            response = parse_response(item)
        except UnexpectedSipRequestError:
            continue
        except MalformedSipMessageError as exc:
            return run.failed("malformed_reply", _malformed_detail(run, exc, item))
        if not request.matches(response):
            run.unmatched_seen += 1
            continue
        if response.is_provisional:
            if not run.provisional_seen:
                next_send = loop.time() + t2
            run.provisional_seen += 1
            continue
        return run.answered(response, loop.time() - started)


async def _probe_stream(run: _ProbeRun, address: _Address, ca_bundle: str | None) -> ProbeResult:
    run.remote_address = str(address)
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout_at(run.deadline):
            run.stage = f"TCP connect to {address}"
            try:
                reader, writer = await asyncio.open_connection(
                    address.host,
                    address.port,
                    family=address.family,
                    local_addr=(run.local_host, 0) if run.local_host else None,
                    limit=MAX_HEAD_BYTES,
                )
            except ConnectionRefusedError:
                return run.failed(
                    "refused", f"TCP connection to {address} refused: nothing listens on that port"
                )
            except OSError as exc:
                return run.failed("refused", f"TCP connection to {address} failed: {_os_error_text(exc)}")
            if run.target.transport == "tls":
                failure = await _start_tls(run, writer, ca_bundle)
                if failure is not None:
                    return failure
            local_ip, local_port = writer.get_extra_info("sockname")[:2]
            request = build_options_request(run.target, local_host=local_ip, local_port=local_port)
            return await _stream_transaction(run, reader, writer, request)
    except TimeoutError:
        if run.sent_at is not None:
            waited = asyncio.get_running_loop().time() - run.sent_at
            return run.no_final_response(waited, by_timer_f=False)
        return run.failed("timeout", f"{run.stage} did not finish within {run.timeout_s:g} s")
    finally:
        if writer is not None:
            await _close_quietly(writer)


async def _start_tls(
    run: _ProbeRun, writer: asyncio.StreamWriter, ca_bundle: str | None
) -> ProbeResult | None:
    server_name = run.target.server_name or run.target.host
    run.stage = f"TLS handshake with {run.remote_address} (server name {server_name})"
    try:
        context = tls_client_context(ca_bundle)
    except (OSError, ssl.SSLError) as exc:
        return run.failed("tls_error", f"cannot load CA bundle {ca_bundle!r}: {exc}")
    try:
        await writer.start_tls(context, server_hostname=server_name)
    except ssl.SSLCertVerificationError as exc:
        return run.failed(
            "tls_error",
            f"certificate of {run.remote_address} failed verification for {server_name}: "
            f"{exc.verify_message or exc.reason or exc}",
        )
    except ssl.SSLError as exc:
        return run.failed("tls_error", f"TLS handshake with {run.remote_address} failed: {exc.reason or exc}")
    except (OSError, EOFError, asyncio.IncompleteReadError) as exc:
        return run.failed(
            "tls_error",
            f"connection to {run.remote_address} closed during the TLS handshake "
            f"(is the port speaking TLS?): {_os_error_text(exc)}",
        )
    ssl_object = writer.get_extra_info("ssl_object")
    if isinstance(ssl_object, ssl.SSLObject | ssl.SSLSocket):
        run.certificate = peer_certificate(ssl_object)
    return None


async def _stream_transaction(
    run: _ProbeRun,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    request: OptionsRequest,
) -> ProbeResult:
    loop = asyncio.get_running_loop()
    run.stage = f"OPTIONS transaction with {run.remote_address}"
    started = run.sent_at = loop.time()
    deadline = min(run.deadline, started + run.timer_f_s)
    try:
        writer.write(request.data)
        await writer.drain()
        run.transmissions = 1
        while True:
            try:
                async with asyncio.timeout_at(deadline):
                    message = await read_stream_message(reader)
            except TimeoutError:
                return run.no_final_response(loop.time() - started, deadline < run.deadline)
            try:
                response = parse_response(message, require_content_length=True)
            except UnexpectedSipRequestError:
                continue
            if not request.matches(response):
                run.unmatched_seen += 1
                continue
            if response.is_provisional:
                run.provisional_seen += 1
                continue
            return run.answered(response, loop.time() - started)
    except MalformedSipMessageError as exc:
        return run.failed("malformed_reply", _malformed_detail(run, exc, None))
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip(b"\r\n"):
            return run.failed(
                "malformed_reply",
                f"{run.remote_address} closed the connection in the middle of a message "
                f"({len(exc.partial)} bytes received)",
            )
        return run.failed("refused", f"{run.remote_address} closed the connection without a final response")
    except (ConnectionError, ssl.SSLError) as exc:
        return run.failed("refused", f"connection to {run.remote_address} broke: {_os_error_text(exc)}")


async def _close_quietly(writer: asyncio.StreamWriter) -> None:
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), _CLOSE_GRACE_S)
    except (TimeoutError, OSError, ssl.SSLError):
        writer.transport.abort()


# --- TLS -----------------------------------------------------------------------------------------


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


# --- parsing -------------------------------------------------------------------------------------


def _parse_head(head: bytes, *, expect_response: bool) -> tuple[str, list[tuple[str, str]]]:
    """Start line and unfolded headers of a header section (without its final CRLF CRLF)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedSipMessageError(f"header section is not UTF-8 (byte {exc.start})") from exc
    lines = text.split("\r\n")
    for line in lines:
        if _CONTROL_CHARS_RE.search(line) or "\r" in line:
            raise MalformedSipMessageError(f"line {line[:60]!r} contains a bare CR/LF or a control character")
    start_line, header_lines = lines[0], lines[1:]
    if expect_response:
        _status_line(start_line)
    headers: list[tuple[str, str]] = []
    for line in header_lines:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise MalformedSipMessageError("first header line is a continuation line")
            name, value = headers[-1]
            headers[-1] = (name, (value + " " + line.strip(" \t")).strip(" \t"))
            continue
        name, colon, value = line.partition(":")
        name = name.rstrip(" \t")
        if not colon or not _TOKEN_RE.fullmatch(name):
            raise MalformedSipMessageError(f"{line[:60]!r} is not a 'Name: value' header line")
        headers.append((_canonical_name(name), value.strip(" \t")))
    return start_line, headers


def _status_line(start_line: str) -> re.Match[str]:
    status = _STATUS_LINE_RE.fullmatch(start_line)
    if status is None:
        request = _REQUEST_LINE_RE.fullmatch(start_line)
        if request is not None:
            raise UnexpectedSipRequestError(request.group(1))
        raise MalformedSipMessageError(f"{start_line[:60]!r} is not a SIP/2.0 status line")
    return status


def _response_from(start_line: str, headers: list[tuple[str, str]], body: bytes) -> SipResponse:
    status = _status_line(start_line)
    found: dict[str, list[str]] = {}
    for name, value in headers:
        found.setdefault(name, []).append(value)
    for name in ("From", "To", "Call-ID", "CSeq"):
        count = len(found.get(name, []))
        if count != 1:
            raise MalformedSipMessageError(f"response has {count} {name} headers; exactly one required")
    if not found.get("Via"):
        raise MalformedSipMessageError("response has no Via header")
    cseq = _CSEQ_RE.fullmatch(found["CSeq"][0])
    if cseq is None or int(cseq.group(1)) >= 2**31:
        raise MalformedSipMessageError(f"CSeq {found['CSeq'][0]!r} is not '<number> <method>'")
    call_id = found["Call-ID"][0]
    if not call_id or any(ch in call_id for ch in " \t"):
        raise MalformedSipMessageError(f"Call-ID {call_id!r} is empty or contains whitespace")
    return SipResponse(
        status_code=int(status.group(1)),
        reason=status.group(2) or "",
        headers=tuple(headers),
        body=body,
        via_branch=_via_branch(found["Via"][0]),
        call_id=call_id,
        cseq_number=int(cseq.group(1)),
        cseq_method=cseq.group(2),
    )


def _via_branch(via_value: str) -> str | None:
    """Branch parameter of the topmost Via (first entry of the first Via header)."""
    entries = _split_commas(via_value)
    if not entries:
        raise MalformedSipMessageError("Via header is empty")
    sent, *params = entries[0].split(";")
    if _VIA_RE.fullmatch(sent.strip()) is None:
        raise MalformedSipMessageError(f"Via {entries[0][:60]!r} is not 'SIP/2.0/<transport> <host>'")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "branch":
            return value.strip() or None
    return None


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    values = {value for name, value in headers if name == "Content-Length"}
    if not values:
        return None
    if len(values) > 1:
        raise MalformedSipMessageError(f"conflicting Content-Length headers: {sorted(values)}")
    value = values.pop()
    if not value.isascii() or not value.isdigit():
        raise MalformedSipMessageError(f"Content-Length {value!r} is not a number")
    length = int(value)
    if length > MAX_BODY_BYTES:
        raise MalformedSipMessageError(f"Content-Length {length} exceeds {MAX_BODY_BYTES} bytes")
    return length


def _canonical_name(name: str) -> str:
    if len(name) == 1:
        expanded = _COMPACT_FORMS.get(name.lower())
        if expanded:
            return expanded
    return _CANONICAL_NAMES.get(name.lower(), name)


def _split_commas(value: str) -> list[str]:
    """Split a header value at commas outside quoted strings and <...> URIs."""
    parts: list[str] = []
    current: list[str] = []
    in_quotes = escaped = False
    depth = 0
    for char in value:
        if in_quotes:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_quotes = False
        elif char == '"':
            in_quotes = True
        elif char == "<":
            depth += 1
        elif char == ">":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            parts.append("".join(current).strip(" \t"))
            current = []
            continue
        current.append(char)
    if in_quotes:
        raise MalformedSipMessageError(f"unterminated quoted string in {value[:60]!r}")
    parts.append("".join(current).strip(" \t"))
    return [part for part in parts if part]


# --- small pieces --------------------------------------------------------------------------------


def _is_ip_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _os_error_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _malformed_detail(run: _ProbeRun, exc: MalformedSipMessageError, data: bytes | None) -> str:
    detail = f"reply from {run.remote_address} is not a valid SIP response: {exc}"
    if data is not None:
        detail += f"; first bytes: {data[:80]!r}"
    return detail
