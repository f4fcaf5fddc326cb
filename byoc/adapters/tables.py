"""Azure Tables: the number inventory, the operations log, and byoc's small state records."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from byoc.domain.inventory import NumberRecord, NumberState

if TYPE_CHECKING:
    from azure.data.tables import TableClient, TableServiceClient

    from byoc.adapters.storage import StorageAccess

_MAX_PROPERTY = 30_000  # characters; a table property holds at most 64 KiB (UTF-16)
INVENTORY_PARTITION = "number"
UPDATE_ATTEMPTS = 20
_KEYS_PER_QUERY = 14


class InventoryContention(Exception):
    """A record kept changing between byoc's read and write; the job is retried later."""


def _service(access: StorageAccess) -> TableServiceClient:
    from azure.data.tables import TableServiceClient

    if access.connection_string:
        return TableServiceClient.from_connection_string(access.connection_string)
    if access.table_uri is None:
        raise ValueError("AzureWebJobsStorage__tableServiceUri is required (identity-based tables)")
    return TableServiceClient(endpoint=access.table_uri, credential=access.credential)


def open_table(access: StorageAccess, name: str) -> TableClient:
    """A table client, creating the table on first use."""
    return _service(access).create_table_if_not_exists(name)


class StateValueTooLarge(ValueError):
    """A state record is larger than one table property holds; nothing was written."""


