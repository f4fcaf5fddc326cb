"""The Twilio adapter through the real twilio SDK against the sandbox emulator.

Paged reads, 429/20429 backoff without duplicates (including a purchase whose answer never
arrived), bounded concurrency under the account's concurrency limit, and Monitor events.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from byoc.adapters.retry import Backoff
from byoc.adapters.twilio import TwilioAdapter
from byoc.ports import TwilioError, TwilioNumberUnavailable, TwilioRateLimited
from sandbox.core import ServedApp, build_app
from sandbox.launcher import load_seed
from sandbox.twilio import TwilioEmulator

pytestmark = pytest.mark.integration

SEED = load_seed()["twilio"]
ACCOUNT = SEED["account"]["sid"]
TOKEN = SEED["account"]["auth_token"]
TRUNK = SEED["trunks"][0]["sid"]
RATE_LIMITED = {"code": 20429, "message": "Too Many Requests", "status": 429,
                "more_info": "https://www.twilio.com/docs/errors/20429"}


@pytest.fixture(scope="module")
def server() -> Iterator[ServedApp]:
    served = ServedApp(build_app(TwilioEmulator(load_seed()["twilio"]))).start()
    yield served
    served.stop()


@pytest.fixture
def sandbox(server: ServedApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        http.post("/_sandbox/reset").raise_for_status()
        http.delete("/_sandbox/faults").raise_for_status()
        yield http


def adapter(server: ServedApp, **options: Any) -> TwilioAdapter:
    sleeps: list[float] = options.pop("sleeps", [])
    defaults: dict[str, Any] = {"retry": Backoff(attempts=4, base_s=0.01),
                                "sleep": sleeps.append}
    return TwilioAdapter(account_sid=ACCOUNT, trunk_sid=TRUNK, auth_token=lambda: TOKEN,
                         api_base=server.url, **{**defaults, **options})


def state(sandbox: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = sandbox.get("/_sandbox/state").json()
    return body


def owned(sandbox: httpx.Client, number: str) -> list[dict[str, Any]]:
    return [n for n in state(sandbox)["numbers"] if n["phone_number"] == number]


def test_reads_follow_every_page(server: ServedApp, sandbox: httpx.Client) -> None:
    twilio = adapter(server, page_size=7)

    trunk_numbers = twilio.list_trunk_numbers()
    account_numbers = twilio.list_account_numbers()

    assert len(trunk_numbers) == 20 and len({n.sid for n in trunk_numbers}) == 20
    assert len(account_numbers) == 21
    assert {n.trunk_sid for n in trunk_numbers} == {TRUNK}
    paths = [r["path"] for r in sandbox.get("/_sandbox/requests").json()["requests"]]
    assert sum(1 for p in paths if "/Trunks/" in p and p.endswith("/PhoneNumbers")) == 3
    assert sum(1 for p in paths if p.endswith("/IncomingPhoneNumbers.json")) == 3


def test_a_rate_limited_purchase_is_retried_and_bought_once(server: ServedApp,
                                                            sandbox: httpx.Client) -> None:
    sandbox.post("/_sandbox/faults", json={
        "route": "IncomingPhoneNumbers.json$", "method": "POST", "status": 429,
        "body": RATE_LIMITED, "headers": {"Retry-After": "0"}, "count": 2}).raise_for_status()
    sleeps: list[float] = []

    bought = adapter(server, sleeps=sleeps).purchase_number("+14155550300")

    assert bought.trunk_sid == TRUNK and len(owned(sandbox, "+14155550300")) == 1
    assert sleeps == [0.0, 0.0]  # Retry-After honoured


def test_a_purchase_whose_answer_was_lost_is_found_not_bought_twice(server: ServedApp,
                                                                     sandbox: httpx.Client) -> None:
    # The first attempt gets a 502, yet (as with a lost answer) the number was bought meanwhile:
    # before retrying, the adapter looks the number up by its natural key and does not buy again.
    sandbox.post("/_sandbox/faults", json={
        "route": "IncomingPhoneNumbers.json$", "method": "POST", "status": 502,
        "body": {"code": 20500, "message": "Internal Server Error", "status": 502},
        "count": 1}).raise_for_status()
    landed = adapter(server)
    twilio = adapter(server, sleep=lambda _: landed.purchase_number("+14155550301"))

    bought = twilio.purchase_number("+14155550301")

    assert bought.phone_number == "+14155550301" and bought.trunk_sid == TRUNK
    assert len(owned(sandbox, "+14155550301")) == 1
    posts = [r for r in sandbox.get("/_sandbox/requests").json()["requests"]
             if r["method"] == "POST" and r["path"].endswith("IncomingPhoneNumbers.json")]
    assert len(posts) == 2  # the failed attempt and the one that landed; no third


def test_rate_limiting_that_never_ends_is_a_clear_error(server: ServedApp,
                                                        sandbox: httpx.Client) -> None:
    sandbox.post("/_sandbox/faults", json={
        "route": "/Trunks/", "status": 429, "body": RATE_LIMITED}).raise_for_status()

    with pytest.raises(TwilioRateLimited, match="BYOC_TWILIO_CONCURRENCY"):
        adapter(server).fetch_trunk()


def test_associations_stay_under_the_account_concurrency_limit(server: ServedApp,
                                                               sandbox: httpx.Client) -> None:
    numbers = [f"+141555502{i:02d}" for i in range(8)]
    for number in numbers:
        sandbox.post("/_sandbox/twilio/purchase", json={"phone_number": number}).raise_for_status()
    sandbox.post("/_sandbox/twilio/limits", json={"concurrency": 2}).raise_for_status()
    sandbox.post("/_sandbox/faults", json={"kind": "slow", "latency_ms": 100,
                                           "route": "PhoneNumbers"}).raise_for_status()
    twilio = adapter(server, concurrency=4, retry=Backoff(attempts=8, base_s=0.05, jitter=True),
                     sleep=time.sleep)
    to_add = [n for n in twilio.list_account_numbers() if n.phone_number in numbers]
    checks: list[int] = []

    failures = twilio.associate_numbers(to_add, lambda: checks.append(1))

    assert failures == {}
    limits = state(sandbox)["limits"]
    assert limits["max_in_flight"] <= 2 and limits["rejected"] > 0
    assert {n.phone_number for n in twilio.list_trunk_numbers()} >= set(numbers)
    assert len(checks) == len(numbers)


def test_associating_a_number_already_on_the_trunk_is_fine_and_another_trunk_is_refused(
        server: ServedApp, sandbox: httpx.Client) -> None:
    twilio = adapter(server)
    on_trunk = twilio.list_trunk_numbers()[0]

    assert twilio.associate_numbers([on_trunk], lambda: None) == {}
    other = sandbox.post("/_sandbox/twilio/purchase", json={"phone_number": "+14155550310"}).json()
    failures = twilio.associate_numbers(
        [type(on_trunk)(sid=other["sid"], phone_number="+14155550310"),
         type(on_trunk)(sid="PN" + "0" * 32, phone_number="+14155550311")], lambda: None)

    assert set(failures) == {"+14155550311"} and "not owned" in failures["+14155550311"]


def test_a_number_no_longer_available_is_reported_as_unavailable(server: ServedApp,
                                                                 sandbox: httpx.Client) -> None:
    with pytest.raises(TwilioNumberUnavailable, match="21422"):
        adapter(server).purchase_number("+19995550100")


def test_search_then_release(server: ServedApp, sandbox: httpx.Client) -> None:
    twilio = adapter(server)
    [first] = twilio.search_available(country="US", area_code="628", contains=None, limit=1)
    bought = twilio.purchase_number(first)

    assert twilio.release_numbers([bought], lambda: None) == {}
    assert twilio.release_numbers([bought], lambda: None) == {}  # already gone is fine
    assert twilio.fetch_number(bought.sid) is None and not owned(sandbox, first)


def test_monitor_events_name_the_number_and_its_trunk_change(server: ServedApp,
                                                             sandbox: httpx.Client) -> None:
    twilio = adapter(server, page_size=2)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    sandbox.post("/_sandbox/twilio/purchase", json={"phone_number": "+14155550320"})
    bought = twilio.purchase_number("+14155550321")
    twilio.release_numbers([bought], lambda: None)

    events = twilio.list_number_events(since)

    assert [(e.event_type, e.phone_number) for e in events] == [
        ("phone-number.created", "+14155550320"),
        ("phone-number.created", "+14155550321"),
        ("phone-number.deleted", "+14155550321"),
    ]
    assert events[1].trunk_sid == (None, TRUNK) and events[2].trunk_sid == (TRUNK, None)


def test_origination_urls_are_created_once_updated_and_deleted(server: ServedApp,
                                                               sandbox: httpx.Client) -> None:
    from byoc.ports import TwilioOriginationUrl

    sandbox.post("/_sandbox/faults", json={
        "route": "OriginationUrls$", "method": "POST", "status": 429, "body": RATE_LIMITED,
        "count": 1}).raise_for_status()
    twilio = adapter(server)
    wanted = TwilioOriginationUrl("byoc-sbc3", "sip:sbc3.byoc.example.net:5061;transport=tls",
                                  30, 10)

    created = twilio.create_origination_url(wanted)
    updated = twilio.update_origination_url(TwilioOriginationUrl(
        "byoc-sbc3", wanted.sip_url, 40, 5, sid=created.sid))
    assert (updated.priority, updated.weight) == (40, 5)
    assert [u.sip_url for u in twilio.list_origination_urls()].count(wanted.sip_url) == 1
    twilio.delete_origination_url(str(created.sid))
    assert wanted.sip_url not in [u.sip_url for u in twilio.list_origination_urls()]


def test_a_rotated_auth_token_is_read_again_on_401_once(server: ServedApp,
                                                        sandbox: httpx.Client) -> None:
    # The process read the token before it was rotated in Key Vault; the next read has the new one.
    tokens = iter(["token-before-the-rotation", TOKEN, "never read"])
    twilio = TwilioAdapter(account_sid=ACCOUNT, trunk_sid=TRUNK, auth_token=lambda: next(tokens),
                           api_base=server.url, sleep=lambda s: None)

    trunk = twilio.fetch_trunk()
    again = twilio.fetch_trunk()

    assert trunk.sid == again.sid == TRUNK
    assert next(tokens) == "never read"  # read twice: at first use and once on the 401


def test_a_wrong_auth_token_fails_after_one_reread_naming_the_setting(
        server: ServedApp) -> None:
    reads: list[int] = []

    def token() -> str:
        reads.append(1)
        return "wrong-token"

    twilio = TwilioAdapter(account_sid=ACCOUNT, trunk_sid=TRUNK, auth_token=token,
                           api_base=server.url, sleep=lambda s: None)

    with pytest.raises(TwilioError, match="auth token"):
        twilio.fetch_trunk()
    assert len(reads) == 2


def test_available_numbers_are_searched_in_the_country_asked_for(server: ServedApp) -> None:
    twilio = adapter(server)

    canadian = twilio.search_available(country="CA", area_code="604", contains=None, limit=2)
    none_in_us = twilio.search_available(country="US", area_code="604", contains=None, limit=2)

    assert canadian == ["+16045550100", "+16045550101"] and none_in_us == []
