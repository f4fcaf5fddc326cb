"""The poison queue: list what failed and why, put it back on the job queue, or purge it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from byoc.domain.jobs import InvalidJob, parse_job
from byoc.ports import DeadLetters, PoisonMessage, QueuedMessage

log = logging.getLogger("byoc.poison")


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did."""

    replayed: int
    still_invalid: list[dict[str, Any]]


class PoisonQueue:
    """Operations on `byoc-jobs-poison`."""

    def __init__(self, queue: DeadLetters) -> None:
        self._queue = queue

    def list(self, limit: int = 32) -> list[PoisonMessage]:
        return self._queue.poison_messages(limit=limit)

    def replay(self, limit: int = 1000) -> ReplayResult:
        """Move valid jobs back to `byoc-jobs`; invalid ones stay in poison, with their reason."""
        replayed = 0
        invalid: list[dict[str, Any]] = []
        kept: list[QueuedMessage] = []
        while replayed + len(invalid) < limit:
            batch = self._queue.take_poison(limit=min(32, limit - replayed - len(invalid)))
            if not batch:
                break
            for message, body, reason in batch:
                try:
                    parse_job(body)
                except InvalidJob as exc:
                    invalid.append({"id": message.id, "reason": reason, "problem": str(exc)})
                    kept.append(message)
                    continue
                self._queue.send_text(body)
                self._queue.delete_poison(message)
                replayed += 1
                log.info("poison message replayed", extra={"event": "poison.replay",
                                                           "message_id": message.id})
        # Taken to be read, the ones kept stay hidden until every batch is in; then they show
        # again in `byoc jobs poison list` at once (not a minute later).
        for message in kept:
            self._queue.keep_poison(message)
        return ReplayResult(replayed=replayed, still_invalid=invalid)

    def purge(self) -> int:
        """Delete every poison message; returns how many."""
        purged = 0
        while batch := self._queue.take_poison(limit=32):
            for message, _, _ in batch:
                self._queue.delete_poison(message)
                purged += 1
        log.warning("poison queue purged", extra={"event": "poison.purge", "count": purged})
        return purged
