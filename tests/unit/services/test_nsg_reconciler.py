"""The NSG reconciler against an in-memory NSG: owned rules converge on the carrier ranges,
foreign rules are left alone and reported when in the way, and nothing wider is ever opened."""

from __future__ import annotations

import ipaddress
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeInventory, FakeLocks, FakeOperations, FakeQueue, FakeState
from fakes_nsg import (
    FakeLease,
    FakeNsg,
    LeaseLost,
)

from byoc.adapters.nsg import InvalidNsgResourceId, NsgRuleConflict
from byoc.bootstrap import Services
from byoc.bootstrap.targets import register_nsg_targets
from byoc.domain.carriers import CarrierEntry, UnsafeRangeError, packaged_carrier_data
from byoc.domain.plan import Action, Change, GuardLimits, Plan
from byoc.domain.policy_file import load_policy
from byoc.services.nsg_payloads import ListedRule, WantedRule
from byoc.services.nsg_ranges import effective_ranges_report, ranges_warnings
from byoc.services.nsg_reconciler import ForeignNsgRuleError, NsgReconciler
from byoc.services.nsg_rule import NsgRule
from byoc.services.reconcile import ReconcilerRegistry, ReconcileService
from byoc.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[3]
NSG_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-byoc"
    "/providers/Microsoft.Network/networkSecurityGroups/nsg-sbc1"
)
SBC_IP = "10.0.1.4"
GENESYS_SIGNALING = "203.0.113.0/28"
TWILIO_ASHBURN = "54.172.60.0/30"
TWILIO_UMATILLA = "54.244.51.0/30"
TWILIO_MEDIA = "168.86.128.0/18"


def make_settings(sbc: dict[str, Any] | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "twilio_account_sid": "AC" + "0" * 32,
        "twilio_trunk_sid": "TK" + "0" * 32,
        "twilio_auth_token": "test-token",
        "genesys_client_id": "client",
        "genesys_client_secret": "secret",
        "sbc_password": "password",
        "storage_connection_string": "UseDevelopmentStorage=true",
        "policy_path": str(ROOT / "policy.example.yaml"),
        "sbcs": [
            {
                "name": "sbc1",
                "management_url": "https://10.0.1.4",
                "fqdn": "sbc1.example.net",
                "nsg_resource_id": NSG_ID,
                "nsg_destination": SBC_IP,
                **(sbc or {}),
            }
        ],
        "genesys_signaling_cidrs": {"us-east-1": [GENESYS_SIGNALING]},
    }
    values.update(overrides)
    return load_settings(**values)


def reconciler(nsg: FakeNsg, settings: Settings | None = None) -> NsgReconciler:
    settings = settings or make_settings()
    return NsgReconciler(settings, settings.sbcs[0], nsg)


def sync(nsg: FakeNsg, settings: Settings | None = None, lease: FakeLease | None = None) -> Plan:
    """One sync with the verbs `ReconcileService` uses; returns the plan it applied."""
    target = reconciler(nsg, settings)
    desired = target.desired(None)
    plan = target.plan(target.read_actual(), desired)
    target.apply(plan, lease or FakeLease())
    assert target.verify(desired) == []
    return plan


def foreign(
    priority: int,
    *,
    access: str = "Allow",
    source: str = "198.51.100.0/24",
    ports: str = "443",
    protocol: str = "Tcp",
    direction: str = "Inbound",
) -> dict[str, Any]:
    return {
        "protocol": protocol,
        "sourceAddressPrefix": source,
        "sourcePortRange": "*",
        "destinationAddressPrefix": "*",
        "destinationPortRange": ports,
        "access": access,
        "priority": priority,
        "direction": direction,
    }


def allowed(nsg: FakeNsg) -> set[tuple[str, str, str]]:
    """(protocol, port range, source) triples the owned rules allow."""
    out = set()
    for rule in nsg.owned().values():
        props = rule["properties"]
        for port in props["destinationPortRanges"]:
            for source in props["sourceAddressPrefixes"]:
                out.add((props["protocol"], port, source))
    return out


# --- converging --------------------------------------------------------------------------------


