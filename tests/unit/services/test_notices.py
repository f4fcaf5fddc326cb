"""Notices are hints: what Twilio shows decides, whatever the notice's action says."""

from __future__ import annotations

from fakes import FakeInventory
from test_twilio_fakes import TRUNK, FakeTwilio, pn_sid

from byoc.domain.inventory import NumberState, on_purchased
from byoc.domain.jobs import NumberEvent
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.services.notices import NoticeConfirmation

POLICY: Policy = load_policy(
    'version: 1\nmanaged: {prefixes: ["+1415555"]}\n'
    "defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}\n", "test")


def notice(action: str, number: str, sid: str | None = None) -> NumberEvent:
    return NumberEvent(action=action, number=number, sid=sid, source="webhook",  # type: ignore[arg-type]
                       event_id=f"portal-{action}-{number}", correlation_id="corr00001")


def confirm(twilio: FakeTwilio, event: NumberEvent, records: list = ()) -> NumberEvent | None:  # type: ignore[type-arg,assignment]
    return NoticeConfirmation(twilio=twilio, inventory=FakeInventory(records),
                              policy=lambda: POLICY, trunk_sid=TRUNK).confirm(event)


def test_a_purchase_notice_of_an_owned_number_becomes_a_purchase_with_twilios_sid() -> None:
    twilio = FakeTwilio(off_trunk=["+14155550150"])

    confirmed = confirm(twilio, notice("updated", "+14155550150"))

    assert confirmed is not None and confirmed.action == "purchased"
    assert confirmed.sid == pn_sid("+14155550150") and confirmed.source == "webhook"


def test_a_number_the_account_does_not_own_gives_nothing() -> None:
    assert confirm(FakeTwilio(), notice("purchased", "+14155550999")) is None


def test_a_number_on_another_trunk_or_outside_the_policy_gives_nothing() -> None:
    twilio = FakeTwilio(on_other_trunk=["+14155550160"], off_trunk=["+12125550100"])

    assert confirm(twilio, notice("purchased", "+14155550160")) is None
    assert confirm(twilio, notice("purchased", "+12125550100")) is None


def test_a_sid_naming_another_number_gives_nothing() -> None:
    twilio = FakeTwilio(off_trunk=["+14155550150", "+14155550151"])

    assert confirm(twilio, notice("purchased", "+14155550150", pn_sid("+14155550151"))) is None


def test_a_released_notice_of_a_number_twilio_still_has_releases_nothing() -> None:
    twilio = FakeTwilio(on_trunk=["+14155550100"])
    active = on_purchased(None, "+14155550100", sid=pn_sid("+14155550100"), source="purchase",
                          correlation_id="c1")

    assert confirm(twilio, notice("released", "+14155550100"), [active]) is None


def test_a_released_notice_of_a_number_twilio_no_longer_has_offboards_it() -> None:
    active = on_purchased(None, "+14155550100", sid=pn_sid("+14155550100"), source="purchase",
                          correlation_id="c1")

    confirmed = confirm(FakeTwilio(), notice("purchased", "+14155550100"), [active])

    assert confirmed is not None and confirmed.action == "released"
    assert confirmed.sid == pn_sid("+14155550100")
    assert active.state is NumberState.ONBOARDING
