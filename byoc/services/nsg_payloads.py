"""The typed before/after of an NSG rule change: what the planner builds and the writes read,
printed (`to_json`) in the shape plans have always shown (`nsg_reconciler`)."""

from __future__ import annotations

from dataclasses import dataclass

from byoc.domain.plan import JsonValue, Payload
from byoc.services.nsg_rule import NsgRule


@dataclass(frozen=True)
class WantedRule(Payload):
    """A byoc rule as it is to be written (kind `nsg-rule`, `after`)."""

    rule: NsgRule

    def to_json(self) -> JsonValue:
        return self.rule.fields()


@dataclass(frozen=True)
class ListedRule(Payload):
    """A byoc rule as read, with the ETag its update or delete is conditional on (`before`)."""

    rule: NsgRule

    def to_json(self) -> JsonValue:
        return {**self.rule.fields(), "etag": self.rule.etag}
