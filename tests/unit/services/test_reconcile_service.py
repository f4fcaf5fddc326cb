"""The reconcile runner: plan without changing, guard, apply under the lease, verify, record."""

from __future__ import annotations

from typing import Any

import pytest
from fakes import FakeInventory, FakeLocks, FakeOperations, FakeQueue, FakeState

from byoc.adapters.lock import LockBusy, LockLost
from byoc.domain.inventory import NumberState, on_purchased
from byoc.domain.plan import Action, Change, GuardLimits, Plan, Problem
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.services.reconcile import DesiredState, ReconcilerRegistry, ReconcileService

POLICY = """
version: 1
managed: {prefixes: ["+1415555"]}
rules: []
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
"""


class FakeTarget:
    """A target holding a set of numbers."""

    tracks_numbers = True

    def __init__(self, target: str, numbers: set[str] | None = None) -> None:
        self.target = target
        self.numbers = set(numbers or ())
        self.writes = 0
        self.ignore_writes = False

    def read_actual(self) -> set[str]:
        return set(self.numbers)

    def desired(self, state: DesiredState) -> set[str]:
        return set(state.numbers)

    def plan(self, actual: set[str], desired: set[str]) -> Plan:
        changes = []
        if desired - actual:
            changes.append(Change(self.target, Action.ADD, "numbers", "set", "add",
                                  numbers_added=tuple(sorted(desired - actual))))
        if actual - desired:
            changes.append(Change(self.target, Action.REMOVE, "numbers", "set", "remove",
                                  numbers_removed=tuple(sorted(actual - desired))))
        return Plan(target=self.target, changes=tuple(changes), numbers_before=len(actual))

    def apply(self, plan: Plan, lease: Any) -> None:
        for change in plan.changes:
            lease.check()
            self.writes += 1
            if self.ignore_writes:
                continue
            self.numbers |= set(change.numbers_added)
            self.numbers -= set(change.numbers_removed)

    def verify(self, desired: set[str]) -> list[str]:
        missing = desired - self.numbers
        return [f"missing {n}" for n in sorted(missing)]


def build(records: list[Any], targets: list[FakeTarget]) -> tuple[ReconcileService, dict[str, Any]]:
    registry = ReconcilerRegistry()
    for target in targets:
        registry.register(target.target, lambda t=target: t)
    parts: dict[str, Any] = {"inventory": FakeInventory(records), "operations": FakeOperations(),
                             "state": FakeState(), "locks": FakeLocks(), "queue": FakeQueue()}
    policy: Policy = load_policy(POLICY, "test")
    service = ReconcileService(registry=registry, policy=lambda: policy,
                               limits=GuardLimits(max_delete_fraction=0.1, max_delete_count=100),
                               **parts)
    return service, parts


def onboarding(*numbers: str) -> list[Any]:
    return [on_purchased(None, n, sid=None, source="cli", correlation_id="c") for n in numbers]


def test_with_no_reconciler_registered_the_plan_is_empty() -> None:
    service, _ = build([], [])
    assert service.plan("all") == []


def test_a_dry_run_changes_nothing() -> None:
    target = FakeTarget("genesys")
    service, parts = build(onboarding("+14155550100"), [target])
    plans = service.plan("all")
    assert plans[0].numbers_added() == {"+14155550100"}
    assert target.writes == 0 and parts["operations"].rows == []


def test_a_number_becomes_active_once_every_target_converged() -> None:
    twilio, genesys = FakeTarget("twilio"), FakeTarget("genesys")
    service, parts = build(onboarding("+14155550100"), [twilio, genesys])
    service.sync("twilio", correlation_id="c1")
    assert parts["inventory"].get("+14155550100").state is NumberState.ONBOARDING
    outcome = service.sync("genesys", correlation_id="c1")
    assert outcome.applied and outcome.converged
    record = parts["inventory"].get("+14155550100")
    assert record.state is NumberState.ACTIVE
    assert set(record.converged) == {"twilio", "genesys"}
    assert parts["operations"].rows[0]["outcome"] == "applied"


