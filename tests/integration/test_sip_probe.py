"""SIP OPTIONS probe over 127.0.0.1: SIPp as the far end, a Python TLS UAS, closed ports."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from byoc.adapters.sip_probe import probe
from byoc.domain.carriers import Transport
from byoc.ports import ProbeResult, ProbeTarget

SIPP = shutil.which("sipp")
SCENARIOS = Path(__file__).parent / "sipp"
FAST = 0.02  # timer_scale where the test waits for Timer F: T1 = 10 ms, Timer F = 640 ms
ANSWERED = 0.1  # timer_scale where an answer is expected: T1 = 50 ms, Timer F = 3.2 s (slow CI)
needs_sipp = pytest.mark.skipif(
    SIPP is None, reason="SIPp is not installed (Debian package sip-tester); CI installs it"
)


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- SIPp as the far end -------------------------------------------------------------------------


def is_listening(port: int, transport: Transport) -> bool:
    """Whether 127.0.0.1:port is bound (UDP) or listening (TCP), read from /proc without traffic."""
    table, state = ("/proc/net/udp", None) if transport == "udp" else ("/proc/net/tcp", "0A")
    for line in Path(table).read_text().splitlines()[1:]:
        fields = line.split()
        address, port_hex = fields[1].split(":")
        if int(port_hex, 16) == port and address == "0100007F" and state in (None, fields[3]):
            return True
    return False


@pytest.fixture
def sipp_uas(tmp_path: Path) -> Iterator[Callable[[str, Transport], int]]:
    """Start SIPp as a one-call UAS on a free 127.0.0.1 port, return the port; kill at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(scenario: str, transport: Transport) -> int:
        assert SIPP is not None
        port = free_port(socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
        log = tmp_path / f"sipp-{scenario}-{transport}.log"
        sipp_arguments = [
            *("-sf", str(SCENARIOS / f"{scenario}.xml")),
            *("-i", "127.0.0.1", "-p", str(port)),
            *("-t", "u1" if transport == "udp" else "t1"),
            *("-m", "1", "-timeout", "60s"),
            "-nostdin",
        ]
        with log.open("wb") as output:
            process = subprocess.Popen(
                [SIPP, *sipp_arguments],
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        give_up = time.monotonic() + 10
        while not is_listening(port, transport):
            if process.poll() is not None or time.monotonic() > give_up:
                pytest.fail(f"SIPp did not start on {transport} {port}:\n{log.read_text()}")
            time.sleep(0.02)
        return port

    yield start
    for process in started:
        process.kill()
        process.wait(timeout=10)


@needs_sipp
@pytest.mark.sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_sbc_answering_200_reports_its_capabilities(
    sipp_uas: Callable[[str, Transport], int], transport: Transport
) -> None:
    port = sipp_uas("options_200", transport)

    result = asyncio.run(probe(ProbeTarget("127.0.0.1", port, transport), timeout_s=5, timer_scale=ANSWERED))

    assert (result.status_code, result.reason, result.failure) == (200, "OK", None), result
    assert result.allow == ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS")
    assert result.supported == ("replaces", "timer")
    assert result.accept == ("application/sdp",)
    assert result.server == "SIPp-probe-peer/1.0"
    assert result.rtt_ms is not None and result.rtt_ms >= 0
    assert result.remote_address == f"127.0.0.1:{port}"


@needs_sipp
@pytest.mark.sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_503_is_reported_after_ignoring_responses_to_other_transactions(
    sipp_uas: Callable[[str, Transport], int], transport: Transport
) -> None:
    port = sipp_uas("options_503", transport)

    result = asyncio.run(probe(ProbeTarget("127.0.0.1", port, transport), timeout_s=5, timer_scale=ANSWERED))

    assert (result.status_code, result.reason) == (503, "Service Unavailable"), result
    assert result.server == "SIPp-probe-peer/1.0"
    assert result.answered and result.failure is None


@needs_sipp
@pytest.mark.sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_silent_peer_times_out_on_timer_f(
    sipp_uas: Callable[[str, Transport], int], transport: Transport
) -> None:
    port = sipp_uas("options_silent", transport)

    result = asyncio.run(probe(ProbeTarget("127.0.0.1", port, transport), timeout_s=5, timer_scale=FAST))

    assert result.failure == "timeout", result
    assert result.status_code is None
    assert result.detail is not None and "Timer F" in result.detail
    if transport == "udp":
        assert result.transmissions > 1  # retransmitted on Timer E
    else:
        assert result.transmissions == 1  # reliable transport: never retransmitted


@needs_sipp
@pytest.mark.sipp
@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_garbled_reply_is_classified_malformed(
    sipp_uas: Callable[[str, Transport], int], transport: Transport
) -> None:
    port = sipp_uas("options_garbled", transport)

    result = asyncio.run(probe(ProbeTarget("127.0.0.1", port, transport), timeout_s=5, timer_scale=ANSWERED))

    assert result.failure == "malformed_reply", result
    assert result.detail is not None and "not a valid SIP response" in result.detail


# --- a UDP peer that drops requests --------------------------------------------------------------


def answer(request: bytes, status_line: str = "SIP/2.0 200 OK") -> bytes:
    """A response echoing the request's Via, From, To, Call-ID and CSeq."""
    head = request.split(b"\r\n\r\n")[0].decode()
    copied = [
        line
        for line in head.split("\r\n")[1:]
        if line.split(":")[0] in ("Via", "From", "To", "Call-ID", "CSeq")
    ]
    return ("\r\n".join([status_line, *copied, "Content-Length: 0"]) + "\r\n\r\n").encode()


class DropsFirstRequests(asyncio.DatagramProtocol):
    def __init__(self, drop: int) -> None:
        self.drop = drop
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received.append(data)
        if len(self.received) > self.drop and self.transport is not None:
            self.transport.sendto(answer(data), addr)


def test_lost_udp_requests_are_retransmitted_unchanged() -> None:
    async def scenario() -> tuple[ProbeResult, list[bytes]]:
        loop = asyncio.get_running_loop()
        transport, peer = await loop.create_datagram_endpoint(
            lambda: DropsFirstRequests(drop=2), local_addr=("127.0.0.1", 0)
        )
        try:
            port = transport.get_extra_info("sockname")[1]
            target = ProbeTarget("127.0.0.1", port, "udp")
            result = await probe(target, timeout_s=5, timer_scale=ANSWERED)
        finally:
            transport.close()
        return result, peer.received

    result, received = asyncio.run(scenario())

    assert result.status_code == 200, result
    assert result.transmissions == 3
    assert received[0] == received[1] == received[2]


# --- TLS -----------------------------------------------------------------------------------------

SBC_NAME = "sbc1.example.test"


@dataclass(frozen=True)
class Pki:
    ca_bundle: Path
    other_ca_bundle: Path
    leaf_pem: Path
    leaf_key: Path
    leaf: x509.Certificate


def make_ca(name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    folder = tmp_path_factory.mktemp("pki")
    ca_key, ca_cert = make_ca("byoc test CA")
    _, other_ca = make_ca("some other CA")
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SBC_NAME)]))
        .issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(SBC_NAME)]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.OID_SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pki = Pki(
        ca_bundle=folder / "ca.pem",
        other_ca_bundle=folder / "other-ca.pem",
        leaf_pem=folder / "leaf.pem",
        leaf_key=folder / "leaf.key",
        leaf=leaf,
    )
    pki.ca_bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    pki.other_ca_bundle.write_bytes(other_ca.public_bytes(serialization.Encoding.PEM))
    pki.leaf_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    pki.leaf_key.write_bytes(
        leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return pki


def probe_tls_uas(pki: Pki, run_probe: Callable[[int], Awaitable[ProbeResult]]) -> ProbeResult:
    """Serve SIP over TLS on 127.0.0.1 (OPTIONS get 200 OK) while `run_probe(port)` runs."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(pki.leaf_pem, pki.leaf_key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            writer.write(answer(request, "SIP/2.0 200 OK"))
            await writer.drain()
            await reader.read()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def scenario() -> ProbeResult:
        server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_context)
        async with server:
            return await run_probe(server.sockets[0].getsockname()[1])

    return asyncio.run(scenario())


def test_tls_probe_verifies_the_sbc_and_records_its_certificate(pki: Pki) -> None:
    def run_probe(port: int) -> Awaitable[ProbeResult]:
        target = ProbeTarget("127.0.0.1", port, "tls", server_name=SBC_NAME)
        return probe(target, timeout_s=5, timer_scale=ANSWERED, ca_bundle=str(pki.ca_bundle))

    result = probe_tls_uas(pki, run_probe)

    assert (result.status_code, result.failure) == (200, None), result
    certificate = result.certificate
    assert certificate is not None
    der = pki.leaf.public_bytes(serialization.Encoding.DER)
    assert certificate.sha256_fingerprint == hashlib.sha256(der).hexdigest()
    assert certificate.dns_names == (SBC_NAME,)
    assert certificate.subject == f"CN={SBC_NAME}"
    assert certificate.issuer == "CN=byoc test CA"
    assert certificate.not_after == pki.leaf.not_valid_after_utc.replace(microsecond=0)
    assert certificate.tls_version in ("TLSv1.2", "TLSv1.3")


@pytest.mark.parametrize(
    ("server_name", "use_other_ca", "reason"),
    [
        (SBC_NAME, True, "unable to get local issuer certificate"),
        ("sbc2.example.test", False, "sbc2.example.test"),
    ],
    ids=["unknown-ca", "wrong-server-name"],
)
def test_tls_verification_failure_is_tls_error(
    pki: Pki, server_name: str, use_other_ca: bool, reason: str
) -> None:
    bundle = pki.other_ca_bundle if use_other_ca else pki.ca_bundle

    def run_probe(port: int) -> Awaitable[ProbeResult]:
        target = ProbeTarget("127.0.0.1", port, "tls", server_name=server_name)
        return probe(target, timeout_s=5, timer_scale=ANSWERED, ca_bundle=str(bundle))

    result = probe_tls_uas(pki, run_probe)

    assert result.failure == "tls_error", result
    assert result.status_code is None and result.certificate is None
    assert result.detail is not None and "failed verification" in result.detail
    assert reason in result.detail


def test_unreadable_ca_bundle_is_tls_error(pki: Pki, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"

    def run_probe(port: int) -> Awaitable[ProbeResult]:
        target = ProbeTarget("127.0.0.1", port, "tls", server_name=SBC_NAME)
        return probe(target, timeout_s=5, timer_scale=ANSWERED, ca_bundle=str(missing))

    result = probe_tls_uas(pki, run_probe)

    assert result.failure == "tls_error", result
    assert result.detail is not None and str(missing) in result.detail


# --- nothing there -------------------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_closed_tcp_port_is_refused(transport: Transport) -> None:
    port = free_port(socket.SOCK_STREAM)

    result = asyncio.run(probe(ProbeTarget("127.0.0.1", port, transport), timeout_s=5, timer_scale=FAST))

    assert result.failure == "refused", result
    assert result.detail is not None and "refused" in result.detail


def test_closed_udp_port_is_refused_by_icmp() -> None:
    port = free_port(socket.SOCK_DGRAM)

    result = asyncio.run(probe(ProbeTarget("127.0.0.1", port, "udp"), timeout_s=5, timer_scale=FAST))

    assert result.failure == "refused", result
    assert result.detail is not None and "ICMP port unreachable" in result.detail


def test_unresolvable_name_is_dns_error() -> None:
    result = asyncio.run(probe(ProbeTarget("sbc.nonexistent.invalid", 5061, "tls"), timeout_s=5))

    assert result.failure == "dns_error", result
    assert result.detail is not None and "sbc.nonexistent.invalid" in result.detail
