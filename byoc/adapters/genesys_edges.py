"""Genesys edges: sites, trunk bases, outbound routes, trunk status; and calls seen by analytics."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from byoc.adapters.genesys_client import PAGE_SIZE, GenesysClient
from byoc.adapters.genesys_errors import GenesysNotFound
from byoc.ports import (
    GenesysCallSeen,
    GenesysError,
    GenesysOutboundRoute,
    GenesysOutboundRouteSpec,
    GenesysProxyStatus,
    GenesysRef,
    GenesysTrunkStatus,
)


def _utc_z(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Edges(GenesysClient):
    """Sites, trunk bases, outbound routes, trunks; conversations by DNIS."""

    def calls_to(self, number: str, start: dt.datetime, end: dt.datetime) -> list[GenesysCallSeen]:
        """Conversations whose DNIS is `number` that started between `start` and `end`
        (`POST /api/v2/analytics/conversations/details/query`, a segment filter on `dnis` as
        `tel:+E164`). UNVERIFIED on a real tenant (docs/verify-on-a-real-tenant.md): the DNIS
        form BYOC Cloud calls carry, and how soon a conversation shows in the query."""
        apis = self._apis()
        sdk = apis.G
        predicate = sdk.SegmentDetailQueryPredicate()
        predicate.type, predicate.dimension, predicate.value = "dimension", "dnis", f"tel:{number}"
        segment_filter = sdk.SegmentDetailQueryFilter()
        segment_filter.type, segment_filter.predicates = "and", [predicate]
        query = sdk.ConversationQuery()
        query.interval = f"{_utc_z(start)}/{_utc_z(end)}"
        query.segment_filters = [segment_filter]
        query.order = "asc"
        api = sdk.ConversationsApi(apis.client)
        answer = self._call(f"the conversations to {number}",
                            api.post_analytics_conversations_details_query, query)
        seen: list[GenesysCallSeen] = []
        for conversation in answer.conversations or []:
            codecs: list[str] = []
            routed = ""
            for participant in conversation.participants or []:
                if participant.purpose in ("ivr", "agent", "acd", "user") and not routed:
                    routed = f"{participant.purpose} {participant.participant_name or ''}".strip()
                for session in participant.sessions or []:
                    for stat in session.media_endpoint_stats or []:
                        codecs += [str(c) for c in stat.codecs or [] if str(c) not in codecs]
            seen.append(GenesysCallSeen(
                conversation_id=str(conversation.conversation_id),
                start=conversation.conversation_start,
                end=conversation.conversation_end,
                codecs=tuple(codecs),
                routed_to=routed,
            ))
        return seen

    def find_site(self, name: str) -> GenesysRef | None:
        edges = self._apis().edges
        models = self._pages(f"find site {name!r}", lambda page: edges.get_telephony_providers_edges_sites(
            name=name, page_size=PAGE_SIZE, page_number=page))
        return _named(models, name)

    def find_trunk_base(self, name: str) -> GenesysRef | None:
        edges = self._apis().edges
        models = self._pages(
            f"find trunk base settings {name!r}",
            lambda page: edges.get_telephony_providers_edges_trunkbasesettings(
                name=name, page_size=PAGE_SIZE, page_number=page))
        return _named(models, name)

    def read_trunk_base_codecs(self, trunk_base_name: str) -> tuple[str, ...] | None:
        """The trunk base's `trunk_media_codec` property (instance value, else its default)."""
        base = self.find_trunk_base(trunk_base_name)
        if base is None:
            raise GenesysNotFound(
                f"no trunk base settings named {trunk_base_name!r} in Genesys; check "
                "BYOC_GENESYS_TRUNK_BASE_NAME")
        edges = self._apis().edges
        model = self._call(
            f"read trunk base settings {trunk_base_name!r}",
            lambda: edges.get_telephony_providers_edges_trunkbasesetting(base.id))
        prop = (model.properties or {}).get("trunk_media_codec") or {}
        value = prop.get("value") if isinstance(prop, dict) else None
        if not isinstance(value, dict):
            return None
        codecs = value.get("instance")
        if codecs is None:
            codecs = value.get("default")
        if not isinstance(codecs, list):
            return None
        return tuple(str(c) for c in codecs)

    def list_outbound_routes(self) -> list[GenesysOutboundRoute]:
        """`GET /outboundroutes`: the routes of every site, each naming its site (one read)."""
        edges = self._apis().edges
        models = self._pages(
            "list outbound routes",
            lambda page: edges.get_telephony_providers_edges_outboundroutes(
                page_size=PAGE_SIZE, page_number=page))
        return [_route(m) for m in models]

    def create_outbound_route(
        self, site: GenesysRef, spec: GenesysOutboundRouteSpec
    ) -> GenesysOutboundRoute:
        apis = self._apis()
        body = _route_model(apis.G, spec)
        what = f"create outbound route {spec.name!r} on site {site.name!r}"
        try:
            created = self._call(
                what, apis.edges.post_telephony_providers_edges_site_outboundroutes, site.id, body)
        except GenesysError:
            for route in self.list_outbound_routes():
                if (route.site is None or route.site.id == site.id) and (
                    route.name == spec.name and route.description == spec.description
                ):
                    return route  # an earlier attempt landed
            raise
        return replace(_route(created), site=site)

    def update_outbound_route(
        self, site: GenesysRef, route: GenesysOutboundRoute, spec: GenesysOutboundRouteSpec
    ) -> GenesysOutboundRoute:
        apis = self._apis()
        body = _route_model(apis.G, spec)
        body.id, body.version = route.id, route.version
        what = f"update outbound route {route.name!r} on site {site.name!r}"
        saved = self._write(
            what, apis.edges.put_telephony_providers_edges_site_outboundroute,
            site.id, route.id, body)
        return replace(_route(saved), site=site)

    def delete_outbound_route(self, site: GenesysRef, route: GenesysOutboundRoute) -> None:
        edges = self._apis().edges
        what = f"delete outbound route {route.name!r} on site {site.name!r}"
        try:
            self._call(
                what, edges.delete_telephony_providers_edges_site_outboundroute, site.id, route.id)
        except GenesysNotFound:
            return

    def read_trunk_status(self, trunk_base_name: str | None = None) -> list[GenesysTrunkStatus]:
        """The external (BYOC) trunks, or those of one trunk base: connected, OPTIONS, in service."""
        edges = self._apis().edges
        base_id: str | None = None
        if trunk_base_name:
            base = self.find_trunk_base(trunk_base_name)
            if base is None:
                raise GenesysNotFound(
                    f"no trunk base settings named {trunk_base_name!r} in Genesys; check "
                    "BYOC_GENESYS_TRUNK_BASE_NAME")
            base_id = base.id
        models = self._pages("list trunks", lambda page: edges.get_telephony_providers_edges_trunks(
            trunk_base_id=base_id, trunk_type="EXTERNAL", page_size=PAGE_SIZE, page_number=page))
        return [_trunk(m) for m in models]


