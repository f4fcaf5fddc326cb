"""The Monitor Events poller: events since a cursor, idempotent by event SID, sweep when lost."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from fakes import FakeInventory, FakeQueue, FakeState
from test_twilio_fakes import TRUNK, FakeTwilio, pn_sid

from byoc.domain.inventory import on_purchased
from byoc.domain.jobs import NumberEvent
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.ports import TwilioError, TwilioNumberAuditEvent
from byoc.services.twilio_poller import (
    CURSOR_KEY,
    CURSOR_NAMESPACE,
    STATUS_KEY,
    STATUS_NAMESPACE,
    TwilioEventPoller,
)

POLICY = """
version: 1
managed: {prefixes: ["+1415555"]}
rules: []
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
"""
ALL_ON_TRUNK = """
version: 1
managed: {all_on_trunk: true}
defaults: {genesys: none, sbc_tag: main}
"""


class Watch:
    def __init__(self, twilio: FakeTwilio, *, policy: str = POLICY, records: list = ()) -> None:  # type: ignore[type-arg,assignment]
        self.twilio = twilio
        self.inventory = FakeInventory(records)
        self.queue = FakeQueue()
        self.state = FakeState()
        loaded: Policy = load_policy(policy, "test")
        self.poller = TwilioEventPoller(
            twilio=twilio, inventory=self.inventory, queue=self.queue, state=self.state,
            policy=lambda: loaded, trunk_sid=TRUNK, retention_days=30,
            clock=lambda: twilio.now,
        )

    def start_cursor(self) -> None:
        self.state.put(CURSOR_NAMESPACE, CURSOR_KEY, {"at": self.twilio.now.isoformat()})

    def events(self) -> list[tuple[str, str, str]]:
        return [(j.action, j.number, j.event_id) for j, _ in self.queue.sent
                if isinstance(j, NumberEvent)]


def test_a_console_purchase_becomes_one_number_event_keyed_by_the_event_sid() -> None:
    twilio = FakeTwilio()
    watch = Watch(twilio)
    watch.start_cursor()
    bought = twilio.console_purchase("+14155550150")

    outcome = watch.poller.poll()

    assert outcome.mode == "events"
    assert watch.events() == [("purchased", "+14155550150", bought.sid)]
    [(job, _)] = watch.queue.sent
    assert job.source == "poller" and job.sid == pn_sid("+14155550150")  # type: ignore[union-attr]


def test_the_next_poll_does_not_repeat_what_was_seen() -> None:
    twilio = FakeTwilio()
    watch = Watch(twilio)
    watch.start_cursor()
    twilio.console_purchase("+14155550150")
    watch.poller.poll()
    twilio.console_purchase("+14155550151")

    watch.poller.poll()
    watch.poller.poll()

    assert [n for _, n, _ in watch.events()] == ["+14155550150", "+14155550151"]


def test_a_late_event_dated_before_the_cursor_is_still_read_once() -> None:
    twilio = FakeTwilio()
    watch = Watch(twilio)
    watch.start_cursor()
    twilio.console_purchase("+14155550150", minutes=3)
    watch.poller.poll()
    late = TwilioNumberAuditEvent(
        sid="AE" + "f" * 32, event_type="phone-number.created",
        event_date=twilio.now - dt.timedelta(minutes=2), resource_sid=pn_sid("+14155550152"),
        phone_number="+14155550152", trunk_sid=(None, None))
    twilio.events.append(late)

    watch.poller.poll()

    assert [n for _, n, _ in watch.events()] == ["+14155550150", "+14155550152"]


def test_numbers_byoc_does_not_manage_and_its_own_purchases_give_no_events() -> None:
    twilio = FakeTwilio()
    record = on_purchased(None, "+14155550160", sid=pn_sid("+14155550160"), source="purchase",
                          correlation_id="c0000001")
    watch = Watch(twilio, records=[record])
    watch.start_cursor()
    twilio.console_purchase("+12125550100")
    twilio.console_purchase("+14155550160", trunk_sid=TRUNK)  # byoc bought it with TrunkSid

    watch.poller.poll()

    assert watch.events() == []


def test_a_release_of_a_known_number_becomes_a_released_event() -> None:
    twilio = FakeTwilio(on_trunk=["+14155550100"])
    record = on_purchased(None, "+14155550100", sid=pn_sid("+14155550100"), source="cli",
                          correlation_id="c0000001")
    watch = Watch(twilio, records=[record])
    watch.start_cursor()
    gone = twilio.console_release("+14155550100")

    watch.poller.poll()

    assert watch.events() == [("released", "+14155550100", gone.sid)]


def test_with_all_on_trunk_only_numbers_put_on_the_trunk_are_managed() -> None:
    twilio = FakeTwilio()
    watch = Watch(twilio, policy=ALL_ON_TRUNK)
    watch.start_cursor()
    twilio.console_purchase("+14155550150")
    twilio.console_purchase("+14155550151", trunk_sid=TRUNK)

    watch.poller.poll()

    assert [n for _, n, _ in watch.events()] == ["+14155550151"]


def test_without_a_cursor_the_poller_sweeps_the_account_and_then_follows_events() -> None:
    twilio = FakeTwilio(on_trunk=["+14155550100"], off_trunk=["+14155550150", "+12125550100"])
    known = on_purchased(None, "+14155550100", sid=pn_sid("+14155550100"), source="cli",
                         correlation_id="c0000001")
    lost = on_purchased(None, "+14155550199", sid=pn_sid("+14155550199"), source="cli",
                        correlation_id="c0000002")
    watch = Watch(twilio, records=[known, lost])

    first = watch.poller.poll()
    twilio.console_purchase("+14155550151")
    second = watch.poller.poll()

    assert first.mode == "sweep" and second.mode == "events"
    # +14155550199 is gone at Twilio: the `twilio` sync offboards it, under the mass-deletion
    # guard (a sweep reporting it here would bypass the guard when a listing comes back empty).
    assert {(a, n) for a, n, _ in watch.events()} == {
        ("purchased", "+14155550150"), ("purchased", "+14155550151")}
    assert {j.source for j, _ in watch.queue.sent} == {"sweep", "poller"}  # type: ignore[union-attr]


def test_a_cursor_older_than_the_retention_window_falls_back_to_a_sweep() -> None:
    twilio = FakeTwilio(off_trunk=["+14155550150"])
    watch = Watch(twilio)
    watch.state.put(CURSOR_NAMESPACE, CURSOR_KEY,
                    {"at": (twilio.now - dt.timedelta(days=31)).isoformat()})

    outcome = watch.poller.poll()

    assert outcome.mode == "sweep" and twilio.calls["list_number_events"] == 0
    assert watch.events() == [("purchased", "+14155550150", f"sweep:{pn_sid('+14155550150')}")]


def test_a_quiet_month_keeps_the_cursor_fresh() -> None:
    twilio = FakeTwilio()
    watch = Watch(twilio)
    watch.start_cursor()
    for _ in range(40):
        twilio.now += dt.timedelta(days=1)
        assert watch.poller.poll().mode == "events"


def test_an_update_that_takes_a_managed_number_off_the_trunk_is_reported() -> None:
    twilio = FakeTwilio(on_trunk=["+14155550100"])
    record = on_purchased(None, "+14155550100", sid=pn_sid("+14155550100"), source="cli",
                          correlation_id="c0000001")
    watch = Watch(twilio, records=[record])
    watch.start_cursor()
    twilio.now += dt.timedelta(minutes=1)
    twilio.events += [
        TwilioNumberAuditEvent("AE" + "1" * 32, "phone-number.updated", twilio.now,
                               pn_sid("+14155550100"), "+14155550100", (TRUNK, None),
                               frozenset({"trunk_sid"})),
        TwilioNumberAuditEvent("AE" + "2" * 32, "phone-number.updated", twilio.now,
                               pn_sid("+14155550100"), "+14155550100", None,
                               frozenset({"friendly_name"})),
        TwilioNumberAuditEvent("AE" + "3" * 32, "phone-number.updated", twilio.now,
                               pn_sid("+14155550100"), "+14155550100", (None, TRUNK),
                               frozenset({"trunk_sid"})),
    ]

    watch.poller.poll()

    assert watch.events() == [("updated", "+14155550100", "AE" + "1" * 32)]


def test_an_unreadable_cursor_means_sweep_and_start_again() -> None:
    twilio = FakeTwilio()
    watch = Watch(twilio)
    watch.state.put(CURSOR_NAMESPACE, CURSOR_KEY, {"at": "not a date", "seen": 7})

    outcome = watch.poller.poll()

    assert outcome.mode == "sweep"
    assert watch.poller.poll().mode == "events"  # the sweep started a new, readable cursor


def test_the_cursor_stays_bounded_after_a_burst_and_each_event_is_enqueued_once() -> None:
    twilio = FakeTwilio()
    watch = Watch(twilio)
    watch.start_cursor()
    for index in range(3000):  # all within one minute: every one inside the overlap
        twilio.console_purchase(f"+1415555{index:04d}", minutes=0)

    first = watch.poller.poll()
    again = watch.poller.poll()

    stored = watch.state.get(CURSOR_NAMESPACE, CURSOR_KEY)
    assert len(json.dumps(stored)) < 30_000
    assert first.events_read == 3000 and len(first.enqueued) == 3000
    # beyond the cursor's memory, events may come again; the lifecycle ignores them by event id
    assert len(again.enqueued) <= 3000 - 1500
    ids = [j.event_id for j, _ in watch.queue.sent if isinstance(j, NumberEvent)]
    assert len(set(ids)) == 3000


def test_a_failed_poll_is_recorded_with_its_error_and_cleared_by_the_next_success() -> None:
    twilio = FakeTwilio()
    watch = Watch(twilio)
    watch.start_cursor()

    def refuse(since: dt.datetime) -> list[TwilioNumberAuditEvent]:
        raise TwilioError("Twilio refused read Monitor events [HTTP 500]", status=500)

    original = twilio.list_number_events
    twilio.list_number_events = refuse  # type: ignore[method-assign]
    with pytest.raises(TwilioError):
        watch.poller.poll()
    failed = dict(watch.state.get(STATUS_NAMESPACE, STATUS_KEY))
    twilio.list_number_events = original  # type: ignore[method-assign]
    watch.poller.poll()
    recovered = watch.state.get(STATUS_NAMESPACE, STATUS_KEY)

    assert failed["failures"] == 1 and "HTTP 500" in failed["last_error"]
    assert "last_success_at" not in failed
    assert recovered["failures"] == 0 and recovered["last_success_at"]
