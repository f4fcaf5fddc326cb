"""Twilio change payloads: typed for the writes, printed in the plan's one JSON shape per kind."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from test_twilio_fakes import FakeTwilio, pn_sid

from byoc.domain.plan import Action, Change, JsonValue, Payload, PayloadMismatch
from byoc.ports import TwilioNumber, TwilioOriginationUrl
from byoc.services.twilio_payloads import (
    AccountNumbers,
    AclAddress,
    AclLink,
    CredentialListLink,
    CredentialUser,
    GoneNumbers,
    ListedAclAddress,
    NewAcl,
    NewCredentialList,
    OriginationUrl,
    TrunkSecurity,
)
from tests.unit.services.test_twilio_reconciler import SBC1, SBC2, Estate, onboarding, url

N1, N2 = "+14155550100", "+14155550101"
URL = TwilioOriginationUrl(friendly_name="byoc-sbc1", sip_url="sip:sbc1.example.net:5061;"
                           "transport=tls", priority=10, weight=5, enabled=True, sid="OU1")

# kind, payload, the JSON plans printed for it before payloads were typed
PRINTED: list[tuple[str, Payload, JsonValue]] = [
    ("trunk", TrunkSecurity(True), {"secure": True}),
    ("origination-url", OriginationUrl(URL),
     {"sid": "OU1", "friendly_name": "byoc-sbc1", "sip_url": URL.sip_url, "priority": 10,
      "weight": 5, "enabled": True}),
    ("origination-url", OriginationUrl(replace(URL, sid=None)),
     {"sid": None, "friendly_name": "byoc-sbc1", "sip_url": URL.sip_url, "priority": 10,
      "weight": 5, "enabled": True}),
    ("trunk-numbers", AccountNumbers((TwilioNumber("PN2", N2), TwilioNumber("PN1", N1))),
     {N2: "PN2", N1: "PN1"}),
    ("numbers-gone", GoneNumbers(((N1, "PN1"), (N2, None))), {N1: "PN1", N2: None}),
    ("termination-acl", NewAcl("byoc-sbcs", (("20.30.40.50", "sbc1"), ("10.0.0.1", "sbc2"))),
     {"friendly_name": "byoc-sbcs", "addresses": {"20.30.40.50": "sbc1", "10.0.0.1": "sbc2"}}),
    ("termination-acl-address", AclAddress("AL1", "20.30.40.50", "sbc1"),
     {"acl_sid": "AL1", "ip_address": "20.30.40.50", "friendly_name": "sbc1"}),
    ("termination-acl-address", ListedAclAddress("AL1", "20.30.40.50", "IP1"),
     {"acl_sid": "AL1", "ip_address": "20.30.40.50", "sid": "IP1"}),
    ("termination-acl-link", AclLink("AL1"), {"acl_sid": "AL1"}),
    ("termination-credential-list", NewCredentialList("byoc-creds", "byoc"),
     {"friendly_name": "byoc-creds", "username": "byoc"}),
    ("termination-credential", CredentialUser("CL1", "byoc"),
     {"list_sid": "CL1", "username": "byoc"}),
    ("termination-credential-list-link", CredentialListLink("CL1"), {"list_sid": "CL1"}),
]


@pytest.mark.parametrize(("kind", "payload", "printed"), PRINTED,
                         ids=[f"{k}-{type(p).__name__}" for k, p, _ in PRINTED])
def test_each_kind_prints_the_json_plans_always_showed(
    kind: str, payload: Payload, printed: JsonValue
) -> None:
    change = Change(target="twilio", action=Action.UPDATE, kind=kind, key="k", summary="s",
                    before=payload, after=payload)

    shown = json.loads(json.dumps(change.to_json()))

    assert shown["before"] == shown["after"] == printed
    assert json.dumps(change.to_json()["after"]) == json.dumps(printed)  # key order too
    assert change.before_json() == change.after_json() == printed  # what the audit records
    assert change.after_as(type(payload)) is payload


def every_kind_estate() -> tuple[FakeTwilio, Estate]:
    """A trunk needing secure on, a URL update, an association and its termination ACL."""
    twilio = FakeTwilio(secure=False, urls=[url(SBC1, weight=99), url(SBC2)], off_trunk=[N1])
    with_ip = SBC1.model_copy(update={"public_ips": ["20.30.40.50"]})
    return twilio, Estate(twilio, onboarding(N1), sbcs=[with_ip, SBC2])


def test_the_planner_builds_typed_payloads_and_the_writes_make_what_the_plan_printed() -> None:
    twilio, estate = every_kind_estate()

    plan = estate.plan()
    printed = json.loads(json.dumps(plan.to_json()))["changes"]

    assert {c.kind for c in plan.changes} == {"trunk", "origination-url", "trunk-numbers",
                                              "termination-acl"}
    for change in plan.changes:
        for side in (change.before, change.after):
            assert side is None or isinstance(side, Payload), change.kind
    associate = next(c for c in printed if c["kind"] == "trunk-numbers")
    assert associate["after"] == {N1: pn_sid(N1)}
    acl = next(c for c in printed if c["kind"] == "termination-acl")
    assert acl["after"] == {"friendly_name": "byoc-sbcs", "addresses": {"20.30.40.50": "sbc1"}}

    assert estate.sync().converged
    assert twilio.trunk.secure and N1 in twilio.on_trunk()
    assert {u.weight for u in twilio.urls.values()} == {SBC1.twilio_weight, SBC2.twilio_weight}
    [created] = twilio.acls.values()
    assert created.friendly_name == "byoc-sbcs" and set(created.addresses) == {"20.30.40.50"}


def test_a_change_whose_payload_does_not_fit_its_kind_is_refused_before_any_write() -> None:
    twilio = FakeTwilio(off_trunk=[N1], urls=[url(SBC1), url(SBC2)])
    estate = Estate(twilio, onboarding(N1))
    [associate] = estate.plan().changes
    wrong = replace(associate, after={N1: pn_sid(N1)})
    reconciler = estate.registry.build("twilio")

    with pytest.raises(PayloadMismatch, match=r"trunk-numbers .*dict, not AccountNumbers"):
        reconciler.apply(replace(estate.plan(), changes=(associate, wrong)), estate.locks.lease)
    assert twilio.writes == []
