"""What the NSG in front of each SBC must let in (the carrier ranges per SBC, `byoc nsg ranges`)
and what it does let in (the exposure of each port the SBC serves), with warnings about defaults."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from byoc.domain.carrier_ranges import effective_ranges
from byoc.domain.carriers import (
    TRANSPORTS,
    CarrierData,
    CarrierRange,
    UnsafeRangeError,
    packaged_carrier_data,
    parse_source_cidr,
)
from byoc.domain.networks import Network
from byoc.domain.nsg_exposure import ExposureReport, ServedPort
from byoc.domain.nsg_exposure import evaluate as evaluate_exposure
from byoc.services.nsg_rule import NsgRule

if TYPE_CHECKING:
    from byoc.ports import NsgPort
    from byoc.settings import SbcSettings, Settings

def sbc_effective_ranges(
    settings: Settings, sbc: SbcSettings, carrier_data: CarrierData | None = None
) -> list[CarrierRange]:
    """The carrier ranges SBC `sbc` must accept (its edges and regions, extras, exclusions)."""
    return effective_ranges(
        carrier_data or packaged_carrier_data(),
        twilio_edges=sbc.twilio_edges,
        genesys_regions=sbc.genesys_regions,
        genesys_signaling=_signaling_for(settings, sbc),
        extra=[*settings.nsg_extra_cidrs, *probe_ranges(settings)],
        exclude=settings.nsg_exclude_cidrs,
    )


PROBE_CARRIER = "byoc-probe"


def probe_ranges(settings: Settings) -> list[CarrierRange]:
    """byoc's health probe sources the NSG must admit on the SIP ports (signaling only, never
    RTP): the public ones of `probe_source_cidrs`. A private source (the app subnet) reaches a
    private probe_host inside the VNet, where the deployment's own app-to-sbc rules admit it."""
    ranges: list[CarrierRange] = []
    for cidr in settings.probe_source_cidrs:
        try:
            parse_source_cidr(cidr)
        except UnsafeRangeError:
            continue
        ranges.extend(
            CarrierRange(cidr, PROBE_CARRIER, "signaling", transport, "BYOC_PROBE_SOURCE_CIDRS",
                         scope="health probe")
            for transport in TRANSPORTS
        )
    return ranges


def sip_ports(sbc: SbcSettings) -> dict[str, int]:
    return {"udp": sbc.sip_ports.udp, "tcp": sbc.sip_ports.tcp, "tls": sbc.sip_ports.tls}


def _signaling_for(settings: Settings, sbc: SbcSettings) -> dict[str, list[str]]:
    """Genesys signaling CIDRs of this SBC's regions (regions only other SBCs use are left out)."""

    def key(name: str) -> str:
        return name.strip().lower().replace("_", "-")

    mine = {key(r) for r in sbc.genesys_regions}
    others = {key(r) for s in settings.sbcs for r in s.genesys_regions} - mine
    return {
        region: list(cidrs)
        for region, cidrs in settings.genesys_signaling_cidrs.items()
        if key(region) not in others
    }


def effective_ranges_report(settings: Settings) -> list[dict[str, Any]]:
    """Every range each SBC accepts, with where it comes from (for `byoc nsg ranges`)."""
    rows: list[dict[str, Any]] = []
    for sbc in settings.sbcs:
        sip = sip_ports(sbc)
        for item in sbc_effective_ranges(settings, sbc):
            if item.purpose == "media":
                ports = f"{sbc.rtp_ports.low}-{sbc.rtp_ports.high}"
            elif sip.get(item.protocol, 0):
                ports = str(sip[item.protocol])
            else:
                continue  # the SBC does not offer this transport
            rows.append(
                {
                    "sbc": sbc.name,
                    "cidr": item.cidr,
                    "carrier": item.carrier,
                    "purpose": item.purpose,
                    "protocol": item.protocol,
                    "ports": ports,
                    "carrier_ports": item.carrier_ports,
                    "scope": item.scope,
                    "source": item.source,
                    "checked": item.checked.isoformat() if item.checked else None,
                    "nsg_managed": sbc.nsg_resource_id is not None,
                }
            )
    return rows


# --- effective exposure --------------------------------------------------------------------------

_SERVICES = {"udp": ("SIP over UDP", "Udp"), "tcp": ("SIP over TCP", "Tcp"), "tls": ("SIP over TLS", "Tcp")}


