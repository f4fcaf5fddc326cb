"""An SBC's TLS context through the AudioCodes REST API, and a live TLS handshake with its SIP port.

The REST half reuses `AudioCodesSbc` (Basic auth, `BYOC_CA_BUNDLE`, retries on 409 HA sync and 5xx,
typed errors) and adds the TLS context files of docs/vendors/audiocodes.md §4:

- `GET/PUT /files/tls/<ctx>/certificate` (PEM; the PUT takes multipart part `file`),
- `GET/PUT /files/tls/<ctx>/privateKey` (the GET only says `{"size", "valid"}`: a key can never be
  downloaded),
- `GET /files/tls/<ctx>/trustedRoot`, `PUT /files/tls/<ctx>/trustedRoot/incremental` (one PEM;
  the non-incremental PUT replaces the whole store and is never sent),
- `POST /actions/saveConfiguration`, `GET /status` (`resetNeeded`).

Only the leaf goes to `certificate`: whether the PUT accepts a whole chain is unverified, so
intermediates go to the trusted-root store, which the device uses to complete the chain it sends.

The handshake half is plain `ssl`: it connects to the SIP TLS port with SNI and reports the leaf the
port presents, and whether a peer trusting the configured roots would accept it for that name.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from byoc.adapters.audiocodes import AudioCodesSbc
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

    def upload_private_key(self, pem: str) -> None:
        """`PUT privateKey` (unencrypted PKCS#8 PEM). The key is never logged nor read back."""
        self._upload(f"{self._files}/privateKey", "key.pem", pem)

    def upload_certificate(self, pem: str) -> None:
        """`PUT certificate` with the leaf only."""
        self._upload(f"{self._files}/certificate", "certificate.pem", pem)

    def read_trusted_roots_pem(self) -> str:
        """The context's trusted-root store as concatenated PEM (empty when it holds none)."""
        return self._get_text(f"{self._files}/trustedRoot")

    def add_trusted_root(self, pem: str) -> None:
        """Add one certificate to the trusted-root store (`trustedRoot/incremental`)."""
        self._upload(f"{self._files}/trustedRoot/incremental", "root.pem", pem)


# --- the live handshake ------------------------------------------------------------------------


class SipTlsHandshake:
    """TLS handshakes with an SBC's SIP TLS port, checked against the configured trust roots.

    A first handshake verifies the chain and the server name like a carrier would. When that fails
    on the certificate, a second one without verification learns which leaf was presented, so
    an expired or wrongly chained certificate is still identified by its fingerprint.
    """

    def __init__(self, *, trust_file: str | None, timeout_s: float = 8.0) -> None:
        self._trust_file = trust_file
        self._timeout_s = timeout_s

    def presented_certificate(self, host: str, port: int, server_name: str) -> PresentedCertificate:
        where = f"{host}:{port} (SNI {server_name})"
        verifying = ssl.create_default_context(cafile=self._trust_file)
        verifying.minimum_version = ssl.TLSVersion.TLSv1_2
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


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "…"
