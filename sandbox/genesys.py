"""Strict emulator of the Genesys Cloud Platform API parts byoc uses (served over http).

Point the real SDK at it (the host has no `//api.`, so the token is fetched from the same host):

    import PureCloudPlatformClientV2 as G
    client = G.ApiClient(host=url).get_client_credentials_token(client_id, client_secret)
    pools = G.TelephonyProvidersEdgeApi(client).get_telephony_providers_edges_didpools()

Auth is OAuth client credentials with expiring bearer tokens; every call is rate limited per token
and answers with the `inin-ratelimit-*` headers. Vendor fault kinds (`POST /_sandbox/faults`):
`version_conflict` (the next IVR/user write meets a concurrent write and gets the version-mismatch
error), `eventual_consistency` (IVR/user writes adding a number of a pool created less than
`eventual_consistency_window_s` ago get 400 "Field 'didPoolId' is required..."; `count` bounds how
many), `token_expiry` (expire every token now), `rate_limited` (a vendor-shaped 429; `params.
retry_after` seconds, or null for none). `POST /_sandbox/genesys/trunk-status` flips a trunk's
connected / in-service / SIP OPTIONS state, `/_sandbox/genesys/clock` moves time forward and
`/_sandbox/genesys/limits` changes rate limiting. Behaviour and sources: sandbox/README-genesys.md.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any, ClassVar
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match, Route

from sandbox.core import Emulator, Variant
from sandbox.genesys_entities import EDGES, DidPool, Ivr, OutboundRoute, Site, Trunk, TrunkBase
from sandbox.genesys_notify import UI_CLIENT_ID, Notifier
from sandbox.genesys_org import GenesysOrg
from sandbox.genesys_seed import GenesysSettings, build_org, settings_from_seed
from sandbox.genesys_wire import (
    GenesysError,
    PageRequest,
    QueryArgs,
    bad_request,
    invalid_value,
    listing,
    not_found,
    page_request,
    paged,
)
from sandbox.sip_genesys import GenesysSip

MAX_REQUEST_BYTES = 512_000
RATE_WINDOW_S = 60.0
DIDS_TYPES = ("ASSIGNED_AND_UNASSIGNED", "UNASSIGNED")
FLOW_TYPES = (
    "BOT", "BUSINESSPROCESS", "COMMONMODULE", "DIGITALBOT", "EMAILSEND", "INBOUNDCALL",
    "INBOUNDCHAT", "INBOUNDEMAIL", "INBOUNDSHORTMESSAGE", "INQUEUECALL", "INQUEUEEMAIL",
    "INQUEUESHORTMESSAGE", "OUTBOUNDCALL", "SECURECALL", "SPEECH", "SURVEYINVITE", "VOICE",
    "VOICEMAIL", "VOICESURVEY", "WORKFLOW", "WORKITEM",
)  # fmt: skip
USER_SEARCH_FIELDS = (
    "id",
    "name",
    "email",
    "username",
    "state",
    "department",
    "title",
    "addresses",
)
USER_SEARCH_TYPES = ("EXACT", "CONTAINS", "STARTS_WITH")


@dataclass
class ApiCall:
    """One authenticated Platform API request, as a handler sees it."""

    request: Request
    raw_body: bytes
    now: float

    @property
    def path(self) -> str:
        return self.request.url.path

    @property
    def query(self) -> QueryArgs:
        return QueryArgs(self.request.query_params)

    def param(self, name: str) -> str:
        return str(self.request.path_params[name])

    def json(self) -> Any:
        if not self.raw_body:
            raise bad_request("The request body is required.")
        try:
            return json.loads(self.raw_body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}.") from None

    def page(self, max_size: int) -> PageRequest:
        return page_request(self.query, max_size)


Reply = tuple[int, Any]
Handler = Callable[[ApiCall], Reply]


@dataclass
class RateWindow:
    started: float
    count: int = 0


def _sort_order(call: ApiCall, default: str = "name") -> tuple[str, bool]:
    """`sortBy` and `sortOrder` of a listing: the attribute sorted on, and whether descending."""
    key = call.query.text("sortBy") or default
    order = (call.query.text("sortOrder") or "ASC").upper()
    if order not in ("ASC", "DESC", "ASCENDING", "DESCENDING"):
        raise invalid_value("sortOrder", order, "Allowable values are ASC and DESC.")
    return {"number": "start", "name": "name"}.get(key, "name"), order.startswith("DESC")


def _sorted(items: Iterable[Any], call: ApiCall, default: str = "name") -> list[Any]:
    attr, descending = _sort_order(call, default)
    return sorted(
        items, key=lambda e: str(getattr(e, attr, e.name)).lower(), reverse=descending
    )


def _name_matches(pattern: str | None, name: str) -> bool:
    """The `name` filters: case-insensitive, `*` as a wildcard at either end."""
    if pattern is None:
        return True
    needle, value = pattern.lower(), name.lower()
    if needle.startswith("*") and needle.endswith("*") and len(needle) > 1:
        return needle.strip("*") in value
    if needle.endswith("*"):
        return value.startswith(needle[:-1])
    if needle.startswith("*"):
        return value.endswith(needle[1:])
    return value == needle


class GenesysEmulator(Emulator):
    """Genesys Cloud: OAuth, DID pools and DIDs, Architect IVRs and flows, users, BYOC trunks,
    trunk bases, sites and outbound routes."""

    name = "genesys"
    VARIANTS: ClassVar[dict[str, Variant]] = {
        "pool_delete_lag": Variant(
            ("immediate", "lagging"),
            source="The Terraform provider retries DID pool deletes and reads pools back with "
            "state 'deleted' (resource_genesyscloud_telephony_providers_edges_did_pool.go), so a "
            "delete is not known to show at once; 'lagging': a deleted pool still reads as active "
            "and still blocks an overlapping create for `pool_delete_lag_s` (seed, 5 s).",
        ),
        "pool_range_change": Variant(
            ("refuses-stranding", "accepts", "refuses-any"),
            source="The SDK has put_telephony_providers_edges_didpool with start/end numbers and "
            "the Terraform provider changes ranges in place since PR #926 (2024-03-21), but no "
            "source says what a shrink past an assigned number gets: 'refuses-stranding' (409 "
            "naming the numbers), 'accepts' (the number stays on its holder, in no pool), "
            "'refuses-any' (400: start/end fixed, Terraform's earlier ForceNew reading).",
        ),
        "trigger_envelope": Variant(
            ("event-body", "notification"),
            source="Resource Center 'Create a trigger' (help.mypurecloud.com/?p=312222): with "
            "data format Json 'the entire event is sent to the workflow' as input `jsonData`; "
            "whether that is the event body or the whole notification (topicName, version, "
            "eventBody, metadata) is not said. The data action wraps it as byoc's docs say.",
        ),
        "dids_number_match": Variant(
            ("substring", "prefix", "exact"),
            source="The SDK documents `numberMatch` of GET /didpools/dids only as 'A number to "
            "filter the results by' (TelephonyProvidersEdgeApi.md, get_telephony_providers_"
            "edges_didpools_dids); whether it matches the whole number, its start, or any part "
            "(digits, '+' ignored) is not said.",
        ),
        "conflict_text": Variant(
            ("names-version", "bare"),
            source="Terraform's IsVersionMismatch (genesyscloud/util/util_retries.go) treats a "
            "409 as a version mismatch whatever its text, and a 400 only with 'does not match "
            "the current version': 'names-version' says so in the 409 too, 'bare' does not.",
        ),
    }

    def __init__(self, seed: dict[str, Any]) -> None:
        self.clock: Callable[[], float] = time.time
        self.sip: GenesysSip | None = None
        """The org's SIP side, when the launcher gives it a listener (sandbox/sip_genesys.py)."""
        super().__init__(seed)

    # ----- lifecycle -----------------------------------------------------------------------

    def now(self) -> float:
        """The emulator's time: `clock` (tests may replace it) plus `POST /_sandbox/genesys/clock`."""
        return self.clock() + self.clock_offset_s

    def reset(self) -> None:
        self.clock_offset_s = 0.0
        self.settings: GenesysSettings
        self.settings, rules = settings_from_seed(self.seed)
        self.org: GenesysOrg = build_org(self.seed, rules, self.settings.client_id, self.now())
        self.org.variant = self.variant
        self.notifier = Notifier(envelope=lambda: self.variant("trigger_envelope"))
        delivery = self.seed.get("notifications")
        if delivery:
            self.notifier.configure(dict(delivery))
        self.tokens: dict[str, float] = {}
        self._pool_order: dict[tuple[str, bool], tuple[tuple[Any, ...], list[DidPool]]] = {}
        self.rate_windows: dict[str, RateWindow] = {}

    def state(self) -> dict[str, Any]:
        now = self.now()
        org = self.org
        return {
            "org": {"id": self.settings.org_id, "name": self.settings.org_name},
            "tokens": {
                "active": sum(1 for exp in self.tokens.values() if exp > now),
                "expired": sum(1 for exp in self.tokens.values() if exp <= now),
            },
            "rate_limit": {
                "per_minute": self.settings.rate_limit_per_minute,
                "windows": [
                    {"token": t[:8] + "…", "count": w.count, "age_s": round(now - w.started, 3)}
                    for t, w in self.rate_windows.items()
                ],
            },
            "did_pools": [p.to_json() for p in org.pools.values()],
            "dids": [
                {
                    "id": d.id,
                    "number": d.number,
                    "didPoolId": d.pool.id,
                    "ownerType": d.owner_type,
                    "ownerId": d.owner.id,
                    "ownerName": d.owner.name,
                }
                for d in sorted(org.dids.values(), key=lambda d: d.number)
            ],
            "ivrs": [i.to_json() for i in org.ivrs.values()],
            "users": [u.to_json() for u in org.users.values()],
            "flows": [f.to_json() for f in org.flows.values()],
            "schedule_groups": [g.ref() for g in org.schedule_groups.values()],
            "sites": [{**s.to_json(), "numberPlans": s.number_plans} for s in org.sites.values()],
            "trunk_bases": [b.to_json() for b in org.trunk_bases.values()],
            "trunks": [t.to_json() for t in org.trunks.values()],
            "outbound_routes": [r.to_json(with_site=True) for r in org.outbound_routes.values()],
        }

    # ----- auth and rate limiting ----------------------------------------------------------

    def _rate_headers(self, window: RateWindow | None, now: float) -> dict[str, str]:
        allowed = self.settings.rate_limit_per_minute
        if window is None:
            return {
                "inin-ratelimit-count": "0",
                "inin-ratelimit-allowed": str(allowed),
                "inin-ratelimit-reset": str(int(RATE_WINDOW_S)),
            }
        reset = max(1, math.ceil(RATE_WINDOW_S - (now - window.started)))
        return {
            "inin-ratelimit-count": str(window.count),
            "inin-ratelimit-allowed": str(allowed),
            "inin-ratelimit-reset": str(reset),
        }

    def _authenticate(self, request: Request, now: float) -> str:
        if self.faults.take("token_expiry", request.url.path, request.method):
            for token in self.tokens:
                self.tokens[token] = min(self.tokens[token], now)
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GenesysError(
                401,
                "authentication.required",
                "No authentication bearer token specified in authorization header.",
            )
        expires = self.tokens.get(token.strip())
        if expires is None or expires <= now:
            raise GenesysError(401, "bad.credentials", "Invalid login credentials.")
        return token.strip()

    def _rate_window(self, token: str, now: float) -> tuple[RateWindow, bool]:
        """Count this call in the token's fixed one-minute window; True when over the limit."""
        window = self.rate_windows.get(token)
        if window is None or now - window.started >= RATE_WINDOW_S:
            window = self.rate_windows[token] = RateWindow(started=now)
        if window.count >= self.settings.rate_limit_per_minute:
            return window, True
        window.count += 1
        return window, False

    def _too_many(self, retry_after: int | None) -> GenesysError:
        wait = "a few" if retry_after is None else str(retry_after)
        return GenesysError(
            429,
            "too.many.requests.retry.after",
            f"Rate limit exceeded the maximum. Retry the request in [{wait}] seconds",
            {"0": wait},
            {"Retry-After": str(retry_after)} if retry_after is not None else {},
        )

    def _endpoint(self, handler: Handler, *, auth: bool = True) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            raw = await request.body()
            with self.lock:
                now = self.now()
                headers = self._rate_headers(None, now)
                try:
                    if len(raw) > MAX_REQUEST_BYTES:
                        raise GenesysError(
                            413,
                            "request.entity.too.large",
                            f"The request body is {len(raw)} bytes; the limit is "
                            f"{MAX_REQUEST_BYTES}.",
                        )
                    if auth:
                        token = self._authenticate(request, now)
                        window, limited = self._rate_window(token, now)
                        headers = self._rate_headers(window, now)
                        if limited:
                            retry = int(headers["inin-ratelimit-reset"])
                            raise self._too_many(
                                retry if self.settings.rate_limit_retry_after else None
                            )
                        fault = self.faults.take("rate_limited", request.url.path, request.method)
                        if fault is not None:
                            after = fault.params.get("retry_after", 1)
                            raise self._too_many(None if after is None else int(after))
                    status, payload = handler(ApiCall(request, raw, now))
                except GenesysError as exc:
                    status, payload = exc.status, exc.body()
                    headers.update(exc.headers)
            if payload is None:
                return Response(status_code=status, headers=headers)
            return JSONResponse(payload, status_code=status, headers=headers)

        return endpoint

    # ----- routes --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        e = self._endpoint
        vendor: list[BaseRoute] = [
            Route("/api/v2/ipranges", e(self.get_ipranges, auth=False), methods=["GET"]),
            Route(f"{EDGES}/didpools", e(self.list_pools), methods=["GET"]),
            Route(f"{EDGES}/didpools", e(self.create_pool), methods=["POST"]),
            Route(f"{EDGES}/didpools/dids", e(self.list_pool_numbers), methods=["GET"]),
            Route(f"{EDGES}/didpools/{{didPoolId}}", e(self.get_pool), methods=["GET"]),
            Route(f"{EDGES}/didpools/{{didPoolId}}", e(self.put_pool), methods=["PUT"]),
            Route(f"{EDGES}/didpools/{{didPoolId}}", e(self.delete_pool), methods=["DELETE"]),
            Route(f"{EDGES}/dids", e(self.list_dids), methods=["GET"]),
            Route(f"{EDGES}/dids/{{didId}}", e(self.get_did), methods=["GET"]),
            Route(f"{EDGES}/trunkbasesettings", e(self.list_trunk_bases), methods=["GET"]),
            Route(f"{EDGES}/trunkbasesettings/{{baseId}}", e(self.get_trunk_base), methods=["GET"]),
            Route(f"{EDGES}/trunkbasesettings/{{baseId}}", e(self.put_trunk_base), methods=["PUT"]),
            Route(f"{EDGES}/trunks", e(self.list_trunks), methods=["GET"]),
            Route(f"{EDGES}/trunks/metrics", e(self.list_trunk_metrics), methods=["GET"]),
            Route(f"{EDGES}/trunks/{{trunkId}}", e(self.get_trunk), methods=["GET"]),
            Route(f"{EDGES}/trunks/{{trunkId}}/metrics", e(self.get_trunk_metrics),
                  methods=["GET"]),
            Route(f"{EDGES}/sites", e(self.list_sites), methods=["GET"]),
            Route(f"{EDGES}/sites/{{siteId}}", e(self.get_site), methods=["GET"]),
            Route(f"{EDGES}/sites/{{siteId}}/numberplans", e(self.get_plans), methods=["GET"]),
            Route(f"{EDGES}/sites/{{siteId}}/numberplans", e(self.put_plans), methods=["PUT"]),
            Route(f"{EDGES}/sites/{{siteId}}/outboundroutes", e(self.list_routes), methods=["GET"]),
            Route(f"{EDGES}/sites/{{siteId}}/outboundroutes", e(self.post_route), methods=["POST"]),
            Route(f"{EDGES}/sites/{{siteId}}/outboundroutes/{{routeId}}", e(self.get_route),
                  methods=["GET"]),
            Route(f"{EDGES}/sites/{{siteId}}/outboundroutes/{{routeId}}", e(self.put_route),
                  methods=["PUT"]),
            Route(f"{EDGES}/sites/{{siteId}}/outboundroutes/{{routeId}}", e(self.delete_route),
                  methods=["DELETE"]),
            Route(f"{EDGES}/outboundroutes", e(self.list_all_routes), methods=["GET"]),
            Route("/api/v2/analytics/conversations/details/query", e(self.query_conversations),
                  methods=["POST"]),
            Route("/api/v2/architect/ivrs", e(self.list_ivrs), methods=["GET"]),
            Route("/api/v2/architect/ivrs", e(self.create_ivr), methods=["POST"]),
            Route("/api/v2/architect/ivrs/{ivrId}", e(self.get_ivr), methods=["GET"]),
            Route("/api/v2/architect/ivrs/{ivrId}", e(self.put_ivr), methods=["PUT"]),
            Route("/api/v2/architect/ivrs/{ivrId}", e(self.delete_ivr), methods=["DELETE"]),
            Route("/api/v2/flows", e(self.list_flows), methods=["GET"]),
            Route("/api/v2/flows/{flowId}", e(self.get_flow), methods=["GET"]),
            Route("/api/v2/users", e(self.list_users), methods=["GET"]),
            Route("/api/v2/users/search", e(self.search_users), methods=["POST"]),
            Route("/api/v2/users/search", e(self.search_users_q64), methods=["GET"]),
            Route("/api/v2/users/{userId}", e(self.get_user), methods=["GET"]),
            Route("/api/v2/users/{userId}", e(self.patch_user), methods=["PATCH"]),
        ]  # fmt: skip
        unmatched = e(self._unmatched(vendor))
        return [
            Route("/oauth/token", self.post_token, methods=["POST"]),
            Route("/_sandbox/genesys/trunk-status", self.post_trunk_status, methods=["POST"]),
            Route("/_sandbox/genesys/clock", self.post_clock, methods=["POST"]),
            Route("/_sandbox/genesys/limits", self.post_limits, methods=["POST"]),
            Route("/_sandbox/genesys/notifications", self.post_notifications, methods=["POST"]),
            Route("/_sandbox/genesys/notifications", self.get_notifications, methods=["GET"]),
            Route("/_sandbox/genesys/admin-change", self.post_admin_change, methods=["POST"]),
            *vendor,
            Route("/api/v2/{rest:path}", unmatched,
                  methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]  # fmt: skip

    def _unmatched(self, vendor: list[BaseRoute]) -> Handler:
        def handler(call: ApiCall) -> Reply:
            for route in vendor:
                match, _ = route.matches(call.request.scope)
                if match == Match.PARTIAL:
                    raise GenesysError(
                        405,
                        "method.not.allowed",
                        f"HTTP {call.request.method} is not supported on {call.path}.",
                    )
            raise GenesysError(404, "not.found", f"No resource matches {call.path}.")

        return handler

    # ----- OAuth ---------------------------------------------------------------------------

    async def post_token(self, request: Request) -> Response:
        """`POST /oauth/token`: client credentials with HTTP Basic auth."""
        raw = await request.body()

        def oauth_error(status: int, error: str, description: str) -> Response:
            return JSONResponse(
                {"error": error, "description": description, "error_description": description},
                status_code=status,
            )

        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return oauth_error(
                400, "invalid_request", "The body must be application/x-www-form-urlencoded."
            )
        form = parse_qs(raw.decode("latin-1"))
        if form.get("grant_type") != ["client_credentials"]:
            return oauth_error(
                400, "unsupported_grant_type", "Only grant_type=client_credentials is supported."
            )
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        try:
            client_id, _, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            client_id, secret = "", ""
        with self.lock:
            settings = self.settings
            if scheme.lower() != "basic" or not (
                secrets.compare_digest(client_id, settings.client_id)
                and secrets.compare_digest(secret, settings.client_secret)
            ):
                return oauth_error(401, "invalid_client", "client not found or bad secret")
            token = secrets.token_urlsafe(48)
            self.tokens[token] = self.now() + settings.token_lifetime_s
        return JSONResponse(
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": int(settings.token_lifetime_s),
            }
        )

    # ----- sandbox control -----------------------------------------------------------------

    async def post_trunk_status(self, request: Request) -> Response:
        """Flip a trunk's state: `{"trunk": id-or-name, "connected": bool, "in_service": bool,
        "option_state": bool (every proxy) | "options": {proxy: bool}, "error": {text, code},
        "inbound_calls": int, "outbound_calls": int}`."""
        try:
            body = await self._control_body(request)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        with self.lock:
            now = self.now()
            key = body.get("trunk")
            trunks = list(self.org.trunks.values())
            found = [t for t in trunks if key in (t.id, t.name)] if key else trunks[:1]
            if not found:
                return JSONResponse({"error": f"no trunk {key!r}"}, status_code=404)
            trunk = found[0]
            if "connected" in body and bool(body["connected"]) != trunk.connected:
                trunk.connected, trunk.connected_at = bool(body["connected"]), now
            if "in_service" in body:
                trunk.in_service = bool(body["in_service"])
            states: dict[str, bool] = {}
            if "option_state" in body:
                states = {p.proxy_address: bool(body["option_state"]) for p in trunk.proxies}
            states.update({str(k): bool(v) for k, v in (body.get("options") or {}).items()})
            unknown = set(states) - {p.proxy_address for p in trunk.proxies}
            if unknown:
                return JSONResponse(
                    {"error": f"unknown proxies {sorted(unknown)}"}, status_code=400
                )
            error = body.get("error") or {"text": "SIP OPTIONS timed out", "code": "408"}
            for proxy in trunk.proxies:
                if proxy.proxy_address in states:
                    proxy.option_state, proxy.state_time = states[proxy.proxy_address], now
                    up = proxy.option_state
                    proxy.error_text = None if up else str(error.get("text", ""))
                    proxy.error_code = None if up else str(error.get("code", ""))
            for counter in ("inbound_calls", "outbound_calls"):
                if counter in body:
                    setattr(trunk, counter, int(body[counter]))
            if "connected" in body or states:
                self.notifier.trunk(trunk.to_json(), now)
            return JSONResponse(trunk.to_json())

    async def post_notifications(self, request: Request) -> Response:
        """Point the trigger → workflow → data action path at a URL: `{"url", "secret",
        "header"?, "topics"?}` (sandbox/genesys_notify.py); `{"url": null}` turns it off."""
        try:
            body = await self._control_body(request)
            with self.lock:
                self.notifier.configure(body)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"url": self.notifier.url, "topics": list(self.notifier.topics)})

    async def get_notifications(self, request: Request) -> Response:
        """Every delivery made (topic, body, answer) and whether any is still on its way."""
        return JSONResponse({"idle": self.notifier.idle(), "deliveries": self.notifier.state()})

    async def post_admin_change(self, request: Request) -> Response:
        """An administrator edits an IVR's numbers in the Genesys UI: `{"ivr": name, "add": [...],
        "remove": [...]}`. The org's rules apply; the audit names the UI's client."""
        try:
            body = await self._control_body(request)
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        with self.lock:
            now = self.now()
            found = [i for i in self.org.ivrs.values() if i.name == body.get("ivr")]
            if not found:
                return JSONResponse({"error": f"no IVR {body.get('ivr')!r}"}, status_code=404)
            ivr = found[0]
            gone = set(body.get("remove") or ())
            dnis = [n for n in ivr.dnis if n not in gone] + list(body.get("add") or ())
            try:
                self.org.update_ivr(ivr.id, {**ivr.to_json(), "dnis": dnis}, now,
                                    lambda _: True)
            except GenesysError as exc:
                return JSONResponse(exc.body(), status_code=exc.status)
            self.notifier.audit(client_id=UI_CLIENT_ID, entity_type="IVR", action="Update",
                                entity=ivr.ref(), now=now)
            return JSONResponse(ivr.to_json())

    def _audited(self, call: ApiCall, entity_type: str, action: str, entity: Any) -> None:
        """A write of byoc's OAuth client (the org's only API client) went through."""
        self.notifier.audit(client_id=self.settings.client_id, entity_type=entity_type,
                            action=action, entity=entity.ref(), now=call.now)

    async def _control_body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            raise ValueError(f"body is not JSON: {exc}") from None
        if not isinstance(body, dict):
            raise ValueError("body must be a JSON object")
        return body

    async def post_clock(self, request: Request) -> Response:
        """Move the emulator clock: `{"advance_s": 3600}` (token expiry, rate-limit windows)."""
        try:
            advance = float((await self._control_body(request))["advance_s"])
        except (ValueError, KeyError, TypeError) as exc:
            return JSONResponse({"error": f"expected {{'advance_s': seconds}}: {exc}"}, 400)
        with self.lock:
            self.clock_offset_s += advance
            return JSONResponse({"offset_s": self.clock_offset_s})

    async def post_limits(self, request: Request) -> Response:
        """Change rate limiting until reset: `{"rate_limit_per_minute": 5,
        "rate_limit_retry_after": false}`."""
        try:
            body = await self._control_body(request)
            changes: dict[str, Any] = {}
            if "rate_limit_per_minute" in body:
                changes["rate_limit_per_minute"] = int(body["rate_limit_per_minute"])
            if "rate_limit_retry_after" in body:
                changes["rate_limit_retry_after"] = bool(body["rate_limit_retry_after"])
            unknown = set(body) - {"rate_limit_per_minute", "rate_limit_retry_after"}
            if unknown:
                raise ValueError(f"unknown keys {sorted(unknown)}")
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        with self.lock:
            self.settings = replace(self.settings, **changes)
            self.rate_windows.clear()
            return JSONResponse(
                {
                    "rate_limit_per_minute": self.settings.rate_limit_per_minute,
                    "rate_limit_retry_after": self.settings.rate_limit_retry_after,
                }
            )

    # ----- ipranges ------------------------------------------------------------------------

    def get_ipranges(self, call: ApiCall) -> Reply:
        return 200, {"entities": list(self.settings.ip_ranges)}

    # ----- DID pools and DIDs --------------------------------------------------------------

    def _pool(self, call: ApiCall) -> DidPool:
        pool: DidPool = self.org.get(self.org.pools, "DID pool", call.param("didPoolId"))
        return pool

    def _pool_json(self, pool: DidPool, now: float) -> dict[str, Any]:
        """A pool as read: one deleted moments ago still reads as active under the
        `pool_delete_lag` variant "lagging"."""
        out = pool.to_json()
        if pool.state == "deleted" and not self.org.deletion_shown(pool, now):
            out["state"] = "active"
        return out

    def list_pools(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        ids = call.query.items("id")
        if ids:
            pools = _sorted((p for p in self.org.pools.values() if p.id in ids), call,
                            default="number")
        else:
            pools = self._pools_in_order(call)
        # Only the page's pools are rendered: at 50,000 pools, rendering all of them per page
        # made listing an org take minutes (what a page holds is unchanged).
        chunk = [self._pool_json(p, call.now) for p in pools[page.start : page.start + page.size]]
        return 200, listing(chunk, len(pools), page, call.path, call.request.query_params)

    def _pools_in_order(self, call: ApiCall) -> list[DidPool]:
        """Every pool as `sortBy`/`sortOrder` order them, sorted again only after a pool write
        (a listing of 50,000 pools is 500 pages: sorting them for each page took minutes)."""
        attr, descending = _sort_order(call, "number")
        org = self.org
        key = (id(org), attr, descending, org.pool_writes, len(org.pools))
        cached = self._pool_order.get((attr, descending))
        if cached is None or cached[0] != key:
            pools = _sorted(org.pools.values(), call, default="number")
            cached = self._pool_order[(attr, descending)] = (key, pools)
        return cached[1]

    def create_pool(self, call: ApiCall) -> Reply:
        pool = self.org.create_pool(call.json(), call.now)
        self._audited(call, "DIDPool", "Create", pool)
        return 200, pool.to_json()

    def get_pool(self, call: ApiCall) -> Reply:
        return 200, self._pool_json(self._pool(call), call.now)

    def put_pool(self, call: ApiCall) -> Reply:
        pool = self.org.update_pool(call.param("didPoolId"), call.json(), call.now)
        self._audited(call, "DIDPool", "Update", pool)
        return 200, pool.to_json()

    def delete_pool(self, call: ApiCall) -> Reply:
        self.org.delete_pool(call.param("didPoolId"), call.now)
        self._audited(call, "DIDPool", "Delete", self._pool(call))
        return 204, None

    def list_pool_numbers(self, call: ApiCall) -> Reply:
        """`/didpools/dids`: every number of the pools, or only the unassigned ones."""
        kind = call.query.text("type")
        if kind is None:
            raise bad_request("The query parameter 'type' is required.", field="type")
        if kind not in DIDS_TYPES:
            raise invalid_value("type", kind, f"Allowable values are {', '.join(DIDS_TYPES)}.")
        page = call.page(self.settings.max_page_size)
        match = call.query.text("numberMatch")
        order = (call.query.text("sortOrder") or "ascending").lower()
        if order not in ("ascending", "descending", "asc", "desc"):
            raise invalid_value("sortOrder", order, "Allowable values are ascending, descending.")
        dids = self.org.dids
        numbers = [
            (number, pool)
            for number, pool in self.org.pool_numbers(
                call.query.items("id"), match, self.variant("dids_number_match"))
            if kind == "ASSIGNED_AND_UNASSIGNED" or number not in dids
        ]
        if order.startswith("desc"):
            numbers.reverse()
        chunk = numbers[page.start : page.start + page.size]
        entities: list[dict[str, Any]] = []
        for number, pool in chunk:
            did = dids.get(number)
            entry: dict[str, Any] = {}
            if did is not None:
                entry["id"] = did.id
            entry["number"] = number
            entry["assigned"] = did is not None
            entry["didPool"] = {"id": pool.id, "selfUri": pool.self_uri}
            if did is not None:
                entry["owner"] = did.owner.ref()
                entry["ownerType"] = did.owner_type
                entry["selfUri"] = f"{EDGES}/dids/{did.id}"
            entities.append(entry)
        query = call.request.query_params
        return 200, listing(entities, len(numbers), page, call.path, query, with_entity_count=False)

    def _did_json(self, number: str) -> dict[str, Any]:
        did = self.org.dids[number]
        return {
            "id": did.id,
            "name": did.number,
            "state": "active",
            "version": 1,
            "phoneNumber": did.number,
            "didPool": did.pool.ref(),
            "owner": did.owner.ref(),
            "ownerType": did.owner_type,
            "selfUri": f"{EDGES}/dids/{did.id}",
        }

    def list_dids(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        q = call.query
        phone, owner, pool_id, ids = (
            q.text("phoneNumber"),
            q.text("owner.id"),
            q.text("didPool.id"),
            q.items("id"),
        )
        order = (q.text("sortOrder") or "ASC").upper()
        dids = [
            d
            for d in self.org.dids.values()
            if (phone is None or d.number == phone)
            and (owner is None or d.owner.id == owner)
            and (pool_id is None or d.pool.id == pool_id)
            and (not ids or d.id in ids)
        ]
        dids.sort(key=lambda d: d.number, reverse=order.startswith("DESC"))
        chunk = [self._did_json(d.number) for d in dids[page.start : page.start + page.size]]
        return 200, listing(chunk, len(dids), page, call.path, call.request.query_params)

    def get_did(self, call: ApiCall) -> Reply:
        did_id = call.param("didId")
        for did in self.org.dids.values():
            if did.id == did_id:
                return 200, self._did_json(did.number)
        raise not_found("DID", did_id)

    # ----- Architect: IVRs and flows -------------------------------------------------------

    def _pool_visible(self, call: ApiCall) -> Callable[[DidPool], bool]:
        """Eventual consistency: a fresh pool (or a range changed moments ago) may not be
        visible yet to Architect/Directory."""
        window = self.settings.eventual_consistency_window_s

        def visible(pool: DidPool) -> bool:
            if call.now - max(pool.created_at, pool.range_changed_at or 0.0) >= window:
                return True
            return self.faults.take("eventual_consistency", call.path, call.request.method) is None

        return visible

    def _concurrent_write(self, call: ApiCall) -> bool:
        return self.faults.take("version_conflict", call.path, call.request.method) is not None

    def query_conversations(self, call: ApiCall) -> Reply:
        """Conversation details (sandbox/sip_genesys.py): the calls the org's SIP side took."""
        if self.sip is None:
            return 200, {"totalHits": 0}
        return self.sip.query(call)

    def list_ivrs(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        q = call.query
        name, dnis, group = q.text("name"), q.text("dnis"), q.text("scheduleGroup")
        ivrs: list[Ivr] = [
            i
            for i in self.org.ivrs.values()
            if _name_matches(name, i.name)
            and (dnis is None or dnis in i.dnis)
            and (group is None or (i.schedule_group is not None and i.schedule_group.id == group))
        ]
        entities = [i.to_json() for i in _sorted(ivrs, call)]
        return 200, paged(entities, page, call.path, call.request.query_params)

    def create_ivr(self, call: ApiCall) -> Reply:
        ivr = self.org.create_ivr(call.json(), call.now, self._pool_visible(call))
        self._audited(call, "IVR", "Create", ivr)
        return 200, ivr.to_json()

    def get_ivr(self, call: ApiCall) -> Reply:
        ivr: Ivr = self.org.get(self.org.ivrs, "IVR", call.param("ivrId"))
        return 200, ivr.to_json()

    def put_ivr(self, call: ApiCall) -> Reply:
        body = call.json()
        ivr = self.org.update_ivr(
            call.param("ivrId"),
            body,
            call.now,
            self._pool_visible(call),
            concurrent_write=self._concurrent_write(call),
        )
        self._audited(call, "IVR", "Update", ivr)
        return 200, ivr.to_json()

    def delete_ivr(self, call: ApiCall) -> Reply:
        ivr: Ivr = self.org.get(self.org.ivrs, "IVR", call.param("ivrId"))
        self.org.delete_ivr(ivr.id, call.now)
        self._audited(call, "IVR", "Delete", ivr)
        return 204, None

    def list_flows(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        types = [t.upper() for t in call.query.items("type")]
        for flow_type in types:
            if flow_type not in FLOW_TYPES:
                raise invalid_value("type", flow_type, "Not a flow type.")
        name = call.query.text("name")
        flows = [
            f
            for f in self.org.flows.values()
            if (not types or f.type in types) and _name_matches(name, f.name)
        ]
        entities = [f.to_json() for f in _sorted(flows, call)]
        return 200, paged(
            entities, page, call.path, call.request.query_params, with_entity_count=False
        )

    def get_flow(self, call: ApiCall) -> Reply:
        return 200, self.org.get(self.org.flows, "flow", call.param("flowId")).to_json()

    # ----- users ---------------------------------------------------------------------------

    def list_users(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        ids = call.query.items("id")
        state = call.query.text("state") or "active"
        users = [
            u
            for u in self.org.users.values()
            if (not ids or u.id in ids) and (state == "any" or u.state == state)
        ]
        entities = [u.to_json() for u in _sorted(users, call)]
        return 200, paged(
            entities, page, call.path, call.request.query_params, with_entity_count=False
        )

    def _user_matches(self, user_json: dict[str, Any], criterion: dict[str, Any]) -> bool:
        kind = criterion.get("type")
        fields = criterion.get("fields") or []
        values = criterion.get("values") or (
            [criterion["value"]] if criterion.get("value") is not None else []
        )
        if kind not in USER_SEARCH_TYPES:
            raise bad_request(
                f"Search type {kind!r} is not supported here; use one of "
                f"{', '.join(USER_SEARCH_TYPES)}.",
                code="invalid.search.type",
            )
        if not fields or not values:
            raise bad_request("A search criterion needs 'fields' and 'value' or 'values'.")
        for name in fields:
            if name not in USER_SEARCH_FIELDS:
                raise bad_request(
                    f"Field {name!r} is not searchable; use {', '.join(USER_SEARCH_FIELDS)}.",
                    code="invalid.search.field",
                )
        for name in fields:
            raw = user_json.get(name)
            candidates = (
                [str(a.get("address", "")) for a in raw]
                if name == "addresses" and isinstance(raw, list)
                else [str(raw or "")]
            )
            for candidate in candidates:
                for value in values:
                    needle, hay = str(value).lower(), candidate.lower()
                    if (
                        (kind == "EXACT" and hay == needle)
                        or (kind == "CONTAINS" and needle in hay)
                        or (kind == "STARTS_WITH" and hay.startswith(needle))
                    ):
                        return True
        return False

    def _search(self, request: Any) -> dict[str, Any]:
        if not isinstance(request, dict):
            raise bad_request("The search request must be a JSON object.")
        criteria = request.get("query")
        if not isinstance(criteria, list) or not criteria:
            raise bad_request("Field 'query' is required and cannot be empty.", field="query")
        size = request.get("pageSize", 25)
        number = request.get("pageNumber", 1)
        if not isinstance(size, int) or not 1 <= size <= self.settings.max_page_size:
            raise invalid_value(
                "pageSize", size, f"Allowable values are 1 to {self.settings.max_page_size}."
            )
        if not isinstance(number, int) or number < 1:
            raise invalid_value("pageNumber", number, "Page numbers start at 1.")
        found = []
        for user in sorted(self.org.users.values(), key=lambda u: u.name.lower()):
            data = user.to_json()
            if all(self._user_matches(data, c) for c in criteria if isinstance(c, dict)):
                found.append(data)
        chunk = found[(number - 1) * size : number * size]
        out: dict[str, Any] = {
            "total": len(found),
            "pageCount": math.ceil(len(found) / size),
            "pageSize": size,
            "pageNumber": number,
            "types": ["users"],
        }
        if chunk:
            out["results"] = chunk
        return out

    def search_users(self, call: ApiCall) -> Reply:
        return 200, self._search(call.json())

    def search_users_q64(self, call: ApiCall) -> Reply:
        q64 = call.query.text("q64")
        if q64 is None:
            raise bad_request("The query parameter 'q64' is required.", field="q64")
        try:
            decoded = json.loads(base64.b64decode(q64 + "=" * (-len(q64) % 4)))
        except (binascii.Error, ValueError):
            raise invalid_value("q64", q64, "Expected base64-encoded JSON.") from None
        return 200, self._search(decoded)

    def get_user(self, call: ApiCall) -> Reply:
        return 200, self.org.get(self.org.users, "user", call.param("userId")).to_json()

    def patch_user(self, call: ApiCall) -> Reply:
        body = call.json()
        user = self.org.patch_user(
            call.param("userId"),
            body,
            call.now,
            self._pool_visible(call),
            concurrent_write=self._concurrent_write(call),
        )
        return 200, user.to_json()

    # ----- trunk bases and trunks ----------------------------------------------------------

    def list_trunk_bases(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        name, managed = call.query.text("name"), call.query.boolean("managed")
        bases = [
            b
            for b in self.org.trunk_bases.values()
            if _name_matches(name, b.name) and (managed is None or b.managed == managed)
        ]
        entities = [b.to_json() for b in _sorted(bases, call)]
        return 200, paged(entities, page, call.path, call.request.query_params)

    def _trunk_base(self, call: ApiCall) -> TrunkBase:
        base: TrunkBase = self.org.get(
            self.org.trunk_bases, "trunk base settings", call.param("baseId")
        )
        return base

    def get_trunk_base(self, call: ApiCall) -> Reply:
        return 200, self._trunk_base(call).to_json()

    def put_trunk_base(self, call: ApiCall) -> Reply:
        base = self.org.update_trunk_base(self._trunk_base(call), call.json(), call.now)
        return 200, base.to_json()

    def list_trunks(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        q = call.query
        base_ids, trunk_type = q.items("trunkBase.id"), q.text("trunkType")
        if trunk_type is not None and trunk_type not in ("EXTERNAL", "PHONE", "EDGE"):
            raise invalid_value(
                "trunkType", trunk_type, "Allowable values are EXTERNAL, PHONE, EDGE."
            )
        edge_ids = q.items("edge.id")
        trunks = [
            t
            for t in self.org.trunks.values()
            if (not base_ids or t.trunk_base.id in base_ids)
            and (trunk_type is None or t.trunk_base.trunk_type == trunk_type)
            and (not edge_ids or t.edge_group_id in edge_ids)
        ]
        entities = [t.to_json() for t in _sorted(trunks, call)]
        return 200, paged(entities, page, call.path, call.request.query_params)

    def _trunk(self, trunk_id: str) -> Trunk:
        trunk: Trunk = self.org.get(self.org.trunks, "trunk", trunk_id)
        return trunk

    def get_trunk(self, call: ApiCall) -> Reply:
        return 200, self._trunk(call.param("trunkId")).to_json()

    def get_trunk_metrics(self, call: ApiCall) -> Reply:
        return 200, self._trunk(call.param("trunkId")).metrics_json(call.now)

    def list_trunk_metrics(self, call: ApiCall) -> Reply:
        ids = call.query.items("trunkIds")
        if not ids:
            raise bad_request("The query parameter 'trunkIds' is required.", field="trunkIds")
        return 200, [self._trunk(i).metrics_json(call.now) for i in ids]

    # ----- sites, number plans, outbound routes --------------------------------------------

    def _site(self, call: ApiCall) -> Site:
        site: Site = self.org.get(self.org.sites, "site", call.param("siteId"))
        return site

    def list_sites(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        name, managed = call.query.text("name"), call.query.boolean("managed")
        sites = [
            s
            for s in self.org.sites.values()
            if _name_matches(name, s.name) and (managed is None or s.managed == managed)
        ]
        entities = [s.to_json() for s in _sorted(sites, call)]
        return 200, paged(entities, page, call.path, call.request.query_params)

    def get_site(self, call: ApiCall) -> Reply:
        return 200, self._site(call).to_json()

    def get_plans(self, call: ApiCall) -> Reply:
        return 200, self._site(call).number_plans[: self.org.rules.max_number_plans]

    def put_plans(self, call: ApiCall) -> Reply:
        return 200, self.org.put_number_plans(self._site(call), call.json())

    def _routes_of(self, call: ApiCall, site: Site | None) -> list[OutboundRoute]:
        q = call.query
        name, bases = q.text("name"), q.items("externalTrunkBases.ids")
        site_ids = q.items("site.id")
        return [
            r
            for r in self.org.outbound_routes.values()
            if (site is None or r.site is site)
            and (not site_ids or r.site.id in site_ids)
            and _name_matches(name, r.name)
            and (not bases or any(b.id in bases for b in r.external_trunk_bases))
        ]

    def list_routes(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        routes = self._routes_of(call, self._site(call))
        entities = [r.to_json() for r in _sorted(routes, call)]
        return 200, paged(entities, page, call.path, call.request.query_params)

    def list_all_routes(self, call: ApiCall) -> Reply:
        page = call.page(self.settings.max_page_size)
        routes = self._routes_of(call, None)
        entities = [r.to_json(with_site=True) for r in _sorted(routes, call)]
        return 200, paged(entities, page, call.path, call.request.query_params)

    def _route(self, call: ApiCall) -> OutboundRoute:
        site = self._site(call)
        route_id = call.param("routeId")
        route = self.org.outbound_routes.get(route_id)
        if route is None or route.site is not site:
            raise not_found("outbound route", route_id)
        return route

    def post_route(self, call: ApiCall) -> Reply:
        route = self.org.create_route(self._site(call), call.json(), call.now)
        self._audited(call, "OutboundRoute", "Create", route)
        return 200, route.to_json()

    def get_route(self, call: ApiCall) -> Reply:
        return 200, self._route(call).to_json()

    def put_route(self, call: ApiCall) -> Reply:
        route = self.org.update_route(self._route(call), call.json(), call.now)
        self._audited(call, "OutboundRoute", "Update", route)
        return 200, route.to_json()

    def delete_route(self, call: ApiCall) -> Reply:
        route = self._route(call)
        del self.org.outbound_routes[route.id]
        self._audited(call, "OutboundRoute", "Delete", route)
        return 204, None
