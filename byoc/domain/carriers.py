"""Published carrier IP ranges (Twilio, Genesys) and the NSG rules that let exactly them in.

The ranges are data (`byoc/data/carrier_ranges.yaml`, versioned, each entry with its source page
and the date it was checked). No API publishes Genesys BYOC Cloud signaling addresses, so they come
from settings; the data file names the Resource Center article they are copied from.

`carrier_ranges.effective_ranges` selects the ranges for the configured Twilio edges and Genesys
regions, adds operator extras and removes exclusions. `carrier_nsg_rules.desired_nsg_rules` turns
them into as few inbound Allow rules as possible. Both refuse anything wider than a carrier range:
`*`, `Any`, `Internet`, service tags, IPv4 prefixes shorter than /16, IPv6 prefixes shorter than
/48, networks that are not globally routable (private, shared, reserved, loopback, link-local,
multicast, IPv4-mapped IPv6) and malformed CIDRs raise `UnsafeRangeError` (`parse_source_cidr`,
here), whatever their origin (data file or settings).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
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

from byoc.domain.networks import Network, network_within

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
    "load_carrier_data",
    "packaged_carrier_data",
    "parse_source_cidr",
    "special_purpose",
]

Purpose = Literal["signaling", "media"]
Transport = Literal["udp", "tcp", "tls"]
NsgProtocol = Literal["Udp", "Tcp"]

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
_WORD = re.compile(r"^[A-Za-z][A-Za-z0-9._-]*$")
_PORTS = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")
PURPOSES: tuple[Purpose, ...] = ("signaling", "media")
TRANSPORTS: tuple[Transport, ...] = ("udp", "tcp", "tls")


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
    if any(network_within(network, doc) for doc in _DOCUMENTATION):
        return None
    for block, why in _SPECIAL_BLOCKS:
        if network_within(network, block):
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
