"""The Genesys Cloud objects the emulator keeps, and their wire form (SDK model field names)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import phonenumbers

from sandbox.genesys_wire import iso_time, ref

EDGES = "/api/v2/telephony/providers/edges"


@dataclass(kw_only=True)
class Entity:
    """Fields every versioned Genesys entity has."""

    id: str
    name: str
    version: int = 1
    created_at: float
    modified_at: float
    state: str = "active"
    created_by: str = ""
    modified_by: str = ""

    @property
    def self_uri(self) -> str:
        raise NotImplementedError

    def touch(self, at: float, by: str) -> None:
        """A write: bump `version`, as Genesys does on every change."""
        self.version += 1
        self.modified_at = at
        self.modified_by = by

    def base_json(self, *, audit: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name}
        out["version"] = self.version
        out["dateCreated"] = iso_time(self.created_at)
        out["dateModified"] = iso_time(self.modified_at)
        if audit:
            out["createdBy"] = self.created_by
            out["modifiedBy"] = self.modified_by
        out["state"] = self.state
        return out

    def ref(self) -> dict[str, Any]:
        return ref(self.id, self.name, self.self_uri)


@dataclass(frozen=True)
class Division:
    id: str
    name: str

    def to_json(self) -> dict[str, Any]:
        return ref(self.id, self.name, f"/api/v2/authorization/divisions/{self.id}")


@dataclass(kw_only=True)
class DidPool(Entity):
    start: str
    end: str
    description: str | None = None
    comments: str | None = None
    provider: str = "PURE_CLOUD"
    deleted_at: float | None = None
    range_changed_at: float | None = None

    @property
    def self_uri(self) -> str:
        return f"{EDGES}/didpools/{self.id}"

    @property
    def size(self) -> int:
        return int(self.end[1:]) - int(self.start[1:]) + 1

    def covers(self, number: str) -> bool:
        return (
            self.state != "deleted"
            and len(number) == len(self.start)
            and self.start <= number <= self.end
        )

    def numbers(self) -> range:
        return range(int(self.start[1:]), int(self.end[1:]) + 1)

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        if self.description is not None:
            out["description"] = self.description
        out["startPhoneNumber"] = self.start
        out["endPhoneNumber"] = self.end
        if self.comments is not None:
            out["comments"] = self.comments
        out["provider"] = self.provider
        out["selfUri"] = self.self_uri
        return out


@dataclass(kw_only=True)
class Flow(Entity):
    type: str = "INBOUNDCALL"
    description: str | None = None
    division: Division

    @property
    def self_uri(self) -> str:
        return f"/api/v2/flows/{self.id}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "division": self.division.to_json(),
        }
        if self.description is not None:
            out["description"] = self.description
        out["type"] = self.type
        out["active"] = self.state == "active"
        out["system"] = False
        out["deleted"] = False
        out["publishedVersion"] = {
            "id": f"{self.version}.0",
            "name": f"{self.version}.0",
            "type": "PUBLISH",
            "datePublished": iso_time(self.modified_at),
            "selfUri": f"{self.self_uri}/versions/{self.version}.0",
        }
        out["selfUri"] = self.self_uri
        return out


@dataclass(kw_only=True)
class ScheduleGroup(Entity):
    @property
    def self_uri(self) -> str:
        return f"/api/v2/architect/schedulegroups/{self.id}"


@dataclass(kw_only=True)
class Ivr(Entity):
    dnis: list[str] = field(default_factory=list)
    description: str | None = None
    division: Division
    open_hours_flow: Flow | None = None
    closed_hours_flow: Flow | None = None
    holiday_hours_flow: Flow | None = None
    schedule_group: ScheduleGroup | None = None

    @property
    def self_uri(self) -> str:
        return f"/api/v2/architect/ivrs/{self.id}"

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        out["division"] = self.division.to_json()
        if self.description is not None:
            out["description"] = self.description
        out["dnis"] = list(self.dnis)
        for key, target in (
            ("openHoursFlow", self.open_hours_flow),
            ("closedHoursFlow", self.closed_hours_flow),
            ("holidayHoursFlow", self.holiday_hours_flow),
            ("scheduleGroup", self.schedule_group),
        ):
            if target is not None:
                out[key] = target.ref()
        out["selfUri"] = self.self_uri
        return out


def contact_json(contact: dict[str, Any]) -> dict[str, Any]:
    """A stored `Contact` as GET returns it: phone numbers gain `countryCode`, and `display`
    unless one was written."""
    out = {k: v for k, v in contact.items() if v is not None}
    address = out.get("address")
    if out.get("mediaType") == "PHONE" and isinstance(address, str):
        try:
            parsed = phonenumbers.parse(address)
        except phonenumbers.NumberParseException:
            return out
        out.setdefault("display", phonenumbers.format_number(
            parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL
        ))
        region = phonenumbers.region_code_for_number(parsed)
        if region:
            out["countryCode"] = region
    return out


@dataclass(kw_only=True)
class User(Entity):
    email: str
    username: str
    division: Division
    department: str | None = None
    title: str | None = None
    addresses: list[dict[str, Any]] = field(default_factory=list)

    @property
    def self_uri(self) -> str:
        return f"/api/v2/users/{self.id}"

    def phone_addresses(self) -> list[str]:
        return [
            str(c["address"])
            for c in self.addresses
            if c.get("mediaType") == "PHONE" and c.get("address")
        ]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "division": self.division.to_json(),
        }
        out["chat"] = {"jabberId": f"{self.id[:24]}@byoc-sandbox.orgspan.com"}
        if self.department is not None:
            out["department"] = self.department
        out["email"] = self.email
        out["primaryContactInfo"] = [
            {"address": self.email, "mediaType": "EMAIL", "type": "PRIMARY"}
        ]
        out["addresses"] = [contact_json(c) for c in self.addresses]
        out["state"] = self.state
        if self.title is not None:
            out["title"] = self.title
        out["username"] = self.username
        out["version"] = self.version
        out["acdAutoAnswer"] = False
        out["selfUri"] = self.self_uri
        return out


@dataclass(kw_only=True)
class Site(Entity):
    media_model: str = "Cloud"
    description: str | None = None
    managed: bool = False
    number_plans: list[dict[str, Any]] = field(default_factory=list)

    @property
    def self_uri(self) -> str:
        return f"{EDGES}/sites/{self.id}"

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        if self.description is not None:
            out["description"] = self.description
        out["managed"] = self.managed
        out["mediaModel"] = self.media_model
        out["coreSite"] = False
        out["selfUri"] = self.self_uri
        return out


@dataclass(kw_only=True)
class TrunkBase(Entity):
    metabase_id: str
    metabase_name: str
    trunk_type: str = "EXTERNAL"
    properties: dict[str, Any] = field(default_factory=dict)
    managed: bool = False
    description: str | None = None
    site: Site | None = None
    inbound_site: Site | None = None

    @property
    def self_uri(self) -> str:
        return f"{EDGES}/trunkbasesettings/{self.id}"

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        if self.description is not None:
            out["description"] = self.description
        out["trunkMetabase"] = ref(
            self.metabase_id,
            self.metabase_name,
            f"{EDGES}/trunkbasesettings/availablemetabases/{self.metabase_id}",
        )
        out["properties"] = self.properties
        out["trunkType"] = self.trunk_type
        out["managed"] = self.managed
        if self.site is not None:
            out["site"] = self.site.ref()
        if self.inbound_site is not None:
            out["inboundSite"] = self.inbound_site.ref()
        out["selfUri"] = self.self_uri
        return out


@dataclass
class ProxyStatus:
    """One SIP proxy of a trunk and the result of its last SIP OPTIONS ping."""

    proxy_address: str
    option_state: bool
    state_time: float
    error_text: str | None = None
    error_code: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "proxyAddress": self.proxy_address,
            "optionState": self.option_state,
            "optionStateTime": iso_time(self.state_time),
        }
        if not self.option_state and (self.error_text or self.error_code):
            out["errorInfo"] = {
                "text": self.error_text or "",
                "code": self.error_code or "",
                "details": {
                    "code": self.error_code or "",
                    "message": self.error_text or "",
                    "hostname": self.proxy_address,
                },
            }
        return out


@dataclass(kw_only=True)
class Trunk(Entity):
    trunk_base: TrunkBase
    edge_group_id: str
    in_service: bool = True
    enabled: bool = True
    connected: bool = True
    connected_at: float
    proxies: list[ProxyStatus] = field(default_factory=list)
    inbound_calls: int = 0
    outbound_calls: int = 0

    @property
    def self_uri(self) -> str:
        return f"{EDGES}/trunks/{self.id}"

    def to_json(self) -> dict[str, Any]:
        out = self.base_json()
        out["trunkType"] = self.trunk_base.trunk_type
        out["trunkBase"] = self.trunk_base.ref()
        out["trunkMetabase"] = {
            "id": self.trunk_base.metabase_id,
            "name": self.trunk_base.metabase_name,
        }
        out["edgeGroup"] = ref(
            self.edge_group_id, "BYOC Cloud", f"{EDGES}/edgegroups/{self.edge_group_id}"
        )
        out["inService"] = self.in_service
        out["enabled"] = self.enabled
        out["connectedStatus"] = {
            "connected": self.connected,
            "connectedStateTime": iso_time(self.connected_at),
        }
        out["optionsStatus"] = [p.to_json() for p in self.proxies]
        out["optionsEnabledStatus"] = "ENABLED"
        out["registersEnabledStatus"] = "NOT_SUPPORTED"
        out["family"] = 2
        out["proxyAddressList"] = [p.proxy_address for p in self.proxies]
        out["selfUri"] = self.self_uri
        return out

    def metrics_json(self, at: float) -> dict[str, Any]:
        """A `TrunkMetrics` snapshot."""
        return {
            "eventTime": iso_time(at),
            "trunk": self.ref(),
            "calls": {
                "inboundCallCount": self.inbound_calls,
                "outboundCallCount": self.outbound_calls,
            },
            "qos": {"mismatchCount": 0},
        }


@dataclass(kw_only=True)
class OutboundRoute(Entity):
    site: Site
    classification_types: list[str]
    enabled: bool = True
    distribution: str = "SEQUENTIAL"
    description: str | None = None
    external_trunk_bases: list[TrunkBase] = field(default_factory=list)

    @property
    def self_uri(self) -> str:
        return f"{EDGES}/sites/{self.site.id}/outboundroutes/{self.id}"

    def to_json(self, *, with_site: bool = False) -> dict[str, Any]:
        out = self.base_json()
        if self.description is not None:
            out["description"] = self.description
        out["classificationTypes"] = list(self.classification_types)
        out["enabled"] = self.enabled
        out["distribution"] = self.distribution
        out["externalTrunkBases"] = [t.ref() for t in self.external_trunk_bases]
        if with_site:
            out["site"] = {
                "id": self.site.id,
                "name": self.site.name,
                "selfUri": self.site.self_uri,
            }
            out["managed"] = False
        out["selfUri"] = self.self_uri
        return out
