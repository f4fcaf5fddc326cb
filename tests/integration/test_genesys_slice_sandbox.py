"""Genesys slice syncs against the sandbox org through the real SDK: a number event converges only
the pools and holders its numbers touch, under every reading of `numberMatch`, and leaves nothing
a full sync would still change."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import FakeInventory, FakeLease

from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.policy_file import load_policy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy((ROOT / "sandbox" / "policy.sandbox.yaml").read_text(), "sandbox policy")


def n(i: int) -> str:
    return f"+141555501{i:02d}"


class Estate:
    """An inventory, byoc's Genesys target as the app builds it, and the sandbox org."""

    def __init__(self, ports: dict[str, Any]) -> None:
        from byoc.bootstrap import get_services

        self.url = ports["genesys"]
        self.verify = ssl.create_default_context(cafile=ports["ca_bundle"])
        self.services = get_services()
        self.port = self.services.genesys
        self.inventory = FakeInventory()
        self.view = True
        """Plan slices from the pools the last sync listed (False: look every number up)."""

    def reconciler(self) -> Any:
        from byoc.services.genesys_reconciler import GenesysReconciler

        return GenesysReconciler(self.services.settings, self.port, lambda: self.inventory)

    def set(self, state: NumberState, *numbers: str) -> frozenset[str]:
        for number in numbers:
            self.inventory.put(NumberRecord(number, state))
        return frozenset(numbers)

    def full_plan(self) -> Any:
        from byoc.services.reconcile import desired_state

        reconciler = self.reconciler()
        wanted = reconciler.desired(desired_state(self.inventory.all(), POLICY))
        return reconciler, reconciler.plan(reconciler.read_actual(), wanted), wanted

    def full_sync(self) -> list[str]:
        reconciler, plan, wanted = self.full_plan()
        reconciler.apply(plan, FakeLease())
        return list(reconciler.verify(wanted))

    def slice_sync(self, numbers: frozenset[str]) -> tuple[Any, list[str], int]:
        """(the plan, what verify found, Genesys calls made)."""
        from byoc.services.genesys_pool_view import pool_view
        from byoc.services.reconcile import desired_state, supports_slices

        if not self.view:
            pool_view(self.port).forget()
        before = self.calls()
        reconciler = self.reconciler()
        assert supports_slices(reconciler)
        records = [r for r in self.inventory.all() if r.number in numbers]
        wanted = reconciler.desired_slice(desired_state(records, POLICY), numbers)
        plan = reconciler.plan_slice(reconciler.read_slice(numbers), wanted)
        reconciler.apply(plan, FakeLease())
        problems = reconciler.verify_slice(wanted)
        return plan, problems, self.calls() - before

    def calls(self) -> int:
        answer = httpx.get(f"{self.url}/_sandbox/requests", verify=self.verify).json()
        return sum(1 for r in answer["requests"] if r["path"].startswith("/api/v2/"))

    def state(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sandbox/state", verify=self.verify).json())

    def pools(self) -> list[tuple[str, str]]:
        return sorted((p["startPhoneNumber"], p["endPhoneNumber"]) for p in self.state()["did_pools"]
                      if p["state"] != "deleted" and "managed-by:byoc" in p.get("description", ""))

    def ivr(self, name: str) -> list[str]:
        return sorted(next(i for i in self.state()["ivrs"] if i["name"] == name)["dnis"])


def converged(estate: Estate) -> list[str]:
    """What a full sync would still change after the slices (nothing, when they were right)."""
    _, plan, _ = estate.full_plan()
    return [f"{c.kind} {c.key}: {c.summary}" for c in plan.changes]


@pytest.mark.parametrize("view", [True, False], ids=["pool-view", "lookups"])
@pytest.mark.sandbox_variants("genesys.dids_number_match")
def test_number_events_change_only_their_pools_and_ivr_and_leave_nothing_for_a_full_sync(
    sandbox_env: dict[str, Any], view: bool,
) -> None:
    estate = Estate(sandbox_env)
    estate.view = view
    estate.set(NumberState.ACTIVE, *map(n, range(0, 20)))
    assert estate.full_sync() == []
    pool_ids = {p["startPhoneNumber"]: p["id"] for p in estate.state()["did_pools"]}

    grown = estate.set(NumberState.ACTIVE, n(20))  # right next to byoc's pool: it grows in place
    plan, problems, calls = estate.slice_sync(grown)
    assert problems == [] and converged(estate) == []
    assert estate.pools() == [(n(0), n(20))]
    assert {p["startPhoneNumber"]: p["id"] for p in estate.state()["did_pools"]}[n(0)] == \
        pool_ids[n(0)]
    assert n(20) in estate.ivr("Main IVR") and calls <= 10, calls

    apart = estate.set(NumberState.ACTIVE, n(40), n(41))  # next to no pool: a new one
    plan, problems, calls = estate.slice_sync(apart)
    assert problems == [] and converged(estate) == [] and calls <= 10, calls
    assert estate.pools() == [(n(0), n(20)), (n(40), n(41))]

    hole = estate.set(NumberState.RELEASED, n(5))  # leaves the middle: stays in it, unrouted
    plan, problems, _ = estate.slice_sync(hole)
    assert problems == [] and converged(estate) == []
    assert n(5) not in estate.ivr("Main IVR") and estate.pools()[0] == (n(0), n(20))

    ends = estate.set(NumberState.RELEASED, n(0), n(4), n(20), n(41))  # ends move in
    plan, problems, _ = estate.slice_sync(ends)
    assert problems == [] and converged(estate) == []
    assert estate.pools() == [(n(1), n(19)), (n(40), n(40))]

    gone = estate.set(NumberState.RELEASED, n(40))  # its last number: the pool goes
    plan, problems, _ = estate.slice_sync(gone)
    assert problems == [] and converged(estate) == []
    assert estate.pools() == [(n(1), n(19))]
    assert [c.action.value for c in plan.changes if c.kind == "did-pool"] == ["remove"]


def test_a_number_moves_between_holders_and_to_a_user_in_one_slice(
    sandbox_env: dict[str, Any],
) -> None:
    estate = Estate(sandbox_env)
    estate.set(NumberState.ACTIVE, *map(n, range(0, 10)))
    assert estate.full_sync() == []
    assert "+14155550900" in estate.ivr("Sales IVR")  # in the foreign pool HQ

    # 50: alice's; 900: the policy's Main IVR, taken from Sales IVR; its pool is not byoc's
    moved = estate.set(NumberState.ACTIVE, n(50), "+14155550900")
    plan, problems, _ = estate.slice_sync(moved)

    assert problems == [] and converged(estate) == []
    users = {u["email"]: u for u in estate.state()["users"]}
    assert n(50) in str(users["alice@example.com"])
    assert "+14155550900" in estate.ivr("Main IVR")
    assert "+14155550900" not in estate.ivr("Sales IVR")
    assert [c.key for c in plan.changes if c.kind == "did-pool"] == [f"{n(50)}-{n(50)}"]
