"""In-memory fakes for NSG reconciler tests: an NSG speaking ARM JSON, a lease, and the storage
ports `ReconcileService` needs, so a unit test can run a whole sync without a network."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterable
from typing import Any

from byoc.adapters.nsg import NsgRequestRefused, NsgRuleConflict

_etags = itertools.count(1)


def _etag() -> str:
    return f'W/"fake-{next(_etags)}"'


class FakeNsg:
    """One NSG's security rules in memory, strict where ARM is (priorities, ETags, required
    fields). `reads` and `writes` count calls; `before_write` runs before each write (to play a
    concurrent editor)."""

    def __init__(self, rules: Iterable[dict[str, Any]] = ()) -> None:
        self.rules: dict[str, dict[str, Any]] = {}
        self.reads = 0
        self.writes: list[tuple[str, str]] = []
        self.before_write: Callable[[str, str], None] | None = None
        for rule in rules:
            self.seed(rule["name"], rule["properties"])

    # --- test controls (not counted) ------------------------------------------------------------

    def seed(self, name: str, properties: dict[str, Any]) -> None:
        """Put a rule in place as someone else would (portal, Bicep)."""
        self.rules[name.lower()] = {
            "name": name,
            "etag": _etag(),
            "properties": {"provisioningState": "Succeeded", **copy.deepcopy(properties)},
        }

    def edit(self, name: str, **properties: Any) -> None:
        """A hand edit of an existing rule: fields merged, ETag changed."""
        rule = self.rules[name.lower()]
        rule["properties"].update(properties)
        rule["etag"] = _etag()

    def remove(self, name: str) -> None:
        del self.rules[name.lower()]

    def rule(self, name: str) -> dict[str, Any]:
        return self.rules[name.lower()]

    def owned(self, prefix: str = "byoc-") -> dict[str, dict[str, Any]]:
        return {r["name"]: r for r in self.rules.values() if r["name"].startswith(prefix)}

    # --- NsgPort ----------------------------------------------------------------------------------

    def read_rules(self) -> list[dict[str, Any]]:
        self.reads += 1
        return copy.deepcopy(list(self.rules.values()))

    def put_rule(self, name: str, properties: dict[str, Any], *, etag: str | None) -> dict[str, Any]:
        if self.before_write:
            self.before_write("put", name)
        current = self.rules.get(name.lower())
        self._check_etag(name, current, etag)
        for field in ("priority", "direction", "access", "protocol"):
            if field not in properties:
                raise NsgRequestRefused(f"{name}: {field} is required")
        if not 100 <= properties["priority"] <= 4096:
            raise NsgRequestRefused(f"{name}: priority {properties['priority']} out of range")
        for key, other in self.rules.items():
            same = (
                other["properties"]["priority"] == properties["priority"]
                and other["properties"]["direction"] == properties["direction"]
            )
            if key != name.lower() and same:
                raise NsgRequestRefused(f"SecurityRuleConflict: {other['name']} conflicts with rule {name}")
        self.writes.append(("put", name))
        self.seed(name, properties)
        return copy.deepcopy(self.rules[name.lower()])

    def delete_rule(self, name: str, *, etag: str | None) -> None:
        if self.before_write:
            self.before_write("delete", name)
        current = self.rules.get(name.lower())
        if current is None:
            return
        self._check_etag(name, current, etag)
        self.writes.append(("delete", name))
        del self.rules[name.lower()]

    @staticmethod
    def _check_etag(name: str, current: dict[str, Any] | None, etag: str | None) -> None:
        if etag is None and current is not None:
            raise NsgRuleConflict(f"rule {name} appeared since it was read")
        if etag is not None and (current is None or current["etag"] != etag):
            raise NsgRuleConflict(f"rule {name} changed since it was read")


class FakeLease:
    """A held lease; `lose_after` checks it raises, like a lease whose renewal failed."""

    def __init__(self, lose_after: int | None = None) -> None:
        self.checks = 0
        self.lose_after = lose_after

    def check(self) -> None:
        if self.lose_after is not None and self.checks >= self.lose_after:
            raise LeaseLost("lost the lease")
        self.checks += 1


class LeaseLost(Exception):
    """The fake lease was lost."""


