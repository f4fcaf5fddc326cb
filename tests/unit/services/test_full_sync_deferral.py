"""The reconcile timer puts off a full sync while a slice backlog is worked, within its bound."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fakes import FakeInventory, FakeLocks, FakeOperations, FakeQueue, FakeState

from byoc.domain.inventory import on_purchased
from byoc.domain.jobs import SyncTarget
from byoc.domain.plan import Action, Change, GuardLimits, Plan
from byoc.domain.policy_file import load_policy
from byoc.entrypoints.reports import render_status
from byoc.services.reconcile import DesiredState, ReconcilerRegistry, ReconcileService
from byoc.services.status import build_status
from byoc.services.sync_requests import SyncRequests

POLICY = load_policy("""
version: 1
managed: {prefixes: ["+1415555"]}
rules: []
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
""", "test")
START = dt.datetime(2026, 12, 8, 1, 0, tzinfo=dt.UTC)
HOUR_S = 3600.0


class SliceTarget:
    """A target holding a set of numbers, synced whole or a slice at a time."""

    target = "genesys"
    tracks_numbers = True

    def __init__(self) -> None:
        self.numbers: set[str] = set()
        self.full_reads = 0

    def read_actual(self) -> set[str]:
        self.full_reads += 1
        return set(self.numbers)

    def desired(self, state: DesiredState) -> set[str]:
        return set(state.numbers)

    def plan(self, actual: set[str], desired: set[str]) -> Plan:
        added = tuple(sorted(desired - actual))
        changes = (Change(self.target, Action.ADD, "numbers", "set", "add",
                          numbers_added=added),) if added else ()
        return Plan(target=self.target, changes=changes, numbers_before=len(actual))

    def apply(self, plan: Plan, lease: Any) -> None:
        for change in plan.changes:
            self.numbers |= set(change.numbers_added)

    def verify(self, desired: set[str]) -> list[str]:
        return [f"missing {n}" for n in sorted(desired - self.numbers)]

    def read_slice(self, numbers: frozenset[str]) -> set[str]:
        return self.numbers & numbers

    def desired_slice(self, state: DesiredState, numbers: frozenset[str]) -> set[str]:
        return set(state.numbers) & numbers

    def plan_slice(self, actual: set[str], desired: set[str]) -> Plan:
        return self.plan(actual, desired)

    def verify_slice(self, desired: set[str]) -> list[str]:
        return self.verify(desired)


class Estate:
    """byoc's reconcile service over one slice-capable target, on a clock the test moves."""

    def __init__(self, *, max_deferral_s: float = HOUR_S) -> None:
        self.now = START
        self.target = SliceTarget()
        self.inventory = FakeInventory()
        self.state, self.queue = FakeState(), FakeQueue()
        registry = ReconcilerRegistry()
        registry.register("genesys", lambda: self.target)
        self.service = ReconcileService(
            registry=registry, inventory=self.inventory, operations=FakeOperations(),
            state=self.state, locks=FakeLocks(), queue=self.queue, policy=lambda: POLICY,
            limits=GuardLimits(), full_sync_max_deferral_s=max_deferral_s,
            clock=lambda: self.now)
        self.events = SyncRequests(queue=self.queue, state=self.state)

    def wait(self, minutes: float) -> None:
        self.now += dt.timedelta(minutes=minutes)

    def buy(self, *numbers: str) -> None:
        """Numbers bought: noted for a slice sync, which is queued."""
        for number in numbers:
            self.inventory.put(on_purchased(None, number, sid=None, source="cli",
                                            correlation_id="buy-0001"))
        self.events.request("genesys", reason="number event", correlation_id="event-0001",
                            numbers=numbers)

    def work(self) -> list[SyncTarget]:
        """Run every queued sync; the jobs run."""
        ran = []
        while self.queue.sent:
            job, _ = self.queue.sent.pop(0)
            assert isinstance(job, SyncTarget)
            self.service.sync(job.target, correlation_id=job.correlation_id,
                              numbers=job.numbers)
            ran.append(job)
        return ran

    def timer(self) -> tuple[list[str], list[Any]]:
        return self.service.enqueue_timer(correlation_id="timer-0001")


def backlog_being_worked(estate: Estate) -> None:
    """A full sync, then a slice converged, and more numbers noted for the next slice."""
    estate.service.enqueue("genesys", reason="first", correlation_id="full-0001")
    estate.work()
    estate.wait(10)
    estate.buy("+14155550100")
    estate.work()
    estate.wait(1)
    estate.buy("+14155550101", "+14155550102")


def test_the_timer_defers_the_full_sync_while_a_slice_backlog_is_worked() -> None:
    estate = Estate()
    backlog_being_worked(estate)
    reads = estate.target.full_reads

    queued, deferred = estate.timer()

    assert queued == []
    assert [(d.target, d.pending) for d in deferred] == [("genesys", 2)]
    assert [job.numbers for job in estate.work()] == [("+14155550101", "+14155550102")]
    assert estate.target.full_reads == reads  # no full sync ran


def test_the_timer_runs_the_full_sync_once_the_bound_has_passed() -> None:
    estate = Estate(max_deferral_s=HOUR_S)
    backlog_being_worked(estate)
    for _ in range(4):  # the backlog keeps being worked, past the hour since the full sync
        estate.wait(15)
        estate.work()
        estate.buy("+14155550103")
    estate.work()
    estate.buy("+14155550104")
    reads = estate.target.full_reads

    queued, deferred = estate.timer()

    assert (queued, deferred) == (["genesys"], [])
    estate.work()
    assert estate.target.full_reads == reads + 1
    assert "+14155550104" in estate.target.numbers


def test_the_timer_does_not_defer_without_a_backlog() -> None:
    estate = Estate()
    backlog_being_worked(estate)
    estate.work()  # the backlog is done

    assert estate.timer() == (["genesys"], [])


def test_the_timer_does_not_defer_when_no_slice_converged_recently() -> None:
    estate = Estate()
    backlog_being_worked(estate)
    estate.wait(20)  # slices stalled: the noted numbers are not being worked

    assert estate.timer()[1] == []


def test_the_timer_does_not_defer_without_a_converged_full_sync_on_record() -> None:
    estate = Estate()
    estate.buy("+14155550100")
    estate.work()
    estate.buy("+14155550101")

    assert estate.timer() == (["genesys"], [])


def test_a_zero_bound_never_defers() -> None:
    estate = Estate(max_deferral_s=0)
    backlog_being_worked(estate)

    assert estate.timer() == (["genesys"], [])


def test_status_says_the_full_sync_is_deferred_until_the_next_full_sync(capsys: Any) -> None:
    estate = Estate()
    backlog_being_worked(estate)
    estate.timer()

    report = build_status(inventory=estate.inventory, state=estate.state, queue=estate.queue)
    render_status(report.to_json())
    text = " ".join(capsys.readouterr().out.split())
    said = "full sync deferred: 2 numbers pending in slices (last full sync at 2026-12-08T01:00:00+00:00)"
    assert said in text
    assert report.to_json()["convergence"]["genesys"]["full_sync_deferred"] == said

    estate.work()
    estate.service.enqueue("genesys", reason="by hand", correlation_id="full-0002")
    estate.work()
    report = build_status(inventory=estate.inventory, state=estate.state, queue=estate.queue)
    assert report.to_json()["convergence"]["genesys"]["full_sync_deferred"] is None
