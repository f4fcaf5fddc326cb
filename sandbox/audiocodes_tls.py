"""TLS context files of the emulated SBC (private key, certificate, trusted roots) and its SIP TLS
listener, which presents the context's live certificate and answers SIP OPTIONS.

Key and certificate uploads (vendor notes §4: public code uploads the key, then the certificate,
then saves; the window between the two is [U]):
- An upload that matches the other stored half completes the pair, which then goes live.
- An upload that does not match the other half is accepted when that other half is the old,
  consistent one: the context then awaits the matching half (GET privateKey says `valid: false`).
- While the context awaits a half, an upload of that half which does not match the half uploaded
  before it is refused (HTTP 400): key-first, the certificate must match the new key;
  certificate-first, the key must match the new certificate.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import secrets
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class TlsFileRefused(ValueError):
    """An upload to a TLS context that the device refuses (HTTP 400)."""


@dataclass(frozen=True)
class ServedIdentity:
    """What the TLS listener presents: the key, the leaf and the chain above it, under the TLS
    context's `TLSVersion` (7.4 enum, a bit per version: 1 TLS 1.0, 2 TLS 1.1, 4 TLS 1.2, 8 TLS 1.3;
    0 = any) and `ServerCipherString` (OpenSSL cipher list syntax; `DEFAULT`)."""

    key: PrivateKey
    cert: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    tls_version: str = "0"
    ciphers: str = "DEFAULT"

    def fingerprint_sha256(self) -> str:
        return self.cert.fingerprint(hashes.SHA256()).hex().upper()

    def under(self, tls_version: str, ciphers: str) -> ServedIdentity:
        """The same files under another TLS context configuration."""
        return replace(self, tls_version=tls_version, ciphers=ciphers or "DEFAULT")

    def cache_key(self) -> str:
        parts = [c.fingerprint(hashes.SHA256()) for c in (self.cert, *self.chain)]
        parts.append(f"{self.tls_version}|{self.ciphers}".encode())
        return hashlib.sha256(b"".join(parts)).hexdigest()


_TLS_VERSION_BITS = (
    (1, ssl.TLSVersion.TLSv1), (2, ssl.TLSVersion.TLSv1_1),
    (4, ssl.TLSVersion.TLSv1_2), (8, ssl.TLSVersion.TLSv1_3),
)


def apply_tls_version(context: ssl.SSLContext, value: str) -> None:
    """Limit a server context to the versions the `TLSVersion` value names (0 or unreadable: the
    library's own range). Versions between the lowest and highest that the value leaves out are
    switched off too."""
    try:
        bits = int(value)
    except ValueError:
        return
    allowed = [version for bit, version in _TLS_VERSION_BITS if bits & bit]
    if not allowed:
        return
    context.minimum_version, context.maximum_version = allowed[0], allowed[-1]
    gaps = {ssl.TLSVersion.TLSv1_1: ssl.OP_NO_TLSv1_1, ssl.TLSVersion.TLSv1_2: ssl.OP_NO_TLSv1_2}
    for version, option in gaps.items():
        if allowed[0] < version < allowed[-1] and version not in allowed:
            context.options |= option


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _public_der(key_or_cert: PrivateKey | x509.Certificate) -> bytes:
    public = key_or_cert.public_key()
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _matches(key: PrivateKey, cert: x509.Certificate) -> bool:
    return _public_der(key) == _public_der(cert)


def parse_certificates(data: bytes) -> list[x509.Certificate]:
    """Certificates of a PEM file; TlsFileRefused for anything else."""
    text = data.decode("ascii", errors="replace")
    if "PRIVATE KEY" in text:
        raise TlsFileRefused("the file contains a private key; upload it to privateKey instead")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise TlsFileRefused("the file is not a Base64 (PEM) X.509 certificate")
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise TlsFileRefused(f"the PEM certificate could not be read: {exc}") from exc


def parse_private_key(data: bytes, password: bytes | None) -> PrivateKey:
    """A PEM private key (RSA or EC); TlsFileRefused for anything else."""
    if b"PRIVATE KEY-----" not in data:
        raise TlsFileRefused("the file is not a PEM private key")
    if b"CERTIFICATE-----" in data:
        raise TlsFileRefused("the file contains a certificate; upload it to certificate instead")
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        raise TlsFileRefused(f"the private key could not be decrypted: {exc}") from exc
    except ValueError as exc:
        raise TlsFileRefused(f"the private key could not be read: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise TlsFileRefused("only RSA and ECDSA private keys are supported")
    return key


def self_signed(key: PrivateKey, subject: dict[x509.ObjectIdentifier, str] | None = None,
                common_name: str = "ACL_SBC") -> x509.Certificate:
    """A self-signed certificate for `key`, valid for a year."""
    attributes = [x509.NameAttribute(oid, value) for oid, value in (subject or {}).items()]
    if not any(a.oid == NameOID.COMMON_NAME for a in attributes):
        attributes.insert(0, x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    name = x509.Name(attributes)
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


@dataclass
class TlsContextFiles:
    """The files of one TLS context and what its listener serves."""

    key: PrivateKey
    cert: x509.Certificate
    cert_chain: tuple[x509.Certificate, ...] = ()
    trusted_roots: list[x509.Certificate] = field(default_factory=list)
    awaiting: str | None = None  # "certificate" or "private key"
    live: ServedIdentity | None = None

    @classmethod
    def fresh(cls, name: str) -> TlsContextFiles:
        key = ec.generate_private_key(ec.SECP256R1())
        files = cls(key=key, cert=self_signed(key, common_name=name))
        files.go_live()
        return files

    def clone(self) -> TlsContextFiles:
        return TlsContextFiles(self.key, self.cert, self.cert_chain, list(self.trusted_roots),
                               self.awaiting, self.live)

    @property
    def consistent(self) -> bool:
        return _matches(self.key, self.cert)

    def stored_identity(self) -> ServedIdentity:
        return ServedIdentity(self.key, self.cert, self._chain())

    def go_live(self) -> None:
        if self.consistent:
            self.live = self.stored_identity()

    def _chain(self) -> tuple[x509.Certificate, ...]:
        chain = list(self.cert_chain)
        current = chain[-1] if chain else self.cert
        while current.issuer != current.subject and len(chain) < 5:
            issuer = next(
                (c for c in self.trusted_roots
                 if c.subject == current.issuer and c.issuer != c.subject and c not in chain),
                None,
            )
            if issuer is None:
                break
            chain.append(issuer)
            current = issuer
        return tuple(chain)

    # --- uploads ----------------------------------------------------------------------------

    def put_private_key(self, data: bytes, password: bytes | None) -> bool:
        """Store the key; True when it completes a consistent pair."""
        key = parse_private_key(data, password)
        if _matches(key, self.cert):
            self.key, self.awaiting = key, None
            return True
        if self.awaiting == "private key":
            raise TlsFileRefused(
                "the private key does not match the certificate uploaded before it "
                f"(subject {self.cert.subject.rfc4514_string()}); upload the key of that "
                "certificate"
            )
        self.key, self.awaiting = key, "certificate"
        return False

    def put_certificate(self, data: bytes, *, accepts_chain: bool) -> bool:
        """Store the certificate (and chain); True when it completes a consistent pair."""
        certs = parse_certificates(data)
        if len(certs) > 1 and not accepts_chain:
            raise TlsFileRefused(
                f"the file holds {len(certs)} certificates; upload only the device certificate "
                "and add intermediates with trustedRoot/incremental"
            )
        leaf, chain = certs[0], tuple(certs[1:])
        if _matches(self.key, leaf):
            self.cert, self.cert_chain, self.awaiting = leaf, chain, None
            return True
        if self.awaiting == "certificate":
            raise TlsFileRefused(
                "the certificate does not match the private key uploaded before it "
                f"(certificate subject {leaf.subject.rfc4514_string()}); upload the certificate "
                "issued for that key, or upload its key first"
            )
        self.cert, self.cert_chain, self.awaiting = leaf, chain, "private key"
        return False

    def put_trusted_roots(self, data: bytes, capacity: int) -> None:
        certs = parse_certificates(data)
        if len(certs) > capacity:
            raise TlsFileRefused(f"the trusted root store holds at most {capacity} certificates")
        self.trusted_roots = certs

    def add_trusted_root(self, data: bytes, capacity: int) -> None:
        certs = parse_certificates(data)
        if len(certs) != 1:
            raise TlsFileRefused(f"add one certificate at a time (the file holds {len(certs)})")
        if certs[0] in self.trusted_roots:
            return
        if len(self.trusted_roots) >= capacity:
            raise TlsFileRefused(f"the trusted root store is full ({capacity} certificates)")
        self.trusted_roots.append(certs[0])

    def generate_self_signed(self, subject: dict[x509.ObjectIdentifier, str]) -> None:
        self.cert, self.cert_chain, self.awaiting = self_signed(self.key, subject), (), None

    # --- reads ------------------------------------------------------------------------------

    def certificate_pem(self) -> str:
        return "".join(_pem(c) for c in (self.cert, *self.cert_chain))

    def trusted_roots_pem(self) -> str:
        return "".join(_pem(c) for c in self.trusted_roots)

    def key_info(self) -> dict[str, object]:
        return {"size": self.key.key_size, "valid": self.consistent}

    def describe(self) -> dict[str, object]:
        return {
            "certificate_sha256": self.cert.fingerprint(hashes.SHA256()).hex().upper(),
            "certificate_subject": self.cert.subject.rfc4514_string(),
            "key_matches_certificate": self.consistent,
            "awaiting": self.awaiting,
            "trusted_roots": len(self.trusted_roots),
            "live_certificate_sha256": self.live.fingerprint_sha256() if self.live else None,
        }


# --- SIP over TLS ------------------------------------------------------------------------------

_COMPACT = {"v": "via", "f": "from", "t": "to", "i": "call-id", "l": "content-length"}
_MAX_HEADER = 16384


def sip_response(request: bytes, server: str) -> bytes | None:
    """The SBC's answer to one SIP request (200 to OPTIONS), None for a SIP response."""
    head = request.split(b"\r\n\r\n", 1)[0].decode("utf-8", errors="replace")
    lines = head.split("\r\n")
    request_line = lines[0].split()
    if request_line[:1] == ["SIP/2.0"]:
        return None
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            lowered = name.strip().lower()
            headers.append((_COMPACT.get(lowered, lowered), value.strip()))
    wanted = ("via", "from", "to", "call-id", "cseq")
    copied = {n: [v for k, v in headers if k == n] for n in wanted}
    if len(request_line) != 3 or request_line[2] != "SIP/2.0" or not all(copied.values()):
        status = "400 Bad Request"
    elif request_line[0] != "OPTIONS":
        status = "501 Not Implemented"
    else:
        status = "200 OK"
    to = copied["to"][0] if copied["to"] else ""
    if to and ";tag=" not in to:
        to += f";tag={secrets.token_hex(5)}"
    out = [f"SIP/2.0 {status}"]
    out += [f"Via: {v}" for v in copied["via"]]
    out += [f"From: {v}" for v in copied["from"][:1]]
    out += [f"To: {to}"] if to else []
    out += [f"Call-ID: {v}" for v in copied["call-id"][:1]]
    out += [f"CSeq: {v}" for v in copied["cseq"][:1]]
    out += [
        "Allow: REGISTER,OPTIONS,INVITE,ACK,CANCEL,BYE,NOTIFY,PRACK,REFER,INFO,SUBSCRIBE,UPDATE",
        f"Server: {server}",
        "Content-Length: 0",
    ]
    return ("\r\n".join(out) + "\r\n\r\n").encode()


class SipTlsListener:
    """A TLS server on 127.0.0.1 presenting the identity `identity()` returns at each handshake.

    When `identity()` returns None (no consistent key and certificate), the connection is closed
    before the handshake completes, as a device with a mismatched pair fails handshakes.
    """

    def __init__(self, identity: Callable[[], ServedIdentity | None],
                 server_header: Callable[[], str], workdir: Path,
                 router: Callable[[ssl.SSLSocket, str], bool] | None = None) -> None:
        self._identity = identity
        self._router = router
        self._server_header = server_header
        self._workdir = workdir
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.address: str | None = None

    def start(self) -> str:
        if self.address is not None:
            return self.address
        self._stop.clear()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        sock.settimeout(0.1)
        self._sock = sock
        self.address = f"127.0.0.1:{sock.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept_loop, daemon=True,
                                        name=f"sip-tls-{self.address}")
        self._thread.start()
        return self.address

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._sock is not None:
            self._sock.close()
        self._sock, self._thread, self.address = None, None, None
        with self._lock:
            self._contexts.clear()

    def _accept_loop(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _context(self, identity: ServedIdentity) -> ssl.SSLContext:
        cache_key = identity.cache_key()
        with self._lock:
            context = self._contexts.get(cache_key)
            if context is not None:
                return context
            self._workdir.mkdir(parents=True, exist_ok=True)
            certfile = self._workdir / f"{cache_key[:16]}.crt"
            keyfile = self._workdir / f"{cache_key[:16]}.key"
            certfile.write_text("".join(_pem(c) for c in (identity.cert, *identity.chain)))
            keyfile.write_bytes(identity.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ))
            keyfile.chmod(0o600)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            apply_tls_version(context, identity.tls_version)
            if identity.ciphers.upper() != "DEFAULT":
                # unreadable by OpenSSL: its defaults stay (what the device does is unverified)
                with contextlib.suppress(ssl.SSLError):
                    context.set_ciphers(identity.ciphers)
            context.load_cert_chain(str(certfile), str(keyfile))
            self._contexts[cache_key] = context
            return context

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            identity = self._identity()
            if identity is None:
                return
            conn.settimeout(5.0)
            try:
                with self._context(identity).wrap_socket(conn, server_side=True) as tls:
                    peer = str(tls.getpeername()[0])
                    if self._router is None or not self._router(tls, peer):
                        self._answer(tls)
            except (OSError, ssl.SSLError):
                return

    def _answer(self, tls: ssl.SSLSocket) -> None:
        buffer = b""
        while not self._stop.is_set():
            while b"\r\n\r\n" not in buffer:
                chunk = tls.recv(4096)
                if not chunk or len(buffer) > _MAX_HEADER:
                    return
                buffer += chunk
            head, rest = buffer.split(b"\r\n\r\n", 1)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() in (b"content-length", b"l"):
                    length = int(value.strip() or b"0") if value.strip().isdigit() else 0
            while len(rest) < length:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                rest += chunk
            buffer = rest[length:]
            answer = sip_response(head + b"\r\n\r\n", self._server_header())
            if answer is not None:
                tls.sendall(answer)
