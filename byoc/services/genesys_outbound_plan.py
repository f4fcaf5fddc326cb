"""The Genesys planner's outbound part: byoc's outbound route through the BYOC trunk base."""

from __future__ import annotations

from typing import TYPE_CHECKING

from byoc.domain.plan import Action, Change
from byoc.ports import GenesysOutboundRoute, GenesysOutboundRouteSpec, GenesysPort, GenesysRef
from byoc.services.genesys_model import (
    MARKER,
    ROUTE_DESCRIPTION,
    ROUTE_KIND,
    TARGET,
    GenesysDesired,
    GenesysState,
    OutboundState,
    owned,
)
from byoc.services.genesys_payloads import RouteRead, RouteSpec
from byoc.services.genesys_plan_rules import Analysis

if TYPE_CHECKING:
    from byoc.settings import Settings


class GenesysOutboundPlanner:
    """Reads and plans the outbound route of the configured site."""

    target = TARGET

    def __init__(self, settings: Settings, port: GenesysPort) -> None:
        self._settings = settings
        self._port = port

    def read(self) -> OutboundState | None:
        """The site's outbound routes (None: the outbound route is not managed)."""
        settings = self._settings
        if not (settings.genesys_site_name and settings.genesys_trunk_base_name):
            return None
        return OutboundState(self._port, settings.genesys_site_name,
                             settings.genesys_trunk_base_name, self._port.list_outbound_routes())

    def changes(
        self, actual: GenesysState, desired: GenesysDesired, out: Analysis
    ) -> list[Change]:
        """The change byoc's route needs, if any; conflicts and notes go to `out`."""
        wanted = desired.outbound
        state = actual.outbound
        if wanted is None or state is None:
            out.notes.append(
                "the outbound route is not managed: set BYOC_GENESYS_SITE_NAME and "
                "BYOC_GENESYS_TRUNK_BASE_NAME")
            return []
        mine = [r for r in state.routes if r.name == wanted.route_name and owned(r.description)]
        clash = [r for r in state.routes if r.name == wanted.route_name and not owned(r.description)]
        if clash:
            out.conflicts.append(
                f"outbound route {wanted.route_name!r} on site {wanted.site!r} is not byoc's (no "
                f"{MARKER!r} in its description); byoc does not change it. Rename it, mark it, or "
                "set BYOC_GENESYS_OUTBOUND_ROUTE_NAME")
            return []
        carried: list[str] = []
        for classification in wanted.classifications:
            others = [r for r in state.routes if r.enabled and not owned(r.description)
                      and classification in r.classification_types]
            agreeing = [r for r in others if state.through_trunk_base(r)]
            if agreeing:
                out.notes.append(
                    f"{classification} calls already go through {wanted.trunk_base!r} by foreign "
                    f"outbound route {agreeing[0].name!r}")
            elif others:
                through = ", ".join(b.name or b.id for b in others[0].trunk_bases) or "no trunk"
                out.conflicts.append(
                    f"foreign outbound route {others[0].name!r} sends {classification} calls "
                    f"through {through}, not the BYOC trunk base {wanted.trunk_base!r}; byoc does "
                    "not change it")
            else:
                carried.append(classification)
        current = mine[0] if mine else None
        if not carried:
            if current is None:
                return []
            return [self._route_change(Action.REMOVE, current, None, current.site,
                                       "no classification left for byoc's route (foreign "
                                       "routes carry them)")]
        if current is not None and not route_differences(current, carried, state):
            return []
        site, base = state.site(), state.trunk_base()
        if site is None or base is None:
            missing = (f"site {wanted.site!r} (BYOC_GENESYS_SITE_NAME)" if site is None
                       else f"trunk base settings {wanted.trunk_base!r} "
                       "(BYOC_GENESYS_TRUNK_BASE_NAME)")
            out.conflicts.append(f"{missing} does not exist in Genesys; byoc's outbound route "
                                 "is not written")
            return []
        spec = GenesysOutboundRouteSpec(
            name=wanted.route_name, classification_types=tuple(carried), trunk_base=base,
            description=ROUTE_DESCRIPTION)
        if current is None:
            return [self._route_change(Action.ADD, None, spec, site,
                                       f"{', '.join(carried)} through {base.name!r}")]
        summary = "; ".join(route_differences(current, carried, state))
        return [self._route_change(Action.UPDATE, current, spec, site, summary)]

    def _route_change(
        self,
        action: Action,
        current: GenesysOutboundRoute | None,
        spec: GenesysOutboundRouteSpec | None,
        site: GenesysRef | None,
        summary: str,
    ) -> Change:
        key = spec.name if spec else current.name if current else ""
        return Change(target=self.target, action=action, kind=ROUTE_KIND, key=key,
                      summary=summary,
                      before=None if current is None else RouteRead(current, site),
                      after=None if spec is None else RouteSpec(spec, site))


def route_differences(
    current: GenesysOutboundRoute, carried: list[str], state: OutboundState
) -> list[str]:
    found: list[str] = []
    if set(current.classification_types) != set(carried):
        found.append(f"classifications {sorted(current.classification_types)} -> {sorted(carried)}")
    if len(current.trunk_bases) != 1 or not state.through_trunk_base(current):
        found.append(f"trunk bases {[b.name or b.id for b in current.trunk_bases]} -> "
                     f"[{state.trunk_base_name!r}]")
    if not current.enabled:
        found.append("enabled False -> True")
    return found
