"""Genesys Cloud through its Python SDK (`PureCloudPlatformClientV2`), as `GenesysPort`.

The SDK is imported inside the functions that need it (it costs over a second and ~200 MB), so
importing this module, or `function_app`, stays light.

What the SDK does not do, this adapter does (docs/vendors/genesys.md):

- **Tokens.** The SDK keeps a client-credentials token forever and drops `expires_in`. byoc fetches
  the token itself (same request, same host rule), caches it, renews it before it expires, and
  renews it once more and retries when a call meets a 401.
- **Retries below byoc.** The SDK gives its urllib3 pool `Retry()` with every method allowed:
  10 replays of any call, POSTs included, and of 429/503 answers carrying `Retry-After`. byoc
  replaces it (`sdk_retry`): urllib3 only retries a connection that never opened; a read timeout,
  a dropped connection or an answer comes straight back here. A call that got no answer is sent
  once more when it is safe to repeat (never a create), so a call waits at most two read timeouts.
- **Rate limits.** A 429 (with or without `Retry-After`) is retried here with backoff. Calls are
  paced to `BYOC_GENESYS_REQUESTS_PER_MINUTE` and pause when the `inin-ratelimit-*` headers say
  the window is spent.
- **Lost answers to creates.** A DID pool create that fails (its answer may have been lost after
  it landed) is followed by a read of the pools by their range (the natural key) before anything
  is created again.
- **Versions and settling.** IVR PUTs and user PATCHes carry the current `version`; a conflict is
  re-read and re-applied. A number of a pool created moments ago may be refused with "Field
  'didPoolId' is required" until the pool settles; that write is retried a bounded number of times.
- **Paging.** Every list is read page by page (page size 100; the real maximum is unverified).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from byoc import metrics
from byoc.adapters.retry import Backoff, retry_after_s, retrying
from byoc.domain.numbers import E164_PATTERN
from byoc.observability import register_secret
from byoc.ports import (
    GenesysContact,
    GenesysDid,
    GenesysDidPool,
    GenesysError,
    GenesysIvr,
    GenesysNumberInUse,
    GenesysOutboundRoute,
    GenesysOutboundRouteSpec,
    GenesysPoolNumber,
    GenesysPoolRangeRefused,
    GenesysProxyStatus,
    GenesysRef,
    GenesysTrunkStatus,
    GenesysUser,
)

if TYPE_CHECKING:
    from urllib3.util import Retry

    from byoc.settings import Settings

log = logging.getLogger("byoc.genesys")

T = TypeVar("T")

REQUEST_BYTES_MAX = 512_000
"""Genesys's `request.bytes.max` organization limit: the largest request body it accepts."""
PAGE_SIZE = 100
"""Entities per page; public code uses 100 and the real maximum is unverified."""
MAX_PAGES = 10_000
USER_IDS_PER_READ = 100
EMAILS_PER_SEARCH = 50
VERSION_ATTEMPTS = 5
SETTLE_DELAYS_S = (1.0, 2.0, 3.0, 5.0, 8.0)
"""Waits before retrying a write refused while a new DID pool settles (about 19 s in all)."""
BACKOFF = Backoff(attempts=6, base_s=1.0, cap_s=30.0, retry_after_cap_s=60.0)
"""Waits before retrying a 429 or a 5xx: Genesys's `Retry-After` or `inin-ratelimit-reset` (at most
a minute, one rate-limit window), else 1, 2, 4, 8, 16, 30 s; six retries of a 5xx."""
RESET_HEADERS = ("inin-ratelimit-reset",)
UNANSWERED_RETRIES = 1
"""Times a call that got no answer (read timeout, connection dropped) is sent again, when it is
safe to repeat; one more try rides out a lost packet or a kept-alive connection Genesys closed."""
RATE_LIMIT_RETRIES = 12
"""Most retries of one call refused with 429 (byoc is the only layer that retries a 429)."""
RATE_LIMIT_WAIT_S = 120.0
"""Most time one call spends waiting out 429s, about two rate-limit windows."""
POOL_DELETE_DELAYS_S = (1.0, 3.0, 5.0)
POOL_DELETE_SHOW_DELAYS_S = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0)
"""Waits for a pool byoc deleted to stop blocking an overlapping create (about 32 s in all)."""
POOL_DELETE_SHOW_S = 300.0
"""How long after byoc deleted a pool an overlap with it is taken for a deletion not shown yet."""
TOKEN_MARGIN_S = 300.0
CONNECT_TIMEOUT_S = 10.0
READ_TIMEOUT_S = 60.0
SDK_CONNECT_RETRIES = 2
"""Times urllib3 opens a connection again after it failed; the request was never sent."""
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})

_NUMBER = re.compile(E164_PATTERN)


# --- errors --------------------------------------------------------------------------------------


class GenesysAuthError(GenesysError):
    """byoc's OAuth client was refused (wrong id or secret, or the client is disabled)."""


class GenesysPermissionDenied(GenesysError):
    """byoc's OAuth client lacks a permission (403)."""


class GenesysNotFound(GenesysError):
    """The object does not exist (404)."""


class GenesysRateLimited(GenesysError):
    """Genesys kept answering 429 after every retry."""


class GenesysUnavailable(GenesysError):
    """Genesys did not answer, or answered 5xx, after every retry."""


class GenesysVersionConflict(GenesysError):
    """A write carried a stale `version` (409, or 400 "does not match the current version")."""


class GenesysRequestTooLarge(GenesysError):
    """A request body would pass Genesys's `request.bytes.max`; it was not sent."""


class GenesysPoolNotSettled(GenesysError):
    """A number of a DID pool was refused with "Field 'didPoolId' is required" (pool not seen)."""


class DidPoolOverlap(GenesysError):
    """A DID pool create was refused because its range overlaps an existing pool."""


@dataclass(frozen=True)
class GenesysCallSeen:
    """One conversation the analytics API reports for a number."""

    conversation_id: str
    start: dt.datetime | None
    end: dt.datetime | None
    codecs: tuple[str, ...]
    routed_to: str


