"""The Genesys reconciler against an in-memory org: pools cover exactly the managed numbers, each
number routes where the policy says, foreign objects are left alone and reported, and writes come
in an order that never strands a number."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeLease

from byoc.adapters.lock import LockLost
from byoc.bootstrap import Services
from byoc.bootstrap.targets import register_genesys_target
from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.plan import Action, Change, GuardLimits, Plan, SafetyGuardRefused, guard
from byoc.domain.policy_file import load_policy
from byoc.ports import (
    GenesysContact,
    GenesysDid,
    GenesysDidPool,
    GenesysError,
    GenesysIvr,
    GenesysNumberInUse,
    GenesysOutboundRoute,
    GenesysOutboundRouteSpec,
    GenesysPoolRangeRefused,
    GenesysRef,
    GenesysTrunkStatus,
    GenesysUser,
)
from byoc.services.genesys_model import MARKER, ForeignGenesysObjectError, GenesysDesired
from byoc.services.genesys_payloads import PoolRange
from byoc.services.genesys_reconciler import GenesysReconciler
from byoc.services.reconcile import ReconcilerRegistry, desired_state
from byoc.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
MINE = f"byoc numbers {MARKER}"
POLICY = """
version: 1
managed: {prefixes: ["+1415555"]}
rules:
  - {match: "+14155559", genesys: {ivr: Sales IVR}}
  - {match: "+14155558", genesys: none}
  - {match: "+141555570", genesys: {user: alice@example.com}}
  - {match: "+141555571", genesys: {user: bob@example.com}}
  - {match: "+141555572", genesys: {ivr: Missing IVR}}
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
"""


BASE_SETTINGS: dict[str, Any] = {
    "twilio_account_sid": "AC" + "0" * 32,
    "twilio_trunk_sid": "TK" + "0" * 32,
    "twilio_auth_token": "test-token",
    "genesys_client_id": "client",
    "genesys_client_secret": "secret",
    "sbc_password": "password",
    "storage_connection_string": "UseDevelopmentStorage=true",
    "policy_path": str(ROOT / "policy.example.yaml"),
    "sbcs": [{"name": "sbc1", "management_url": "https://10.0.1.4", "fqdn": "sbc1.example.net"}],
    "genesys_site_name": "Azure-BYOC",
    "genesys_trunk_base_name": "Twilio-BYOC",
}


def make_settings(**overrides: Any) -> Settings:
    return load_settings(**{**BASE_SETTINGS, **overrides})


class FakeGenesys:
    """An org that refuses what Genesys refuses: overlapping pools, stale versions, a number held
    twice or outside every pool, too many numbers added per IVR write, deleting a pool in use."""

    def __init__(self, *, max_added_per_write: int = 50) -> None:
        self.ids = (f"id-{i}" for i in itertools.count(1))
        self.pools: dict[str, GenesysDidPool] = {}
        self.ivrs: dict[str, GenesysIvr] = {}
        self.users: dict[str, GenesysUser] = {}
        self.phones_held_elsewhere: set[str] = set()
        self.site = GenesysRef("site-1", "Azure-BYOC")
        self.bases = {"Twilio-BYOC": GenesysRef("tb-1", "Twilio-BYOC"),
                      "Other": GenesysRef("tb-2", "Other")}
        self.routes: dict[str, GenesysOutboundRoute] = {}
        self.max_added = max_added_per_write
        self.calls: list[str] = []
        self.writes: list[str] = []
        self.conflicts_next_ivr_write = 0
        self.resize = "accepts"

    # --- seeding ---------------------------------------------------------------------------------

    def add_pool(self, start: str, end: str, description: str = MINE, name: str = "") -> str:
        pool_id = next(self.ids)
        self.pools[pool_id] = GenesysDidPool(pool_id, start, end, name or f"{start}-{end}",
                                             description)
        return pool_id

    def add_ivr(self, name: str, dnis: Iterable[str] = ()) -> str:
        ivr_id = next(self.ids)
        self.ivrs[ivr_id] = GenesysIvr(ivr_id, name, 1, tuple(dnis))
        return ivr_id

    def add_user(self, email: str, *phones: tuple[str, str]) -> str:
        user_id = next(self.ids)
        contacts = tuple(GenesysContact("PHONE", kind, number) for number, kind in phones)
        self.users[user_id] = GenesysUser(user_id, email, email.split("@")[0], 1,
                                          (GenesysContact("EMAIL", "WORK", email), *contacts))
        return user_id

    def add_route(self, name: str, classes: Iterable[str], base: str = "Twilio-BYOC",
                  description: str = "", enabled: bool = True) -> str:
        route_id = next(self.ids)
        self.routes[route_id] = GenesysOutboundRoute(
            route_id, name, 1, tuple(classes), (self.bases[base],), enabled, "SEQUENTIAL",
            description, site=self.site)
        return route_id

    # --- what tests look at ----------------------------------------------------------------------

    def active_pools(self) -> list[tuple[str, str, bool]]:
        return sorted((p.start, p.end, MARKER in p.description)
                      for p in self.pools.values() if p.state != "deleted")

    def dnis(self, name: str) -> list[str]:
        return sorted(next(i for i in self.ivrs.values() if i.name == name).dnis)

    def phones(self, email: str) -> list[str]:
        return sorted(next(u for u in self.users.values() if u.email == email).phones())

    def holder(self, number: str) -> str | None:
        for ivr in self.ivrs.values():
            if number in ivr.dnis:
                return ivr.name
        for user in self.users.values():
            if number in user.phones():
                return user.email
        return "elsewhere" if number in self.phones_held_elsewhere else None

    def _covered(self, number: str) -> bool:
        return any(p.state != "deleted" and len(p.start) == len(number) and p.start <= number <= p.end
                   for p in self.pools.values())

    # --- the port --------------------------------------------------------------------------------

    def list_did_pools(self) -> list[GenesysDidPool]:
        self.calls.append("list_did_pools")
        return list(self.pools.values())

    def create_did_pool(self, start: str, end: str, *, name: str, description: str) -> GenesysDidPool:
        self.calls.append("create_did_pool")
        self.writes.append(f"create pool {start}-{end}")
        for pool in self.pools.values():
            if pool.state != "deleted" and start <= pool.end and pool.start <= end:
                raise GenesysError(f"DID pool {start}-{end} overlaps {pool.name}", status=400)
        pool_id = self.add_pool(start, end, description, name)
        return self.pools[pool_id]

    def resize_did_pool(self, pool: GenesysDidPool, start: str, end: str, *, name: str
                        ) -> GenesysDidPool:
        self.calls.append("resize_did_pool")
        self.writes.append(f"resize pool {pool.start}-{pool.end} to {start}-{end}")
        stored = self.pools[pool.id]
        assert MARKER in stored.description, "byoc changed a foreign pool"
        if self.resize == "refuses-any":
            raise GenesysPoolRangeRefused("the range of a DID pool cannot change", status=400)
        for other in self.pools.values():
            if other.id != pool.id and other.state != "deleted" and (
                    start <= other.end and other.start <= end):
                raise GenesysError(f"DID pool {start}-{end} overlaps {other.name}", status=400)
        left = [n for n in (f"+{v}" for v in range(int(pool.start), int(pool.end) + 1))
                if self.holder(n) and not start <= n <= end]
        if left:
            raise GenesysPoolRangeRefused(f"assigned numbers {left} outside the range", status=409)
        self.pools[pool.id] = replace(stored, start=start, end=end, name=name)
        return self.pools[pool.id]

    def delete_did_pool(self, pool: GenesysDidPool) -> None:
        self.calls.append("delete_did_pool")
        self.writes.append(f"delete pool {pool.start}-{pool.end}")
        stored = self.pools[pool.id]
        assert MARKER in stored.description, "byoc deleted a foreign pool"
        held = [n for n in (f"+{v}" for v in range(int(pool.start), int(pool.end) + 1))
                if self.holder(n)]
        if held:
            raise GenesysError(f"pool has assigned numbers {held}", status=409)
        self.pools[pool.id] = replace(stored, state="deleted")

    def list_pool_dids(self, pool: GenesysDidPool) -> list[GenesysDid]:
        self.calls.append("list_pool_dids")
        found = []
        for value in range(int(pool.start), int(pool.end) + 1):
            number = f"+{value}"
            ivr = next((i for i in self.ivrs.values() if number in i.dnis), None)
            user = next((u for u in self.users.values() if number in u.phones()), None)
            if ivr is not None:
                found.append(GenesysDid(number, "IVR_CONFIG", ivr.id, ivr.name))
            elif user is not None:
                found.append(GenesysDid(number, "USER", user.id, user.name))
            elif number in self.phones_held_elsewhere:
                found.append(GenesysDid(number, "PHONE", "phone-1", "Lobby phone"))
        return found

    def list_ivrs(self) -> list[GenesysIvr]:
        self.calls.append("list_ivrs")
        return list(self.ivrs.values())

    def get_ivr(self, ivr_id: str) -> GenesysIvr:
        self.calls.append("get_ivr")
        return self.ivrs[ivr_id]

    def update_ivr_dnis(self, ivr: GenesysIvr, *, add: tuple[str, ...] = (),
                        remove: tuple[str, ...] = ()) -> GenesysIvr:
        self.calls.append("update_ivr_dnis")
        stored = self.ivrs[ivr.id]
        if self.conflicts_next_ivr_write:
            self.conflicts_next_ivr_write -= 1
            stored = self.ivrs[ivr.id] = replace(stored, version=stored.version + 1)
        current = stored if ivr.version != stored.version else ivr  # the adapter re-reads
        added = [n for n in add if n not in current.dnis]
        if len(added) > self.max_added:
            raise GenesysError(f"{len(added)} numbers added in one write", status=400)
        for number in added:
            if not self._covered(number):
                raise GenesysError("Field 'didPoolId' is required", status=400)
            holder = self.holder(number)
            if holder is not None and holder != ivr.name:
                raise GenesysNumberInUse(f"{number} held by {holder}", number=number)
        self.writes.append(f"ivr {ivr.name} +{len(added)} -{len(set(remove) & set(current.dnis))}")
        dnis = tuple(n for n in current.dnis if n not in remove) + tuple(added)
        saved = replace(current, dnis=dnis, version=stored.version + 1)
        self.ivrs[ivr.id] = saved
        return saved

    def find_users(self, emails: Iterable[str]) -> list[GenesysUser]:
        self.calls.append("find_users")
        wanted = {e.lower() for e in emails}
        return [u for u in self.users.values() if u.email.lower() in wanted]

    def get_user(self, user_id: str) -> GenesysUser:
        self.calls.append("get_user")
        return self.users[user_id]

    def update_user_phones(self, user: GenesysUser, *, remove: tuple[str, ...] = (),
                           work: str | None = None) -> GenesysUser:
        self.calls.append("update_user_phones")
        current = self.users[user.id]
        if work is not None:
            if not self._covered(work):
                raise GenesysError("Field 'didPoolId' is required", status=400)
            holder = self.holder(work)
            if holder is not None and holder != user.email:
                raise GenesysNumberInUse(f"{work} held by {holder}", number=work)
        kept = tuple(c for c in current.addresses
                     if not (c.media_type == "PHONE" and c.address in remove)
                     and not (work and c.media_type == "PHONE" and c.type == "WORK"))
        if work:
            kept += (GenesysContact("PHONE", "WORK", work),)
        self.writes.append(f"user {user.email} -{list(remove)} work={work}")
        saved = replace(current, addresses=kept, version=current.version + 1)
        self.users[user.id] = saved
        return saved

    def find_site(self, name: str) -> GenesysRef | None:
        self.calls.append("find_site")
        return self.site if name == self.site.name else None

    def find_trunk_base(self, name: str) -> GenesysRef | None:
        self.calls.append("find_trunk_base")
        return self.bases.get(name)

    def list_outbound_routes(self) -> list[GenesysOutboundRoute]:
        self.calls.append("list_outbound_routes")
        return list(self.routes.values())

    def create_outbound_route(self, site: GenesysRef,
                              spec: GenesysOutboundRouteSpec) -> GenesysOutboundRoute:
        self.calls.append("create_outbound_route")
        self.writes.append(f"create route {spec.name}")
        route_id = self.add_route(spec.name, spec.classification_types, spec.trunk_base.name,
                                  spec.description)
        return self.routes[route_id]

    def update_outbound_route(self, site: GenesysRef, route: GenesysOutboundRoute,
                              spec: GenesysOutboundRouteSpec) -> GenesysOutboundRoute:
        self.calls.append("update_outbound_route")
        assert MARKER in self.routes[route.id].description, "byoc changed a foreign route"
        self.writes.append(f"update route {spec.name}")
        saved = replace(route, classification_types=spec.classification_types,
                        trunk_bases=(spec.trunk_base,), enabled=spec.enabled,
                        version=route.version + 1)
        self.routes[route.id] = saved
        return saved

    def delete_outbound_route(self, site: GenesysRef, route: GenesysOutboundRoute) -> None:
        self.calls.append("delete_outbound_route")
        assert MARKER in self.routes[route.id].description, "byoc deleted a foreign route"
        self.writes.append(f"delete route {route.name}")
        del self.routes[route.id]

    def read_trunk_status(self, trunk_base_name: str | None = None) -> list[GenesysTrunkStatus]:
        return []


def org() -> FakeGenesys:
    """Main IVR, Sales IVR, alice and bob, and a foreign route carrying the classifications."""
    genesys = FakeGenesys()
    genesys.add_ivr("Main IVR")
    genesys.add_ivr("Sales IVR")
    genesys.add_user("alice@example.com")
    genesys.add_user("bob@example.com", ("+15105550000", "WORK"))
    genesys.add_route("Twilio-Outbound", ["National", "International"])
    return genesys


def numbers(first: int, last: int, prefix: str = "+1415555") -> list[str]:
    return [f"{prefix}{v:04d}" for v in range(first, last + 1)]


def records(present: Iterable[str] = (), releasing: Iterable[str] = (),
            users: dict[str, str] | None = None) -> list[NumberRecord]:
    out = [NumberRecord(n, NumberState.ACTIVE) for n in present]
    out += [NumberRecord(n, NumberState.RELEASING) for n in releasing]
    return [replace(r, genesys_target=f"user:{users[r.number]}") if r.number in (users or {})
            else r for r in out]


def desired(reconciler: GenesysReconciler, recs: list[NumberRecord]) -> GenesysDesired:
    return reconciler.desired(desired_state(recs, load_policy(POLICY, "test")))


def sync(genesys: FakeGenesys, recs: list[NumberRecord], settings: Settings | None = None,
         lease: FakeLease | None = None) -> tuple[Plan, list[str]]:
    """read, plan, apply, verify as `ReconcileService.sync` does; the plan and verify's problems."""
    reconciler = GenesysReconciler(settings or make_settings(), genesys)
    wanted = desired(reconciler, recs)
    plan = reconciler.plan(reconciler.read_actual(), wanted)
    reconciler.apply(plan, lease or FakeLease())
    return plan, reconciler.verify(wanted)


