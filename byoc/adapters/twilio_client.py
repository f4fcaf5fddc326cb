"""The Twilio SDK client of one account and trunk: per-thread clients, the auth token, and the one
way every call is made (`_call`: 429/20429, 5xx and dropped connections retried with `BACKOFF`).

`TwilioClient` is the base of every part of the Twilio adapter (`adapters/twilio.py`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from byoc import metrics
from byoc.adapters.retry import Backoff, retry_after_s, retrying
from byoc.ports import (
    TwilioError,
    TwilioNumber,
    TwilioNumberUnavailable,
    TwilioRateLimited,
)

log = logging.getLogger("byoc.twilio")

T = TypeVar("T")


PAGE_SIZE = 1000
REQUEST_TIMEOUT_S = 30.0
NUMBER_EVENT_PREFIX = "phone-number."
_UNAVAILABLE_CODES = frozenset({21421, 21422, 21452})
"""Invalid number, number not available, no numbers in the area code."""


class TwilioListingMismatch(TwilioError):
    """A listing came back with numbers of another account: nothing in it is used."""


BACKOFF = Backoff(attempts=6, base_s=0.5, cap_s=16.0, retry_after_cap_s=16.0, jitter=True)
"""429/20429, 5xx and dropped connections: six attempts, jittered backoff from 0.5 s to 16 s."""


@dataclass(frozen=True)
class _Refusal:
    status: int | None
    code: int | None
    message: str
    retry_after: float | None = None
    timed_out: bool = False

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.code == 20429

    @property
    def retryable(self) -> bool:
        return (self.timed_out or self.rate_limited
                or (self.status is not None and self.status >= 500))


class _Refused(Exception):
    """A retryable refusal on its way through the retry loop (never leaves `_call`)."""

    def __init__(self, cause: BaseException, refusal: _Refusal) -> None:
        super().__init__(refusal.message)
        self.cause, self.refusal = cause, refusal


def build_twilio_client(
    account_sid: str, auth_token: str, api_base: str | None, timeout_s: float = REQUEST_TIMEOUT_S
) -> Any:
    """A twilio `Client`; with `api_base`, every domain used by byoc points there."""
    from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped]
    from twilio.rest import Client  # type: ignore[import-untyped]

    class RetryAfterHttpClient(TwilioHttpClient):  # type: ignore[misc]
        """Keeps the last Retry-After header (the SDK drops headers from its exceptions)."""

        retry_after: float | None = None

        def request(self, *args: Any, **kwargs: Any) -> Any:
            response = super().request(*args, **kwargs)
            self.retry_after = retry_after_s(response.headers)
            return response

    client = Client(
        account_sid, auth_token, http_client=RetryAfterHttpClient(timeout=timeout_s)
    )
    if api_base:
        base = api_base.rstrip("/")
        client.edge = None
        client.region = None
        client.trunking.base_url = f"{base}/trunking"
        client.api.base_url = f"{base}/api"
        client.monitor.base_url = f"{base}/monitor"
    return client


class TwilioClient:
    """The SDK client of one account and one trunk, and the calls every part makes through it."""

    def __init__(
        self,
        *,
        account_sid: str,
        trunk_sid: str,
        auth_token: Callable[[], str],
        api_base: str | None = None,
        concurrency: int = 4,
        retry: Backoff = BACKOFF,
        sleep: Callable[[float], None] | None = None,
        page_size: int = PAGE_SIZE,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.account_sid = account_sid
        self.trunk_sid = trunk_sid
        self._auth_token = auth_token
        self._api_base = api_base
        self._concurrency = max(1, concurrency)
        self._retry = retry
        self._sleep = sleep
        self._page_size = page_size
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._token: str | None = None
        self._generation = 0
        self._token_lock = threading.Lock()

    # --- plumbing -----------------------------------------------------------------------------

    def _client(self) -> Any:
        """One SDK client per thread (its HTTP client keeps per-request state), rebuilt after the
        auth token was read again."""
        client = getattr(self._local, "client", None)
        if client is None or getattr(self._local, "generation", None) != self._generation:
            with self._token_lock:
                if self._token is None:
                    self._token = self._auth_token()
                token, generation = self._token, self._generation
            client = build_twilio_client(self.account_sid, token, self._api_base, self._timeout_s)
            self._local.client = client
            self._local.generation = generation
        return client

    def _reread_token(self, seen_generation: int) -> None:
        """Read the auth token again (it may have been rotated in Key Vault) unless another thread
        already did since `seen_generation`."""
        with self._token_lock:
            if self._generation == seen_generation:
                self._token = self._auth_token()
                self._generation += 1
        log.warning("Twilio answered 401: the auth token was read again",
                    extra={"event": "twilio.token_reread"})

    def _trunk(self) -> Any:
        return self._client().trunking.v1.trunks(self.trunk_sid)

    def _call(
        self,
        operation: str,
        call: Callable[[], T],
        *,
        recover: Callable[[], T | None] | None = None,
    ) -> T:
        """Run one SDK call, backing off on 429/20429, 5xx and dropped connections.

        `recover` (for creates) re-reads by natural key before each retry and returns what the
        earlier attempt created, if it did.
        """
        reread: list[bool] = []
        loop = retrying(
            self._retry,
            retry_if=lambda exc: isinstance(exc, _Refused),
            retry_after=lambda exc: exc.refusal.retry_after if isinstance(exc, _Refused) else None,
            sleep=self._sleep,
            before_sleep=partial(self._retrying, operation),
        )
        try:
            for attempt in loop:
                with attempt:
                    if attempt.retry_state.attempt_number > 1 and recover is not None:
                        found = recover()
                        if found is not None:
                            return found
                    return self._attempt(operation, call, reread)
        except _Refused as refused:
            refusal = refused.refusal
            if refusal.rate_limited:
                metrics.rate_limited("twilio")
                raise TwilioRateLimited(
                    f"Twilio answered 429/20429 (too many concurrent requests) to "
                    f"{operation} {self._retry.attempts} times; lower BYOC_TWILIO_CONCURRENCY or "
                    "look for other clients of this account",
                    status=refusal.status, code=refusal.code,
                ) from refused.cause
            raise self._error(operation, refused.cause, refusal) from refused.cause
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, operation: str, call: Callable[[], T], reread: list[bool]) -> T:
        """One attempt of `call`; a retryable refusal is raised as `_Refused`, any other failure
        as its `TwilioError`. A 401 reads the auth token again, once per call, and tries again."""
        metrics.vendor_call("twilio")
        generation = self._generation
        try:
            return call()
        except Exception as exc:
            refusal = self._refusal(exc)
            if refusal is not None and refusal.status == 401 and not reread:
                # A rotated token: read it again from Key Vault and try once more (a 401 is
                # an authentication refusal: nothing was done).
                reread.append(True)
                self._reread_token(generation)
                metrics.vendor_call("twilio")
                try:
                    return call()
                except Exception as again:
                    exc, refusal = again, self._refusal(again)
            if refusal is None or not refusal.retryable:
                raise self._error(operation, exc, refusal) from exc
            raise _Refused(exc, refusal) from exc

    @staticmethod
    def _retrying(operation: str, retry: int, exc: BaseException, delay: float) -> None:
        refusal = exc.refusal if isinstance(exc, _Refused) else None
        if refusal is None:
            return
        metrics.vendor_retry("twilio", "rate_limited" if refusal.rate_limited else "busy",
                             rate_limited=refusal.rate_limited)
        log.warning(
            "Twilio call refused; retrying",
            extra={"event": "twilio.retry", "operation": operation,
                   "status": refusal.status, "code": refusal.code,
                   "attempt": retry, "delay_s": round(delay, 3)},
        )

    def _refusal(self, exc: BaseException) -> _Refusal | None:
        """Status, Twilio code and Retry-After of a failed call; None if it is not a vendor answer."""
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import Timeout
        from twilio.base.exceptions import (  # type: ignore[import-untyped]
            TwilioException,
            TwilioRestException,
        )

        retry_after = getattr(self._client().http_client, "retry_after", None)
        if isinstance(exc, TwilioRestException):
            code = int(exc.code) if exc.code is not None else None
            return _Refusal(int(exc.status), code, str(exc.msg), retry_after)
        if isinstance(exc, TwilioException) and len(exc.args) > 1:
            # list/page calls raise a bare TwilioException carrying the response
            response = exc.args[1]
            status = getattr(response, "status_code", None)
            code, message = None, str(getattr(response, "text", ""))[:300]
            try:
                body = json.loads(getattr(response, "text", "") or "{}")
                code = int(body["code"]) if body.get("code") is not None else None
                message = str(body.get("message", message))
            except (ValueError, TypeError, AttributeError, KeyError):
                pass
            retry_after = retry_after_s(getattr(response, "headers", None))
            return _Refusal(int(status) if status is not None else None, code, message, retry_after)
        if isinstance(exc, Timeout):
            # no answer in time: the outcome is unknown, retried like a 5xx
            return _Refusal(None, None, f"no answer within {self._timeout_s:g} s "
                            f"(BYOC_TWILIO_TIMEOUT_S; {type(exc).__name__})", None, timed_out=True)
        if isinstance(exc, RequestsConnectionError):
            # a dropped connection: the outcome is unknown, retried like a 5xx
            return _Refusal(599, None, f"{type(exc).__name__}: {exc}", None)
        return None

    @staticmethod
    def _error(operation: str, exc: BaseException, refusal: _Refusal | None) -> TwilioError:
        if refusal is None:
            return TwilioError(f"Twilio {operation} failed: {type(exc).__name__}: {exc}")
        if refusal.timed_out:
            return TwilioError(
                f"Twilio did not answer {operation}: {refusal.message}; check the network path "
                "to Twilio, or raise BYOC_TWILIO_TIMEOUT_S if Twilio is only slow"
            )
        detail = f"HTTP {refusal.status}" + (f", error {refusal.code}" if refusal.code else "")
        hint = ""
        if refusal.status == 401 or refusal.code == 20003:
            hint = " (check BYOC_TWILIO_ACCOUNT_SID and the auth token)"
        elif refusal.code:
            hint = f" (https://www.twilio.com/docs/errors/{refusal.code})"
        cls = TwilioNumberUnavailable if refusal.code in _UNAVAILABLE_CODES else TwilioError
        return cls(
            f"Twilio refused {operation}: {refusal.message} [{detail}]{hint}",
            status=refusal.status, code=refusal.code,
        )

    def _pages(self, operation: str, first: Callable[[], Any]) -> Iterator[Any]:
        """Every record of a paged list, each page fetched with retries."""
        page = self._call(operation, first)
        while page is not None:
            yield from page
            page = self._call(operation, _next_page_of(page))

    def _each(
        self,
        numbers: list[TwilioNumber],
        write: Callable[[TwilioNumber], None],
        before_each: Callable[[], None],
    ) -> dict[str, str]:
        """`write` every number with bounded concurrency; {number: problem} of those that failed."""
        failures: dict[str, str] = {}
        stop: list[BaseException] = []
        lock = threading.Lock()

        def one(number: TwilioNumber) -> None:
            if stop:
                return
            try:
                before_each()
            except BaseException as exc:  # the lease is lost: no further writes
                with lock:
                    stop.append(exc)
                return
            try:
                write(number)
            except TwilioError as exc:
                with lock:
                    failures[number.phone_number] = str(exc)

        workers = min(self._concurrency, max(1, len(numbers)))
        # Each write runs in a copy of this thread's context: its trace and log fields go along.
        context = contextvars.copy_context()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twilio") as pool:
            list(pool.map(lambda n: context.copy().run(one, n), numbers))
        if stop:
            raise stop[0]
        return failures


def _page_of(resource: Any, page_size: int) -> Any:
    return resource.page(page_size=page_size)


def _next_page_of(page: Any) -> Callable[[], Any]:
    return lambda: page.next_page()
