"""SIP on the wire for the sandbox's call path (RFC 3261 message syntax over TCP/TLS, RFC 4566 SDP,
RFC 3264 offer/answer), and the sandbox's address map (`SipDirectory`).

Loopback stands in for the carriers' addresses: each emulated peer sends from its own 127.0.0.x
address, and the directory says which public address that one stands for (what the SBC classifies),
and which listener a `host:port` of the configuration reaches (what DNS would resolve). See
sandbox/README-sip.md.
"""

from __future__ import annotations

import contextlib
import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length",
            "m": "contact", "c": "content-type"}
_CANONICAL = {"via": "Via", "from": "From", "to": "To", "call-id": "Call-ID", "cseq": "CSeq",
              "content-length": "Content-Length", "content-type": "Content-Type",
              "contact": "Contact", "max-forwards": "Max-Forwards", "warning": "Warning",
              "server": "Server", "user-agent": "User-Agent", "allow": "Allow"}
_MAX_HEADER = 16384

# Static RTP payload types (RFC 3551 table 4) and the names the sandbox compares codecs by.
STATIC_PAYLOADS = {0: "PCMU", 8: "PCMA", 9: "G722", 18: "G729"}
_RATES = {"PCMU": 8000, "PCMA": 8000, "G722": 8000, "G729": 8000, "OPUS": 48000}


class SipError(ValueError):
    """A message that is not SIP the sandbox can read."""


@dataclass
class SipMessage:
    """One request or response: its first line, headers (lower-case names, in order) and body."""

    first_line: str
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def is_request(self) -> bool:
        return not self.first_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str:
        return self.first_line.split(" ", 1)[0] if self.is_request else self.cseq_method

    @property
    def uri(self) -> str:
        return self.first_line.split(" ")[1]

    @property
    def status(self) -> int:
        return int(self.first_line.split(" ")[1])

    @property
    def reason(self) -> str:
        return self.first_line.split(" ", 2)[2] if len(self.first_line.split(" ", 2)) > 2 else ""

    @property
    def cseq_method(self) -> str:
        return (self.header("cseq") or " ").split()[-1]

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def set(self, name: str, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k != name] + [(name, value)]

    def encode(self) -> bytes:
        lines = [self.first_line]
        lines += [f"{_CANONICAL.get(k, k.title())}: {v}" for k, v in self.headers
                  if k != "content-length"]
        lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + self.body


def parse_head(head: bytes) -> SipMessage:
    """The first line and headers of a message (the body is read by its Content-Length)."""
    lines = head.decode("utf-8", errors="replace").split("\r\n")
    first = lines[0].strip()
    parts = first.split(" ")
    if first.startswith("SIP/2.0 "):
        if len(parts) < 2 or not parts[1].isdigit():
            raise SipError(f"bad status line {first!r}")
    elif len(parts) != 3 or parts[2] != "SIP/2.0":
        raise SipError(f"bad request line {first!r}")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            lowered = name.strip().lower()
            headers.append((_COMPACT.get(lowered, lowered), value.strip()))
    return SipMessage(first, headers)


def uri_user(uri: str) -> str:
    """The user part of a `sip:user@host...` URI (`+14155550100`)."""
    return uri.removeprefix("sips:").removeprefix("sip:").split("@", 1)[0] if "@" in uri else ""


def uri_host(uri: str) -> str:
    """The host of a SIP URI, without port or parameters."""
    rest = uri.removeprefix("sips:").removeprefix("sip:").split("@", 1)[-1]
    return rest.split(";", 1)[0].split(":", 1)[0].split(">", 1)[0]


def with_host(uri: str, host: str) -> str:
    """The URI with its host (and port) replaced by `host`."""
    scheme, _, rest = uri.partition(":")
    user, at, hostpart = rest.rpartition("@")
    params = hostpart.split(";", 1)
    tail = f";{params[1]}" if len(params) > 1 else ""
    return f"{scheme}:{user}{at}{host}{tail}"


def response(request: SipMessage, status: int, reason: str, *, warning: str | None = None,
             body: bytes = b"", extra: list[tuple[str, str]] | None = None,
             to_tag: str | None = None) -> SipMessage:
    """A response copying Via (all), From, To (with a tag), Call-ID and CSeq (RFC 3261 §8.2.6)."""
    out = SipMessage(f"SIP/2.0 {status} {reason}")
    out.headers += [(k, v) for k, v in request.headers if k == "via"]
    for name in ("from", "to", "call-id", "cseq"):
        value = request.header(name) or ""
        if name == "to" and status > 100 and ";tag=" not in value:
            value += f";tag={to_tag or secrets.token_hex(5)}"
        out.headers.append((name, value))
    if warning:
        out.headers.append(("warning", warning))
    out.headers += extra or []
    if body:
        out.headers.append(("content-type", "application/sdp"))
    out.body = body
    return out


# --- SDP ----------------------------------------------------------------------------------------

