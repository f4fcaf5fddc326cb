"""Buying numbers onto the trunk and asking for a release, on an in-memory Twilio."""

from __future__ import annotations

import pytest
from fakes import FakeInventory, FakeQueue, FakeState
from test_twilio_fakes import TRUNK, FakeTwilio

from byoc.domain.inventory import NumberState
from byoc.domain.jobs import NumberEvent, SyncTarget
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.services.numbers import NumberLifecycle
from byoc.services.purchases import (
    NumberPurchases,
    PurchaseRefused,
    ReleaseRefused,
    parse_purchase_request,
)

POLICY = """
version: 1
managed: {prefixes: ["+1415555"]}
rules: []
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
"""
AVAILABLE = ["+14155550200", "+14155550201", "+14155550202", "+14155551555", "+14152220100"]


class Shop:
    def __init__(self, available: list[str] = AVAILABLE, max_purchase: int = 5) -> None:
        self.twilio = FakeTwilio(available=list(available))
        self.inventory = FakeInventory()
        self.queue = FakeQueue()
        policy: Policy = load_policy(POLICY, "test")
        self.lifecycle = NumberLifecycle(inventory=self.inventory, state=FakeState(),
                                         queue=self.queue, policy=lambda: policy,
                                         number_targets=lambda: ["twilio"])
        self.purchases = NumberPurchases(twilio=self.twilio, inventory=self.inventory,
                                         queue=self.queue, lifecycle=lambda: self.lifecycle,
                                         policy=lambda: policy, max_purchase=max_purchase)

    def buy(self, **request: object) -> object:
        return self.purchases.buy(parse_purchase_request(request))


def test_bought_numbers_are_on_the_trunk_recorded_onboarding_and_queued() -> None:
    shop = Shop()

    result = shop.purchases.buy(parse_purchase_request({"area_code": "415", "count": 2}))

    assert result.numbers == ["+14155550200", "+14155550201"]
    assert all(shop.twilio.numbers[n].trunk_sid == TRUNK for n in result.numbers)
    assert [shop.inventory.get(n).state for n in result.numbers] == [  # type: ignore[union-attr]
        NumberState.ONBOARDING, NumberState.ONBOARDING]
    events = [j for j, _ in shop.queue.sent if isinstance(j, NumberEvent)]
    assert [(e.number, e.source, e.event_id) for e in events] == [
        (n, "purchase", f"purchase:{result.sids[n]}") for n in result.numbers]
    assert shop.twilio.calls["purchase"] == 2 and shop.twilio.calls["search_available"] == 1


def test_a_dry_run_shows_what_would_be_bought_and_buys_nothing() -> None:
    shop = Shop()

    result = shop.purchases.buy(parse_purchase_request(
        {"area_code": "415", "count": 1, "contains": "51555", "dry_run": True}))

    assert result.dry_run and result.numbers == ["+14155551555"]
    assert shop.twilio.writes == [] and shop.queue.sent == [] and shop.inventory.all() == []


def test_numbers_the_policy_does_not_manage_are_never_bought() -> None:
    shop = Shop(available=["+14152220100", "+14155550200"])

    result = shop.purchases.buy(parse_purchase_request({"area_code": "415", "count": 2}))

    assert result.numbers == ["+14155550200"]
    assert "+14152220100" in result.skipped and result.shortfall


def test_a_number_taken_meanwhile_is_skipped_for_the_next_one() -> None:
    shop = Shop()
    original = shop.twilio.purchase_number

    def taken_first(number: str) -> object:
        if number == "+14155550200":
            shop.twilio.available.remove(number)
        return original(number)

    shop.twilio.purchase_number = taken_first  # type: ignore[method-assign,assignment]

    result = shop.purchases.buy(parse_purchase_request({"area_code": "415", "count": 1}))

    assert result.numbers == ["+14155550201"] and "+14155550200" in result.skipped


def test_more_than_the_configured_maximum_is_refused_before_any_call() -> None:
    shop = Shop(max_purchase=3)

    with pytest.raises(PurchaseRefused, match="BYOC_TWILIO_MAX_PURCHASE"):
        shop.purchases.buy(parse_purchase_request({"area_code": "415", "count": 4}))
    assert sum(shop.twilio.calls.values()) == 0


def test_no_managed_number_available_is_a_clear_refusal() -> None:
    shop = Shop(available=["+14152220100"])

    with pytest.raises(PurchaseRefused, match="no available number in US area code 415"):
        shop.purchases.buy(parse_purchase_request({"area_code": "415", "count": 1}))


@pytest.mark.parametrize("body,problem", [
    ({"area_code": "41", "count": 1}, "area_code"),
    ({"area_code": "415", "count": 0}, "count"),
    ({"area_code": "415"}, "count"),
    ({"area_code": "415", "count": 1, "contains": "55-5"}, "contains"),
    ({"area_code": "415", "count": 1, "colour": "red"}, "colour"),
    (["415"], "JSON object"),
])
def test_a_malformed_request_names_the_problem(body: object, problem: str) -> None:
    with pytest.raises(PurchaseRefused, match=problem):
        parse_purchase_request(body)


def test_a_release_offboards_first_and_queues_every_number_target() -> None:
    shop = Shop()
    result = shop.purchases.buy(parse_purchase_request({"area_code": "415", "count": 1}))
    shop.queue.sent.clear()

    outcome = shop.purchases.release(result.numbers[0])

    assert outcome.state is NumberState.RELEASING
    assert shop.twilio.writes == ["purchase +14155550200"]  # nothing released at Twilio yet
    assert [j.target for j, _ in shop.queue.sent if isinstance(j, SyncTarget)] == ["twilio"]


def test_a_number_byoc_does_not_know_is_not_released() -> None:
    with pytest.raises(ReleaseRefused, match="not in byoc's inventory"):
        Shop().purchases.release("+14155550100")


def test_the_search_runs_in_the_country_asked_for_and_defaults_to_the_first_configured() -> None:
    shop = Shop()

    shop.purchases.buy(parse_purchase_request({"area_code": "415", "count": 1, "dry_run": True}))
    shop.purchases.buy(parse_purchase_request({"area_code": "415", "count": 1, "dry_run": True,
                                               "country": "ca"}))
    with pytest.raises(PurchaseRefused, match="BYOC_TWILIO_PURCHASE_COUNTRIES"):
        shop.purchases.buy(parse_purchase_request({"area_code": "415", "count": 1,
                                                   "country": "GB"}))

    assert shop.twilio.searched_countries == ["US", "CA"]
