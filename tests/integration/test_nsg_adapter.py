"""The NSG adapter and reconciler through the real `azure-mgmt-network` SDK against the ARM
emulator over HTTPS: converging, repairing, concurrency, busy NSGs and refusals."""

from __future__ import annotations

import asyncio
import copy
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from fakes import FakeInventory, FakeLocks, FakeOperations, FakeQueue, FakeState
from fakes_nsg import FakeLease

from byoc.adapters.identity import StaticTokenCredential
from byoc.adapters.nsg import (
    BACKOFF,
    AzureNsg,
    InvalidNsgResourceId,
    NsgAccessDenied,
    NsgBusy,
    NsgConfigurationError,
    NsgNotFound,
    NsgRequestRefused,
    NsgRuleConflict,
)
from byoc.bootstrap import Services
from byoc.bootstrap.targets import register_nsg_targets
from byoc.domain.carriers import UnsafeRangeError
from byoc.domain.plan import GuardLimits
from byoc.domain.policy_file import load_policy
from byoc.services.nsg_ranges import exposure_report
from byoc.services.nsg_reconciler import NsgReconciler
from byoc.services.reconcile import ReconcilerRegistry, ReconcileService, SyncOutcome
from byoc.settings import Settings, load_settings
from sandbox.arm import ArmEmulator
from sandbox.core import Fault, ServedApp, build_app
from sandbox.pki import SandboxPki

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SEED = yaml.safe_load((ROOT / "sandbox/seeds/arm.yaml").read_text())
NSG_ID = SEED["network_security_groups"][0]["id"]
TOKEN = "sandbox-azure-token"
SBC_IP = "10.0.1.4"
TWILIO_UMATILLA = "54.244.51.0/30"
EXTRA = "192.0.2.0/29"
OWNED = ("byoc-media-udp-1", "byoc-signaling-tcp-1", "byoc-signaling-udp-1")
FOREIGN = ("corp-admin-https", "corp-deny-ssh")


@dataclass
class Arm:
    emulator: ArmEmulator
    url: str
    ca_bundle: str

    def rules(self) -> dict[str, dict[str, Any]]:
        state = self.emulator.state()["network_security_groups"][NSG_ID]
        return {r["name"]: r for r in state["security_rules"]}

    def edit(self, rule: str, **body: Any) -> None:
        """A change made by hand in the portal."""
        response = httpx.post(
            f"{self.url}/_sandbox/arm/edit-rule",
            json={"nsg": NSG_ID, "rule": rule, **body},
            verify=ssl.create_default_context(cafile=self.ca_bundle),
        )
        assert response.status_code == 200, response.text

    def calls(self) -> dict[str, int]:
        entries = self.emulator.log.entries()
        return {
            "requests": len(entries),
            "reads": sum(1 for e in entries if e.method == "GET"),
            "writes": sum(1 for e in entries if e.method in ("PUT", "DELETE")),
        }


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm]:
    workdir = tmp_path_factory.mktemp("arm")
    pki = SandboxPki()
    emulator = ArmEmulator(copy.deepcopy(SEED))
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(workdir, "https")).start()
    try:
        yield Arm(emulator, server.url, str(pki.write_ca_bundle(workdir / "ca.pem")))
    finally:
        server.stop()


@pytest.fixture
def arm(served: Arm) -> Arm:
    with served.emulator.lock:
        served.emulator.reset()
    served.emulator.faults.clear()
    served.emulator.log.clear()
    return served


def make_settings(arm: Arm, **overrides: Any) -> Settings:
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
            }
        ],
        "genesys_signaling_cidrs": {"us-east-1": ["203.0.113.0/28"]},
        "azure_credential": "static-token",
        "azure_static_token": TOKEN,
        "arm_endpoint": arm.url,
        "ca_bundle": arm.ca_bundle,
    }
    values.update(overrides)
    return load_settings(**values)


def service_for(settings: Settings) -> ReconcileService:
    """The real sync flow, with byoc's storage ports in memory and the NSG target wired as in
    production (`register_nsg_targets` over `Services`)."""
    registry = ReconcilerRegistry()
    register_nsg_targets(Services(settings), registry)
    return ReconcileService(
        registry=registry,
        inventory=FakeInventory(),
        operations=FakeOperations(),
        state=FakeState(),
        locks=FakeLocks(),
        queue=FakeQueue(),
        policy=lambda: load_policy((ROOT / "policy.example.yaml").read_text(), "policy"),
        limits=GuardLimits(),
    )


