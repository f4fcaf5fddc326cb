"""SBC change payloads: typed for the upload, printed in the plan's one JSON shape per kind."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fakes import FakeLease

from byoc.domain.plan import Action, Change, JsonValue, Payload, PayloadMismatch
from byoc.ports import SbcDialPlan, SbcDialPlanRule
from byoc.services.reconcile import desired_state
from byoc.services.sbc_payloads import NewDialPlan, PlacedRule
from byoc.services.sbc_reconciler import SbcDialPlanReconciler
from tests.unit.services.test_sbc_reconciler import SBC, FakeSbc, policy, records

# kind, payload, the JSON plans printed for it before payloads were typed
PRINTED: list[tuple[str, Payload, JsonValue]] = [
    ("dial-plan", NewDialPlan(1, "BYOC"), {"index": 1, "name": "BYOC"}),
    ("dial-plan-rule", PlacedRule(0, SbcDialPlanRule(3, "byoc-1415555", "+1415555xxxx#", "main")),
     {"plan_index": 0, "index": 3, "name": "byoc-1415555", "prefix": "+1415555xxxx#",
      "tag": "main"}),
]


@pytest.mark.parametrize(("kind", "payload", "printed"), PRINTED, ids=[k for k, _, _ in PRINTED])
def test_each_kind_prints_the_json_plans_always_showed(
    kind: str, payload: Payload, printed: JsonValue
) -> None:
    change = Change(target="sbc:sbc1", action=Action.UPDATE, kind=kind, key="k", summary="s",
                    before=payload, after=payload)

    assert json.loads(json.dumps(change.to_json()))["after"] == printed
    assert json.dumps(change.to_json()["before"]) == json.dumps(printed)  # key order too
    assert change.after_json() == printed
    assert change.after_as(type(payload)) is payload


def test_the_planner_builds_typed_payloads_and_the_upload_writes_what_the_plan_printed() -> None:
    sbc = FakeSbc([SbcDialPlan(0, "Other", ())])
    reconciler = SbcDialPlanReconciler(SBC, sbc)
    desired = reconciler.desired(desired_state(records(["+14155550100", "+14155550150"]),
                                               policy()))
    plan = reconciler.plan(reconciler.read_actual(), desired)
    printed = json.loads(json.dumps(plan.to_json()))["changes"]

    assert all(isinstance(c.after, Payload) for c in plan.changes)
    assert printed[0]["kind"] == "dial-plan" and printed[0]["after"] == {"index": 1,
                                                                          "name": "BYOC"}
    reconciler.apply(plan, FakeLease())

    written = [{"plan_index": 1, "index": r.index, "name": r.name, "prefix": r.prefix,
                "tag": r.tag} for r in sbc.rules()]
    assert written == [c["after"] for c in printed if c["kind"] == "dial-plan-rule"]


def test_a_change_whose_payload_does_not_fit_its_kind_is_refused_before_any_write() -> None:
    sbc = FakeSbc([SbcDialPlan(0, "Other", ())])
    reconciler = SbcDialPlanReconciler(SBC, sbc)
    desired = reconciler.desired(desired_state(records(["+14155550100", "+14155550150"]),
                                               policy()))
    plan = reconciler.plan(reconciler.read_actual(), desired)
    last = plan.changes[-1]
    wrong = replace(last, after=last.to_json()["after"])

    with pytest.raises(PayloadMismatch, match=r"dial-plan-rule .*dict, not PlacedRule"):
        reconciler.apply(replace(plan, changes=(*plan.changes[:-1], wrong)), FakeLease())
    assert sbc.writes == []
