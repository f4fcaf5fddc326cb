"""The Genesys adapter through the real PureCloudPlatformClientV2 SDK against the sandbox org:
paging, token renewal, 429 storms with and without Retry-After, replayed creates, version
conflicts, pools that have not settled, and trunk status."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from byoc.adapters.genesys import DidPoolOverlap, GenesysAdapter
from byoc.ports import GenesysNumberInUse, GenesysPoolRangeRefused
from sandbox.core import ServedApp, build_app
from sandbox.genesys import GenesysEmulator
from sandbox.launcher import load_seed

pytestmark = pytest.mark.integration

SEED = load_seed()["genesys"]
CLIENT_ID = SEED["oauth_client"]["client_id"]
CLIENT_SECRET = SEED["oauth_client"]["client_secret"]
MINE = "Numbers byoc routes through the BYOC trunk (managed-by:byoc)"


class Org:
    """The served emulator and its control endpoints."""

    def __init__(self, emulator: GenesysEmulator, url: str) -> None:
        self.emulator = emulator
        self.url = url

    def fault(self, **spec: Any) -> None:
        httpx.post(f"{self.url}/_sandbox/faults", json=spec).raise_for_status()

    def limits(self, **limits: Any) -> None:
        httpx.post(f"{self.url}/_sandbox/genesys/limits", json=limits).raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_sandbox/requests").json()["requests"])

    def advance(self, seconds: float) -> None:
        httpx.post(f"{self.url}/_sandbox/genesys/clock",
                   json={"advance_s": seconds}).raise_for_status()


class Time:
    """The adapter's clock and sleep: sleeping moves the emulator's clock, not the test's."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.org.advance(seconds)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[GenesysEmulator, str]]:
    emulator = GenesysEmulator(SEED)
    server = ServedApp(build_app(emulator)).start()
    try:
        yield emulator, server.url
    finally:
        server.stop()


@pytest.fixture
def org(served: tuple[GenesysEmulator, str]) -> Org:
    emulator, url = served
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    return Org(emulator, url)


@pytest.fixture
def time_(org: Org) -> Time:
    return Time(org)


@pytest.fixture
def adapter(org: Org, time_: Time) -> GenesysAdapter:
    return GenesysAdapter(base_url=org.url, client_id=CLIENT_ID,
                          client_secret=lambda: CLIENT_SECRET, clock=time_.clock,
                          sleep=time_.sleep, settle_delays_s=(0.5, 1.0, 1.0))


def test_every_page_of_pools_is_read(org: Org, adapter: GenesysAdapter) -> None:
    for i in range(99):
        org.emulator.org.create_pool(
            {"startPhoneNumber": f"+1628555{i:04d}", "endPhoneNumber": f"+1628555{i:04d}"}, 0.0)

    pools = adapter.list_did_pools()

    assert len(pools) == 101
    assert [r["query"] for r in org.requests() if r["path"].endswith("/didpools")] == [
        "pageSize=100&pageNumber=1&sortBy=number", "pageSize=100&pageNumber=2&sortBy=number"]


def test_an_expired_token_is_renewed_once_and_the_call_goes_through(
    org: Org, adapter: GenesysAdapter,
) -> None:
    adapter.list_ivrs()
    org.fault(kind="token_expiry", count=1)

    ivrs = adapter.list_ivrs()

    assert {i.name for i in ivrs} == {"Main IVR", "Sales IVR"}
    assert adapter.tokens.requests == 2
    assert [r["status"] for r in org.requests() if r["path"] == "/api/v2/architect/ivrs"] == [
        200, 401, 200]


def test_the_token_is_renewed_before_it_expires(org: Org, adapter: GenesysAdapter,
                                                time_: Time) -> None:
    adapter.list_ivrs()
    time_.sleep(86_400 - 60)  # a day minus a minute: inside the renewal margin

    adapter.list_ivrs()

    assert adapter.tokens.requests == 2
    assert 401 not in {r["status"] for r in org.requests()}


def test_a_429_storm_with_retry_after_is_absorbed_by_the_adapter(
    org: Org, adapter: GenesysAdapter,
) -> None:
    org.fault(kind="rate_limited", count=6, params={"retry_after": 0})

    pool = adapter.create_did_pool("+16285550100", "+16285550199", name="byoc a", description=MINE)

    statuses = [r["status"] for r in org.requests() if r["path"].endswith("/didpools")]
    assert statuses.count(429) == 6
    assert [p.id for p in adapter.list_did_pools()].count(pool.id) == 1


