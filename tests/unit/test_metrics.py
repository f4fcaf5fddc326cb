"""The metrics an operator alerts on, read from OpenTelemetry's in-memory reader: what a sync did
(converged, refused by the guard, failed), and the estate gauges taken from a status report."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from otel import Telemetry, installed

from byoc import metrics
from byoc.adapters.lock import LockLost

sys.path.insert(0, str(Path(__file__).parent / "services"))
from test_reconcile_service import FakeTarget, build, onboarding


@pytest.fixture
def telemetry() -> Telemetry:
    found = installed()
    found.clear()
    return found


def test_a_sync_that_converges_records_its_duration_and_changes(telemetry: Telemetry) -> None:
    service, _ = build(onboarding("+14155550100", "+14155550101"), [FakeTarget("genesys")])

    service.sync("genesys", correlation_id="c1")
    points = telemetry.points()

    assert points["byoc.sync.duration"] == [({"target": "genesys", "outcome": "converged",
                                                   "kind": "full"}, 1)]
    assert points["byoc.sync.changes"] == [({"target": "genesys"}, 1)]
    assert "byoc.sync.refusals" not in points and "byoc.sync.failures" not in points
    # The number was onboarding and now every target has it.
    assert points["byoc.number.time_to_routable"] == [({"source": "cli"}, 2)]


def test_a_plan_the_guard_refuses_is_counted_and_changes_nothing(telemetry: Telemetry) -> None:
    target = FakeTarget("sbc:sbc1", {f"+1415555{i:04d}" for i in range(50)})
    service, _ = build(onboarding("+14155550001"), [target])

    outcome = service.sync("sbc:sbc1", correlation_id="c1")
    points = telemetry.points()

    assert outcome.refused and target.writes == 0
    assert points["byoc.sync.refusals"] == [({"target": "sbc:sbc1", "kind": "full"}, 1)]
    assert points["byoc.sync.duration"] == [
        ({"target": "sbc:sbc1", "outcome": "refused", "kind": "full"}, 1)]
    assert "byoc.sync.changes" not in points
    span = next(s for s in telemetry.finished() if s.name == "sync sbc:sbc1")
    assert span.attributes["byoc.outcome"] == "refused"
    assert "49 of 50" in span.attributes["byoc.refused"]


def test_a_sync_that_raises_is_a_failure_and_its_span_says_why(telemetry: Telemetry) -> None:
    service, parts = build(onboarding("+14155550100"), [FakeTarget("genesys")])
    parts["locks"].lease.lost = True

    with pytest.raises(LockLost):
        service.sync("genesys", correlation_id="c1")
    points = telemetry.points()

    assert points["byoc.sync.failures"] == [({"target": "genesys", "kind": "full"}, 1)]
    span = next(s for s in telemetry.finished() if s.name == "sync genesys")
    assert not span.status.is_ok and "LockLost" in (span.status.description or "")


def test_the_estate_gauges_come_from_the_status_report(telemetry: Telemetry) -> None:
    metrics.estate({
        "queue_depth": 7,
        "poison_depth": 2,
        "certificates": {"tls-certificate:sbc1": {"sbc": "sbc1", "days_left": 12}},
        "health": {
            "sip:sbc1:tls": {"status": "down", "figures": {}},
            "genesys-trunk:sbc1": {"status": "ok", "figures": {}},
            "nsg-exposure:sbc1": {"status": "down", "figures": {"exposures": 3}},
        },
        "twilio_poller": {"lag_s": 540, "failures": 4},
    })
    points = telemetry.points()

    # Gauges keep the last value per attribute set: other tests' SBCs may be there too.
    assert points["byoc.queue.depth"] == [({}, 7)]
    assert points["byoc.queue.poison_depth"] == [({}, 2)]
    assert ({"sbc": "sbc1"}, 12) in points["byoc.certificate.days_left"]
    assert ({"sbc": "sbc1"}, 3) in points["byoc.nsg.exposure"]
    assert points["byoc.poller.lag"] == [({}, 540.0)]
    health = dict((a["component"], v) for a, v in points["byoc.health.status"])
    assert {k: health[k] for k in ("sip:sbc1:tls", "genesys-trunk:sbc1", "nsg-exposure:sbc1")} == {
        "sip:sbc1:tls": 2, "genesys-trunk:sbc1": 0, "nsg-exposure:sbc1": 2}
