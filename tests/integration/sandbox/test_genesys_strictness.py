"""The Genesys emulator refuses what Genesys Cloud refuses, with Genesys-shaped errors.

Raw httpx (not the SDK) so that 429s are seen as they are: the SDK would replay them."""

from __future__ import annotations

import base64
import copy
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from sandbox.core import ServedApp, build_app
from sandbox.genesys import GenesysEmulator
from sandbox.genesys_seed import GenesysSeedError

pytestmark = pytest.mark.integration

SEED: dict[str, Any] = yaml.safe_load(
    (Path(__file__).resolve().parents[3] / "sandbox" / "seeds" / "genesys.yaml").read_text()
)
EDGES = "/api/v2/telephony/providers/edges"
ERROR_BODY_FIELDS = {"message", "code", "status", "messageWithParams", "messageParams",
                     "contextId", "details", "errors", "entityId", "entityName", "limit"}  # fmt: skip
DID_POOL_ID_REQUIRED = "Field 'didPoolId' is required and cannot be empty."


def serve(emulator: GenesysEmulator) -> ServedApp:
    """Serve on a free loopback port. TCP_NODELAY: without it each call waits ~40 ms on delayed
    ACKs (requested for sandbox/core.py in .run/requests-genesys.md)."""
    server = ServedApp(build_app(emulator))
    server._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return server.start()


class Api:
    """A logged-in raw HTTP client for one emulator."""

    def __init__(self, emulator: GenesysEmulator, http: httpx.Client) -> None:
        self.emulator, self.http = emulator, http
        self.token = self.new_token()

    def new_token(self) -> str:
        reply = self.http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(SEED["oauth_client"]["client_id"], SEED["oauth_client"]["client_secret"]),
        )
        reply.raise_for_status()
        return str(reply.json()["access_token"])

    def call(self, method: str, path: str, token: str | None = None, **kw: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token or self.token}"}
        return self.http.request(method, path, headers=headers, **kw)

    def ok(self, method: str, path: str, **kw: Any) -> Any:
        reply = self.call(method, path, **kw)
        assert reply.status_code < 300, reply.text
        return reply.json() if reply.content else None

    def fault(self, **spec: Any) -> None:
        self.http.post("/_sandbox/faults", json=spec).raise_for_status()

    def ivr(self, name: str) -> dict[str, Any]:
        return dict(self.ok("GET", "/api/v2/architect/ivrs", params={"name": name})["entities"][0])

    def user(self, email: str) -> dict[str, Any]:
        return next(u for u in self.ok("GET", "/api/v2/users")["entities"] if u["email"] == email)


