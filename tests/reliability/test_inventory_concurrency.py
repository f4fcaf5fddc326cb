"""Concurrent writers of one inventory record (Azurite): number events and the syncs of several
targets write the same records at the same time, and none of them may undo another's change."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from byoc.domain.inventory import (
    NumberRecord,
    NumberState,
    on_purchased,
    on_released,
    on_target_converged,
)

pytestmark = pytest.mark.integration

TARGETS = ["twilio", "sbc:sbc1", "sbc:sbc2", "genesys"]
NUMBER = "+14155551234"


@pytest.fixture
def inventory(byoc_env: dict[str, str]):  # type: ignore[no-untyped-def]
    from byoc.bootstrap import get_services

    return get_services().inventory


def test_concurrent_target_syncs_each_keep_their_convergence(inventory) -> None:  # type: ignore[no-untyped-def]
    inventory.put(NumberRecord(number=NUMBER, state=NumberState.ONBOARDING))
    start = threading.Barrier(len(TARGETS))

    def sync_done(target: str) -> None:
        start.wait()
        inventory.update_many([NUMBER], lambda r: on_target_converged(r, target, TARGETS))

    threads = [threading.Thread(target=sync_done, args=(t,)) for t in TARGETS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    record = inventory.get(NUMBER)
    assert set(record.converged) == set(TARGETS)
    assert record.state is NumberState.ACTIVE


def test_a_release_recorded_during_a_sync_is_not_undone_by_the_sync(inventory) -> None:  # type: ignore[no-untyped-def]
    from fakes import FakeLocks, FakeOperations, FakeQueue, FakeState

    from byoc.domain.plan import GuardLimits
    from byoc.services.reconcile import DesiredState, ReconcilerRegistry, ReconcileService

    onboarding = NumberRecord(number=NUMBER, state=NumberState.ONBOARDING)
    inventory.put(onboarding)

    class SlowTarget:
        """Carries the number; while it writes, a release request for the number is recorded."""

        target = "sbc:sbc1"
        tracks_numbers = True

        def read_actual(self) -> set[str]:
            return set()

        def desired(self, state: DesiredState) -> set[str]:
            return set(state.present)

        def plan(self, actual: set[str], desired: set[str]):  # type: ignore[no-untyped-def]
            from byoc.domain.plan import Action, Change, Plan

            return Plan(target=self.target, changes=tuple(
                Change(target=self.target, action=Action.ADD, kind="n", key=n, summary=n,
                       numbers_added=(n,)) for n in sorted(desired - actual)))

        def apply(self, plan, lease) -> None:  # type: ignore[no-untyped-def]
            inventory.update(NUMBER, lambda r: on_released(r, NUMBER, correlation_id="release1"))

        def verify(self, desired: set[str]) -> list[str]:
            return []

    registry = ReconcilerRegistry()
    registry.register("sbc:sbc1", SlowTarget)
    service = ReconcileService(
        registry=registry, inventory=inventory, operations=FakeOperations(), state=FakeState(),
        locks=FakeLocks(), queue=FakeQueue(), policy=lambda: _policy(), limits=GuardLimits())

    service.sync("sbc:sbc1", correlation_id="sync-1234")

    record = inventory.get(NUMBER)
    assert record.state is NumberState.RELEASING
    assert "sbc:sbc1" not in record.converged  # the sync carried it; it has not let go yet


def test_update_creates_a_record_once_when_two_writers_race(inventory) -> None:  # type: ignore[no-untyped-def]
    calls: list[NumberRecord | None] = []
    start = threading.Barrier(2)

    def create(label: str) -> None:
        start.wait()

        def change(current: NumberRecord | None) -> NumberRecord:
            calls.append(current)
            if current is None:
                return NumberRecord(number=NUMBER, state=NumberState.ONBOARDING, source=label)
            return replace(current, correlation_id=f"{current.correlation_id or ''}+{label}")

        inventory.update(NUMBER, change)

    threads = [threading.Thread(target=create, args=(label,)) for label in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    record = inventory.get(NUMBER)
    # Both writes landed: one created the record, the other changed what the first stored.
    assert record.source in ("a", "b")
    assert record.correlation_id in ("+a", "+b")


def _policy():  # type: ignore[no-untyped-def]
    from byoc.domain.policy_file import load_policy

    return load_policy('version: 1\nmanaged: {all_on_trunk: false, prefixes: ["+1415555"]}\n'
                       "rules: []\ndefaults: {genesys: none, sbc_tag: default}\n", "test")


def test_get_many_returns_only_the_records_asked_for(inventory) -> None:  # type: ignore[no-untyped-def]
    numbers = [f"+1415555{i:04d}" for i in range(40)]
    inventory.put_many(on_purchased(None, n, sid=None, source="cli", correlation_id="c")
                       for n in numbers)
    wanted = [*numbers[3:33:2], "+14155559999"]  # more than one query's worth, one unknown
    got = inventory.get_many(wanted)
    assert sorted(r.number for r in got) == sorted(numbers[3:33:2])
