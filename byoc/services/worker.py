"""Job dispatch: one queue message in, the service that handles it called.

A malformed or unknown message is dead-lettered at once with its reason (never retried forever);
a target busy in another worker is re-queued with a short delay; any other failure propagates so
the queue retries it, and the host moves it to `byoc-jobs-poison` after `maxDequeueCount`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum

from byoc.domain.jobs import (
    InvalidJob,
    Job,
    NumberEvent,
    RotateCertificate,
    SyncTarget,
    parse_job,
)
from byoc.ports import JobQueue, LockBusy
from byoc.services.notices import NOTICE_SOURCE, NoticeConfirmation
from byoc.services.numbers import NumberLifecycle
from byoc.services.reconcile import ReconcileService
from byoc.telemetry import job_span

log = logging.getLogger("byoc.worker")

BUSY_RETRY_DELAY_S = 5


class JobResult(StrEnum):
    """How a message was settled."""

    DONE = "done"
    DEAD_LETTERED = "dead_lettered"
    REQUEUED = "requeued"


class Worker:
    """Dispatches byoc jobs to services."""

    def __init__(
        self,
        *,
        queue: JobQueue,
        numbers: Callable[[], NumberLifecycle],
        reconcile: Callable[[], ReconcileService],
        rotate_certificate: Callable[[RotateCertificate], object] | None = None,
        notices: Callable[[], NoticeConfirmation] | None = None,
    ) -> None:
        self._notices = notices
        self._queue = queue
        self._numbers = numbers
        self._reconcile = reconcile
        self._rotate_certificate = rotate_certificate

    def handle(self, body: str, *, message_id: str = "", dequeue_count: int = 1) -> JobResult:
        try:
            job = parse_job(body)
        except InvalidJob as exc:
            reason = f"invalid job message: {exc}"
            log.error(
                "job dead-lettered", extra={"event": "job.invalid", "message_id": message_id,
                                            "reason": reason},
            )
            self._queue.dead_letter(body, reason)
            return JobResult.DEAD_LETTERED
        context = {"message_id": message_id, "dequeue_count": dequeue_count,
                   "correlation_id": job.correlation_id, "job": job.type}
        with job_span(job.type, traceparent=job.traceparent, correlation_id=job.correlation_id,
                      message_id=message_id, dequeue_count=dequeue_count,
                      target=getattr(job, "target", None), number=getattr(job, "number", None)):
            log.info("job started", extra={"event": "job.start", **context})
            return self._dispatch(job, body)

    def _dispatch(self, job: Job, body: str) -> JobResult:
        if isinstance(job, NumberEvent):
            if job.source == NOTICE_SOURCE:
                # A notice is a hint: Twilio says what is true before anything is recorded.
                if self._notices is None:
                    reason = "number notices cannot be confirmed at Twilio here; not handled"
                    self._queue.dead_letter(body, reason)
                    return JobResult.DEAD_LETTERED
                confirmed = self._notices().confirm(job)
                if confirmed is None:
                    return JobResult.DONE
                job = confirmed
            self._numbers().handle(job)
        elif isinstance(job, SyncTarget):
            return self._sync(job)
        else:
            if self._rotate_certificate is None:
                reason = "certificate rotation is not available in this version of byoc"
                self._queue.dead_letter(body, reason)
                return JobResult.DEAD_LETTERED
            self._rotate_certificate(job)
        return JobResult.DONE

    def _sync(self, job: SyncTarget) -> JobResult:
        reconcile = self._reconcile()
        if job.target == "all":
            reconcile.enqueue("all", reason=job.reason, correlation_id=job.correlation_id,
                              force=job.force)
            return JobResult.DONE
        try:
            reconcile.sync(job.target, correlation_id=job.correlation_id, force=job.force,
                           numbers=job.numbers)
        except LockBusy:
            self._queue.send(job, delay_s=BUSY_RETRY_DELAY_S)
            log.info("target busy; sync re-queued",
                     extra={"event": "job.requeued", "target": job.target,
                            "correlation_id": job.correlation_id})
            return JobResult.REQUEUED
        return JobResult.DONE
