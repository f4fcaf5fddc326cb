"""The ARM emulator refuses what Resource Manager / the Network RP refuses, in ARM's error shape."""

from __future__ import annotations

import copy
import gc
import ipaddress
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.mgmt.network import NetworkManagementClient
from azure.mgmt.network.models import SecurityRule, SecurityRulePropertiesFormat

from byoc.adapters.identity import StaticTokenCredential
from sandbox.arm import ArmEmulator
from sandbox.core import Fault, ServedApp, build_app
from sandbox.pki import SandboxPki

pytestmark = pytest.mark.integration

SEED = yaml.safe_load((Path(__file__).parents[3] / "sandbox/seeds/arm.yaml").read_text())
SUB = "00000000-0000-0000-0000-000000000000"
NSG_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-byoc/providers/Microsoft.Network"
    "/networkSecurityGroups/nsg-sbc1"
)
API = "api-version=2026-03-01"
TOKEN = {"Authorization": "Bearer sandbox-azure-token"}


@dataclass
class Arm:
    emulator: ArmEmulator
    url: str
    http: httpx.Client

    def rule_url(self, name: str, nsg_id: str = NSG_ID) -> str:
        return f"{self.url}{nsg_id}/securityRules/{name}?{API}"

    def put(self, name: str, props: dict[str, Any], **headers: str) -> httpx.Response:
        return self.http.put(
            self.rule_url(name), json={"properties": props}, headers={**TOKEN, **headers}
        )



def trust(pki: SandboxPki, workdir: Path) -> ssl.SSLContext:
    """An SSL context trusting the sandbox CA."""
    return ssl.create_default_context(cafile=pki.write_ca_bundle(workdir / "ca.pem"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ArmEmulator, str, str]]:
    workdir = tmp_path_factory.mktemp("arm")
    pki = SandboxPki()
    emulator = ArmEmulator(copy.deepcopy(SEED))
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(workdir, "https")).start()
    try:
        yield emulator, server.url, str(pki.write_ca_bundle(workdir / "ca.pem"))
    finally:
        gc.collect()  # frees connections held by expected SDK exceptions, so the stop is quick
        server.stop()


@pytest.fixture
def arm(served: tuple[ArmEmulator, str, str]) -> Iterator[Arm]:
    emulator, url, ca_bundle = served
    with emulator.lock:
        emulator.reset()
    emulator.faults.clear()
    with httpx.Client(verify=ssl.create_default_context(cafile=ca_bundle)) as http:
        yield Arm(emulator, url, http)


@pytest.fixture
def sdk(served: tuple[ArmEmulator, str, str]) -> Iterator[NetworkManagementClient]:
    _, url, ca_bundle = served
    with NetworkManagementClient(
        StaticTokenCredential("sandbox-azure-token"),
        SUB,
        base_url=url,
        connection_verify=ca_bundle,
        retry_total=0,
    ) as client:
        yield client


def rule(**overrides: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "protocol": "Udp",
        "sourceAddressPrefixes": ["54.172.60.0/30"],
        "sourcePortRange": "*",
        "destinationAddressPrefix": "*",
        "destinationPortRange": "5060",
        "access": "Allow",
        "priority": 1000,
        "direction": "Inbound",
    }
    for key, value in overrides.items():
        if value is None:
            props.pop(key, None)
        else:
            props[key] = value
    return props


def error_code(response: httpx.Response) -> str:
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"} and {"code", "message"} <= set(body["error"])
    return str(body["error"]["code"])


# --- authentication and api-version --------------------------------------------------------------


def test_missing_token_is_refused(arm: Arm) -> None:
    response = arm.http.get(f"{arm.url}{NSG_ID}?{API}")

    assert response.status_code == 401
    assert error_code(response) == "AuthenticationFailed"
    assert response.headers["WWW-Authenticate"].startswith("Bearer ")


