"""Property: for random estates and number events, Genesys slice syncs followed by one full sync
leave the full sync nothing to change (the slices leave no drift), against the sandbox org through
the real SDK."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import FakeInventory, FakeLease
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from byoc.adapters.genesys import GenesysAdapter
from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.policy_file import load_policy
from byoc.services.genesys_pool_view import pool_view
from byoc.services.genesys_reconciler import GenesysReconciler
from byoc.services.reconcile import desired_state
from byoc.settings import load_settings
from sandbox.core import ServedApp, build_app
from sandbox.genesys import GenesysEmulator
from sandbox.launcher import load_seed

pytestmark = pytest.mark.integration

SEED = load_seed()["genesys"]
POLICY = load_policy("""
version: 1
managed: {all_on_trunk: false, prefixes: ["+1415555"]}
rules:
  - {name: sales, match: "+1415555023", genesys: {ivr: Sales IVR}, sbc_tag: s}
  - {name: parked, match: "+1415555024", genesys: none, sbc_tag: p}
  - {name: bob, match: "+14155550255", genesys: {user: bob@example.com}, sbc_tag: b}
  - {name: main, match: "+14155550", genesys: {ivr: Main IVR}, sbc_tag: m}
defaults: {genesys: {ivr: Main IVR}, sbc_tag: d}
""", "property policy")
SETTINGS = load_settings(
    twilio_account_sid="AC" + "0" * 32, twilio_trunk_sid="TK" + "0" * 32,
    twilio_auth_token="t", genesys_client_id="client", genesys_client_secret="secret",
    sbc_password="p", storage_connection_string="UseDevelopmentStorage=true",
    policy_path=str(Path(__file__).resolve().parents[2] / "policy.example.yaml"),
    sbcs=[{"name": "sbc1", "management_url": "https://10.0.1.4", "fqdn": "sbc1.example.net"}],
    genesys_site_name="Azure-BYOC", genesys_trunk_base_name="Twilio-BYOC")
NUMBERS = [f"+14155550{i}" for i in (*range(200, 260), *range(900, 904))]
"""Numbers next to each other (pools grow, shrink and meet), some inside the foreign pool HQ."""
STATES = [NumberState.ACTIVE, NumberState.RELEASING, NumberState.RELEASED]


@pytest.fixture(scope="module")
def org() -> Iterator[str]:
    server = ServedApp(build_app(GenesysEmulator(SEED))).start()
    try:
        yield server.url
    finally:
        server.stop()


def adapter(url: str) -> GenesysAdapter:
    return GenesysAdapter(base_url=url, client_id=SEED["oauth_client"]["client_id"],
                          client_secret=lambda: SEED["oauth_client"]["client_secret"],
                          sleep=lambda _: None, settle_delays_s=(0.0,))


def full_plan(port: GenesysAdapter, inventory: FakeInventory) -> tuple[GenesysReconciler, Any, Any]:
    target = GenesysReconciler(SETTINGS, port, lambda: inventory)
    wanted = target.desired(desired_state(inventory.all(), POLICY))
    return target, target.plan(target.read_actual(), wanted), wanted


estates = st.dictionaries(st.sampled_from(NUMBERS), st.sampled_from(STATES), max_size=25)
events = st.lists(st.tuples(
    st.dictionaries(st.sampled_from(NUMBERS), st.sampled_from(STATES), min_size=1, max_size=4),
    st.booleans()), min_size=1, max_size=5)
"""Bursts of number events, each planned from the pool view or (True) from lookups by number."""


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=estates, bursts=events)
def test_slice_syncs_leave_a_full_sync_nothing_to_change(
    org: str, start: dict[str, NumberState], bursts: list[tuple[dict[str, NumberState], bool]],
) -> None:
    httpx.post(f"{org}/_sandbox/reset").raise_for_status()
    httpx.post(f"{org}/_sandbox/genesys/limits",
               json={"rate_limit_per_minute": 100_000}).raise_for_status()
    port = adapter(org)
    inventory = FakeInventory(NumberRecord(n, s) for n, s in start.items())
    target, plan, wanted = full_plan(port, inventory)
    target.apply(plan, FakeLease())
    assert target.verify(wanted) == []

    for burst, look_up in bursts:
        inventory.put_many(NumberRecord(n, s) for n, s in burst.items())
        numbers = frozenset(burst)
        if look_up:
            pool_view(port).forget()
        target = GenesysReconciler(SETTINGS, port, lambda: inventory)
        wanted_slice = target.desired_slice(
            desired_state([r for r in inventory.all() if r.number in numbers], POLICY), numbers)
        target.apply(target.plan_slice(target.read_slice(numbers), wanted_slice), FakeLease())
        assert target.verify_slice(wanted_slice) == [], burst

    _, after, _ = full_plan(adapter(org), inventory)
    assert [f"{c.kind} {c.key}: {c.summary}" for c in after.changes] == []
