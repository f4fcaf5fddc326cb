"""The number lifecycle as Twilio drives it: release reports, updates of outgoing numbers."""

from __future__ import annotations

from fakes import FakeInventory, FakeQueue, FakeState

from byoc.domain.inventory import NumberRecord, NumberState, on_purchased, on_released
from byoc.domain.jobs import NumberEvent, SyncTarget
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.services.numbers import NumberLifecycle

POLICY = """
version: 1
managed: {prefixes: ["+1415555"]}
rules:
  - {match: "+14155550100", genesys: {user: ceo@example.com}, sbc_tag: direct}
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
"""
TARGETS = ["twilio", "sbc:sbc1", "genesys"]


def lifecycle(records: list[NumberRecord] = ()) -> tuple[NumberLifecycle, FakeInventory, FakeQueue]:  # type: ignore[assignment]
    inventory, queue = FakeInventory(records), FakeQueue()
    policy: Policy = load_policy(POLICY, "test")
    return NumberLifecycle(inventory=inventory, state=FakeState(), queue=queue,
                           policy=lambda: policy, number_targets=lambda: TARGETS), inventory, queue


def event(action: str, source: str, event_id: str, number: str = "+14155550100") -> NumberEvent:
    return NumberEvent(action=action, number=number, source=source,  # type: ignore[arg-type]
                       event_id=event_id, correlation_id="corr0001")


def releasing(converged: dict[str, str]) -> NumberRecord:
    record = on_released(on_purchased(None, "+14155550100", sid=None, source="cli",
                                      correlation_id="c0000001"),
                         "+14155550100", correlation_id="rel00001")
    return NumberRecord(**{**record.__dict__, "converged": converged})


def test_twilio_reporting_the_number_gone_after_the_others_let_go_marks_it_released() -> None:
    service, inventory, queue = lifecycle([releasing({"sbc:sbc1": "t", "genesys": "t"})])

    outcome = service.handle(event("released", "poller", "AE1"))

    assert outcome.state is NumberState.RELEASED
    assert inventory.get("+14155550100").state is NumberState.RELEASED  # type: ignore[union-attr]
    assert queue.sent == []


def test_a_release_report_while_another_target_still_holds_the_number_restarts_offboarding() -> None:
    service, _, queue = lifecycle([releasing({"sbc:sbc1": "t"})])

    outcome = service.handle(event("released", "poller", "AE1"))

    assert outcome.state is NumberState.RELEASING
    assert {j.target for j, _ in queue.sent if isinstance(j, SyncTarget)} == set(TARGETS)


def test_a_release_request_is_never_taken_for_a_release_report() -> None:
    service, inventory, _ = lifecycle([releasing({"sbc:sbc1": "t", "genesys": "t"})])

    service.handle(event("released", "webhook", "portal-1"))
    service.handle(event("released", "cli", "cli-1"))

    assert inventory.get("+14155550100").state is NumberState.RELEASING  # type: ignore[union-attr]


def test_an_update_of_a_number_on_its_way_out_does_not_onboard_it_again() -> None:
    service, inventory, queue = lifecycle([releasing({})])

    service.handle(event("updated", "poller", "AE2"))

    assert inventory.get("+14155550100").state is NumberState.RELEASING  # type: ignore[union-attr]
    assert queue.sent == []


def test_a_late_release_report_of_a_released_number_changes_nothing() -> None:
    record = releasing({})
    service, inventory, queue = lifecycle([NumberRecord(**{**record.__dict__,
                                                           "state": NumberState.RELEASED})])

    service.handle(event("released", "poller", "AE3"))

    assert inventory.get("+14155550100").state is NumberState.RELEASED  # type: ignore[union-attr]
    assert queue.sent == []


def test_recording_an_onboarding_routes_the_number_as_the_policy_says() -> None:
    service, inventory, queue = lifecycle()

    record = service.record_onboarding(event("purchased", "purchase", "purchase:1"))
    unmanaged = service.record_onboarding(event("purchased", "purchase", "p2", "+12125550100"))

    assert record is not None and record.state is NumberState.ONBOARDING
    assert (record.genesys_target, record.sbc_tag) == ("user:ceo@example.com", "direct")
    assert unmanaged is None and inventory.get("+12125550100") is None
    assert queue.sent == []
