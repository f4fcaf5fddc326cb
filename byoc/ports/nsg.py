"""Port to one Azure network security group."""

from __future__ import annotations

from typing import Any, Protocol


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
