"""The real `azure-mgmt-network` SDK against the ARM emulator, through what the NSG adapter needs."""

from __future__ import annotations

import copy
import gc
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import SecurityRule, SecurityRulePropertiesFormat

from byoc.adapters.identity import StaticTokenCredential
from sandbox.arm import ArmEmulator
from sandbox.core import ServedApp, build_app
from sandbox.pki import SandboxPki

pytestmark = pytest.mark.integration

SEED = yaml.safe_load((Path(__file__).parents[3] / "sandbox/seeds/arm.yaml").read_text())
SUB = "00000000-0000-0000-0000-000000000000"
RG = "rg-byoc"
NSG = "nsg-sbc1"
NSG_ID = (
    f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Network/networkSecurityGroups/{NSG}"
)
OPERATIONS = (
    "GET /subscriptions/{subscription}/providers/Microsoft.Network/locations/{location}"
    "/operations/{operation}"
)
RULE_ROUTE = (
    "/subscriptions/{subscription}/resourceGroups/{resource_group}/providers/Microsoft.Network"
    "/networkSecurityGroups/{nsg}/securityRules/{rule}"
)


@dataclass
class Arm:
    emulator: ArmEmulator
    url: str
    ca_bundle: str

    def client(self, **kwargs: Any) -> NetworkManagementClient:
        return NetworkManagementClient(
            StaticTokenCredential("sandbox-azure-token"),
            SUB,
            base_url=self.url,
            connection_verify=self.ca_bundle,
            credential_scopes=["https://management.azure.com/.default"],
            **kwargs,
        )

    def sandbox(self, path: str, body: Any) -> httpx.Response:
        trust = ssl.create_default_context(cafile=self.ca_bundle)
        return httpx.post(f"{self.url}{path}", json=body, verify=trust)

    def calls(self, at_least: int = 0) -> list[tuple[str, str, int]]:
        """The request log, once it holds `at_least` entries (the last is written after its reply)."""
        deadline = time.monotonic() + 5
        while len(self.emulator.log.entries()) < at_least and time.monotonic() < deadline:
            time.sleep(0.005)
        return [(e.method, e.route, e.status) for e in self.emulator.log.entries()]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Arm]:
    workdir = tmp_path_factory.mktemp("arm")
    pki = SandboxPki()
    seed = copy.deepcopy(SEED)
    seed["page_size"] = 1
    emulator = ArmEmulator(seed)
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(workdir, "https")).start()
    try:
        yield Arm(emulator, server.url, str(pki.write_ca_bundle(workdir / "ca.pem")))
    finally:
        gc.collect()  # frees connections held by expected SDK exceptions, so the stop is quick
        server.stop()


@pytest.fixture
def arm(served: Arm) -> Arm:
    with served.emulator.lock:
        served.emulator.reset()
    served.emulator.faults.clear()
    served.emulator.log.clear()
    return served


@pytest.fixture
def client(arm: Arm) -> Iterator[NetworkManagementClient]:
    with arm.client() as network:
        yield network


def signaling_rule(priority: int = 1000, **overrides: Any) -> SecurityRule:
    fields: dict[str, Any] = {
        "protocol": "Udp",
        "source_address_prefixes": ["54.172.60.0/30", "54.244.51.0/30"],
        "source_port_range": "*",
        "destination_address_prefix": "*",
        "destination_port_range": "5060",
        "access": "Allow",
        "priority": priority,
        "direction": "Inbound",
        "description": "managed-by:byoc twilio signaling",
    }
    fields.update(overrides)
    return SecurityRule(properties=SecurityRulePropertiesFormat(**fields))


def test_list_rules_follows_next_links(arm: Arm, client: NetworkManagementClient) -> None:
    rules = list(client.security_rules.list(RG, NSG))

    assert [r.name for r in rules] == ["corp-admin-https", "corp-deny-ssh"]
    assert all(r.etag and r.etag.startswith('W/"') for r in rules)
    assert rules[0].source_address_prefix == "198.51.100.0/24"
    assert rules[0].destination_port_range == "443"
    lists = [c for c in arm.calls(at_least=2) if c[1].endswith("/securityRules")]
    assert len(lists) == 2  # page size 1: the second page came from nextLink


def test_get_nsg_has_custom_and_default_rules(client: NetworkManagementClient) -> None:
    nsg = client.network_security_groups.get(RG, NSG)

    assert nsg.id == NSG_ID
    assert nsg.etag
    assert [r.name for r in nsg.security_rules or []] == ["corp-admin-https", "corp-deny-ssh"]
    defaults = {r.name: r.priority for r in nsg.default_security_rules or []}
    assert defaults["DenyAllInBound"] == 65500
    assert len(defaults) == 6


def test_create_polls_the_operation_to_success(arm: Arm, client: NetworkManagementClient) -> None:
    created = client.security_rules.begin_create_or_update(
        RG, NSG, "byoc-sig-udp-1", signaling_rule()
    ).result()

    assert created.name == "byoc-sig-udp-1"
    assert created.provisioning_state == "Succeeded"
    assert created.source_address_prefixes == ["54.172.60.0/30", "54.244.51.0/30"]
    calls = arm.calls(at_least=4)
    assert ("PUT", RULE_ROUTE, 201) in calls
    polls = [c for c in calls if f"{c[0]} {c[1]}" == OPERATIONS]
    assert len(polls) == 2  # InProgress once, then Succeeded
    assert calls[-1] == ("GET", RULE_ROUTE, 200)  # ARMPolling's final GET of the rule
    fetched = client.security_rules.get(RG, NSG, "byoc-sig-udp-1")
    assert fetched.etag == created.etag