def test_first_sync_opens_each_carrier_range_to_the_sbc_ports_and_nothing_else() -> None:
    nsg = FakeNsg()

    plan = sync(nsg)

    assert plan.counts() == {"add": 3, "remove": 0, "update": 0}
    opened = allowed(nsg)
    for source in (TWILIO_ASHBURN, TWILIO_UMATILLA, GENESYS_SIGNALING):
        assert ("Udp", "5060", source) in opened
        assert ("Tcp", "5060", source) in opened
        assert ("Tcp", "5061", source) in opened
    assert ("Udp", "6000-49999", TWILIO_MEDIA) in opened
    assert all(p in ("5060", "5061", "6000-49999") for _, p, _ in opened)
    for rule in nsg.owned().values():
        props = rule["properties"]
        assert (props["access"], props["direction"]) == ("Allow", "Inbound")
        assert props["destinationAddressPrefix"] == SBC_IP
        assert 1000 <= props["priority"] <= 1199
        for source in props["sourceAddressPrefixes"]:
            assert ipaddress.ip_network(source).prefixlen >= 8


def test_sync_with_nothing_to_change_reads_the_nsg_once_and_writes_nothing() -> None:
    nsg = FakeNsg()
    sync(nsg)
    nsg.reads, nsg.writes = 0, []
    settings = make_settings()
    registry = ReconcilerRegistry()
    registry.register("nsg:sbc1", lambda: reconciler(nsg, settings))
    service = ReconcileService(
        registry=registry,
        inventory=FakeInventory(),
        operations=FakeOperations(),
        state=FakeState(),
        locks=FakeLocks(),
        queue=FakeQueue(),
        policy=lambda: load_policy((ROOT / "policy.example.yaml").read_text(), "policy"),
        limits=GuardLimits(),
    )

    outcome = service.sync("nsg:sbc1", correlation_id="c-1")

    assert outcome.converged and not outcome.applied and outcome.plan.is_empty
    assert (nsg.reads, nsg.writes) == (1, [])


def test_a_range_added_upstream_widens_the_rule_in_place_without_moving_it() -> None:
    nsg = FakeNsg()
    sync(nsg)
    before = {name: r["properties"]["priority"] for name, r in nsg.owned().items()}

    plan = sync(nsg, make_settings(sbc={"twilio_edges": ["ashburn", "umatilla", "dublin"]}))

    assert plan.counts() == {"add": 0, "remove": 0, "update": 2}
    assert ("Udp", "5060", "54.171.127.192/30") in allowed(nsg)
    assert {name: r["properties"]["priority"] for name, r in nsg.owned().items()} == before


def test_an_excluded_range_is_closed() -> None:
    nsg = FakeNsg()
    sync(nsg)

    plan = sync(nsg, make_settings(nsg_exclude_cidrs=[TWILIO_UMATILLA]))

    assert {c.action for c in plan.changes} == {Action.UPDATE}
    assert not any(source == TWILIO_UMATILLA for _, _, source in allowed(nsg))
    update = plan.changes[0]
    assert f"-{TWILIO_UMATILLA}" in update.summary
    assert TWILIO_UMATILLA in update.before_json()["source_address_prefixes"]
    assert update.before_json()["etag"]


def test_rule_for_a_transport_switched_off_is_removed_after_the_new_rules_are_written() -> None:
    nsg = FakeNsg()
    sync(nsg)

    plan = sync(
        nsg,
        make_settings(
            sbc={"sip_ports": {"udp": 0, "tcp": 5060, "tls": 5061}},
            nsg_extra_cidrs=["192.0.2.0/29"],
        ),
    )

    actions = [c.action for c in plan.changes]
    assert Action.REMOVE in actions
    assert actions.index(Action.REMOVE) > max(i for i, a in enumerate(actions) if a is not Action.REMOVE)
    assert "byoc-signaling-udp-1" not in nsg.owned()
    assert [w for w in nsg.writes if w[0] == "delete"] == [("delete", "byoc-signaling-udp-1")]


def test_widened_rules_are_written_before_narrowed_ones() -> None:
    nsg = FakeNsg()
    sync(nsg)

    plan = sync(
        nsg,
        make_settings(
            sbc={"rtp_ports": {"low": 6000, "high": 50999}},  # media widens
            nsg_exclude_cidrs=[TWILIO_UMATILLA],  # signaling narrows
        ),
    )

    assert plan.changes[0].key == "byoc-media-udp-1"
    assert all(f"-{TWILIO_UMATILLA}" in c.summary for c in plan.changes[1:])
    assert len(plan.changes) == 3