def dry_plan(genesys: FakeGenesys, recs: list[NumberRecord]) -> Plan:
    reconciler = GenesysReconciler(make_settings(), genesys)
    return reconciler.plan(reconciler.read_actual(), desired(reconciler, recs))


# --- onboarding -------------------------------------------------------------------------------


def test_a_contiguous_block_gets_one_pool_and_is_routed_fifty_numbers_per_write() -> None:
    genesys = org()
    block = numbers(1000, 1999)

    plan, problems = sync(genesys, records(block))

    assert problems == []
    assert genesys.active_pools() == [("+14155551000", "+14155551999", True)]
    assert genesys.dnis("Main IVR") == block
    assert sum(1 for w in genesys.writes if w.startswith("ivr Main IVR +50")) == 20
    assert len(plan.numbers_added()) == 1000
    assert dry_plan(genesys, records(block)).is_empty


def test_onboarding_a_thousand_contiguous_numbers_stays_within_thirty_calls() -> None:
    genesys = org()

    sync(genesys, records(numbers(1000, 1999)))

    assert len(genesys.calls) <= 30, genesys.calls


def test_scattered_numbers_get_one_pool_per_contiguous_run() -> None:
    genesys = org()
    scattered = ["+14155550100", "+14155550101", "+14155550200", "+14155550305", "+14155550306"]

    _, problems = sync(genesys, records(scattered))

    assert problems == []
    assert [p[:2] for p in genesys.active_pools()] == [
        ("+14155550100", "+14155550101"), ("+14155550200", "+14155550200"),
        ("+14155550305", "+14155550306")]
    assert genesys.dnis("Main IVR") == scattered


