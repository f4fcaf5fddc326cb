"""`byoc test-call NUMBER`: a short real call to a managed number through Twilio's Calls API (a
TwiML that plays a tone and hangs up), then the Genesys conversation that call became, read from the
analytics API by its DNIS within the call's window. Each hop's timing and the negotiated codec are
reported. The call is never left up: whatever happens after it was placed, it is ended."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from byoc.ports import GenesysCallPort, GenesysCallSeen, TwilioCallPort

TWIML = '<Response><Play digits="ww1w1"/><Hangup/></Response>'
"""Two DTMF tones with pauses (about 2 s of audio), then hang up (TwiML `<Play digits>`)."""
COST_WARNING = ("a test call is a real outbound call from {caller} to {number}: Twilio bills it "
                "(a few seconds of an outbound call and the trunk's inbound leg), and Genesys "
                "counts it as a conversation.")


class TestCallRefused(ValueError):
    """The number is not one byoc manages (and --force was not given), or no caller ID is set."""

    __test__ = False  # not a pytest class


@dataclass
class Hop:
    hop: str
    ok: bool
    detail: str
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {"hop": self.hop, "ok": self.ok, "detail": self.detail, "seconds": self.seconds}


@dataclass
class TestCallResult:
    __test__ = False  # not a pytest class
    number: str
    call_sid: str | None
    ok: bool
    codec: str | None
    hops: list[Hop] = field(default_factory=list)
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "call_sid": self.call_sid, "ok": self.ok,
                "codec": self.codec, "reason": self.reason,
                "hops": [h.to_json() for h in self.hops]}


def _seconds(a: dt.datetime | None, b: dt.datetime | None) -> float | None:
    return round((b - a).total_seconds(), 3) if a is not None and b is not None else None


class TestCall:
    """Places one test call and reports where it got to."""

    __test__ = False  # not a pytest class

    def __init__(self, *, twilio: TwilioCallPort, genesys: Callable[[], GenesysCallPort],
                 caller_id: str | None, is_managed: Callable[[str], bool],
                 call_timeout_s: float = 60.0, genesys_wait_s: float = 60.0,
                 poll_s: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.twilio = twilio
        self.genesys = genesys
        self.caller_id = caller_id
        self.is_managed = is_managed
        self.call_timeout_s = call_timeout_s
        self.genesys_wait_s = genesys_wait_s
        self.poll_s = poll_s
        self.sleep = sleep

    def check(self, number: str, *, force: bool) -> str:
        """The cost warning for calling `number`; TestCallRefused when byoc will not call it."""
        if not self.caller_id:
            raise TestCallRefused("no caller ID for test calls: set BYOC_TEST_CALL_FROM to a number "
                                  "the Twilio account owns (docs/configuration.md)")
        if not force and not self.is_managed(number):
            raise TestCallRefused(f"{number} is not a number byoc manages (inventory and policy); "
                                  "give --force to call it anyway")
        return COST_WARNING.format(caller=self.caller_id, number=number)

    def run(self, number: str) -> TestCallResult:
        assert self.caller_id is not None
        began = dt.datetime.now(dt.UTC)
        # Conversations already in the look-back window (an earlier call to the same number a few
        # seconds ago) are not this call's: only one that shows up after placing it counts.
        earlier = {c.conversation_id for c in self.genesys().calls_to(
            number, began - dt.timedelta(seconds=5), began + dt.timedelta(minutes=1))}
        placed = self.twilio.place_call(number, self.caller_id, TWIML)
        result = TestCallResult(number, placed.sid, False, None)
        state = placed
        try:
            deadline = time.monotonic() + self.call_timeout_s
            while not state.ended and time.monotonic() < deadline:
                self.sleep(self.poll_s)
                state = self.twilio.fetch_call(placed.sid)
        finally:
            if not state.ended:
                state = self.twilio.end_call(
                    placed.sid, "completed" if state.status == "in-progress" else "canceled")
        created = state.created or began
        answered = state.status == "completed" and state.start is not None
        result.hops.append(Hop(
            "twilio", answered,
            f"call {state.sid} {state.status}"
            + (f", {state.duration_s} s up" if state.duration_s is not None else ""),
            _seconds(created, state.start) if answered else None))
        # a call Twilio saw answered may take a while to show in analytics; a failed one never will
        seen = self._find_conversation(number, began - dt.timedelta(seconds=5),
                                       self.genesys_wait_s if answered else 0.0, earlier)
        if seen is None:
            result.hops.append(Hop("genesys", False, f"no conversation with DNIS {number} since "
                                   f"{began:%H:%M:%S} UTC"))
            result.reason = (f"the call ended {state.status!r} and never reached Genesys: check the "
                             f"SBC's dial plan, routes and classification (byoc trace {number})")
            return result
        result.codec = seen.codecs[0] if seen.codecs else None
        result.hops.append(Hop(
            "genesys", True,
            f"conversation {seen.conversation_id}"
            + (f" to {seen.routed_to}" if seen.routed_to else "")
            + (f", codec {result.codec}" if result.codec else ""),
            _seconds(created, seen.start)))
        result.ok = answered
        result.reason = "" if answered else f"Genesys saw the call but Twilio says {state.status}"
        return result

    def _find_conversation(self, number: str, since: dt.datetime, wait_s: float,
                           earlier: set[str]) -> GenesysCallSeen | None:
        deadline = time.monotonic() + wait_s
        finder = self.genesys()
        while True:
            now = dt.datetime.now(dt.UTC)
            seen = [c for c in finder.calls_to(number, since, now + dt.timedelta(minutes=1))
                    if c.conversation_id not in earlier]
            if seen:
                return seen[-1]
            if time.monotonic() >= deadline:
                return None
            self.sleep(max(self.poll_s, 1.0))