def test_a_429_storm_without_retry_after_is_retried_with_backoff(
    org: Org, adapter: GenesysAdapter, time_: Time,
) -> None:
    org.fault(kind="rate_limited", count=3, params={"retry_after": None})

    adapter.create_did_pool("+16285550100", "+16285550199", name="byoc a", description=MINE)

    assert len(time_.slept) == 3
    assert len([p for p in adapter.list_did_pools() if p.start == "+16285550100"]) == 1


def test_a_low_rate_limit_is_respected_from_the_headers_without_meeting_a_429(
    org: Org, adapter: GenesysAdapter, time_: Time,
) -> None:
    org.limits(rate_limit_per_minute=5, rate_limit_retry_after=False)

    for _ in range(12):
        adapter.list_ivrs()

    assert 429 not in {r["status"] for r in org.requests()}
    assert len(time_.slept) == 2  # the window was spent twice and the adapter waited it out


def test_a_create_that_landed_before_an_error_is_found_by_its_range_not_doubled(
    org: Org, adapter: GenesysAdapter,
) -> None:
    landed = org.emulator.org.create_pool(
        {"startPhoneNumber": "+16285550100", "endPhoneNumber": "+16285550199",
         "description": MINE}, 0.0)
    org.fault(route="/didpools$", method="POST", status=503, count=1,
              body={"message": "upstream timed out", "code": "service.unavailable",
                    "status": 503})

    pool = adapter.create_did_pool("+16285550100", "+16285550199", name="byoc a", description=MINE)

    assert pool.id == landed.id
    assert len([p for p in adapter.list_did_pools() if p.start == "+16285550100"]) == 1


def test_a_pool_overlapping_a_foreign_pool_is_refused_with_its_range(
    adapter: GenesysAdapter,
) -> None:
    with pytest.raises(DidPoolOverlap, match=r"\+14155550950-\+14155551000 overlaps"):
        adapter.create_did_pool("+14155550950", "+14155551000", name="x", description=MINE)


def test_a_version_conflict_is_reread_and_the_change_reapplied(
    org: Org, adapter: GenesysAdapter,
) -> None:
    main = next(i for i in adapter.list_ivrs() if i.name == "Main IVR")
    org.fault(kind="version_conflict", count=2)

    saved = adapter.update_ivr_dnis(main, add=("+14155550102",))

    assert saved.dnis == ("+14155550100", "+14155550102")
    assert [r["status"] for r in org.requests() if r["method"] == "PUT"] == [409, 409, 200]


def test_a_number_of_a_pool_that_has_not_settled_is_retried(
    org: Org, adapter: GenesysAdapter, time_: Time,
) -> None:
    adapter.create_did_pool("+14155550110", "+14155550119", name="byoc b", description=MINE)
    main = next(i for i in adapter.list_ivrs() if i.name == "Main IVR")
    org.fault(kind="eventual_consistency", count=2)

    saved = adapter.update_ivr_dnis(main, add=("+14155550110",))

    assert "+14155550110" in saved.dnis and time_.slept == [0.5, 1.0]


def test_a_number_a_user_holds_is_refused_with_the_number(adapter: GenesysAdapter) -> None:
    main = next(i for i in adapter.list_ivrs() if i.name == "Main IVR")

    with pytest.raises(GenesysNumberInUse) as refused:
        adapter.update_ivr_dnis(main, add=("+14155550101",))
    assert refused.value.number == "+14155550101"


def test_a_users_work_phone_is_replaced_and_other_addresses_kept(adapter: GenesysAdapter) -> None:
    (alice,) = adapter.find_users(["ALICE@example.com"])

    saved = adapter.update_user_phones(alice, remove=("+14155550101",), work="+14155550105")

    assert saved.phones() == ["+14155550105"] and saved.version == alice.version + 1
    assert adapter.find_users(["nobody@example.com"]) == []


def set_contacts(org: Org, email: str, contacts: list[dict[str, Any]]) -> None:
    """Give a user these contacts as an admin would (raw PATCH, another token)."""
    token = httpx.post(f"{org.url}/oauth/token", data={"grant_type": "client_credentials"},
                       auth=(CLIENT_ID, CLIENT_SECRET)).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    users = httpx.get(f"{org.url}/api/v2/users", headers=headers).json()["entities"]
    user = next(u for u in users if u["email"] == email)
    httpx.patch(f"{org.url}/api/v2/users/{user['id']}", headers=headers,
                json={"version": user["version"], "addresses": contacts}).raise_for_status()