def test_a_mass_deletion_is_refused_and_nothing_is_written() -> None:
    present = {f"+1415555{i:04d}" for i in range(50)}
    target = FakeTarget("sbc:sbc1", present)
    service, parts = build(onboarding("+14155550001"), [target])
    outcome = service.sync("sbc:sbc1", correlation_id="c1")
    assert outcome.refused and "49 of 50" in outcome.refused
    assert target.writes == 0 and target.numbers == present
    assert parts["state"].get("sync", "sbc:sbc1")["refused"]
    assert parts["operations"].rows[0]["outcome"] == "refused"


def test_force_applies_a_refused_plan() -> None:
    present = {f"+1415555{i:04d}" for i in range(50)}
    target = FakeTarget("sbc:sbc1", present)
    service, _ = build(onboarding("+14155550001"), [target])
    outcome = service.sync("sbc:sbc1", correlation_id="c1", force=True)
    assert outcome.converged and target.numbers == {"+14155550001"}


def test_a_write_the_target_ignored_is_caught_by_verify() -> None:
    target = FakeTarget("genesys")
    target.ignore_writes = True
    service, parts = build(onboarding("+14155550100"), [target])
    outcome = service.sync("genesys", correlation_id="c1")
    assert not outcome.converged and outcome.problems == ["missing +14155550100"]
    record = parts["inventory"].get("+14155550100")
    assert record.state is NumberState.ONBOARDING and "genesys" in record.errors


def test_a_lost_lease_stops_the_sync_before_its_next_write() -> None:
    target = FakeTarget("genesys")
    service, parts = build(onboarding("+14155550100"), [target])
    parts["locks"].lease.lost = True
    with pytest.raises(LockLost):
        service.sync("genesys", correlation_id="c1")
    assert target.writes == 0


def test_a_target_busy_elsewhere_is_not_synced() -> None:
    target = FakeTarget("genesys")
    service, parts = build(onboarding("+14155550100"), [target])
    parts["locks"].held.add("genesys")
    with pytest.raises(LockBusy):
        service.sync("genesys", correlation_id="c1")
    assert target.writes == 0


def test_unmanaged_numbers_are_not_desired() -> None:
    target = FakeTarget("genesys")
    service, _ = build(onboarding("+16175550100"), [target])
    assert service.plan("genesys")[0].is_empty


def test_desired_state_sorts_the_inventory_by_what_the_targets_must_do() -> None:
    from byoc.domain.inventory import NumberRecord
    from byoc.services.reconcile import desired_state

    policy = load_policy(
        'version: 1\nmanaged: {prefixes: ["+1415"]}\n'
        'rules: [{match: "+141555501", genesys: {ivr: Sales}, sbc_tag: sales}]\n'
        "defaults: {genesys: {ivr: Main}, sbc_tag: main}\n", "test")
    states = {
        "+14155550100": NumberState.ACTIVE, "+14155550101": NumberState.ONBOARDING,
        "+14155550200": NumberState.FAILED, "+14155550300": NumberState.RELEASING,
        "+14155550400": NumberState.RELEASED, "+14155550500": NumberState.DISCOVERED,
        "+12125550100": NumberState.ACTIVE,  # wanted, but not managed by this policy
    }
    state = desired_state([NumberRecord(number=n, state=s) for n, s in states.items()], policy)

    assert state.wanted == {"+14155550100", "+14155550101", "+14155550200", "+12125550100"}
    assert set(state.present) == {"+14155550100", "+14155550101", "+14155550200"}
    assert state.releasing == {"+14155550300"}
    assert state.released == {"+14155550400"}
    assert {(r.genesys_name, r.sbc_tag): numbers for r, numbers in state.by_route.items()} == {
        ("Sales", "sales"): ["+14155550100", "+14155550101"],
        ("Main", "main"): ["+14155550200"],
    }


