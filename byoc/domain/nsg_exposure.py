"""What an NSG really lets reach the SBC, evaluated the way Azure evaluates it.

Azure processes inbound security rules in priority order, lowest number first; the first rule that
matches a flow (protocol, source, source port, destination, destination port) decides, and the
default rules `AllowVnetInBound` (65000), `AllowAzureLoadBalancerInBound` (65001) and
`DenyAllInBound` (65500) come after every custom rule (learn.microsoft.com, "Network security
groups: how they work" and "Default security rules"). byoc's rules and everyone else's are
evaluated together, so a foreign rule that allows `Internet` at any priority opens everything
byoc's carrier rules did not already match.

For each port the SBC serves, `evaluate` lists who each rule lets in (only what no earlier rule
matched) and classifies it: `carrier` (inside a range the carriers publish for that port),
`internal` (the virtual network, the load balancer probe, private addresses, application security
groups) or `wider` (`*`, `Internet`, other service tags such as `AzureCloud`, public addresses no
carrier publishes). Anything `wider` is an exposure.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal, Protocol

from byoc.domain.networks import Network, collapsed, inside_any, network_within, parse_network, subtract

Kind = Literal["carrier", "internal", "wider"]
Origin = Literal["byoc", "foreign", "default"]

__all__ = [
    "DEFAULT_INBOUND_RULES",
    "ExposureReport",
    "Opening",
    "PortExposure",
    "RuleView",
    "ServedPort",
    "deciding_rule",
    "evaluate",
    "port_spans",
]

_ANY = frozenset({"*", "any", "0.0.0.0/0", "::/0"})
_INTERNAL_TAGS = frozenset({"virtualnetwork", "azureloadbalancer"})


class RuleView(Protocol):
    """The fields of a security rule the evaluation reads (ARM names, plural and singular merged)."""

    @property
    def name(self) -> str: ...
    @property
    def priority(self) -> int: ...
    @property
    def direction(self) -> str: ...
    @property
    def access(self) -> str: ...
    @property
    def protocol(self) -> str: ...
    @property
    def source_address_prefixes(self) -> tuple[str, ...]: ...
    @property
    def source_port_ranges(self) -> tuple[str, ...]: ...
    @property
    def destination_address_prefixes(self) -> tuple[str, ...]: ...
    @property
    def destination_port_ranges(self) -> tuple[str, ...]: ...
    @property
    def source_asgs(self) -> tuple[str, ...]: ...
    @property
    def destination_asgs(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class _Rule:
    name: str
    priority: int
    direction: str
    access: str
    protocol: str
    source_address_prefixes: tuple[str, ...]
    destination_address_prefixes: tuple[str, ...]
    source_port_ranges: tuple[str, ...] = ("*",)
    destination_port_ranges: tuple[str, ...] = ("*",)
    source_asgs: tuple[str, ...] = ()
    destination_asgs: tuple[str, ...] = ()


DEFAULT_INBOUND_RULES: tuple[RuleView, ...] = (
    _Rule("AllowVnetInBound", 65000, "Inbound", "Allow", "*", ("VirtualNetwork",),
          ("VirtualNetwork",)),
    _Rule("AllowAzureLoadBalancerInBound", 65001, "Inbound", "Allow", "*", ("AzureLoadBalancer",),
          ("*",)),
    _Rule("DenyAllInBound", 65500, "Inbound", "Deny", "*", ("*",), ("*",)),
)
"""Azure's default inbound rules: they cannot be removed, only overridden by lower numbers."""


@dataclass(frozen=True)
class ServedPort:
    """A port (or range) the SBC serves, and the sources the carriers publish for it."""

    service: str
    protocol: Literal["Tcp", "Udp"]
    low: int
    high: int
    published: tuple[Network, ...]

    @property
    def ports(self) -> str:
        return _span_text(self.low, self.high)


@dataclass(frozen=True)
class Opening:
    """Sources one rule lets reach some of a served port's range (nothing an earlier rule took)."""

    ports: tuple[tuple[int, int], ...]
    sources: tuple[str, ...]
    kind: Kind
    rule: str
    priority: int
    origin: Origin

    def to_json(self) -> dict[str, Any]:
        return {
            "ports": ",".join(_span_text(lo, hi) for lo, hi in self.ports),
            "sources": list(self.sources),
            "kind": self.kind,
            "rule": self.rule,
            "priority": self.priority,
            "origin": self.origin,
        }


@dataclass(frozen=True)
class PortExposure:
    """Everything that reaches one served port, rule by rule."""

    port: ServedPort
    openings: tuple[Opening, ...]

    @property
    def exposed(self) -> tuple[Opening, ...]:
        return tuple(o for o in self.openings if o.kind == "wider")

    def to_json(self) -> dict[str, Any]:
        return {
            "service": self.port.service,
            "protocol": self.port.protocol,
            "ports": self.port.ports,
            "exposed": bool(self.exposed),
            "openings": [o.to_json() for o in self.openings],
        }


