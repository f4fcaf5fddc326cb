"""The NSG rules that let exactly the carrier ranges in: as few inbound Allow rules as possible per
purpose, protocol and ports, within Azure's limits and a priority band that avoids foreign rules."""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from byoc.domain.carrier_ranges import network_order, normalised
from byoc.domain.carriers import (
    DEFAULT_SBC_SIP_PORTS,
    NSG_MAX_PREFIXES,
    NSG_MAX_RULES,
    PURPOSES,
    TRANSPORTS,
    CarrierRange,
    InvalidNsgParameterError,
    NsgLimitExceeded,
    NsgProtocol,
    NsgRuleSpec,
    PriorityBandExhaustedError,
    Purpose,
    UnsafeRangeError,
)
from byoc.domain.networks import Network

_PRIORITY_MIN, _PRIORITY_MAX = 100, 4096
_RULE_NAME_MAX = 80
_DESCRIPTION_MAX = 140
_RULE_NAME_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_PROTOCOLS: tuple[NsgProtocol, ...] = ("Tcp", "Udp")



@dataclass
class _Group:
    networks: set[Network]
    contributors: set[tuple[str, str]]


def desired_nsg_rules(
    ranges: Iterable[CarrierRange],
    *,
    sbc_sip_ports: Mapping[str, int] = DEFAULT_SBC_SIP_PORTS,
    rtp_ports: tuple[int, int],
    name_prefix: str,
    priority_band: tuple[int, int],
    foreign_priorities: Collection[int] = frozenset(),
    max_port_span: int,
    destination_address_prefix: str = "*",
    foreign_rule_count: int | None = None,
    foreign_source_prefix_count: int = 0,
) -> list[NsgRuleSpec]:
    """The fewest inbound Allow rules that let exactly `ranges` reach the SBC's SIP and RTP ports.

    Rules are grouped by purpose, protocol and destination port set; adjacent networks are
    collapsed. A SIP port of 0 in `sbc_sip_ports` means the SBC does not offer that transport.
    `foreign_rule_count` (default: one per foreign priority) and `foreign_source_prefix_count`
    are what other rules already use of the NSG limits.
    """
    _check_parameters(sbc_sip_ports, rtp_ports, priority_band, max_port_span, name_prefix)
    destination = _destination(destination_address_prefix)

    # (purpose, protocol) -> network -> SBC port spans it needs; `who` names the carriers.
    ports_of: dict[tuple[Purpose, NsgProtocol], dict[Network, set[tuple[int, int]]]] = defaultdict(
        lambda: defaultdict(set)
    )
    who: dict[tuple[Purpose, NsgProtocol, Network], set[tuple[str, str]]] = defaultdict(set)
    for item in normalised(ranges):
        network = ipaddress.ip_network(item.cidr)
        if item.purpose == "media":
            protocol: NsgProtocol = "Udp"
            span = rtp_ports
        else:
            port = sbc_sip_ports.get(item.protocol, 0)
            if port == 0:
                continue
            protocol = "Udp" if item.protocol == "udp" else "Tcp"
            span = (port, port)
        ports_of[(item.purpose, protocol)][network].add(span)
        who[(item.purpose, protocol, network)].add((item.carrier, item.scope))

    rules: list[tuple[Purpose, NsgProtocol, int, tuple[str, ...], tuple[str, ...], str]] = []
    for purpose in PURPOSES:
        for protocol in _PROTOCOLS:
            networks = ports_of.get((purpose, protocol), {})
            groups: dict[tuple[tuple[int, int], ...], _Group] = {}
            for network, spans in networks.items():
                key = _merged(spans)
                group = groups.setdefault(key, _Group(set(), set()))
                group.networks.add(network)
                group.contributors |= who[(purpose, protocol, network)]
            ordered = sorted(groups.items(), key=lambda kv: (kv[0], _first(kv[1].networks)))
            for number, (port_key, group) in enumerate(ordered, start=1):
                prefixes = tuple(str(n) for n in _collapsed(group.networks))
                port_texts = tuple(f"{lo}" if lo == hi else f"{lo}-{hi}" for lo, hi in port_key)
                description = _description(purpose, protocol, group.contributors, port_texts)
                rules.append((purpose, protocol, number, prefixes, port_texts, description))

    own_rules = len(rules)
    foreign_rules = (
        len(set(foreign_priorities)) if foreign_rule_count is None else foreign_rule_count
    )
    if own_rules + foreign_rules > NSG_MAX_RULES:
        raise NsgLimitExceeded(
            f"{own_rules} byoc rules + {foreign_rules} other rules exceed the Azure limit of "
            f"{NSG_MAX_RULES} rules per NSG"
        )
    own_prefixes = sum(len(r[3]) for r in rules)
    if own_prefixes + foreign_source_prefix_count > NSG_MAX_PREFIXES:
        raise NsgLimitExceeded(
            f"{own_prefixes} source prefixes in byoc rules + {foreign_source_prefix_count} in "
            f"other rules exceed the Azure limit of {NSG_MAX_PREFIXES} per NSG"
        )
    destinations = 0 if destination == "*" else own_rules
    if destinations > NSG_MAX_PREFIXES:
        raise NsgLimitExceeded(
            f"{destinations} destination prefixes exceed the Azure limit of {NSG_MAX_PREFIXES}"
        )

    priorities = _priorities(own_rules, priority_band, foreign_priorities)
    specs: list[NsgRuleSpec] = []
    for priority, (purpose, protocol, number, prefixes, port_texts, description) in zip(
        priorities, rules, strict=True
    ):
        name = f"{name_prefix}-{purpose}-{protocol.lower()}-{number}"
        if len(name) > _RULE_NAME_MAX:
            raise InvalidNsgParameterError(
                f"rule name {name!r} is longer than Azure's {_RULE_NAME_MAX} characters; "
                "shorten the name prefix"
            )
        specs.append(
            NsgRuleSpec(
                name=name,
                priority=priority,
                protocol=protocol,
                source_address_prefixes=prefixes,
                destination_address_prefix=destination,
                destination_port_ranges=port_texts,
                description=description,
            )
        )
    return specs