class SliceTarget(FakeTarget):
    """A target that can also converge a slice; counts whole-target reads."""

    def __init__(self, target: str, numbers: set[str] | None = None) -> None:
        super().__init__(target, numbers)
        self.full_reads = 0
        self.slices: list[frozenset[str]] = []

    def read_actual(self) -> set[str]:
        self.full_reads += 1
        return super().read_actual()

    def read_slice(self, numbers: frozenset[str]) -> tuple[set[str], int]:
        self.slices.append(numbers)
        return self.numbers & numbers, len(self.numbers)

    def desired_slice(self, state: DesiredState, numbers: frozenset[str]) -> set[str]:
        return set(state.numbers) & numbers

    def plan_slice(self, actual: tuple[set[str], int], desired: set[str]) -> Plan:
        numbers, total = actual
        plan = self.plan(numbers, desired)
        return Plan(target=self.target, changes=plan.changes, numbers_before=total)

    def verify_slice(self, desired: set[str]) -> list[str]:
        return self.verify(desired)


class CountingInventory(FakeInventory):
    def all(self) -> list[Any]:
        raise AssertionError("a slice sync must not read the whole inventory")


def test_a_slice_sync_reads_and_marks_only_its_numbers() -> None:
    others = {f"+1415555{i:04d}" for i in range(20)}
    target = SliceTarget("twilio", others)
    records = onboarding("+14155550100", "+14155550101")
    service, parts = build(records, [target])
    parts["inventory"] = inventory = CountingInventory(records)
    service._inventory = inventory
    outcome = service.sync("twilio", correlation_id="c1", numbers=["+14155550100"])
    assert outcome.converged and target.full_reads == 0
    assert outcome.slice == {"+14155550100"}
    assert "+14155550100" in target.numbers and "+14155550101" not in target.numbers
    assert target.numbers >= others  # nothing outside the slice was planned away
    assert inventory.get("+14155550100").state is NumberState.ACTIVE
    assert inventory.get("+14155550101").state is NumberState.ONBOARDING
    assert parts["state"].get("sync-last-slice", "twilio")["slice"] == ["+14155550100"]


def test_a_slice_sync_takes_every_number_noted_since_the_last_sync() -> None:
    target = SliceTarget("twilio")
    service, parts = build(onboarding("+14155550100", "+14155550101"), [target])
    for number in ("+14155550100", "+14155550101"):
        service._syncs.request("twilio", reason="n", correlation_id="abcdefgh", numbers=[number])
    assert len(parts["queue"].sent) == 1
    job = parts["queue"].sent[0][0]
    service.sync("twilio", correlation_id="c1", numbers=job.numbers)
    assert target.slices == [{"+14155550100", "+14155550101"}]
    assert parts["state"].items("sync-slice:twilio") == {}


def drain(service: ReconcileService, queue: Any) -> list[Any]:
    """Work the queued jobs as the worker does; returns the outcomes."""
    outcomes = []
    while queue.sent:
        job, _ = queue.sent.pop(0)
        outcomes.append(service.sync(job.target, correlation_id=job.correlation_id,
                                     numbers=job.numbers))
    return outcomes


BURST = [f"+1415555{i:04d}" for i in range(250)]


def test_a_burst_of_250_numbers_drains_in_three_slices_never_a_full_sync() -> None:
    target = SliceTarget("twilio")
    service, parts = build(onboarding(*BURST), [target])
    for number in BURST[::-1]:  # one event per number, as the webhook and the sweep note them
        service._syncs.request("twilio", reason="n", correlation_id="abcdefgh", numbers=[number])
    outcomes = drain(service, parts["queue"])
    assert target.full_reads == 0
    assert [len(o.slice) for o in outcomes] == [100, 100, 50]
    assert [sorted(s) for s in target.slices] == [BURST[:100], BURST[100:200], BURST[200:]]
    assert target.numbers == set(BURST) and all(o.converged for o in outcomes)
    assert parts["state"].items("sync-slice:twilio") == {}
    assert all(parts["inventory"].get(n).state is NumberState.ACTIVE for n in BURST)


