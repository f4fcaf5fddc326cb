"""Azure Resource Manager emulator: network security groups and their security rules.

It serves what `azure-mgmt-network` 33.1.0 calls for NSG rules: GET an NSG, LIST/GET/PUT/DELETE
`securityRules`, LIST/GET `defaultSecurityRules`, and the long-running-operation status URLs its
`ARMPolling` follows. Every call needs the seed's bearer token and an `api-version`.

Writes behave like the Network resource provider: a PUT answers 201 (created) or 200 (updated) with
`provisioningState: Updating` and an `Azure-AsyncOperation` header; a DELETE answers 202 with
`Location` and `Azure-AsyncOperation` (204 when the rule does not exist). The operation reports
`InProgress` for `lro.polls_in_progress` polls, then `Succeeded`. The change itself is visible at
once. Each rule carries a weak ETag that changes on every write; `If-Match` / `If-None-Match: *` are
enforced (412 `PreconditionFailed`) or ignored, per the variant `if_match`.

Vendor faults (`POST /_sandbox/faults` with a `kind`):
- `another_operation`: the next writes meet another operation on the NSG; what they get is the
  variant `another_operation` (429 or 409 `AnotherOperationInProgress`, 429 `RetryableError`, or an
  accepted write whose operation fails with `AnotherOperationInProgress`); a fault `status` wins.
- `operation_failed`: the next write is accepted, its operation ends `Failed` (params `code`,
  `message`) and the change is not applied.

`POST /_sandbox/arm/edit-rule` simulates a portal edit: `{"nsg": <resource id or name>,
"rule": name, "properties": {...merged...}}` or `{"nsg", "rule", "delete": true}`; the rule's ETag
changes.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.core import Emulator, Variant, json_error, parse_json_body

DEFAULT_TOKEN = "sandbox-azure-token"
MAX_RULES_PER_NSG = 1000
MAX_PREFIXES_PER_NSG = 4000
PRIORITY_MIN, PRIORITY_MAX = 100, 4096
DESCRIPTION_MAX = 140

_NSG = (
    "/subscriptions/{subscription}/resourceGroups/{resource_group}"
    "/providers/Microsoft.Network/networkSecurityGroups/{nsg}"
)
_OPERATIONS = "/subscriptions/{subscription}/providers/Microsoft.Network/locations/{location}"
_NSG_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[^/]+)/resourceGroups/(?P<resource_group>[^/]+)"
    r"/providers/Microsoft\.Network/networkSecurityGroups/(?P<nsg>[^/]+)$",
    re.IGNORECASE,
)
_API_VERSION = re.compile(r"^\d{4}-\d{2}-\d{2}(-preview)?$")
_RULE_NAME = re.compile(r"^\w([\w.-]{0,78}\w|[\w.-]{0,78}_)?$")
_PORT = re.compile(r"^(0|[1-9]\d{0,4})(?:-(0|[1-9]\d{0,4}))?$")
_ENUMS: dict[str, tuple[str, ...]] = {
    "protocol": ("Tcp", "Udp", "Icmp", "Esp", "Ah", "*"),
    "access": ("Allow", "Deny"),
    "direction": ("Inbound", "Outbound"),
}
_ENUM_TYPES = {
    "protocol": "SecurityRuleProtocol",
    "access": "SecurityRuleAccess",
    "direction": "SecurityRuleDirection",
}
# Service tags accepted in a singular address prefix (optionally with a `.Region` suffix).
_SERVICE_TAGS = {
    tag.lower()
    for tag in (
        "Internet", "VirtualNetwork", "AzureLoadBalancer", "AzureCloud", "Storage", "Sql",
        "AzureMonitor", "AppService", "AzureActiveDirectory", "GatewayManager", "AzureKeyVault",
        "EventHub", "ServiceBus", "AzureFrontDoor.Backend", "AzureFrontDoor.Frontend",
        "AzureTrafficManager", "ApiManagement", "AzureContainerRegistry", "AzureBackup",
    )
}
_REGIONAL_TAGS = {"azurecloud", "storage", "sql", "appservice", "eventhub", "servicebus",
                  "azuremonitor", "azurekeyvault", "azurecontainerregistry", "azurebackup"}
_SIDES = ("source", "destination")
_PAIRS = (
    ("sourceAddressPrefix", "sourceAddressPrefixes"),
    ("destinationAddressPrefix", "destinationAddressPrefixes"),
    ("sourcePortRange", "sourcePortRanges"),
    ("destinationPortRange", "destinationPortRanges"),
)
_DEFAULT_RULES: tuple[tuple[str, int, str, str, str, str, str], ...] = (
    ("AllowVnetInBound", 65000, "Inbound", "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow inbound traffic from all VMs in VNET"),
    ("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "AzureLoadBalancer", "*",
     "Allow inbound traffic from azure load balancer"),
    ("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*", "Deny all inbound traffic"),
    ("AllowVnetOutBound", 65000, "Outbound", "Allow", "VirtualNetwork", "VirtualNetwork",
     "Allow outbound traffic from all VMs to all VMs in VNET"),
    ("AllowInternetOutBound", 65001, "Outbound", "Allow", "*", "Internet",
     "Allow outbound traffic from all VMs to Internet"),
    ("DenyAllOutBound", 65500, "Outbound", "Deny", "*", "*", "Deny all outbound traffic"),
)


class ArmError(Exception):
    """An ARM error response: `{"error": {"code", "message", "details"}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.details = details or []

    def response(self) -> Response:
        body = {"error": {"code": self.code, "message": self.message, "details": self.details}}
        return json_error(self.status, body, self.headers)


def new_etag() -> str:
    """A weak ETag in the Network RP's form, `W/"<guid>"`."""
    return f'W/"{uuid.uuid4()}"'


@dataclass
class SecurityRule:
    name: str
    properties: dict[str, Any]
    etag: str = field(default_factory=new_etag)
    prefixes: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.prefixes = {side: _prefix_count(self.properties, side) for side in _SIDES}


@dataclass
class NetworkSecurityGroup:
    subscription: str
    resource_group: str
    name: str
    location: str
    rules: dict[str, SecurityRule] = field(default_factory=dict)
    etag: str = field(default_factory=new_etag)
    resource_guid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def id(self) -> str:
        return _NSG.format(
            subscription=self.subscription, resource_group=self.resource_group, nsg=self.name
        )


@dataclass
class Operation:
    id: str
    subscription: str
    location: str
    polls_left: int
    outcome: str = "Succeeded"
    error: dict[str, Any] | None = None
    started: float = field(default_factory=time.time)


def _key(*parts: str) -> str:
    return "/".join(p.lower() for p in parts)


def _rule_json(nsg: NetworkSecurityGroup, rule: SecurityRule, state: str = "Succeeded") -> dict[
    str, Any
]:
    return {
        "name": rule.name,
        "id": f"{nsg.id}/securityRules/{rule.name}",
        "etag": rule.etag,
        "type": "Microsoft.Network/networkSecurityGroups/securityRules",
        "properties": {"provisioningState": state, **rule.properties},
    }


def _default_rules_json(nsg: NetworkSecurityGroup) -> list[dict[str, Any]]:
    rules = []
    for name, priority, direction, access, source, destination, description in _DEFAULT_RULES:
        rules.append(
            {
                "name": name,
                "id": f"{nsg.id}/defaultSecurityRules/{name}",
                "etag": nsg.etag,
                "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                "properties": {
                    "provisioningState": "Succeeded",
                    "description": description,
                    "protocol": "*",
                    "sourcePortRange": "*",
                    "destinationPortRange": "*",
                    "sourceAddressPrefix": source,
                    "destinationAddressPrefix": destination,
                    "access": access,
                    "priority": priority,
                    "direction": direction,
                    "sourcePortRanges": [],
                    "destinationPortRanges": [],
                    "sourceAddressPrefixes": [],
                    "destinationAddressPrefixes": [],
                },
            }
        )
    return rules


# --- validation -----------------------------------------------------------------------------------


def _bad_format(detail: str) -> ArmError:
    return ArmError(
        400,
        "InvalidRequestFormat",
        "Cannot parse the request.",
        details=[{"code": "InvalidJson", "message": detail}],
    )


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        return False
    return True


def _is_service_tag(value: str) -> bool:
    lowered = value.lower()
    if lowered in _SERVICE_TAGS:
        return True
    base, _, region = lowered.partition(".")
    return bool(region) and base in _REGIONAL_TAGS and region.isalnum()


def _port_ok(value: str) -> bool:
    match = _PORT.match(value)
    if not match:
        return False
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) is not None else low
    return low <= high <= 65535


def _as_list(raw: Any, path: str) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(v, (str, int)) for v in raw):
        raise _bad_format(f"Error converting value to type 'IList<string>'. Path '{path}'.")
    return [str(v) for v in raw]


def _as_str(raw: Any, path: str) -> str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise _bad_format(f"Error converting value to type 'string'. Path '{path}'.")
    return str(raw)


def normalize_rule(rule_id: str, body: Any) -> dict[str, Any]:
    """The rule's properties as the Network RP stores them, or an `ArmError` as it refuses them."""
    if not isinstance(body, dict):
        raise _bad_format("The request body must be a JSON object.")
    props = body.get("properties")
    if not isinstance(props, dict):
        raise _bad_format("Required property 'properties' not found in JSON. Path ''.")
    out: dict[str, Any] = {}

    description = props.get("description")
    if description is not None:
        if not isinstance(description, str):
            raise _bad_format(
                "Error converting value to type 'string'. Path 'properties.description'."
            )
        if len(description) > DESCRIPTION_MAX:
            raise ArmError(
                400,
                "SecurityRuleDescriptionTooLong",
                f"Security rule {rule_id} has a description of {len(description)} characters; "
                f"at most {DESCRIPTION_MAX} are allowed.",
            )
        out["description"] = description

    for prop in ("protocol", "access", "direction"):
        raw = props.get(prop)
        if raw is None:
            raise ArmError(
                400,
                "SecurityRuleParameterMissing",
                f"Required security rule parameter {prop.capitalize()} is missing for security "
                f"rule with Id: {rule_id}.",
            )
        canonical = next(
            (v for v in _ENUMS[prop] if isinstance(raw, str) and v.lower() == raw.lower()), None
        )
        if canonical is None:
            raise _bad_format(
                f"Error converting value {raw!r} to type '{_ENUM_TYPES[prop]}'. "
                f"Path 'properties.{prop}'. Allowed: {', '.join(_ENUMS[prop])}."
            )
        out[prop] = canonical

    priority = props.get("priority", 0)
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise _bad_format(
            f"Could not convert {priority!r} to integer. Path 'properties.priority'."
        )
    if not PRIORITY_MIN <= priority <= PRIORITY_MAX:
        raise ArmError(
            400,
            "SecurityRuleInvalidPriority",
            f"Security rule has invalid Priority. Value provided: {priority} "
            f"Allowed range {PRIORITY_MIN}-{PRIORITY_MAX}.",
        )
    out["priority"] = priority

    for side in ("source", "destination"):
        title = side.capitalize()
        single = _as_str(props.get(f"{side}AddressPrefix"), f"properties.{side}AddressPrefix")
        many = _as_list(props.get(f"{side}AddressPrefixes"), f"properties.{side}AddressPrefixes")
        asgs = props.get(f"{side}ApplicationSecurityGroups") or []
        if single is None and not many and not asgs:
            raise ArmError(
                400,
                "SecurityRuleParametersMissing",
                f"Required security rule parameters are missing for security rule with Id: "
                f"{rule_id}. Security rule must specify {title}AddressPrefixes, "
                f"{title}AddressPrefix, or {title}ApplicationSecurityGroups.",
            )
        if single is not None and many:
            raise ArmError(
                400,
                "SecurityRuleParameterContainsMultipleValues",
                f"Security rule {rule_id} specifies both {title}AddressPrefix and "
                f"{title}AddressPrefixes; use one of them.",
            )
        if single is not None and not (
            single == "*" or _is_address(single) or _is_service_tag(single)
        ):
            raise _invalid_prefix(rule_id, single)
        for value in many:
            if value == "*" or _is_service_tag(value):
                raise ArmError(
                    400,
                    "SecurityRuleParameterContainsUnsupportedValue",
                    f"Security rule parameter {title}AddressPrefixes for rule with Id {rule_id} "
                    "cannot specify existing VIRTUALNETWORK, INTERNET, AZURELOADBALANCER, '*' or "
                    f"system tags. Unsupported value used: {value}.",
                )
            if not _is_address(value):
                raise _invalid_prefix(rule_id, value)
        if single is not None:
            out[f"{side}AddressPrefix"] = single
        out[f"{side}AddressPrefixes"] = many
        if asgs:
            out[f"{side}ApplicationSecurityGroups"] = asgs

        port = _as_str(props.get(f"{side}PortRange"), f"properties.{side}PortRange")
        ports = _as_list(props.get(f"{side}PortRanges"), f"properties.{side}PortRanges")
        if port is None and not ports:
            raise ArmError(
                400,
                "SecurityRuleParameterMissing",
                f"Required security rule parameter {title}PortRange is missing for security "
                f"rule with Id: {rule_id}.",
            )
        if port is not None and ports:
            raise ArmError(
                400,
                "SecurityRuleParameterContainsMultipleValues",
                f"Security rule {rule_id} specifies both {title}PortRange and "
                f"{title}PortRanges; use one of them.",
            )
        if port is not None and port != "*" and not _port_ok(port):
            raise _invalid_port(port)
        for value in ports:
            if value == "*":
                raise ArmError(
                    400,
                    "SecurityRuleParameterContainsUnsupportedValue",
                    f"Security rule parameter {title}PortRanges for rule with Id {rule_id} "
                    "cannot specify '*'. Unsupported value used: *.",
                )
            if not _port_ok(value):
                raise _invalid_port(value)
        if port is not None:
            out[f"{side}PortRange"] = port
        out[f"{side}PortRanges"] = ports
    return out


def _invalid_prefix(rule_id: str, value: str) -> ArmError:
    return ArmError(
        400,
        "SecurityRuleInvalidAddressPrefix",
        f"Security rule {rule_id} has invalid Address prefix. Value provided: {value}.",
    )


def _invalid_port(value: str) -> ArmError:
    return ArmError(
        400,
        "SecurityRuleInvalidPortRange",
        f"Security rule has invalid Port range. Value provided: {value}. Value should be an "
        "integer OR integer range with '-' delimiter. Valid range 0-65535.",
    )


def _prefix_count(props: dict[str, Any], side: str) -> int:
    """IP addresses and ranges on one side of a rule (`*` and service tags are not counted)."""
    single = props.get(f"{side}AddressPrefix")
    extra = 1 if single is not None and _is_address(single) else 0
    return len(props.get(f"{side}AddressPrefixes", [])) + extra


# --- the emulator ---------------------------------------------------------------------------------


class ArmEmulator(Emulator):
    """Resource Manager for `Microsoft.Network/networkSecurityGroups/*/securityRules`."""

    name = "arm"
    VARIANTS: ClassVar[dict[str, Variant]] = {
        "if_match": Variant(
            ("enforced", "ignored"),
            source=(
                "Whether the Network RP honours If-Match / If-None-Match on securityRules PUT and "
                "DELETE. enforced: the ARM resource provider contract (Azure/azure-resource-manager"
                "-rpc, 'ETags for resources': a mismatching If-Match is 412 Precondition Failed) "
                "and the securityRules model's read-only etag. ignored: the Network REST API spec "
                "for SecurityRules_CreateOrUpdate / _Delete (azure-rest-api-specs, network.json "
                "securityRules) declares no If-Match parameter, and azure-mgmt-network 33.1.0 "
                "offers none (headers= only); the vendor notes call it UNVERIFIED."
            ),
        ),
        "another_operation": Variant(
            (
                "429-AnotherOperationInProgress",
                "409-AnotherOperationInProgress",
                "429-RetryableError",
                "failed-operation",
            ),
            source=(
                "What a write meets while another operation holds the NSG (the fault "
                "`another_operation`). 429 AnotherOperationInProgress: the Network RP's code and "
                "message ('Another operation on this or dependent resource is in progress. To "
                "retrieve status of the operation use uri: .../operations/<id>') as quoted in "
                "pulumi/pulumi-azure-native#699 and hashicorp/terraform-provider-azurerm#4285. 409: "
                "'unexpected status 409 (409 Conflict) with error: AnotherOperationInProgress' "
                "(Azure/sap-automation#1052). 429 RetryableError with detail "
                "ReferencedResourceNotProvisioned ('... is not in Succeeded state. Resource is in "
                "Updating state and the last operation that updated/is updating the resource is "
                "PutSecurityRuleOperation.', hashicorp/terraform#7986). failed-operation: the write "
                "is accepted and its operation ends Failed with code AnotherOperationInProgress "
                "(Azure/bicep#5132)."
            ),
        ),
    }

    def reset(self) -> None:
        seed = self.seed or {}
        self.token: str = str(seed.get("token") or DEFAULT_TOKEN)
        self.page_size = int(seed.get("page_size", 50))
        self.max_rules = int(seed.get("max_rules", MAX_RULES_PER_NSG))
        self.max_prefixes = int(seed.get("max_prefixes", MAX_PREFIXES_PER_NSG))
        lro = seed.get("lro") or {}
        self.polls_in_progress = int(lro.get("polls_in_progress", 1))
        self.retry_after_s = int(lro.get("retry_after_s", 0))
        self.retry_after_ms = int(lro.get("retry_after_ms", 20))
        self.nsgs: dict[str, NetworkSecurityGroup] = {}
        self.operations: dict[str, Operation] = {}
        for spec in seed.get("network_security_groups") or []:
            match = _NSG_ID.match(str(spec.get("id", "")))
            if not match:
                raise ValueError(f"arm seed: NSG id {spec.get('id')!r} is not an NSG resource id")
            nsg = NetworkSecurityGroup(
                subscription=match["subscription"],
                resource_group=match["resource_group"],
                name=match["nsg"],
                location=str(spec.get("location", "eastus")),
            )
            for raw in spec.get("security_rules") or []:
                rule_id = f"{nsg.id}/securityRules/{raw['name']}"
                try:
                    props = normalize_rule(rule_id, {"properties": raw.get("properties")})
                    self._check_collection(nsg, raw["name"], props)
                except ArmError as exc:
                    raise ValueError(f"arm seed: rule {rule_id}: {exc}") from None
                nsg.rules[raw["name"].lower()] = SecurityRule(name=raw["name"], properties=props)
            self.nsgs[_key(nsg.subscription, nsg.resource_group, nsg.name)] = nsg

    def state(self) -> dict[str, Any]:
        return {
            "network_security_groups": {
                nsg.id: {
                    "etag": nsg.etag,
                    "location": nsg.location,
                    "security_rules": [_rule_json(nsg, r) for r in nsg.rules.values()],
                }
                for nsg in self.nsgs.values()
            },
            "operations": {
                op.id: {"polls_left": op.polls_left, "outcome": op.outcome}
                for op in self.operations.values()
            },
        }

    def routes(self) -> list[BaseRoute]:
        rules = _NSG + "/securityRules"
        defaults = _NSG + "/defaultSecurityRules"
        return [
            Route("/_sandbox/arm/edit-rule", self.edit_rule, methods=["POST"]),
            Route(_NSG, self.get_nsg, methods=["GET"]),
            Route(rules, self.list_rules, methods=["GET"]),
            Route(rules + "/{rule}", self.get_rule, methods=["GET"]),
            Route(rules + "/{rule}", self.put_rule, methods=["PUT"]),
            Route(rules + "/{rule}", self.delete_rule, methods=["DELETE"]),
            Route(defaults, self.list_default_rules, methods=["GET"]),
            Route(defaults + "/{rule}", self.get_default_rule, methods=["GET"]),
            Route(_OPERATIONS + "/operations/{operation}", self.get_operation, methods=["GET"]),
            Route(
                _OPERATIONS + "/operationResults/{operation}",
                self.get_operation_result,
                methods=["GET"],
            ),
        ]

    # --- request plumbing -------------------------------------------------------------------------

    def _authorize(self, request: Request) -> str:
        """Check the bearer token and `api-version`; return the api-version."""
        header = request.headers.get("authorization")
        if not header:
            raise ArmError(
                401,
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing.",
                headers={
                    "WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", '
                    'error="invalid_token", error_description="The authentication failed because '
                    "of missing 'Authorization' header.\""
                },
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token:
            raise ArmError(
                401,
                "InvalidAuthenticationToken",
                "The access token is invalid.",
                headers={
                    "WWW-Authenticate": 'Bearer authorization_uri="https://login.windows.net/", '
                    'error="invalid_token", error_description="The access token is invalid."'
                },
            )
        version = request.query_params.get("api-version")
        if not version:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if not _API_VERSION.match(version):
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are dates such "
                "as '2026-03-01'.",
            )
        return version

    def _nsg(self, request: Request) -> NetworkSecurityGroup:
        p = request.path_params
        nsg = self.nsgs.get(_key(p["subscription"], p["resource_group"], p["nsg"]))
        if nsg is not None:
            return nsg
        if not any(n.subscription.lower() == p["subscription"].lower() for n in self.nsgs.values()):
            raise ArmError(
                404,
                "SubscriptionNotFound",
                f"The subscription '{p['subscription']}' could not be found.",
            )
        if not any(
            _key(n.subscription, n.resource_group) == _key(p["subscription"], p["resource_group"])
            for n in self.nsgs.values()
        ):
            raise ArmError(
                404,
                "ResourceGroupNotFound",
                f"Resource group '{p['resource_group']}' could not be found.",
            )
        raise ArmError(
            404,
            "ResourceNotFound",
            f"The Resource 'Microsoft.Network/networkSecurityGroups/{p['nsg']}' under resource "
            f"group '{p['resource_group']}' was not found. For more details please go to "
            "https://aka.ms/ARMResourceNotFoundFix",
        )

    def _lro_headers(self) -> dict[str, str]:
        if self.retry_after_s > 0:
            return {"Retry-After": str(self.retry_after_s)}
        if self.retry_after_ms > 0:
            return {"retry-after-ms": str(self.retry_after_ms)}
        return {}

    def _operation_urls(
        self, request: Request, nsg: NetworkSecurityGroup, op: Operation, version: str
    ) -> tuple[str, str]:
        base = str(request.base_url).rstrip("/") + _OPERATIONS.format(
            subscription=nsg.subscription, location=nsg.location
        )
        return (
            f"{base}/operations/{op.id}?api-version={version}",
            f"{base}/operationResults/{op.id}?api-version={version}",
        )

    def _new_operation(self, nsg: NetworkSecurityGroup) -> Operation:
        op = Operation(
            id=str(uuid.uuid4()),
            subscription=nsg.subscription,
            location=nsg.location,
            polls_left=self.polls_in_progress,
        )
        self.operations[op.id] = op
        return op

    def _check_busy(
        self, request: Request, nsg: NetworkSecurityGroup, version: str
    ) -> dict[str, Any] | None:
        """Raise the busy answer of the variant in force when an `another_operation` fault
        applies; for `failed-operation`, return the error the accepted write's operation ends in."""
        fault = self.faults.take("another_operation", request.url.path, request.method)
        if fault is None:
            return None
        op = self._new_operation(nsg)
        status_url, _ = self._operation_urls(request, nsg, op, version)
        message = (
            "Another operation on this or dependent resource is in progress. To retrieve status "
            f"of the operation use uri: {status_url}."
        )
        headers = fault.headers or {"Retry-After": "1"}
        answer = self.variant("another_operation")
        if answer == "failed-operation":
            return {"code": "AnotherOperationInProgress", "message": message}
        if answer == "429-RetryableError":
            raise ArmError(
                fault.status or 429,
                "RetryableError",
                "A retryable error occurred.",
                headers=headers,
                details=[{
                    "code": "ReferencedResourceNotProvisioned",
                    "message": f"Cannot proceed with operation because resource {nsg.id} used by "
                    f"resource {request.url.path} is not in Succeeded state. Resource is in "
                    "Updating state and the last operation that updated/is updating the resource "
                    "is PutSecurityRuleOperation.",
                }],
            )
        status = 409 if answer.startswith("409") else 429
        raise ArmError(
            fault.status or status, "AnotherOperationInProgress", message, headers=headers
        )

    def _failed_operation(
        self, request: Request, busy: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The error an accepted write's operation ends in (busy, or an `operation_failed`
        fault), or None when it succeeds."""
        if busy is not None:
            return busy
        fault = self.faults.take("operation_failed", request.url.path, request.method)
        if fault is None:
            return None
        verb = "deleting" if request.method == "DELETE" else "updating"
        return {
            "code": str(fault.params.get("code", "InternalServerError")),
            "message": str(fault.params.get("message", f"An error occurred while {verb}.")),
        }

    def _check_collection(
        self, nsg: NetworkSecurityGroup, name: str, props: dict[str, Any]
    ) -> None:
        """Priority uniqueness per direction and the per-NSG limits, as if `props` were saved."""
        key = name.lower()
        slot = (props["priority"], props["direction"])
        count = 1
        totals = {side: _prefix_count(props, side) for side in _SIDES}
        for other_key, other in nsg.rules.items():
            if other_key == key:
                continue
            if (other.properties["priority"], other.properties["direction"]) == slot:
                raise ArmError(
                    400,
                    "SecurityRuleConflict",
                    f"Security rule {other.name} conflicts with rule {name}. Rules cannot have the "
                    "same Priority and Direction. To learn more, see aka.ms/nsgrules.",
                )
            count += 1
            totals["source"] += other.prefixes["source"]
            totals["destination"] += other.prefixes["destination"]
        if count > self.max_rules:
            raise ArmError(
                400,
                "SecurityRuleCountLimitReached",
                f"A security group cannot have more than {self.max_rules} security rules.",
            )
        for side, total in totals.items():
            label = f"{side.capitalize()}AddressPrefixes"
            if total > self.max_prefixes:
                raise ArmError(
                    400,
                    "SecurityRuleAddressesOrPortsPerSecurityGroupLimitReached",
                    f"Network security group {nsg.id} has {total} {label}. A security group "
                    f"cannot have more than {self.max_prefixes} {label} as per the limit "
                    "MaxSecurityRuleAddressesOrPortsPerSecurityGroup.",
                )

    # --- vendor routes ----------------------------------------------------------------------------

    async def get_nsg(self, request: Request) -> Response:
        try:
            self._authorize(request)
            with self.lock:
                nsg = self._nsg(request)
                return JSONResponse(
                    {
                        "name": nsg.name,
                        "id": nsg.id,
                        "etag": nsg.etag,
                        "type": "Microsoft.Network/networkSecurityGroups",
                        "location": nsg.location,
                        "properties": {
                            "provisioningState": "Succeeded",
                            "resourceGuid": nsg.resource_guid,
                            "securityRules": [_rule_json(nsg, r) for r in nsg.rules.values()],
                            "defaultSecurityRules": _default_rules_json(nsg),
                        },
                    }
                )
        except ArmError as exc:
            return exc.response()

    async def list_rules(self, request: Request) -> Response:
        try:
            version = self._authorize(request)
            with self.lock:
                nsg = self._nsg(request)
                items = [_rule_json(nsg, r) for r in nsg.rules.values()]
            return self._page(request, items, version)
        except ArmError as exc:
            return exc.response()

    async def list_default_rules(self, request: Request) -> Response:
        try:
            version = self._authorize(request)
            with self.lock:
                items = _default_rules_json(self._nsg(request))
            return self._page(request, items, version)
        except ArmError as exc:
            return exc.response()

    def _page(self, request: Request, items: list[dict[str, Any]], version: str) -> Response:
        token = request.query_params.get("$skiptoken")
        start = 0
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode())
            except (ValueError, binascii.Error):
                raise ArmError(
                    400, "InvalidSkipToken", f"The skip token '{token}' is not valid."
                ) from None
        page = items[start : start + self.page_size]
        body: dict[str, Any] = {"value": page}
        if start + self.page_size < len(items):
            next_token = base64.urlsafe_b64encode(str(start + self.page_size).encode()).decode()
            base = str(request.base_url).rstrip("/") + request.url.path
            body["nextLink"] = f"{base}?api-version={version}&$skiptoken={next_token}"
        return JSONResponse(body)

    async def get_rule(self, request: Request) -> Response:
        try:
            self._authorize(request)
            with self.lock:
                nsg = self._nsg(request)
                rule = nsg.rules.get(request.path_params["rule"].lower())
                if rule is None:
                    raise self._rule_not_found(nsg, request.path_params["rule"])
                return JSONResponse(_rule_json(nsg, rule))
        except ArmError as exc:
            return exc.response()

    async def get_default_rule(self, request: Request) -> Response:
        try:
            self._authorize(request)
            with self.lock:
                nsg = self._nsg(request)
                wanted = request.path_params["rule"].lower()
                for rule in _default_rules_json(nsg):
                    if rule["name"].lower() == wanted:
                        return JSONResponse(rule)
                raise ArmError(
                    404,
                    "NotFound",
                    f"Resource {nsg.id}/defaultSecurityRules/{request.path_params['rule']} "
                    "not found.",
                )
        except ArmError as exc:
            return exc.response()

    @staticmethod
    def _rule_not_found(nsg: NetworkSecurityGroup, name: str) -> ArmError:
        return ArmError(404, "NotFound", f"Resource {nsg.id}/securityRules/{name} not found.")

    def _check_preconditions(self, request: Request, current: SecurityRule | None) -> None:
        if self.variant("if_match") == "ignored":
            return
        if_match = request.headers.get("if-match")
        if if_match is not None:
            tags = {t.strip() for t in if_match.split(",")}
            if current is None or ("*" not in tags and current.etag not in tags):
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    "Precondition failed: the If-Match ETag "
                    f"{if_match} does not match the current ETag "
                    f"{current.etag if current else '(resource does not exist)'}.",
                )
        if_none_match = request.headers.get("if-none-match")
        if if_none_match is not None and current is not None:
            tags = {t.strip() for t in if_none_match.split(",")}
            if "*" in tags or current.etag in tags:
                raise ArmError(
                    412,
                    "PreconditionFailed",
                    f"Precondition failed: If-None-Match {if_none_match} but the resource exists "
                    f"with ETag {current.etag}.",
                )

    async def put_rule(self, request: Request) -> Response:
        try:
            version = self._authorize(request)
            raw = await request.body()
            name = request.path_params["rule"]
            with self.lock:
                nsg = self._nsg(request)
                rule_id = f"{nsg.id}/securityRules/{name}"
                if not _RULE_NAME.match(name):
                    raise ArmError(
                        400,
                        "InvalidResourceName",
                        f"Resource name {name} is invalid. The name can be up to 80 characters "
                        "long. It must begin with a word character, and it must end with a word "
                        "character or with '_'. The name may contain word characters or '.', '-', "
                        "'_'.",
                    )
                try:
                    body = parse_json_body(raw)
                except ValueError as exc:
                    raise _bad_format(str(exc)) from None
                current = nsg.rules.get(name.lower())
                self._check_preconditions(request, current)
                busy = self._check_busy(request, nsg, version)
                props = normalize_rule(rule_id, body)
                self._check_collection(nsg, name, props)
                op = self._new_operation(nsg)
                failed = self._failed_operation(request, busy)
                stored_name = current.name if current else name
                rule = SecurityRule(name=stored_name, properties=props)
                if failed is None:
                    nsg.rules[name.lower()] = rule
                    nsg.etag = new_etag()
                else:
                    op.outcome = "Failed"
                    op.error = failed
                status_url, _ = self._operation_urls(request, nsg, op, version)
                return JSONResponse(
                    _rule_json(nsg, rule, state="Updating"),
                    status_code=200 if current else 201,
                    headers={"Azure-AsyncOperation": status_url, **self._lro_headers()},
                )
        except ArmError as exc:
            return exc.response()

    async def delete_rule(self, request: Request) -> Response:
        try:
            version = self._authorize(request)
            name = request.path_params["rule"]
            with self.lock:
                nsg = self._nsg(request)
                current = nsg.rules.get(name.lower())
                if current is None:
                    if request.headers.get("if-match") is not None:
                        self._check_preconditions(request, None)
                    return Response(status_code=204)
                self._check_preconditions(request, current)
                busy = self._check_busy(request, nsg, version)
                op = self._new_operation(nsg)
                failed = self._failed_operation(request, busy)
                if failed is None:
                    del nsg.rules[name.lower()]
                    nsg.etag = new_etag()
                else:
                    op.outcome = "Failed"
                    op.error = failed
                status_url, result_url = self._operation_urls(request, nsg, op, version)
                return Response(
                    status_code=202,
                    headers={
                        "Azure-AsyncOperation": status_url,
                        "Location": result_url,
                        **self._lro_headers(),
                    },
                )
        except ArmError as exc:
            return exc.response()

    def _poll(self, request: Request) -> tuple[Operation, str]:
        self._authorize(request)
        op = self.operations.get(request.path_params["operation"])
        if op is None or op.subscription.lower() != request.path_params["subscription"].lower():
            raise ArmError(
                404, "NotFound", f"Operation {request.path_params['operation']} was not found."
            )
        if op.polls_left > 0:
            op.polls_left -= 1
            return op, "InProgress"
        return op, op.outcome

    async def get_operation(self, request: Request) -> Response:
        try:
            with self.lock:
                op, status = self._poll(request)
            body: dict[str, Any] = {
                "name": op.id,
                "status": status,
                "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(op.started)),
            }
            if status == "Failed" and op.error:
                body["error"] = op.error
            headers = self._lro_headers() if status == "InProgress" else {}
            return JSONResponse(body, headers=headers)
        except ArmError as exc:
            return exc.response()

    async def get_operation_result(self, request: Request) -> Response:
        try:
            with self.lock:
                op, status = self._poll(request)
            if status == "InProgress":
                return Response(
                    status_code=202,
                    headers={"Location": str(request.url), **self._lro_headers()},
                )
            if status == "Failed":
                error = op.error or {"code": "InternalServerError", "message": "Operation failed."}
                raise ArmError(400, str(error["code"]), str(error["message"]))
            return Response(status_code=204)
        except ArmError as exc:
            return exc.response()

    # --- sandbox control --------------------------------------------------------------------------

    async def edit_rule(self, request: Request) -> Response:
        """A change made by hand in the portal: merge `properties` into the rule, or delete it."""
        try:
            spec = parse_json_body(await request.body())
            if not isinstance(spec, dict) or not spec.get("nsg") or not spec.get("rule"):
                raise ValueError(
                    'expected {"nsg": <id or name>, "rule": name, "properties"|"delete"}'
                )
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        with self.lock:
            wanted = str(spec["nsg"]).lower()
            matches = [n for n in self.nsgs.values() if wanted in (n.id.lower(), n.name.lower())]
            if len(matches) != 1:
                return JSONResponse(
                    {"error": f"NSG {spec['nsg']!r} matches {len(matches)} NSGs"}, status_code=404
                )
            nsg = matches[0]
            name = str(spec["rule"])
            current = nsg.rules.get(name.lower())
            if spec.get("delete"):
                if current is None:
                    return JSONResponse({"error": f"no rule {name!r}"}, status_code=404)
                del nsg.rules[name.lower()]
                nsg.etag = new_etag()
                return JSONResponse({"deleted": f"{nsg.id}/securityRules/{current.name}"})
            edit = dict(spec.get("properties") or {})
            merged = dict(current.properties if current else {})
            for one, many in _PAIRS:
                if (one in edit) != (many in edit):
                    merged.pop(many if one in edit else one, None)
            merged.update(edit)
            try:
                props = normalize_rule(f"{nsg.id}/securityRules/{name}", {"properties": merged})
                self._check_collection(nsg, name, props)
            except ArmError as exc:
                return exc.response()
            rule = SecurityRule(name=current.name if current else name, properties=props)
            nsg.rules[name.lower()] = rule
            nsg.etag = new_etag()
            return JSONResponse({"rule": _rule_json(nsg, rule)})