def _clip(value: Any) -> str:
    """JSON of `value` for the operations log; too long, a JSON object that says so (still JSON,
    so whoever reads the log back can parse it)."""
    text = json.dumps(value, default=str)
    if len(text) <= _MAX_PROPERTY:
        return text
    preview = text[: _MAX_PROPERTY // 3]
    return json.dumps({"truncated": True, "chars": len(text), "preview": preview})


class TableInventory:
    """The `inventory` table: one entity per managed number."""

    def __init__(self, access: StorageAccess, table: str) -> None:
        self._client = open_table(access, table)

    @staticmethod
    def _to_entity(record: NumberRecord) -> dict[str, Any]:
        return {
            "PartitionKey": INVENTORY_PARTITION,
            "RowKey": record.number,
            "state": record.state.value,
            "sid": record.sid or "",
            "genesys_target": record.genesys_target or "",
            "sbc_tag": record.sbc_tag or "",
            "converged": json.dumps(record.converged),
            "errors": json.dumps(record.errors),
            "source": record.source or "",
            "correlation_id": record.correlation_id or "",
            "updated": record.updated or "",
            "onboarding_since": record.onboarding_since or "",
        }

    @staticmethod
    def _from_entity(entity: dict[str, Any]) -> NumberRecord:
        return NumberRecord(
            number=str(entity["RowKey"]),
            state=NumberState(entity["state"]),
            sid=entity.get("sid") or None,
            genesys_target=entity.get("genesys_target") or None,
            sbc_tag=entity.get("sbc_tag") or None,
            converged=json.loads(entity.get("converged") or "{}"),
            errors=json.loads(entity.get("errors") or "{}"),
            source=entity.get("source") or None,
            correlation_id=entity.get("correlation_id") or None,
            updated=entity.get("updated") or None,
            onboarding_since=entity.get("onboarding_since") or None,
        )

    def get(self, number: str) -> NumberRecord | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return self._from_entity(self._client.get_entity(INVENTORY_PARTITION, number))
        except ResourceNotFoundError:
            return None

    def get_many(self, numbers: Iterable[str]) -> list[NumberRecord]:
        """Queries of up to 14 row keys each (a filter holds at most 15 comparisons)."""
        wanted = sorted(set(numbers))
        records: list[NumberRecord] = []
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            chunk = wanted[start:start + _KEYS_PER_QUERY]
            rows = " or ".join(f"RowKey eq '{n}'" for n in chunk if _plain_key(n))
            if not rows:
                continue
            records.extend(
                self._from_entity(e) for e in self._client.query_entities(
                    f"PartitionKey eq '{INVENTORY_PARTITION}' and ({rows})")
            )
        return records

    def put(self, record: NumberRecord) -> None:
        from azure.data.tables import UpdateMode

        self._client.upsert_entity(self._to_entity(record), mode=UpdateMode.REPLACE)

    def put_many(self, records: Iterable[NumberRecord]) -> None:
        """Upsert in transactions of up to 100 entities (one partition)."""
        batch: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        for record in records:
            batch.append(("upsert", self._to_entity(record), {"mode": "replace"}))
            if len(batch) == 100:
                self._client.submit_transaction(batch)
                batch = []
        if batch:
            self._client.submit_transaction(batch)

    def delete(self, number: str) -> None:
        self._client.delete_entity(INVENTORY_PARTITION, number)

    def update(
        self, number: str, change: Callable[[NumberRecord | None], NumberRecord | None]
    ) -> NumberRecord | None:
        """Read-change-write with the entity's ETag (If-Match), again while another writer wins."""
        return self._update(number, change)[0]

    def _update(
        self, number: str, change: Callable[[NumberRecord | None], NumberRecord | None]
    ) -> tuple[NumberRecord | None, bool]:
        from azure.core import MatchConditions
        from azure.core.exceptions import (
            ResourceExistsError,
            ResourceModifiedError,
            ResourceNotFoundError,
        )
        from azure.data.tables import UpdateMode

        for _ in range(UPDATE_ATTEMPTS):
            try:
                entity = self._client.get_entity(INVENTORY_PARTITION, number)
            except ResourceNotFoundError:
                entity = None
            current = self._from_entity(entity) if entity is not None else None
            new = change(current)
            if new is None or new == current:
                return current, False
            try:
                if entity is None:
                    self._client.create_entity(self._to_entity(new))
                else:
                    self._client.update_entity(
                        self._to_entity(new), mode=UpdateMode.REPLACE,
                        etag=entity.metadata["etag"], match_condition=MatchConditions.IfNotModified,
                    )
            except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
                continue  # written (or deleted) by someone else since the read: read again
            return new, True
        raise InventoryContention(
            f"inventory record {number} changed {UPDATE_ATTEMPTS} times while byoc tried to "
            "update it; the job is retried"
        )

    def update_many(
        self, numbers: Iterable[str], change: Callable[[NumberRecord], NumberRecord | None]
    ) -> int:
        """One read of the table, then transactions of up to 100 conditional writes; a
        transaction that meets a concurrent write is redone record by record."""
        from azure.core import MatchConditions
        from azure.data.tables import TableTransactionError

        wanted = set(numbers)
        if not wanted:
            return 0
        pending: list[tuple[NumberRecord, str]] = []
        for entity in self._client.query_entities(f"PartitionKey eq '{INVENTORY_PARTITION}'"):
            if entity["RowKey"] not in wanted:
                continue
            current = self._from_entity(entity)
            new = change(current)
            if new is not None and new != current:
                pending.append((new, str(entity.metadata["etag"])))
        written = 0
        for start in range(0, len(pending), 100):
            chunk = pending[start:start + 100]
            try:
                self._client.submit_transaction([
                    ("update", self._to_entity(new),
                     {"mode": "replace", "etag": etag,
                      "match_condition": MatchConditions.IfNotModified})
                    for new, etag in chunk
                ])
                written += len(chunk)
            except TableTransactionError:
                for new, _ in chunk:
                    _, wrote = self._update(
                        new.number, lambda current: change(current) if current else None
                    )
                    written += wrote
        return written

    def all(self) -> list[NumberRecord]:
        return [
            self._from_entity(e)
            for e in self._client.query_entities(f"PartitionKey eq '{INVENTORY_PARTITION}'")
        ]


class TableOperationsLog:
    """The `operations` table: the audit trail of every applied change."""

    def __init__(self, access: StorageAccess, table: str) -> None:
        self._client = open_table(access, table)

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
    ) -> None:
        now = dt.datetime.now(dt.UTC)
        inverted = 10**13 - int(now.timestamp() * 1000)
        self._client.create_entity(
            {
                "PartitionKey": target.replace("/", "_"),
                "RowKey": f"{inverted:013d}-{uuid.uuid4().hex[:12]}",
                "at": now.isoformat(timespec="milliseconds"),
                "target": target,
                "operation": operation,
                "outcome": outcome,
                "correlation_id": correlation_id,
                "numbers": _clip(sorted(numbers or [])),
                "before": _clip(before),
                "after": _clip(after),
                "detail": detail[:2000],
            }
        )

    def recent(self, *, target: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Newest first."""
        entities: Iterator[Any] = iter(
            self._client.query_entities(f"PartitionKey eq '{target}'")
            if target
            else self._client.list_entities()
        )
        rows = [dict(e) for _, e in zip(range(limit * 4), entities, strict=False)]
        rows.sort(key=lambda r: str(r.get("at", "")), reverse=True)
        return rows[:limit]

    def for_number(self, number: str, *, limit: int = 50) -> list[dict[str, Any]]:
        """What happened to one number (scans the log; fine for an audit question)."""
        hits = [
            dict(e) for e in self._client.list_entities() if number in str(e.get("numbers", ""))
        ]
        hits.sort(key=lambda r: str(r.get("at", "")), reverse=True)
        return hits[:limit]


class TableStateStore:
    """Small records byoc keeps: processed event ids, poll cursors, health results, sync status."""

    def __init__(self, access: StorageAccess, table: str) -> None:
        self._client = open_table(access, table)

    def claim(self, namespace: str, key: str) -> bool:
        """Record `key` once; False if it was already recorded (a repeated event)."""
        from azure.core.exceptions import ResourceExistsError

        try:
            self._client.create_entity(
                {
                    "PartitionKey": namespace,
                    "RowKey": _safe_key(key),
                    "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                }
            )
        except ResourceExistsError:
            return False
        return True

    def claim_all(self, namespace: str, keys: list[str]) -> bool:
        """Record every key in one transaction (one round trip), or none of them."""
        from azure.data.tables import TableTransactionError

        at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        unique = list(dict.fromkeys(_safe_key(k) for k in keys))
        if len(unique) > 100:
            raise ValueError("at most 100 keys per claim (one table transaction)")
        try:
            self._client.submit_transaction([
                ("create", {"PartitionKey": namespace, "RowKey": key, "at": at})
                for key in unique
            ])
        except TableTransactionError:
            return False
        return True

    def release_claim(self, namespace: str, key: str) -> None:
        """Forget a claim (the work it guarded failed before anything was enqueued)."""
        from azure.core.exceptions import ResourceNotFoundError

        with suppress(ResourceNotFoundError):
            self._client.delete_entity(namespace, _safe_key(key))

    def get(self, namespace: str, key: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            entity = self._client.get_entity(namespace, _safe_key(key))
        except ResourceNotFoundError:
            return None
        return json.loads(entity.get("value") or "null")

    def put(self, namespace: str, key: str, value: Any) -> None:
        from azure.data.tables import UpdateMode

        text = json.dumps(value, default=str)
        if len(text) > _MAX_PROPERTY:
            # Never clip: a clipped record would not parse again, and whoever reads it would fail.
            raise StateValueTooLarge(
                f"state record {namespace}/{key} is {len(text)} characters; a table property "
                f"holds {_MAX_PROPERTY}: not written"
            )
        self._client.upsert_entity(
            {"PartitionKey": namespace, "RowKey": _safe_key(key), "value": text},
            mode=UpdateMode.REPLACE,
        )

    def items(self, namespace: str) -> dict[str, Any]:
        return {
            str(e["RowKey"]): json.loads(e.get("value") or "null")
            for e in self._client.query_entities(f"PartitionKey eq '{namespace}'")
        }


def _plain_key(number: str) -> bool:
    """True for a number that can stand in a filter as it is (E.164 digits: no quote to escape)."""
    return number.startswith("+") and number[1:].isdigit()


def _safe_key(key: str) -> str:
    """Table keys may not hold / \\ # ? or control characters."""
    return "".join("_" if ch in "/\\#?" or ord(ch) < 32 else ch for ch in key)[:512]