def test_a_request_of_250_numbers_queues_a_slice_and_drains_without_a_full_sync() -> None:
    target = SliceTarget("twilio")
    service, parts = build(onboarding(*BURST), [target])
    service._syncs.request("twilio", reason="port", correlation_id="abcdefgh", numbers=BURST)
    assert parts["queue"].sent[0][0].numbers == tuple(BURST[:100])
    outcomes = drain(service, parts["queue"])
    assert [len(o.slice) for o in outcomes] == [100, 100, 50] and target.full_reads == 0
    assert target.numbers == set(BURST)


class FailingSliceTarget(SliceTarget):
    def __init__(self, target: str, fail_on: int) -> None:
        super().__init__(target)
        self.fail_on = fail_on

    def apply(self, plan: Plan, lease: Any) -> None:
        if len(self.slices) == self.fail_on:
            raise RuntimeError("vendor down")
        super().apply(plan, lease)


def test_a_slice_failing_mid_drain_keeps_its_numbers_and_the_rest_noted() -> None:
    target = FailingSliceTarget("twilio", fail_on=2)
    service, parts = build(onboarding(*BURST), [target])
    service._syncs.request("twilio", reason="port", correlation_id="abcdefgh", numbers=BURST)
    queue = parts["queue"]
    first = drain_one(service, queue)
    assert first.converged and len(queue.sent) == 1
    job, _ = queue.sent.pop(0)
    with pytest.raises(RuntimeError):
        service.sync(job.target, correlation_id=job.correlation_id, numbers=job.numbers)
    assert service._syncs.pending("twilio") == 150  # the failed slice's and the last one's
    assert not queue.sent  # the failed job's retry carries on
    target.fail_on = -1
    queue.send(job)  # the queue redelivers it
    drain(service, queue)
    assert target.numbers == set(BURST) and service._syncs.pending("twilio") == 0


def drain_one(service: ReconcileService, queue: Any) -> Any:
    job, _ = queue.sent.pop(0)
    return service.sync(job.target, correlation_id=job.correlation_id, numbers=job.numbers)


def test_an_explicit_full_sync_covers_every_noted_number_and_forgets_them_all() -> None:
    target = SliceTarget("twilio")
    service, parts = build(onboarding(*BURST), [target])
    service._syncs.request("twilio", reason="port", correlation_id="abcdefgh", numbers=BURST)
    outcome = service.sync("twilio", correlation_id="timer1")
    assert outcome.slice is None and outcome.converged and target.full_reads == 1
    assert target.numbers == set(BURST) and service._syncs.pending("twilio") == 0
    # the burst's queued slice finds nothing left to do, and queues no follow-on
    outcomes = drain(service, parts["queue"])
    assert len(outcomes) == 1 and not outcomes[0].plan.changes


def test_the_guard_weighs_a_slice_against_the_targets_total() -> None:
    # Removing 2 numbers nobody released, of a target holding 4: over the 10% limit.
    stray = {"+14155550100", "+14155550101"}
    target = SliceTarget("twilio", stray | {"+14155550102", "+14155550103"})
    service, _ = build([], [target])
    outcome = service.sync("twilio", correlation_id="c1", numbers=sorted(stray))
    assert outcome.refused and "of 4 numbers" in outcome.refused
    assert target.numbers >= stray


def test_a_target_without_slice_verbs_syncs_whole_for_a_number_event() -> None:
    target = FakeTarget("genesys")
    service, _ = build(onboarding("+14155550100", "+14155550101"), [target])
    outcome = service.sync("genesys", correlation_id="c1", numbers=["+14155550100"])
    assert outcome.slice is None
    assert target.numbers == {"+14155550100", "+14155550101"}


def test_a_slice_sync_keeps_the_last_full_syncs_status_beside_its_own() -> None:
    from byoc.services.status import build_status

    target = SliceTarget("twilio")
    service, parts = build(onboarding("+14155550100", "+14155550101"), [target])
    service.sync("twilio", correlation_id="full1")  # adds 100 and 101
    target.numbers.discard("+14155550100")  # drift a slice repairs
    service.sync("twilio", correlation_id="slice1", numbers=["+14155550100"])

    status = build_status(inventory=parts["inventory"], state=parts["state"],
                          queue=parts["queue"]).to_json()
    twilio = status["targets"]["twilio"]
    assert twilio["correlation_id"] == "full1" and twilio["changes"] == 1
    assert twilio["converged"] is True and twilio["slice"] is None
    assert twilio["last_slice"]["correlation_id"] == "slice1"
    assert twilio["last_slice"]["slice"] == ["+14155550100"] and twilio["last_slice"]["changes"] == 1
    assert status["convergence"]["twilio"]["last_slice_result"] == "converged"


