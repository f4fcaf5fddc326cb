"""The Genesys emulator's indexes give the answers a walk of the whole org gives.

The org answers `/didpools/dids?numberMatch=` by bisection, checks and re-indexes only the numbers
an IVR write adds or removes, and keeps its pool listing sorted between pool writes: at 100,000
numbers the walks took minutes. These tests hold each shortcut to the walk it replaced, on random
orgs, under every `dids_number_match` reading."""

from __future__ import annotations

import contextlib
import random
from typing import Any

import httpx
import pytest

from sandbox.core import ServedApp, build_app
from sandbox.genesys import GenesysEmulator
from sandbox.genesys_entities import Division, Ivr, User
from sandbox.genesys_org import GenesysOrg, OrgRules
from sandbox.genesys_wire import GenesysError
from sandbox.launcher import load_seed

pytestmark = pytest.mark.integration

EDGES = "/api/v2/telephony/providers/edges"
HOWS = ("substring", "prefix", "exact")


def random_org(rng: random.Random, variant: str = "accepts") -> GenesysOrg:
    """Pools of 11- and 12-digit numbers (some deleted, some resized), unassigned."""
    org = GenesysOrg(OrgRules(), Division("d", "Home"), "byoc")
    org.variant = {"conflict_text": "names-version", "pool_delete_lag": "immediate",
                   "pool_range_change": variant}.__getitem__
    for base in (16285000000, 442071000000):
        value = base
        for _ in range(rng.randint(5, 15)):
            value += rng.randint(1, 40)
            end = value + rng.randint(0, 12)
            org.create_pool({"startPhoneNumber": f"+{value}", "endPhoneNumber": f"+{end}"}, 0.0)
            value = end
    pools = list(org.pools.values())
    for pool in rng.sample(pools, 3):
        org.delete_pool(pool.id, 1.0)
    return org


def walk(org: GenesysOrg, pool_ids: list[str], needle: str, how: str) -> list[tuple[str, str]]:
    """What `numberMatch` finds by walking every number of every active pool."""
    pools = sorted((p for p in org.pools.values() if p.state != "deleted"
                    and (not pool_ids or p.id in pool_ids)), key=lambda p: (len(p.start), p.start))
    found = []
    for pool in pools:
        for value in pool.numbers():
            digits = str(value)
            if (digits == needle if how == "exact" else digits.startswith(needle)
                    if how == "prefix" else needle in digits):
                found.append((f"+{digits}", pool.id))
    return found


def test_number_lookups_find_what_a_walk_of_every_pool_finds() -> None:
    rng = random.Random(25)
    for _ in range(20):
        org = random_org(rng)
        numbers = [f"+{v}" for p in org.pools.values() for v in p.numbers()]
        needles = ["", "+", "abc", "0", "+016285", "1", "44", "99", "+1628", "628500", "2071"]
        for number in rng.sample(numbers, 15):
            value = int(number[1:])
            needles += [number, f"+{value - 1}", f"+{value + 1}", number[1:], number[:6],
                        number[:-2], number[3:], number[4:9], number + "0"]
        live = [p.id for p in org.pools.values() if p.state != "deleted"]
        for needle in needles:
            for how in HOWS:
                for ids in ([], rng.sample(live, 4)):
                    got = [(n, p.id) for n, p in org.pool_numbers(ids, needle, how)]
                    assert got == walk(org, ids, needle.lstrip("+"), how), (needle, how, ids)
        assert [(n, p.id) for n, p in org.pool_numbers([])] == walk(org, [], "", "substring")


def expected_dids(org: GenesysOrg) -> set[tuple[str, str, str, str]]:
    """A DID for each pool number someone holds: the user who joined last among those carrying
    it, else the IVR that did; (number, owner type, owner id, pool id)."""
    found = set()
    carried = {n for i in org.ivrs.values() for n in i.dnis}
    carried |= {n for u in org.users.values() for n in u.phone_addresses()}
    for number in carried:
        pool = next((p for p in org.pools.values() if p.state != "deleted"
                     and len(p.start) == len(number) and p.start <= number <= p.end), None)
        if pool is None:
            continue
        users = [u for u in org.users.values() if number in u.phone_addresses()]
        ivrs = [i for i in org.ivrs.values() if number in i.dnis]
        owner: Ivr | User
        if users:
            kind, owner = "USER", max(users, key=lambda u: org._seq[u.id])
        else:
            kind, owner = "IVR_CONFIG", max(ivrs, key=lambda i: org._seq[i.id])
        found.add((number, kind, owner.id, pool.id))
    return found


def refusal(org: GenesysOrg, ivr: Ivr | None, dnis: list[str]) -> str | None:
    """Why Genesys refuses an IVR holding `dnis` (None: it accepts): a number another IVR
    holds, or that a user holds in a pool; else a number in no pool."""
    def in_pool(number: str) -> bool:
        return any(p.state != "deleted" and len(p.start) == len(number)
                   and p.start <= number <= p.end for p in org.pools.values())
    for number in dnis:
        if any(i is not ivr and number in i.dnis for i in org.ivrs.values()) or (
                in_pool(number) and any(number in u.phone_addresses()
                                        for u in org.users.values())):
            return "did.already.assigned"
    return None if all(in_pool(n) for n in dnis) else "bad.request"


