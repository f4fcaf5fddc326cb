"""An SBC's TLS context through the AudioCodes REST API, and a live TLS handshake with its SIP port.

The REST half reuses `AudioCodesSbc` (Basic auth, `BYOC_CA_BUNDLE`, retries on 409 HA sync and 5xx,
typed errors) and adds the TLS context files of docs/vendors/audiocodes.md §4:

- `GET/PUT /files/tls/<ctx>/certificate` (PEM; the PUT takes multipart part `file`),
- `GET/PUT /files/tls/<ctx>/privateKey` (the GET only says `{"size", "valid"}`: a key can never be
  downloaded),
- `GET /files/tls/<ctx>/trustedRoot`, `PUT /files/tls/<ctx>/trustedRoot/incremental` (one PEM);
  the non-incremental PUT replaces the whole store and is sent only to take out what byoc added,
- `POST /actions/saveConfiguration`, `GET /status` (`resetNeeded`).

Only the leaf goes to `certificate`: whether the PUT accepts a whole chain is unverified, so
intermediates go to the trusted-root store, which the device uses to complete the chain it sends.

The handshake half is plain `ssl`, speaking as Genesys BYOC Cloud does: TLS 1.2 only and the cipher
suites of Genesys's "TLS trunk transport protocol specification" (`GENESYS_BYOC_CLOUD_CIPHERS`), all
RSA-authenticated. Twilio requires TLS 1.2 by default (error 32222) and publishes no cipher list, so
Genesys's list is the binding one. It connects to the SIP TLS port with SNI and reports the leaf the
port presents, and whether such a peer trusting the configured roots would accept it for that name.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from byoc.adapters.audiocodes import AudioCodesSbc
from byoc.domain.certs import key_type_name
from byoc.ports import PresentedCertificate, TlsHandshakeFailed

if TYPE_CHECKING:
    from byoc.settings import SbcSettings, Settings


class AudioCodesTlsContext(AudioCodesSbc):
    """One TLS context (`tls_context` of the SBC's settings) of one SBC."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: Callable[[], str],
        *,
        context: int = 0,
        **options: Any,
    ) -> None:
        super().__init__(base_url, username, password, **options)
        if context < 0:
            raise ValueError(f"TLS context index must be 0 or more, not {context}")
        self.context = context
        self._files = f"/files/tls/{context}"

    @classmethod
    def for_sbc(
        cls, settings: Settings, sbc: SbcSettings, password: Callable[[], str]
    ) -> AudioCodesTlsContext:
        """The adapter for `sbc`'s SIP TLS context, the password read on first use."""
        return cls(
            sbc.management_url,
            settings.sbc_username,
            password,
            context=sbc.tls_context,
            name=sbc.name,
            ca_bundle=settings.ca_bundle,
            timeout_s=settings.sbc_timeout_s,
        )

    def read_certificate_pem(self) -> str:
        """The context's device certificate (PEM, leaf first; the device may append a chain)."""
        return self._get_text(f"{self._files}/certificate")

    def private_key_valid(self) -> bool | None:
        """Whether the device says its key matches its certificate (None: it does not say)."""
        data = self._get_json(f"{self._files}/privateKey")
        valid = data.get("valid")
        if isinstance(valid, bool):
            return valid
        text = str(valid).strip().lower()  # the vendor's own example prints Python's `True`
        return {"true": True, "false": False}.get(text)

    def upload_private_key(self, pem: str, *, once: bool = False) -> None:
        """`PUT privateKey` (unencrypted PKCS#8 PEM). The key is never logged nor read back.

        `once`: no retry, for a key put back while key and certificate disagree.
        """
        self._upload(f"{self._files}/privateKey", "key.pem", pem, once=once)

    def upload_certificate(self, pem: str) -> None:
        """`PUT certificate` with the leaf only, in a single attempt: it follows the key upload,
        so until it lands key and certificate disagree and a retry loop would stretch that."""
        self._upload(f"{self._files}/certificate", "certificate.pem", pem, once=True)

    def read_trusted_roots_pem(self) -> str:
        """The context's trusted-root store as concatenated PEM (empty when it holds none)."""
        return self._get_text(f"{self._files}/trustedRoot")

    def add_trusted_root(self, pem: str) -> None:
        """Add one certificate to the trusted-root store (`trustedRoot/incremental`)."""
        self._upload(f"{self._files}/trustedRoot/incremental", "root.pem", pem)

    def replace_trusted_roots(self, pem: str) -> None:
        """`PUT trustedRoot`: the store becomes exactly `pem`. Only used to take out entries byoc
        itself added, with every other entry read just before sent back unchanged."""
        self._upload(f"{self._files}/trustedRoot", "roots.pem", pem)


# --- the live handshake ------------------------------------------------------------------------