def test_a_users_extension_and_display_only_contacts_survive_a_phone_change(
    org: Org, adapter: GenesysAdapter
) -> None:
    set_contacts(org, "alice@example.com", [
        {"address": "+14155550101", "extension": "4101", "mediaType": "PHONE", "type": "WORK"},
        {"display": "ext. 2044", "mediaType": "PHONE", "type": "WORK2"},
        {"address": "+14155557777", "extension": "77", "mediaType": "PHONE", "type": "MOBILE"},
    ])
    (alice,) = adapter.find_users(["alice@example.com"])

    adapter.update_user_phones(alice, remove=("+14155557777",), work="+14155550105")
    (saved,) = adapter.find_users(["alice@example.com"])

    kept = {c.type: (c.address, c.extension, c.display) for c in saved.addresses
            if c.media_type == "PHONE"}
    assert kept["WORK"][:2] == ("+14155550105", "4101")
    assert kept["WORK2"] == (None, None, "ext. 2044")
    assert kept["MOBILE"][:2] == (None, "77")


def test_the_assigned_numbers_of_a_pool_name_their_holders(adapter: GenesysAdapter) -> None:
    pool = next(p for p in adapter.list_did_pools() if p.start == "+14155550100")

    dids = adapter.list_pool_dids(pool)

    assert {(d.number, d.owner_type, d.owner_name) for d in dids} == {
        ("+14155550100", "IVR_CONFIG", "Main IVR"), ("+14155550101", "USER", "Alice Example")}


def test_trunk_status_reports_connection_and_options_per_proxy(
    org: Org, adapter: GenesysAdapter,
) -> None:
    httpx.post(f"{org.url}/_sandbox/genesys/trunk-status", json={
        "connected": False, "options": {"sbc2.byoc.example.net": False}}).raise_for_status()

    (trunk,) = adapter.read_trunk_status("Twilio-BYOC")

    assert trunk.name == "Twilio-BYOC" and trunk.in_service and not trunk.connected
    assert [(p.proxy_address, p.ok, p.error) for p in trunk.options] == [
        ("sbc1.byoc.example.net", True, None),
        ("sbc2.byoc.example.net", False, "SIP OPTIONS timed out")]


def test_outbound_routes_of_every_site_are_read_in_one_call(
    org: Org, adapter: GenesysAdapter,
) -> None:
    routes = adapter.list_outbound_routes()

    assert [(r.name, r.site.name if r.site else None) for r in routes] == [
        ("Twilio-Outbound", "Azure-BYOC")]
    assert len(org.requests()) == 2  # the token, then one listing


def test_a_409_that_does_not_name_the_version_is_still_a_version_conflict(
    org: Org, adapter: GenesysAdapter,
) -> None:
    httpx.post(f"{org.url}/_sandbox/variants", json={"conflict_text": "bare"}).raise_for_status()
    main = next(i for i in adapter.list_ivrs() if i.name == "Main IVR")
    org.fault(kind="version_conflict", count=1)

    saved = adapter.update_ivr_dnis(main, add=("+14155550102",))

    assert [r["status"] for r in org.requests() if r["method"] == "PUT"] == [409, 200]
    assert saved.dnis == ("+14155550100", "+14155550102")


def variant(org: Org, **chosen: str) -> None:
    httpx.post(f"{org.url}/_sandbox/variants", json=chosen).raise_for_status()


def test_a_pool_range_changes_in_place_keeping_its_id(adapter: GenesysAdapter) -> None:
    pool = next(p for p in adapter.list_did_pools() if p.start == "+14155550100")

    resized = adapter.resize_did_pool(pool, "+14155550100", "+14155550119", name="byoc wider")

    assert (resized.id, resized.start, resized.end) == (pool.id, "+14155550100", "+14155550119")
    assert resized.description == pool.description