def sync(arm: Arm, **overrides: Any) -> SyncOutcome:
    return service_for(make_settings(arm, **overrides)).sync("nsg:sbc1", correlation_id="test")


def figure(name: str, arm: Arm) -> dict[str, int]:
    calls = arm.calls()
    print(f"{name}: {json.dumps(calls)}")
    return calls


# --- converging ----------------------------------------------------------------------------------


def test_first_sync_from_an_empty_band_creates_byoc_rules_and_leaves_foreign_rules(arm: Arm) -> None:
    foreign_before = {name: arm.rules()[name] for name in FOREIGN}

    outcome = sync(arm)

    assert outcome.converged and outcome.applied
    assert outcome.plan.counts() == {"add": 3, "update": 0, "remove": 0}
    rules = arm.rules()
    assert set(rules) == {*OWNED, *FOREIGN}
    assert {name: rules[name] for name in FOREIGN} == foreign_before
    udp = rules["byoc-signaling-udp-1"]["properties"]
    assert udp["destinationPortRanges"] == ["5060"] and udp["destinationAddressPrefix"] == SBC_IP
    assert "54.172.60.0/30" in udp["sourceAddressPrefixes"]
    calls = figure("NSG first sync (3 rules)", arm)
    assert calls["writes"] == 3


def test_sync_with_nothing_to_change_costs_one_read_and_no_writes(arm: Arm) -> None:
    sync(arm)
    arm.emulator.log.clear()

    outcome = sync(arm)

    assert outcome.converged and outcome.plan.is_empty
    calls = figure("NSG no-op sync", arm)
    assert calls == {"requests": 1, "reads": 1, "writes": 0}


def test_a_range_added_and_one_removed_upstream_are_applied_in_place(arm: Arm) -> None:
    sync(arm)
    priorities = {n: arm.rules()[n]["properties"]["priority"] for n in OWNED}
    arm.emulator.log.clear()

    outcome = sync(arm, nsg_extra_cidrs=[EXTRA], nsg_exclude_cidrs=[TWILIO_UMATILLA])

    assert outcome.converged
    assert outcome.plan.counts() == {"add": 0, "update": 3, "remove": 0}
    rules = arm.rules()
    for name in OWNED:
        sources = rules[name]["properties"]["sourceAddressPrefixes"]
        assert EXTRA in sources and TWILIO_UMATILLA not in sources
        assert rules[name]["properties"]["priority"] == priorities[name]
    figure("NSG sync after an upstream range change (3 updates)", arm)


def test_a_foreign_rule_at_a_wanted_priority_is_kept_and_byoc_moves_around_it(arm: Arm) -> None:
    arm.edit(
        "corp-sip-monitor",
        properties={
            "protocol": "Udp",
            "sourceAddressPrefix": "198.51.100.7",
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": "5060",
            "access": "Allow",
            "priority": 1000,
            "direction": "Inbound",
        },
    )

    outcome = sync(arm)

    assert outcome.converged
    rules = arm.rules()
    assert rules["corp-sip-monitor"]["properties"]["priority"] == 1000
    assert sorted(rules[n]["properties"]["priority"] for n in OWNED) == [1001, 1002, 1003]
    assert any("corp-sip-monitor (1000)" in note for note in outcome.plan.notes)


def test_a_foreign_deny_in_front_of_byoc_rules_is_reported_not_changed(arm: Arm) -> None:
    arm.edit(
        "corp-deny-sip",
        properties={
            "protocol": "*",
            "sourceAddressPrefix": "Internet",
            "sourcePortRange": "*",
            "destinationAddressPrefix": "*",
            "destinationPortRange": "5060-5061",
            "access": "Deny",
            "priority": 500,
            "direction": "Inbound",
        },
    )

    outcome = sync(arm)

    assert outcome.converged
    assert len(outcome.plan.conflicts) == 2  # the udp and the tcp signaling rules
    assert all("corp-deny-sip" in text for text in outcome.plan.conflicts)
    assert arm.rules()["corp-deny-sip"]["properties"]["access"] == "Deny"