def test_when_the_band_is_full_a_new_rule_waits_for_the_priority_a_removal_frees() -> None:
    data = packaged_carrier_data()
    tls_only = CarrierEntry(
        carrier="twilio",
        purpose="signaling",
        applies_to=("ashburn",),
        cidrs=("192.0.2.0/29",),
        carrier_ports={"tls": "5061"},
        source="https://example.test/tls-only",
        checked=date(2026, 1, 1),
    )
    with_tls_only = data.model_copy(update={"entries": (*data.entries, tls_only)})
    band = {"nsg_priority_low": 1000, "nsg_priority_high": 1002}
    nsg = FakeNsg()
    sync(nsg, make_settings(**band))
    settings = make_settings(sbc={"sip_ports": {"udp": 0, "tcp": 5060, "tls": 5061}}, **band)
    target = NsgReconciler(settings, settings.sbcs[0], nsg, carrier_data=with_tls_only)
    desired = target.desired(None)

    plan = target.plan(target.read_actual(), desired)
    target.apply(plan, FakeLease())

    assert [(c.action.value, c.key) for c in plan.changes][-2:] == [
        ("remove", "byoc-signaling-udp-1"),
        ("add", "byoc-signaling-tcp-2"),
    ]
    assert any("is full" in note for note in plan.notes)
    assert target.verify(desired) == []


# --- foreign rules -------------------------------------------------------------------------------


def test_foreign_rules_are_left_alone_and_their_priorities_avoided() -> None:
    nsg = FakeNsg()
    nsg.seed("corp-admin-https", foreign(1000))
    nsg.seed("corp-outbound", foreign(1001, direction="Outbound"))

    sync(nsg)

    assert nsg.rule("corp-admin-https")["properties"]["priority"] == 1000
    assert all(name.startswith("byoc-") for _, name in nsg.writes)
    priorities = {r["properties"]["priority"] for r in nsg.owned().values()}
    assert priorities.isdisjoint({1000, 1001})


def test_a_foreign_deny_evaluated_first_is_reported_as_a_conflict() -> None:
    nsg = FakeNsg()
    nsg.seed("corp-deny-sip", foreign(500, access="Deny", source="Internet", ports="5060-5061", protocol="*"))

    plan = sync(nsg)

    assert plan.conflicts
    assert all("corp-deny-sip" in c and "blocks carrier traffic" in c for c in plan.conflicts)
    assert nsg.rule("corp-deny-sip")["properties"]["access"] == "Deny"


def test_a_foreign_allow_wider_than_the_carrier_ranges_is_reported() -> None:
    nsg = FakeNsg()
    nsg.seed("vendor-sip", foreign(400, source="54.172.0.0/16", ports="5060", protocol="Udp"))

    plan = sync(nsg)

    assert len(plan.conflicts) == 1
    assert "vendor-sip" in plan.conflicts[0] and "more than the carrier ranges" in plan.conflicts[0]


@pytest.mark.parametrize(
    "rule",
    [
        foreign(400, source=TWILIO_ASHBURN, ports="5060", protocol="Udp"),  # inside a range
        foreign(400, source="Internet", ports="443"),  # other ports
        foreign(1500, access="Deny", source="Internet", ports="*", protocol="*"),  # after ours
        foreign(400, access="Deny", source="Internet", ports="*", direction="Outbound"),
        foreign(400, access="Deny", source="10.0.0.0/8", ports="5060", protocol="Udp"),
    ],
    ids=["allow-within", "other-ports", "evaluated-after", "outbound", "other-sources"],
)
def test_foreign_rules_that_do_not_get_in_the_way_are_not_conflicts(rule: dict[str, Any]) -> None:
    nsg = FakeNsg()
    nsg.seed("corp-rule", rule)

    plan = sync(nsg)

    assert plan.conflicts == ()


# --- repairs and concurrency ---------------------------------------------------------------------


def test_an_owned_rule_widened_by_hand_is_repaired() -> None:
    nsg = FakeNsg()
    sync(nsg)
    nsg.edit(
        "byoc-signaling-udp-1",
        sourceAddressPrefixes=[],
        sourceAddressPrefix="*",
        destinationPortRanges=["1-65535"],
    )

    plan = sync(nsg)

    assert [(c.action, c.key) for c in plan.changes] == [(Action.UPDATE, "byoc-signaling-udp-1")]
    assert "-*" in plan.changes[0].summary
    props = nsg.rule("byoc-signaling-udp-1")["properties"]
    assert "*" not in props["sourceAddressPrefixes"] and "sourceAddressPrefix" not in props
    assert props["destinationPortRanges"] == ["5060"]


def test_an_owned_rule_deleted_by_hand_is_recreated_and_a_stray_one_removed() -> None:
    nsg = FakeNsg()
    sync(nsg)
    nsg.remove("byoc-media-udp-1")
    nsg.seed("byoc-manual", foreign(1190, source="192.0.2.0/24", ports="5060", protocol="Udp"))

    plan = sync(nsg)

    assert sorted((c.action.value, c.key) for c in plan.changes) == [
        ("add", "byoc-media-udp-1"),
        ("remove", "byoc-manual"),
    ]
    assert "byoc-manual" not in nsg.owned()


