"""A Genesys call that hangs is not replayed ten times underneath byoc (urllib3 inside the SDK did
that): a create is sent once per byoc attempt, after byoc's natural-key read, and a call safe to
repeat is sent once more, then fails naming BYOC_GENESYS_READ_TIMEOUT_S. A hang cannot outlast
the Functions host's timeout, and one lost answer does not fail a whole sync."""

from __future__ import annotations

import time
from typing import Any

import pytest
from estate import Vendors

pytestmark = pytest.mark.integration

HANG_S = 1.5
"""How long the emulator holds a call: past the 1 s read timeout the tests configure."""



@pytest.fixture
def adapter(sandbox_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> Any:
    from byoc.adapters.genesys import GenesysAdapter
    from byoc.bootstrap import get_services, reset_services

    monkeypatch.setenv("BYOC_GENESYS_READ_TIMEOUT_S", "1")
    reset_services()
    services = get_services()
    built = GenesysAdapter.from_settings(
        services.settings, lambda: services.secret("genesys_client_secret"))
    built.list_did_pools()  # the SDK is built and the token fetched before any fault
    return built


def sent(vendors: Vendors, method: str, path_end: str, expected: int) -> int:
    """Calls the emulator logged; a held call is logged once its hold ends, so wait for those."""
    deadline = time.monotonic() + HANG_S + 5
    while True:
        log = vendors.call(vendors.ports["genesys"], "GET", "/_sandbox/requests")["requests"]
        found = sum(1 for r in log if r["method"] == method and r["path"].endswith(path_end))
        if found >= expected or time.monotonic() > deadline:
            time.sleep(HANG_S)  # anything sent later than these would have arrived by now
            log = vendors.call(vendors.ports["genesys"], "GET", "/_sandbox/requests")["requests"]
            return sum(1 for r in log if r["method"] == method and r["path"].endswith(path_end))
        time.sleep(0.1)


def test_a_route_create_that_hangs_is_sent_once_and_fails_naming_the_timeout_setting(
        vendors: Vendors, adapter: Any) -> None:
    from byoc.adapters.genesys import GenesysUnavailable
    from byoc.ports import GenesysOutboundRouteSpec

    site = adapter.find_site("Azure-BYOC")
    trunk = next(iter(vendors.state("genesys")["trunk_bases"]))
    spec = GenesysOutboundRouteSpec(
        name="byoc-hang", classification_types=("National",),
        trunk_base=adapter.find_trunk_base(trunk["name"]), description="test managed-by:byoc")
    # Held, then refused: nothing lands, so byoc's read by name finds nothing and reports.
    vendors.fault("genesys", {"route": "/outboundroutes$", "method": "POST", "hang": True,
                              "hang_s": HANG_S, "status": 503})

    with pytest.raises(GenesysUnavailable) as caught:
        adapter.create_outbound_route(site, spec)

    assert "within 1 s" in str(caught.value) and "BYOC_GENESYS_READ_TIMEOUT_S" in str(caught.value)
    assert sent(vendors, "POST", "/outboundroutes", expected=1) == 1


def test_a_did_pool_create_that_hangs_is_sent_once_per_byoc_attempt(
        vendors: Vendors, adapter: Any) -> None:
    from byoc.adapters.genesys import GenesysUnavailable

    vendors.fault("genesys", {"route": "/didpools$", "method": "POST", "hang": True,
                              "hang_s": HANG_S, "status": 503})

    with pytest.raises(GenesysUnavailable, match="within 1 s"):
        adapter.create_did_pool("+14155553000", "+14155553009", name="byoc test",
                                description="test managed-by:byoc")

    # byoc's three attempts, each after a read by range; before, each was up to 11 POSTs.
    assert sent(vendors, "POST", "/didpools", expected=3) == 3
    assert [p for p in vendors.genesys_pools() if p["startPhoneNumber"] == "+14155553000"] == []


def test_a_read_that_hangs_is_sent_once_more_then_fails(vendors: Vendors, adapter: Any) -> None:
    from byoc.adapters.genesys import GenesysUnavailable

    vendors.fault("genesys", {"route": "/didpools$", "method": "GET", "hang": True,
                              "hang_s": HANG_S})

    with pytest.raises(GenesysUnavailable, match="BYOC_GENESYS_READ_TIMEOUT_S"):
        adapter.list_did_pools()

    assert sent(vendors, "GET", "/didpools", expected=1 + 2) == 1 + 2  # the warm-up, then two


def test_a_read_whose_answer_is_lost_once_is_sent_again_and_answers(
        vendors: Vendors, adapter: Any) -> None:
    vendors.fault("genesys", {"route": "/didpools$", "method": "GET", "hang": True,
                              "hang_s": HANG_S, "count": 1})

    pools = adapter.list_did_pools()

    assert {p.id for p in pools} == {p["id"] for p in vendors.genesys_pools()}
    assert sent(vendors, "GET", "/didpools", expected=1 + 2) == 1 + 2