def _utc_z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def error_from_response(what: str, status: int | None, body: str | None) -> GenesysError:
    """The typed error for a Genesys error response (`ErrorBody` JSON, or anything else)."""
    message, code, params = _error_body(body)
    text = f"Genesys refused {what} ({status} {code or 'error'}): {message}"
    lowered = message.lower()
    if status == 401:
        return GenesysAuthError(
            f"{text}. Check BYOC_GENESYS_CLIENT_ID, the client secret, and that the OAuth client "
            "is active", status=status, code=code)
    if status == 403:
        return GenesysPermissionDenied(
            f"{text}. Give byoc's OAuth client the role described in docs/genesys.md",
            status=status, code=code)
    if status == 429:
        return GenesysRateLimited(
            f"{text}. byoc retried with backoff; lower BYOC_GENESYS_REQUESTS_PER_MINUTE or ask "
            "Genesys for a higher limit", status=status, code=code)
    if "does not match the current version" in lowered or (
        status == 409 and "version" in lowered
    ):
        return GenesysVersionConflict(text, status=status, code=code)
    if "didpoolid" in lowered and "required" in lowered:
        return GenesysPoolNotSettled(text, status=status, code=code)
    if code == "did.pool.range.overlap" or (status == 400 and "overlap" in lowered):
        return DidPoolOverlap(text, status=status, code=code)
    if code == "did.already.assigned" or "already assigned" in lowered or "in use by" in lowered:
        number = params.get("number") or next(iter(_NUMBER.findall(message)), "")
        return GenesysNumberInUse(text, number=number, status=status, code=code)
    if status == 404:
        return GenesysNotFound(text, status=status, code=code)
    if status is None or status == 0 or status >= 500:
        return GenesysUnavailable(text, status=status, code=code)
    return GenesysError(text, status=status, code=code)


