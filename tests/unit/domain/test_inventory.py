"""The number lifecycle: onboarding until every target converged, errors kept visible."""

from __future__ import annotations

from byoc.domain.inventory import (
    NumberState,
    on_purchased,
    on_released,
    on_target_converged,
    on_target_failed,
)

TARGETS = ["twilio", "sbc:sbc1", "genesys"]


def test_a_number_is_active_only_when_every_target_converged() -> None:
    record = on_purchased(None, "+14155550100", sid=None, source="webhook", correlation_id="c1")
    assert record.state is NumberState.ONBOARDING
    record = on_target_converged(record, "twilio", TARGETS)
    record = on_target_converged(record, "sbc:sbc1", TARGETS)
    assert record.state is NumberState.ONBOARDING
    record = on_target_converged(record, "genesys", TARGETS)
    assert record.state is NumberState.ACTIVE


def test_a_failing_target_keeps_the_number_onboarding_with_the_error() -> None:
    record = on_purchased(None, "+14155550100", sid=None, source="poller", correlation_id="c1")
    record = on_target_converged(record, "twilio", TARGETS)
    record = on_target_failed(record, "genesys", "IVR 'Main IVR' not found")
    record = on_target_converged(record, "sbc:sbc1", TARGETS)
    assert record.state is NumberState.ONBOARDING
    assert record.errors == {"genesys": "IVR 'Main IVR' not found"}
    record = on_target_converged(record, "genesys", TARGETS)
    assert record.state is NumberState.ACTIVE and record.errors == {}


def test_release_waits_for_every_target() -> None:
    record = on_purchased(None, "+14155550100", sid=None, source="cli", correlation_id="c1")
    record = on_released(record, "+14155550100", correlation_id="c2")
    assert record.state is NumberState.RELEASING and not record.wanted_on_targets
    record = on_target_converged(record, "genesys", TARGETS)
    assert not set(TARGETS) <= set(record.converged)  # not yet released everywhere
    for target in TARGETS:
        record = on_target_converged(record, target, TARGETS)
    assert record.state is NumberState.RELEASING and set(TARGETS) <= set(record.converged)


def test_a_repeated_purchase_of_an_active_number_keeps_it_active() -> None:
    record = on_purchased(None, "+14155550100", sid=None, source="cli", correlation_id="c1")
    for target in TARGETS:
        record = on_target_converged(record, target, TARGETS)
    again = on_purchased(record, "+14155550100", sid="PN" + "1" * 32, source="poller",
                         correlation_id="c2")
    assert again.state is NumberState.ACTIVE and again.sid == "PN" + "1" * 32


def test_the_same_purchase_reported_again_keeps_the_progress_made() -> None:
    record = on_purchased(None, "+14155550100", sid=None, source="purchase", correlation_id="c1")
    record = on_target_converged(record, "twilio", TARGETS)
    again = on_purchased(record, "+14155550100", sid="PN" + "2" * 32, source="poller",
                         correlation_id="c2")
    assert again.state is NumberState.ONBOARDING and "twilio" in again.converged
    assert again.sid == "PN" + "2" * 32
