"""Which failed vendor calls the adapters repeat by themselves: those safe to repeat."""

from __future__ import annotations

from typing import Any

import pytest

from byoc.adapters.genesys import CallSession, RequestPacer, TokenCache


class ApiError(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status
        self.headers: dict[str, str] = {}


class Options:
    def __init__(self, method: str, url: str) -> None:
        self.method = method
        self.url = url
        self.headers: dict[str, str] = {}


def genesys_session() -> CallSession:
    tokens = TokenCache(lambda: ("token", 86_400.0))
    return CallSession(tokens, RequestPacer(1000, sleep=lambda _: None), error_type=ApiError)


def answers(*script: Any) -> Any:
    remaining = list(script)

    def perform(options: Options) -> Any:
        answer = remaining.pop(0)
        if isinstance(answer, int):
            raise ApiError(answer)
        return answer

    return perform


API = "https://api.example/api/v2"


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/telephony/providers/edges/didpools"),
    ("POST", "/users/search"),
    ("PUT", "/architect/ivrs/ivr-1"),
    ("DELETE", "/telephony/providers/edges/didpools/pool-1"),
])
@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_genesys_calls_safe_to_repeat_are_retried_after_a_5xx(method: str, path: str,
                                                             status: int) -> None:
    assert genesys_session().send(Options(method, API + path), answers(status, "ok")) == "ok"


@pytest.mark.parametrize("status", [500, 503])
def test_a_genesys_create_that_failed_with_a_5xx_is_left_to_its_caller(status: int) -> None:
    # It may have landed: the caller looks for the pool by its range before creating it again.
    with pytest.raises(ApiError):
        genesys_session().send(Options("POST", API + "/telephony/providers/edges/didpools"),
                               answers(status, "ok"))
    assert genesys_session().send(Options("POST", API + "/telephony/providers/edges/didpools"),
                                  answers(429, "ok")) == "ok"
