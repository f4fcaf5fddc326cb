"""Creates whose answer never came back (the request hung past the client timeout and landed
later) are found by their natural key before being tried again: nothing is created twice."""

from __future__ import annotations

import time
from typing import Any

import pytest
from estate import Vendors

pytestmark = pytest.mark.integration

URL = "sip:sbc9.byoc.example.net:5061;transport=tls"



def test_an_origination_url_whose_answer_was_lost_is_created_once(
        sandbox_env: dict[str, Any], vendors: Vendors) -> None:
    from byoc.adapters.twilio import TwilioAdapter
    from byoc.bootstrap import get_services
    from byoc.ports import TwilioOriginationUrl

    settings = get_services().settings
    twilio = TwilioAdapter(
        account_sid=settings.twilio_account_sid, trunk_sid=settings.twilio_trunk_sid,
        auth_token=lambda: "sandbox-twilio-auth-token", api_base=settings.twilio_api_base,
        timeout_s=1.0)
    # The create lands, its answer is held 1.2 s; the client gives up at 1 s and retries.
    vendors.fault("twilio", {"route": "/OriginationUrls$", "method": "POST", "hang": True,
                             "after": True, "hang_s": 1.2, "count": 1})

    created = twilio.create_origination_url(TwilioOriginationUrl("byoc-sbc9", URL, 30, 10))

    assert created.sip_url == URL
    urls = [u["sip_url"] for u in vendors.state("twilio")["trunks"][0]["origination_urls"]]
    assert urls.count(URL) == 1
    assert len(_posts(vendors, "/OriginationUrls")) == 1  # found by its SIP URL, not posted again


def _posts(vendors: Vendors, path: str) -> list[dict[str, Any]]:
    """The POSTs to `path` the emulator logged, once the held answer was sent and logged too (the
    retry, which waits for nothing in tests, can be done before the held answer leaves)."""
    deadline = time.monotonic() + 10.0
    while True:
        posts = [r for r in vendors.call(vendors.ports["twilio"], "GET", "/_sandbox/requests")
                 ["requests"] if r["method"] == "POST" and r["path"].endswith(path)]
        if posts or time.monotonic() > deadline:
            return posts
        time.sleep(0.05)


def test_a_did_pool_whose_answer_was_lost_is_created_once(
        sandbox_env: dict[str, Any], vendors: Vendors, monkeypatch: pytest.MonkeyPatch) -> None:
    import byoc.adapters.genesys as genesys
    from byoc.bootstrap import get_services, reset_services

    monkeypatch.setenv("BYOC_GENESYS_READ_TIMEOUT_S", "1")
    reset_services()
    services = get_services()
    adapter = genesys.GenesysAdapter.from_settings(
        services.settings, lambda: services.secret("genesys_client_secret"))
    adapter.list_did_pools()  # the SDK is built and the token fetched before the fault
    vendors.fault("genesys", {"route": "/didpools$", "method": "POST", "hang": True,
                              "after": True, "hang_s": 1.2, "count": 1})

    pool = adapter.create_did_pool("+14155553000", "+14155553009", name="byoc test",
                                   description="test managed-by:byoc")

    assert (pool.start, pool.end) == ("+14155553000", "+14155553009")
    same = [p for p in vendors.genesys_pools() if p["startPhoneNumber"] == "+14155553000"]
    assert len(same) == 1


def test_a_duplicate_origination_url_left_by_a_late_create_is_removed_by_the_next_sync(
        sandbox_env: dict[str, Any], vendors: Vendors) -> None:
    """When the late create lands after the retry did, the trunk holds the URL twice: the next
    sync keeps one."""
    from byoc.bootstrap import get_services
    from byoc.ports import TwilioOriginationUrl

    services = get_services()
    services.reconcile.sync("twilio", correlation_id="first-sync")
    mine = next(u for u in services.twilio.list_origination_urls() if "sbc1" in u.sip_url)
    services.twilio.create_origination_url(TwilioOriginationUrl(
        "byoc-sbc1", mine.sip_url, mine.priority, mine.weight))
    assert [u.sip_url for u in services.twilio.list_origination_urls()].count(mine.sip_url) == 2

    services.reconcile.sync("twilio", correlation_id="second-sync")

    assert [u.sip_url for u in services.twilio.list_origination_urls()].count(mine.sip_url) == 1