def test_update_with_if_match_changes_the_etag(arm: Arm, client: NetworkManagementClient) -> None:
    first = client.security_rules.begin_create_or_update(
        RG, NSG, "byoc-sig-udp-1", signaling_rule()
    ).result()
    assert first.etag is not None
    first.source_address_prefixes = ["54.172.60.0/30"]

    second = client.security_rules.begin_create_or_update(
        RG, NSG, "byoc-sig-udp-1", first, headers={"If-Match": first.etag}
    ).result()

    assert second.etag != first.etag
    assert second.source_address_prefixes == ["54.172.60.0/30"]
    assert ("PUT", RULE_ROUTE, 200) in arm.calls()
    with pytest.raises(HttpResponseError) as stale:
        client.security_rules.begin_create_or_update(
            RG, NSG, "byoc-sig-udp-1", first, headers={"If-Match": first.etag}
        ).result()
    assert stale.value.status_code == 412
    assert stale.value.error is not None and stale.value.error.code == "PreconditionFailed"


def test_if_none_match_star_creates(client: NetworkManagementClient) -> None:
    created = client.security_rules.begin_create_or_update(
        RG, NSG, "byoc-sig-udp-1", signaling_rule(), headers={"If-None-Match": "*"}
    ).result()

    assert created.etag


def test_delete_polls_to_completion(arm: Arm, client: NetworkManagementClient) -> None:
    client.security_rules.begin_create_or_update(RG, NSG, "byoc-sig-udp-1", signaling_rule()).result()
    arm.emulator.log.clear()

    assert client.security_rules.begin_delete(RG, NSG, "byoc-sig-udp-1").result() is None

    assert ("DELETE", RULE_ROUTE, 202) in arm.calls()
    with pytest.raises(ResourceNotFoundError):
        client.security_rules.get(RG, NSG, "byoc-sig-udp-1")


def test_polling_false_returns_the_accepted_rule(client: NetworkManagementClient) -> None:
    poller = client.security_rules.begin_create_or_update(
        RG, NSG, "byoc-sig-udp-1", signaling_rule(), polling=False
    )

    accepted = poller.result()
    assert accepted.provisioning_state == "Updating"
    assert client.security_rules.get(RG, NSG, "byoc-sig-udp-1").priority == 1000


def test_portal_edit_bumps_the_etag(arm: Arm, client: NetworkManagementClient) -> None:
    ours = client.security_rules.begin_create_or_update(
        RG, NSG, "byoc-sig-udp-1", signaling_rule()
    ).result()

    edit = arm.sandbox(
        "/_sandbox/arm/edit-rule",
        {"nsg": NSG_ID, "rule": "byoc-sig-udp-1", "properties": {"sourceAddressPrefix": "*"}},
    )

    assert edit.status_code == 200
    drifted = client.security_rules.get(RG, NSG, "byoc-sig-udp-1")
    assert drifted.source_address_prefix == "*"
    assert drifted.source_address_prefixes == []
    assert drifted.etag != ours.etag
    assert ours.etag is not None
    with pytest.raises(HttpResponseError) as stale:
        client.security_rules.begin_create_or_update(
            RG, NSG, "byoc-sig-udp-1", ours, headers={"If-Match": ours.etag}
        ).result()
    assert stale.value.status_code == 412
    repaired = client.security_rules.begin_create_or_update(
        RG, NSG, "byoc-sig-udp-1", signaling_rule(), headers={"If-Match": drifted.etag}
    ).result()
    assert repaired.source_address_prefixes == ["54.172.60.0/30", "54.244.51.0/30"]


def test_portal_delete_removes_the_rule(arm: Arm, client: NetworkManagementClient) -> None:
    edit = arm.sandbox("/_sandbox/arm/edit-rule", {"nsg": NSG, "rule": "corp-deny-ssh", "delete": True})

    assert edit.status_code == 200
    assert [r.name for r in client.security_rules.list(RG, NSG)] == ["corp-admin-https"]


def test_sdk_retries_another_operation_in_progress(arm: Arm) -> None:
    arm.sandbox(
        "/_sandbox/faults",
        {"kind": "another_operation", "count": 1, "headers": {"Retry-After": "0"}},
    )

    with arm.client(retry_backoff_factor=0.01) as client:
        created = client.security_rules.begin_create_or_update(
            RG, NSG, "byoc-sig-udp-1", signaling_rule()
        ).result()

    assert created.provisioning_state == "Succeeded"
    statuses = [c[2] for c in arm.calls() if c[0] == "PUT"]
    assert statuses == [429, 201]


def test_failed_operation_raises_and_changes_nothing(
    arm: Arm, client: NetworkManagementClient
) -> None:
    arm.sandbox(
        "/_sandbox/faults",
        {"kind": "operation_failed", "count": 1, "params": {"code": "InternalServerError"}},
    )

    with pytest.raises(HttpResponseError):
        client.security_rules.begin_create_or_update(
            RG, NSG, "byoc-sig-udp-1", signaling_rule()
        ).result()

    with pytest.raises(ResourceNotFoundError):
        client.security_rules.get(RG, NSG, "byoc-sig-udp-1")


def test_every_call_carried_the_token_and_api_version(
    arm: Arm, client: NetworkManagementClient
) -> None:
    client.security_rules.begin_create_or_update(RG, NSG, "byoc-sig-udp-1", signaling_rule()).result()
    client.security_rules.begin_delete(RG, NSG, "byoc-sig-udp-1").result()

    entries = arm.emulator.log.entries()
    assert entries and all(e.status < 400 for e in entries)
    assert all("api-version=" in e.query for e in entries)
