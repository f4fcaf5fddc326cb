"""The AudioCodes Mediant REST API `/api/v1` as a client (httpx): authentication, certificate
checks, retries and the errors each answer stands for. `AudioCodesSbc` (`audiocodes`) and
`AudioCodesTlsContext` (`audiocodes_tls`) speak the resources on top of it.

- Every request carries HTTP Basic auth; the management certificate is checked against
  `BYOC_CA_BUNDLE` (or the system store). There is no switch to turn verification off.
- 409 (HA mate synchronising, device busy) and 5xx answers are retried with exponential backoff
  (honouring `Retry-After`); so are connections that never reached the device. A write whose answer
  was lost is not retried: the next sync reads the device and repairs.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from byoc import metrics
from byoc.adapters.audiocodes_errors import SbcAuthFailed, SbcForbidden, SbcRequestRefused
from byoc.adapters.retry import Backoff, retry_after_s, retrying
from byoc.ports import SbcBusy, SbcUnreachable

if TYPE_CHECKING:
    import httpx

__all__ = ["API_PREFIX", "BACKOFF", "AudioCodesRest", "json_object"]

API_PREFIX = "/api/v1"

BACKOFF = Backoff(attempts=6, base_s=0.5, cap_s=8.0, retry_after_cap_s=30.0)
"""409 (HA sync), 5xx and connections that never reached the device: six attempts, 0.5 s to 8 s."""


class _Busy(Exception):
    """A retryable failure on its way through the retry loop (never leaves `_request`)."""

    def __init__(self, error: Exception, retry_after: float | None = None, *,
                 reason: str = "busy") -> None:
        super().__init__(str(error))
        self.error, self.retry_after, self.reason = error, retry_after, reason

    @classmethod
    def no_answer(cls, error: Exception, cause: Exception) -> _Busy:
        """No answer from the device (not connected, or a read's answer lost): retried, and
        `error`, raised when the tries run out, names `cause`."""
        error.__cause__ = cause
        return cls(error, reason="no_answer")


_RETRY_STATUSES = frozenset({409, 500, 502, 503, 504})


class AudioCodesRest:
    """One SBC's REST API as a client: requests, retries, and the typed error of each answer."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: Callable[[], str],
        *,
        name: str = "sbc",
        ca_bundle: str | None = None,
        timeout_s: float = 15.0,
        retry: Backoff = BACKOFF,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith("https://"):
            raise ValueError(f"SBC {name}: {base_url!r} must be an https:// URL")
        self.name = name
        self._base = base_url.rstrip("/") + API_PREFIX
        self._username = username
        self._password = password
        self._ca_bundle = ca_bundle
        self._timeout_s = timeout_s
        self._retry = retry
        self._sleep = sleep
        self._transport = transport
        self._client: httpx.Client | None = None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- transport ---------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            verify: ssl.SSLContext | bool = True
            if self._ca_bundle:
                verify = ssl.create_default_context(cafile=self._ca_bundle)
            self._client = httpx.Client(
                base_url=self._base,
                auth=httpx.BasicAuth(self._username, self._password()),
                verify=verify,
                timeout=httpx.Timeout(self._timeout_s),
                headers={"Accept": "application/json, application/octet-stream, */*"},
                transport=self._transport,
            )
        return self._client

    def _get_text(self, path: str) -> str:
        response = self._request("GET", path)
        return response.content.decode("utf-8", errors="replace")

    def _get_json(self, path: str) -> dict[str, Any]:
        return json_object(self._request("GET", path), path)

    def _upload(self, path: str, filename: str, text: str, *, once: bool = False) -> dict[str, Any]:
        """PUT a file as multipart part `file` (what every file endpoint of the API reads).

        `once`: a single attempt, no retry on 409/5xx (the caller restores and retries the step).
        """
        files = {"file": (filename, text.encode("utf-8"), "application/octet-stream")}
        response = self._request("PUT", path, files=files, write=True, once=once)
        try:
            return json_object(response, path)
        except SbcRequestRefused:
            return {"status": "unknown", "output": response.text}

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        files: Mapping[str, Any] | None = None,
        write: bool = False,
        once: bool = False,
    ) -> httpx.Response:

        where = f"SBC {self.name}: {method} {API_PREFIX}{path}"
        loop = retrying(
            self._retry,
            retry_if=lambda exc: isinstance(exc, _Busy),
            retry_after=lambda exc: exc.retry_after if isinstance(exc, _Busy) else None,
            sleep=self._sleep,
            before_sleep=lambda _, exc, __: metrics.vendor_retry(
                "audiocodes", exc.reason if isinstance(exc, _Busy) else "busy"),
            once=once,
        )
        try:
            for attempt in loop:
                with attempt:
                    response = self._attempt(method, path, where, params=params, content=content,
                                             files=files, write=write, once=once)
        except _Busy as busy:
            raise busy.error from busy.error.__cause__
        return self._checked(response, where)

    def _attempt(
        self,
        method: str,
        path: str,
        where: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None,
        files: Mapping[str, Any] | None,
        write: bool,
        once: bool,
    ) -> httpx.Response:
        """One request; what is worth another attempt is raised as `_Busy` (carrying the error
        to raise when no attempt is left), anything else as itself."""
        import httpx

        metrics.vendor_call("audiocodes")
        try:
            response = self._http().request(
                method, path, params=params, content=content, files=files
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if _is_certificate_error(exc):
                raise SbcUnreachable(
                    f"{where}: the management certificate is not trusted ({exc}); put the CA "
                    "that issued it in BYOC_CA_BUNDLE"
                ) from exc
            raise _Busy.no_answer(SbcUnreachable(f"{where}: cannot connect ({exc})"), exc) \
                from exc
        except httpx.TransportError as exc:
            if write:
                raise SbcUnreachable(
                    f"{where}: {type(exc).__name__}: the answer was lost; the write may or may "
                    "not have been applied (the next sync reads the device and repairs)"
                ) from exc
            raise _Busy.no_answer(SbcUnreachable(f"{where}: {type(exc).__name__}: {exc}"), exc) \
                from exc
        if response.status_code in _RETRY_STATUSES:
            tried = (f"{response.status_code} (one attempt, not retried)" if once
                     else f"still {response.status_code} after {self._retry.attempts} attempts")
            raise _Busy(SbcBusy(
                f"{where}: {tried} ({_description(response)})"
                + ("; HA sync in progress? retry later" if response.status_code == 409 else "")
            ), retry_after_s(response.headers))
        return response

    def _checked(self, response: httpx.Response, where: str) -> httpx.Response:
        """The answer, or the error its status stands for (401, 403, any other 4xx)."""
        if response.status_code == 401:
            raise SbcAuthFailed(
                f"{where}: 401, the SBC refused user {self._username!r}; check BYOC_SBC_USERNAME "
                "and the password secret"
            )
        if response.status_code == 403:
            raise SbcForbidden(
                f"{where}: 403, user {self._username!r} lacks the privilege level "
                "(Administrator for files and actions)"
            )
        if response.status_code >= 400:
            raise SbcRequestRefused(f"{where}: {response.status_code} ({_description(response)})")
        return response

def json_object(response: httpx.Response, path: str) -> dict[str, Any]:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise SbcRequestRefused(f"{path}: the answer is not JSON: {response.text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise SbcRequestRefused(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _description(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or "no body"
    if isinstance(data, dict) and data.get("description"):
        return str(data["description"])
    return json.dumps(data)[:200]


def _is_certificate_error(exc: Exception) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
