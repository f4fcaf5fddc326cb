"""Genesys change payloads: typed for the applier, printed in the plan's one JSON shape per kind."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from fakes import FakeLease

from byoc.domain.plan import Action, Change, JsonValue, Payload, PayloadMismatch
from byoc.ports import GenesysIvr, GenesysOutboundRoute, GenesysOutboundRouteSpec, GenesysRef
from byoc.services.genesys_applier import GenesysApplier
from byoc.services.genesys_model import ForeignGenesysObjectError
from byoc.services.genesys_payloads import (
    IvrNumbers,
    IvrRead,
    NewPool,
    PoolRange,
    RouteRead,
    RouteSpec,
    ShardLike,
    ShardRef,
    UserNumbers,
    UserRead,
)
from byoc.services.genesys_reconciler import GenesysReconciler
from byoc.services.genesys_shards import shard_description, shard_of
from tests.unit.services.test_genesys_reconciler import (
    MARKER,
    FakeGenesys,
    desired,
    make_settings,
    numbers,
    org,
    records,
)

SITE = GenesysRef("site-1", "Azure-BYOC")
BASE = GenesysRef("tb-1", "Twilio-BYOC")
ROUTE = GenesysOutboundRoute("r-1", "byoc-outbound", 3, ("National",), (BASE, GenesysRef("tb-2", "")),
                             False, description="byoc")
SPEC = GenesysOutboundRouteSpec("byoc-outbound", ("National", "International"), BASE, "byoc")
POOL = {"id": "p-1", "start": "+14155550100", "end": "+14155550199",
        "name": "byoc +14155550100-+14155550199", "description": "byoc"}
SHARD = {"id": "s-1", "name": "Main IVR (byoc 2)", "description": "byoc"}
ROUTE_READ = {"id": "r-1", "version": 3, "classification_types": ["National"],
              "trunk_bases": ["Twilio-BYOC", "tb-2"], "enabled": False, "description": "byoc"}
ROUTE_SPEC = {"name": "byoc-outbound", "classification_types": ["National", "International"],
              "trunk_base": {"id": "tb-1", "name": "Twilio-BYOC"}, "enabled": True,
              "distribution": "SEQUENTIAL", "description": "byoc"}
WHERE = {"site": {"id": "site-1", "name": "Azure-BYOC"}}

# kind, payload, the JSON plans printed for it before payloads were typed
PRINTED: list[tuple[str, Payload, JsonValue]] = [
    ("did-pool", PoolRange("p-1", "+14155550100", "+14155550199",
                           "byoc +14155550100-+14155550199", "byoc"), POOL),
    ("did-pool", NewPool("+14155550100", "+14155550199", "byoc +14155550100-+14155550199",
                         "byoc"), {k: v for k, v in POOL.items() if k != "id"}),
    ("ivr-dnis", IvrRead("i-1", 4, 120), {"id": "i-1", "version": 4, "dnis": 120}),
    ("ivr-dnis", IvrNumbers("i-1", ("+14155550100",), ("+14155550101", "+14155550102"), 50),
     {"id": "i-1", "remove": ["+14155550100"], "add": ["+14155550101", "+14155550102"],
      "per_put": 50}),
    ("ivr-shard", ShardRef("s-1", "Main IVR (byoc 2)", "byoc"), SHARD),
    ("ivr-shard", ShardLike(ShardRef("s-1", "Main IVR (byoc 2)", "byoc"), "i-1"),
     {**SHARD, "like": "i-1"}),
    ("user-phone", UserRead("u-1", 2, ("+15105550000",)),
     {"id": "u-1", "version": 2, "phones": ["+15105550000"]}),
    ("user-phone", UserNumbers("u-1", (), "+14155557000"),
     {"id": "u-1", "remove": [], "work": "+14155557000"}),
    ("user-phone", UserNumbers("u-1", ("+14155557000",), None),
     {"id": "u-1", "remove": ["+14155557000"], "work": None}),
    ("outbound-route", RouteRead(ROUTE, SITE), {**ROUTE_READ, **WHERE}),
    ("outbound-route", RouteRead(ROUTE, None), ROUTE_READ),
    ("outbound-route", RouteSpec(SPEC, SITE), {**ROUTE_SPEC, **WHERE}),
    ("outbound-route", RouteSpec(SPEC, None), ROUTE_SPEC),
]


@pytest.mark.parametrize(("kind", "payload", "printed"), PRINTED,
                         ids=[f"{k}-{type(p).__name__}" for k, p, _ in PRINTED])
def test_each_kind_prints_the_json_plans_always_showed(
    kind: str, payload: Payload, printed: JsonValue
) -> None:
    change = Change(target="genesys", action=Action.UPDATE, kind=kind, key="k", summary="s",
                    before=payload, after=payload)

    assert json.loads(json.dumps(change.to_json()))["after"] == printed
    assert json.dumps(change.to_json()["before"]) == json.dumps(printed)  # key order too
    assert change.before_json() == printed  # what the audit records
    assert change.after_as(type(payload)) is payload


def test_the_planners_build_typed_payloads_and_the_writes_make_what_the_plan_printed() -> None:
    genesys = FakeGenesys()
    genesys.add_ivr("Main IVR")
    reconciler = GenesysReconciler(make_settings(), genesys)
    wanted = desired(reconciler, records(numbers(100, 119)))
    plan = reconciler.plan(reconciler.read_actual(), wanted)
    printed = json.loads(json.dumps(plan.to_json()))["changes"]

    assert {c.kind for c in plan.changes} == {"did-pool", "ivr-dnis", "outbound-route"}
    for change in plan.changes:
        for side in (change.before, change.after):
            assert side is None or isinstance(side, Payload), change.kind
    reconciler.apply(plan, FakeLease())

    [pool] = [c["after"] for c in printed if c["kind"] == "did-pool"]
    assert genesys.active_pools() == [(pool["start"], pool["end"], True)]
    [ivr] = [c["after"] for c in printed if c["kind"] == "ivr-dnis"]
    assert genesys.dnis("Main IVR") == sorted(ivr["add"]) == numbers(100, 119)
    [route] = [c["after"] for c in printed if c["kind"] == "outbound-route"]
    [written] = genesys.routes.values()
    assert (written.name, list(written.classification_types), written.site) == (
        route["name"], route["classification_types"], GenesysRef(**route["site"]))
    assert MARKER in written.description


def test_a_change_whose_payload_does_not_fit_its_kind_is_refused_before_any_write() -> None:
    genesys = org()
    reconciler = GenesysReconciler(make_settings(), genesys)
    wanted = desired(reconciler, records(numbers(100, 119)))
    plan = reconciler.plan(reconciler.read_actual(), wanted)
    [pool] = [c for c in plan.changes if c.kind == "did-pool"]
    wrong = replace(pool, after=pool.after_json())

    with pytest.raises(PayloadMismatch, match=r"did-pool .*dict, not PoolRange or NewPool"):
        reconciler.apply(replace(plan, changes=(*plan.changes, wrong)), FakeLease())
    assert genesys.writes == []


def test_a_plan_with_a_kind_genesys_does_not_know_is_refused_before_any_write() -> None:
    genesys = org()
    reconciler = GenesysReconciler(make_settings(), genesys)
    plan = reconciler.plan(reconciler.read_actual(),
                           desired(reconciler, records(numbers(100, 119))))
    unknown = replace(plan.changes[0], kind="sip-domain")

    with pytest.raises(ForeignGenesysObjectError, match=r"unknown change kind\(s\) sip-domain"):
        reconciler.apply(replace(plan, changes=(*plan.changes, unknown)), FakeLease())
    assert genesys.writes == [] and plan.changes


class ShardingGenesys(FakeGenesys):
    """The fake org with the IVR writes shards need (create from another IVR, copy its flows,
    delete)."""

    def create_ivr(self, like: GenesysIvr, *, name: str, description: str) -> GenesysIvr:
        created = GenesysIvr(next(self.ids), name, 1, (), description=description,
                             routing=like.routing)
        self.ivrs[created.id] = created
        self.writes.append(f"create_ivr {name} like {like.name}")
        return created

    def update_ivr_routing(self, ivr: GenesysIvr, like: GenesysIvr) -> GenesysIvr:
        self.ivrs[ivr.id] = replace(ivr, version=ivr.version + 1, routing=like.routing)
        self.writes.append(f"update_ivr_routing {ivr.name} like {like.name}")
        return self.ivrs[ivr.id]

    def delete_ivr(self, ivr: GenesysIvr) -> None:
        del self.ivrs[ivr.id]
        self.writes.append(f"delete_ivr {ivr.name}")


def test_shard_writes_create_align_and_delete_the_shard_their_payloads_name() -> None:
    genesys = ShardingGenesys()
    main_id = genesys.add_ivr("Main IVR")
    genesys.ivrs[main_id] = replace(genesys.ivrs[main_id], routing=("open", "closed", "", "s"))
    main = genesys.ivrs[main_id]
    applier = GenesysApplier(make_settings(), genesys)
    applier.remember(None, genesys.ivrs.values())
    new = ShardRef("placeholder-2", "Main IVR [byoc 2]", shard_description(main))

    applier.apply(Change("genesys", Action.ADD, "ivr-shard", new.name, "s",
                         after=ShardLike(new, main_id)), FakeLease())
    [shard] = [i for i in genesys.ivrs.values() if i.name == new.name]
    genesys.ivrs[shard.id] = replace(shard, routing=("other", "", "", ""))
    listed = ShardRef(shard.id, shard.name, shard.description)
    applier.remember(None, genesys.ivrs.values())
    applier.apply(Change("genesys", Action.UPDATE, "ivr-shard", new.name, "s", before=listed,
                         after=ShardLike(listed, main_id)), FakeLease())
    aligned = genesys.ivrs[shard.id].routing
    applier.apply(Change("genesys", Action.REMOVE, "ivr-shard", new.name, "s", before=listed),
                  FakeLease())

    assert shard_of(shard) == main_id and aligned == main.routing
    assert genesys.writes == ["create_ivr Main IVR [byoc 2] like Main IVR",
                              "update_ivr_routing Main IVR [byoc 2] like Main IVR",
                              "delete_ivr Main IVR [byoc 2]"]
    foreign = ShardRef(main_id, "Main IVR", "")
    with pytest.raises(ForeignGenesysObjectError, match="not a shard of byoc's"):
        applier.apply(Change("genesys", Action.REMOVE, "ivr-shard", "Main IVR", "s",
                             before=foreign), FakeLease())
    assert main_id in genesys.ivrs