def test_a_rule_edited_by_hand_is_repaired(arm: Arm) -> None:
    sync(arm)
    arm.edit(
        "byoc-signaling-udp-1", properties={"sourceAddressPrefix": "*", "destinationPortRange": "0-65535"}
    )
    arm.edit("byoc-media-udp-1", delete=True)

    outcome = sync(arm)

    assert outcome.converged
    assert sorted((c.action.value, c.key) for c in outcome.plan.changes) == [
        ("add", "byoc-media-udp-1"),
        ("update", "byoc-signaling-udp-1"),
    ]
    udp = arm.rules()["byoc-signaling-udp-1"]["properties"]
    assert "*" not in udp["sourceAddressPrefixes"] and "sourceAddressPrefix" not in udp
    assert udp["destinationPortRanges"] == ["5060"]


def test_a_rule_changed_between_read_and_write_is_not_overwritten(arm: Arm) -> None:
    sync(arm)
    settings = make_settings(arm, nsg_exclude_cidrs=[TWILIO_UMATILLA])
    target = NsgReconciler(settings, settings.sbcs[0], AzureNsg.from_settings(settings, NSG_ID))
    desired = target.desired(None)
    plan = target.plan(target.read_actual(), desired)
    first = plan.changes[0].key
    arm.edit(first, properties={"description": "edited in the portal"})

    with pytest.raises(NsgRuleConflict, match=first):
        target.apply(plan, FakeLease())

    assert arm.rules()[first]["properties"]["description"] == "edited in the portal"
    assert ("PUT", 412) in {(e.method, e.status) for e in arm.emulator.log.entries()}
    assert sync(arm, nsg_exclude_cidrs=[TWILIO_UMATILLA]).converged


# --- busy NSGs -----------------------------------------------------------------------------------


def adapter(arm: Arm, delays: list[float], **kwargs: Any) -> AzureNsg:
    return AzureNsg(
        NSG_ID,
        StaticTokenCredential(TOKEN),
        arm_endpoint=arm.url,
        ca_bundle=arm.ca_bundle,
        sleep=delays.append,
        **kwargs,
    )


RULE = {
    "priority": 1000,
    "direction": "Inbound",
    "access": "Allow",
    "protocol": "Udp",
    "sourceAddressPrefixes": ["54.172.60.0/30"],
    "sourcePortRange": "*",
    "destinationAddressPrefix": SBC_IP,
    "destinationPortRanges": ["5060"],
}


def test_another_operation_in_progress_is_retried_after_the_time_arm_asks(arm: Arm) -> None:
    arm.emulator.faults.add(
        Fault(kind="another_operation", count=2, status=429, headers={"Retry-After": "7"})
    )
    delays: list[float] = []

    written = adapter(arm, delays).put_rule("byoc-signaling-udp-1", RULE, etag=None)

    assert delays == [7.0, 7.0]
    assert written["properties"]["priority"] == 1000
    assert "byoc-signaling-udp-1" in arm.rules()


def test_a_conflict_answer_for_a_running_operation_is_retried_with_backoff(arm: Arm) -> None:
    arm.emulator.faults.add(
        Fault(kind="another_operation", count=2, status=409, headers={"x-sandbox": "no-retry-after"})
    )
    delays: list[float] = []

    adapter(arm, delays, retry=replace(BACKOFF, base_s=0.5)).put_rule("byoc-x", RULE, etag=None)

    assert delays == [0.5, 1.0]


def test_a_failed_long_running_operation_with_a_transient_code_is_retried(arm: Arm) -> None:
    arm.emulator.faults.add(
        Fault(kind="operation_failed", count=1, params={"code": "AnotherOperationInProgress"})
    )
    delays: list[float] = []

    adapter(arm, delays).put_rule("byoc-x", RULE, etag=None)

    assert len(delays) == 1 and "byoc-x" in arm.rules()


def test_a_busy_nsg_gives_up_after_the_retry_budget_without_writing(arm: Arm) -> None:
    arm.emulator.faults.add(
        Fault(kind="another_operation", count=100, status=429, headers={"Retry-After": "600"})
    )
    delays: list[float] = []

    with pytest.raises(NsgBusy, match="after 6 attempts"):
        adapter(arm, delays).put_rule("byoc-x", RULE, etag=None)

    assert delays == [120.0] * 5  # Retry-After honoured up to the budget's cap
    assert "byoc-x" not in arm.rules()


