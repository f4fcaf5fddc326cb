"""The one retry policy of byoc's vendor adapters (tenacity) and the one `Retry-After` reader.

Every adapter that retries a vendor call builds its loop with `retrying`: a `Backoff` says how many
attempts and how long between them (the vendor's `Retry-After` wins, capped), the adapter says
which failures are worth another attempt and what to log. Waits go through the `sleep` the adapter
was given, or `pause` — the one place tests switch waits off (`tests/conftest.py`).
ARM is the exception: azure-core retries inside the SDK's pipeline (`adapters/arm_retry.py`), and
reads `Retry-After` here too.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import tenacity

RETRY_AFTER_MS_HEADERS = ("retry-after-ms", "x-ms-retry-after-ms")
"""Azure's millisecond forms, read before `Retry-After` when present."""


def pause(seconds: float) -> None:
    """Wait between two attempts of a vendor call (the default of every retry)."""
    time.sleep(seconds)


def waiter(sleep: Callable[[float], None] | None) -> Callable[[float], None]:
    """`sleep` if given, else `pause` (looked up at each wait, so one setting governs them all)."""
    if sleep is not None:
        return sleep
    return lambda seconds: pause(seconds)


def retry_after_s(
    headers: Mapping[str, Any] | Any,
    *,
    also: tuple[str, ...] = (),
    now: Callable[[], float] = time.time,
) -> float | None:
    """Seconds a vendor asked us to wait, or None when it did not say (or said nonsense).

    Reads `retry-after-ms` / `x-ms-retry-after-ms` (Azure), then `Retry-After` as delta-seconds or
    an HTTP-date (RFC 9110 §10.2.3), then each header in `also` as seconds (Genesys's
    `inin-ratelimit-reset`). Header names are matched without regard to case; never negative.
    """
    if not headers:
        return None
    values = {str(k).lower(): str(v).strip() for k, v in dict(headers).items()}
    for name in RETRY_AFTER_MS_HEADERS:
        seconds = _number(values.get(name))
        if seconds is not None:
            return max(seconds / 1000.0, 0.0)
    value = values.get("retry-after")
    if value:
        seconds = _number(value)
        if seconds is None:
            seconds = _http_date_in(value, now)
        if seconds is not None:
            return max(seconds, 0.0)
    for name in also:
        seconds = _number(values.get(name.lower()))
        if seconds is not None:
            return max(seconds, 0.0)
    return None


def _number(value: str | None) -> float | None:
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if number == number and number not in (float("inf"), float("-inf")) else None


def _http_date_in(value: str, now: Callable[[], float]) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp() - now()


@dataclass(frozen=True)
class Backoff:
    """How many attempts, and how long to wait before each retry.

    Retry `n` (1-based) waits the vendor's `Retry-After` capped at `retry_after_cap_s`, else
    `base_s * 2**(n-1)` capped at `cap_s`; with `jitter`, a random 50-100 % of that.
    """

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 16.0
    retry_after_cap_s: float = 30.0
    jitter: bool = False

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry `retry` (1-based)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.retry_after_cap_s)
        ceiling = float(min(self.cap_s, self.base_s * 2.0 ** (retry - 1)))
        return ceiling * (0.5 + random.random() / 2) if self.jitter else ceiling


def retrying(
    backoff: Backoff,
    *,
    retry_if: Callable[[BaseException], bool],
    retry_after: Callable[[BaseException], float | None] = lambda _: None,
    sleep: Callable[[float], None] | None = None,
    before_sleep: Callable[[int, BaseException, float], None] | None = None,
    once: bool = False,
) -> tenacity.Retrying:
    """A tenacity `Retrying` for one vendor call: iterate it (`for attempt in ...: with attempt:`).

    Retries an exception for which `retry_if` holds, up to `backoff.attempts` attempts (one when
    `once`); the last one is re-raised as it was. `before_sleep(retry, exc, delay)` is told of each
    wait (for logs and metrics).
    """

    def wait(state: tenacity.RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hint = retry_after(exc) if exc is not None else None
        return backoff.delay(state.attempt_number, hint)

    def told(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        if before_sleep is not None and exc is not None:
            before_sleep(state.attempt_number, exc, state.upcoming_sleep)

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(1 if once else max(1, backoff.attempts)),
        wait=wait,
        retry=tenacity.retry_if_exception(retry_if),
        sleep=waiter(sleep),
        before_sleep=told,
        reraise=True,
    )
