"""What the Genesys adapter adds around the SDK, without the network: error types a telephony
engineer can act on, pacing to the per-minute budget, token renewal, and the retry rules."""

from __future__ import annotations

import json
from typing import Any

import pytest

from byoc.adapters.genesys import (
    CallSession,
    DidPoolOverlap,
    GenesysAuthError,
    GenesysPermissionDenied,
    GenesysPoolNotSettled,
    GenesysRateLimited,
    GenesysUnavailable,
    GenesysVersionConflict,
    RequestPacer,
    TokenCache,
    error_from_response,
)
from byoc.ports import GenesysError, GenesysNumberInUse


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def error_body(status: int, code: str, message: str, **params: str) -> str:
    return json.dumps({"status": status, "code": code, "message": message,
                       "messageParams": params})


# --- errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("status,code,message,kind", [
    (409, "general.conflict", "The IVR version [3] does not match the current version [4].",
     GenesysVersionConflict),
    (400, "bad.request", "The user version [1] does not match the current version [2].",
     GenesysVersionConflict),
    (400, "bad.request", "Field 'didPoolId' is required and cannot be empty.",
     GenesysPoolNotSettled),
    (400, "did.pool.range.overlap", "The DID pool range overlaps the existing DID pool", DidPoolOverlap),
    (401, "bad.credentials", "Invalid login credentials.", GenesysAuthError),
    (403, "missing.permissions", "Missing telephony:plugin:all", GenesysPermissionDenied),
    (429, "too.many.requests.retry.after", "Rate limit exceeded", GenesysRateLimited),
    (503, "service.unavailable", "Try later", GenesysUnavailable),
])
def test_genesys_refusals_become_typed_errors_that_say_what_was_refused(
    status: int, code: str, message: str, kind: type[GenesysError],
) -> None:
    error = error_from_response("update IVR 'Main IVR'", status, error_body(status, code, message))

    assert type(error) is kind
    assert str(error).startswith(f"Genesys refused update IVR 'Main IVR' ({status} {code})")
    assert message in str(error) and error.status == status


def test_a_number_routed_elsewhere_names_the_number() -> None:
    error = error_from_response("update IVR 'Main IVR'", 400, error_body(
        400, "did.already.assigned", "The number +14155550101 is already assigned to USER 'Alice'",
        number="+14155550101"))

    assert isinstance(error, GenesysNumberInUse) and error.number == "+14155550101"


def test_an_error_without_a_json_body_still_reads_well() -> None:
    error = error_from_response("list DID pools", 502, "<html>Bad gateway</html>")

    assert isinstance(error, GenesysUnavailable) and "<html>Bad gateway</html>" in str(error)


def test_permission_errors_point_at_the_setup_guide() -> None:
    error = error_from_response("list DID pools", 403, error_body(403, "x", "no"))

    assert "docs/genesys.md" in str(error)


# --- pacing ----------------------------------------------------------------------------------------


def test_calls_are_paced_to_the_per_minute_budget() -> None:
    clock = Clock()
    pacer = RequestPacer(3, clock=clock, sleep=clock.sleep)

    for _ in range(3):
        pacer.wait()
        clock.now += 1
    pacer.wait()

    assert clock.slept == [57.0]  # the first call leaves the window 60 s after it was made


def test_an_exhausted_rate_window_pauses_until_its_reset() -> None:
    clock = Clock()
    pacer = RequestPacer(300, clock=clock, sleep=clock.sleep)

    pacer.observe({"inin-ratelimit-count": "300", "inin-ratelimit-allowed": "300",
                   "inin-ratelimit-reset": "12"})
    pacer.wait()

    assert clock.slept == [12.0]


def test_headers_with_budget_left_do_not_slow_anything() -> None:
    clock = Clock()
    pacer = RequestPacer(300, clock=clock, sleep=clock.sleep)

    pacer.observe({"Inin-RateLimit-Count": "12", "Inin-RateLimit-Allowed": "300",
                   "Inin-RateLimit-Reset": "40"})
    pacer.wait()

    assert clock.slept == []


# --- tokens ----------------------------------------------------------------------------------------


def test_the_token_is_reused_then_renewed_before_it_expires() -> None:
    clock = Clock()
    issued = iter(["t1", "t2"])
    tokens = TokenCache(lambda: (next(issued), 3600.0), clock=clock)

    first = [tokens.current() for _ in range(3)]
    clock.now = 3299
    before_margin = tokens.current()
    clock.now = 3301
    renewed = tokens.current()

    assert first == ["t1"] * 3 and before_margin == "t1" and renewed == "t2"
    assert tokens.requests == 2


def test_a_refused_token_is_forgotten_so_the_next_call_gets_a_new_one() -> None:
    issued = iter(["t1", "t2"])
    tokens = TokenCache(lambda: (next(issued), 86_400.0))

    tokens.invalidate(tokens.current())

    assert tokens.current() == "t2"