def test_wrong_token_is_refused_by_the_sdk(served: tuple[ArmEmulator, str, str]) -> None:
    _, url, ca_bundle = served
    with NetworkManagementClient(
        StaticTokenCredential("not-the-token"), SUB, base_url=url, connection_verify=ca_bundle
    ) as client, pytest.raises(ClientAuthenticationError) as refused:
        client.network_security_groups.get("rg-byoc", "nsg-sbc1")

    assert refused.value.error is not None
    assert refused.value.error.code == "InvalidAuthenticationToken"


@pytest.mark.parametrize(
    ("query", "code"),
    [("", "MissingApiVersionParameter"), ("?api-version=latest", "InvalidApiVersionParameter")],
)
def test_api_version_is_required(arm: Arm, query: str, code: str) -> None:
    response = arm.http.get(f"{arm.url}{NSG_ID}/securityRules{query}", headers=TOKEN)

    assert response.status_code == 400
    assert error_code(response) == code


# --- addressing ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (NSG_ID.replace("nsg-sbc1", "nsg-nope"), "ResourceNotFound"),
        (NSG_ID.replace("rg-byoc", "rg-nope"), "ResourceGroupNotFound"),
        (NSG_ID.replace(SUB, "11111111-1111-1111-1111-111111111111"), "SubscriptionNotFound"),
        (f"{NSG_ID}/securityRules/no-such-rule", "NotFound"),
    ],
)
def test_unknown_resources_are_404(arm: Arm, path: str, code: str) -> None:
    response = arm.http.get(f"{arm.url}{path}?{API}", headers=TOKEN)

    assert response.status_code == 404
    assert error_code(response) == code


def test_deleting_an_absent_rule_is_204(arm: Arm) -> None:
    response = arm.http.delete(arm.rule_url("no-such-rule"), headers=TOKEN)

    assert response.status_code == 204


# --- optimistic concurrency ------------------------------------------------------------------------


def test_if_match_mismatch_is_412(arm: Arm) -> None:
    created = arm.put("byoc-a", rule())
    etag = created.json()["etag"]
    arm.put("byoc-a", rule(priority=1001), **{"If-Match": etag})

    stale = arm.put("byoc-a", rule(priority=1002), **{"If-Match": etag})

    assert stale.status_code == 412
    assert error_code(stale) == "PreconditionFailed"
    assert arm.http.get(arm.rule_url("byoc-a"), headers=TOKEN).json()["properties"]["priority"] == 1001


def test_if_match_star_accepts_any_existing_rule(arm: Arm) -> None:
    arm.put("byoc-a", rule())

    assert arm.put("byoc-a", rule(priority=1001), **{"If-Match": "*"}).status_code == 200
    assert arm.put("byoc-new", rule(priority=1002), **{"If-Match": "*"}).status_code == 412


def test_if_none_match_star_is_create_only(arm: Arm) -> None:
    assert arm.put("byoc-a", rule(), **{"If-None-Match": "*"}).status_code == 201

    again = arm.put("byoc-a", rule(priority=1001), **{"If-None-Match": "*"})

    assert again.status_code == 412
    assert error_code(again) == "PreconditionFailed"


def test_every_write_changes_the_etag(arm: Arm) -> None:
    etags = {arm.put("byoc-a", rule()).json()["etag"] for _ in range(3)}

    assert len(etags) == 3


def test_delete_with_stale_if_match_is_412(arm: Arm) -> None:
    etag = arm.put("byoc-a", rule()).json()["etag"]
    arm.put("byoc-a", rule(priority=1001))

    response = arm.http.delete(arm.rule_url("byoc-a"), headers={**TOKEN, "If-Match": etag})

    assert response.status_code == 412