def _check_parameters(
    sbc_sip_ports: Mapping[str, int],
    rtp_ports: tuple[int, int],
    priority_band: tuple[int, int],
    max_port_span: int,
    name_prefix: str,
) -> None:
    problems: list[str] = []
    low, high = priority_band
    if not _PRIORITY_MIN <= low <= high <= _PRIORITY_MAX:
        problems.append(
            f"priority band {low}-{high} must lie within {_PRIORITY_MIN}-{_PRIORITY_MAX}, low first"
        )
    for transport, port in sbc_sip_ports.items():
        if transport not in TRANSPORTS:
            problems.append(f"SBC SIP port for unknown transport {transport!r}")
        elif not 0 <= port <= 65535:
            problems.append(f"SBC SIP {transport} port {port} is outside 0-65535")
    rtp_low, rtp_high = rtp_ports
    if not 1 <= rtp_low <= rtp_high <= 65535:
        problems.append(f"SBC RTP ports {rtp_low}-{rtp_high} must lie within 1-65535, low first")
    if max_port_span < 1:
        problems.append(f"max port span {max_port_span} must be at least 1")
    if not _RULE_NAME_PREFIX.match(name_prefix):
        problems.append(
            f"rule name prefix {name_prefix!r} must start with a letter or digit and contain "
            "only letters, digits, '_', '.' or '-'"
        )
    if problems:
        raise InvalidNsgParameterError("\n".join(problems))
    span = rtp_high - rtp_low + 1
    if span > max_port_span:
        raise UnsafeRangeError(
            f"SBC RTP port range {rtp_low}-{rtp_high} spans {span} ports, more than the allowed "
            f"{max_port_span}; narrow the SBC media port range or raise the limit deliberately"
        )


def _destination(prefix: str) -> str:
    text = prefix.strip()
    if text == "*":
        return text
    try:
        if "/" not in text:
            return str(ipaddress.ip_address(text))
        return str(ipaddress.ip_network(text, strict=True))
    except ValueError as exc:
        raise InvalidNsgParameterError(
            f"destination {prefix!r} must be the SBC's private IP (or CIDR), or '*'"
        ) from exc


def _merged(spans: set[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def _collapsed(networks: set[Network]) -> list[Network]:
    v4 = [n for n in networks if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in networks if isinstance(n, ipaddress.IPv6Network)]
    return [*ipaddress.collapse_addresses(v4), *ipaddress.collapse_addresses(v6)]


def _first(networks: set[Network]) -> tuple[int, int, int]:
    return min(network_order(n) for n in networks)


def _description(
    purpose: Purpose,
    protocol: NsgProtocol,
    contributors: set[tuple[str, str]],
    ports: tuple[str, ...],
) -> str:
    by_carrier: dict[str, list[str]] = defaultdict(list)
    for carrier, scope in sorted(contributors):
        by_carrier[carrier].append(scope or "-")
    tail = f" to SBC {protocol} {','.join(ports)}"
    full = "; ".join(f"{c} {','.join(s)}" for c, s in by_carrier.items())
    text = f"byoc {purpose} from {full}{tail}"
    if len(text) > _DESCRIPTION_MAX:
        counted = "; ".join(f"{c} ({len(s)} scopes)" for c, s in by_carrier.items())
        text = f"byoc {purpose} from {counted}{tail}"
    if len(text) > _DESCRIPTION_MAX:
        text = text[: _DESCRIPTION_MAX - 3] + "..."
    return text


def _priorities(count: int, band: tuple[int, int], foreign: Collection[int]) -> list[int]:
    low, high = band
    taken = {p for p in foreign if low <= p <= high}
    free = [p for p in range(low, high + 1) if p not in taken]
    if count > len(free):
        raise PriorityBandExhaustedError(
            f"{count} rules need {count} priorities but band {low}-{high} has only {len(free)} "
            f"free ({len(taken)} used by rules byoc does not own: "
            f"{', '.join(str(p) for p in sorted(taken)) or 'none'}); widen the band or move "
            "those rules"
        )
    return free[:count]

