"""The typed before/after of each SBC change kind: what the planner builds and the upload reads,
printed (`to_json`) in the shape plans have always shown (`sbc_reconciler`)."""

from __future__ import annotations

from dataclasses import dataclass

from byoc.domain.plan import JsonValue, Payload
from byoc.ports import SbcDialPlanRule


@dataclass(frozen=True)
class NewDialPlan(Payload):
    """byoc's Dial Plan, to create at this index (kind `dial-plan`)."""

    index: int
    name: str

    def to_json(self) -> JsonValue:
        return {"index": self.index, "name": self.name}


@dataclass(frozen=True)
class PlacedRule(Payload):
    """One Dial Plan Rule at its place: the plan's index and the rule (kind `dial-plan-rule`)."""

    plan_index: int
    rule: SbcDialPlanRule

    def to_json(self) -> JsonValue:
        rule = self.rule
        return {"plan_index": self.plan_index, "index": rule.index, "name": rule.name,
                "prefix": rule.prefix, "tag": rule.tag}
