"""Published carrier IP ranges (Twilio, Genesys) and the NSG rules that let exactly them in.

The ranges are data (`byoc/data/carrier_ranges.yaml`, versioned, each entry with its source page
and the date it was checked). No API publishes Genesys BYOC Cloud signaling addresses, so they come
from settings; the data file names the Resource Center article they are copied from.

`effective_ranges` selects the ranges for the configured Twilio edges and Genesys regions, adds
operator extras and removes exclusions. `desired_nsg_rules` turns them into as few inbound Allow
rules as possible. Both refuse anything wider than a carrier range: `*`, `Any`, `Internet`, service
tags, IPv4 prefixes shorter than /16, IPv6 prefixes shorter than /48, networks that are not
globally routable (private, shared, reserved, loopback, link-local, multicast, IPv4-mapped IPv6)
and malformed CIDRs raise `UnsafeRangeError`, whatever their origin (data file or settings).
"""

from __future__ import annotations

import ipaddress
import re
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    model_validator,
)

__all__ = [
    "DEFAULT_SBC_SIP_PORTS",
    "MIN_PREFIX_V4",
    "MIN_PREFIX_V6",
    "NSG_MAX_PREFIXES",
    "NSG_MAX_RULES",
    "CarrierData",
    "CarrierDataError",
    "CarrierEntry",
    "CarrierRange",
    "CarrierRangeError",
    "GenesysSignalingSource",
    "InvalidNsgParameterError",
    "NsgLimitExceeded",
    "NsgRuleSpec",
    "PriorityBandExhaustedError",
    "UnknownCarrierScopeError",
    "UnsafeRangeError",
    "desired_nsg_rules",
    "effective_ranges",
    "load_carrier_data",
    "packaged_carrier_data",
    "parse_source_cidr",
    "special_purpose",
]

Purpose = Literal["signaling", "media"]
Transport = Literal["udp", "tcp", "tls"]
NsgProtocol = Literal["Udp", "Tcp"]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

NSG_MAX_RULES = 1000
"""Security rules per NSG (Azure networking limits)."""
NSG_MAX_PREFIXES = 4000
"""IP addresses and ranges per NSG, counted separately for sources and destinations."""
DEFAULT_SBC_SIP_PORTS: Mapping[str, int] = MappingProxyType({"udp": 5060, "tcp": 5060, "tls": 5061})

MIN_PREFIX_V4 = 16
"""Widest IPv4 source byoc opens: the widest published carrier range is a /18 (Twilio media,
Genesys media); /16 leaves room for a carrier to grow one without opening a /8."""
MIN_PREFIX_V6 = 48
"""Widest IPv6 source byoc opens (one site's allocation; no carrier in the data publishes IPv6)."""
_PRIORITY_MIN, _PRIORITY_MAX = 100, 4096
_RULE_NAME_MAX = 80
_DESCRIPTION_MAX = 140
_RULE_NAME_PREFIX = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
_PURPOSES: tuple[Purpose, ...] = ("signaling", "media")
_PROTOCOLS: tuple[NsgProtocol, ...] = ("Tcp", "Udp")
_TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "tls")
_EXTRA_SOURCE = "settings: BYOC_NSG_EXTRA_CIDRS"


class CarrierRangeError(ValueError):
    """Base of every carrier-range and NSG-rule error."""


class CarrierDataError(CarrierRangeError):
    """The carrier data file is invalid; the message lists every problem."""


class UnknownCarrierScopeError(CarrierRangeError):
    """A Twilio edge or Genesys region the carrier data does not know."""


class UnsafeRangeError(CarrierRangeError):
    """A source or port range wider than a published carrier range; refused outright."""


class NsgLimitExceeded(CarrierRangeError):
    """The rules would break an Azure NSG limit (rules or prefixes per NSG)."""


class PriorityBandExhaustedError(CarrierRangeError):
    """Not enough free priorities in the configured band for the rules."""