def refused(reply: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert a Genesys `ErrorBody` refusal and return it."""
    assert reply.status_code == status, reply.text
    body = reply.json()
    assert set(body) <= ERROR_BODY_FIELDS and body["status"] == status
    if code is not None:
        assert body["code"] == code
    return dict(body)


def plain_client(url: str) -> httpx.Client:
    return httpx.Client(base_url=url, verify=False)  # plain http; skips loading the CA store


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[GenesysEmulator, httpx.Client]]:
    emulator = GenesysEmulator(SEED)
    server = serve(emulator)
    with plain_client(server.url) as http:
        yield emulator, http
    server.stop()


@pytest.fixture
def api(served: tuple[GenesysEmulator, httpx.Client]) -> Api:
    emulator, http = served
    http.post("/_sandbox/reset").raise_for_status()
    emulator.clock = time.time
    return Api(emulator, http)


@pytest.fixture
def custom() -> Iterator[Callable[..., Api]]:
    """An emulator of its own with seed keys overridden."""
    servers: list[ServedApp] = []
    clients: list[httpx.Client] = []

    def start(**overrides: Any) -> Api:
        seed = copy.deepcopy(SEED)
        seed.update(overrides)
        emulator = GenesysEmulator(seed)
        servers.append(serve(emulator))
        clients.append(plain_client(servers[-1].url))
        return Api(emulator, clients[-1])

    yield start
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


def new_pool(api: Api, start: str, end: str, **extra: Any) -> httpx.Response:
    body = {"startPhoneNumber": start, "endPhoneNumber": end, "description": "managed-by:byoc"}
    return api.call("POST", f"{EDGES}/didpools", json={**body, **extra})


# ----- auth ---------------------------------------------------------------------------------


def test_calls_without_a_token_are_refused(api: Api) -> None:
    reply = api.http.get(f"{EDGES}/didpools")
    refused(reply, 401, "authentication.required")
    assert "inin-ratelimit-allowed" in reply.headers


def test_unknown_token_is_refused(api: Api) -> None:
    refused(api.call("GET", f"{EDGES}/didpools", token="not-a-token"), 401, "bad.credentials")


def test_token_expires_after_its_seeded_lifetime(custom: Callable[..., Api]) -> None:
    api = custom(oauth_client={**SEED["oauth_client"], "token_lifetime_s": 120})
    started = api.emulator.clock()
    api.emulator.clock = lambda: started + 119
    api.ok("GET", f"{EDGES}/sites")
    api.emulator.clock = lambda: started + 121
    refused(api.call("GET", f"{EDGES}/sites"), 401, "bad.credentials")
    api.ok("GET", f"{EDGES}/sites", token=api.new_token())


def test_sandbox_clock_moves_tokens_past_their_lifetime(api: Api) -> None:
    lifetime = SEED["oauth_client"]["token_lifetime_s"]
    api.http.post("/_sandbox/genesys/clock", json={"advance_s": lifetime + 1}).raise_for_status()
    refused(api.call("GET", f"{EDGES}/sites"), 401, "bad.credentials")


def test_token_expiry_fault_expires_every_token_now(api: Api) -> None:
    api.fault(kind="token_expiry", count=1)
    refused(api.call("GET", f"{EDGES}/sites"), 401, "bad.credentials")
    refused(api.call("GET", f"{EDGES}/sites"), 401, "bad.credentials")
    api.ok("GET", f"{EDGES}/sites", token=api.new_token())


def test_token_request_needs_the_right_client_and_grant(api: Api) -> None:
    bad_secret = api.http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=("sandbox-client", "x")
    )
    assert bad_secret.status_code == 401 and bad_secret.json()["error"] == "invalid_client"
    wrong_grant = api.http.post(
        "/oauth/token",
        data={"grant_type": "password"},
        auth=(SEED["oauth_client"]["client_id"], SEED["oauth_client"]["client_secret"]),
    )
    assert wrong_grant.status_code == 400
    assert wrong_grant.json()["error"] == "unsupported_grant_type"


# ----- rate limiting ------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after_and_headers(custom: Callable[..., Api]) -> None:
    api = custom(rate_limit_per_minute=3)
    counts = [api.call("GET", f"{EDGES}/sites").headers["inin-ratelimit-count"] for _ in range(3)]
    assert counts == ["1", "2", "3"]

    limited = api.call("GET", f"{EDGES}/sites")
    body = refused(limited, 429, "too.many.requests.retry.after")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["inin-ratelimit-allowed"] == "3"
    assert limited.headers["inin-ratelimit-reset"] == limited.headers["Retry-After"]
    assert "Retry the request in" in body["message"]

    api.ok("GET", f"{EDGES}/sites", token=api.new_token())  # each token has its own budget
    started = api.emulator.clock()
    api.emulator.clock = lambda: started + 61
    api.ok("GET", f"{EDGES}/sites")


def test_rate_limit_without_retry_after_mode(api: Api) -> None:
    limits = {"rate_limit_per_minute": 1, "rate_limit_retry_after": False}
    api.http.post("/_sandbox/genesys/limits", json=limits).raise_for_status()
    api.ok("GET", f"{EDGES}/sites")
    limited = api.call("GET", f"{EDGES}/sites")
    refused(limited, 429, "too.many.requests.retry.after")
    assert "Retry-After" not in limited.headers


# ----- paging -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params", [{"pageSize": 0}, {"pageSize": 101}, {"pageNumber": 0}, {"pageSize": "ten"}]
)
def test_page_parameters_out_of_bounds_are_refused(api: Api, params: dict[str, Any]) -> None:
    refused(api.call("GET", f"{EDGES}/didpools", params=params), 400, "invalid.value")


def test_page_past_the_end_is_empty_with_no_next_page(api: Api) -> None:
    page = api.ok("GET", "/api/v2/architect/ivrs", params={"pageSize": 1, "pageNumber": 3})
    assert page["entities"] == [] and page["total"] == 2 and page["pageCount"] == 2
    assert "nextUri" not in page
    first = api.ok("GET", "/api/v2/architect/ivrs", params={"pageSize": 1})
    assert "previousUri" not in first and first["nextUri"].endswith("pageNumber=2")


# ----- DID pools ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [("14155551000", "14155551099"), ("+1 415 555 1000", "+14155551099"), ("+1415555", "+14155551099")],
)
def test_pool_numbers_must_be_e164(api: Api, start: str, end: str) -> None:
    refused(new_pool(api, start, end), 400)


def test_pool_start_must_not_be_after_end(api: Api) -> None:
    refused(new_pool(api, "+14155551099", "+14155551000"), 400)


def test_pool_may_hold_at_most_100000_numbers(api: Api) -> None:
    refused(new_pool(api, "+14150000000", "+14150100000"), 400)
    assert new_pool(api, "+14150000000", "+14150099999").status_code == 200


def test_pool_provider_must_be_a_known_value(api: Api) -> None:
    refused(new_pool(api, "+14155551000", "+14155551099", provider="BYOC_CLOUD"), 400)


def test_overlapping_pool_is_refused_and_nothing_is_created(api: Api) -> None:
    before = api.ok("GET", f"{EDGES}/didpools")["total"]
    body = refused(new_pool(api, "+14155550950", "+14155551050"), 400)
    assert "overlaps" in body["message"] and "+14155550900" in body["message"]
    assert api.ok("GET", f"{EDGES}/didpools")["total"] == before


def test_deleting_a_pool_with_assigned_numbers_is_a_conflict(api: Api) -> None:
    hq = next(p for p in api.ok("GET", f"{EDGES}/didpools")["entities"] if p["name"] == "HQ")
    refused(api.call("DELETE", f"{EDGES}/didpools/{hq['id']}"), 409)
    assert api.ok("GET", f"{EDGES}/didpools/{hq['id']}")["state"] == "active"


def test_pool_put_with_stale_version_is_a_conflict(api: Api) -> None:
    pool = new_pool(api, "+14155551000", "+14155551099").json()
    api.ok("PUT", f"{EDGES}/didpools/{pool['id']}", json={**pool, "comments": "one"})
    refused(api.call("PUT", f"{EDGES}/didpools/{pool['id']}", json=pool), 409)


def test_pool_numbers_listing_needs_a_valid_type(api: Api) -> None:
    refused(api.call("GET", f"{EDGES}/didpools/dids"), 400)
    refused(api.call("GET", f"{EDGES}/didpools/dids", params={"type": "ASSIGNED"}), 400)


def test_dids_and_trunks_are_read_only(api: Api) -> None:
    refused(api.call("POST", f"{EDGES}/dids", json={"phoneNumber": "+14155550105"}), 405)
    refused(api.call("POST", f"{EDGES}/trunks", json={"name": "x"}), 405)
    refused(api.call("GET", "/api/v2/telephony/providers/edges/nothing-here"), 404)


# ----- IVRs and users -----------------------------------------------------------------------


def test_ivr_number_outside_every_pool_needs_a_did_pool(api: Api) -> None:
    ivr = api.ivr("Main IVR")
    body = refused(
        api.call("PUT", ivr["selfUri"], json={**ivr, "dnis": [*ivr["dnis"], "+14155551234"]}), 400
    )
    assert body["message"] == DID_POOL_ID_REQUIRED


def test_ivr_dnis_must_be_unique_across_ivrs_and_users(api: Api) -> None:
    main = api.ivr("Main IVR")
    taken_by_ivr = api.call("PUT", main["selfUri"], json={**main, "dnis": ["+14155550900"]})
    assert "Sales IVR" in refused(taken_by_ivr, 400)["message"]
    taken_by_user = api.call("PUT", main["selfUri"], json={**main, "dnis": ["+14155550101"]})
    assert "Alice Example" in refused(taken_by_user, 400)["message"]
    created = api.call("POST", "/api/v2/architect/ivrs", json={"name": "x", "dnis": ["+14155550100"]})
    refused(created, 400)


def test_user_cannot_take_a_number_an_ivr_holds(api: Api) -> None:
    alice = api.user("alice@example.com")
    phone = {"address": "+14155550100", "mediaType": "PHONE", "type": "WORK"}
    patch = {"version": alice["version"], "addresses": [phone]}
    refused(api.call("PATCH", alice["selfUri"], json=patch), 400)


def test_ivr_put_with_stale_version_is_a_409(api: Api) -> None:
    ivr = api.ivr("Main IVR")
    api.ok("PUT", ivr["selfUri"], json=ivr)
    body = refused(api.call("PUT", ivr["selfUri"], json=ivr), 409)
    assert "does not match the current version" in body["message"]


def test_the_bare_conflict_variant_answers_a_stale_version_with_a_409_naming_no_version() -> None:
    emulator = GenesysEmulator({**copy.deepcopy(SEED), "variants": {"conflict_text": "bare"}})
    server = serve(emulator)
    try:
        with httpx.Client(base_url=server.url) as http:
            api = Api(emulator, http)
            ivr = api.ivr("Main IVR")
            api.ok("PUT", ivr["selfUri"], json=ivr)
            body = refused(api.call("PUT", ivr["selfUri"], json=ivr), 409)
    finally:
        server.stop()
    assert "version" not in body["message"].lower()


def test_ivr_put_without_version_is_refused(api: Api) -> None:
    ivr = api.ivr("Main IVR")
    del ivr["version"]
    refused(api.call("PUT", ivr["selfUri"], json=ivr), 400)


def test_user_patch_with_stale_version_is_a_400_naming_the_version(api: Api) -> None:
    alice = api.user("alice@example.com")
    body = refused(api.call("PATCH", alice["selfUri"], json={"version": alice["version"] - 1}), 400)
    assert "does not match the current version" in body["message"]


def test_version_conflict_fault_fails_the_next_write_until_reread(api: Api) -> None:
    api.fault(kind="version_conflict", count=1)
    ivr = api.ivr("Main IVR")
    refused(api.call("PUT", ivr["selfUri"], json=ivr), 409)
    fresh = api.ivr("Main IVR")
    assert fresh["version"] == ivr["version"] + 1
    api.ok("PUT", fresh["selfUri"], json=fresh)


def test_eventual_consistency_fault_refuses_first_writes_after_a_pool_is_created(
    api: Api,
) -> None:
    api.fault(kind="eventual_consistency", count=2)
    assert new_pool(api, "+14155551000", "+14155551099").status_code == 200
    ivr = api.ivr("Main IVR")
    body = {**ivr, "dnis": [*ivr["dnis"], "+14155551000"]}
    for _ in range(2):
        assert refused(api.call("PUT", ivr["selfUri"], json=body), 400)["message"] == (
            DID_POOL_ID_REQUIRED
        )
    api.ok("PUT", ivr["selfUri"], json=body)


def test_eventual_consistency_spares_numbers_of_older_pools(api: Api) -> None:
    api.fault(kind="eventual_consistency")
    ivr = api.ivr("Main IVR")
    api.ok("PUT", ivr["selfUri"], json={**ivr, "dnis": [*ivr["dnis"], "+14155550105"]})


def test_ivr_with_schedule_group_needs_open_and_closed_flows(api: Api) -> None:
    ivr = api.ivr("Main IVR")
    del ivr["closedHoursFlow"]
    refused(api.call("PUT", ivr["selfUri"], json=ivr), 400)


def test_ivr_write_may_add_at_most_50_numbers(api: Api) -> None:
    new_pool(api, "+14155551000", "+14155551099")
    ivr = api.ivr("Main IVR")
    numbers = [f"+141555510{i:02d}" for i in range(51)]
    refused(api.call("PUT", ivr["selfUri"], json={**ivr, "dnis": numbers}), 400)
    api.ok("PUT", ivr["selfUri"], json={**ivr, "dnis": numbers[:50]})


@pytest.mark.parametrize(
    "contact",
    [
        {"mediaType": "PHONE", "type": "WORK"},
        {"address": "(415) 555-0102", "mediaType": "PHONE", "type": "WORK"},
        {"address": "+14155550102", "mediaType": "FAX", "type": "WORK"},
    ],
)
def test_user_addresses_are_validated(api: Api, contact: dict[str, Any]) -> None:
    alice = api.user("alice@example.com")
    patch = {"version": alice["version"], "addresses": [contact]}
    refused(api.call("PATCH", alice["selfUri"], json=patch), 400)


def test_user_contacts_keep_address_extension_and_display_as_written(api: Api) -> None:
    """A PHONE contact may carry an address and an extension, or only a display (docs/vendors/
    genesys.md, "User contacts"); a PATCH stores what it sends."""
    alice = api.user("alice@example.com")
    contacts = [
        {"address": "+14155550101", "extension": "101", "mediaType": "PHONE", "type": "WORK"},
        {"display": "ext. 2044", "mediaType": "PHONE", "type": "WORK2"},
    ]
    api.ok("PATCH", alice["selfUri"], json={"version": alice["version"], "addresses": contacts})

    stored = api.user("alice@example.com")["addresses"]

    assert {(c.get("address"), c.get("extension"), c["type"]) for c in stored} == {
        ("+14155550101", "101", "WORK"), (None, None, "WORK2")}
    assert next(c for c in stored if c["type"] == "WORK2")["display"] == "ext. 2044"


def test_two_users_may_carry_the_same_pool_number(api: Api) -> None:
    bob = api.user("bob@example.com")
    phone = {"address": "+14155550101", "mediaType": "PHONE", "type": "WORK"}
    api.ok("PATCH", bob["selfUri"], json={"version": bob["version"], "addresses": [phone]})

    assert "+14155550101" in [c.get("address") for c in api.user("bob@example.com")["addresses"]]
    assert "+14155550101" in [c.get("address") for c in api.user("alice@example.com")["addresses"]]


def test_user_search_refuses_unknown_fields(api: Api) -> None:
    query = {"query": [{"type": "EXACT", "fields": ["shoeSize"], "value": "9"}]}
    refused(api.call("POST", "/api/v2/users/search", json=query), 400)
    q64 = base64.b64encode(b"not json").decode()
    refused(api.call("GET", "/api/v2/users/search", params={"q64": q64}), 400)


# ----- telephony objects --------------------------------------------------------------------


def test_outbound_route_needs_classification_types_and_external_trunk_bases(api: Api) -> None:
    site = api.ok("GET", f"{EDGES}/sites")["entities"][0]
    routes = f"{EDGES}/sites/{site['id']}/outboundroutes"
    refused(api.call("POST", routes, json={"name": "x", "classificationTypes": []}), 400)
    unknown_base = {"name": "x", "classificationTypes": ["National"],
                    "externalTrunkBases": [{"id": "missing"}]}  # fmt: skip
    refused(api.call("POST", routes, json=unknown_base), 400)
    route = api.ok("GET", routes)["entities"][0]
    api.ok("PUT", route["selfUri"], json=route)
    refused(api.call("PUT", route["selfUri"], json=route), 409)


def test_byoc_trunk_base_needs_an_inbound_site(api: Api) -> None:
    base = api.ok("GET", f"{EDGES}/trunkbasesettings")["entities"][0]
    del base["inboundSite"]
    refused(api.call("PUT", base["selfUri"], json=base), 400)


def test_number_plans_are_capped_at_200(api: Api) -> None:
    site = api.ok("GET", f"{EDGES}/sites")["entities"][0]
    plans = [{"name": f"p{i}", "classification": "National"} for i in range(201)]
    refused(api.call("PUT", f"{EDGES}/sites/{site['id']}/numberplans", json=plans), 400)


def test_oversized_request_body_is_refused(api: Api) -> None:
    huge = {"name": "x" * 600_000, "classificationTypes": ["National"]}
    site = api.ok("GET", f"{EDGES}/sites")["entities"][0]
    refused(api.call("POST", f"{EDGES}/sites/{site['id']}/outboundroutes", json=huge), 413)


# ----- seed ---------------------------------------------------------------------------------


def test_seed_routing_a_number_outside_every_pool_is_refused() -> None:
    seed = copy.deepcopy(SEED)
    seed["ivrs"][0]["dnis"] = ["+14155559999"]
    with pytest.raises(GenesysSeedError, match="didPoolId"):
        GenesysEmulator(seed)


def test_seed_with_unknown_keys_is_refused() -> None:
    with pytest.raises(GenesysSeedError, match="unknown keys"):
        GenesysEmulator({**SEED, "did_pool": []})