def test_ivr_and_pool_writes_refuse_and_assign_as_a_check_of_every_number_would() -> None:
    rng = random.Random(2025)
    for _ in range(8):
        org = random_org(rng)
        numbers = [f"+{v}" for p in org.pools.values() for v in p.numbers()]
        numbers += [f"+{int(n[1:]) + 1}" for n in rng.sample(numbers, 10)]  # some in no pool
        users = [org.add_user(entity_id=f"u{k}", name=f"U{k}", email=f"u{k}@example.com",
                              addresses=[{"mediaType": "PHONE", "type": "WORK",
                                          "address": rng.choice(numbers)}], now=0.0)
                 for k in range(3)]
        for step in range(60):
            ivrs = list(org.ivrs.values())
            roll = rng.random()
            if roll < 0.15 or not ivrs:
                dnis = rng.sample(numbers, rng.randint(0, 5))
                expected = refusal(org, None, dnis)
                try:
                    org.create_ivr({"name": f"IVR {step}", "dnis": dnis}, 0.0, lambda _: True)
                    assert expected is None
                except GenesysError as exc:
                    assert expected == exc.code, exc.message
            elif roll < 0.7:
                ivr = rng.choice(ivrs)
                kept = [n for n in ivr.dnis if rng.random() < 0.8]
                dnis = kept + [n for n in rng.sample(numbers, rng.randint(0, 6)) if n not in kept]
                rng.shuffle(dnis)
                expected = refusal(org, ivr, dnis)
                try:
                    org.update_ivr(ivr.id, {"name": ivr.name, "dnis": dnis,
                                            "version": ivr.version}, 0.0, lambda _: True)
                    assert expected is None and ivr.dnis == dnis
                except GenesysError as exc:
                    assert expected == exc.code, exc.message
            elif roll < 0.8:
                user = rng.choice(users)
                try:
                    org.patch_user(user.id, {"version": user.version, "addresses": [
                        {"mediaType": "PHONE", "type": "WORK", "address": rng.choice(numbers)}]},
                        0.0, lambda _: True)
                except GenesysError as exc:
                    assert exc.code == "did.already.assigned"  # an IVR holds it
            elif roll < 0.95:  # resize a pool (the `accepts` reading strands numbers)
                pool = rng.choice([p for p in org.pools.values() if p.state != "deleted"])
                low, high = int(pool.start[1:]), int(pool.end[1:])
                with contextlib.suppress(GenesysError):  # an overlap, an inverted range
                    org.update_pool(pool.id, {"startPhoneNumber": f"+{low + rng.randint(-2, 2)}",
                                              "endPhoneNumber": f"+{high + rng.randint(-2, 2)}"},
                                    0.0)
            else:
                ivr = rng.choice(ivrs)
                org.delete_ivr(ivr.id, 0.0)
            got = {(d.number, d.owner_type, d.owner.id, d.pool.id) for d in org.dids.values()}
            assert got == expected_dids(org), step


def test_pool_listing_stays_in_order_across_pool_writes() -> None:
    rng = random.Random(7)
    emulator = GenesysEmulator(load_seed()["genesys"])
    server = ServedApp(build_app(emulator)).start()
    oauth = emulator.settings
    try:
        with httpx.Client(base_url=server.url) as http:
            token = http.post("/oauth/token", data={"grant_type": "client_credentials"},
                              auth=(oauth.client_id, oauth.client_secret)).json()["access_token"]
            headers = {"Authorization": f"Bearer {token}"}

            def listing(**params: Any) -> list[tuple[str, str]]:
                pools: list[tuple[str, str]] = []
                for page in range(1, 100):
                    body = http.get(f"{EDGES}/didpools", headers=headers, params={
                        "pageSize": 7, "pageNumber": page, **params}).json()
                    pools += [(p["startPhoneNumber"], p["name"]) for p in body["entities"]]
                    if page >= body["pageCount"]:
                        return pools
                raise AssertionError("too many pages")

            ids: list[str] = []
            for step in range(40):
                action = rng.random()
                if action < 0.6 or not ids:
                    start = 16286000000 + rng.randint(0, 10_000) * 10
                    reply = http.post(f"{EDGES}/didpools", headers=headers, json={
                        "startPhoneNumber": f"+{start}", "endPhoneNumber": f"+{start + 3}",
                        "name": f"pool {rng.randint(0, 999)}"})
                    ids += [reply.json()["id"]] if reply.status_code == 200 else []
                elif action < 0.8:
                    pool = http.get(f"{EDGES}/didpools/{rng.choice(ids)}", headers=headers).json()
                    http.put(f"{EDGES}/didpools/{pool['id']}", headers=headers,
                             json={**pool, "name": f"renamed {step}"})
                else:
                    http.delete(f"{EDGES}/didpools/{ids.pop(rng.randrange(len(ids)))}",
                                headers=headers)
                pools = list(emulator.org.pools.values())
                assert listing() == [(p.start, p.name) for p in
                                     sorted(pools, key=lambda p: p.start.lower())]
                assert listing(sortBy="name", sortOrder="desc") == [
                    (p.start, p.name) for p in sorted(pools, key=lambda p: p.name.lower(),
                                                      reverse=True)]
    finally:
        server.stop()
