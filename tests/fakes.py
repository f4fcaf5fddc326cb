"""In-memory fakes of byoc's storage ports, for unit tests of services (no network)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from byoc.adapters.lock import LockBusy, LockLost
from byoc.domain.inventory import NumberRecord
from byoc.domain.jobs import Job, dump_job


class FakeQueue:
    def __init__(self) -> None:
        self.sent: list[tuple[Job, int]] = []
        self.dead: list[tuple[str, str]] = []

    def send(self, job: Job, *, delay_s: int = 0) -> None:
        self.sent.append((job, delay_s))

    def send_text(self, text: str, *, delay_s: int = 0) -> None:
        from byoc.domain.jobs import parse_job

        self.sent.append((parse_job(text), delay_s))

    def dead_letter(self, body: str, reason: str) -> None:
        self.dead.append((body, reason))

    def depth(self, *, poison: bool = False) -> int:
        return len(self.dead) if poison else len(self.sent)

    def bodies(self) -> list[str]:
        return [dump_job(job) for job, _ in self.sent]


class FakeInventory:
    def __init__(self, records: Iterable[NumberRecord] = ()) -> None:
        self.records = {r.number: r for r in records}
        self.writes = 0

    def get(self, number: str) -> NumberRecord | None:
        return self.records.get(number)

    def get_many(self, numbers: Iterable[str]) -> list[NumberRecord]:
        return [self.records[n] for n in sorted(set(numbers)) if n in self.records]

    def put(self, record: NumberRecord) -> None:
        self.writes += 1
        self.records[record.number] = record

    def put_many(self, records: Iterable[NumberRecord]) -> None:
        for record in records:
            self.put(record)

    def all(self) -> list[NumberRecord]:
        return list(self.records.values())

    def update(
        self, number: str, change: Callable[[NumberRecord | None], NumberRecord | None]
    ) -> NumberRecord | None:
        current = self.records.get(number)
        new = change(current)
        if new is None or new == current:
            return current
        self.put(new)
        return new

    def update_many(
        self, numbers: Iterable[str], change: Callable[[NumberRecord], NumberRecord | None]
    ) -> int:
        written = 0
        for number in set(numbers) & set(self.records):
            current = self.records[number]
            new = change(current)
            if new is not None and new != current:
                self.put(new)
                written += 1
        return written


class FakeOperations:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def record(self, **row: Any) -> None:
        self.rows.append(row)


class FakeState:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], Any] = {}

    def claim(self, namespace: str, key: str) -> bool:
        if (namespace, key) in self.data:
            return False
        self.data[(namespace, key)] = True
        return True

    def claim_all(self, namespace: str, keys: list[str]) -> bool:
        if any((namespace, key) in self.data for key in keys):
            return False
        for key in keys:
            self.data[(namespace, key)] = True
        return True

    def release_claim(self, namespace: str, key: str) -> None:
        self.data.pop((namespace, key), None)

    def get(self, namespace: str, key: str) -> Any:
        return self.data.get((namespace, key))

    def put(self, namespace: str, key: str, value: Any) -> None:
        self.data[(namespace, key)] = value

    def items(self, namespace: str) -> dict[str, Any]:
        return {k: v for (ns, k), v in self.data.items() if ns == namespace}


class FakeLease:
    def __init__(self) -> None:
        self.lost = False
        self.checks = 0

    def check(self) -> None:
        self.checks += 1
        if self.lost:
            raise LockLost("lease lost")


class FakeLocks:
    def __init__(self) -> None:
        self.held: set[str] = set()
        self.lease = FakeLease()

    @contextmanager
    def hold(self, target: str) -> Iterator[FakeLease]:
        if target in self.held:
            raise LockBusy(f"{target} busy")
        self.held.add(target)
        try:
            yield self.lease
        finally:
            self.held.discard(target)
