"""40,000 numbers routed to one IVR, against the sandbox org (which refuses a request over
512,000 bytes, as Genesys's `request.bytes.max`): byoc spreads them over a shard IVR named after
the IVR, with its flows, sends no oversized request, and removes the shard when they fit again."""

from __future__ import annotations

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
from byoc.services.genesys_shards import capacity
from byoc.services.reconcile import desired_state
from byoc.settings import Settings, load_settings
from sandbox.core import ServedApp, build_app
from sandbox.genesys import MAX_REQUEST_BYTES, GenesysEmulator
from sandbox.launcher import load_seed

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
# This test is about the request-size limit; the client's pacing is off (below), so the org's rate
# limit is lifted too (rate limits have their own tests): a fast machine made 300+ calls a minute.
SEED = {**load_seed()["genesys"], "max_dnis_added_per_write": 500, "rate_limit_per_minute": 1_000_000}
POLICY = load_policy("""
version: 1
managed: {all_on_trunk: false, prefixes: ["+1628"]}
rules: []
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
""", "one IVR for every number")
NUMBERS = [f"+1628500{i:04d}" if i < 10_000 else f"+16285{i:06d}" for i in range(40_000)]


@pytest.fixture(scope="module")
def org() -> Iterator[tuple[GenesysEmulator, str]]:
    emulator = GenesysEmulator(SEED)
    server = ServedApp(build_app(emulator)).start()
    try:
        yield emulator, server.url
    finally:
        server.stop()


def make_settings(url: str, *, shards: bool) -> Settings:
    return load_settings(
        twilio_account_sid="AC" + "0" * 32, twilio_trunk_sid="TK" + "0" * 32,
        twilio_auth_token="unused", sbc_password="unused",
        storage_connection_string="UseDevelopmentStorage=true",
        policy_path=str(ROOT / "sandbox" / "policy.sandbox.yaml"),
        sbcs=[{"name": "sbc1", "management_url": "https://127.0.0.1:9", "fqdn": "sbc1.example"}],
        genesys_api_base=url, genesys_client_id=SEED["oauth_client"]["client_id"],
        genesys_client_secret=SEED["oauth_client"]["client_secret"],
        genesys_numbers_per_ivr_put=500, genesys_ivr_shards=shards,
    )


def sync(settings: Settings, port: GenesysAdapter, present: list[str],
         releasing: list[str] | None = None) -> tuple[Plan, list[str]]:
    records = [NumberRecord(n, NumberState.ACTIVE) for n in present]
    records += [NumberRecord(n, NumberState.RELEASING) for n in releasing or []]
    reconciler = GenesysReconciler(settings, port)
    wanted = reconciler.desired(desired_state(records, POLICY))
    plan = reconciler.plan(reconciler.read_actual(), wanted)
    reconciler.apply(plan, FakeLease())
    return plan, reconciler.verify(wanted)


def ivrs(url: str) -> dict[str, dict[str, Any]]:
    return {i["name"]: i for i in httpx.get(f"{url}/_sandbox/state").json()["ivrs"]}


@pytest.mark.parametrize("shards", [True, False])
def test_forty_thousand_numbers_on_one_ivr_converge_without_an_oversized_request(
    org: tuple[GenesysEmulator, str], shards: bool,
) -> None:
    _, url = org
    httpx.post(f"{url}/_sandbox/reset").raise_for_status()
    settings = make_settings(url, shards=shards)
    port = GenesysAdapter(base_url=url, client_id=settings.genesys_client_id,
                          client_secret=lambda: str(SEED["oauth_client"]["client_secret"]),
                          requests_per_minute=100_000, sleep=lambda _: None,
                          settle_delays_s=(0.0,) * 5)

    if not shards:  # refused up front: the plan says so before anything is written
        reconciler = GenesysReconciler(settings, port)
        wanted = reconciler.desired(desired_state(
            [NumberRecord(n, NumberState.ACTIVE) for n in NUMBERS], POLICY))
        plan = reconciler.plan(reconciler.read_actual(), wanted)
        (conflict,) = [c for c in plan.conflicts if "BYOC_GENESYS_IVR_SHARDS=false" in c]
        assert "40,000 numbers to IVR 'Main IVR'" in conflict
        assert not any(c.kind == "ivr-shard" for c in plan.changes)
        added = sum(len(c.numbers_added) for c in plan.changes if c.kind == "ivr-dnis")
        assert added == capacity(set(NUMBERS))
        return

    plan, problems = sync(settings, port, NUMBERS)

    log = httpx.get(f"{url}/_sandbox/requests").json()["requests"]
    assert [r for r in log if r["status"] == 413] == []
    found = ivrs(url)
    main = found["Main IVR"]
    if shards:  # (always: the refusing case returned above)
        assert problems == []
        shard = found["Main IVR [byoc 2]"]
        assert sorted(main["dnis"] + shard["dnis"]) == sorted(NUMBERS)
        assert "managed-by:byoc" in shard["description"]
        for key in ("openHoursFlow", "closedHoursFlow", "scheduleGroup"):
            assert shard.get(key, {}).get("id") == main.get(key, {}).get("id")
        assert sync(settings, port, NUMBERS)[0].is_empty

        _, problems = sync(settings, port, NUMBERS[:20_000], NUMBERS[20_000:])

        assert problems == []
        found = ivrs(url)
        assert "Main IVR [byoc 2]" not in found
        assert sorted(found["Main IVR"]["dnis"]) == sorted(NUMBERS[:20_000])
    assert (max(len(n) for n in NUMBERS) + 4) * len(main["dnis"]) < MAX_REQUEST_BYTES
