"""Build the emulated Genesys Cloud org from its seed (sandbox/seeds/genesys.yaml).

Seeded objects go through the same rules as API writes (E.164, no overlap, a routed number lies in
a pool and has one owner), so a seed the real API would refuse fails loudly at start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.genesys_entities import (
    Division,
    Flow,
    ProxyStatus,
    ScheduleGroup,
    Site,
    Trunk,
    TrunkBase,
)
from sandbox.genesys_org import GenesysOrg, OrgRules
from sandbox.genesys_wire import GenesysError, stable_id

SEED_KEYS = {
    "org",
    "variants",
    "oauth_client",
    "rate_limit_per_minute",
    "rate_limit_retry_after",
    "max_page_size",
    "version_mismatch_status",
    "pool_delete_lag_s",
    "notifications",
    "eventual_consistency_window_s",
    "max_dnis_added_per_write",
    "sites",
    "trunk_bases",
    "trunks",
    "flows",
    "schedule_groups",
    "did_pools",
    "ivrs",
    "users",
    "outbound_routes",
    "ip_ranges",
}


SEEDED_AGE_S = 86_400.0
"""Seeded objects were made a day ago: none is "fresh" for the eventual-consistency fault."""


class GenesysSeedError(ValueError):
    """The Genesys seed describes something the emulated API would not hold."""


@dataclass(frozen=True)
class GenesysSettings:
    """Emulator behaviour that is not org data."""

    org_id: str
    org_name: str
    client_id: str
    client_secret: str
    token_lifetime_s: float = 86_400
    rate_limit_per_minute: int = 300
    rate_limit_retry_after: bool = True
    max_page_size: int = 100
    eventual_consistency_window_s: float = 60.0
    ip_ranges: list[dict[str, str]] = field(default_factory=list)


def settings_from_seed(seed: dict[str, Any]) -> tuple[GenesysSettings, OrgRules]:
    unknown = set(seed) - SEED_KEYS
    if unknown:
        raise GenesysSeedError(f"genesys seed: unknown keys {sorted(unknown)}")
    org = seed.get("org") or {}
    client = seed.get("oauth_client") or {}
    if not client.get("client_id") or not client.get("client_secret"):
        raise GenesysSeedError("genesys seed: oauth_client needs client_id and client_secret")
    mismatch = seed.get("version_mismatch_status") or {}
    for kind, status in mismatch.items():
        if kind not in ("ivr", "user") or status not in (400, 409):
            raise GenesysSeedError(
                f"genesys seed: version_mismatch_status.{kind} must be 400 or 409 (ivr, user)"
            )
    settings = GenesysSettings(
        org_id=str(org.get("id") or stable_id("org", str(org.get("name", "sandbox")))),
        org_name=str(org.get("name") or "byoc-sandbox"),
        client_id=str(client["client_id"]),
        client_secret=str(client["client_secret"]),
        token_lifetime_s=float(client.get("token_lifetime_s", 86_400)),
        rate_limit_per_minute=int(seed.get("rate_limit_per_minute", 300)),
        rate_limit_retry_after=bool(seed.get("rate_limit_retry_after", True)),
        max_page_size=int(seed.get("max_page_size", 100)),
        eventual_consistency_window_s=float(seed.get("eventual_consistency_window_s", 60)),
        ip_ranges=list(seed.get("ip_ranges") or []),
    )
    rules = OrgRules(
        ivr_version_mismatch_status=int(mismatch.get("ivr", 409)),
        user_version_mismatch_status=int(mismatch.get("user", 400)),
        max_dnis_added_per_write=int(seed.get("max_dnis_added_per_write", 50)),
        pool_delete_lag_s=float(seed.get("pool_delete_lag_s", 5.0)),
    )
    return settings, rules


def _by_name(table: dict[str, Any], kind: str, name: str | None) -> Any:
    if name is None:
        return None
    for entity in table.values():
        if entity.name == name or entity.id == name:
            return entity
    raise GenesysSeedError(f"genesys seed: no {kind} named {name!r}")


def _ref(table: dict[str, Any], kind: str, name: str | None) -> dict[str, str] | None:
    entity = _by_name(table, kind, name)
    return None if entity is None else {"id": entity.id}


def build_org(seed: dict[str, Any], rules: OrgRules, actor: str, now: float) -> GenesysOrg:
    """The org the seed describes."""
    org_seed = seed.get("org") or {}
    division_seed = org_seed.get("home_division") or {}
    division = Division(
        id=str(division_seed.get("id") or stable_id("division", "Home")),
        name=str(division_seed.get("name") or "Home"),
    )
    org = GenesysOrg(rules, division, actor)
    now -= SEEDED_AGE_S
    stamp = {"created_at": now, "modified_at": now, "created_by": actor, "modified_by": actor}
    try:
        _seed_telephony(org, seed, stamp, now)
        _seed_routing(org, seed, stamp, now)
    except GenesysError as exc:
        raise GenesysSeedError(f"genesys seed refused by the API rules: {exc.message}") from exc
    return org


def _seed_telephony(
    org: GenesysOrg, seed: dict[str, Any], stamp: dict[str, Any], now: float
) -> None:
    for raw in seed.get("sites") or []:
        site = Site(
            id=str(raw.get("id") or stable_id("site", raw["name"])),
            name=raw["name"],
            media_model=raw.get("media_model", "Cloud"),
            description=raw.get("description"),
            **stamp,
        )
        org.sites[site.id] = site
        plans = [
            {
                "name": p["name"],
                "classification": p["classification"],
                "match": p.get("match", ""),
                "matchType": p.get("match_type", "regex"),
                "normalizedFormat": p.get("normalized_format", ""),
                "priority": p.get("priority", 0),
                "id": stable_id("numberplan", f"{site.name}/{p['name']}"),
            }
            for p in raw.get("number_plans") or []
        ]
        org.put_number_plans(site, plans)
    for raw in seed.get("trunk_bases") or []:
        metabase = raw.get("trunk_metabase") or {}
        base = TrunkBase(
            id=str(raw.get("id") or stable_id("trunkbase", raw["name"])),
            name=raw["name"],
            metabase_id=metabase.get("id", "external_sip_pcv_byoc_carrier.json"),
            metabase_name=metabase.get("name", "BYOC Carrier"),
            trunk_type=raw.get("trunk_type", "EXTERNAL"),
            properties=dict(raw.get("properties") or {}),
            managed=bool(raw.get("managed", False)),
            description=raw.get("description"),
            site=_by_name(org.sites, "site", raw.get("site")),
            inbound_site=_by_name(org.sites, "site", raw.get("inbound_site")),
            **stamp,
        )
        if "external_sip_pcv_byoc" in base.metabase_id and base.inbound_site is None:
            raise GenesysSeedError(
                f"genesys seed: BYOC trunk base {base.name!r} needs inbound_site"
            )
        org.trunk_bases[base.id] = base
    for raw in seed.get("trunks") or []:
        base = _by_name(org.trunk_bases, "trunk base", raw["trunk_base"])
        trunk = Trunk(
            id=str(raw.get("id") or stable_id("trunk", raw["name"])),
            name=raw["name"],
            trunk_base=base,
            edge_group_id=stable_id("edgegroup", "BYOC Cloud"),
            in_service=bool(raw.get("in_service", True)),
            enabled=bool(raw.get("enabled", True)),
            connected=bool(raw.get("connected", True)),
            connected_at=now,
            proxies=[
                ProxyStatus(
                    proxy_address=p["proxy_address"],
                    option_state=bool(p.get("option_state", True)),
                    state_time=now,
                    error_text=(p.get("error") or {}).get("text"),
                    error_code=(p.get("error") or {}).get("code"),
                )
                for p in raw.get("options") or []
            ],
            inbound_calls=int((raw.get("calls") or {}).get("inbound", 0)),
            outbound_calls=int((raw.get("calls") or {}).get("outbound", 0)),
            **stamp,
        )
        org.trunks[trunk.id] = trunk
    for raw in seed.get("outbound_routes") or []:
        site = _by_name(org.sites, "site", raw["site"])
        body = {
            "name": raw["name"],
            "description": raw.get("description"),
            "classificationTypes": raw.get("classification_types"),
            "distribution": raw.get("distribution", "SEQUENTIAL"),
            "enabled": bool(raw.get("enabled", True)),
            "externalTrunkBases": [
                _ref(org.trunk_bases, "trunk base", n) for n in raw.get("external_trunk_bases", [])
            ],
        }
        org.create_route(
            site, body, now, entity_id=raw.get("id") or stable_id("outboundroute", raw["name"])
        )


def _seed_routing(org: GenesysOrg, seed: dict[str, Any], stamp: dict[str, Any], now: float) -> None:
    for raw in seed.get("flows") or []:
        flow = Flow(
            id=str(raw.get("id") or stable_id("flow", raw["name"])),
            name=raw["name"],
            type=raw.get("type", "INBOUNDCALL"),
            description=raw.get("description"),
            division=org.division,
            **stamp,
        )
        org.flows[flow.id] = flow
    for raw in seed.get("schedule_groups") or []:
        group = ScheduleGroup(
            id=str(raw.get("id") or stable_id("schedulegroup", raw["name"])),
            name=raw["name"],
            **stamp,
        )
        org.schedule_groups[group.id] = group
    for raw in seed.get("did_pools") or []:
        pool_body = {
            "startPhoneNumber": raw["start"],
            "endPhoneNumber": raw["end"],
            "name": raw.get("name"),
            "description": raw.get("description"),
            "comments": raw.get("comments"),
            "provider": raw.get("provider", "PURE_CLOUD"),
        }
        key = raw.get("name") or f"{raw['start']}-{raw['end']}"
        org.create_pool(pool_body, now, entity_id=raw.get("id") or stable_id("didpool", key))
    for raw in seed.get("ivrs") or []:
        body: dict[str, Any] = {
            "name": raw["name"],
            "description": raw.get("description"),
            "dnis": list(raw.get("dnis") or []),
            "openHoursFlow": _ref(org.flows, "flow", raw.get("open_hours_flow")),
            "closedHoursFlow": _ref(org.flows, "flow", raw.get("closed_hours_flow")),
            "holidayHoursFlow": _ref(org.flows, "flow", raw.get("holiday_hours_flow")),
            "scheduleGroup": _ref(org.schedule_groups, "schedule group", raw.get("schedule_group")),
        }
        org.create_ivr(
            body, now, lambda _: True, entity_id=raw.get("id") or stable_id("ivr", raw["name"])
        )
    for raw in seed.get("users") or []:
        org.add_user(
            entity_id=str(raw.get("id") or stable_id("user", raw["email"])),
            name=raw["name"],
            email=raw["email"],
            department=raw.get("department"),
            title=raw.get("title"),
            addresses=[
                {
                    "address": a.get("address"),
                    "extension": a.get("extension"),
                    "display": a.get("display"),
                    "mediaType": a.get("media_type", "PHONE"),
                    "type": a.get("type", "WORK"),
                }
                for a in raw.get("addresses") or []
            ],
            now=now,
        )