@dataclass(frozen=True)
class ExposureReport:
    """Per served port, who may reach the SBC and which rule lets them."""

    ports: tuple[PortExposure, ...]

    @property
    def exposed(self) -> bool:
        return any(p.exposed for p in self.ports)

    def problems(self) -> list[str]:
        """One sentence per rule that lets in more than the carriers publish."""
        found: list[str] = []
        for port in self.ports:
            for opening in port.exposed:
                shown = ", ".join(opening.sources[:4])
                more = len(opening.sources) - 4
                if more > 0:
                    shown += f" and {more} more"
                ports = ",".join(_span_text(lo, hi) for lo, hi in opening.ports)
                found.append(
                    f"{port.port.service} ({port.port.protocol} {ports}) is open to {shown} by "
                    f"{opening.origin} rule {opening.rule!r} (priority {opening.priority}): "
                    f"{_advice(opening)}"
                )
        return found

    def to_json(self) -> dict[str, Any]:
        return {"exposed": self.exposed, "ports": [p.to_json() for p in self.ports]}


def _advice(opening: Opening) -> str:
    if opening.origin == "byoc":
        return "a byoc rule was widened by hand; the next sync puts it back"
    if opening.origin == "default":
        return "add an inbound Deny above it or narrow the rule that lets this through"
    return (
        "it lets in more than the carrier ranges; byoc does not change foreign rules: narrow or "
        "remove it "
        "(if it is a carrier's published range, add it to BYOC_NSG_EXTRA_CIDRS)"
    )


# --- evaluation ----------------------------------------------------------------------------------


def evaluate(
    rules: Iterable[RuleView],
    served: Sequence[ServedPort],
    *,
    destination: str = "*",
    owned: Iterable[str] = (),
) -> ExposureReport:
    """Evaluate `rules` plus Azure's default rules for every served port of the SBC at
    `destination` (its private IP, or `*` when unknown). Rules named in `owned` are byoc's."""
    own = {n.casefold() for n in owned}
    inbound = sorted(
        (r for r in (*rules, *DEFAULT_INBOUND_RULES) if r.direction.lower() == "inbound"),
        key=lambda r: r.priority,
    )
    defaults = {r.name for r in DEFAULT_INBOUND_RULES}
    reports = []
    for port in served:
        relevant = [
            (r, clipped)
            for r in inbound
            if _protocol_matches(r.protocol, port.protocol)
            and _destination_matches(r, destination)
            and (clipped := _clip(port_spans(r.destination_port_ranges), port.low, port.high))
        ]
        openings: dict[tuple[str, Kind, tuple[str, ...]], list[tuple[int, int]]] = {}
        ranks: dict[str, RuleView] = {}
        for low, high in _segments([spans for _, spans in relevant], port.low, port.high):
            matched = _Matched()
            for rule, spans in relevant:
                if not any(lo <= low and high <= hi for lo, hi in spans):
                    continue
                found = matched.take(rule, port.published)
                if rule.access.lower() != "allow":
                    continue
                for kind, sources in found.items():
                    if sources:
                        key = (rule.name, kind, tuple(sources))
                        openings.setdefault(key, []).append((low, high))
                        ranks[rule.name] = rule
                if matched.everything:
                    break
        items = []
        for (name, kind, shown), spans in openings.items():
            rule = ranks[name]
            origin: Origin = (
                "default" if name in defaults else "byoc" if name.casefold() in own else "foreign"
            )
            items.append(
                Opening(_joined(spans), shown, kind, name, rule.priority, origin)
            )
        items.sort(key=lambda o: (o.ports[0][0], o.priority, ("carrier", "internal", "wider").index(o.kind)))
        reports.append(PortExposure(port, tuple(items)))
    return ExposureReport(tuple(reports))


def deciding_rule(
    rules: Iterable[RuleView],
    source: str,
    port: int,
    protocol: str,
    *,
    destination: str = "*",
) -> RuleView | None:
    """The inbound rule Azure applies to a flow from the network `source` to `destination`:`port`
    over `protocol` (`tcp` or `udp`): the first match in priority order, Azure's default rules
    included. A carrier's source port is not known, so source port ranges are not judged; a rule
    whose destination names application security groups counts as reaching the SBC. None only when
    `source` is no network."""
    network = parse_network(source)
    if network is None:
        return None
    inbound = sorted(
        (r for r in (*rules, *DEFAULT_INBOUND_RULES) if r.direction.lower() == "inbound"),
        key=lambda r: r.priority,
    )
    for rule in inbound:
        if (
            _protocol_matches(rule.protocol, protocol)
            and _source_covers(rule, network)
            and any(low <= port <= high for low, high in port_spans(rule.destination_port_ranges))
            and _destination_matches(rule, destination)
        ):
            return rule
    return None


