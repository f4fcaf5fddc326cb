"""Sync requests coalesce: one queued sync per target, nothing recorded is left unsynced."""

from __future__ import annotations

from fakes import FakeQueue, FakeState

from byoc.services.sync_requests import SyncRequests


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_of_requests_queues_one_sync_per_target() -> None:
    queue = FakeQueue()
    syncs = SyncRequests(queue=queue, state=FakeState())
    for number in range(200):
        for target in ("twilio", "genesys"):
            syncs.request(target, reason=f"number {number}", correlation_id="abcdefgh")
    assert sorted(job.target for job, _ in queue.sent) == ["genesys", "twilio"]


def test_a_request_after_the_sync_started_queues_the_next_one() -> None:
    queue = FakeQueue()
    syncs = SyncRequests(queue=queue, state=FakeState())
    assert syncs.request("genesys", reason="a", correlation_id="abcdefgh")
    syncs.started("genesys")
    assert syncs.request("genesys", reason="b", correlation_id="abcdefgh")
    assert len(queue.sent) == 2


def test_a_stale_marker_does_not_hold_requests_back() -> None:
    queue, clock = FakeQueue(), Clock()
    syncs = SyncRequests(queue=queue, state=FakeState(), stale_after_s=600, clock=clock)
    syncs.request("sbc:sbc1", reason="a", correlation_id="abcdefgh")
    clock.now += 601  # the first job was lost
    assert syncs.request("sbc:sbc1", reason="b", correlation_id="abcdefgh")
    assert len(queue.sent) == 2


def test_a_forced_sync_is_always_queued() -> None:
    queue = FakeQueue()
    syncs = SyncRequests(queue=queue, state=FakeState())
    syncs.request("genesys", reason="a", correlation_id="abcdefgh")
    assert syncs.request("genesys", reason="b", correlation_id="abcdefgh", force=True)
    assert queue.sent[-1][0].force is True
