"""The job queue (`byoc-jobs`) on Azure Storage, base64 as the Functions queue trigger expects."""

from __future__ import annotations

import json
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from byoc.domain.jobs import Job, dump_job
from byoc.names import POISON_QUEUE_NAME, QUEUE_NAME
from byoc.ports import PoisonMessage, QueuedMessage
from byoc.telemetry import current_traceparent

if TYPE_CHECKING:
    from azure.storage.queue import QueueClient

    from byoc.adapters.storage import StorageAccess

POISON_ENVELOPE_KEY = "byoc_poison"


def poison_envelope(body: str, reason: str) -> str:
    """The poison-queue body byoc writes when it dead-letters a message itself."""
    return json.dumps({POISON_ENVELOPE_KEY: {"reason": reason}, "body": body})


def open_poison_envelope(text: str, default_reason: str) -> tuple[str, str]:
    """(original body, reason) of a poison message, whether byoc or the host put it there."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, ValueError):
        return text, default_reason
    if isinstance(data, dict) and isinstance(data.get(POISON_ENVELOPE_KEY), dict):
        return str(data.get("body", "")), str(data[POISON_ENVELOPE_KEY].get("reason", ""))
    return text, default_reason


class StorageJobQueue:
    """Send, receive and dead-letter byoc jobs on a Storage queue (`JobQueue`, `QueueMetrics` and
    `DeadLetters` in `byoc.ports`)."""

    def __init__(
        self,
        access: StorageAccess,
        queue_name: str = QUEUE_NAME,
        poison_name: str = POISON_QUEUE_NAME,
    ) -> None:
        self._access = access
        self.queue_name = queue_name
        self.poison_name = poison_name
        self._clients: dict[str, QueueClient] = {}

    def _client(self, name: str) -> QueueClient:
        client = self._clients.get(name)
        if client is not None:
            return client
        from azure.core.exceptions import ResourceExistsError
        from azure.storage.queue import (
            QueueClient,
            TextBase64DecodePolicy,
            TextBase64EncodePolicy,
        )

        codec: dict[str, Any] = {
            "message_encode_policy": TextBase64EncodePolicy(),
            "message_decode_policy": TextBase64DecodePolicy(),
            **self._access.client_kwargs(),
        }
        if self._access.connection_string:
            client = QueueClient.from_connection_string(
                self._access.connection_string, name, **codec
            )
        else:
            assert self._access.queue_uri is not None
            client = QueueClient(
                self._access.queue_uri, name, credential=self._access.credential, **codec
            )
        with suppress(ResourceExistsError):
            client.create_queue()
        self._clients[name] = client
        return client

    def send(self, job: Job, *, delay_s: int = 0) -> None:
        """Enqueue a job; `delay_s` keeps it invisible that long (a retry later).

        A job sent inside a trace carries it (`traceparent`), unless it already carries one.
        """
        if job.traceparent is None:
            traceparent = current_traceparent()
            if traceparent is not None:
                job = job.model_copy(update={"traceparent": traceparent})
        self.send_text(dump_job(job), delay_s=delay_s)

    def send_text(self, text: str, *, delay_s: int = 0) -> None:
        self._client(self.queue_name).send_message(text, visibility_timeout=delay_s or None)

    def receive(self, *, max_messages: int, visibility_timeout_s: int) -> list[QueuedMessage]:
        """Take up to `max_messages` messages, hidden for `visibility_timeout_s`."""
        client = self._client(self.queue_name)
        pages = client.receive_messages(
            max_messages=max_messages, visibility_timeout=visibility_timeout_s
        )
        out = []
        for msg in pages:
            out.append(
                QueuedMessage(
                    id=msg.id,
                    pop_receipt=msg.pop_receipt,
                    dequeue_count=int(msg.dequeue_count or 0),
                    body=str(msg.content),
                    inserted_on=msg.inserted_on,
                    expires_on=msg.expires_on,
                    next_visible_on=msg.next_visible_on,
                )
            )
            if len(out) >= max_messages:
                break
        return out

    def delete(self, message: QueuedMessage) -> None:
        self._client(self.queue_name).delete_message(message.id, message.pop_receipt)

    def release(self, message: QueuedMessage, *, visibility_timeout_s: int) -> None:
        """Make a message visible again after `visibility_timeout_s` (a failed attempt)."""
        self._client(self.queue_name).update_message(
            message.id, message.pop_receipt, visibility_timeout=visibility_timeout_s
        )

    def dead_letter(self, body: str, reason: str) -> None:
        """Put a message on the poison queue with its reason."""
        self._client(self.poison_name).send_message(poison_envelope(body, reason))

    def move_to_poison_raw(self, message: QueuedMessage) -> None:
        """What the Functions host does after maxDequeueCount: copy as-is, then delete."""
        self._client(self.poison_name).send_message(message.body)
        self.delete(message)

    def clear(self) -> None:
        """Delete every message of the job queue and its poison queue (local runs, tests)."""
        self._client(self.queue_name).clear_messages()
        self._client(self.poison_name).clear_messages()

    def depth(self, *, poison: bool = False) -> int:
        props = self._client(self.poison_name if poison else self.queue_name).get_queue_properties()
        return int(props.approximate_message_count or 0)

    def poison_messages(self, *, limit: int = 32) -> list[PoisonMessage]:
        """Up to `limit` poison messages, oldest first, left in place."""
        client = self._client(self.poison_name)
        out: list[PoisonMessage] = []
        for msg in client.peek_messages(max_messages=min(limit, 32)):
            body, reason = open_poison_envelope(
                str(msg.content), "failed too many times (maxDequeueCount reached)"
            )
            out.append(
                PoisonMessage(id=msg.id, reason=reason, body=body, inserted_on=msg.inserted_on)
            )
        return out

    def take_poison(self, *, limit: int) -> list[tuple[QueuedMessage, str, str]]:
        """Receive poison messages for replay or purge: (message, original body, reason)."""
        client = self._client(self.poison_name)
        taken: list[tuple[QueuedMessage, str, str]] = []
        for msg in client.receive_messages(max_messages=32, visibility_timeout=60):
            body, reason = open_poison_envelope(str(msg.content), "maxDequeueCount reached")
            queued = QueuedMessage(
                id=msg.id,
                pop_receipt=msg.pop_receipt,
                dequeue_count=int(msg.dequeue_count or 0),
                body=str(msg.content),
                inserted_on=msg.inserted_on,
                expires_on=msg.expires_on,
                next_visible_on=msg.next_visible_on,
            )
            taken.append((queued, body, reason))
            if len(taken) >= limit:
                break
        return taken

    def delete_poison(self, message: QueuedMessage) -> None:
        self._client(self.poison_name).delete_message(message.id, message.pop_receipt)

    def keep_poison(self, message: QueuedMessage) -> None:
        """Leave a taken poison message where it is, visible again at once."""
        self._client(self.poison_name).update_message(
            message.id, message.pop_receipt, visibility_timeout=0
        )