GENESYS_BYOC_CLOUD_CIPHERS: tuple[tuple[str, str], ...] = (
    ("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
    ("TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256"),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384"),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
)
"""(IANA name, OpenSSL name) of the suites Genesys lists for BYOC Cloud TLS trunks
(https://help.mypurecloud.com/?p=197875). Two of them (…_RSA_…_CBC_SHA256, ECDHE_RSA_…_CBC_SHA384)
were announced as deprecated on 2025-03-24; they stay until Genesys removes them."""


def genesys_client_context(trust_file: str | None) -> ssl.SSLContext:
    """A verifying client context limited to what Genesys BYOC Cloud offers: TLS 1.2, its suites."""
    context = ssl.create_default_context(cafile=trust_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(":".join(name for _, name in GENESYS_BYOC_CLOUD_CIPHERS))
    return context


def tls12_client_context(trust_file: str | None) -> ssl.SSLContext:
    """A verifying client context with TLS 1.2 only and OpenSSL's default suites, as Twilio
    requires by default (error 32222): the check when EC is allowed (no Genesys TLS leg)."""
    context = ssl.create_default_context(cafile=trust_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


class SipTlsHandshake:
    """TLS handshakes with an SBC's SIP TLS port, checked against the configured trust roots.

    A first handshake verifies the chain and the server name as Genesys would (TLS 1.2, its
    suites). When that fails on the certificate, a second one without verification learns which
    leaf was presented, so an expired or wrongly chained certificate is still identified by its
    fingerprint. When it fails because no Genesys suite fits (an EC key, TLS 1.3 only), an
    unconstrained handshake learns the leaf and the answer says Genesys could not connect.
    """

    def __init__(self, *, trust_file: str | None, timeout_s: float = 8.0,
                 genesys_suites: bool = True) -> None:
        """`genesys_suites=False` (with `BYOC_CERT_ALLOW_EC`: no Genesys TLS leg): TLS 1.2 with the
        default suites, as Twilio connects."""
        self._trust_file = trust_file
        self._timeout_s = timeout_s
        self._genesys_suites = genesys_suites

    def presented_certificate(self, host: str, port: int, server_name: str) -> PresentedCertificate:
        where = f"{host}:{port} (SNI {server_name})"
        verifying = (genesys_client_context(self._trust_file) if self._genesys_suites
                     else tls12_client_context(self._trust_file))
        try:
            der, version = self._handshake(verifying, host, port, server_name)
            return PresentedCertificate(leaf_der=der, chain_verified=True, tls_version=version)
        except ssl.SSLCertVerificationError as exc:
            problem = exc.verify_message or str(exc)
        except (ConnectionRefusedError, TimeoutError, socket.gaierror) as exc:
            raise TlsHandshakeFailed(
                f"SIP TLS port {where} is unreachable ({_reason(exc)})", reached=False
            ) from exc
        except (ssl.SSLError, ConnectionError) as exc:
            outside = (self._outside_genesys_suites(host, port, server_name)
                       if self._genesys_suites else None)
            if outside is not None:
                return outside
            raise TlsHandshakeFailed(
                f"SIP TLS port {where} accepted the connection but did not complete a TLS "
                f"handshake ({_reason(exc)}); the context may hold a key and a certificate that "
                "do not match",
                reached=True,
            ) from exc
        except OSError as exc:
            raise TlsHandshakeFailed(
                f"SIP TLS port {where} is unreachable ({_reason(exc)})", reached=False
            ) from exc
        looking = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        looking.check_hostname = False
        looking.verify_mode = ssl.CERT_NONE
        try:
            der, version = self._handshake(looking, host, port, server_name)
        except (ssl.SSLError, OSError) as exc:
            raise TlsHandshakeFailed(
                f"SIP TLS port {where}: the presented certificate failed verification ({problem}) "
                f"and a second handshake to read it failed ({_reason(exc)})",
                reached=True,
            ) from exc
        return PresentedCertificate(
            leaf_der=der, chain_verified=False, verify_error=problem, tls_version=version
        )

    def _outside_genesys_suites(
        self, host: str, port: int, server_name: str
    ) -> PresentedCertificate | None:
        """When an unconstrained handshake works, what it shows and why Genesys cannot connect."""
        open_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        open_context.check_hostname = False
        open_context.verify_mode = ssl.CERT_NONE
        try:
            der, version = self._handshake(open_context, host, port, server_name)
        except (ssl.SSLError, OSError):
            return None
        key = _key_description(der)
        return PresentedCertificate(
            leaf_der=der, chain_verified=False, tls_version=version,
            verify_error=(
                f"no handshake with Genesys BYOC Cloud's TLS 1.2 RSA cipher suites "
                f"(https://help.mypurecloud.com/?p=197875): the port presents {key} and only "
                f"completes {version or 'a handshake'} outside them, so Genesys cannot connect"
            ),
        )

    def _handshake(
        self, context: ssl.SSLContext, host: str, port: int, server_name: str
    ) -> tuple[bytes, str | None]:
        with socket.create_connection((host, port), timeout=self._timeout_s) as raw:
            raw.settimeout(self._timeout_s)
            with context.wrap_socket(raw, server_hostname=server_name) as tls:
                der = tls.getpeercert(binary_form=True)
                if not der:
                    raise ssl.SSLError("the peer presented no certificate")
                return der, tls.version()


def _key_description(der: bytes) -> str:
    from cryptography import x509


    try:
        return f"a {key_type_name(x509.load_der_x509_certificate(der).public_key())} key"
    except ValueError:
        return "an unreadable certificate"


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