def test_arm_validation_errors_are_not_retried_and_name_the_problem(arm: Arm) -> None:
    delays: list[float] = []

    with pytest.raises(NsgRequestRefused, match="SecurityRuleConflict"):
        adapter(arm, delays).put_rule(
            "byoc-x", {**RULE, "priority": 300, "destinationPortRanges": ["443"]}, etag=None
        )

    assert delays == []


# --- refusals and configuration ------------------------------------------------------------------

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
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",
    "240.0.0.0/4",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "::ffff:0:0/96",
    "11.0.0.0/8",
]


@pytest.mark.parametrize("source", DANGEROUS)
def test_a_dangerous_source_is_refused_before_any_call_to_azure(arm: Arm, source: str) -> None:
    sync(arm)
    arm.emulator.log.clear()

    with pytest.raises(UnsafeRangeError):
        sync(arm, nsg_extra_cidrs=[source])
    with pytest.raises(UnsafeRangeError):
        sync(arm, genesys_signaling_cidrs={"us-east-1": [source]})

    assert arm.calls()["requests"] == 0
    assert "*" not in json.dumps([arm.rules()[n]["properties"]["sourceAddressPrefixes"] for n in OWNED])


def test_a_missing_nsg_and_a_rejected_token_are_told_apart(arm: Arm) -> None:
    missing = NSG_ID.replace("nsg-sbc1", "nsg-gone")
    with pytest.raises(NsgNotFound, match="nsg-gone"):
        AzureNsg(
            missing, StaticTokenCredential(TOKEN), arm_endpoint=arm.url, ca_bundle=arm.ca_bundle
        ).read_rules()
    with pytest.raises(NsgAccessDenied, match="Network Contributor"):
        AzureNsg(
            NSG_ID, StaticTokenCredential("wrong"), arm_endpoint=arm.url, ca_bundle=arm.ca_bundle
        ).read_rules()


@pytest.mark.parametrize(
    "resource_id",
    [
        "nsg-sbc1",
        "/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg",
        NSG_ID.replace("networkSecurityGroups", "virtualNetworks"),
        NSG_ID + "/securityRules/x",
    ],
)
def test_a_malformed_nsg_resource_id_is_refused_with_the_expected_shape(resource_id: str) -> None:
    with pytest.raises(InvalidNsgResourceId, match="expected /subscriptions/"):
        AzureNsg(resource_id, StaticTokenCredential(TOKEN))


def test_the_resource_id_parts_and_token_scope_come_from_settings() -> None:
    nsg = AzureNsg(NSG_ID, StaticTokenCredential(TOKEN), arm_endpoint="https://management.usgovcloudapi.net/")

    assert (nsg.resource_id.resource_group, nsg.resource_id.name) == ("rg-byoc", "nsg-sbc1")
    assert str(nsg.resource_id) == NSG_ID
    assert nsg.credential_scope == "https://management.usgovcloudapi.net/.default"


def test_a_plain_http_arm_endpoint_is_refused() -> None:
    with pytest.raises(NsgConfigurationError, match="https://"):
        AzureNsg(NSG_ID, StaticTokenCredential(TOKEN), arm_endpoint="http://127.0.0.1:1")


# --- at Azure's limits ---------------------------------------------------------------------------

TCP_ONLY = {"sip_ports": {"udp": 0, "tcp": 5060, "tls": 5061}}
UDP_ONLY = {"sip_ports": {"udp": 5060, "tcp": 0, "tls": 0}}


def sbc_with(arm: Arm, extra: dict[str, Any]) -> list[dict[str, Any]]:
    base = make_settings(arm).sbcs[0].model_dump()
    return [{**base, **extra}]


def filler(count: int, prefixes_each: int) -> list[dict[str, Any]]:
    """Foreign rules on a port the SBC does not serve, `prefixes_each` source addresses each."""
    rules = []
    for n in range(count):
        sources = [f"198.51.{100 + (n * prefixes_each + i) // 256 % 2}.{(n * prefixes_each + i) % 256}"
                   for i in range(prefixes_each)]
        rules.append({
            "name": f"corp-filler-{n:04d}",
            "properties": {
                "protocol": "Tcp", "sourceAddressPrefixes": sources, "sourcePortRange": "*",
                "destinationAddressPrefix": "*", "destinationPortRange": "8443",
                "access": "Allow", "priority": 1200 + n, "direction": "Inbound",
            },
        })
    return rules