def test_new_numbers_next_to_a_pool_grow_it_in_place_and_routed_numbers_stay_put() -> None:
    genesys = org()
    sync(genesys, records(numbers(100, 109)))
    genesys.writes.clear()

    _, problems = sync(genesys, records(numbers(95, 119)))

    assert problems == []
    assert [p[:2] for p in genesys.active_pools()] == [("+14155550095", "+14155550119")]
    assert genesys.writes == [
        "resize pool +14155550100-+14155550109 to +14155550095-+14155550119",
        "ivr Main IVR +15 -0"]
    assert genesys.dnis("Main IVR") == numbers(95, 119)


def test_where_genesys_refuses_to_grow_a_pool_the_new_numbers_get_a_pool_of_their_own() -> None:
    genesys = org()
    sync(genesys, records(numbers(100, 109)))
    genesys.resize = "refuses-any"

    _, problems = sync(genesys, records(numbers(100, 119)))

    assert problems == []
    assert [p[:2] for p in genesys.active_pools()] == [
        ("+14155550100", "+14155550109"), ("+14155550110", "+14155550119")]
    assert genesys.dnis("Main IVR") == numbers(100, 119)


def test_a_number_inside_a_foreign_pool_is_covered_by_it_and_still_routed() -> None:
    genesys = org()
    genesys.add_pool("+14155550900", "+14155550999", description="Head office", name="HQ")

    plan, problems = sync(genesys, records(["+14155550950", "+14155550100"]))

    assert problems == []
    assert genesys.active_pools() == [("+14155550100", "+14155550100", True),
                                      ("+14155550900", "+14155550999", False)]
    assert genesys.dnis("Main IVR") == ["+14155550100", "+14155550950"]
    assert any("foreign DID pool 'HQ'" in note for note in plan.notes)


