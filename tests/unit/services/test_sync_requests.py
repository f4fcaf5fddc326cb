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


def test_more_numbers_than_a_slice_carries_are_all_noted_and_queue_a_slice_not_a_full_sync() -> None:
    queue, state = FakeQueue(), FakeState()
    syncs = SyncRequests(queue=queue, state=state)
    numbers = [f"+1415555{i:04d}" for i in range(250)]
    assert syncs.request("twilio", reason="port", correlation_id="abcdefgh", numbers=numbers[::-1])
    assert [job.numbers for job, _ in queue.sent] == [tuple(numbers[:100])]
    assert syncs.pending("twilio") == 250


def test_a_slice_takes_the_lowest_numbers_and_only_their_entries() -> None:
    queue, state = FakeQueue(), FakeState()
    syncs = SyncRequests(queue=queue, state=state)
    numbers = [f"+1415555{i:04d}" for i in range(250)]
    syncs.request("twilio", reason="port", correlation_id="abcdefgh", numbers=numbers)
    syncs.started("twilio")
    taken = syncs.take_slice("twilio", ["+14155550200"])  # the job's own number sorts later
    assert taken.numbers == set(numbers[:100]) and len(taken.keys) == 100
    assert taken.rest == tuple(numbers[100:200])
    syncs.forget("twilio", taken)
    assert syncs.pending("twilio") == 150  # +14155550200 among them: still noted


def test_a_jobs_own_number_left_out_of_its_slice_is_noted_for_a_follow_on() -> None:
    queue, state = FakeQueue(), FakeState()
    syncs = SyncRequests(queue=queue, state=state, max_slice=2)
    syncs.request("twilio", reason="n", correlation_id="abcdefgh",
                  numbers=["+14155550001", "+14155550002"])
    taken = syncs.take_slice("twilio", ["+14155550009"])  # an entry no longer noted
    assert taken.numbers == {"+14155550001", "+14155550002"}
    syncs.forget("twilio", taken)
    assert syncs.pending("twilio") == 1 and taken.rest == ("+14155550009",)


def test_a_follow_on_is_queued_only_when_no_pending_sync_covers_the_rest() -> None:
    queue, state = FakeQueue(), FakeState()
    syncs = SyncRequests(queue=queue, state=state, max_slice=2)
    syncs.request("twilio", reason="n", correlation_id="abcdefgh",
                  numbers=["+14155550001", "+14155550002", "+14155550003"])
    syncs.started("twilio")
    taken = syncs.take_slice("twilio", ["+14155550001", "+14155550002"])
    syncs.request("twilio", reason="n", correlation_id="abcdefgi", numbers=["+14155550004"])
    assert not syncs.follow_on("twilio", taken, correlation_id="abcdefgh")  # that job covers it
    syncs.started("twilio")
    assert syncs.follow_on("twilio", taken, correlation_id="abcdefgh")
    assert [job.numbers for job, _ in queue.sent][-1] == ("+14155550003",)
    assert not syncs.follow_on("twilio", taken, correlation_id="abcdefgh")  # its own marker