@pytest.fixture
def full_nsg(served: Arm) -> Iterator[Any]:
    """Reseeds the emulator with extra foreign rules; the original seed is restored after."""
    original = served.emulator.seed

    def fill(rules: list[dict[str, Any]]) -> None:
        seed = copy.deepcopy(SEED)
        seed["network_security_groups"][0]["security_rules"].extend(rules)
        served.emulator.seed = seed
        with served.emulator.lock:
            served.emulator.reset()
        served.emulator.log.clear()

    try:
        yield fill
    finally:
        served.emulator.seed = original
        with served.emulator.lock:
            served.emulator.reset()


def source_prefixes(arm: Arm) -> int:
    """Source addresses and ranges in the NSG, as Azure counts them against its 4,000 limit."""
    total = 0
    for rule in arm.rules().values():
        props = rule["properties"]
        total += len(props.get("sourceAddressPrefixes") or [])
        single = props.get("sourceAddressPrefix")
        total += 1 if single and single[0].isdigit() else 0
    return total


def byoc_rules(arm: Arm) -> dict[str, dict[str, Any]]:
    return {n: r for n, r in arm.rules().items() if n.startswith("byoc-")}


def test_an_nsg_at_exactly_1000_rules_converges_when_a_byoc_rule_is_replaced(
    arm: Arm, full_nsg: Any
) -> None:
    full_nsg(filler(1000 - len(FOREIGN) - 2, 1))
    assert sync(arm, sbcs=sbc_with(arm, TCP_ONLY)).converged
    assert len(arm.rules()) == 1000
    assert set(byoc_rules(arm)) == {"byoc-media-udp-1", "byoc-signaling-tcp-1"}

    outcome = sync(arm, sbcs=sbc_with(arm, UDP_ONLY))

    assert outcome.converged
    assert [(c.action.value, c.key) for c in outcome.plan.changes] == [
        ("remove", "byoc-signaling-tcp-1"),
        ("add", "byoc-signaling-udp-1"),
    ]
    assert any("limit of 1000 rules" in note for note in outcome.plan.notes)
    assert len(arm.rules()) == 1000
    assert set(byoc_rules(arm)) == {"byoc-media-udp-1", "byoc-signaling-udp-1"}
    refused = [e for e in arm.emulator.log.entries() if e.status == 400]
    assert refused == []


