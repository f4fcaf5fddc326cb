"""The Genesys SDK client of one org and OAuth client: wiring, token, typed errors, paging.

`GenesysClient` is the base of every part of the Genesys adapter (`adapters/genesys.py`).
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self, TypeVar
from urllib.parse import urlencode

from byoc.adapters.genesys_errors import (
    GenesysAuthError,
    GenesysPoolNotSettled,
    GenesysUnavailable,
    GenesysVersionConflict,
    _error_body,
    error_from_response,
)
from byoc.adapters.genesys_session import CallSession, RequestPacer, TokenCache, sdk_retry
from byoc.adapters.retry import waiter
from byoc.observability import register_secret
from byoc.ports import (
    GenesysError,
)

if TYPE_CHECKING:
    from byoc.settings import Settings

log = logging.getLogger("byoc.genesys")

T = TypeVar("T")

PAGE_SIZE = 100
"""Entities per page; public code uses 100 and the real maximum is unverified."""
MAX_PAGES = 10_000
VERSION_ATTEMPTS = 5
SETTLE_DELAYS_S = (1.0, 2.0, 3.0, 5.0, 8.0)
"""Waits before retrying a write refused while a new DID pool settles (about 19 s in all)."""
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0


class GenesysClient:
    """The SDK client of one org and one OAuth client, and the calls every part makes through it."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: Callable[[], str],
        requests_per_minute: int = 300,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] | None = None,
        settle_delays_s: tuple[float, ...] = SETTLE_DELAYS_S,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
        read_timeout_s: float = READ_TIMEOUT_S,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.connect_timeout_s = connect_timeout_s
        self.read_timeout_s = read_timeout_s
        self._client_id = client_id
        self._client_secret = client_secret
        self._clock = clock
        self._sleep = sleep or time.sleep  # pacing and settling: real time unless given
        self._retry_sleep = waiter(sleep)  # between retries: `retry.pause` unless given
        self._settle_delays = settle_delays_s
        self.pacer = RequestPacer(requests_per_minute, clock=clock, sleep=self._sleep)
        self.tokens = TokenCache(self._fetch_token, clock=clock)
        self._session: CallSession | None = None
        self._deleted: dict[str, float] = {}
        self._pool_fields: dict[str, tuple[int | None, str | None, str | None]] = {}
        """Pool id -> (version, comments, provider) as last read or written: a range change
        PUTs them back without reading the pool first (a stale version gets a 409: read then)."""
        """ids of DID pools byoc deleted (or found gone) -> when."""
        self._deletion_waits: dict[tuple[str, str], int] = {}
        self._sdk: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, client_secret: Callable[[], str]) -> Self:
        """The adapter for the configured org; the secret is read on the first token request."""
        return cls(
            base_url=settings.genesys_base_url,
            client_id=settings.genesys_client_id,
            client_secret=client_secret,
            requests_per_minute=settings.genesys_requests_per_minute,
            connect_timeout_s=settings.genesys_connect_timeout_s,
            read_timeout_s=settings.genesys_read_timeout_s,
        )

    @property
    def calls(self) -> int:
        """Platform API requests sent so far (token requests and connection retries not counted)."""
        return self._session.calls if self._session else 0

    # --- SDK wiring ------------------------------------------------------------------------------

    def _apis(self) -> Any:
        with self._lock:
            if self._sdk is None:
                self._sdk = self._build_sdk()
            return self._sdk

    def _build_sdk(self) -> Any:
        import PureCloudPlatformClientV2 as G
        import urllib3
        from PureCloudPlatformClientV2.default_http_client import DefaultHttpClient
        from PureCloudPlatformClientV2.rest import ApiException

        session = CallSession(
            self.tokens, self.pacer, error_type=ApiException, sleep=self._retry_sleep,
            unanswered=(urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.ProtocolError))

        class PacedHttpClient(DefaultHttpClient):  # type: ignore[misc]
            """The SDK's HTTP client with byoc's token, pacing and retries around each call."""

            def request(self, http_request_options: Any) -> Any:
                if str(http_request_options.url).endswith("/oauth/token"):
                    return super().request(http_request_options)
                return session.send(http_request_options, super().request)

        client = G.ApiClient(host=self.base_url)
        http = PacedHttpClient()
        timeout = urllib3.Timeout(connect=self.connect_timeout_s, read=self.read_timeout_s)
        http.rest_client.pool_manager.connection_pool_kw["timeout"] = timeout
        http.rest_client.pool_manager.connection_pool_kw["retries"] = sdk_retry()
        client.set_http_client(http)
        self._session = session
        return _Apis(
            G=G,
            client=client,
            http=http,
            error=ApiException,
            edges=G.TelephonyProvidersEdgeApi(client),
            architect=G.ArchitectApi(client),
            users=G.UsersApi(client),
        )

    def _fetch_token(self) -> tuple[str, float]:
        """POST /oauth/token (client credentials, HTTP Basic) on the login host; keeps expires_in."""
        apis = self._apis()
        url = apis.client.get_conf_url("login", apis.client.host) + "/oauth/token"
        secret = self._client_secret()
        basic = base64.b64encode(f"{self._client_id}:{secret}".encode()).decode("ascii")
        headers = {"Authorization": f"Basic {basic}",
                   "Content-Type": "application/x-www-form-urlencoded"}
        try:
            response = apis.http.rest_client.pool_manager.request(
                "POST", url, body=urlencode({"grant_type": "client_credentials"}), headers=headers)
        except Exception as exc:
            raise GenesysUnavailable(f"Genesys login host {url} did not answer: {exc}") from None
        text = response.data.decode("utf-8", "replace")
        if response.status != 200:
            raise GenesysAuthError(
                f"Genesys refused byoc's OAuth client {self._client_id!r} at {url} "
                f"({response.status}): {_error_body(text)[0]}. Check BYOC_GENESYS_CLIENT_ID, the "
                "client secret, and that the client uses the Client Credentials grant",
                status=response.status)
        data = json.loads(text)
        token = str(data["access_token"])
        register_secret(token)
        lifetime = float(data.get("expires_in") or 86_400)
        return token, lifetime

    def _call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call an SDK method; its failures become typed `GenesysError`s naming `what`."""
        apis = self._apis()
        import urllib3

        try:
            return function(*args, **kwargs)
        except apis.error as exc:
            status, body = getattr(exc, "status", None), getattr(exc, "body", None)
            raise error_from_response(what, status, body) from None
        except urllib3.exceptions.ReadTimeoutError:
            raise GenesysUnavailable(
                f"Genesys did not answer {what} within {self.read_timeout_s:g} s "
                "(BYOC_GENESYS_READ_TIMEOUT_S)") from None
        except urllib3.exceptions.HTTPError as exc:
            raise GenesysUnavailable(f"Genesys did not answer {what}: {exc}") from None

    def _write(self, what: str, function: Callable[..., T], *args: Any) -> T:
        """A write carrying a `version`: any 409 is a version conflict (Genesys does not always
        say so; Terraform's `IsVersionMismatch` treats every 409 alike)."""
        try:
            return self._call(what, function, *args)
        except GenesysError as exc:
            if exc.status == 409 and not isinstance(exc, GenesysVersionConflict):
                raise GenesysVersionConflict(str(exc), status=409, code=exc.code) from None
            raise

    def _pages(self, what: str, fetch: Callable[[int], Any]) -> list[Any]:
        entities: list[Any] = []
        for page in range(1, MAX_PAGES + 1):
            listing = self._call(f"{what} (page {page})", fetch, page)
            chunk = list(listing.entities or [])
            entities.extend(chunk)
            page_count = getattr(listing, "page_count", None)
            if not chunk or (page_count is not None and page >= page_count):
                break
            if page_count is None and not getattr(listing, "next_uri", None):
                break
        return entities

    def _settling(self, what: str, write: Callable[[], T]) -> T:
        """Run `write`, retrying while a new DID pool settles ("didPoolId is required")."""
        for delay in (*self._settle_delays, None):
            try:
                return write()
            except GenesysPoolNotSettled as exc:
                if delay is None:
                    raise GenesysPoolNotSettled(
                        f"{exc}. The number's DID pool was still not visible after "
                        f"{sum(self._settle_delays):.0f} s; the next sync retries it",
                        status=exc.status, code=exc.code) from None
                log.info("DID pool not settled yet; retrying", extra={
                    "event": "genesys.pool_settling", "what": what, "delay_s": delay})
                self._sleep(delay)
        raise AssertionError("unreachable")


class _Apis:
    """The SDK objects of one adapter."""

    def __init__(self, **parts: Any) -> None:
        self.G = parts["G"]
        self.client = parts["client"]
        self.http = parts["http"]
        self.error: type[Exception] = parts["error"]
        self.edges = parts["edges"]
        self.architect = parts["architect"]
        self.users = parts["users"]