class InvalidNsgParameterError(CarrierRangeError):
    """A parameter of the NSG rule computation is invalid (band, ports, names)."""


def parse_source_cidr(text: str) -> Network:
    """The network `text` denotes, if it is safe as an NSG source; `UnsafeRangeError` otherwise.

    Refused, with the reason: `*`/`Any`/`Internet` and other service tags, malformed CIDRs and
    host bits, networks that are not globally routable (private, shared, reserved, loopback,
    link-local, multicast, unspecified, IPv6 forms that stand for IPv4 addresses) and networks
    wider than `MIN_PREFIX_V4` / `MIN_PREFIX_V6`. Documentation networks (RFC 5737, RFC 3849) are
    accepted: nothing on the internet sends from them, and examples use them.
    """
    value = text.strip() if isinstance(text, str) else text
    if not isinstance(value, str) or not value:
        raise UnsafeRangeError(f"source {text!r} is not a CIDR")
    if value == "*" or value.lower() in ("any", "internet"):
        raise UnsafeRangeError(
            f"source {text!r} means any address on the internet; byoc only opens published "
            "carrier ranges"
        )
    if _WORD.match(value):
        raise UnsafeRangeError(
            f"source {text!r} is a service tag or name, not a CIDR; tags such as AzureCloud or "
            "Internet cover far more than a carrier. Give the carrier's CIDRs"
        )
    try:
        network: Network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise UnsafeRangeError(f"source {text!r} is not a valid CIDR") from exc
        raise UnsafeRangeError(
            f"source {text!r} has host bits set; the network is {loose} (write that if meant)"
        ) from exc
    minimum = MIN_PREFIX_V4 if network.version == 4 else MIN_PREFIX_V6
    reason = special_purpose(network, partial=network.prefixlen >= minimum)
    if reason is not None:
        raise UnsafeRangeError(
            f"source {network} is {reason}; no carrier sends from it, so byoc does not open it"
        )
    if network.prefixlen < minimum:
        raise UnsafeRangeError(
            f"source {network} is wider than /{minimum} ({network.num_addresses:,} addresses); "
            f"no carrier publishes a range that wide (the widest in the carrier data is /18)"
        )
    return network


def special_purpose(network: Network, *, partial: bool = True) -> str | None:
    """Why `network` is not a public carrier address (None when it is globally routable).

    The IANA special-purpose blocks name the reason; the `ipaddress` properties of the network's
    first and last address catch the rest. With `partial`, a network that only overlaps a block
    is refused too (a wider network is refused for its width instead).
    """
    if any(_inside(network, doc) for doc in _DOCUMENTATION):
        return None
    for block, why in _SPECIAL_BLOCKS:
        if _inside(network, block):
            return why if network == block else f"inside {block}, {why}"
    if not partial:
        return None
    for block, why in _SPECIAL_BLOCKS:
        if block.version == network.version and network.overlaps(block):
            return f"overlapping {block}, {why}"
    ends = (network.network_address, network.broadcast_address)
    for label, test in _PROPERTY_TESTS:
        if any(test(address) for address in ends):
            return label
    return None


def _inside(inner: Network, outer: Network) -> bool:
    return inner.version == outer.version and _subnet(inner, outer)