def test_an_nsg_at_exactly_4000_source_prefixes_converges_when_a_byoc_rule_is_replaced(
    arm: Arm, full_nsg: Any
) -> None:
    sync(arm, sbcs=sbc_with(arm, TCP_ONLY))
    own = sum(len(r["properties"]["sourceAddressPrefixes"]) for r in byoc_rules(arm).values())
    seeded = 1  # corp-admin-https
    free = 4000 - own - seeded
    fill = filler(free // 10 + 1, 10)
    last = fill[-1]["properties"]
    last["sourceAddressPrefixes"] = last["sourceAddressPrefixes"][: free % 10 or 10]
    full_nsg(fill)
    assert sync(arm, sbcs=sbc_with(arm, TCP_ONLY)).converged
    assert source_prefixes(arm) == 4000

    outcome = sync(arm, sbcs=sbc_with(arm, UDP_ONLY))

    assert outcome.converged
    assert [c.action.value for c in outcome.plan.changes] == ["remove", "add"]
    assert set(byoc_rules(arm)) == {"byoc-media-udp-1", "byoc-signaling-udp-1"}
    assert source_prefixes(arm) == 4000
    assert [e for e in arm.emulator.log.entries() if e.status == 400] == []


def test_the_emulator_refuses_the_1001st_rule_and_the_4001st_prefix(arm: Arm, full_nsg: Any) -> None:
    """The limits the two tests above work at are enforced (Azure networking limits page)."""
    full_nsg(filler(1000 - len(FOREIGN), 1))
    delays: list[float] = []
    with pytest.raises(NsgRequestRefused, match="SecurityRuleCountLimitReached"):
        adapter(arm, delays).put_rule("byoc-x", RULE, etag=None)

    fill = filler(400, 10)
    fill[-1]["properties"]["sourceAddressPrefixes"].pop()
    full_nsg(fill)  # 3,999 plus corp-admin-https: 4,000
    assert source_prefixes(arm) == 4000
    with pytest.raises(NsgRequestRefused, match="AddressesOrPortsPerSecurityGroupLimitReached"):
        adapter(arm, delays).put_rule("byoc-x", RULE, etag=None)


# --- effective exposure --------------------------------------------------------------------------


def foreign_rule(priority: int, source: str, ports: str, protocol: str = "*",
                 access: str = "Allow") -> dict[str, Any]:
    return {
        "protocol": protocol, "sourceAddressPrefix": source, "sourcePortRange": "*",
        "destinationAddressPrefix": "*", "destinationPortRange": ports,
        "access": access, "priority": priority, "direction": "Inbound",
    }


def exposure(arm: Arm, **overrides: Any) -> dict[str, Any]:
    settings = make_settings(arm, **overrides)
    rows = exposure_report(settings, Services(settings).azure_nsg)
    assert len(rows) == 1
    return rows[0]


EXPOSURES = {
    # name: (rule, what must be named in the problem)
    "internet-after-byoc": (foreign_rule(2000, "Internet", "5061", "Tcp"), "SIP over TLS"),
    "any-before-byoc": (foreign_rule(400, "*", "*"), "RTP"),
    "azurecloud-after-byoc": (foreign_rule(3000, "AzureCloud", "5060", "Udp"), "AzureCloud"),
    "azurecloud-before-byoc": (foreign_rule(500, "AzureCloud", "5060", "Udp"), "AzureCloud"),
    "regional-tag": (foreign_rule(2500, "AzureCloud.EastUS", "5060-5061", "Tcp"), "AzureCloud.EastUS"),
    "public-cidr-on-rtp": (foreign_rule(2600, "8.8.8.0/24", "10000-20000", "Udp"), "8.8.8.0/24"),
    "port-range-covering-sip": (foreign_rule(2700, "Internet", "5000-5100", "Udp"), "SIP over UDP"),
    "wider-than-carrier": (foreign_rule(300 + 1, "54.172.0.0/16", "5060", "Udp"), "54.172.0.0/16"),
}


@pytest.mark.parametrize("kind", sorted(EXPOSURES))
def test_each_kind_of_foreign_exposure_is_reported_and_the_rule_left_alone(
    arm: Arm, kind: str
) -> None:
    rule, named = EXPOSURES[kind]
    name = f"corp-{kind}"
    arm.edit(name, properties=rule)
    before = arm.rules()[name]

    outcome = sync(arm)

    assert outcome.converged
    found = [c for c in outcome.plan.conflicts if repr(name) in c]
    assert found and named in " ".join(found), outcome.plan.conflicts
    report = exposure(arm)
    assert report["exposed"] is True
    assert any(repr(name) in p and named in p for p in report["problems"]), report["problems"]
    opened = [o for port in report["ports"] for o in port["openings"] if o["rule"] == name]
    assert opened and {o["kind"] for o in opened} & {"wider"} and opened[0]["origin"] == "foreign"
    assert arm.rules()[name] == before


def test_a_converged_nsg_with_no_exposure_reports_none(arm: Arm) -> None:
    assert sync(arm).converged
    arm.edit("corp-vnet-sip", properties=foreign_rule(2000, "VirtualNetwork", "5060", "Udp"))
    arm.edit("corp-deny-internet", properties=foreign_rule(150, "Internet", "5061", "Tcp", "Deny"))
    arm.edit("corp-internet-tls", properties=foreign_rule(160, "Internet", "5061", "Tcp"))

    outcome = sync(arm)
    report = exposure(arm)

    assert outcome.converged
    assert not [c for c in outcome.plan.conflicts if "open to" in c]
    assert report["exposed"] is False and report["problems"] == []
    by_service = {p["service"]: p for p in report["ports"]}
    assert set(by_service) == {"SIP over UDP", "SIP over TCP", "SIP over TLS", "RTP"}
    udp = by_service["SIP over UDP"]["openings"]
    assert [o["rule"] for o in udp if o["kind"] == "carrier"] == ["byoc-signaling-udp-1"]
    assert "54.172.60.0/30" in udp[0]["sources"]
    internal = {(o["rule"], o["origin"]) for o in udp if o["kind"] == "internal"}
    assert internal == {
        ("corp-vnet-sip", "foreign"),
        ("AllowAzureLoadBalancerInBound", "default"),
    }  # AllowVnetInBound adds nothing: corp-vnet-sip matched VirtualNetwork first
    tls = by_service["SIP over TLS"]["openings"]
    assert "corp-internet-tls" not in {o["rule"] for o in tls}  # shadowed by the Deny at 150


def test_byoc_nsg_exposure_command_names_the_rule_and_exits_1(
    arm: Arm, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from byoc.bootstrap import reset_services
    from byoc.entrypoints.cli import app

    sync(arm)
    arm.edit("corp-open-tls", properties=foreign_rule(2000, "Internet", "5061", "Tcp"))
    settings = make_settings(arm)
    for key in [k for k in __import__("os").environ if k.startswith("BYOC_")]:
        monkeypatch.delenv(key)
    for key, value in settings.model_dump(mode="json").items():
        if value is None or key.startswith("_"):
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        monkeypatch.setenv(f"BYOC_{key.upper()}", text)
    for key in ("twilio_auth_token", "genesys_client_secret", "sbc_password", "azure_static_token"):
        monkeypatch.setenv(f"BYOC_{key.upper()}", TOKEN)
    reset_services()
    try:
        result = CliRunner().invoke(app, ["nsg", "exposure", "--json"])
        text_result = CliRunner().invoke(app, ["nsg", "exposure"])
    finally:
        reset_services()

    assert result.exit_code == 1, (result.output, result.exception)
    data = json.loads(result.stdout)
    assert data["exposed"] is True
    tls = next(p for p in data["exposure"][0]["ports"] if p["service"] == "SIP over TLS")
    assert {"sources": ["Internet"], "rule": "corp-open-tls", "kind": "wider"}.items() <= next(
        o for o in tls["openings"] if o["rule"] == "corp-open-tls"
    ).items()
    assert text_result.exit_code == 1
    assert "corp-open-tls" in text_result.output


def health_of(arm: Arm, **overrides: Any) -> tuple[Any, FakeState]:
    """`byoc health` as the timer runs it, with the real NSG adapter (SIP probes find nobody)."""
    from byoc.ports import ProbeResult
    from byoc.services.health import HealthService

    settings = make_settings(arm, **overrides)
    state = FakeState()

    async def no_probe(target: Any, **_: Any) -> ProbeResult:
        return ProbeResult(target=target, failure="timeout", detail="no SBC in this test")

    service = HealthService(
        settings=settings, inventory=FakeInventory(), state=state, queue=FakeQueue(),
        prober=no_probe, targets=list,
        nsg=lambda sbc: AzureNsg.from_settings(settings, str(sbc.nsg_resource_id)),
    )
    return service, state


def test_an_exposed_nsg_is_down_in_health_and_fails_status(arm: Arm) -> None:
    from byoc.services.status import build_status

    sync(arm)
    arm.edit("corp-cloud-sip", properties=foreign_rule(3000, "AzureCloud", "5061", "Tcp"))
    service, state = health_of(arm)

    report = asyncio.run(service.check())
    service.record(report)

    result = next(r for r in report.results if r.component == "nsg-exposure:sbc1")
    assert result.status.value == "down"
    assert "corp-cloud-sip" in result.reason and "AzureCloud" in result.reason
    status = build_status(inventory=FakeInventory(), state=state, queue=FakeQueue())
    assert status.ok is False
    assert status.health["nsg-exposure:sbc1"]["status"] == "down"

    arm.edit("corp-cloud-sip", delete=True)
    report = asyncio.run(service.check())
    assert next(r for r in report.results if r.component == "nsg-exposure:sbc1").status.value == "ok"


def test_an_empty_genesys_signaling_setting_is_a_health_problem_naming_the_article(
    arm: Arm,
) -> None:
    service, _ = health_of(arm, genesys_signaling_cidrs={})

    report = asyncio.run(service.check())

    result = next(r for r in report.results if r.component == "genesys-signaling:sbc1")
    assert result.status.value == "down"
    assert "BYOC Cloud public SIP IP addresses" in result.reason
    assert "https://help.mypurecloud.com/?p=152869" in result.reason
    assert "us-east-1" in result.reason