def test_a_rule_changed_between_read_and_write_is_not_overwritten() -> None:
    nsg = FakeNsg()
    sync(nsg)
    target = reconciler(nsg, make_settings(nsg_exclude_cidrs=[TWILIO_UMATILLA]))
    desired = target.desired(None)
    plan = target.plan(target.read_actual(), desired)
    nsg.before_write = lambda op, name: nsg.edit(name, description="edited in the portal")

    with pytest.raises(NsgRuleConflict):
        target.apply(plan, FakeLease())

    assert nsg.rule(plan.changes[0].key)["properties"]["description"] == "edited in the portal"
    assert target.verify(desired)  # not converged: the next sync re-reads and repairs
    nsg.before_write = None
    sync(nsg, make_settings(nsg_exclude_cidrs=[TWILIO_UMATILLA]))
    assert not any(source == TWILIO_UMATILLA for _, _, source in allowed(nsg))


def test_the_lease_is_checked_before_every_write_and_a_lost_lease_stops_writing() -> None:
    nsg = FakeNsg()
    lease = FakeLease()
    sync(nsg, lease=lease)
    assert lease.checks == len(nsg.writes) == 3

    fresh = FakeNsg()
    target = reconciler(fresh)
    plan = target.plan(target.read_actual(), target.desired(None))
    with pytest.raises(LeaseLost):
        target.apply(plan, FakeLease(lose_after=1))
    assert len(fresh.writes) == 1


# --- refusals ------------------------------------------------------------------------------------

DANGEROUS = [
    "*",
    "0.0.0.0/0",
    "Internet",
    "Any",
    "AzureCloud",
    "VirtualNetwork",
    "::/0",
    "10.0.0.0/7",
    "54.172.60.1/30",
    "224.0.0.0/8",
    "127.0.0.0/8",
    "not-a-cidr",
]


@pytest.mark.parametrize("source", DANGEROUS)
def test_a_dangerous_extra_source_is_refused_before_anything_is_read(source: str) -> None:
    nsg = FakeNsg()

    with pytest.raises(UnsafeRangeError):
        reconciler(nsg, make_settings(nsg_extra_cidrs=[source])).desired(None)

    assert (nsg.reads, nsg.writes) == (0, [])


@pytest.mark.parametrize("source", DANGEROUS)
def test_a_dangerous_genesys_signaling_source_is_refused(source: str) -> None:
    settings = make_settings(genesys_signaling_cidrs={"us-east-1": [source]})

    with pytest.raises(UnsafeRangeError):
        reconciler(FakeNsg(), settings).desired(None)


def test_an_rtp_range_wider_than_the_allowed_span_is_refused() -> None:
    settings = make_settings(sbc={"rtp_ports": {"low": 1024, "high": 65535}})

    with pytest.raises(UnsafeRangeError, match="RTP port range"):
        reconciler(FakeNsg(), settings).desired(None)


def test_apply_refuses_a_plan_that_opens_a_dangerous_source_or_touches_a_foreign_rule() -> None:
    nsg = FakeNsg()
    nsg.seed("corp-admin-https", foreign(300))
    target = reconciler(nsg)
    target.read_actual()
    wide = NsgRule(
        name="byoc-signaling-udp-1",
        priority=1000,
        direction="Inbound",
        access="Allow",
        protocol="Udp",
        source_address_prefixes=("0.0.0.0/0",),
        destination_address_prefixes=(SBC_IP,),
        destination_port_ranges=("5060",),
    )
    opening = Plan("nsg:sbc1", (Change("nsg:sbc1", Action.ADD, "nsg-rule", wide.name, "",
                                       after=WantedRule(wide)),))
    corp = NsgRule.from_arm({"name": "corp-admin-https", "properties": foreign(300)})
    touching = Plan(
        "nsg:sbc1",
        (Change("nsg:sbc1", Action.REMOVE, "nsg-rule", corp.name, "", before=ListedRule(corp)),),
    )

    with pytest.raises(UnsafeRangeError):
        target.apply(opening, FakeLease())
    with pytest.raises(ForeignNsgRuleError):
        target.apply(touching, FakeLease())

    assert nsg.writes == []


# --- report and registration ---------------------------------------------------------------------


