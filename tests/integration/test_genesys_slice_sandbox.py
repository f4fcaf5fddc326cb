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

    def ivr_puts(self) -> int:
        answer = httpx.get(f"{self.url}/_sandbox/requests", verify=self.verify).json()
        return sum(1 for r in answer["requests"]
                   if r["method"] == "PUT" and "/architect/ivrs/" in r["path"])

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


# --- a user who already has a work phone: the slice does what the full sync does -------------

ALICE = "alice@example.com"
ALICES = "+14155550150"  # the policy routes it to alice; her WORK phone is +14155550101 (seed)


def work_phones(estate: Estate) -> list[str]:
    [alice] = estate.port.find_users([ALICE])
    return sorted(a.address for a in alice.addresses if a.type in (None, "WORK"))


def user_changes(plan: Any) -> list[str]:
    return [f"{c.key}: {c.summary}" for c in plan.changes if c.kind == "user-phone"]


def test_a_work_phone_byoc_manages_and_no_longer_wants_is_replaced_as_the_full_sync_does(
    sandbox_env: dict[str, Any],
) -> None:
    estate = Estate(sandbox_env)
    wanted = estate.set(NumberState.ACTIVE, ALICES)  # +14155550101 lies in byoc's seeded pool
    _, full, _ = estate.full_plan()
    assert user_changes(full) == [f"{ALICE}: remove phone +14155550101; work phone {ALICES}"]

    plan, problems, calls = estate.slice_sync(wanted)

    assert problems == [] and plan.conflicts == ()
    assert work_phones(estate) == [ALICES]
    assert user_changes(estate.full_plan()[1]) == []
    assert calls <= 12, calls


def test_a_work_phone_byoc_does_not_manage_stays_with_the_full_syncs_conflict(
    sandbox_env: dict[str, Any],
) -> None:
    from byoc.domain.plan import problems_by_number

    estate = Estate(sandbox_env)
    [alice] = estate.port.find_users([ALICE])
    estate.port.update_user_phones(alice, remove=("+14155550101",), work="+14155550950")
    wanted = estate.set(NumberState.ACTIVE, ALICES)
    _, full, _ = estate.full_plan()

    plan, problems, _ = estate.slice_sync(wanted)

    [conflict] = [c for c in plan.conflicts if ALICE in c]
    assert conflict in full.conflicts  # word for word what the full sync says
    assert "+14155550950, which byoc does not manage" in conflict and "Take +14155550950 off" \
        in conflict
    assert work_phones(estate) == ["+14155550950"]
    named = problems_by_number(problems)
    assert named is not None and list(named) == [ALICES]  # only this number fails
    assert "does not manage" in named[ALICES][0]


def test_a_work_phone_byoc_still_routes_is_kept_until_the_full_sync_settles_it(
    sandbox_env: dict[str, Any],
) -> None:
    from byoc.domain.plan import problems_by_number

    estate = Estate(sandbox_env)
    estate.set(NumberState.ACTIVE, "+14155550101")  # the policy routes it to Main IVR
    wanted = estate.set(NumberState.ACTIVE, ALICES)

    plan, problems, _ = estate.slice_sync(wanted)

    [conflict] = [c for c in plan.conflicts if ALICE in c]
    assert "already has work phone +14155550101" in conflict
    assert "`byoc apply -t genesys`" in conflict
    assert work_phones(estate) == ["+14155550101"]
    named = problems_by_number(problems)
    assert named is not None and list(named) == [ALICES]
    assert "the next full sync settles" in named[ALICES][0]

    assert estate.full_sync() == []
    assert work_phones(estate) == [ALICES] and "+14155550101" in estate.ivr("Main IVR")


def test_a_work_phone_moving_elsewhere_in_the_same_slice_makes_room(
    sandbox_env: dict[str, Any],
) -> None:
    estate = Estate(sandbox_env)
    both = estate.set(NumberState.ACTIVE, "+14155550101", ALICES)

    plan, problems, _ = estate.slice_sync(both)

    assert problems == [] and not [c for c in plan.conflicts if ALICE in c]
    assert work_phones(estate) == [ALICES] and "+14155550101" in estate.ivr("Main IVR")
    assert user_changes(estate.full_plan()[1]) == []

def test_a_pool_changed_outside_byoc_since_the_view_was_listed_is_read_again(
    sandbox_env: dict[str, Any],
) -> None:
    """The view is kept for an hour: an administrator who takes a number out of byoc's pool
    meanwhile is met by the slice's own lookup, not by a refused IVR write."""
    estate = Estate(sandbox_env)
    estate.set(NumberState.ACTIVE, *map(n, range(0, 20)))
    assert estate.full_sync() == []  # lists the pools: the view holds byoc's n(0)-n(19)
    httpx.post(f"{estate.url}/_sandbox/genesys/admin-change", verify=estate.verify,
               json={"ivr": "Main IVR", "remove": [n(19)]}).raise_for_status()
    pool = next(p for p in estate.port.list_did_pools() if p.start == n(0))
    estate.port.resize_did_pool(pool, n(0), n(18), name=pool.name)  # not through byoc's applier

    _, problems, _ = estate.slice_sync(frozenset({n(19)}))

    assert problems == [] and converged(estate) == []
    assert estate.pools() == [(n(0), n(19))] and n(19) in estate.ivr("Main IVR")


def test_a_slice_that_grows_a_pool_and_creates_one_routes_both_in_one_ivr_write(
    sandbox_env: dict[str, Any],
) -> None:
    from byoc.services.genesys_model import IVR_KIND, POOL_KIND

    estate = Estate(sandbox_env)
    estate.set(NumberState.ACTIVE, *map(n, range(0, 10)))
    assert estate.full_sync() == []
    ivr_puts = estate.ivr_puts()

    both = estate.set(NumberState.ACTIVE, n(10), n(30))  # grows byoc's pool; needs a new one
    plan, problems, _ = estate.slice_sync(both)

    assert problems == [] and converged(estate) == []
    assert estate.pools() == [(n(0), n(10)), (n(30), n(30))]
    assert [c.kind for c in plan.changes].count(IVR_KIND) == 1
    assert [c.kind for c in plan.changes][-1] == IVR_KIND, "routed once both pools hold them"
    assert {c.kind for c in plan.changes} == {POOL_KIND, IVR_KIND}
    assert estate.ivr_puts() - ivr_puts == 1
    assert {n(10), n(30)} <= set(estate.ivr("Main IVR"))
