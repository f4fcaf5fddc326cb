"""`byoc test-call`'s guarantees that do not need a vendor: it never leaves a call up, refuses
numbers byoc does not manage, and says where the call got to."""

from __future__ import annotations

import datetime as dt

import pytest

from byoc.ports import GenesysCallSeen, TwilioCallState
from byoc.services.test_call import TestCall, TestCallRefused

NOW = dt.datetime(2026, 12, 7, 19, 0, tzinfo=dt.UTC)


class Twilio:
    """A Calls resource whose call goes through `statuses`, then stays at the last one."""

    def __init__(self, *statuses: str, fail_fetch: bool = False) -> None:
        self.statuses = list(statuses)
        self.fail_fetch = fail_fetch
        self.ended: list[str] = []
        self.placed = False

    def _state(self, status: str) -> TwilioCallState:
        answered = status in ("in-progress", "completed")
        return TwilioCallState("CA1", status, NOW, NOW + dt.timedelta(seconds=1) if answered
                               else None, None, None)

    def place_call(self, to: str, from_: str, twiml: str) -> TwilioCallState:
        assert "<Hangup/>" in twiml and from_ == "+14155550150"
        self.placed = True
        return self._state("queued")

    def fetch_call(self, sid: str) -> TwilioCallState:
        if self.fail_fetch:
            raise ConnectionError("Twilio went away")
        status = self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]
        return self._state(status)

    def end_call(self, sid: str, status: str) -> TwilioCallState:
        self.ended.append(status)
        return self._state(status)


class Genesys:
    """Analytics holding `before` (conversations from earlier calls) and, once `twilio` placed the
    call, `seen` (this call's)."""

    def __init__(self, *seen: GenesysCallSeen, twilio: Twilio | None = None,
                 before: tuple[GenesysCallSeen, ...] = ()) -> None:
        self.seen, self.before, self.twilio = list(seen), list(before), twilio

    def calls_to(self, number: str, start: dt.datetime, end: dt.datetime) -> list[GenesysCallSeen]:
        arrived = self.seen if self.twilio is None or self.twilio.placed else []
        return [s for s in self.before + arrived if s.start is not None and start <= s.start < end]


def make(twilio: Twilio, genesys: Genesys, *, managed: bool = True) -> TestCall:
    return TestCall(twilio=twilio, genesys=lambda: genesys, caller_id="+14155550150",
                    is_managed=lambda n: managed, call_timeout_s=0.05, genesys_wait_s=0.0,
                    poll_s=0.001, sleep=lambda s: None)


def test_a_call_still_up_at_the_deadline_is_hung_up() -> None:
    twilio = Twilio("ringing", "in-progress")
    make(twilio, Genesys()).run("+14155550100")
    assert twilio.ended == ["completed"]


def test_a_call_never_answered_is_canceled() -> None:
    twilio = Twilio("ringing")
    make(twilio, Genesys()).run("+14155550100")
    assert twilio.ended == ["canceled"]


def test_a_failure_while_watching_the_call_still_ends_it() -> None:
    twilio = Twilio("ringing", fail_fetch=True)
    with pytest.raises(ConnectionError):
        make(twilio, Genesys()).run("+14155550100")
    assert twilio.ended == ["canceled"]


def test_a_call_that_ended_by_itself_is_left_alone_and_reported_with_its_codec() -> None:
    twilio = Twilio("in-progress", "completed")
    seen = GenesysCallSeen("c-1", dt.datetime.now(dt.UTC), None, ("audio/pcmu",), "ivr Main IVR")
    result = make(twilio, Genesys(seen, twilio=twilio)).run("+14155550100")
    assert twilio.ended == []
    assert result.ok and result.codec == "audio/pcmu"
    assert [h.hop for h in result.hops] == ["twilio", "genesys"]
    assert "Main IVR" in result.hops[1].detail


def test_an_earlier_call_to_the_same_number_is_not_taken_for_this_one() -> None:
    twilio = Twilio("ringing")
    earlier = GenesysCallSeen("c-0", dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2), None,
                              ("audio/pcmu",), "ivr Main IVR")
    result = make(twilio, Genesys(twilio=twilio, before=(earlier,))).run("+14155550100")
    assert not result.ok
    assert result.hops[1].hop == "genesys" and not result.hops[1].ok
    assert "c-0" not in result.hops[1].detail


def test_a_completed_call_genesys_never_saw_is_not_ok() -> None:
    result = make(Twilio("completed"), Genesys()).run("+14155550100")
    assert not result.ok and "never reached Genesys" in result.reason


def test_numbers_byoc_does_not_manage_are_refused_unless_forced() -> None:
    test_call = make(Twilio("completed"), Genesys(), managed=False)
    with pytest.raises(TestCallRefused, match="--force"):
        test_call.check("+14155550999", force=False)
    assert "bills" in test_call.check("+14155550999", force=True)


def test_without_a_caller_id_nothing_is_called() -> None:
    test_call = make(Twilio("completed"), Genesys())
    test_call.caller_id = None
    with pytest.raises(TestCallRefused, match="BYOC_TEST_CALL_FROM"):
        test_call.check("+14155550100", force=False)