# --- rule validation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"priority": 99}, "SecurityRuleInvalidPriority"),
        ({"priority": 4097}, "SecurityRuleInvalidPriority"),
        ({"priority": None}, "SecurityRuleInvalidPriority"),
        ({"priority": "high"}, "InvalidRequestFormat"),
        ({"protocol": "Sctp"}, "InvalidRequestFormat"),
        ({"access": "Permit"}, "InvalidRequestFormat"),
        ({"direction": "In"}, "InvalidRequestFormat"),
        ({"protocol": None}, "SecurityRuleParameterMissing"),
        ({"direction": None}, "SecurityRuleParameterMissing"),
        ({"sourceAddressPrefixes": ["10.0.0.0/33"]}, "SecurityRuleInvalidAddressPrefix"),
        ({"sourceAddressPrefixes": ["10.0.0.1/24"]}, "SecurityRuleInvalidAddressPrefix"),
        ({"sourceAddressPrefixes": ["1.2.3"]}, "SecurityRuleInvalidAddressPrefix"),
        ({"sourceAddressPrefixes": ["2001:db8::/129"]}, "SecurityRuleInvalidAddressPrefix"),
        ({"destinationAddressPrefix": "any"}, "SecurityRuleInvalidAddressPrefix"),
        ({"sourceAddressPrefixes": ["*"]}, "SecurityRuleParameterContainsUnsupportedValue"),
        ({"sourceAddressPrefixes": ["Internet"]}, "SecurityRuleParameterContainsUnsupportedValue"),
        ({"sourceAddressPrefixes": None}, "SecurityRuleParametersMissing"),
        (
            {"sourceAddressPrefix": "10.0.0.0/8"},
            "SecurityRuleParameterContainsMultipleValues",
        ),
        ({"destinationPortRange": "65536"}, "SecurityRuleInvalidPortRange"),
        ({"destinationPortRange": "6000-5000"}, "SecurityRuleInvalidPortRange"),
        ({"destinationPortRange": "80,443"}, "SecurityRuleInvalidPortRange"),
        ({"destinationPortRange": "any"}, "SecurityRuleInvalidPortRange"),
        (
            {"destinationPortRange": None, "destinationPortRanges": ["5060", "99999"]},
            "SecurityRuleInvalidPortRange",
        ),
        ({"destinationPortRange": None}, "SecurityRuleParameterMissing"),
        ({"description": "x" * 141}, "SecurityRuleDescriptionTooLong"),
    ],
)
def test_invalid_rules_are_refused(arm: Arm, overrides: dict[str, Any], code: str) -> None:
    response = arm.put("byoc-a", rule(**overrides))

    assert response.status_code == 400, response.text
    assert error_code(response) == code
    assert arm.http.get(arm.rule_url("byoc-a"), headers=TOKEN).status_code == 404


@pytest.mark.parametrize(
    "overrides",
    [
        {"protocol": "*", "priority": 100},
        {"protocol": "Icmp", "priority": 4096},
        {"protocol": "Esp"},
        {"protocol": "Ah"},
        {"sourceAddressPrefixes": None, "sourceAddressPrefix": "Internet"},
        {"sourceAddressPrefixes": ["2001:db8::/32", "203.0.113.7"]},
        {"destinationPortRange": None, "destinationPortRanges": ["5060-5061", "10000-20000"]},
        {"destinationPortRange": "0-65535"},
        {"sourceAddressPrefixes": [], "sourceAddressPrefix": "*"},
    ],
)
def test_valid_edge_cases_are_accepted(arm: Arm, overrides: dict[str, Any]) -> None:
    assert arm.put("byoc-a", rule(**overrides)).status_code == 201


@pytest.mark.parametrize("name", ["-leading-dash", "trailing.", "has space", "x" * 81, "a/b"])
def test_invalid_rule_names_are_refused(arm: Arm, name: str) -> None:
    response = arm.put(name, rule())

    assert response.status_code in (400, 404)
    if response.status_code == 400:
        assert error_code(response) == "InvalidResourceName"


def test_body_must_be_json(arm: Arm) -> None:
    response = arm.http.put(arm.rule_url("byoc-a"), content=b"{not json", headers=TOKEN)

    assert response.status_code == 400
    assert error_code(response) == "InvalidRequestFormat"


def test_priority_is_unique_per_direction(arm: Arm) -> None:
    conflict = arm.put("byoc-a", rule(priority=300))  # corp-admin-https is Inbound 300

    assert conflict.status_code == 400
    assert error_code(conflict) == "SecurityRuleConflict"
    assert "corp-admin-https" in conflict.json()["error"]["message"]
    assert arm.put("byoc-a", rule(priority=300, direction="Outbound")).status_code == 201


