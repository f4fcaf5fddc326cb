"""The Genesys emulator, driven by the real PureCloudPlatformClientV2 SDK through every operation
the byoc adapter needs. Every response the SDK deserializes is also checked field by field against
the SDK's models: an unknown key, a wrong type or an enum value the SDK would turn into
"outdated_sdk_version" fails the test."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sandbox.core import ServedApp, build_app
from sandbox.genesys import GenesysEmulator

pytestmark = pytest.mark.integration

SEED = yaml.safe_load(
    (Path(__file__).resolve().parents[3] / "sandbox" / "seeds" / "genesys.yaml").read_text()
)
CLIENT_ID = SEED["oauth_client"]["client_id"]
CLIENT_SECRET = SEED["oauth_client"]["client_secret"]
MANAGED = "managed-by:byoc"


def serve(emulator: GenesysEmulator) -> ServedApp:
    """Serve on a free loopback port. TCP_NODELAY: without it each call waits ~40 ms on delayed
    ACKs (requested for sandbox/core.py in .run/requests-genesys.md)."""
    server = ServedApp(build_app(emulator))
    server._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server.start()


def wire_mismatches(data: Any, klass: str, where: str = "$") -> list[str]:
    """Where `data` (decoded JSON) does not fit the SDK type `klass` exactly."""
    import PureCloudPlatformClientV2 as G

    if data is None:
        return []
    if klass.startswith("list["):
        if not isinstance(data, list):
            return [f"{where}: expected a list for {klass}"]
        inner = klass[5:-1]
        return [m for i, item in enumerate(data) for m in wire_mismatches(item, inner, f"{where}[{i}]")]
    if klass.startswith("dict("):
        if not isinstance(data, dict):
            return [f"{where}: expected an object for {klass}"]
        inner = klass[5:-1].split(", ", 1)[1]
        return [m for k, v in data.items() for m in wire_mismatches(v, inner, f"{where}.{k}")]
    scalar = {"str": str, "int": int, "float": (int, float), "bool": bool}
    if klass in scalar:
        if isinstance(data, bool) and klass != "bool":
            return [f"{where}: {data!r} is a bool, expected {klass}"]
        if not isinstance(data, scalar[klass]):  # type: ignore[arg-type]
            return [f"{where}: {data!r} is not {klass}"]
        return []
    if klass == "object":
        return []
    if klass in ("datetime", "date"):
        try:
            datetime.fromisoformat(data)
        except (TypeError, ValueError):
            return [f"{where}: {data!r} is not an ISO 8601 {klass}"]
        return []
    model = getattr(G.models, klass)()
    if not isinstance(data, dict):
        return [f"{where}: expected an object for {klass}"]
    by_wire = {wire: attr for attr, wire in model.attribute_map.items()}
    problems = [f"{where}.{key}: not a field of {klass}" for key in data if key not in by_wire]
    for key, value in data.items():
        attr = by_wire.get(key)
        if attr is None:
            continue
        attr_type = model.swagger_types[attr]
        problems += wire_mismatches(value, attr_type, f"{where}.{key}")
        if attr_type == "str" and isinstance(value, str):
            setattr(model, attr, value)
            if getattr(model, attr) != value:
                problems.append(f"{where}.{key}: {value!r} is not an allowed {klass}.{attr}")
    return problems


class CheckedSdk:
    """An SDK ApiClient logged in to the emulator; records every response that does not fit."""

    def __init__(self, url: str) -> None:
        import PureCloudPlatformClientV2 as G

        self.G = G
        self.problems: list[str] = []
        self.client = G.ApiClient(host=url).get_client_credentials_token(CLIENT_ID, CLIENT_SECRET)
        original = self.client.deserialize

        def checked(response: Any, response_type: Any) -> Any:
            if isinstance(response_type, str) and response.data:
                where = f"{response_type} from {response.status}"
                self.problems += wire_mismatches(json.loads(response.data), response_type, where)
            return original(response, response_type)

        self.client.deserialize = checked
        self.edges = G.TelephonyProvidersEdgeApi(self.client)
        self.architect = G.ArchitectApi(self.client)
        self.users = G.UsersApi(self.client)
        self.utilities = G.UtilitiesApi(self.client)

    def headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.client.last_response.getheaders().items()}


@dataclass
class Served:
    emulator: GenesysEmulator
    url: str
    control: httpx.Client  # for /_sandbox/*


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    emulator = GenesysEmulator(SEED)
    server = serve(emulator)
    with httpx.Client(base_url=server.url, verify=False) as control:  # plain http
        yield Served(emulator, server.url, control)
    server.stop()


@pytest.fixture
def emulator(served: Served) -> GenesysEmulator:
    served.control.post("/_sandbox/reset").raise_for_status()
    return served.emulator


@pytest.fixture
def sdk(served: Served, emulator: GenesysEmulator) -> Iterator[CheckedSdk]:
    session = CheckedSdk(served.url)
    yield session
    assert session.problems == [], "responses that do not fit the SDK models"


def test_model_check_catches_unknown_fields_and_enum_values() -> None:
    assert wire_mismatches({"id": "x", "bogus": 1}, "DIDPool") == ["$.bogus: not a field of DIDPool"]
    assert wire_mismatches({"provider": "BYOC_CLOUD"}, "DIDPool") == [
        "$.provider: 'BYOC_CLOUD' is not an allowed DIDPool.provider"
    ]
    assert wire_mismatches({"version": "2"}, "IVR") == ["$.version: '2' is not int"]


def test_configuration_host_points_the_sdk_at_the_emulator(
    served: Served, emulator: GenesysEmulator
) -> None:
    import PureCloudPlatformClientV2 as G

    saved = G.configuration.host
    G.configuration.host = served.url
    try:
        client = G.api_client.ApiClient().get_client_credentials_token(CLIENT_ID, CLIENT_SECRET)
        listing = G.TelephonyProvidersEdgeApi(client).get_telephony_providers_edges_didpools()
    finally:
        G.configuration.host = saved
    assert {p.name for p in listing.entities} >= {"HQ"}


def test_did_pools_are_read_page_by_page(sdk: CheckedSdk) -> None:
    for n in range(3):
        pool = sdk.G.DIDPool()
        pool.start_phone_number = f"+1628555{n}000"
        pool.end_phone_number = f"+1628555{n}099"
        pool.description = MANAGED
        sdk.edges.post_telephony_providers_edges_didpools(pool)

    seen, page_number = [], 1
    while True:
        page = sdk.edges.get_telephony_providers_edges_didpools(page_size=2, page_number=page_number)
        seen += [p.start_phone_number for p in page.entities]
        if page.next_uri is None:
            break
        page_number += 1

    assert page.total == 5 and page.page_count == 3 and page.total_number_of_entities == 5
    assert page_number == page.page_count
    assert seen == sorted(seen) and len(seen) == 5
    assert page.previous_uri is not None and page.last_uri == page.self_uri


def test_did_pool_lifecycle_create_update_delete(sdk: CheckedSdk) -> None:
    body = sdk.G.DIDPool()
    body.start_phone_number, body.end_phone_number = "+14155550110", "+14155550119"
    body.description, body.provider = MANAGED, "PURE_CLOUD"
    created = sdk.edges.post_telephony_providers_edges_didpools(body)
    assert (created.state, created.version, created.provider) == ("active", 1, "PURE_CLOUD")

    created.comments = "second half of the trunk"
    updated = sdk.edges.put_telephony_providers_edges_didpool(created.id, created)
    assert updated.version == 2 and updated.comments == "second half of the trunk"

    sdk.edges.delete_telephony_providers_edges_didpool(created.id)
    gone = sdk.edges.get_telephony_providers_edges_didpool(created.id)
    assert gone.state == "deleted"
    listed = sdk.edges.get_telephony_providers_edges_didpools(id=[created.id])
    assert [p.state for p in listed.entities] == ["deleted"]


def test_pool_numbers_list_unassigned_and_owned_numbers(sdk: CheckedSdk) -> None:
    pools = sdk.edges.get_telephony_providers_edges_didpools().entities
    managed = next(p for p in pools if MANAGED in (p.description or ""))

    free = sdk.edges.get_telephony_providers_edges_didpools_dids("UNASSIGNED", id=[managed.id])
    assert [n.number for n in free.entities] == [f"+141555501{i:02d}" for i in range(2, 10)]
    assert all(not n.assigned and n.owner is None for n in free.entities)

    both = sdk.edges.get_telephony_providers_edges_didpools_dids(
        "ASSIGNED_AND_UNASSIGNED", id=[managed.id], page_size=2
    )
    assert both.total == 10 and both.page_count == 5
    owners = {n.number: (n.owner_type, n.owner.name) for n in both.entities}
    assert owners == {
        "+14155550100": ("IVR_CONFIG", "Main IVR"),
        "+14155550101": ("USER", "Alice Example"),
    }

    matched = sdk.edges.get_telephony_providers_edges_didpools_dids(
        "ASSIGNED_AND_UNASSIGNED", number_match="5550905"
    )
    assert [n.number for n in matched.entities] == ["+14155550905"]


@pytest.mark.parametrize(("how", "whole", "start", "inner"), [
    ("substring", ["+14155550105"], 10, ["+14155550905"]),
    ("prefix", ["+14155550105"], 10, []),
    ("exact", ["+14155550105"], 0, []),
])
def test_pool_numbers_match_a_number_as_the_variant_reads_numbermatch(
    sdk: CheckedSdk, emulator: GenesysEmulator, how: str, whole: list[str], start: int,
    inner: list[str],
) -> None:
    emulator.set_variants({"dids_number_match": how})
    edges = sdk.edges

    by_number = edges.get_telephony_providers_edges_didpools_dids(
        "ASSIGNED_AND_UNASSIGNED", number_match="+14155550105")
    by_start = edges.get_telephony_providers_edges_didpools_dids(
        "ASSIGNED_AND_UNASSIGNED", number_match="+1415555010", page_size=100)
    by_inner = edges.get_telephony_providers_edges_didpools_dids(
        "ASSIGNED_AND_UNASSIGNED", number_match="5550905")

    assert [n.number for n in by_number.entities] == whole
    assert by_number.entities[0].did_pool.id and by_number.entities[0].assigned is False
    assert len(by_start.entities or []) == start
    assert [n.number for n in by_inner.entities or []] == inner


def test_dids_exist_only_for_assigned_numbers(sdk: CheckedSdk) -> None:
    dids = sdk.edges.get_telephony_providers_edges_dids()
    assert sorted(d.phone_number for d in dids.entities) == [
        "+14155550100",
        "+14155550101",
        "+14155550900",
    ]
    one = sdk.edges.get_telephony_providers_edges_dids(phone_number="+14155550101").entities[0]
    assert (one.owner_type, one.owner.name) == ("USER", "Alice Example")
    assert sdk.edges.get_telephony_providers_edges_did(one.id).phone_number == "+14155550101"


def test_ivr_put_with_current_version_routes_a_new_number(sdk: CheckedSdk) -> None:
    listing = sdk.architect.get_architect_ivrs(name="Main IVR")
    assert listing.total == 1
    ivr = sdk.architect.get_architect_ivr(listing.entities[0].id)
    assert ivr.dnis == ["+14155550100"] and ivr.open_hours_flow.name == "Main Menu"

    ivr.dnis = [*ivr.dnis, "+14155550102"]
    saved = sdk.architect.put_architect_ivr(ivr.id, ivr)

    assert saved.version == ivr.version + 1
    assert sdk.architect.get_architect_ivrs(dnis="+14155550102").entities[0].id == ivr.id
    did = sdk.edges.get_telephony_providers_edges_dids(phone_number="+14155550102").entities[0]
    assert (did.owner_type, did.owner.id) == ("IVR_CONFIG", ivr.id)


def test_ivr_create_and_delete_frees_its_numbers(sdk: CheckedSdk) -> None:
    flow = sdk.architect.get_flows(type=["inboundcall"], name="Sales*").entities[0]
    body = sdk.G.IVR()
    body.name, body.dnis = "Support IVR", ["+14155550105"]
    body.open_hours_flow = sdk.G.DomainEntityRef()
    body.open_hours_flow.id = flow.id
    created = sdk.architect.post_architect_ivrs(body)
    assert created.version == 1 and created.open_hours_flow.name == "Sales Menu"

    sdk.architect.delete_architect_ivr(created.id)
    free = sdk.edges.get_telephony_providers_edges_didpools_dids("UNASSIGNED", number_match="0105")
    assert [n.number for n in free.entities] == ["+14155550105"]


def test_flows_list_by_type(sdk: CheckedSdk) -> None:
    flows = sdk.architect.get_flows(type=["inboundcall"])
    assert {f.name for f in flows.entities} == {"Main Menu", "Sales Menu", "After Hours"}
    assert sdk.architect.get_flow(flows.entities[0].id).type == "INBOUNDCALL"


def test_users_list_search_and_patch_work_phone(sdk: CheckedSdk) -> None:
    assert {u.email for u in sdk.users.get_users().entities} == {
        "alice@example.com",
        "bob@example.com",
    }
    criterion = sdk.G.UserSearchCriteria()
    criterion.type, criterion.fields, criterion.value = "EXACT", ["email"], "alice@example.com"
    search = sdk.G.UserSearchRequest()
    search.query = [criterion]
    found = sdk.users.post_users_search(search)
    assert found.total == 1
    alice = sdk.users.get_user(found.results[0].id)
    assert [(a.address, a.type) for a in alice.addresses] == [("+14155550101", "WORK")]

    phone = sdk.G.Contact()
    phone.address, phone.media_type, phone.type = "+14155550103", "PHONE", "WORK"
    patch = sdk.G.UpdateUser()
    patch.addresses, patch.version = [phone], alice.version
    patched = sdk.users.patch_user(alice.id, patch)

    assert patched.version == alice.version + 1
    assert patched.addresses[0].address == "+14155550103"
    dids = sdk.edges.get_telephony_providers_edges_dids(owner_id=alice.id).entities
    assert [d.phone_number for d in dids] == ["+14155550103"]


def test_user_search_without_match_has_no_results_field(sdk: CheckedSdk) -> None:
    import base64

    query = {"query": [{"type": "EXACT", "fields": ["email"], "value": "nobody@example.com"}]}
    q64 = base64.b64encode(json.dumps(query).encode()).decode()
    empty = sdk.users.get_users_search(q64)
    assert empty.total == 0 and empty.results is None


def test_trunks_report_connection_and_options_status(sdk: CheckedSdk, served: Served) -> None:
    trunks = sdk.edges.get_telephony_providers_edges_trunks(trunk_type="EXTERNAL").entities
    trunk = sdk.edges.get_telephony_providers_edges_trunk(trunks[0].id)
    assert trunk.in_service and trunk.connected_status.connected
    assert [(o.proxy_address, o.option_state) for o in trunk.options_status] == [
        ("sbc1.byoc.example.net", True),
        ("sbc2.byoc.example.net", True),
    ]

    served.control.post(
        "/_sandbox/genesys/trunk-status",
        json={"trunk": trunk.name, "connected": False, "options": {"sbc2.byoc.example.net": False}},
    ).raise_for_status()

    down = sdk.edges.get_telephony_providers_edges_trunk(trunk.id)
    assert not down.connected_status.connected
    assert down.options_status[1].option_state is False
    assert down.options_status[1].error_info.text == "SIP OPTIONS timed out"

    metrics = sdk.edges.get_telephony_providers_edges_trunk_metrics(trunk.id)
    assert metrics.trunk.id == trunk.id and metrics.calls.inbound_call_count == 2
    assert len(sdk.edges.get_telephony_providers_edges_trunks_metrics(trunk.id)) == 1


def test_trunk_base_settings_read_and_update(sdk: CheckedSdk) -> None:
    bases = sdk.edges.get_telephony_providers_edges_trunkbasesettings(name="Twilio-BYOC")
    base = sdk.edges.get_telephony_providers_edges_trunkbasesetting(bases.entities[0].id)
    assert base.trunk_type == "EXTERNAL" and base.inbound_site.name == "Azure-BYOC"
    assert base.trunk_metabase.id == "external_sip_pcv_byoc_carrier.json"

    base.properties["trunk_label"]["value"]["instance"] = "Twilio BYOC"
    saved = sdk.edges.put_telephony_providers_edges_trunkbasesetting(base.id, base)
    assert saved.version == base.version + 1
    assert saved.properties["trunk_label"]["value"]["instance"] == "Twilio BYOC"


def test_sites_and_outbound_routes(sdk: CheckedSdk) -> None:
    site = sdk.edges.get_telephony_providers_edges_sites(name="Azure-BYOC").entities[0]
    assert sdk.edges.get_telephony_providers_edges_site(site.id).media_model == "Cloud"
    routes = sdk.edges.get_telephony_providers_edges_site_outboundroutes(site.id).entities
    route = sdk.edges.get_telephony_providers_edges_site_outboundroute(site.id, routes[0].id)
    assert route.external_trunk_bases[0].name == "Twilio-BYOC"

    route.classification_types = ["National"]
    route.distribution = "RANDOM"
    saved = sdk.edges.put_telephony_providers_edges_site_outboundroute(site.id, route.id, route)
    assert saved.version == route.version + 1 and saved.classification_types == ["National"]

    body = sdk.G.OutboundRouteBase()
    body.name, body.classification_types, body.enabled = "Twilio-Intl", ["International"], True
    body.external_trunk_bases = route.external_trunk_bases
    created = sdk.edges.post_telephony_providers_edges_site_outboundroutes(site.id, body)
    everywhere = sdk.edges.get_telephony_providers_edges_outboundroutes(site_id=site.id)
    assert {r.name for r in everywhere.entities} == {"Twilio-Outbound", "Twilio-Intl"}
    assert everywhere.entities[0].site.id == site.id

    sdk.edges.delete_telephony_providers_edges_site_outboundroute(site.id, created.id)
    assert sdk.edges.get_telephony_providers_edges_site_outboundroutes(site.id).total == 1


def test_number_plans_read_and_replace(sdk: CheckedSdk) -> None:
    site = sdk.edges.get_telephony_providers_edges_sites().entities[0]
    plans = sdk.edges.get_telephony_providers_edges_site_numberplans(site.id)
    assert [p.classification for p in plans] == ["Emergency", "National", "International"]
    saved = sdk.edges.put_telephony_providers_edges_site_numberplans(site.id, plans[:2])
    assert len(saved) == 2


def test_ipranges_need_no_token(sdk: CheckedSdk, served: Served) -> None:
    import PureCloudPlatformClientV2 as G

    ranges = G.UtilitiesApi(G.ApiClient(host=served.url)).get_ipranges()
    assert {r.service for r in ranges.entities} <= {"api", "data-actions", "audiohook"}


def test_every_response_carries_rate_limit_headers(sdk: CheckedSdk) -> None:
    sdk.edges.get_telephony_providers_edges_sites()
    sdk.edges.get_telephony_providers_edges_trunks()
    headers = sdk.headers()
    assert headers["inin-ratelimit-allowed"] == "300"
    assert headers["inin-ratelimit-count"] == "2"
    assert 1 <= int(headers["inin-ratelimit-reset"]) <= 60


def test_sdk_replays_a_post_after_retry_after(sdk: CheckedSdk, served: Served) -> None:
    served.control.post(
        "/_sandbox/faults",
        json={"kind": "rate_limited", "count": 2, "params": {"retry_after": 0}},
    ).raise_for_status()
    body = sdk.G.DIDPool()
    body.start_phone_number, body.end_phone_number = "+16285550100", "+16285550199"

    created = sdk.edges.post_telephony_providers_edges_didpools(body)

    log = served.control.get("/_sandbox/requests").json()["requests"]
    assert [r["status"] for r in log][-3:] == [429, 429, 200]
    assert [p.id for p in served.emulator.org.pools.values()].count(created.id) == 1


def test_sdk_surfaces_an_expired_token_as_401_and_a_new_token_works(
    sdk: CheckedSdk, served: Served
) -> None:
    from PureCloudPlatformClientV2.rest import ApiException

    served.control.post("/_sandbox/faults", json={"kind": "token_expiry", "count": 1})
    with pytest.raises(ApiException) as refused:
        sdk.edges.get_telephony_providers_edges_sites()
    assert refused.value.status == 401
    assert wire_mismatches(json.loads(refused.value.body), "ErrorBody") == []

    sdk.client.get_client_credentials_token(CLIENT_ID, CLIENT_SECRET)
    assert sdk.edges.get_telephony_providers_edges_sites().total == 1


def test_sdk_sees_the_did_pool_id_error_while_a_new_pool_settles(
    sdk: CheckedSdk, served: Served
) -> None:
    from PureCloudPlatformClientV2.rest import ApiException

    served.control.post("/_sandbox/faults", json={"kind": "eventual_consistency", "count": 1})
    pool = sdk.G.DIDPool()
    pool.start_phone_number, pool.end_phone_number = "+14155550110", "+14155550119"
    sdk.edges.post_telephony_providers_edges_didpools(pool)
    ivr = sdk.architect.get_architect_ivrs(name="Main IVR").entities[0]
    ivr.dnis = [*ivr.dnis, "+14155550110"]

    with pytest.raises(ApiException) as refused:
        sdk.architect.put_architect_ivr(ivr.id, ivr)
    assert refused.value.status == 400
    assert json.loads(refused.value.body)["message"] == (
        "Field 'didPoolId' is required and cannot be empty."
    )
    assert sdk.architect.put_architect_ivr(ivr.id, ivr).dnis[-1] == "+14155550110"