def _named(models: list[Any], name: str) -> GenesysRef | None:
    exact = [m for m in models if str(m.name) == name]
    loose = [m for m in models if str(m.name).casefold() == name.casefold()]
    found = (exact or loose or [None])[0]
    return None if found is None else GenesysRef(id=str(found.id), name=str(found.name))


def _route(model: Any) -> GenesysOutboundRoute:
    return GenesysOutboundRoute(
        id=str(model.id),
        name=str(model.name or ""),
        version=int(model.version or 0),
        classification_types=tuple(model.classification_types or ()),
        trunk_bases=tuple(
            GenesysRef(id=str(b.id), name=str(b.name or "")) for b in model.external_trunk_bases or ()
        ),
        enabled=bool(model.enabled),
        distribution=str(model.distribution or "SEQUENTIAL"),
        description=str(model.description or ""),
        site=(GenesysRef(id=str(site.id), name=str(site.name or ""))
              if (site := getattr(model, "site", None)) is not None else None),
    )


def _route_model(G: Any, spec: GenesysOutboundRouteSpec) -> Any:  # noqa: N803
    body = G.OutboundRouteBase()
    body.name, body.description = spec.name, spec.description
    body.classification_types = list(spec.classification_types)
    body.enabled, body.distribution = spec.enabled, spec.distribution
    ref = G.DomainEntityRef()
    ref.id = spec.trunk_base.id
    body.external_trunk_bases = [ref]
    return body


def _trunk(model: Any) -> GenesysTrunkStatus:
    connected = model.connected_status
    options = tuple(
        GenesysProxyStatus(
            proxy_address=str(o.proxy_address or ""),
            ok=bool(o.option_state),
            since=_iso(o.option_state_time),
            error=(o.error_info.text or o.error_info.code) if o.error_info else None,
        )
        for o in model.options_status or ()
    )
    return GenesysTrunkStatus(
        id=str(model.id),
        name=str(model.name or ""),
        trunk_base=str(model.trunk_base.name or model.trunk_base.id) if model.trunk_base else "",
        in_service=bool(model.in_service),
        enabled=bool(model.enabled),
        connected=bool(connected.connected) if connected else False,
        connected_since=_iso(connected.connected_state_time) if connected else None,
        options=options,
    )


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