def test_sdk_surfaces_the_conflict(sdk: NetworkManagementClient) -> None:
    with pytest.raises(HttpResponseError) as refused:
        sdk.security_rules.begin_create_or_update(
            "rg-byoc",
            "nsg-sbc1",
            "byoc-a",
            SecurityRule(
                properties=SecurityRulePropertiesFormat(
                    protocol="Udp", source_address_prefix="54.172.60.0/30", source_port_range="*",
                    destination_address_prefix="*", destination_port_range="5060",
                    access="Allow", priority=300, direction="Inbound",
                )
            ),
        )

    assert refused.value.status_code == 400
    assert refused.value.error is not None and refused.value.error.code == "SecurityRuleConflict"


# --- limits ----------------------------------------------------------------------------------------


def full_seed(rules: list[dict[str, Any]]) -> dict[str, Any]:
    seed: dict[str, Any] = copy.deepcopy(SEED)
    seed["network_security_groups"][0]["security_rules"] = rules
    return seed


def test_at_most_1000_rules_per_nsg(tmp_path: Path) -> None:
    rules = [{"name": f"r{i}", "properties": rule(priority=100 + i)} for i in range(1000)]
    emulator = ArmEmulator(full_seed(rules))
    pki = SandboxPki()
    server = ServedApp(build_app(emulator), tls=pki.write_server_files(tmp_path, "https")).start()
    try:
        with httpx.Client(verify=trust(pki, tmp_path)) as http:
            full = Arm(emulator, server.url, http)
            refused = full.put("r1000", rule(priority=1100))
            updated = full.put("r5", rule(priority=1101))  # an update adds no rule
    finally:
        server.stop()

    assert refused.status_code == 400
    assert error_code(refused) == "SecurityRuleCountLimitReached"
    assert updated.status_code == 200


def test_at_most_4000_prefixes_per_direction_side(arm: Arm) -> None:
    hosts = [str(ipaddress.IPv4Address(0x0A000000 + i)) for i in range(4001)]
    assert arm.put("byoc-a", rule(sourceAddressPrefixes=hosts[:3998])).status_code == 201
    # corp-admin-https already holds one source prefix: 3998 + 1 + 1 = 4000.
    assert arm.put("byoc-b", rule(priority=1001, sourceAddressPrefixes=hosts[3998:3999])).status_code == 201

    refused = arm.put("byoc-c", rule(priority=1002, sourceAddressPrefixes=hosts[3999:4000]))

    assert refused.status_code == 400
    assert error_code(refused) == "SecurityRuleAddressesOrPortsPerSecurityGroupLimitReached"
    destination_side = arm.put(
        "byoc-c",
        rule(priority=1002, sourceAddressPrefixes=None, sourceAddressPrefix="*",
             destinationAddressPrefix="10.1.0.4"),
    )
    assert destination_side.status_code == 201


# --- vendor faults ---------------------------------------------------------------------------------


def test_another_operation_in_progress(arm: Arm, sdk: NetworkManagementClient) -> None:
    arm.emulator.faults.add(Fault(kind="another_operation", count=2))

    busy = arm.put("byoc-a", rule())
    with pytest.raises(HttpResponseError) as refused:
        sdk.security_rules.begin_delete("rg-byoc", "nsg-sbc1", "corp-admin-https").result()

    assert busy.status_code == 429
    assert error_code(busy) == "AnotherOperationInProgress"
    assert "Retry-After" in busy.headers
    assert refused.value.status_code == 429
    assert arm.put("byoc-a", rule()).status_code == 201  # the fault fired twice and is spent


def test_portal_edit_is_validated_too(arm: Arm) -> None:
    response = arm.http.post(
        f"{arm.url}/_sandbox/arm/edit-rule",
        json={"nsg": "nsg-sbc1", "rule": "corp-admin-https", "properties": {"priority": 4000}},
    )

    assert response.status_code == 400
    assert error_code(response) == "SecurityRuleConflict"  # corp-deny-ssh holds Inbound 4000
