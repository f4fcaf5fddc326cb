"""The Genesys reconciler through the real SDK against the sandbox org: onboarding contiguous and
scattered numbers, a foreign pool, version conflicts, 429 storms, a token expiring mid-run, pools
that have not settled, and offboarding. Prints the API calls a 1,000-number onboarding costs."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import FakeLease

from byoc.adapters.genesys import GenesysAdapter
from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.plan import Plan
from byoc.domain.policy_file import load_policy
from byoc.services.genesys_reconciler import GenesysReconciler
from byoc.services.reconcile import desired_state
from byoc.settings import Settings, load_settings
from sandbox.core import ServedApp, build_app
from sandbox.genesys import GenesysEmulator
from sandbox.launcher import load_seed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEED = load_seed()["genesys"]
POLICY = load_policy((ROOT / "sandbox" / "policy.sandbox.yaml").read_text(), "sandbox policy")
TRUNK_NUMBERS = [f"+141555501{i:02d}" for i in range(20)]  # +14155550100..119, routed to Main IVR


class Org:
    """The served emulator: faults, request log, state."""

    def __init__(self, emulator: GenesysEmulator, url: str) -> None:
        self.emulator = emulator
        self.url = url

    def fault(self, **spec: Any) -> None:
        httpx.post(f"{self.url}/_sandbox/faults", json=spec).raise_for_status()

    def forget_requests(self) -> None:
        httpx.delete(f"{self.url}/_sandbox/requests").raise_for_status()

    def requests(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/_sandbox/requests").json()["requests"])

    def api_calls(self) -> Counter[str]:
        """Platform API calls by route, token requests left out."""
        return Counter(f"{r['method']} {r['route']}" for r in self.requests()
                       if r["route"] != "/oauth/token")

    def state(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sandbox/state").json())

    def pools(self) -> list[tuple[str, str, str]]:
        return sorted((p["startPhoneNumber"], p["endPhoneNumber"], p["name"])
                      for p in self.state()["did_pools"] if p["state"] != "deleted")

    def dnis(self, ivr: str) -> list[str]:
        return sorted(next(i for i in self.state()["ivrs"] if i["name"] == ivr)["dnis"])

    def owners(self) -> dict[str, str]:
        return {d["number"]: d["ownerName"] for d in self.state()["dids"]}


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


def settings_for(org: Org) -> Settings:
    return load_settings(
        twilio_account_sid="AC" + "0" * 32, twilio_trunk_sid="TK" + "0" * 32,
        twilio_auth_token="unused", sbc_password="unused",
        storage_connection_string="UseDevelopmentStorage=true",
        policy_path=str(ROOT / "sandbox" / "policy.sandbox.yaml"),
        sbcs=[{"name": "sbc1", "management_url": "https://127.0.0.1:9", "fqdn": "sbc1.example"}],
        genesys_api_base=org.url, genesys_client_id=SEED["oauth_client"]["client_id"],
        genesys_client_secret=SEED["oauth_client"]["client_secret"],
        genesys_site_name="Azure-BYOC", genesys_trunk_base_name="Twilio-BYOC",
    )


class Genesys:
    """One adapter (so one token) and a reconciler per sync, as the function app runs them."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.settings = settings_for(org)
        self.slept: list[float] = []
        self.port = GenesysAdapter(  # waits are counted, not slept
            base_url=self.settings.genesys_base_url, client_id=self.settings.genesys_client_id,
            client_secret=lambda: str(SEED["oauth_client"]["client_secret"]),
            sleep=self.slept.append, settle_delays_s=(0.0,) * 5)

    def sync(self, present: list[str], releasing: list[str] | None = None
             ) -> tuple[Plan, list[str]]:
        records = [NumberRecord(n, NumberState.ACTIVE) for n in present]
        records += [NumberRecord(n, NumberState.RELEASING) for n in releasing or []]
        reconciler = GenesysReconciler(self.settings, self.port)
        wanted = reconciler.desired(desired_state(records, POLICY))
        plan = reconciler.plan(reconciler.read_actual(), wanted)
        reconciler.apply(plan, FakeLease())
        return plan, reconciler.verify(wanted)


@pytest.fixture
def genesys(org: Org) -> Genesys:
    return Genesys(org)


def block(first: int, count: int) -> list[str]:
    return [f"+{first + i}" for i in range(count)]


# --- onboarding -------------------------------------------------------------------------------


def test_the_trunks_numbers_get_pools_and_the_policys_routes(org: Org, genesys: Genesys) -> None:
    _plan, problems = genesys.sync([*TRUNK_NUMBERS, "+14155550150"])

    assert problems == []
    assert org.pools() == [  # the seeded pool of byoc's (..109) grew in place
        ("+14155550100", "+14155550119", "byoc +14155550100-+14155550119"),
        ("+14155550150", "+14155550150", "byoc +14155550150-+14155550150"),
        ("+14155550900", "+14155550999", "HQ"),
    ]
    assert org.dnis("Main IVR") == TRUNK_NUMBERS  # +14155550101 moved here from alice
    owners = org.owners()
    assert owners["+14155550150"] == "Alice Example" and owners["+14155550101"] == "Main IVR"
    assert genesys.sync([*TRUNK_NUMBERS, "+14155550150"])[0].is_empty


def test_onboarding_a_thousand_contiguous_numbers_costs_at_most_thirty_calls(
    org: Org, genesys: Genesys,
) -> None:
    genesys.sync(TRUNK_NUMBERS)
    org.forget_requests()
    thousand = block(14155551000, 1000)

    _, problems = genesys.sync(TRUNK_NUMBERS + thousand)

    calls = org.api_calls()
    print(f"\nGenesys calls to onboard 1,000 contiguous numbers: {sum(calls.values())} "
          f"(token requests excluded) {dict(calls)}")
    assert problems == []
    assert org.dnis("Sales IVR") == sorted(["+14155550900", *thousand])
    assert calls["PUT /api/v2/architect/ivrs/{ivrId}"] == 20
    assert sum(calls.values()) <= 30


