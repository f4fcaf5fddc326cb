"""Number events are hints that may come twice, late, out of order, or be cut off by a crash; the
inventory must end the same way whatever the delivery."""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace

import pytest
from fakes import FakeInventory, FakeQueue, FakeState

from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.jobs import NumberEvent
from byoc.domain.policy_file import load_policy
from byoc.services.numbers import EVENT_NAMESPACE, NumberLifecycle

POLICY = load_policy("""
version: 1
managed: {prefixes: ["+1415555"]}
rules: []
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
""", "test")
TARGETS = ["twilio", "sbc:sbc1", "genesys"]
NUMBER = "+14155551000"
SID = "PN" + "a" * 32
NEW_SID = "PN" + "b" * 32


def lifecycle(inventory: object = None, state: object = None) -> NumberLifecycle:
    return NumberLifecycle(inventory=inventory or FakeInventory(), state=state or FakeState(),  # type: ignore[arg-type]
                           queue=FakeQueue(), policy=lambda: POLICY, number_targets=lambda: TARGETS)


def notice(action: str, event_id: str, *, sid: str | None = SID, source: str = "webhook"
           ) -> NumberEvent:
    return NumberEvent(action=action, number=NUMBER, sid=sid, source=source,  # type: ignore[arg-type]
                       event_id=event_id, correlation_id=f"corr-{event_id}")


PURCHASE = notice("purchased", "buy-1")
RELEASE = notice("released", "release-1", sid=None)


@pytest.mark.parametrize("order", list(itertools.permutations(
    [PURCHASE, PURCHASE, RELEASE])), ids=lambda o: "-".join(e.action[:3] for e in o))
def test_a_release_request_wins_over_its_purchase_report_in_any_order(order: tuple[NumberEvent, ...]
                                                                       ) -> None:
    inventory = FakeInventory()
    numbers = lifecycle(inventory)

    for event in order:
        numbers.handle(event)

    assert inventory.get(NUMBER).state is NumberState.RELEASING


def test_a_number_bought_again_under_a_new_sid_is_onboarded_again() -> None:
    inventory = FakeInventory([NumberRecord(number=NUMBER, state=NumberState.RELEASED, sid=SID)])
    numbers = lifecycle(inventory)

    numbers.handle(notice("purchased", "buy-old", sid=SID))
    assert inventory.get(NUMBER).state is NumberState.RELEASED  # the old purchase, reported late

    numbers.handle(notice("purchased", "buy-new", sid=NEW_SID))
    assert inventory.get(NUMBER).state is NumberState.ONBOARDING


def test_a_release_report_of_a_number_byoc_never_had_records_nothing() -> None:
    inventory = FakeInventory()

    lifecycle(inventory).handle(notice("released", "gone-1", source="poller"))

    assert inventory.get(NUMBER) is None


def test_a_repeated_event_is_handled_once() -> None:
    inventory, state = FakeInventory(), FakeState()
    numbers = lifecycle(inventory, state)

    first = numbers.handle(PURCHASE)
    writes = inventory.writes
    again = numbers.handle(PURCHASE)

    assert not first.duplicate and again.duplicate
    assert inventory.writes == writes


def test_an_event_whose_worker_died_half_way_is_handled_when_it_comes_back() -> None:
    inventory, state = FakeInventory(), FakeState()
    state.claim(EVENT_NAMESPACE, RELEASE.event_id)  # claimed, then the process was killed

    outcome = lifecycle(inventory, state).handle(RELEASE)

    assert not outcome.duplicate
    assert inventory.get(NUMBER).state is NumberState.RELEASING


def test_a_failing_event_can_be_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    inventory, state = FakeInventory(), FakeState()
    numbers = lifecycle(inventory, state)
    monkeypatch.setattr(inventory, "update", _boom)
    with pytest.raises(ConnectionError):
        numbers.handle(PURCHASE)
    monkeypatch.undo()

    assert not numbers.handle(PURCHASE).duplicate
    assert inventory.get(NUMBER).state is NumberState.ONBOARDING


def _boom(*args: object, **kwargs: object) -> None:
    raise ConnectionError("storage went away")


@pytest.mark.integration
def test_copies_of_a_purchase_and_a_release_handled_at_once_end_released(
        byoc_env: dict[str, str]) -> None:
    """Two workers, three messages of one number at the same moment (Azurite): the release sticks."""
    from byoc.bootstrap import get_services

    services = get_services()
    numbers = lifecycle(services.inventory, services.state)
    events = [PURCHASE, PURCHASE, RELEASE, PURCHASE]
    start = threading.Barrier(len(events))
    failures: list[BaseException] = []

    def handle(event: NumberEvent) -> None:
        start.wait()
        try:
            numbers.handle(event)
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=handle, args=(e,)) for e in events]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures
    assert services.inventory.get(NUMBER).state is NumberState.RELEASING


