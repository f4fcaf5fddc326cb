"""One NSG security rule in comparable form, read from and written as ARM JSON, and the NSG as
read: byoc's rules by name and everyone else's."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from byoc.domain.carriers import NsgRuleSpec
from byoc.domain.networks import parse_network
from byoc.domain.plan import JsonValue

if TYPE_CHECKING:
    pass

_CANONICAL = {
    v.lower(): v for v in ("Inbound", "Outbound", "Allow", "Deny", "Tcp", "Udp", "Icmp", "Esp", "Ah", "*")
}


@dataclass(frozen=True)
class NsgRule:
    """One security rule in comparable form (list fields sorted; singular and plural merged)."""

    name: str
    priority: int
    direction: str
    access: str
    protocol: str
    source_address_prefixes: tuple[str, ...]
    destination_address_prefixes: tuple[str, ...]
    destination_port_ranges: tuple[str, ...]
    source_port_ranges: tuple[str, ...] = ("*",)
    source_asgs: tuple[str, ...] = ()
    destination_asgs: tuple[str, ...] = ()
    description: str = ""
    etag: str | None = field(default=None, compare=False)

    @classmethod
    def from_arm(cls, raw: Mapping[str, Any]) -> NsgRule:
        """A rule from ARM JSON (`{"name", "etag", "properties": {...}}`)."""
        props: Mapping[str, Any] = raw.get("properties") or {}
        return cls(
            name=str(raw.get("name", "")),
            priority=int(props.get("priority") or 0),
            direction=_canonical(props.get("direction")),
            access=_canonical(props.get("access")),
            protocol=_canonical(props.get("protocol")),
            source_address_prefixes=_merged(props, "sourceAddressPrefix"),
            destination_address_prefixes=_merged(props, "destinationAddressPrefix"),
            destination_port_ranges=_merged(props, "destinationPortRange"),
            source_port_ranges=_merged(props, "sourcePortRange"),
            source_asgs=_asg_ids(props.get("sourceApplicationSecurityGroups")),
            destination_asgs=_asg_ids(props.get("destinationApplicationSecurityGroups")),
            description=str(props.get("description") or ""),
            etag=raw.get("etag"),
        )

    @classmethod
    def from_spec(cls, spec: NsgRuleSpec) -> NsgRule:
        """The rule byoc wants, from the domain's computation."""
        return cls(
            name=spec.name,
            priority=spec.priority,
            direction=spec.direction,
            access=spec.access,
            protocol=spec.protocol,
            source_address_prefixes=_sorted_prefixes(spec.source_address_prefixes),
            destination_address_prefixes=(spec.destination_address_prefix,),
            destination_port_ranges=_sorted_ports(spec.destination_port_ranges),
            source_port_ranges=(spec.source_port_range,),
            description=spec.description,
        )

    def fields(self) -> dict[str, JsonValue]:
        """The rule as JSON for plans and the operations log (no ETag)."""
        out: dict[str, JsonValue] = {
            "name": self.name,
            "priority": self.priority,
            "direction": self.direction,
            "access": self.access,
            "protocol": self.protocol,
            "source_address_prefixes": list(self.source_address_prefixes),
            "source_port_ranges": list(self.source_port_ranges),
            "destination_address_prefixes": list(self.destination_address_prefixes),
            "destination_port_ranges": list(self.destination_port_ranges),
            "description": self.description,
        }
        if self.source_asgs:
            out["source_asgs"] = list(self.source_asgs)
        if self.destination_asgs:
            out["destination_asgs"] = list(self.destination_asgs)
        return out

    def to_arm_properties(self) -> dict[str, Any]:
        """ARM `properties` for a PUT of this rule."""
        props: dict[str, Any] = {
            "priority": self.priority,
            "direction": self.direction,
            "access": self.access,
            "protocol": self.protocol,
            "sourceAddressPrefixes": list(self.source_address_prefixes),
            "destinationPortRanges": list(self.destination_port_ranges),
            "description": self.description,
        }
        _put_one_or_many(props, "sourcePortRange", self.source_port_ranges)
        _put_one_or_many(props, "destinationAddressPrefix", self.destination_address_prefixes)
        return props

    def describe(self) -> str:
        """`Allow Udp 5060 from 54.172.60.0/30, +3 more (priority 1000)`."""
        sources = list(self.source_address_prefixes) or [f"ASG {a}" for a in self.source_asgs]
        shown = ", ".join(sources[:3]) + (f", +{len(sources) - 3} more" if len(sources) > 3 else "")
        return (
            f"{self.access} {self.protocol} {','.join(self.destination_port_ranges)} from "
            f"{shown or 'nothing'} (priority {self.priority})"
        )


@dataclass(frozen=True)
class NsgState:
    """The NSG as read: byoc's rules by name and everyone else's."""

    owned: dict[str, NsgRule]
    foreign: tuple[NsgRule, ...]



# --- ARM JSON helpers ----------------------------------------------------------------------------


def _canonical(value: Any) -> str:
    text = str(value or "")
    return _CANONICAL.get(text.lower(), text)


def _plural(singular: str) -> str:
    return f"{singular}es" if singular.endswith("Prefix") else f"{singular}s"


def _merged(props: Mapping[str, Any], singular: str) -> tuple[str, ...]:
    values = [str(v) for v in props.get(_plural(singular)) or []]
    one = props.get(singular)
    if one not in (None, ""):
        values.append(str(one))
    if singular.endswith("Prefix"):
        return _sorted_prefixes(values)
    return _sorted_ports(values)


def _asg_ids(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(sorted(str(item.get("id", "")) for item in value if isinstance(item, dict)))


def _sorted_prefixes(values: Iterable[str]) -> tuple[str, ...]:
    def order(text: str) -> tuple[int, int, int, str]:
        network = parse_network(text)
        if network is None:
            return (0, 0, 0, text)
        return (network.version, int(network.network_address), network.prefixlen, text)

    return tuple(sorted(dict.fromkeys(values), key=order))


def _sorted_ports(values: Iterable[str]) -> tuple[str, ...]:
    def order(text: str) -> tuple[int, str]:
        head = text.split("-", 1)[0]
        return (int(head) if head.isdigit() else -1, text)

    return tuple(sorted(dict.fromkeys(values), key=order))


def _put_one_or_many(props: dict[str, Any], singular: str, values: tuple[str, ...]) -> None:
    if len(values) == 1:
        props[singular] = values[0]
    else:
        props[_plural(singular)] = list(values)

