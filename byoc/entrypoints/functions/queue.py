"""The queue function: every `byoc-jobs` message goes to the worker."""

from __future__ import annotations

import azure.functions as func

from byoc.names import QUEUE_NAME, STORAGE_CONNECTION
from byoc.telemetry import invocation

bp = func.Blueprint()


@bp.function_name("byoc_jobs")
@bp.queue_trigger(arg_name="msg", queue_name=QUEUE_NAME, connection=STORAGE_CONNECTION)
@invocation("queue", open_span=False)  # the worker continues the trace the job carries
def byoc_jobs(msg: func.QueueMessage) -> None:
    """Handle one job; an exception makes the host retry it, then move it to the poison queue."""
    from byoc.bootstrap import get_services

    body = msg.get_body().decode("utf-8", errors="replace")
    dequeue_count = int(getattr(msg, "dequeue_count", None) or 1)
    get_services().worker.handle(body, message_id=msg.id or "", dequeue_count=dequeue_count)