def test_a_release_confirmed_while_a_target_took_the_number_up_again_is_confirmed_later() -> None:
    """Twilio released the number, but before its report was handled a failing sync of another
    target withdrew that target's convergence: the report restarts offboarding, and the next
    twilio sync reports the release again (a new event id, not a duplicate) so it completes."""
    from fakes import FakeLocks, FakeOperations
    from test_twilio_fakes import TRUNK, FakeTwilio

    from byoc.domain.inventory import on_purchased, on_released, on_target_failed
    from byoc.domain.plan import GuardLimits
    from byoc.services.reconcile import ReconcilerRegistry, ReconcileService
    from byoc.services.twilio_reconciler import TwilioTrunkReconciler

    number = "+14155550100"
    twilio = FakeTwilio(on_trunk=[number])
    record = on_released(on_purchased(None, number, sid=None, source="cli", correlation_id="c1"),
                         number, correlation_id="release1")
    inventory, state, queue = FakeInventory([record]), FakeState(), FakeQueue()
    registry = ReconcilerRegistry()
    service = ReconcileService(registry=registry, inventory=inventory,
                               operations=FakeOperations(), state=state, locks=FakeLocks(),
                               queue=queue, policy=lambda: POLICY, limits=GuardLimits())
    registry.register("twilio", lambda: TwilioTrunkReconciler(
        twilio=twilio, trunk_sid=TRUNK, secure=True, sbcs=[], policy=lambda: POLICY,
        queue=queue, number_targets=lambda: ["twilio", "sbc:sbc1"]))
    numbers = NumberLifecycle(inventory=inventory, state=state, queue=queue,
                              policy=lambda: POLICY, number_targets=lambda: ["twilio", "sbc:sbc1"])

    def sbc_lets_go() -> None:
        inventory.update(number, lambda r: replace(r, converged={**r.converged, "sbc:sbc1": "t"}))

    def reports() -> list[NumberEvent]:
        found = [job for job, _ in queue.sent if isinstance(job, NumberEvent)]
        queue.sent.clear()
        return found

    sbc_lets_go()
    service.sync("twilio", correlation_id="sync-0001")  # released at Twilio, reported
    [first] = reports()
    inventory.update(number, lambda r: on_target_failed(r, "sbc:sbc1", "SBC busy"))
    numbers.handle(first)
    assert inventory.get(number).state is NumberState.RELEASING

    sbc_lets_go()
    service.sync("twilio", correlation_id="sync-0002")
    [second] = reports()
    numbers.handle(second)

    assert second.event_id != first.event_id
    assert inventory.get(number).state is NumberState.RELEASED


def test_the_last_target_letting_go_of_a_number_asks_twilio_to_release_it_now() -> None:
    from fakes import FakeLocks, FakeOperations

    from byoc.domain.inventory import on_purchased, on_released
    from byoc.domain.jobs import SyncTarget
    from byoc.domain.plan import GuardLimits, Plan
    from byoc.services.reconcile import ReconcilerRegistry, ReconcileService

    number = "+14155550100"
    record = on_released(on_purchased(None, number, sid=None, source="cli", correlation_id="c1"),
                         number, correlation_id="release1")
    record = replace(record, converged={"genesys": "t"})
    inventory, queue = FakeInventory([record]), FakeQueue()

    class LetsGo:
        target = "sbc:sbc1"
        tracks_numbers = True

        def read_actual(self) -> None:
            return None

        def desired(self, state: object) -> None:
            return None

        def plan(self, actual: None, desired: None) -> Plan:
            return Plan(target=self.target)

        def apply(self, plan: Plan, lease: object) -> None:
            pass

        def verify(self, desired: None) -> list[str]:
            return []

    class Idle(LetsGo):
        def __init__(self, target: str) -> None:
            self.target = target

    registry = ReconcilerRegistry()
    registry.register("twilio", lambda: Idle("twilio"))
    registry.register("sbc:sbc1", LetsGo)
    registry.register("genesys", lambda: Idle("genesys"))
    service = ReconcileService(registry=registry, inventory=inventory,
                               operations=FakeOperations(), state=FakeState(), locks=FakeLocks(),
                               queue=queue, policy=lambda: POLICY, limits=GuardLimits())

    service.sync("sbc:sbc1", correlation_id="sync-0001")

    assert [j.target for j, _ in queue.sent if isinstance(j, SyncTarget)] == ["twilio"]
