"""NSG change payloads: typed for the writes, printed in the plan's one JSON shape."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fakes import FakeLease
from fakes_nsg import FakeNsg

from byoc.domain.plan import Action, Change, PayloadMismatch
from byoc.services.nsg_payloads import ListedRule, WantedRule
from byoc.services.nsg_reconciler import ForeignNsgRuleError
from byoc.services.nsg_rule import NsgRule
from tests.unit.services.test_nsg_reconciler import (
    SBC_IP,
    TWILIO_UMATILLA,
    foreign,
    make_settings,
    reconciler,
    sync,
)

RULE = NsgRule(name="byoc-signaling-udp-1", priority=1000, direction="Inbound", access="Allow",
               protocol="Udp", source_address_prefixes=("54.172.60.0/30",),
               destination_address_prefixes=(SBC_IP,), destination_port_ranges=("5060",),
               description="byoc", etag='W/"7"')
# the JSON plans printed for an nsg-rule change before payloads were typed (after, then before)
WRITTEN = {"name": "byoc-signaling-udp-1", "priority": 1000, "direction": "Inbound",
           "access": "Allow", "protocol": "Udp", "source_address_prefixes": ["54.172.60.0/30"],
           "source_port_ranges": ["*"], "destination_address_prefixes": [SBC_IP],
           "destination_port_ranges": ["5060"], "description": "byoc"}
LISTED = {**WRITTEN, "etag": 'W/"7"'}


def test_an_nsg_rule_change_prints_the_json_plans_always_showed() -> None:
    with_asgs = replace(RULE, source_asgs=("/asg/a",))
    change = Change(target="nsg:sbc1", action=Action.UPDATE, kind="nsg-rule", key=RULE.name,
                    summary="s", before=ListedRule(RULE), after=WantedRule(with_asgs))

    shown = json.loads(json.dumps(change.to_json()))

    assert shown["before"] == LISTED
    assert shown["after"] == {**WRITTEN, "source_asgs": ["/asg/a"]}
    assert json.dumps(change.to_json()["before"]) == json.dumps(LISTED)  # key order too
    assert change.before_json() == LISTED  # what the audit records
    assert change.after_as(WantedRule).rule == with_asgs


def test_the_planner_builds_typed_payloads_and_the_write_is_conditional_on_the_printed_etag(
) -> None:
    nsg = FakeNsg()
    sync(nsg)
    settings = make_settings(nsg_exclude_cidrs=[TWILIO_UMATILLA])
    target = reconciler(nsg, settings)
    plan = target.plan(target.read_actual(), target.desired(None))
    updates = json.loads(json.dumps(plan.to_json()))["changes"]

    assert {c["action"] for c in updates} == {"update"}
    assert all(isinstance(c.before, ListedRule) and isinstance(c.after, WantedRule)
               for c in plan.changes)
    assert all(u["before"]["etag"] == nsg.rule(u["key"])["etag"] for u in updates)
    target.apply(plan, FakeLease())

    for update in updates:
        written = nsg.rule(update["key"])["properties"]
        assert written["sourceAddressPrefixes"] == update["after"]["source_address_prefixes"]
        assert TWILIO_UMATILLA not in written["sourceAddressPrefixes"]


def test_a_change_whose_payload_does_not_fit_its_kind_is_refused_before_it_is_written() -> None:
    nsg = FakeNsg()
    target = reconciler(nsg)
    plan = target.plan(target.read_actual(), target.desired(None))
    first = plan.changes[0]
    wrong = replace(first, after=first.after_json())

    with pytest.raises(PayloadMismatch, match=r"nsg-rule .*dict, not WantedRule"):
        target.apply(replace(plan, changes=(*plan.changes, wrong)), FakeLease())
    assert nsg.writes == []


def test_a_plan_touching_a_foreign_rule_anywhere_writes_nothing() -> None:
    nsg = FakeNsg()
    nsg.seed("corp-admin-https", foreign(300))
    target = reconciler(nsg)
    plan = target.plan(target.read_actual(), target.desired(None))
    corp = NsgRule.from_arm(nsg.rule("corp-admin-https"))
    touching = Change("nsg:sbc1", Action.REMOVE, "nsg-rule", corp.name, "", before=ListedRule(corp))

    with pytest.raises(ForeignNsgRuleError, match="not a byoc rule"):
        target.apply(replace(plan, changes=(*plan.changes, touching)), FakeLease())
    assert nsg.writes == [] and len(plan.changes) == 3