@dataclass
class _Matched:
    """The sources earlier rules matched on one port segment (first match wins)."""

    everything: bool = False
    internet: bool = False
    tags: set[str] = field(default_factory=set)
    asgs: set[str] = field(default_factory=set)
    networks: list[Network] = field(default_factory=list)

    def take(self, rule: RuleView, published: Sequence[Network]) -> dict[Kind, list[str]]:
        """What of `rule`'s sources no earlier rule matched, by kind; records them as matched
        (only when the rule matches every source port, as carrier traffic may use any)."""
        found: dict[Kind, list[str]] = {"carrier": [], "internal": [], "wider": []}
        consume = all(p.strip() in ("*", "0-65535") for p in rule.source_port_ranges) or not (
            rule.source_port_ranges
        )
        for asg in rule.source_asgs:
            if not self.everything and asg not in self.asgs:
                found["internal"].append(f"ASG {asg.rsplit('/', 1)[-1]}")
                if consume:
                    self.asgs.add(asg)
        for prefix in rule.source_address_prefixes:
            text = prefix.strip()
            lowered = text.lower()
            if self.everything:
                break
            network = parse_network(text)
            if lowered in _ANY:
                found["wider"].append("*" if lowered in ("*", "any") else text)
                if consume:
                    self.everything = True
            elif lowered == "internet":
                if not self.internet:
                    found["wider"].append("Internet")
                    if consume:
                        self.internet = True
            elif network is None:
                base = lowered.split(".", 1)[0]
                if lowered in _INTERNAL_TAGS:
                    if lowered not in self.tags:
                        found["internal"].append(text)
                elif not self.internet and lowered not in self.tags and base not in self.tags:
                    found["wider"].append(text)
                if consume:
                    self.tags.add(lowered)
            else:
                if self.internet and network.is_global:
                    continue
                pieces = subtract([network], self.networks)
                inside = [p for p in pieces if inside_any(p, published)]
                rest = subtract([p for p in pieces if p not in inside], published)
                carrier = _overlap(pieces, published)
                found["carrier"].extend(str(p) for p in collapsed([*inside, *carrier]))
                outside = collapsed(rest)
                if any(piece.is_global for piece in outside):
                    found["wider"].append(text if len(outside) > 1 else str(outside[0]))
                else:
                    found["internal"].extend(str(piece) for piece in outside)
                if consume:
                    self.networks.append(network)
        return found


# --- helpers -------------------------------------------------------------------------------------


def _protocol_matches(rule_protocol: str, protocol: str) -> bool:
    value = rule_protocol.strip().lower()
    return value in ("*", "any") or value == protocol.lower()


def _source_covers(rule: RuleView, network: Network) -> bool:
    """True when every address of `network` is among the rule's source prefixes (`Internet` holds
    the public addresses); service tags other than `Internet` and ASGs are judged not to."""
    for prefix in rule.source_address_prefixes:
        lowered = prefix.strip().lower()
        if lowered in ("*", "any"):
            return True
        if lowered == "internet":
            if network.is_global:
                return True
            continue
        outer = parse_network(prefix)
        if outer is not None and network_within(network, outer):
            return True
    return False


def _destination_matches(rule: RuleView, destination: str) -> bool:
    """True when the rule's destination covers the SBC. Tags and ASGs are assumed to (the SBC's
    NIC may be in the ASG; its private IP is in VirtualNetwork)."""
    if rule.destination_asgs:
        return True
    target = parse_network(destination) if destination.strip() != "*" else None
    for prefix in rule.destination_address_prefixes:
        network = parse_network(prefix)
        if network is None or target is None:
            return True
        if network.version == target.version and network.overlaps(target):
            return True
    return False


def port_spans(ranges: Iterable[str]) -> list[tuple[int, int]]:
    """NSG port range texts as (low, high) spans; `*`, empty or unreadable means every port."""
    spans: list[tuple[int, int]] = []
    for text in ranges:
        value = text.strip()
        if value in ("*", ""):
            spans.append((0, 65535))
            continue
        low, _, high = value.partition("-")
        try:
            spans.append((int(low), int(high or low)))
        except ValueError:
            spans.append((0, 65535))
    return spans


def _clip(spans: Iterable[tuple[int, int]], low: int, high: int) -> list[tuple[int, int]]:
    return [(max(lo, low), min(hi, high)) for lo, hi in spans if lo <= high and low <= hi]


def _segments(
    spans_per_rule: Iterable[list[tuple[int, int]]], low: int, high: int
) -> list[tuple[int, int]]:
    """The port range cut wherever a rule's (clipped) destination ports start or end."""
    cuts = {low, high + 1}
    for spans in spans_per_rule:
        for lo, hi in spans:
            cuts.update((lo, hi + 1))
    edges = sorted(cuts)
    return [(a, b - 1) for a, b in pairwise(edges)]


def _joined(spans: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(spans):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def _span_text(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


def _overlap(pieces: Iterable[Network], blocks: Iterable[Network]) -> list[Network]:
    """The parts of `blocks` that lie inside some piece but do not contain it."""
    found: list[Network] = []
    blocks = list(blocks)
    for piece in pieces:
        if inside_any(piece, blocks):
            continue
        found.extend(b for b in blocks if network_within(b, piece))
    return found