def test_scattered_numbers_get_one_pool_per_run(org: Org, genesys: Genesys) -> None:
    genesys.sync(TRUNK_NUMBERS)
    org.forget_requests()
    picked = sorted(random.Random(7).sample(range(14155552000, 14155553000), 100))
    scattered = [f"+{v}" for v in picked]
    runs = 1 + sum(1 for a, b in itertools.pairwise(picked) if b != a + 1)

    _, problems = genesys.sync(TRUNK_NUMBERS + scattered)

    calls = org.api_calls()
    print(f"\nGenesys calls to onboard 100 scattered numbers ({runs} runs): "
          f"{sum(calls.values())} {dict(calls)}")
    assert problems == []
    assert calls["POST /api/v2/telephony/providers/edges/didpools"] == runs
    assert set(scattered) <= set(org.dnis("Sales IVR"))


def test_a_managed_number_inside_the_foreign_pool_is_routed_without_a_pool_of_byocs(
    org: Org, genesys: Genesys,
) -> None:
    plan, problems = genesys.sync(["+14155550950"])

    assert problems == []
    assert ("+14155550950", "+14155550950") not in [p[:2] for p in org.pools()]
    assert org.owners()["+14155550950"] == "Main IVR"
    assert org.owners()["+14155550900"] == "Sales IVR"  # not managed here: left alone
    assert any("foreign DID pool 'HQ'" in n for n in plan.notes)


# --- faults --------------------------------------------------------------------------------------


def test_onboarding_survives_version_conflicts(org: Org, genesys: Genesys) -> None:
    org.fault(kind="version_conflict", count=3)

    _, problems = genesys.sync(TRUNK_NUMBERS + block(14155551000, 120))

    assert problems == []
    assert set(block(14155551000, 120)) <= set(org.dnis("Sales IVR"))
    statuses = Counter(r["status"] for r in org.requests() if r["method"] == "PUT")
    assert statuses[409] == 3


def test_onboarding_survives_429_storms_and_creates_no_duplicate_pool(
    org: Org, genesys: Genesys,
) -> None:
    org.fault(kind="rate_limited", count=12, params={"retry_after": 0})
    org.fault(kind="rate_limited", route="didpools", method="POST", count=3,
              params={"retry_after": None})

    _, problems = genesys.sync(TRUNK_NUMBERS + block(14155551000, 100))

    assert problems == []
    assert [p for p in org.pools() if p[0] == "+14155551000"] == [
        ("+14155551000", "+14155551099", "byoc +14155551000-+14155551099")]
    assert Counter(r["status"] for r in org.requests())[429] == 15
    assert len(genesys.slept) >= 3


def test_a_token_expiring_mid_run_is_renewed_and_the_run_finishes(
    org: Org, genesys: Genesys,
) -> None:
    org.fault(kind="token_expiry", route="/architect/ivrs/", method="PUT", count=1)

    _, problems = genesys.sync(TRUNK_NUMBERS + block(14155551000, 100))

    assert problems == []
    assert genesys.port.tokens.requests == 2
    assert set(block(14155551000, 100)) <= set(org.dnis("Sales IVR"))


def test_numbers_of_a_new_pool_are_retried_until_the_pool_settles(
    org: Org, genesys: Genesys,
) -> None:
    org.fault(kind="eventual_consistency", count=2)

    _, problems = genesys.sync(TRUNK_NUMBERS)

    assert problems == []
    assert org.dnis("Main IVR") == TRUNK_NUMBERS
    refused = [r for r in org.requests() if r["method"] == "PUT" and r["status"] == 400]
    assert len(refused) == 2


# --- offboarding ----------------------------------------------------------------------------------


def test_releasing_numbers_unroutes_them_and_keeps_every_other_number_pooled(
    org: Org, genesys: Genesys,
) -> None:
    genesys.sync(TRUNK_NUMBERS)
    pools_before = {p["id"] for p in org.state()["did_pools"]}
    leaving = ["+14155550105", "+14155550106", "+14155550118", "+14155550119"]

    plan, problems = genesys.sync([n for n in TRUNK_NUMBERS if n not in leaving], leaving)

    assert problems == []
    assert plan.numbers_removed() == set(leaving)
    # the pool shrinks in place at its end; the gap inside stays in it
    assert [p[:2] for p in org.pools()] == [
        ("+14155550100", "+14155550117"), ("+14155550900", "+14155550999")]
    assert {p["id"] for p in org.state()["did_pools"]} == pools_before
    assert org.dnis("Main IVR") == [n for n in TRUNK_NUMBERS if n not in leaving]
    assert not set(leaving) & set(org.owners())


def test_releasing_every_number_leaves_only_the_foreign_pool(org: Org, genesys: Genesys) -> None:
    genesys.sync([*TRUNK_NUMBERS, "+14155550150", "+14155550950"])

    _, problems = genesys.sync([], [*TRUNK_NUMBERS, "+14155550150", "+14155550950"])

    assert problems == []
    assert org.pools() == [("+14155550900", "+14155550999", "HQ")]
    assert org.dnis("Main IVR") == [] and org.owners() == {"+14155550900": "Sales IVR"}
    alice = next(u for u in org.state()["users"] if u["email"] == "alice@example.com")
    assert [a for a in alice["addresses"] if a["mediaType"] == "PHONE"] == []
