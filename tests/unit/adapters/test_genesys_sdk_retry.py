"""The urllib3 pool inside the Genesys SDK retries only connections that never opened: a call that
reached Genesys is never replayed underneath byoc, and every answer comes back to byoc's retries."""

from __future__ import annotations

import pytest
from urllib3.exceptions import MaxRetryError, NewConnectionError, ReadTimeoutError

from byoc.adapters.genesys import SDK_CONNECT_RETRIES, GenesysAdapter, sdk_retry

URL = "/api/v2/telephony/providers/edges/didpools"


def refused() -> NewConnectionError:
    return NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]


def timed_out() -> ReadTimeoutError:
    return ReadTimeoutError(None, URL, "Read timed out.")  # type: ignore[arg-type]


def test_the_sdk_pool_the_adapter_builds_uses_the_bounded_retry() -> None:
    adapter = GenesysAdapter(base_url="https://api.example.invalid", client_id="client",
                             client_secret=lambda: "unit-test-secret")

    retries = adapter._apis().http.rest_client.pool_manager.connection_pool_kw["retries"]

    assert (retries.total, retries.connect, retries.read, retries.status) == (
        SDK_CONNECT_RETRIES, SDK_CONNECT_RETRIES, False, 0)
    assert not retries.respect_retry_after_header and not retries.raise_on_status


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "PUT", "DELETE"])
def test_a_connection_that_never_opened_is_retried_a_couple_of_times_for_any_method(
        method: str) -> None:
    retry = sdk_retry()
    for _ in range(SDK_CONNECT_RETRIES):
        retry = retry.increment(method, URL, error=refused())

    with pytest.raises(MaxRetryError):
        retry.increment(method, URL, error=refused())


@pytest.mark.parametrize("method", ["GET", "POST", "PATCH", "PUT", "DELETE"])
def test_a_read_timeout_is_never_replayed(method: str) -> None:
    # The request reached Genesys: a POST may have created something. The timeout itself comes
    # back (not a "max retries exceeded"), after one read timeout.
    with pytest.raises(ReadTimeoutError):
        sdk_retry().increment(method, URL, error=timed_out())


@pytest.mark.parametrize("status", [413, 429, 500, 502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_no_answer_is_retried_by_urllib3_even_with_retry_after(method: str, status: int) -> None:
    assert not sdk_retry().is_retry(method, status, has_retry_after=True)