def test_a_foreign_pool_overlapping_a_pool_of_byocs_is_a_conflict_and_neither_changes() -> None:
    genesys = org()
    sync(genesys, records(numbers(100, 109)))
    # Made by hand in an org that let it overlap (Genesys is documented to refuse this).
    genesys.add_pool("+14155550105", "+14155550300", description="by hand", name="Hand")

    plan = dry_plan(genesys, records(numbers(100, 109)))

    assert plan.is_empty
    assert any("overlaps foreign pool 'Hand'" in c and "changes neither" in c
               for c in plan.conflicts)


def test_the_policys_ivr_user_and_none_routes_are_applied() -> None:
    genesys = org()
    wanted = {"+14155550001": "Main IVR", "+14155559001": "Sales IVR",
              "+14155557001": "alice@example.com", "+14155558001": None}

    _, problems = sync(genesys, records(wanted))

    assert problems == []
    assert {n: genesys.holder(n) for n in wanted} == wanted
    assert genesys.phones("alice@example.com") == ["+14155557001"]


def test_a_user_keeps_a_work_phone_byoc_does_not_manage_and_the_conflict_is_reported() -> None:
    genesys = org()

    plan, problems = sync(genesys, records(["+14155557101"]))

    assert genesys.phones("bob@example.com") == ["+15105550000"]
    assert any("bob@example.com's work phone is +15105550000" in c for c in plan.conflicts)
    assert problems and "+14155557101" in problems[0]


