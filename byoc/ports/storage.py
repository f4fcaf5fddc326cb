"""Ports to byoc's own storage: the job queue, the number inventory, the operations log, state and locks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from byoc.domain.inventory import NumberRecord
from byoc.domain.jobs import Job


class JobQueue(Protocol):
    """The `byoc-jobs` queue."""

    def send(self, job: Job, *, delay_s: int = 0) -> None: ...

    def dead_letter(self, body: str, reason: str) -> None: ...


class QueueMetrics(Protocol):
    """How deep the job queue and its poison queue are."""

    def depth(self, *, poison: bool = False) -> int: ...


@dataclass(frozen=True)
class QueuedMessage:
    """A message as read from a queue."""

    id: str
    pop_receipt: str | None
    dequeue_count: int
    body: str
    inserted_on: dt.datetime | None
    expires_on: dt.datetime | None
    next_visible_on: dt.datetime | None


@dataclass(frozen=True)
class PoisonMessage:
    """A message in the poison queue, with why it is there."""

    id: str
    reason: str
    body: str
    inserted_on: dt.datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "reason": self.reason,
            "body": self.body,
            "inserted_on": self.inserted_on.isoformat() if self.inserted_on else None,
        }


class DeadLetters(Protocol):
    """The poison queue (`byoc-jobs-poison`) and the job queue its messages go back to."""

    def poison_messages(self, *, limit: int = 32) -> list[PoisonMessage]:
        """Up to `limit` poison messages, oldest first, left in place."""
        ...

    def take_poison(self, *, limit: int) -> list[tuple[QueuedMessage, str, str]]:
        """Poison messages hidden for a while to replay or purge: (message, original body, reason)."""
        ...

    def delete_poison(self, message: QueuedMessage) -> None: ...

    def keep_poison(self, message: QueuedMessage) -> None:
        """Leave a taken poison message where it is, visible again at once."""
        ...

    def send_text(self, text: str, *, delay_s: int = 0) -> None:
        """Put a message body back on the job queue as it is."""
        ...


class Inventory(Protocol):
    """The `inventory` table."""

    def get(self, number: str) -> NumberRecord | None: ...

    def get_many(self, numbers: Iterable[str]) -> list[NumberRecord]:
        """The records of `numbers` that exist (a slice's; cost grows with them, not the table)."""
        ...

    def put(self, record: NumberRecord) -> None: ...

    def put_many(self, records: Iterable[NumberRecord]) -> None: ...

    def all(self) -> list[NumberRecord]: ...

    def update(
        self, number: str, change: Callable[[NumberRecord | None], NumberRecord | None]
    ) -> NumberRecord | None:
        """Read, change and write one record as one step: `change` gets the record as stored now
        (None: absent) and returns what to store (None: leave it); it runs again if another
        worker wrote the record in between. Returns the record as stored."""
        ...

    def update_many(
        self, numbers: Iterable[str], change: Callable[[NumberRecord], NumberRecord | None]
    ) -> int:
        """`update` for the existing records among `numbers`, batched; how many were written."""
        ...


class OperationsLog(Protocol):
    """The `operations` table: every applied change."""

    def record(
        self,
        *,
        target: str,
        operation: str,
        outcome: str,
        correlation_id: str,
        numbers: list[str] | None = None,
        before: Any = None,
        after: Any = None,
        detail: str = "",
    ) -> None: ...


class StateStore(Protocol):
    """Small records: processed event ids, cursors, health results, sync status."""

    def claim(self, namespace: str, key: str) -> bool: ...

    def claim_all(self, namespace: str, keys: list[str]) -> bool:
        """Record every key at once, or none (False: one of them was recorded before)."""
        ...

    def release_claim(self, namespace: str, key: str) -> None: ...

    def get(self, namespace: str, key: str) -> Any: ...

    def put(self, namespace: str, key: str, value: Any) -> None: ...

    def items(self, namespace: str) -> dict[str, Any]: ...


class LockBusy(Exception):
    """Another worker holds the target's lease; try again shortly."""


class LockLost(Exception):
    """The lease could not be renewed; the sync must stop before its next write."""


class HeldLease(Protocol):
    """A lease on one target; `check()` raises once it is lost."""

    def check(self) -> None: ...


class TargetLocks(Protocol):
    """Single-flight per target."""

    def hold(self, target: str) -> AbstractContextManager[HeldLease]: ...