def _error_body(body: str | None) -> tuple[str, str | None, dict[str, str]]:
    if not body:
        return "no details in the response", None, {}
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return body[:300], None, {}
    if not isinstance(data, dict):
        return str(data)[:300], None, {}
    message = str(data.get("message") or data.get("error_description") or data.get("error") or "")
    code = data.get("code") or data.get("error")
    params = data.get("messageParams")
    clean = {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {}
    return message or body[:300], str(code) if code else None, clean


def sdk_retry() -> Retry:
    """The urllib3 `Retry` for the SDK's pool: connection failures only, never an answer or a read.

    A connection that did not open never reached Genesys, so it is retried for any method. A read
    timeout or a dropped connection is not retried here: `CallSession` sends a call safe to repeat
    once more, and a create's caller looks for it by natural key. Answers (429, 5xx, with or
    without `Retry-After`) come back to `CallSession` too, the one layer that retries them.
    """
    from urllib3.util import Retry

    return Retry(
        total=SDK_CONNECT_RETRIES,
        connect=SDK_CONNECT_RETRIES,
        read=False,
        status=0,
        other=0,
        allowed_methods=IDEMPOTENT_METHODS,
        status_forcelist=None,
        raise_on_status=False,
        respect_retry_after_header=False,
        backoff_factor=0.5,
    )


# --- pacing and tokens ---------------------------------------------------------------------------


class RequestPacer:
    """Keeps calls under a per-minute budget and pauses when Genesys says the window is spent."""

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._paused_until = 0.0
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def wait(self) -> None:
        """Block until one more call fits in the budget, then count it."""
        with self._lock:
            now = self._clock()
            delay = max(0.0, self._paused_until - now)
            while self._sent and self._sent[0] <= now - 60.0:
                self._sent.popleft()
            if len(self._sent) >= self.per_minute:
                delay = max(delay, self._sent[0] + 60.0 - now)
            if delay > 0:
                self.waited_s += delay
                self._sleep(delay)
                now = self._clock()
            self._sent.append(now)

    def observe(self, headers: Any) -> None:
        """Read `inin-ratelimit-count/allowed/reset`; pause until the reset when none are left."""
        if not headers:
            return
        values = {str(k).lower(): str(v) for k, v in dict(headers).items()}
        try:
            count = int(values["inin-ratelimit-count"])
            allowed = int(values["inin-ratelimit-allowed"])
            reset = float(values["inin-ratelimit-reset"])
        except (KeyError, ValueError):
            return
        if allowed > 0 and count >= allowed:
            with self._lock:
                self._paused_until = max(self._paused_until, self._clock() + min(reset, 60.0))

class TokenCache:
    """One client-credentials token, renewed before it expires and on demand after a 401."""

    def __init__(
        self,
        fetch: Callable[[], tuple[str, float]],
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()
        self.requests = 0

    def current(self) -> str:
        """The cached token, or a new one when it is close to expiry."""
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                token, lifetime = self._fetch()
                self.requests += 1
                margin = min(TOKEN_MARGIN_S, lifetime * 0.1)
                self._token, self._renew_at = token, self._clock() + lifetime - margin
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token` (refused with 401) so the next call fetches a new one."""
        with self._lock:
            if self._token == token:
                self._token = None


class CallSession:
    """What every Platform API call goes through: pacing, bearer token, 401 renewal, 429 backoff.

    SDK-agnostic: `send` gets the request options, the function that performs them, and the
    SDK's exception type (anything with `.status` and `.headers`).
    """

    def __init__(
        self,
        tokens: TokenCache,
        pacer: RequestPacer,
        *,
        error_type: type[Exception],
        sleep: Callable[[float], None] = time.sleep,
        max_busy_retries: int = BACKOFF.attempts,
        max_rate_limit_retries: int = RATE_LIMIT_RETRIES,
        rate_limit_wait_s: float = RATE_LIMIT_WAIT_S,
        unanswered: tuple[type[Exception], ...] = (),
        max_unanswered_retries: int = UNANSWERED_RETRIES,
    ) -> None:
        self.tokens = tokens
        self.pacer = pacer
        self._error_type = error_type
        self._sleep = sleep
        self._max_busy_retries = max_busy_retries
        self._max_rate_limit_retries = max_rate_limit_retries
        self._rate_limit_wait_s = rate_limit_wait_s
        self._unanswered = unanswered
        self._max_unanswered_retries = max_unanswered_retries
        self.calls = 0
        self.retries = 0

    def send(self, options: Any, perform: Callable[[Any], T]) -> T:
        """Send one Platform API call, retrying what is worth it (see `_attempt`)."""
        method = str(getattr(options, "method", "GET")).upper()
        url = str(getattr(options, "url", "")).split("?", 1)[0].rstrip("/")
        # A 429 was not processed, so any call may be replayed. A 5xx or no answer at all may
        # have been, so only calls safe to repeat are: reads (a search is a POST that reads), and
        # writes that carry a version or delete (a repeat meets a conflict or a 404). A create
        # is left to its caller, which looks for it before creating again.
        tally = _Tally(repeatable=method != "POST" or url.endswith("/search"))
        most = (2 + self._max_unanswered_retries + self._max_rate_limit_retries
                + self._max_busy_retries)
        loop = retrying(
            replace(BACKOFF, attempts=most),
            retry_if=lambda exc: isinstance(exc, _Again),
            retry_after=lambda exc: exc.delay_s if isinstance(exc, _Again) else None,
            sleep=lambda seconds: self._sleep(seconds) if seconds > 0 else None,
            before_sleep=self._retrying,
        )
        for attempt in loop:
            with attempt:
                return self._attempt(options, perform, tally)
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, options: Any, perform: Callable[[Any], T], tally: _Tally) -> T:
        """One paced, authorised call. Raises `_Again` when it is worth another attempt: a 401
        (once, with a new token), no answer (once, when safe to repeat), a 429 (within the retry
        and wait budgets), a 5xx (when safe to repeat); otherwise the failure as it came."""
        self.pacer.wait()
        token = self.tokens.current()
        options.headers = {**(options.headers or {}), "Authorization": f"Bearer {token}"}
        self.calls += 1
        metrics.vendor_call("genesys")
        try:
            response = perform(options)
        except self._unanswered as exc:
            if not tally.repeatable or tally.silent >= self._max_unanswered_retries:
                raise
            tally.silent += 1
            raise _Again("no_answer", 0.0, tally.silent, type(exc).__name__) from exc
        except self._error_type as exc:
            status = getattr(exc, "status", None)
            headers = getattr(exc, "headers", None)
            self.pacer.observe(headers)
            hint = retry_after_s(headers or {}, also=RESET_HEADERS)
            if status == 401 and not tally.renewed:
                self.tokens.invalidate(token)
                tally.renewed = True
                raise _Again("unauthorized", 0.0, 1, "401") from exc
            if status == 429:
                delay = BACKOFF.delay(tally.limited + 1, hint)
                if (tally.limited >= self._max_rate_limit_retries
                        or tally.limited_wait_s + delay > self._rate_limit_wait_s):
                    metrics.rate_limited("genesys")
                    raise
                tally.limited += 1
                tally.limited_wait_s += delay
                raise _Again("rate_limited", delay, tally.limited, "429") from exc
            if (status is not None and status >= 500 and tally.repeatable
                    and tally.busy < self._max_busy_retries):
                tally.busy += 1
                raise _Again("busy", BACKOFF.delay(tally.busy, hint), tally.busy,
                             str(status)) from exc
            raise
        self.pacer.observe(response.getheaders() if hasattr(response, "getheaders") else None)
        return response

    def _retrying(self, _: int, exc: BaseException, delay: float) -> None:
        if not isinstance(exc, _Again):
            return
        self.retries += 1
        metrics.vendor_retry("genesys", exc.kind, rate_limited=exc.kind == "rate_limited")
        if exc.kind == "no_answer":
            log.info("Genesys did not answer; sending again", extra={
                "event": "genesys.retry", "reason": exc.reason, "attempt": exc.attempt})
        elif exc.kind != "unauthorized":
            log.info("Genesys busy; retrying", extra={
                "event": "genesys.retry", "status": int(exc.reason), "delay_s": delay,
                "attempt": exc.attempt})


@dataclass
class _Tally:
    """What one call met so far, kind by kind (each kind has its own retry budget)."""

    repeatable: bool
    renewed: bool = False
    silent: int = 0
    limited: int = 0
    limited_wait_s: float = 0.0
    busy: int = 0


class _Again(Exception):
    """An attempt worth repeating after `delay_s` (never leaves `CallSession.send`)."""

    def __init__(self, kind: str, delay_s: float, attempt: int, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind, self.delay_s, self.attempt, self.reason = kind, delay_s, attempt, reason


# --- the adapter -----------------------------------------------------------------------------------


class GenesysAdapter:
    """`GenesysPort` over the Genesys Cloud Python SDK, for one org and one OAuth client."""

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        client_secret: Callable[[], str],
        requests_per_minute: int = 300,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
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
        self._sleep = sleep
        self._settle_delays = settle_delays_s
        self.pacer = RequestPacer(requests_per_minute, clock=clock, sleep=sleep)
        self.tokens = TokenCache(self._fetch_token, clock=clock)
        self._session: CallSession | None = None
        self._deleted: dict[str, float] = {}
        """ids of DID pools byoc deleted (or found gone) -> when."""
        self._deletion_waits: dict[tuple[str, str], int] = {}
        self._sdk: Any = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, client_secret: Callable[[], str]) -> GenesysAdapter:
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
            self.tokens, self.pacer, error_type=ApiException, sleep=self._sleep,
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

    # --- DID pools -------------------------------------------------------------------------------

    def list_did_pools(self) -> list[GenesysDidPool]:
        """Every DID pool of the org (deleted ones included, with state "deleted")."""
        edges = self._apis().edges
        models = self._pages("list DID pools", lambda page: edges.get_telephony_providers_edges_didpools(
            page_size=PAGE_SIZE, page_number=page, sort_by="number"))
        # a pool byoc deleted moments ago may still read as active: it is gone all the same
        gone = {i for i, at in self._deleted.items() if self._clock() - at < POOL_DELETE_SHOW_S}
        return [replace(p, state="deleted") if p.id in gone else p for p in map(_pool, models)]

    def read_did_pool_state(self, pool_id: str) -> str | None:
        """The pool's state as Genesys reports it now (`active`, `deleted`; None: not found), not
        corrected by byoc's memory of the pools it deleted (`byoc doctor` tells the lag by it)."""
        edges = self._apis().edges
        try:
            model = self._call(f"read DID pool {pool_id}",
                               edges.get_telephony_providers_edges_didpool, pool_id)
        except GenesysNotFound:
            return None
        return str(model.state or "active")

    def create_did_pool(
        self, start: str, end: str, *, name: str, description: str
    ) -> GenesysDidPool:
        """Create the pool; after a failure, find it by range before creating it again."""
        apis = self._apis()
        body = apis.G.DIDPool()
        body.start_phone_number, body.end_phone_number = start, end
        body.name, body.description = name, description
        body.provider = "PURE_CLOUD"
        what = f"create DID pool {start}-{end}"
        self._deletion_waits.pop((start, end), None)
        attempt = 0
        while attempt < 3:
            try:
                created = self._call(what, apis.edges.post_telephony_providers_edges_didpools, body)
                return _pool(created)
            except GenesysError as exc:
                landed = self._pool_by_range(start, end)
                if (landed is not None and landed.description == description
                        and landed.id not in self._deleted):
                    log.info("DID pool create was replayed; the pool exists", extra={
                        "event": "genesys.pool_found", "start": start, "end": end})
                    return landed
                if isinstance(exc, DidPoolOverlap) and self._deletion_pending(start, end):
                    continue
                if isinstance(exc, DidPoolOverlap):
                    raise DidPoolOverlap(
                        f"DID pool {start}-{end} overlaps an existing pool; not created. "
                        f"{exc}", status=exc.status, code=exc.code) from None
                if not isinstance(exc, GenesysRateLimited | GenesysUnavailable) or attempt == 2:
                    raise
                self._sleep(BACKOFF.delay(attempt + 1))
                attempt += 1
        raise AssertionError("unreachable")

    def _deletion_pending(self, start: str, end: str) -> bool:
        """Whether the pools in the way of `start`-`end` are all ones byoc deleted moments ago
        (a deletion may show late); if so, waits a little so the caller can try again."""
        now = self._clock()
        recent = {i for i, at in self._deleted.items() if now - at < POOL_DELETE_SHOW_S}
        waited = self._deletion_waits.get((start, end), 0)
        if not recent or waited >= len(POOL_DELETE_SHOW_DELAYS_S):
            return False
        width, low, high = len(start), int(start[1:]), int(end[1:])
        in_way = [p for p in self.list_did_pools() if (p.state != "deleted" or p.id in recent)
                  and len(p.start) == width and int(p.start[1:]) <= high and low <= int(p.end[1:])]
        if not in_way or any(p.id not in recent for p in in_way):
            return False
        delay = POOL_DELETE_SHOW_DELAYS_S[waited]
        self._deletion_waits[(start, end)] = waited + 1
        log.info("a deleted DID pool still shows; waiting before creating the new one", extra={
            "event": "genesys.pool_delete_pending", "start": start, "end": end,
            "delay_s": delay})
        self._sleep(delay)
        return True

    def _pool_by_range(self, start: str, end: str) -> GenesysDidPool | None:
        for pool in self.list_did_pools():
            if pool.state != "deleted" and (pool.start, pool.end) == (start, end):
                return pool
        return None

    def resize_did_pool(
        self, pool: GenesysDidPool, start: str, end: str, *, name: str
    ) -> GenesysDidPool:
        """PUT the pool with a new range, every other field as read (the SDK's
        `put_telephony_providers_edges_didpool`; Terraform changes ranges in place since PR #926).
        A 409 with the pool's version unchanged, or a 400 other than an overlap, is a refusal."""
        edges = self._apis().edges
        what = f"change DID pool {pool.start}-{pool.end} (id {pool.id}) to {start}-{end}"
        for _ in range(VERSION_ATTEMPTS):
            try:
                model = self._call(f"read DID pool {pool.id}",
                                   edges.get_telephony_providers_edges_didpool, pool.id)
            except GenesysNotFound:
                self._deleted[pool.id] = self._clock()
                raise
            if str(model.state or "active") == "deleted":
                self._deleted[pool.id] = self._clock()
                raise GenesysNotFound(f"Genesys refused to {what}: the pool was deleted",
                                      status=404)
            version = model.version
            model.start_phone_number, model.end_phone_number, model.name = start, end, name
            try:
                return _pool(self._write(
                    what, edges.put_telephony_providers_edges_didpool, pool.id, model))
            except GenesysVersionConflict as exc:
                again = self._call(f"read DID pool {pool.id}",
                                   edges.get_telephony_providers_edges_didpool, pool.id)
                if again.version == version:
                    raise GenesysPoolRangeRefused(str(exc), status=exc.status,
                                                  code=exc.code) from None
            except GenesysNotFound:
                self._deleted[pool.id] = self._clock()
                raise
            except (DidPoolOverlap, GenesysRateLimited, GenesysUnavailable, GenesysAuthError,
                    GenesysPermissionDenied):
                raise
            except GenesysError as exc:
                if exc.status not in (400, 409, 422):
                    raise
                raise GenesysPoolRangeRefused(str(exc), status=exc.status,
                                              code=exc.code) from None
        raise GenesysVersionConflict(
            f"DID pool {pool.start}-{pool.end} kept changing under byoc ({VERSION_ATTEMPTS} "
            "version conflicts in a row); the next sync retries")

    def delete_did_pool(self, pool: GenesysDidPool) -> None:
        """Delete the pool; a 409 (numbers still assigned) is retried while unassignments settle."""
        edges = self._apis().edges
        what = f"delete DID pool {pool.start}-{pool.end} (id {pool.id})"
        for delay in (*POOL_DELETE_DELAYS_S, None):
            try:
                self._call(what, edges.delete_telephony_providers_edges_didpool, pool.id)
                self._deleted[pool.id] = self._clock()
                return
            except GenesysNotFound:
                self._deleted[pool.id] = self._clock()
                return
            except GenesysError as exc:
                if exc.status != 409 or delay is None:
                    raise
                self._sleep(delay)

    def list_pool_dids(self, pool: GenesysDidPool) -> list[GenesysDid]:
        """`GET /dids?didPool.id=`: only assigned numbers are DIDs, so this reads what holds them."""
        edges = self._apis().edges
        models = self._pages(
            f"list the assigned numbers of DID pool {pool.start}-{pool.end}",
            lambda page: edges.get_telephony_providers_edges_dids(
                did_pool_id=pool.id, page_size=PAGE_SIZE, page_number=page))
        return [
            GenesysDid(
                number=str(m.phone_number),
                owner_type=str(m.owner_type or ""),
                owner_id=str(m.owner.id) if m.owner else "",
                owner_name=str(m.owner.name or "") if m.owner else "",
            )
            for m in models
        ]

    def find_pool_numbers(self, numbers: Iterable[str]) -> list[GenesysPoolNumber]:
        """`GET /didpools/dids?type=ASSIGNED_AND_UNASSIGNED&numberMatch=<number>`, one lookup per
        number, keeping only the entry that is the number itself. UNVERIFIED on a real tenant
        (docs/verify-on-a-real-tenant.md, sandbox variant `dids_number_match`): whether
        `numberMatch` matches the whole number, its start or any part; an exact comparison here
        makes every reading give the same answer (a broader match only costs more pages)."""
        edges = self._apis().edges
        found: list[GenesysPoolNumber] = []
        for number in dict.fromkeys(numbers):
            for page in range(1, MAX_PAGES + 1):
                listing = self._call(
                    f"look up pool number {number}", edges.get_telephony_providers_edges_didpools_dids,
                    "ASSIGNED_AND_UNASSIGNED", number_match=number, page_size=PAGE_SIZE,
                    page_number=page)
                entities = list(listing.entities or [])
                hit = next((m for m in entities if _same_number(m.number, number)), None)
                if hit is not None:
                    found.append(GenesysPoolNumber(
                        number=number,
                        pool_id=str(hit.did_pool.id) if hit.did_pool else "",
                        assigned=bool(hit.assigned),
                        owner_type=str(hit.owner_type or "") if hit.assigned else "",
                        owner_id=str(hit.owner.id) if hit.assigned and hit.owner else "",
                    ))
                    break
                page_count = getattr(listing, "page_count", None)
                if len(entities) < PAGE_SIZE or (page_count is not None and page >= page_count):
                    break
        return found

    def match_pool_numbers(self, text: str) -> list[str]:
        """`GET /didpools/dids?type=ASSIGNED_AND_UNASSIGNED&numberMatch=<text>`, first page."""
        edges = self._apis().edges
        listing = self._call(
            f"match pool numbers to {text!r}", edges.get_telephony_providers_edges_didpools_dids,
            "ASSIGNED_AND_UNASSIGNED", number_match=text, page_size=PAGE_SIZE, page_number=1)
        return [str(m.number) for m in listing.entities or []]

    def count_did_pools(self) -> int:
        """`GET /didpools?pageSize=1`: the listing's `total`."""
        edges = self._apis().edges
        listing = self._call("count DID pools", edges.get_telephony_providers_edges_didpools,
                             page_size=1, page_number=1)
        return int(listing.total or 0)

    def read_did_pools(self, pool_ids: Iterable[str]) -> list[GenesysDidPool]:
        """`GET /didpools?id=...`, 100 ids a request."""
        edges = self._apis().edges
        ids = sorted(set(pool_ids))
        pools: list[GenesysDidPool] = []
        for first in range(0, len(ids), PAGE_SIZE):
            batch = ids[first:first + PAGE_SIZE]
            listing = self._call(
                f"read {len(batch)} DID pool(s)", edges.get_telephony_providers_edges_didpools,
                page_size=PAGE_SIZE, page_number=1, id=batch)
            pools.extend(map(_pool, listing.entities or []))
        gone = {i for i, at in self._deleted.items() if self._clock() - at < POOL_DELETE_SHOW_S}
        return [replace(p, state="deleted") if p.id in gone else p for p in pools]

    def find_ivrs(self, name: str) -> list[GenesysIvr]:
        """`GET /architect/ivrs?name=<name>*`: the IVR and its shards (`<name> [byoc N]`), and
        nothing else that merely starts with the name."""
        architect = self._apis().architect
        models = self._pages(f"find IVR {name!r}", lambda page: architect.get_architect_ivrs(
            page_size=PAGE_SIZE, page_number=page, name=f"{name}*"))
        wanted = name.casefold()
        return [ivr for ivr in map(_ivr, models)
                if (folded := ivr.name.casefold()) == wanted
                or (folded.startswith(wanted) and _SHARD_NAME.fullmatch(folded[len(wanted):]))]

    # --- calls -----------------------------------------------------------------------------------

    def calls_to(self, number: str, start: dt.datetime, end: dt.datetime) -> list[GenesysCallSeen]:
        """Conversations whose DNIS is `number` that started between `start` and `end`
        (`POST /api/v2/analytics/conversations/details/query`, a segment filter on `dnis` as
        `tel:+E164`). UNVERIFIED on a real tenant (docs/verify-on-a-real-tenant.md): the DNIS
        form BYOC Cloud calls carry, and how soon a conversation shows in the query."""
        apis = self._apis()
        sdk = apis.G
        predicate = sdk.SegmentDetailQueryPredicate()
        predicate.type, predicate.dimension, predicate.value = "dimension", "dnis", f"tel:{number}"
        segment_filter = sdk.SegmentDetailQueryFilter()
        segment_filter.type, segment_filter.predicates = "and", [predicate]
        query = sdk.ConversationQuery()
        query.interval = f"{_utc_z(start)}/{_utc_z(end)}"
        query.segment_filters = [segment_filter]
        query.order = "asc"
        api = sdk.ConversationsApi(apis.client)
        answer = self._call(f"the conversations to {number}",
                            api.post_analytics_conversations_details_query, query)
        seen: list[GenesysCallSeen] = []
        for conversation in answer.conversations or []:
            codecs: list[str] = []
            routed = ""
            for participant in conversation.participants or []:
                if participant.purpose in ("ivr", "agent", "acd", "user") and not routed:
                    routed = f"{participant.purpose} {participant.participant_name or ''}".strip()
                for session in participant.sessions or []:
                    for stat in session.media_endpoint_stats or []:
                        codecs += [str(c) for c in stat.codecs or [] if str(c) not in codecs]
            seen.append(GenesysCallSeen(
                conversation_id=str(conversation.conversation_id),
                start=conversation.conversation_start,
                end=conversation.conversation_end,
                codecs=tuple(codecs),
                routed_to=routed,
            ))
        return seen

    # --- IVRs ------------------------------------------------------------------------------------

    def list_ivrs(self) -> list[GenesysIvr]:
        architect = self._apis().architect
        models = self._pages("list IVRs", lambda page: architect.get_architect_ivrs(
            page_size=PAGE_SIZE, page_number=page))
        return [_ivr(m) for m in models]

    def get_ivr(self, ivr_id: str) -> GenesysIvr:
        architect = self._apis().architect
        return _ivr(self._call(f"read IVR {ivr_id}", architect.get_architect_ivr, ivr_id))

    def update_ivr_dnis(
        self, ivr: GenesysIvr, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
    ) -> GenesysIvr:
        architect = self._apis().architect
        gone = set(remove)
        current = ivr
        what = f"update IVR {ivr.name!r}"
        for _ in range(VERSION_ATTEMPTS):
            kept = [n for n in current.dnis if n not in gone]
            have = set(kept)
            dnis = kept + [n for n in dict.fromkeys(add) if n not in have]
            if dnis == list(current.dnis):
                return current
            model = current.handle if current.handle is not None else self._ivr_model(current.id)
            model.dnis, model.version = dnis, current.version
            self._fits(what, model)
            try:
                saved = self._settling(
                    what, partial(self._write, what, architect.put_architect_ivr, ivr.id, model))
                return _ivr(saved)
            except GenesysVersionConflict:
                log.info("IVR changed meanwhile; re-reading", extra={
                    "event": "genesys.version_conflict", "ivr": ivr.name})
                current = self.get_ivr(ivr.id)
        raise GenesysVersionConflict(
            f"IVR {ivr.name!r} kept changing under byoc ({VERSION_ATTEMPTS} version conflicts in a "
            "row); someone or something else is editing it. The next sync retries")

    def _fits(self, what: str, model: Any) -> None:
        """Refuse to send a body over Genesys's `request.bytes.max` (sized as the SDK encodes
        it): the API would refuse it whatever byoc did next."""
        apis = self._apis()
        size = len(json.dumps(apis.client.sanitize_for_serialization(model)).encode("utf-8"))
        if size > REQUEST_BYTES_MAX:
            raise GenesysRequestTooLarge(
                f"byoc did not {what}: the request would be {size:,} bytes and Genesys accepts "
                f"at most {REQUEST_BYTES_MAX:,} (request.bytes.max). Spread the numbers over "
                "more IVRs (docs/genesys.md, \"Large IVRs\")", status=413)

    def create_ivr(self, like: GenesysIvr, *, name: str, description: str) -> GenesysIvr:
        """POST an IVR with no numbers and `like`'s flows and schedule group; after a failure,
        an IVR of that name and description found by a read is the one created."""
        apis = self._apis()
        source = like.handle if like.handle is not None else self._ivr_model(like.id)
        body = apis.G.IVR()
        body.name, body.description, body.dnis = name, description, []
        _copy_routing(apis.G, body, source)
        what = f"create IVR {name!r} (numbers of {like.name!r})"
        try:
            return _ivr(self._call(what, apis.architect.post_architect_ivrs, body))
        except GenesysError:
            found = [i for i in self.list_ivrs() if i.name == name]
            if found and found[0].description == description:
                return found[0]
            raise

    def update_ivr_routing(self, ivr: GenesysIvr, like: GenesysIvr) -> GenesysIvr:
        architect = self._apis().architect
        source = like.handle if like.handle is not None else self._ivr_model(like.id)
        current = ivr
        what = f"give IVR {ivr.name!r} the flows of {like.name!r}"
        for _ in range(VERSION_ATTEMPTS):
            model = current.handle if current.handle is not None else self._ivr_model(current.id)
            _copy_routing(self._apis().G, model, source)
            model.version = current.version
            try:
                return _ivr(self._write(what, architect.put_architect_ivr, ivr.id, model))
            except GenesysVersionConflict:
                current = self.get_ivr(ivr.id)
        raise GenesysVersionConflict(
            f"IVR {ivr.name!r} kept changing under byoc ({VERSION_ATTEMPTS} version conflicts in a "
            "row); the next sync retries")

    def delete_ivr(self, ivr: GenesysIvr) -> None:
        architect = self._apis().architect
        try:
            self._call(f"delete IVR {ivr.name!r}", architect.delete_architect_ivr, ivr.id)
        except GenesysNotFound:
            return

    def _ivr_model(self, ivr_id: str) -> Any:
        architect = self._apis().architect
        return self._call(f"read IVR {ivr_id}", architect.get_architect_ivr, ivr_id)

    # --- users -----------------------------------------------------------------------------------

    def find_users(self, emails: Iterable[str]) -> list[GenesysUser]:
        """The users with these emails (search for their ids, then read them in full)."""
        apis = self._apis()
        wanted = sorted({e.strip().lower() for e in emails if e.strip()})
        ids: list[str] = []
        for first in range(0, len(wanted), EMAILS_PER_SEARCH):
            batch = wanted[first:first + EMAILS_PER_SEARCH]
            for page in range(1, MAX_PAGES + 1):
                criterion = apis.G.UserSearchCriteria()
                criterion.type, criterion.fields, criterion.values = "EXACT", ["email"], batch
                request = apis.G.UserSearchRequest()
                request.query, request.page_size, request.page_number = [criterion], PAGE_SIZE, page
                found = self._call("search users by email", apis.users.post_users_search, request)
                ids.extend(u.id for u in found.results or [])
                if not found.results or page >= (found.page_count or 0):
                    break
        users: list[GenesysUser] = []
        unique = list(dict.fromkeys(ids))
        for first in range(0, len(unique), USER_IDS_PER_READ):
            batch = unique[first:first + USER_IDS_PER_READ]
            models = self._pages("read users", partial(self._users_page, batch))
            users.extend(_user(m) for m in models)
        return [u for u in users if u.email.lower() in wanted]

    def _users_page(self, ids: list[str], page: int) -> Any:
        return self._apis().users.get_users(id=ids, page_size=PAGE_SIZE, page_number=page)

    def get_user(self, user_id: str) -> GenesysUser:
        users = self._apis().users
        return _user(self._call(f"read user {user_id}", users.get_user, user_id))

    def update_user_phones(
        self, user: GenesysUser, *, remove: tuple[str, ...] = (), work: str | None = None
    ) -> GenesysUser:
        apis = self._apis()
        gone = set(remove)
        current = user
        what = f"update the phone of user {user.email}"
        for _ in range(VERSION_ATTEMPTS):
            contacts = _phones_changed(current.addresses, gone, work)
            if Counter(contacts) == Counter(current.addresses):
                return current
            body = apis.G.UpdateUser()
            body.addresses = [_contact_model(apis.G, c) for c in contacts]
            body.version = current.version
            try:
                saved = self._settling(
                    what, partial(self._write, what, apis.users.patch_user, user.id, body))
                return _user(saved)
            except GenesysVersionConflict:
                current = self.get_user(user.id)
        raise GenesysVersionConflict(
            f"user {user.email} kept changing under byoc ({VERSION_ATTEMPTS} version conflicts in "
            "a row); the next sync retries")

    # --- sites, trunk bases, outbound routes -----------------------------------------------------

    def find_site(self, name: str) -> GenesysRef | None:
        edges = self._apis().edges
        models = self._pages(f"find site {name!r}", lambda page: edges.get_telephony_providers_edges_sites(
            name=name, page_size=PAGE_SIZE, page_number=page))
        return _named(models, name)

    def find_trunk_base(self, name: str) -> GenesysRef | None:
        edges = self._apis().edges
        models = self._pages(
            f"find trunk base settings {name!r}",
            lambda page: edges.get_telephony_providers_edges_trunkbasesettings(
                name=name, page_size=PAGE_SIZE, page_number=page))
        return _named(models, name)

    def read_trunk_base_codecs(self, trunk_base_name: str) -> tuple[str, ...] | None:
        """The trunk base's `trunk_media_codec` property (instance value, else its default)."""
        base = self.find_trunk_base(trunk_base_name)
        if base is None:
            raise GenesysNotFound(
                f"no trunk base settings named {trunk_base_name!r} in Genesys; check "
                "BYOC_GENESYS_TRUNK_BASE_NAME")
        edges = self._apis().edges
        model = self._call(
            f"read trunk base settings {trunk_base_name!r}",
            lambda: edges.get_telephony_providers_edges_trunkbasesetting(base.id))
        prop = (model.properties or {}).get("trunk_media_codec") or {}
        value = prop.get("value") if isinstance(prop, dict) else None
        if not isinstance(value, dict):
            return None
        codecs = value.get("instance")
        if codecs is None:
            codecs = value.get("default")
        if not isinstance(codecs, list):
            return None
        return tuple(str(c) for c in codecs)

    def list_outbound_routes(self) -> list[GenesysOutboundRoute]:
        """`GET /outboundroutes`: the routes of every site, each naming its site (one read)."""
        edges = self._apis().edges
        models = self._pages(
            "list outbound routes",
            lambda page: edges.get_telephony_providers_edges_outboundroutes(
                page_size=PAGE_SIZE, page_number=page))
        return [_route(m) for m in models]

    def create_outbound_route(
        self, site: GenesysRef, spec: GenesysOutboundRouteSpec
    ) -> GenesysOutboundRoute:
        apis = self._apis()
        body = _route_model(apis.G, spec)
        what = f"create outbound route {spec.name!r} on site {site.name!r}"
        try:
            created = self._call(
                what, apis.edges.post_telephony_providers_edges_site_outboundroutes, site.id, body)
        except GenesysError:
            for route in self.list_outbound_routes():
                if (route.site is None or route.site.id == site.id) and (
                    route.name == spec.name and route.description == spec.description
                ):
                    return route  # an earlier attempt landed
            raise
        return replace(_route(created), site=site)

    def update_outbound_route(
        self, site: GenesysRef, route: GenesysOutboundRoute, spec: GenesysOutboundRouteSpec
    ) -> GenesysOutboundRoute:
        apis = self._apis()
        body = _route_model(apis.G, spec)
        body.id, body.version = route.id, route.version
        what = f"update outbound route {route.name!r} on site {site.name!r}"
        saved = self._write(
            what, apis.edges.put_telephony_providers_edges_site_outboundroute,
            site.id, route.id, body)
        return replace(_route(saved), site=site)

    def delete_outbound_route(self, site: GenesysRef, route: GenesysOutboundRoute) -> None:
        edges = self._apis().edges
        what = f"delete outbound route {route.name!r} on site {site.name!r}"
        try:
            self._call(
                what, edges.delete_telephony_providers_edges_site_outboundroute, site.id, route.id)
        except GenesysNotFound:
            return

    # --- trunks ----------------------------------------------------------------------------------

    def read_trunk_status(self, trunk_base_name: str | None = None) -> list[GenesysTrunkStatus]:
        """The external (BYOC) trunks, or those of one trunk base: connected, OPTIONS, in service."""
        edges = self._apis().edges
        base_id: str | None = None
        if trunk_base_name:
            base = self.find_trunk_base(trunk_base_name)
            if base is None:
                raise GenesysNotFound(
                    f"no trunk base settings named {trunk_base_name!r} in Genesys; check "
                    "BYOC_GENESYS_TRUNK_BASE_NAME")
            base_id = base.id
        models = self._pages("list trunks", lambda page: edges.get_telephony_providers_edges_trunks(
            trunk_base_id=base_id, trunk_type="EXTERNAL", page_size=PAGE_SIZE, page_number=page))
        return [_trunk(m) for m in models]


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


# --- SDK models <-> port types ---------------------------------------------------------------------


_SHARD_NAME = re.compile(r" \[byoc \d{1,4}\]")


def _same_number(listed: Any, number: str) -> bool:
    return str(listed or "").lstrip("+") == number.lstrip("+")


def _pool(model: Any) -> GenesysDidPool:
    return GenesysDidPool(
        id=str(model.id),
        start=str(model.start_phone_number),
        end=str(model.end_phone_number),
        name=str(model.name or ""),
        description=str(model.description or ""),
        state=str(model.state or "active"),
    )


def _ivr(model: Any) -> GenesysIvr:
    return GenesysIvr(
        id=str(model.id),
        name=str(model.name or ""),
        version=int(model.version or 0),
        dnis=tuple(model.dnis or ()),
        handle=model,
        description=str(model.description or ""),
        routing=tuple(str(ref.id) if ref is not None and ref.id else "" for ref in (
            model.open_hours_flow, model.closed_hours_flow, model.holiday_hours_flow,
            model.schedule_group)),
    )


_IVR_ROUTING = ("open_hours_flow", "closed_hours_flow", "holiday_hours_flow", "schedule_group")


def _copy_routing(G: Any, model: Any, like: Any) -> None:  # noqa: N803
    for attribute in _IVR_ROUTING:
        found = getattr(like, attribute)
        ref = None
        if found is not None and found.id:
            ref = G.DomainEntityRef()
            ref.id = found.id
        setattr(model, attribute, ref)


def _user(model: Any) -> GenesysUser:
    addresses = tuple(
        GenesysContact(media_type=str(a.media_type or ""), type=a.type, address=a.address,
                       extension=a.extension, display=a.display, country_code=a.country_code,
                       integration=a.integration)
        for a in model.addresses or ()
    )
    return GenesysUser(
        id=str(model.id), email=str(model.email or ""), name=str(model.name or ""),
        version=int(model.version or 0), addresses=addresses,
    )


def _phones_changed(
    addresses: tuple[GenesysContact, ...], gone: set[str], work: str | None
) -> list[GenesysContact]:
    """The contacts with the numbers `gone` taken out and the WORK phone set to `work` (None:
    left), in the first WORK phone contact. Every other field stays: a contact that also has an
    extension keeps it (and loses only the number and the display made from it); other contacts
    are sent back as read."""
    contacts: list[GenesysContact] = []
    placed = work is None
    for contact in addresses:
        phone = contact.media_type == "PHONE"
        if phone and not placed and (contact.type or "WORK") == "WORK":
            if contact.address != work:
                # a display made from the old number goes with it; one standing alone stays
                display = None if contact.address else contact.display
                contact = replace(contact, address=work, display=display, country_code=None)
            placed = True
        elif phone and contact.address is not None and contact.address in gone:
            if not contact.extension:
                continue
            contact = replace(contact, address=None, display=None, country_code=None)
        contacts.append(contact)
    if not placed:
        contacts.append(GenesysContact(media_type="PHONE", type="WORK", address=work))
    return contacts


def _contact_model(G: Any, contact: GenesysContact) -> Any:  # noqa: N803 - the SDK's usual alias
    """Every field as read: a contact may carry an address and an extension, or only a display
    (docs/genesys.md); leaving one out would erase it."""
    model = G.Contact()
    model.media_type, model.type = contact.media_type, contact.type
    model.address, model.extension, model.display = contact.address, contact.extension, contact.display
    model.country_code, model.integration = contact.country_code, contact.integration
    return model


def _named(models: list[Any], name: str) -> GenesysRef | None:
    exact = [m for m in models if str(m.name) == name]
    loose = [m for m in models if str(m.name).casefold() == name.casefold()]
    found = (exact or loose or [None])[0]
    return None if found is None else GenesysRef(id=str(found.id), name=str(found.name))


def _route(model: Any) -> GenesysOutboundRoute:
    return GenesysOutboundRoute(
        id=str(model.id),
        name=str(model.name or ""),
        version=int(model.version or 0),
        classification_types=tuple(model.classification_types or ()),
        trunk_bases=tuple(
            GenesysRef(id=str(b.id), name=str(b.name or "")) for b in model.external_trunk_bases or ()
        ),
        enabled=bool(model.enabled),
        distribution=str(model.distribution or "SEQUENTIAL"),
        description=str(model.description or ""),
        site=(GenesysRef(id=str(site.id), name=str(site.name or ""))
              if (site := getattr(model, "site", None)) is not None else None),
    )


def _route_model(G: Any, spec: GenesysOutboundRouteSpec) -> Any:  # noqa: N803
    body = G.OutboundRouteBase()
    body.name, body.description = spec.name, spec.description
    body.classification_types = list(spec.classification_types)
    body.enabled, body.distribution = spec.enabled, spec.distribution
    ref = G.DomainEntityRef()
    ref.id = spec.trunk_base.id
    body.external_trunk_bases = [ref]
    return body


def _trunk(model: Any) -> GenesysTrunkStatus:
    connected = model.connected_status
    options = tuple(
        GenesysProxyStatus(
            proxy_address=str(o.proxy_address or ""),
            ok=bool(o.option_state),
            since=_iso(o.option_state_time),
            error=(o.error_info.text or o.error_info.code) if o.error_info else None,
        )
        for o in model.options_status or ()
    )
    return GenesysTrunkStatus(
        id=str(model.id),
        name=str(model.name or ""),
        trunk_base=str(model.trunk_base.name or model.trunk_base.id) if model.trunk_base else "",
        in_service=bool(model.in_service),
        enabled=bool(model.enabled),
        connected=bool(connected.connected) if connected else False,
        connected_since=_iso(connected.connected_state_time) if connected else None,
        options=options,
    )


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