def test_a_missing_ivr_is_reported_and_its_numbers_are_left_as_they_are() -> None:
    genesys = org()
    genesys.ivrs[next(iter(genesys.ivrs))] = replace(
        next(iter(genesys.ivrs.values())), dnis=("+14155557201",))

    plan, problems = sync(genesys, records(["+14155557201"]))

    assert any("IVR 'Missing IVR' does not exist" in c for c in plan.conflicts)
    assert genesys.holder("+14155557201") == "Main IVR"
    assert problems == ["+14155557201: the policy routes it to IVR 'Missing IVR', which Genesys lacks"]


def test_a_number_moving_between_ivrs_is_removed_before_it_is_added() -> None:
    genesys = org()
    sync(genesys, records(["+14155550001"]))
    main = next(v for v in genesys.ivrs.values() if v.name == "Main IVR")
    genesys.ivrs[main.id] = replace(main, dnis=("+14155550001", "+14155559001"))  # by hand
    genesys.writes.clear()

    _, problems = sync(genesys, records(["+14155550001", "+14155559001"]))

    assert problems == []
    assert genesys.writes.index("ivr Main IVR +0 -1") < genesys.writes.index("ivr Sales IVR +1 -0")
    assert genesys.holder("+14155559001") == "Sales IVR"


def test_a_number_held_by_something_byoc_cannot_see_is_skipped_and_reported() -> None:
    genesys = org()
    genesys.phones_held_elsewhere.add("+14155550102")

    _, problems = sync(genesys, records(numbers(100, 104)))

    assert genesys.dnis("Main IVR") == ["+14155550100", "+14155550101", "+14155550103",
                                        "+14155550104"]
    assert problems == ["+14155550102: held by PHONE 'Lobby phone', which byoc does not unassign"]