def served_ports(
    sip: Mapping[str, int], rtp: tuple[int, int], ranges: Iterable[CarrierRange]
) -> list[ServedPort]:
    """The ports an SBC serves (SIP per transport, 0 = not offered; RTP), each with the carrier
    ranges published for it."""
    ranges = list(ranges)
    found: dict[tuple[str, int, int], tuple[list[str], list[Network]]] = {}
    for transport, (service, protocol) in _SERVICES.items():
        port = sip.get(transport, 0)
        if not port:
            continue
        names, networks = found.setdefault((protocol, port, port), ([], []))
        names.append(service)
        networks.extend(
            ipaddress.ip_network(r.cidr)
            for r in ranges
            if r.purpose == "signaling" and r.protocol == transport
        )
    media = found.setdefault(("Udp", rtp[0], rtp[1]), ([], []))
    media[0].append("RTP")
    media[1].extend(ipaddress.ip_network(r.cidr) for r in ranges if r.purpose == "media")
    return [
        ServedPort(
            " / ".join(names),
            "Tcp" if protocol == "Tcp" else "Udp",
            low,
            high,
            tuple(dict.fromkeys(networks)),
        )
        for (protocol, low, high), (names, networks) in found.items()
    ]


def nsg_exposure(
    settings: Settings,
    sbc: SbcSettings,
    raw_rules: Iterable[Mapping[str, Any]],
    carrier_data: CarrierData | None = None,
) -> ExposureReport:
    """Who the NSG lets reach each port SBC `sbc` serves, from its rules as ARM returns them."""
    rules = [NsgRule.from_arm(raw) for raw in raw_rules]
    prefix = f"{settings.nsg_rule_prefix}-".casefold()
    return evaluate_exposure(
        rules,
        served_ports(
            sip_ports(sbc),
            (sbc.rtp_ports.low, sbc.rtp_ports.high),
            sbc_effective_ranges(settings, sbc, carrier_data),
        ),
        destination=sbc.nsg_destination,
        owned=[r.name for r in rules if r.name.casefold().startswith(prefix)],
    )


def exposure_report(
    settings: Settings, nsg: Callable[[SbcSettings], NsgPort], sbc_name: str | None = None
) -> list[dict[str, Any]]:
    """`byoc nsg exposure`: per SBC with a managed NSG, per served port, who may reach it
    (one read of each NSG, through `nsg(sbc)`)."""
    rows: list[dict[str, Any]] = []
    for sbc in settings.sbcs:
        if sbc.nsg_resource_id is None or (sbc_name is not None and sbc.name != sbc_name):
            continue
        report = nsg_exposure(settings, sbc, nsg(sbc).read_rules())
        rows.append(
            {"sbc": sbc.name, "nsg": sbc.nsg_resource_id, **report.to_json(),
             "problems": report.problems()}
        )
    return rows


# --- defaults worth a warning ------------------------------------------------------------------


def genesys_signaling_gaps(
    settings: Settings, sbc: SbcSettings, carrier_data: CarrierData | None = None
) -> list[str]:
    """SBC `sbc`'s Genesys regions with no signaling addresses in settings: Genesys cannot send
    SIP to the SBC through the NSG, so calls from Genesys fail."""
    data = carrier_data or packaged_carrier_data()
    given = {
        region.strip().lower().replace("_", "-")
        for region, cidrs in settings.genesys_signaling_cidrs.items()
        if cidrs
    }
    missing = [r for r in sbc.genesys_regions if r.strip().lower().replace("_", "-") not in given]
    source = data.genesys_signaling
    return [
        f"SBC {sbc.name}: BYOC_GENESYS_SIGNALING_CIDRS has no addresses for Genesys region "
        f"{region}, so the NSG blocks SIP from Genesys to the SBC (calls from Genesys fail). Copy "
        f"the region's addresses from the Genesys Resource Center article \"BYOC Cloud public SIP "
        f"IP addresses\" ({source.source}) into BYOC_GENESYS_SIGNALING_CIDRS"
        for region in missing
    ]


def ranges_warnings(settings: Settings, carrier_data: CarrierData | None = None) -> list[str]:
    """What `byoc nsg ranges` warns about: Twilio edges left out, Genesys signaling not set."""
    data = carrier_data or packaged_carrier_data()
    edges = data.scopes("twilio")
    warnings: list[str] = []
    for sbc in settings.sbcs:
        chosen = {e.strip().lower() for e in sbc.twilio_edges}
        left_out = [e for e in edges if e not in chosen]
        if left_out:
            warnings.append(
                f"SBC {sbc.name} admits {len(edges) - len(left_out)} of Twilio's {len(edges)} "
                f"signaling edges (not {', '.join(left_out)}): Twilio fails calls over between "
                "edges and asks to allow all of them; calls from the others are blocked. Leave "
                "twilio_edges unset to admit every edge"
            )
        warnings.extend(genesys_signaling_gaps(settings, sbc, data))
    return warnings

