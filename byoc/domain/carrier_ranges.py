"""The carrier ranges one SBC accepts: the data's ranges for its Twilio edges and Genesys regions,
the Genesys signaling addresses from settings, operator extras, minus exclusions; normalised and
ordered, every one checked safe."""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from byoc.domain.carriers import (
    PURPOSES,
    TRANSPORTS,
    CarrierData,
    CarrierRange,
    UnknownCarrierScopeError,
    UnsafeRangeError,
    parse_source_cidr,
)
from byoc.domain.networks import Network, subtract

_EXTRA_SOURCE = "settings: BYOC_NSG_EXTRA_CIDRS"



def _scope_name(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def effective_ranges(
    data: CarrierData,
    *,
    twilio_edges: Collection[str],
    genesys_regions: Collection[str],
    genesys_signaling: Mapping[str, Sequence[str]],
    extra: Sequence[str | CarrierRange] = (),
    exclude: Sequence[str] = (),
) -> list[CarrierRange]:
    """The carrier ranges to allow in, for these edges/regions, plus extras, minus exclusions.

    A plain string in `extra` is an operator range allowed for signaling (udp, tcp, tls) and media.
    An excluded CIDR removes every range inside it and carves itself out of larger ones.
    """
    edges = {_scope_name(e) for e in twilio_edges}
    regions = {_scope_name(r) for r in genesys_regions}
    signaling = {_scope_name(r): list(cidrs) for r, cidrs in genesys_signaling.items()}
    _check_scopes(data, edges, regions, signaling)

    ranges: list[CarrierRange] = []
    for entry in data.entries:
        chosen = edges if entry.carrier == "twilio" else regions
        if chosen.isdisjoint(_scope_name(n) for n in entry.applies_to):
            continue
        for cidr in entry.cidrs:
            for transport, ports in entry.carrier_ports.items():
                ranges.append(
                    CarrierRange(
                        cidr=cidr,
                        carrier=entry.carrier,
                        purpose=entry.purpose,
                        protocol=transport,
                        source=entry.source,
                        checked=entry.checked,
                        scope=entry.label,
                        carrier_ports=ports,
                    )
                )
    genesys_source = data.genesys_signaling
    for region in sorted(signaling):
        for cidr in signaling[region]:
            for transport, ports in genesys_source.carrier_ports.items():
                ranges.append(
                    CarrierRange(
                        cidr=cidr,
                        carrier="genesys",
                        purpose="signaling",
                        protocol=transport,
                        source=genesys_source.source,
                        scope=region,
                        carrier_ports=ports,
                    )
                )
    for item in extra:
        ranges.extend(_extra_ranges(item))

    carved = _without(normalised(ranges), [_exclusion(e) for e in exclude])
    unique = dict.fromkeys(carved)
    return sorted(unique, key=_range_order)


def _check_scopes(
    data: CarrierData,
    edges: set[str],
    regions: set[str],
    signaling: Mapping[str, list[str]],
) -> None:
    problems: list[str] = []
    known_edges = {_scope_name(n) for n in data.scopes("twilio")}
    known_regions = {_scope_name(n) for n in data.scopes("genesys")}
    for edge in sorted(edges - known_edges):
        problems.append(
            f"Twilio edge {edge!r} has no published ranges in carrier data version "
            f"{data.version} (known: {', '.join(sorted(known_edges))})"
        )
    for region in sorted(regions - known_regions):
        problems.append(
            f"Genesys region {region!r} has no published BYOC media ranges in carrier data "
            f"version {data.version} (known: {', '.join(sorted(known_regions))}); "
            "give its ranges as extra CIDRs"
        )
    for region in sorted(set(signaling) - regions):
        problems.append(
            f"Genesys signaling CIDRs are given for region {region!r}, which is not among the "
            f"selected Genesys regions ({', '.join(sorted(regions)) or 'none'})"
        )
    if problems:
        raise UnknownCarrierScopeError("\n".join(problems))


def _extra_ranges(item: str | CarrierRange) -> list[CarrierRange]:
    if isinstance(item, CarrierRange):
        return [item]
    signaling = [
        CarrierRange(item, "extra", "signaling", t, _EXTRA_SOURCE, scope="settings")
        for t in TRANSPORTS
    ]
    return [
        *signaling,
        CarrierRange(item, "extra", "media", "udp", _EXTRA_SOURCE, scope="settings"),
    ]


def normalised(ranges: Iterable[CarrierRange]) -> list[CarrierRange]:
    """Ranges with canonical CIDR text; every unsafe one is reported in one error."""
    result: list[CarrierRange] = []
    problems: list[str] = []
    for item in ranges:
        try:
            network = parse_source_cidr(item.cidr)
        except UnsafeRangeError as exc:
            problems.append(f"{exc} (carrier {item.carrier}, from {item.source})")
            continue
        if item.purpose not in PURPOSES or item.protocol not in TRANSPORTS:
            problems.append(
                f"{item.cidr}: purpose {item.purpose!r} / protocol {item.protocol!r} is not "
                "signaling|media over udp|tcp|tls"
            )
            continue
        if item.purpose == "media" and item.protocol != "udp":
            problems.append(f"{item.cidr}: media is RTP over udp, not {item.protocol}")
            continue
        result.append(replace(item, cidr=str(network)))
    if problems:
        raise UnsafeRangeError("refused:\n" + "\n".join(dict.fromkeys(problems)))
    return result


def _exclusion(text: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=True)
    except ValueError as exc:
        raise UnsafeRangeError(f"excluded CIDR {text!r} is not a valid CIDR: {exc}") from exc


def _without(ranges: list[CarrierRange], excluded: list[Network]) -> list[CarrierRange]:
    result: list[CarrierRange] = []
    for item in ranges:
        pieces = subtract([ipaddress.ip_network(item.cidr)], excluded)
        result.extend(replace(item, cidr=str(p)) for p in sorted(pieces, key=network_order))
    return result


def network_order(network: Network) -> tuple[int, int, int]:
    """Sort key: IPv4 before IPv6, then by address, wider first."""
    return (network.version, int(network.network_address), network.prefixlen)


def _range_order(item: CarrierRange) -> tuple[Any, ...]:
    return (
        PURPOSES.index(item.purpose),
        item.carrier,
        item.scope,
        network_order(ipaddress.ip_network(item.cidr)),
        TRANSPORTS.index(item.protocol),
    )