def test_a_pooled_number_a_user_byoc_never_read_holds_is_taken_from_them() -> None:
    genesys = org()
    genesys.add_pool("+14155550100", "+14155550109")
    genesys.add_user("carol@example.com", ("+14155550101", "WORK"))

    _, problems = sync(genesys, records(numbers(100, 109)))

    assert problems == []
    assert genesys.holder("+14155550101") == "Main IVR"
    assert genesys.phones("carol@example.com") == []


def test_a_version_conflict_is_reread_and_reapplied() -> None:
    genesys = org()
    genesys.conflicts_next_ivr_write = 1

    _, problems = sync(genesys, records(numbers(100, 104)))

    assert problems == [] and genesys.dnis("Main IVR") == numbers(100, 104)


# --- offboarding ------------------------------------------------------------------------------


def test_releasing_a_number_inside_a_pool_unroutes_it_and_keeps_the_pool_whole() -> None:
    genesys = org()
    sync(genesys, records(numbers(100, 109)))
    genesys.writes.clear()

    plan, problems = sync(genesys, records(numbers(100, 104) + numbers(106, 109),
                                           releasing=["+14155550105"]))

    assert problems == []
    assert genesys.writes == ["ivr Main IVR +0 -1"]
    assert [p[:2] for p in genesys.active_pools()] == [("+14155550100", "+14155550109")]
    assert plan.numbers_removed() == {"+14155550105"}
    assert genesys.holder("+14155550105") is None
    assert any("keeps 1 number(s) byoc no longer manages" in n for n in plan.notes)


def test_releasing_numbers_at_the_end_of_a_pool_unroutes_them_then_shrinks_it_in_place() -> None:
    genesys = org()
    sync(genesys, records(numbers(100, 109)))
    genesys.writes.clear()

    plan, problems = sync(genesys, records(numbers(102, 107),
                                           releasing=numbers(100, 101) + numbers(108, 109)))

    assert problems == []
    assert genesys.writes == [
        "ivr Main IVR +0 -4",
        "resize pool +14155550100-+14155550109 to +14155550102-+14155550107"]
    assert genesys.dnis("Main IVR") == numbers(102, 107)
    assert plan.numbers_removed() == {*numbers(100, 101), *numbers(108, 109)}


def test_where_genesys_refuses_to_shrink_a_pool_it_is_kept_whole_and_verify_says_why() -> None:
    genesys = org()
    sync(genesys, records(numbers(100, 109)))
    genesys.resize = "refuses-any"

    _, problems = sync(genesys, records(numbers(100, 107), releasing=numbers(108, 109)))

    assert [p[:2] for p in genesys.active_pools()] == [("+14155550100", "+14155550109")]
    assert genesys.dnis("Main IVR") == numbers(100, 107)
    (problem,) = problems
    assert "refused" in problem and "+14155550100-+14155550109" in problem
    assert "does not delete and recreate" in problem


def test_offboarding_every_number_removes_routing_then_the_pool() -> None:
    genesys = org()
    sync(genesys, records(["+14155557001", *numbers(100, 102)]))
    genesys.writes.clear()

    plan, problems = sync(genesys, records(releasing=["+14155557001", *numbers(100, 102)],
                                           users={"+14155557001": "alice@example.com"}))

    assert problems == []
    assert genesys.writes[-2:] == ["delete pool +14155550100-+14155550102",
                                   "delete pool +14155557001-+14155557001"]
    assert genesys.active_pools() == [] and genesys.dnis("Main IVR") == []
    assert genesys.phones("alice@example.com") == []
    assert plan.numbers_removed() == {"+14155557001", *numbers(100, 102)}


