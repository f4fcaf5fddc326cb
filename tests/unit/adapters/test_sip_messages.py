"""SIP OPTIONS probe without a network: building, strict parsing, stream framing, matching."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byoc.adapters.sip_message import (
    MAX_HEAD_BYTES,
    MalformedSipMessageError,
    OptionsRequest,
    SipResponse,
    UnexpectedSipRequestError,
    build_options_request,
    parse_response,
    read_stream_message,
)
from byoc.ports import ProbeResult, ProbeTarget

SBC_TLS = ProbeTarget("203.0.113.10", 5061, "tls", server_name="sbc1.example.test", user="ping")
SBC_UDP = ProbeTarget("sbc1.example.test", 5060, "udp")


def request_headers(request: OptionsRequest) -> tuple[str, dict[str, str]]:
    head = request.data.decode("ascii").split("\r\n\r\n")[0]
    start, *lines = head.split("\r\n")
    return start, dict(line.split(": ", 1) for line in lines)


def response_to(
    request: OptionsRequest,
    status_line: str = "SIP/2.0 200 OK",
    *extra: str,
    branch: str | None = None,
    call_id: str | None = None,
    cseq: str | None = None,
    body: bytes = b"",
) -> bytes:
    lines = [
        status_line,
        f"Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch or request.branch};rport=5060",
        f"From: <sip:byoc-probe@192.0.2.1>;tag={request.from_tag}",
        "To: <sip:sbc1.example.test>;tag=as1",
        f"Call-ID: {call_id or request.call_id}",
        f"CSeq: {cseq or f'{request.cseq} OPTIONS'}",
        *extra,
        f"Content-Length: {len(body)}",
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@pytest.fixture
def request_udp() -> OptionsRequest:
    return build_options_request(SBC_UDP, local_host="192.0.2.1", local_port=5062)


# --- building ------------------------------------------------------------------------------------


def test_options_request_carries_every_mandatory_header(request_udp: OptionsRequest) -> None:
    start, headers = request_headers(request_udp)

    assert start == "OPTIONS sip:sbc1.example.test:5060 SIP/2.0"
    for name in (
        "Via",
        "Max-Forwards",
        "From",
        "To",
        "Call-ID",
        "CSeq",
        "Contact",
        "User-Agent",
        "Content-Length",
    ):
        assert name in headers, name
    assert headers["Max-Forwards"] == "70"
    assert headers["CSeq"] == "1 OPTIONS"
    assert headers["Content-Length"] == "0"
    assert headers["Call-ID"] == request_udp.call_id
    assert headers["From"].endswith(f";tag={request_udp.from_tag}")
    assert headers["To"] == "<sip:sbc1.example.test>"


def test_via_has_magic_cookie_branch_and_rport(request_udp: OptionsRequest) -> None:
    _, headers = request_headers(request_udp)

    assert request_udp.branch.startswith("z9hG4bK")
    assert headers["Via"] == f"SIP/2.0/UDP 192.0.2.1:5062;branch={request_udp.branch};rport"
    assert headers["Contact"] == "<sip:byoc-probe@192.0.2.1:5062>"


def test_every_request_gets_fresh_branch_call_id_and_tag() -> None:
    first = build_options_request(SBC_UDP, local_host="192.0.2.1", local_port=5062)
    second = build_options_request(SBC_UDP, local_host="192.0.2.1", local_port=5062)

    assert first.branch != second.branch
    assert first.call_id != second.call_id
    assert first.from_tag != second.from_tag


def test_request_is_crlf_terminated_with_empty_body(request_udp: OptionsRequest) -> None:
    text = request_udp.data.decode("ascii")

    assert text.endswith("\r\n\r\n")
    assert text.count("\r\n\r\n") == 1
    assert "\n" not in text.replace("\r\n", "")


def test_tls_request_uses_server_name_user_and_transport_parameter() -> None:
    request = build_options_request(SBC_TLS, local_host="10.0.0.4", local_port=40000)
    start, headers = request_headers(request)

    assert start == "OPTIONS sip:ping@sbc1.example.test:5061;transport=tls SIP/2.0"
    assert headers["Via"].startswith("SIP/2.0/TLS 10.0.0.4:40000;branch=z9hG4bK")
    assert headers["To"] == "<sip:ping@sbc1.example.test>"
    assert headers["Contact"] == "<sip:byoc-probe@10.0.0.4:40000;transport=tls>"


def test_ipv6_addresses_are_bracketed_in_uris_and_via() -> None:
    request = build_options_request(
        ProbeTarget("2001:db8::5", 5060, "tcp"), local_host="2001:db8::1", local_port=5070
    )
    start, headers = request_headers(request)

    assert start == "OPTIONS sip:[2001:db8::5]:5060;transport=tcp SIP/2.0"
    assert headers["Via"].startswith("SIP/2.0/TCP [2001:db8::1]:5070;")


@pytest.mark.parametrize(
    ("host", "port", "transport", "server_name", "user"),
    [
        ("sbc1.example.test\r\nX-Injected: 1", 5060, "udp", None, None),
        ("", 5060, "udp", None, None),
        ("sbc1.example.test", 0, "udp", None, None),
        ("sbc1.example.test", 70000, "udp", None, None),
        ("sbc1.example.test", 5060, "sctp", None, None),
        ("203.0.113.10", 5061, "tls", "bad name!", None),
        ("sbc1.example.test", 5060, "udp", None, "a b@c"),
    ],
)
def test_invalid_probe_targets_are_refused(
    host: str, port: int, transport: str, server_name: str | None, user: str | None
) -> None:
    with pytest.raises(ValueError):
        ProbeTarget(host, port, transport, server_name, user)  # type: ignore[arg-type]


def test_probe_result_is_either_answered_or_failed() -> None:
    with pytest.raises(ValueError):
        ProbeResult(target=SBC_UDP)
    with pytest.raises(ValueError):
        ProbeResult(target=SBC_UDP, status_code=200, failure="timeout")


# --- parsing -------------------------------------------------------------------------------------


def test_response_fields_are_parsed(request_udp: OptionsRequest) -> None:
    response = parse_response(
        response_to(
            request_udp,
            "SIP/2.0 200 OK",
            "Allow: INVITE, ACK, OPTIONS",
            "Supported: replaces,timer",
            "Server: Mediant SW/v.7.40A.500.123",
        )
    )

    assert (response.status_code, response.reason) == (200, "OK")
    assert response.list_values("Allow") == ("INVITE", "ACK", "OPTIONS")
    assert response.list_values("Supported") == ("replaces", "timer")
    assert response.first("server") == "Mediant SW/v.7.40A.500.123"
    assert response.via_branch == request_udp.branch
    assert request_udp.matches(response)


def test_folded_headers_are_joined(request_udp: OptionsRequest) -> None:
    message = response_to(
        request_udp,
        "SIP/2.0 200 OK",
        "Allow: INVITE,",
        "  ACK,",
        "\tOPTIONS",
        "Server: Acme",
        " SBC 1.0",
    )

    response = parse_response(message)

    assert response.list_values("Allow") == ("INVITE", "ACK", "OPTIONS")
    assert response.first("Server") == "Acme SBC 1.0"


def test_compact_and_case_insensitive_header_names(request_udp: OptionsRequest) -> None:
    lines = [
        "SIP/2.0 200 OK",
        f"v: SIP/2.0/UDP 192.0.2.1:5062;BRANCH={request_udp.branch}",
        f"f: <sip:byoc-probe@192.0.2.1>;tag={request_udp.from_tag}",
        "t: <sip:sbc1.example.test>;tag=x",
        f"i: {request_udp.call_id}",
        "cseq: 1 OPTIONS",
        "k: 100rel",
        "ALLOW: OPTIONS",
        "m: <sip:192.0.2.9>",
        "c: application/sdp",
        "l: 4",
    ]
    message = ("\r\n".join(lines) + "\r\n\r\n").encode() + b"v=0\n"

    response = parse_response(message, require_content_length=True)

    assert request_udp.matches(response)
    assert response.list_values("Supported") == ("100rel",)
    assert response.list_values("allow") == ("OPTIONS",)
    assert response.first("Contact") == "<sip:192.0.2.9>"
    assert response.first("Content-Type") == "application/sdp"
    assert response.body == b"v=0\n"


@pytest.mark.parametrize(
    ("status_line", "code", "reason"),
    [
        ("SIP/2.0 200", 200, ""),
        ("SIP/2.0 200 ", 200, ""),
        ("sip/2.0 486 Busy Here", 486, "Busy Here"),
        ("SIP/2.0 503 Service  Unavailable (overload)", 503, "Service  Unavailable (overload)"),
        ("SIP/2.0 200 Très bien", 200, "Très bien"),
    ],
)
def test_status_line_variants(request_udp: OptionsRequest, status_line: str, code: int, reason: str) -> None:
    response = parse_response(response_to(request_udp, status_line))

    assert (response.status_code, response.reason) == (code, reason)


def test_topmost_via_decides_the_branch(request_udp: OptionsRequest) -> None:
    lines = [
        "SIP/2.0 200 OK",
        f"Via: SIP/2.0/UDP 192.0.2.1:5062;branch={request_udp.branch}, "
        "SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKother",
        "Via: SIP/2.0/UDP 198.51.100.2;branch=z9hG4bKthird",
        "From: <sip:a@b>;tag=1",
        "To: <sip:c@d>",
        f"Call-ID: {request_udp.call_id}",
        "CSeq: 1 OPTIONS",
        "Content-Length: 0",
    ]

    response = parse_response(("\r\n".join(lines) + "\r\n\r\n").encode())

    assert response.via_branch == request_udp.branch


def test_a_request_from_the_peer_is_not_a_response() -> None:
    message = b"OPTIONS sip:probe@192.0.2.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n"

    with pytest.raises(UnexpectedSipRequestError):
        parse_response(message)


GARBAGE = {
    "empty": b"",
    "text": b"hello there",
    "no blank line": b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n",
    "http": b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "four digit code": b"SIP/2.0 2000 OK\r\n\r\n",
    "code below 100": b"SIP/2.0 099 Odd\r\n\r\n",
    "version 3": b"SIP/3.0 200 OK\r\n\r\n",
    "bare LF": b"SIP/2.0 200 OK\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\n\n\r\n\r\n",
    "nul byte": b"SIP/2.0 200 OK\x00\r\n\r\n",
    "latin-1": b"SIP/2.0 200 Tr\xe8s bien\r\n\r\n",
}


@pytest.mark.parametrize("data", GARBAGE.values(), ids=GARBAGE.keys())
def test_garbage_is_malformed(data: bytes) -> None:
    with pytest.raises(MalformedSipMessageError):
        parse_response(data)


BROKEN_HEADERS = {
    "no colon": ["this is not a header"],
    "space in name": ["Bad Name: x"],
    "missing Call-ID": ["-Call-ID"],
    "two CSeq": ["CSeq: 1 OPTIONS"],
    "CSeq without method": ["-CSeq", "CSeq: 1"],
    "Content-Length not a number": ["-Content-Length", "Content-Length: ten"],
    "conflicting Content-Length": ["Content-Length: 5"],
    "negative Content-Length": ["-Content-Length", "Content-Length: -1"],
    "Via without protocol": ["-Via", "Via: 192.0.2.1;branch=z9hG4bK1"],
    "unterminated quote in Via": ["-Via", 'Via: SIP/2.0/UDP a;branch=z9hG4bK1;x="abc'],
}


@pytest.mark.parametrize("changes", BROKEN_HEADERS.values(), ids=BROKEN_HEADERS.keys())
def test_broken_headers_are_malformed(request_udp: OptionsRequest, changes: list[str]) -> None:
    lines = response_to(request_udp).decode().split("\r\n")[:-2]
    for change in changes:
        if change.startswith("-"):
            lines = [line for line in lines if not line.startswith(change[1:] + ":")]
        else:
            lines.append(change)
    message = ("\r\n".join(lines) + "\r\n\r\n").encode()

    with pytest.raises(MalformedSipMessageError):
        parse_response(message)


def test_first_header_line_cannot_be_a_continuation() -> None:
    with pytest.raises(MalformedSipMessageError, match="continuation"):
        parse_response(b"SIP/2.0 200 OK\r\n folded: x\r\n\r\n")


def test_missing_content_length_is_malformed_over_tcp_but_not_udp(
    request_udp: OptionsRequest,
) -> None:
    message = response_to(request_udp).replace(b"Content-Length: 0\r\n", b"")

    assert parse_response(message).status_code == 200
    with pytest.raises(MalformedSipMessageError, match="Content-Length is missing"):
        parse_response(message, require_content_length=True)


def test_body_is_cut_at_content_length_and_short_bodies_are_malformed(
    request_udp: OptionsRequest,
) -> None:
    full = response_to(request_udp, body=b"abcdef")

    assert parse_response(full + b"trailing junk").body == b"abcdef"
    with pytest.raises(MalformedSipMessageError, match="only 3 body bytes"):
        parse_response(full[:-3])


def test_body_without_content_length_over_udp_is_the_rest_of_the_datagram(
    request_udp: OptionsRequest,
) -> None:
    message = response_to(request_udp).replace(b"Content-Length: 0\r\n", b"") + b"v=0\r\n"

    assert parse_response(message).body == b"v=0\r\n"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_parser_only_raises_its_own_errors(data: bytes) -> None:
    for message in (data, b"SIP/2.0 200 OK\r\n" + data, b"SIP/2.0 200 OK\r\n" + data + b"\r\n\r\n"):
        with contextlib.suppress(MalformedSipMessageError, UnexpectedSipRequestError):
            parse_response(message)


# --- matching ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mismatch",
    [
        {"branch": "z9hG4bKsomeoneelse"},
        {"call_id": "another-call"},
        {"cseq": "2 OPTIONS"},
        {"cseq": "1 INVITE"},
    ],
    ids=["branch", "call-id", "cseq-number", "cseq-method"],
)
def test_responses_to_other_transactions_do_not_match(
    request_udp: OptionsRequest, mismatch: dict[str, str]
) -> None:
    response = parse_response(response_to(request_udp, **mismatch))  # type: ignore[arg-type]

    assert not request_udp.matches(response)


def test_response_without_branch_does_not_match(request_udp: OptionsRequest) -> None:
    message = response_to(request_udp).replace(f";branch={request_udp.branch}".encode(), b"")

    response: SipResponse = parse_response(message)

    assert response.via_branch is None
    assert not request_udp.matches(response)


# --- stream framing ------------------------------------------------------------------------------


def read_all(data: bytes, *, eof: bool = True) -> list[bytes | BaseException]:
    async def run() -> list[bytes | BaseException]:
        reader = asyncio.StreamReader(limit=MAX_HEAD_BYTES)
        reader.feed_data(data)
        if eof:
            reader.feed_eof()
        found: list[bytes | BaseException] = []
        while True:
            try:
                found.append(await read_stream_message(reader))
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    found.append(exc)
                return found
            except MalformedSipMessageError as exc:
                found.append(exc)
                return found

    return asyncio.run(run())


def test_stream_messages_are_framed_by_content_length(request_udp: OptionsRequest) -> None:
    provisional = response_to(request_udp, "SIP/2.0 100 Trying")
    final = response_to(request_udp, "SIP/2.0 200 OK", body=b"\r\n\r\nxyz")

    messages = read_all(b"\r\n\r\n" + provisional + b"\r\n" + final)

    assert messages == [provisional, final]
    assert parse_response(final, require_content_length=True).body == b"\r\n\r\nxyz"


def test_stream_message_without_content_length_is_malformed(
    request_udp: OptionsRequest,
) -> None:
    message = response_to(request_udp).replace(b"Content-Length: 0\r\n", b"")

    (outcome,) = read_all(message)

    assert isinstance(outcome, MalformedSipMessageError)


def test_stream_closed_mid_body_reports_partial_message(request_udp: OptionsRequest) -> None:
    message = response_to(request_udp, body=b"0123456789")

    (outcome,) = read_all(message[:-4])

    assert isinstance(outcome, asyncio.IncompleteReadError)


def test_endless_header_section_is_malformed() -> None:
    (outcome,) = read_all(b"SIP/2.0 200 OK\r\n" + b"X-Filler: aaaaaaaa\r\n" * 5000, eof=False)

    assert isinstance(outcome, MalformedSipMessageError)
