"""The worker: malformed messages are dead-lettered with the reason, busy targets re-queued."""

from __future__ import annotations

from typing import Any

from fakes import FakeQueue

from byoc.adapters.lock import LockBusy
from byoc.domain.jobs import SyncTarget, dump_job
from byoc.services.worker import JobResult, Worker


class BusyReconcile:
    def __init__(self) -> None:
        self.calls = 0

    def sync(self, target: str, **_: Any) -> None:
        self.calls += 1
        raise LockBusy(target)


def test_a_malformed_message_goes_to_poison_with_its_reason_and_is_not_retried() -> None:
    queue = FakeQueue()
    worker = Worker(queue=queue, numbers=lambda: None, reconcile=lambda: None)
    assert worker.handle("{not json") is JobResult.DEAD_LETTERED
    body, reason = queue.dead[0]
    assert body == "{not json" and "not JSON" in reason


def test_a_busy_target_is_requeued_with_a_delay() -> None:
    queue = FakeQueue()
    reconcile = BusyReconcile()
    worker = Worker(queue=queue, numbers=lambda: None, reconcile=lambda: reconcile)
    job = SyncTarget(target="genesys", reason="test", correlation_id="abcdefgh")
    assert worker.handle(dump_job(job)) is JobResult.REQUEUED
    assert queue.sent == [(job, 5)]


def test_a_rotation_job_without_the_certificate_service_is_kept_in_poison() -> None:
    queue = FakeQueue()
    worker = Worker(queue=queue, numbers=lambda: None, reconcile=lambda: None)
    body = '{"schema_version": 1, "type": "rotate_certificate", "correlation_id": "abcdefgh"}'
    assert worker.handle(body) is JobResult.DEAD_LETTERED
    assert "not available" in queue.dead[0][1]


class RecordingReconcile:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def sync(self, target: str, **kwargs: Any) -> None:
        self.calls.append({"target": target, **kwargs})


def test_a_slice_job_reaches_the_sync_with_its_numbers() -> None:
    reconcile = RecordingReconcile()
    worker = Worker(queue=FakeQueue(), numbers=lambda: None, reconcile=lambda: reconcile)
    job = SyncTarget(target="twilio", reason="number purchased", correlation_id="abcdefgh",
                     numbers=("+14155550100",))
    assert worker.handle(dump_job(job)) is JobResult.DONE
    assert reconcile.calls[0]["numbers"] == ("+14155550100",)