def test_removals_ride_on_the_first_write_of_additions_to_the_same_ivr() -> None:
    genesys = org()
    genesys.add_pool("+14155550900", "+14155550999", description="Head office", name="HQ")
    sync(genesys, records(["+14155550950"]))
    genesys.writes.clear()

    _, problems = sync(genesys, records(numbers(200, 259), releasing=["+14155550950"]))

    assert problems == []
    assert genesys.writes == ["create pool +14155550200-+14155550259",
                              "ivr Main IVR +50 -1", "ivr Main IVR +10 -0"]
    assert genesys.dnis("Main IVR") == numbers(200, 259)


def test_a_number_byoc_never_routed_is_taken_from_its_user_before_its_pool_goes() -> None:
    genesys = org()
    genesys.add_pool("+14155550100", "+14155550109")
    genesys.add_user("carol@example.com", ("+14155550101", "WORK"))

    _, problems = sync(genesys, records(releasing=numbers(100, 109)))

    assert problems == []
    assert genesys.active_pools() == [] and genesys.phones("carol@example.com") == []


def test_a_pool_holding_a_number_byoc_cannot_unassign_stays_and_is_reported() -> None:
    genesys = org()
    genesys.phones_held_elsewhere.add("+14155550104")
    sync(genesys, records(numbers(100, 104)))  # +14155550104 stays on the lobby phone

    plan, problems = sync(genesys, records(numbers(100, 102), releasing=numbers(103, 104)))

    assert genesys.active_pools() == [("+14155550100", "+14155550104", True)]
    assert genesys.dnis("Main IVR") == numbers(100, 102)
    assert any("+14155550104 in it is assigned to PHONE 'Lobby phone'" in c for c in plan.conflicts)
    assert problems == [
        "+14155550103, +14155550104: still in DID pool +14155550100-+14155550104: +14155550104 in "
        "it is assigned to PHONE 'Lobby phone', which byoc does not unassign"]


def test_the_mass_deletion_guard_sees_every_number_a_plan_takes_away() -> None:
    genesys = org()
    sync(genesys, records(numbers(100, 199)))

    plan = dry_plan(genesys, records(numbers(100, 149), releasing=numbers(150, 199)))

    assert plan.numbers_before == 100 and len(plan.numbers_removed()) == 50
    with pytest.raises(SafetyGuardRefused):
        guard(plan, GuardLimits(max_delete_fraction=0.1, max_delete_count=100))


def test_a_foreign_pool_is_never_deleted_even_when_its_numbers_are_released() -> None:
    genesys = org()
    genesys.add_pool("+14155550900", "+14155550999", description="Head office", name="HQ")
    sync(genesys, records(["+14155550950"]))

    _, problems = sync(genesys, records(releasing=["+14155550950"]))

    assert problems == []
    assert genesys.active_pools() == [("+14155550900", "+14155550999", False)]
    assert genesys.holder("+14155550950") is None


def test_a_forged_plan_touching_a_foreign_pool_is_refused() -> None:
    genesys = org()
    pool_id = genesys.add_pool("+14155550900", "+14155550999", description="Head office")
    reconciler = GenesysReconciler(make_settings(), genesys)
    forged = Plan(target="genesys", changes=(Change(
        "genesys", Action.REMOVE, "did-pool", "+14155550900-+14155550999", "forged",
        before=PoolRange(pool_id, "+14155550900", "+14155550999", "", "Head office")),))

    with pytest.raises(ForeignGenesysObjectError, match="never deletes foreign pools"):
        reconciler.apply(forged, FakeLease())
    assert genesys.writes == []


def test_every_write_checks_the_lease_first_and_a_lost_lease_stops_the_apply() -> None:
    genesys = org()
    lease = FakeLease()
    sync(genesys, records(numbers(100, 199)), lease=lease)
    assert lease.checks == len(genesys.writes)

    lost = FakeLease()
    lost.lost = True
    with pytest.raises(LockLost):
        sync(genesys, records(numbers(100, 299)), lease=lost)
    assert len(genesys.writes) == 3  # nothing more was written


