"""Health from Genesys: its BYOC trunks (`genesys-trunk:<id>`), and the Genesys regions of an
SBC with no signaling addresses in settings (`genesys-signaling:<sbc>`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from byoc.services.health_report import MAX_LISTED, CheckResult, HealthStatus
from byoc.services.nsg_ranges import genesys_signaling_gaps

if TYPE_CHECKING:
    from byoc.ports import GenesysTrunkStatus
    from byoc.settings import SbcSettings, Settings



def evaluate_trunk(trunk: GenesysTrunkStatus) -> CheckResult:
    """A BYOC trunk as Genesys sees it: in service, connected, and OPTIONS to each proxy."""
    component = f"genesys-trunk:{trunk.id}"
    failing = [p for p in trunk.options if not p.ok]
    figures = {
        "name": trunk.name,
        "trunk_base": trunk.trunk_base,
        "in_service": trunk.in_service,
        "enabled": trunk.enabled,
        "connected": trunk.connected,
        "connected_since": trunk.connected_since,
        "proxies": len(trunk.options),
        "proxies_failing": len(failing),
        "options": [{"proxy": p.proxy_address, "ok": p.ok, "since": p.since, "error": p.error}
                    for p in trunk.options[:MAX_LISTED]],
        "source": "health-check",  # genesys_events writes the same record from trunk events
    }
    name = f"Genesys trunk {trunk.name!r}"
    if not trunk.in_service or not trunk.enabled:
        return CheckResult(
            component, HealthStatus.DOWN,
            f"{name} is out of service (in service: {trunk.in_service}, edge enabled: {trunk.enabled}):"
            f" check that trunk base {trunk.trunk_base!r} is enabled and assigned to the BYOC Cloud edge",
            figures,
        )
    if not trunk.connected:
        since = f" since {trunk.connected_since}" if trunk.connected_since else ""
        return CheckResult(
            component, HealthStatus.DOWN,
            f"{name} is disconnected{since}: calls to and from Genesys fail. "
            + _proxy_text(failing or list(trunk.options)),
            figures,
        )
    if failing and len(failing) == len(trunk.options):
        return CheckResult(component, HealthStatus.DOWN,
                           f"{name}: SIP OPTIONS fail to every SBC: {_proxy_text(failing)}", figures)
    if failing:
        return CheckResult(component, HealthStatus.DEGRADED,
                           f"{name}: SIP OPTIONS fail to {len(failing)} of {len(trunk.options)} "
                           f"SBC(s), calls use the others: {_proxy_text(failing)}", figures)
    return CheckResult(
        component, HealthStatus.OK,
        f"{name} is connected; SIP OPTIONS answered by {len(trunk.options)} SBC(s)", figures,
    )


def _proxy_text(proxies: Iterable[Any]) -> str:
    parts = [f"{p.proxy_address}: {p.error or ('OPTIONS ok' if p.ok else 'no OPTIONS answer')}"
             for p in proxies]
    return "; ".join(parts[:5]) if parts else "Genesys reports no proxy status"



def evaluate_genesys_signaling(settings: Settings, sbc: SbcSettings) -> CheckResult:
    """Genesys signaling addresses for every Genesys region of SBC `sbc` (settings only)."""

    component = f"genesys-signaling:{sbc.name}"
    gaps = genesys_signaling_gaps(settings, sbc)
    figures = {"regions": list(sbc.genesys_regions), "missing": len(gaps)}
    if gaps:
        status = HealthStatus.DOWN if sbc.nsg_resource_id else HealthStatus.DEGRADED
        return CheckResult(component, status, "; ".join(gaps), figures)
    return CheckResult(
        component, HealthStatus.OK,
        f"Genesys signaling addresses are set for SBC {sbc.name}'s region(s) "
        f"{', '.join(sbc.genesys_regions) or '(none)'}",
        figures,
    )
