"""Ports: the Protocols services use to reach every external system.

Adapters implement them (Azure Storage, Key Vault, the vendor SDKs); unit tests use in-memory fakes.
Vendor ports sit next to the reconciler that uses them, in the section for that system below.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from byoc.domain.inventory import NumberRecord
from byoc.domain.jobs import Job

# --- byoc's own storage -------------------------------------------------------------------------


class JobQueue(Protocol):
    """The `byoc-jobs` queue."""

    def send(self, job: Job, *, delay_s: int = 0) -> None: ...

    def dead_letter(self, body: str, reason: str) -> None: ...


class QueueMetrics(Protocol):
    """How deep the job queue and its poison queue are."""

    def depth(self, *, poison: bool = False) -> int: ...


class Inventory(Protocol):
    """The `inventory` table."""

    def get(self, number: str) -> NumberRecord | None: ...

    def put(self, record: NumberRecord) -> None: ...

    def put_many(self, records: Iterable[NumberRecord]) -> None: ...

    def all(self) -> list[NumberRecord]: ...


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

    def release_claim(self, namespace: str, key: str) -> None: ...

    def get(self, namespace: str, key: str) -> Any: ...

    def put(self, namespace: str, key: str, value: Any) -> None: ...

    def items(self, namespace: str) -> dict[str, Any]: ...


class HeldLease(Protocol):
    """A lease on one target; `check()` raises once it is lost."""

    def check(self) -> None: ...


class TargetLocks(Protocol):
    """Single-flight per target."""

    def hold(self, target: str) -> AbstractContextManager[HeldLease]: ...


class SecretSource(Protocol):
    """Key Vault secrets."""

    def get_secret(self, name: str, version: str | None = None) -> SecretValue: ...

    def list_versions(self, name: str) -> list[SecretVersionInfo]: ...


class SecretValue(Protocol):
    value: str
    content_type: str | None
    version: str


class SecretVersionInfo(Protocol):
    version: str
    enabled: bool
    created_on: Any


# --- Azure NSG ----------------------------------------------------------------------------------


class NsgPort(Protocol):
    """One Azure network security group's security rules, as ARM JSON.

    A rule is `{"name": ..., "etag": ..., "properties": {"priority": ..., "direction": ...,
    "access": ..., "protocol": ..., "sourceAddressPrefix(es)": ..., ...}}` (the REST API's shape).
    """

    def read_rules(self) -> list[dict[str, Any]]:
        """Every user-defined rule with its ETag (Azure's default rules left out); one read."""
        ...

    def put_rule(
        self, name: str, properties: dict[str, Any], *, etag: str | None
    ) -> dict[str, Any]:
        """Create the rule (`etag` None: only if absent) or replace it (only if unchanged)."""
        ...

    def delete_rule(self, name: str, *, etag: str | None) -> None:
        """Delete the rule (only if unchanged, when `etag` is given); absent is fine."""
        ...