def test_a_listed_pool_changes_range_without_a_read_and_a_stale_version_is_read_again(
    org: Org, adapter: GenesysAdapter, time_: Time,
) -> None:
    pool = next(p for p in adapter.list_did_pools() if p.start == "+14155550100")
    other = GenesysAdapter(base_url=org.url, client_id=CLIENT_ID,
                           client_secret=lambda: CLIENT_SECRET, clock=time_.clock,
                           sleep=time_.sleep)
    seen = len(org.requests())

    adapter.resize_did_pool(pool, "+14155550100", "+14155550110", name="byoc wider")
    first = [r["method"] for r in org.requests()[seen:] if pool.id in r["path"]]
    other.resize_did_pool(pool, "+14155550100", "+14155550111", name="someone else")
    seen = len(org.requests())
    again = adapter.resize_did_pool(pool, "+14155550100", "+14155550112", name="byoc again")
    second = [r["method"] for r in org.requests()[seen:] if pool.id in r["path"]]

    assert first == ["PUT"]  # the listing gave its version and fields
    assert second == ["PUT", "GET", "GET", "PUT"]  # 409, read (version moved), read, PUT
    assert (again.end, again.description, again.name) == (
        "+14155550112", pool.description, "byoc again")


@pytest.mark.parametrize("answer", ["refuses-stranding", "refuses-any"])
def test_a_refused_range_change_is_told_apart_from_a_version_conflict(
    org: Org, adapter: GenesysAdapter, answer: str,
) -> None:
    variant(org, pool_range_change=answer)
    pool = next(p for p in adapter.list_did_pools() if p.start == "+14155550100")

    # +14155550101 is Alice's and +14155550100 the Main IVR's: the new range leaves them out
    with pytest.raises(GenesysPoolRangeRefused):
        adapter.resize_did_pool(pool, "+14155550102", "+14155550109", name="byoc narrower")

    assert next(p for p in adapter.list_did_pools() if p.id == pool.id).start == "+14155550100"


def test_a_create_overlapping_a_pool_byoc_just_deleted_waits_for_the_deletion_to_show(
    org: Org, adapter: GenesysAdapter, time_: Time,
) -> None:
    variant(org, pool_delete_lag="lagging")
    pool = adapter.create_did_pool("+16285550100", "+16285550199", name="byoc a", description=MINE)
    adapter.delete_did_pool(pool)

    again = adapter.create_did_pool("+16285550150", "+16285550249", name="byoc b",
                                    description=MINE)

    assert again.id != pool.id and time_.slept, "the create waited for the lagging deletion"
    active = [p for p in adapter.list_did_pools() if p.state != "deleted"
              and p.start.startswith("+1628555")]
    assert [(p.start, p.end) for p in active] == [("+16285550150", "+16285550249")]


def test_a_create_overlapping_a_pool_someone_else_holds_is_refused_at_once(
    org: Org, adapter: GenesysAdapter, time_: Time,
) -> None:
    variant(org, pool_delete_lag="lagging")

    with pytest.raises(DidPoolOverlap):
        adapter.create_did_pool("+14155550950", "+14155551000", name="x", description=MINE)
    assert time_.slept == []


@pytest.mark.parametrize("how", ["substring", "prefix", "exact"])
def test_pool_numbers_are_looked_up_by_number_whatever_numbermatch_matches(
    org: Org, adapter: GenesysAdapter, how: str,
) -> None:
    org.emulator.set_variants({"dids_number_match": how})
    pools = {p.start: p.id for p in adapter.list_did_pools()}

    found = adapter.find_pool_numbers(
        ["+14155550100", "+14155550101", "+14155550105", "+14155550110", "+14155550905"])

    assert {(n.number, n.pool_id, n.assigned, n.owner_type) for n in found} == {
        ("+14155550100", pools["+14155550100"], True, "IVR_CONFIG"),
        ("+14155550101", pools["+14155550100"], True, "USER"),
        ("+14155550105", pools["+14155550100"], False, ""),
        ("+14155550905", pools["+14155550900"], False, ""),
    }  # +14155550110 is in no pool
    lookups = [r for r in org.requests() if r["path"].endswith("/didpools/dids")]
    assert len(lookups) == 5


def test_pools_are_read_by_id_and_an_ivr_with_its_shards_by_name(adapter: GenesysAdapter) -> None:
    pools = adapter.list_did_pools()
    main = next(i for i in adapter.list_ivrs() if i.name == "Main IVR")
    shard = adapter.create_ivr(main, name="Main IVR [byoc 2]",
                               description=f"shard (shard-of:{main.id}, managed-by:byoc)")
    adapter.create_ivr(main, name="Main IVR Spare", description="someone else's")

    read = adapter.read_did_pools([pools[0].id])
    family = adapter.find_ivrs("main ivr")

    assert read == [pools[0]]
    assert sorted(i.id for i in family) == sorted([main.id, shard.id])