def test_ranges_report_names_each_range_its_carrier_ports_and_source() -> None:
    settings = make_settings(
        sbc={"sip_ports": {"udp": 0, "tcp": 5060, "tls": 5061}}, nsg_extra_cidrs=["192.0.2.0/29"]
    )

    rows = effective_ranges_report(settings)

    twilio = next(r for r in rows if r["cidr"] == TWILIO_ASHBURN and r["protocol"] == "tls")
    assert twilio["carrier"] == "twilio" and twilio["purpose"] == "signaling"
    assert twilio["ports"] == "5061" and twilio["source"].startswith("https://")
    assert twilio["checked"]
    extra = next(r for r in rows if r["cidr"] == "192.0.2.0/29" and r["purpose"] == "media")
    assert extra["checked"] is None and extra["ports"] == "6000-49999"
    assert not any(r["protocol"] == "udp" and r["purpose"] == "signaling" for r in rows)
    assert {"cidr", "carrier", "purpose", "protocol", "ports", "source", "checked"} <= set(rows[0])


def test_signaling_cidrs_of_a_region_only_another_sbc_uses_are_left_out() -> None:
    second = {
        "name": "sbc2",
        "management_url": "https://10.0.2.4",
        "fqdn": "sbc2.example.net",
        "genesys_regions": ["eu-west-1"],
    }
    settings = make_settings(
        genesys_signaling_cidrs={"us-east-1": [GENESYS_SIGNALING], "eu-west-1": ["192.0.2.0/28"]},
    )
    settings = make_settings(
        sbcs=[settings.sbcs[0].model_dump(), second], genesys_signaling_cidrs=settings.genesys_signaling_cidrs
    )

    rows = effective_ranges_report(settings)

    assert {r["cidr"] for r in rows if r["sbc"] == "sbc1"} >= {GENESYS_SIGNALING}
    assert "192.0.2.0/28" not in {r["cidr"] for r in rows if r["sbc"] == "sbc1"}
    assert "192.0.2.0/28" in {r["cidr"] for r in rows if r["sbc"] == "sbc2"}


def test_every_sbc_with_an_nsg_gets_an_nsg_target() -> None:
    base = make_settings()
    unmanaged = {"name": "sbc2", "management_url": "https://10.0.2.4", "fqdn": "sbc2.example.net"}
    settings = make_settings(sbcs=[base.sbcs[0].model_dump(), unmanaged])
    services = Services(settings)
    registry = ReconcilerRegistry()

    register_nsg_targets(services, registry)

    assert registry.targets() == ["nsg:sbc1"]
    built = registry.build("nsg:sbc1")
    assert built.target == "nsg:sbc1" and built.tracks_numbers is False


def test_a_malformed_nsg_id_fails_only_that_targets_sync_with_a_clear_error() -> None:
    settings = make_settings(sbc={"nsg_resource_id": "nsg-sbc1"})
    services = Services(settings)
    registry = ReconcilerRegistry()
    register_nsg_targets(services, registry)
    built = registry.build("nsg:sbc1")  # listing and building targets still works

    with pytest.raises(InvalidNsgResourceId, match="networkSecurityGroups/<name>"):
        built.read_actual()


# --- defaults ----------------------------------------------------------------------------------


def test_by_default_every_twilio_signaling_edge_in_the_data_file_is_admitted() -> None:
    from byoc.domain.carriers import packaged_carrier_data

    data = packaged_carrier_data()
    edges = [e for e in data.entries if e.carrier == "twilio" and e.purpose == "signaling"]
    nsg = FakeNsg()
    settings = make_settings()

    sync(nsg, settings)

    assert settings.sbcs[0].twilio_edges == list(data.scopes("twilio"))
    assert len(edges) == 8
    opened = allowed(nsg)
    for entry in edges:
        for cidr in entry.cidrs:
            assert {("Udp", "5060", cidr), ("Tcp", "5060", cidr), ("Tcp", "5061", cidr)} <= opened
    assert ranges_warnings(settings) == []


def test_narrowed_twilio_edges_and_a_region_without_genesys_signaling_are_warned() -> None:
    settings = make_settings({"twilio_edges": ["ashburn", "umatilla"]}, genesys_signaling_cidrs={})

    warnings = ranges_warnings(settings)

    assert len(warnings) == 2
    assert "admits 2 of Twilio's 8 signaling edges" in warnings[0]
    assert "dublin" in warnings[0] and "fails calls over between edges" in warnings[0]
    assert "Genesys region us-east-1" in warnings[1]
    assert "BYOC Cloud public SIP IP addresses" in warnings[1]
    assert "https://help.mypurecloud.com/?p=152869" in warnings[1]