# --- outbound ---------------------------------------------------------------------------------


def test_classifications_a_foreign_route_already_sends_through_the_trunk_need_nothing() -> None:
    genesys = org()

    plan = dry_plan(genesys, [])

    assert plan.is_empty and plan.conflicts == ()
    assert any("National calls already go through 'Twilio-BYOC'" in n for n in plan.notes)


def test_byoc_creates_its_route_for_classifications_nobody_carries() -> None:
    genesys = FakeGenesys()

    _, problems = sync(genesys, [])

    assert problems == []
    (route,) = genesys.routes.values()
    assert route.name == "byoc-outbound" and MARKER in route.description
    assert set(route.classification_types) == {"National", "International"}
    assert [b.name for b in route.trunk_bases] == ["Twilio-BYOC"]


def test_byocs_route_is_repaired_when_someone_changes_it() -> None:
    genesys = FakeGenesys()
    route_id = genesys.add_route("byoc-outbound", ["National"], base="Other",
                                 description=f"x {MARKER}", enabled=False)

    plan, problems = sync(genesys, [])

    assert problems == [] and plan.changes[0].action is Action.UPDATE
    repaired = genesys.routes[route_id]
    assert repaired.enabled and [b.name for b in repaired.trunk_bases] == ["Twilio-BYOC"]
    assert set(repaired.classification_types) == {"National", "International"}


def test_a_foreign_route_sending_calls_elsewhere_is_reported_not_changed() -> None:
    genesys = FakeGenesys()
    genesys.add_route("Legacy", ["National"], base="Other")

    plan, problems = sync(genesys, [])

    assert problems == []
    assert any("foreign outbound route 'Legacy' sends National calls through Other" in c
               for c in plan.conflicts)
    mine = [r for r in genesys.routes.values() if r.name == "byoc-outbound"]
    assert [r.classification_types for r in mine] == [("International",)]
    assert [b.name for b in genesys.routes[next(iter(genesys.routes))].trunk_bases] == ["Other"]


def test_a_foreign_route_with_byocs_route_name_is_left_alone() -> None:
    genesys = FakeGenesys()
    genesys.add_route("byoc-outbound", ["National"], base="Other")

    plan = dry_plan(genesys, [])

    assert plan.is_empty
    assert any("'byoc-outbound' on site 'Azure-BYOC' is not byoc's" in c for c in plan.conflicts)


def test_without_site_and_trunk_base_settings_the_outbound_route_is_not_managed() -> None:
    genesys = FakeGenesys()
    settings = make_settings(genesys_site_name=None, genesys_trunk_base_name=None)

    plan, _ = sync(genesys, [], settings=settings)

    assert plan.is_empty and "find_site" not in genesys.calls
    assert any("outbound route is not managed" in n for n in plan.notes)


# --- registration ------------------------------------------------------------------------------


def test_the_genesys_target_is_registered_and_tracks_numbers() -> None:
    services = Services(make_settings())
    registry = ReconcilerRegistry()

    register_genesys_target(services, registry)

    assert registry.targets() == ["genesys"]
    built = registry.build("genesys")
    assert built.target == "genesys" and built.tracks_numbers is True


def test_building_the_target_does_not_import_the_genesys_sdk() -> None:
    code = (
        "import sys\n"
        "from byoc.bootstrap import Services\n"
        "from byoc.bootstrap.targets import register_genesys_target\n"
        "from byoc.services.reconcile import ReconcilerRegistry\n"
        "from byoc.settings import load_settings\n"
        "r = ReconcilerRegistry()\n"
        f"register_genesys_target(Services(load_settings(**{BASE_SETTINGS!r})), r)\n"
        "r.build('genesys').desired\n"
        "print('PureCloudPlatformClientV2' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "False"


def test_routes_are_matched_to_the_site_by_id_even_when_their_site_reference_has_no_name() -> None:
    genesys = FakeGenesys()
    route_id = genesys.add_route("byoc-outbound", ["National", "International"],
                                 description=f"x {MARKER}")
    genesys.routes[route_id] = replace(genesys.routes[route_id], site=GenesysRef("site-1", ""))

    plan, problems = sync(genesys, [])

    assert problems == [] and plan.is_empty
    assert list(genesys.routes) == [route_id]
