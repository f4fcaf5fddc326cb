"""What every Genesys Platform API call goes through: pacing, the token, retries (`CallSession`).

The SDK's own urllib3 retries are replaced (`sdk_retry`): only a connection that never opened is
retried there; answers and lost answers come back to `CallSession`, the one layer that retries them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from byoc import metrics
from byoc.adapters.retry import Backoff, retry_after_s, retrying, waiter

if TYPE_CHECKING:
    from urllib3.util import Retry


log = logging.getLogger("byoc.genesys")

T = TypeVar("T")

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
TOKEN_MARGIN_S = 300.0
SDK_CONNECT_RETRIES = 2
"""Times urllib3 opens a connection again after it failed; the request was never sent."""
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


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
        sleep: Callable[[float], None] | None = None,
        max_busy_retries: int = BACKOFF.attempts,
        max_rate_limit_retries: int = RATE_LIMIT_RETRIES,
        rate_limit_wait_s: float = RATE_LIMIT_WAIT_S,
        unanswered: tuple[type[Exception], ...] = (),
        max_unanswered_retries: int = UNANSWERED_RETRIES,
    ) -> None:
        self.tokens = tokens
        self.pacer = pacer
        self._error_type = error_type
        self._sleep = waiter(sleep)
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
