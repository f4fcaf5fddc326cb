"""SIP messages for the OPTIONS probe: the request builder and the strict response parser (RFC 3261).

Public so they can be tested and fuzzed without a network; `read_stream_message` frames one message
on a TCP/TLS stream by its Content-Length.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from dataclasses import dataclass

from byoc.ports.sip import ProbeTarget, is_host, uri_host

USER_AGENT = "byoc-sip-probe/0.1"
BRANCH_MAGIC_COOKIE = "z9hG4bK"
MAX_HEAD_BYTES = 65_536
MAX_BODY_BYTES = 65_536

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
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


class MalformedSipMessageError(ValueError):
    """Bytes from the peer that are not a well-formed SIP response (RFC 3261 §7, §18.3)."""


class UnexpectedSipRequestError(Exception):
    """The peer sent a SIP request where a response was expected; a probe ignores it."""

    def __init__(self, method: str) -> None:
        super().__init__(f"peer sent a {method} request, not a response")
        self.method = method


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
    if not is_host(local_host):
        raise ValueError(f"local host {local_host!r} is neither an IP address nor a DNS name")
    branch = BRANCH_MAGIC_COOKIE + secrets.token_hex(12)
    call_id = secrets.token_hex(16)
    from_tag = secrets.token_hex(6)
    uri_params = "" if target.transport == "udp" else f";transport={target.transport}"
    user = f"{target.user}@" if target.user else ""
    request_uri = f"sip:{user}{target.uri_host}:{target.port}{uri_params}"
    local = f"{uri_host(local_host)}:{local_port}"
    lines = [
        f"OPTIONS {request_uri} SIP/2.0",
        f"Via: SIP/2.0/{target.transport.upper()} {local};branch={branch};rport",
        "Max-Forwards: 70",
        f"From: <sip:byoc-probe@{uri_host(local_host)}>;tag={from_tag}",
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
