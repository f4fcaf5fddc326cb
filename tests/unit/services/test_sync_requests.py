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


def test_a_burst_of_number_events_queues_one_slice_per_target_covering_every_number() -> None:
    queue, state = FakeQueue(), FakeState()
    syncs = SyncRequests(queue=queue, state=state)
    numbers = [f"+1415555{i:04d}" for i in range(30)]
    for number in numbers:
        for target in ("twilio", "sbc:sbc1"):
            syncs.request(target, reason=f"number {number}", correlation_id="abcdefgh",
                          numbers=[number])
    jobs = {job.target: job for job, _ in queue.sent}
    assert len(queue.sent) == 2 and jobs["twilio"].numbers == (numbers[0],)
    syncs.started("twilio")
    assert syncs.take("twilio").numbers == frozenset(numbers)


def test_a_number_noted_after_a_sync_took_its_slice_stays_for_the_next_sync() -> None:
    queue, state = FakeQueue(), FakeState()
    syncs = SyncRequests(queue=queue, state=state)
    syncs.request("twilio", reason="a", correlation_id="abcdefgh", numbers=["+14155550100"])
    syncs.started("twilio")
    taken = syncs.take("twilio")
    # The same number again while that sync runs: its own entry, and a sync of its own.
    assert syncs.request("twilio", reason="b", correlation_id="abcdefgh",
                         numbers=["+14155550100"])
    syncs.forget("twilio", taken)
    assert syncs.take("twilio").numbers == {"+14155550100"}
    assert queue.sent[-1][0].numbers == ("+14155550100",)


def test_a_slice_request_rides_on_a_pending_full_sync_but_not_the_other_way() -> None:
    queue = FakeQueue()
    syncs = SyncRequests(queue=queue, state=FakeState())
    assert syncs.request("genesys", reason="timer", correlation_id="abcdefgh")
    assert not syncs.request("genesys", reason="n", correlation_id="abcdefgh",
                             numbers=["+14155550100"])
    syncs.started("genesys")
    assert syncs.request("genesys", reason="n", correlation_id="abcdefgh",
                         numbers=["+14155550100"])
    assert syncs.request("genesys", reason="timer", correlation_id="abcdefgh")
    assert [job.numbers for job, _ in queue.sent] == [None, ("+14155550100",), None]


def test_more_numbers_than_a_slice_carries_queue_a_full_sync() -> None:
    queue = FakeQueue()
    syncs = SyncRequests(queue=queue, state=FakeState(), max_slice=10)
    syncs.request("twilio", reason="port", correlation_id="abcdefgh",
                  numbers=[f"+1415555{i:04d}" for i in range(11)])
    assert queue.sent[0][0].numbers is None