def _not_global(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not address.is_global


_DOCUMENTATION: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)
_SPECIAL_BLOCKS: tuple[tuple[Network, str], ...] = tuple(
    (ipaddress.ip_network(block), why)
    for block, why in (
        ("0.0.0.0/8", "'this network' (RFC 791), never a source on the internet"),
        ("10.0.0.0/8", "a private network (RFC 1918)"),
        ("100.64.0.0/10", "shared address space for carrier-grade NAT (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "a private network (RFC 1918)"),
        ("192.0.0.0/24", "reserved for IETF protocol assignments (RFC 6890)"),
        ("192.168.0.0/16", "a private network (RFC 1918)"),
        ("198.18.0.0/15", "reserved for benchmarking (RFC 2544)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved (RFC 1112)"),
        ("::/127", "the unspecified or loopback address"),
        ("::ffff:0:0/96", "IPv4-mapped IPv6 (RFC 4291), which stands for IPv4 addresses"),
        ("64:ff9b::/96", "the NAT64 prefix (RFC 6052), which stands for IPv4 addresses"),
        ("2001::/32", "Teredo (RFC 4380), which embeds IPv4 addresses"),
        ("2002::/16", "6to4 (RFC 3056), which embeds IPv4 addresses"),
        ("fc00::/7", "a unique local (private) network (RFC 4193)"),
        ("fe80::/10", "link-local"),
        ("ff00::/8", "multicast"),
    )
)
_PROPERTY_TESTS: tuple[tuple[str, Any], ...] = (
    ("multicast", lambda a: a.is_multicast),
    ("loopback", lambda a: a.is_loopback),
    ("link-local", lambda a: a.is_link_local),
    ("unspecified", lambda a: a.is_unspecified),
    ("reserved", lambda a: a.is_reserved),
    ("a private network", lambda a: a.is_private),
    ("not globally routable (IANA special-purpose registry)", _not_global),
)


def _network_field(value: str) -> str:
    try:
        return str(parse_source_cidr(value))
    except UnsafeRangeError as exc:
        raise ValueError(str(exc)) from exc


def _ports_field(value: str) -> str:
    if value == "*" or _port_span(value) is not None:
        return value
    raise ValueError(f"{value!r} is not a port or port range (e.g. 5060 or 10000-60000)")


def _port_span(text: str) -> tuple[int, int] | None:
    match = _PORTS.match(text)
    if not match:
        return None
    low = int(match.group(1))
    high = int(match.group(2) or low)
    return (low, high) if 0 <= low <= high <= 65535 else None


CidrText = Annotated[StrictStr, AfterValidator(_network_field)]
PortsText = Annotated[StrictStr, AfterValidator(_ports_field)]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CarrierEntry(_Frozen):
    """One published range set: a carrier's CIDRs for one purpose, with its source page."""

    carrier: Literal["twilio", "genesys"]
    purpose: Purpose
    applies_to: tuple[StrictStr, ...] = Field(min_length=1)
    scope: StrictStr | None = None
    cidrs: tuple[CidrText, ...] = Field(min_length=1)
    carrier_ports: dict[Transport, PortsText] = Field(min_length=1)
    source: StrictStr = Field(pattern=r"^https://")
    checked: date

    @model_validator(mode="after")
    def _media_is_udp(self) -> CarrierEntry:
        if self.purpose == "media" and set(self.carrier_ports) != {"udp"}:
            raise ValueError("media entries carry RTP over udp only")
        return self

    @property
    def label(self) -> str:
        """The scope shown in rule descriptions."""
        return self.scope or ",".join(self.applies_to)


class GenesysSignalingSource(_Frozen):
    """Where Genesys BYOC Cloud signaling addresses come from (settings, per region)."""

    carrier_ports: dict[Transport, PortsText] = Field(min_length=1)
    source: StrictStr = Field(pattern=r"^https://")
    note: StrictStr = ""


class CarrierData(_Frozen):
    """The carrier data file: versioned list of published ranges."""

    version: StrictInt = Field(ge=1)
    entries: tuple[CarrierEntry, ...]
    genesys_signaling: GenesysSignalingSource

    def scopes(self, carrier: str) -> tuple[str, ...]:
        """Every edge (Twilio) or region (Genesys) the data knows, in file order."""
        names = (n for e in self.entries if e.carrier == carrier for n in e.applies_to)
        return tuple(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class CarrierRange:
    """One source CIDR a carrier uses for one purpose over one transport.

    `checked` is None for ranges given in settings rather than taken from the data file.
    """

    cidr: str
    carrier: str
    purpose: Purpose
    protocol: Transport
    source: str
    checked: date | None = None
    scope: str = ""
    carrier_ports: str = "*"


@dataclass(frozen=True, slots=True)
class NsgRuleSpec:
    """A desired NSG security rule; fields mirror azure-mgmt-network `SecurityRule`."""

    name: str
    priority: int
    protocol: NsgProtocol
    source_address_prefixes: tuple[str, ...]
    destination_address_prefix: str
    destination_port_ranges: tuple[str, ...]
    description: str
    direction: Literal["Inbound"] = "Inbound"
    access: Literal["Allow"] = "Allow"
    source_port_range: Literal["*"] = "*"


def load_carrier_data(text: str, source: str = "carrier_ranges.yaml") -> CarrierData:
    """Parse and validate carrier data YAML; `CarrierDataError` lists every problem."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CarrierDataError(f"{source}: YAML syntax error: {exc}") from exc
    try:
        return CarrierData.model_validate(data)
    except ValidationError as exc:
        lines = [
            f"{source}: {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}"
            for e in exc.errors()
        ]
        raise CarrierDataError("\n".join(lines)) from exc


@cache
def packaged_carrier_data() -> CarrierData:
    """The carrier data shipped in the package (`byoc/data/carrier_ranges.yaml`)."""
    text = resources.files("byoc").joinpath("data/carrier_ranges.yaml").read_text("utf-8")
    return load_carrier_data(text, "byoc/data/carrier_ranges.yaml")


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

    normalised = _normalised(ranges)
    carved = _without(normalised, [_exclusion(e) for e in exclude])
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
        for t in _TRANSPORTS
    ]
    return [
        *signaling,
        CarrierRange(item, "extra", "media", "udp", _EXTRA_SOURCE, scope="settings"),
    ]


def _normalised(ranges: Iterable[CarrierRange]) -> list[CarrierRange]:
    """Ranges with canonical CIDR text; every unsafe one is reported in one error."""
    result: list[CarrierRange] = []
    problems: list[str] = []
    for item in ranges:
        try:
            network = parse_source_cidr(item.cidr)
        except UnsafeRangeError as exc:
            problems.append(f"{exc} (carrier {item.carrier}, from {item.source})")
            continue
        if item.purpose not in _PURPOSES or item.protocol not in _TRANSPORTS:
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
        pieces: list[Network] = [ipaddress.ip_network(item.cidr)]
        for cut in excluded:
            next_pieces: list[Network] = []
            for piece in pieces:
                if piece.version != cut.version or not piece.overlaps(cut):
                    next_pieces.append(piece)
                elif _subnet(piece, cut):
                    continue
                else:
                    next_pieces.extend(_carve(piece, cut))
            pieces = next_pieces
        result.extend(replace(item, cidr=str(p)) for p in sorted(pieces, key=_network_order))
    return result


def _subnet(inner: Network, outer: Network) -> bool:
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def _carve(network: Network, cut: Network) -> list[Network]:
    if isinstance(network, ipaddress.IPv4Network) and isinstance(cut, ipaddress.IPv4Network):
        return list(network.address_exclude(cut))
    if isinstance(network, ipaddress.IPv6Network) and isinstance(cut, ipaddress.IPv6Network):
        return list(network.address_exclude(cut))
    return [network]


def _network_order(network: Network) -> tuple[int, int, int]:
    return (network.version, int(network.network_address), network.prefixlen)


def _range_order(item: CarrierRange) -> tuple[Any, ...]:
    return (
        _PURPOSES.index(item.purpose),
        item.carrier,
        item.scope,
        _network_order(ipaddress.ip_network(item.cidr)),
        _TRANSPORTS.index(item.protocol),
    )


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
    for item in _normalised(ranges):
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
    for purpose in _PURPOSES:
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
        if transport not in _TRANSPORTS:
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
    return min(_network_order(n) for n in networks)


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