def sdp(codecs: list[str], address: str, port: int = 40000) -> bytes:
    """An audio SDP offering (or answering with) `codecs` by name, in order (RFC 4566, 3551)."""
    by_name = {name: pt for pt, name in STATIC_PAYLOADS.items()}
    payloads: list[tuple[int, str]] = []
    dynamic = 96
    for codec in codecs:
        upper = codec.upper()
        if upper in by_name:
            payloads.append((by_name[upper], upper))
        else:
            payloads.append((dynamic, codec))
            dynamic += 1
    session = secrets.randbelow(10**9)
    lines = ["v=0", f"o=- {session} {session} IN IP4 {address}", "s=-", f"c=IN IP4 {address}",
             "t=0 0", f"m=audio {port} RTP/AVP {' '.join(str(pt) for pt, _ in payloads)}"]
    for pt, name in payloads:
        channels = "/2" if name.upper() == "OPUS" else ""
        lines.append(f"a=rtpmap:{pt} {name}/{_RATES.get(name.upper(), 8000)}{channels}")
    lines.append("a=sendrecv")
    return ("\r\n".join(lines) + "\r\n").encode()


def sdp_codecs(body: bytes) -> list[str]:
    """The audio codec names of an SDP, in the m= line's order (rtpmap, else the static table)."""
    text = body.decode("utf-8", errors="replace")
    order: list[int] = []
    names: dict[int, str] = {}
    for line in text.splitlines():
        if line.startswith("m=audio "):
            order = [int(p) for p in line.split()[3:] if p.isdigit()]
        elif line.startswith("a=rtpmap:"):
            pt, _, rest = line.removeprefix("a=rtpmap:").partition(" ")
            if pt.isdigit():
                names[int(pt)] = rest.split("/", 1)[0]
    out = [names.get(pt) or STATIC_PAYLOADS.get(pt) or f"pt{pt}" for pt in order]
    return [name.upper() if name.upper() != "OPUS" else "opus" for name in out]


def common_codecs(offered: list[str], supported: list[str]) -> list[str]:
    """The offer's codecs the answerer supports, in the offer's order (RFC 3264 §6.1)."""
    wanted = {c.upper() for c in supported}
    return [c for c in offered if c.upper() in wanted]


# --- streams and the directory ------------------------------------------------------------------

class SipStream:
    """SIP messages framed by Content-Length over one TCP or TLS connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._buffer = b""
        self._lock = threading.Lock()

    def read(self) -> SipMessage | None:
        """The next message, or None when the peer closed the connection."""
        while b"\r\n\r\n" not in self._buffer:
            chunk = self.sock.recv(4096)
            if not chunk or len(self._buffer) > _MAX_HEADER:
                return None
            self._buffer += chunk
        head, rest = self._buffer.split(b"\r\n\r\n", 1)
        message = parse_head(head)
        raw_length = message.header("content-length") or "0"
        length = int(raw_length) if raw_length.isdigit() else 0
        while len(rest) < length:
            chunk = self.sock.recv(4096)
            if not chunk:
                return None
            rest += chunk
        message.body, self._buffer = rest[:length], rest[length:]
        return message

    def send(self, message: SipMessage) -> None:
        with self._lock:
            self.sock.sendall(message.encode())

    def final(self, timeout_s: float) -> SipMessage | None:
        """The next final response (provisional ones are skipped); None on timeout or close."""
        self.sock.settimeout(timeout_s)
        try:
            while True:
                message = self.read()
                if message is None or (not message.is_request and message.status >= 200):
                    return message
        except (TimeoutError, OSError, SipError):
            return None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


Listener = Callable[[str, int], str | None]
"""(transport, port) -> "127.0.0.1:port" of the listener serving it, or None."""


@dataclass
class SipDirectory:
    """The sandbox's address map. `public_by_loopback`: which carrier address a loopback source
    stands for. `hosts`: which listener a host name of the configuration reaches, asked per
    (transport, port) so a listener serves only the ports its configuration names."""

    public_by_loopback: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, Listener] = field(default_factory=dict)

    def public(self, loopback: str) -> str:
        return self.public_by_loopback.get(loopback, loopback)

    def loopback_for(self, public: str) -> str:
        for loop, pub in self.public_by_loopback.items():
            if pub == public:
                return loop
        raise KeyError(f"the sandbox maps no loopback address to {public}")

    def connect(self, target: str, transport: str, *, source: str,
                timeout_s: float = 3.0) -> SipStream:
        """A connection to `host:port` over `transport` (TCP or TLS) from loopback `source`;
        ConnectionError says why not (as a failed DNS lookup or a refused connection would)."""
        host, _, port_text = target.rpartition(":")
        if not host or not port_text.isdigit():
            host, port_text = target, "5061" if transport == "TLS" else "5060"
        resolve = self.hosts.get(host.lower())
        if resolve is None:
            raise ConnectionError(f"{host} does not resolve (no sandbox listener has that name)")
        address = resolve(transport, int(port_text))
        if address is None:
            raise ConnectionError(f"{host}:{port_text} refused the {transport} connection "
                                  "(no SIP interface listens there)")
        ip, _, port = address.rpartition(":")
        sock = socket.create_connection((ip, int(port)), timeout=timeout_s,
                                        source_address=(source, 0))
        if transport == "TLS":
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            sock = context.wrap_socket(sock, server_hostname=host)
        return SipStream(sock)