# --- the call session --------------------------------------------------------------------------------


class FakeApiError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers or {}


class Options:
    def __init__(self, method: str = "GET") -> None:
        self.method = method
        self.headers: dict[str, str] = {}


class Responses:
    """Answers from a script: an int is that error status, anything else a success."""

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.seen_tokens: list[str] = []

    def __call__(self, options: Options) -> Any:
        self.seen_tokens.append(options.headers["Authorization"])
        answer = self.script.pop(0)
        if isinstance(answer, int):
            raise FakeApiError(answer, {"inin-ratelimit-reset": "2"} if answer == 429 else {})
        return answer


def session(clock: Clock) -> tuple[CallSession, TokenCache]:
    issued = iter(f"token-{i}" for i in range(1, 10))
    tokens = TokenCache(lambda: (next(issued), 86_400.0), clock=clock)
    pacer = RequestPacer(300, clock=clock, sleep=clock.sleep)
    return CallSession(tokens, pacer, error_type=FakeApiError, sleep=clock.sleep), tokens


class NoAnswer(Exception):
    """Stands for urllib3's read timeout or dropped connection."""


def unanswered(*script: Any) -> Any:
    """Answers from a script: None is no answer at all, anything else a success."""
    answers = list(script)
    sent: list[str] = []

    def perform(options: Options) -> Any:
        sent.append(options.method)
        answer = answers.pop(0)
        if answer is None:
            raise NoAnswer("read timed out")
        return answer

    perform.sent = sent  # type: ignore[attr-defined]
    return perform


def quiet_session(clock: Clock) -> CallSession:
    tokens = TokenCache(lambda: ("token", 86_400.0), clock=clock)
    pacer = RequestPacer(300, clock=clock, sleep=clock.sleep)
    return CallSession(tokens, pacer, error_type=FakeApiError, sleep=clock.sleep,
                       unanswered=(NoAnswer,))


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_call_safe_to_repeat_that_got_no_answer_is_sent_once_more(method: str) -> None:
    perform = unanswered(None, "ok")

    assert quiet_session(Clock()).send(Options(method), perform) == "ok"
    assert perform.sent == [method, method]


def test_a_call_safe_to_repeat_gives_up_after_its_second_silence() -> None:
    perform = unanswered(None, None, "never reached")

    with pytest.raises(NoAnswer):
        quiet_session(Clock()).send(Options("GET"), perform)
    assert len(perform.sent) == 2


def test_a_create_that_got_no_answer_is_not_sent_again() -> None:
    perform = unanswered(None, "would be a second pool")

    with pytest.raises(NoAnswer):
        quiet_session(Clock()).send(Options("POST"), perform)
    assert perform.sent == ["POST"]


def test_a_401_renews_the_token_and_retries_once() -> None:
    clock = Clock()
    calls, tokens = session(clock)
    responses = Responses(401, "ok")

    assert calls.send(Options(), responses) == "ok"
    assert responses.seen_tokens == ["Bearer token-1", "Bearer token-2"]
    assert tokens.requests == 2


def test_a_second_401_in_a_row_is_raised() -> None:
    calls, _ = session(Clock())

    with pytest.raises(FakeApiError):
        calls.send(Options(), Responses(401, 401, "ok"))


def test_a_429_without_retry_after_waits_for_the_window_and_retries() -> None:
    clock = Clock()
    calls, _ = session(clock)

    assert calls.send(Options("POST"), Responses(429, 429, "created")) == "created"
    assert clock.slept == [2.0, 2.0] and calls.retries == 2


def test_a_429_storm_ends_in_an_error_after_bounded_retries() -> None:
    from byoc.adapters.genesys import RATE_LIMIT_RETRIES

    clock = Clock()
    calls, _ = session(clock)

    with pytest.raises(FakeApiError):
        calls.send(Options(), Responses(*[429] * 20))
    assert len(clock.slept) == RATE_LIMIT_RETRIES == 12


def test_a_429_storm_with_long_waits_gives_up_once_the_wait_budget_is_spent() -> None:
    from byoc.adapters.genesys import RATE_LIMIT_WAIT_S

    clock = Clock()
    calls, _ = session(clock)

    def refused(options: Options) -> Any:
        raise FakeApiError(429, {"Retry-After": "50"})

    with pytest.raises(FakeApiError):
        calls.send(Options("POST"), refused)
    assert clock.slept == [50.0, 50.0] and sum(clock.slept) <= RATE_LIMIT_WAIT_S


def test_a_503_is_retried_for_a_read_but_not_for_a_create() -> None:
    clock = Clock()
    calls, _ = session(clock)

    assert calls.send(Options("GET"), Responses(503, "pools")) == "pools"
    with pytest.raises(FakeApiError):
        calls.send(Options("POST"), Responses(503, "created"))