def test_a_status_row_stored_before_slices_were_kept_apart_reads_as_the_last_slice() -> None:
    from byoc.services.status import build_status

    _, parts = build([], [SliceTarget("twilio")])
    parts["state"].put("sync", "twilio", {"at": "2026-01-01T00:00:00+00:00", "converged": True,
                                          "changes": 1, "slice": ["+14155550100"],
                                          "slice_size": 1, "problems": []})
    parts["state"].put("sync", "genesys", {"at": "2026-01-01T00:00:00+00:00", "converged": False,
                                           "changes": 3, "problems": ["x"]})

    targets = build_status(inventory=parts["inventory"], state=parts["state"],
                           queue=parts["queue"]).to_json()["targets"]

    assert targets["twilio"] == {"last_slice": {
        "at": "2026-01-01T00:00:00+00:00", "converged": True, "changes": 1,
        "slice": ["+14155550100"], "slice_size": 1, "problems": []}}
    assert targets["genesys"]["changes"] == 3 and targets["genesys"]["last_slice"] is None


def test_a_slice_refused_after_the_full_sync_makes_the_status_not_ok() -> None:
    from byoc.services.status import build_status

    stray = {"+14155550100", "+14155550101"}
    target = SliceTarget("twilio", stray | {"+14155550102", "+14155550103"})
    service, parts = build(onboarding("+14155550102", "+14155550103"), [target])
    parts["state"].put("sync", "twilio", {"at": "2020-01-01T00:00:00+00:00", "converged": True,
                                          "changes": 0, "slice": None, "problems": []})
    service.sync("twilio", correlation_id="c1", numbers=sorted(stray))

    status = build_status(inventory=parts["inventory"], state=parts["state"], queue=parts["queue"])
    assert status.targets["twilio"]["converged"] is True  # the full sync's, kept
    assert "of 4 numbers" in status.targets["twilio"]["last_slice"]["refused"]
    assert not status.ok


class ProblemTarget(FakeTarget):
    """A target whose read back finds the given problems."""

    def __init__(self, target: str, problems: list[str]) -> None:
        super().__init__(target)
        self.problems = problems

    def verify(self, desired: set[str]) -> list[str]:
        return list(self.problems)


@pytest.mark.parametrize(("problems", "failed"), [
    ([Problem("+14155550101 is not routed", ["+14155550101"])], {"+14155550101"}),
    ([Problem("stray rule matches numbers byoc does not manage", [])], set()),
    ([Problem("+14155550101 is not routed", ["+14155550101"]), "the trunk is not secure"],
     {"+14155550100", "+14155550101", "+14155550102"}),
    ([Problem("a shard still differs")], {"+14155550100", "+14155550101", "+14155550102"}),
], ids=["named", "names-none", "one-target-wide", "numbers-unknown"])
def test_only_the_numbers_a_verify_problem_names_fail(problems: list[str], failed: set[str]) -> None:
    numbers = ["+14155550100", "+14155550101", "+14155550102"]
    service, parts = build(onboarding(*numbers), [ProblemTarget("genesys", problems)])

    outcome = service.sync("genesys", correlation_id="c1")

    assert not outcome.converged
    records = {n: parts["inventory"].get(n) for n in numbers}
    assert {n for n, r in records.items() if "genesys" in r.errors} == failed
    assert {n for n, r in records.items() if r.state is NumberState.ACTIVE} == set(numbers) - failed
    if failed == {"+14155550101"}:
        assert records["+14155550101"].errors["genesys"] == "+14155550101 is not routed"
