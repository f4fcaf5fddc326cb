"""SIP OPTIONS probe: one RFC 3261 OPTIONS transaction over UDP, TCP or TLS, and its outcome.

Pure stdlib (asyncio + ssl). `probe()` runs one transaction and never raises for network
conditions: every outcome is a `ProbeResult` (a final response, or a classified failure).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from dataclasses import dataclass
from typing import Any

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
from byoc.adapters.sip_tls import peer_certificate, tls_client_context
from byoc.ports.sip import FailureKind, PeerCertificate, ProbeResult, ProbeTarget, uri_host

T1_S = 0.5
T2_S = 4.0
_CLOSE_GRACE_S = 1.0


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
        return f"{uri_host(self.host)}:{self.port}"


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


def _os_error_text(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _malformed_detail(run: _ProbeRun, exc: MalformedSipMessageError, data: bytes | None) -> str:
    detail = f"reply from {run.remote_address} is not a valid SIP response: {exc}"
    if data is not None:
        detail += f"; first bytes: {data[:80]!r}"
    return detail
