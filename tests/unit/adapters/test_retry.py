"""The one Retry-After reader and backoff every vendor adapter retries with."""

from __future__ import annotations

import email.utils

import pytest

from byoc.adapters.retry import Backoff, retry_after_s, retrying

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"Retry-After": email.utils.formatdate(NOW + 30, usegmt=True)}, 30.0),
        ({"Retry-After": email.utils.formatdate(NOW - 30, usegmt=True)}, 0.0),
        ({"retry-after-ms": "1500", "Retry-After": "9"}, 1.5),
        ({"x-ms-retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "nan"}, None),
        ({}, None),
        (None, None),
    ],
)
def test_retry_after_is_read_in_every_form_a_vendor_sends(
    headers: dict[str, str] | None, seconds: float | None
) -> None:
    assert retry_after_s(headers, now=lambda: NOW) == seconds


def test_a_vendor_reset_header_is_read_only_when_asked_and_after_retry_after() -> None:
    headers = {"inin-ratelimit-reset": "12"}
    assert retry_after_s(headers) is None
    assert retry_after_s(headers, also=("inin-ratelimit-reset",)) == 12.0
    assert retry_after_s({**headers, "Retry-After": "3"}, also=("inin-ratelimit-reset",)) == 3.0


def test_backoff_doubles_to_its_cap_and_caps_what_the_vendor_asks() -> None:
    backoff = Backoff(attempts=6, base_s=1.0, cap_s=30.0, retry_after_cap_s=60.0)
    assert [backoff.delay(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    assert backoff.delay(1, 600.0) == 60.0
    jittered = Backoff(base_s=4.0, jitter=True)
    assert all(2.0 <= jittered.delay(1) <= 4.0 for _ in range(50))


def test_only_retryable_failures_are_retried_and_the_last_one_is_raised() -> None:
    slept: list[float] = []
    told: list[tuple[int, float]] = []
    calls: list[int] = []

    def busy() -> None:
        calls.append(1)
        raise TimeoutError(f"busy {len(calls)}")

    loop = retrying(Backoff(attempts=3, base_s=0.5), retry_if=lambda e: isinstance(e, TimeoutError),
                    retry_after=lambda e: 9.0 if "2" in str(e) else None, sleep=slept.append,
                    before_sleep=lambda n, _, delay: told.append((n, delay)))
    with pytest.raises(TimeoutError, match="busy 3"):
        for attempt in loop:
            with attempt:
                busy()
    assert slept == [0.5, 9.0] and told == [(1, 0.5), (2, 9.0)]

    refused = retrying(Backoff(), retry_if=lambda e: isinstance(e, TimeoutError), sleep=slept.append)
    with pytest.raises(ValueError, match="refused"):
        for attempt in refused:
            with attempt:
                raise ValueError("refused")
    assert slept == [0.5, 9.0]  # not retried
