"""Idempotency on the whole sandbox: every sync can run twice, or die half-way and run again, and
the estate ends the same: every number where the policy wants it, nothing duplicated, nothing
unsaved, and a further sync writes nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from estate import Vendors, converge, drain, managed_numbers

from byoc.domain.jobs import NumberEvent, new_correlation_id
from byoc.services.sync_requests import SyncRequests

pytestmark = pytest.mark.integration

NEW = [f"+1415555{n}" for n in (1000, 1001, 1002, 1003, 1010, 1011, 1050, 1200, 1201, 1202)]
RELEASED = ["+14155550105", "+14155550117"]


class WorkerKilled(BaseException):
    """The worker process dies here: nothing after this line of the sync runs."""


@pytest.fixture
def estate(sandbox_env: dict[str, Any]) -> Iterator[tuple[Any, Vendors]]:
    """A converged estate, then ten numbers bought and two released (recorded, not yet synced)."""
    from byoc.bootstrap import get_services

    services = get_services()
    vendors = Vendors(sandbox_env)
    converge(services)
    for number in NEW:
        bought = vendors.call(vendors.ports["twilio"], "POST", "/_sandbox/twilio/purchase",
                              {"phone_number": number})
        services.numbers.handle(event("purchased", number, bought["sid"]))
    for number in RELEASED:
        services.numbers.handle(event("released", number, None))
    # Each test runs the syncs these events asked for its own way: forget the queued ones.
    services.queue.clear()
    pending = SyncRequests(queue=services.queue, state=services.state)
    for target in services.registry.targets():
        pending.started(target)
    yield services, vendors
    vendors.close()


def event(action: str, number: str, sid: str | None) -> NumberEvent:
    return NumberEvent(action=action, number=number, sid=sid, source="webhook",  # type: ignore[arg-type]
                       event_id=f"{action}-{number}", correlation_id=new_correlation_id())


def end_state_problems(services: Any, vendors: Vendors) -> list[str]:
    """What differs from the desired end state, read from the emulators themselves."""
    policy = services.policy()
    present = managed_numbers(vendors, policy)
    assert not set(RELEASED) & set(present)
    assert set(NEW) <= set(present)
    everything = sorted({*present, *RELEASED})
    problems: list[str] = []
    if set(present) != vendors.on_trunk() & set(everything):
        problems.append(f"trunk: {sorted(vendors.on_trunk() ^ set(present))}")
    for number, routes in vendors.sbc_routes(everything).items():
        for sbc, (rule, tag) in enumerate(routes, 1):
            ours = str(rule).startswith("byoc-")
            if number in present and (not ours or tag != policy.route_for(number).sbc_tag):
                problems.append(f"sbc{sbc}: {number} -> {rule} {tag}")
            if number not in present and ours:
                problems.append(f"sbc{sbc}: released {number} still -> {rule}")
    for url in vendors.urls("audiocodes"):
        device = vendors.call(url, "GET", "/_sandbox/state")
        if device["save_needed"] or device["saved_dial_plans"] != device["dial_plans"]:
            problems.append(f"{device['name']}: the running dial plan is not saved")
        if device["reset_count"]:
            problems.append(f"{device['name']}: was reset {device['reset_count']} time(s)")
    pools = vendors.genesys_pools()
    for number in everything:
        covering = [p for p in pools if p["startPhoneNumber"] <= number <= p["endPhoneNumber"]
                    and len(p["startPhoneNumber"]) == len(number)]
        if number in present and len(covering) != 1:
            problems.append(f"genesys: {number} in {len(covering)} pools")
        # A released number may stay in a pool of byoc's only in a gap, between managed
        # numbers of that pool (pools change in place and are never split: docs/genesys.md)
        if number not in present and any(
            "managed-by:byoc" in (p.get("description") or "")
            and not (any(p["startPhoneNumber"] <= n < number for n in present if len(n) == len(number))
                     and any(number < n <= p["endPhoneNumber"] for n in present
                             if len(n) == len(number)))
            for p in covering
        ):
            problems.append(f"genesys: released {number} still in a pool of byoc's, at its edge")
    genesys = vendors.state("genesys")
    owners = {d["number"]: d["ownerName"] for d in genesys["dids"]}
    for number in present:
        route = policy.route_for(number)
        if route.genesys_kind == "ivr" and owners.get(number) != route.genesys_name:
            problems.append(f"genesys: {number} routed to {owners.get(number)}")
    problems += [f"genesys: released {n} still routed to {owners[n]}" for n in RELEASED
                 if n in owners]
    held = Counter(n for ivr in genesys["ivrs"] for n in ivr["dnis"])
    problems += [f"genesys: {n} in {c} IVRs" for n, c in held.items() if c > 1]
    for url in vendors.urls("twilio"):
        hosts = Counter(u["sip_url"] for u in vendors.call(url, "GET", "/_sandbox/state")
                        ["trunks"][0]["origination_urls"])
        problems += [f"twilio: origination URL {u} x{c}" for u, c in hosts.items() if c > 1]
    return problems


def settle(services: Any, vendors: Vendors) -> None:
    """A restarted worker picks up: every target converges; then nothing is left to write."""
    from byoc.bootstrap import get_services, reset_services

    reset_services()
    services = get_services()
    converge(services)
    assert end_state_problems(services, vendors) == []
    writes = vendors.writes()
    services.reconcile.enqueue("all", reason="again", correlation_id=new_correlation_id())
    drain(services)
    assert vendors.writes() - writes == Counter(), "a sync of a converged estate wrote"


def kill_at_write(monkeypatch: pytest.MonkeyPatch, write: int) -> list[int]:
    """Kill the sync at its `write`-th vendor write (each write checks the lease first)."""
    from byoc.adapters import lock

    seen = [0]
    check = lock.TargetLease.check

    def dying_check(self: lock.TargetLease) -> None:
        seen[0] += 1
        if seen[0] == write:
            raise WorkerKilled(f"killed before write {write}")
        check(self)

    monkeypatch.setattr(lock.TargetLease, "check", dying_check)
    return seen


def test_every_sync_run_twice_ends_as_one_run(estate: tuple[Any, Vendors]) -> None:
    services, vendors = estate
    converge(services)
    assert end_state_problems(services, vendors) == []
    writes = vendors.writes()

    for target in services.registry.targets():
        outcome = services.reconcile.sync(target, correlation_id="second-run")
        assert outcome.converged and outcome.plan.is_empty, target

    assert vendors.writes() - writes == Counter()


@pytest.mark.parametrize(("target", "write"), [
    ("twilio", 3), ("genesys", 5), ("sbc:sbc1", 1), ("nsg:sbc1", 2)])
def test_a_sync_killed_half_way_is_finished_by_the_next_one(
        estate: tuple[Any, Vendors], monkeypatch: pytest.MonkeyPatch, target: str,
        write: int) -> None:
    services, vendors = estate
    if target.startswith("nsg:"):
        drift_nsg(vendors, target.removeprefix("nsg:"), rules=3)
    with monkeypatch.context() as patched:
        seen = kill_at_write(patched, write)
        with pytest.raises(WorkerKilled):
            services.reconcile.sync(target, correlation_id="killed")

    assert seen[0] == write
    settle(services, vendors)


def drift_nsg(vendors: Vendors, sbc: str, *, rules: int) -> None:
    """Someone deletes byoc's first `rules` rules of the SBC's NSG in the portal."""
    nsgs = vendors.state("arm")["network_security_groups"]
    nsg_id = next(i for i in nsgs if i.endswith(f"-{sbc}"))
    owned = sorted(r["name"] for r in nsgs[nsg_id]["security_rules"]
                   if r["name"].startswith("byoc"))[:rules]
    for rule in owned:
        vendors.call(vendors.ports["arm"], "POST", "/_sandbox/arm/edit-rule",
                     {"nsg": nsg_id, "rule": rule, "delete": True})


def test_an_sbc_upload_whose_save_never_came_is_saved_by_the_next_sync(
        estate: tuple[Any, Vendors]) -> None:
    services, vendors = estate  # the same retries, no waits (tests/conftest.py)
    vendors.fault("audiocodes", {"route": "saveConfiguration", "status": 503, "count": 6})

    with pytest.raises(Exception, match="503"):
        services.reconcile.sync("sbc:sbc1", correlation_id="no-save")

    vendors.clear_faults()
    settle(services, vendors)


def test_twilio_associations_refused_with_5xx_end_the_same(estate: tuple[Any, Vendors]) -> None:
    services, vendors = estate
    # Each refused association is retried (after reading the number: it may have landed).
    vendors.fault("twilio", {"route": "/PhoneNumbers$", "method": "POST", "status": 500,
                             "count": 4})

    converge(services)

    assert end_state_problems(services, vendors) == []
