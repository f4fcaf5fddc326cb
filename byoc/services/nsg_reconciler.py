"""The Azure NSG in front of each SBC: byoc's inbound rules let exactly the carrier ranges in.

Target `nsg:<sbc>`. A rule whose name starts with `<BYOC_NSG_RULE_PREFIX>-` is owned by byoc and
made to match the desired rules exactly (added, updated, removed). Every other rule is foreign: it
is never written, its priorities are avoided, and one that shadows or contradicts an owned rule is
reported in the plan's conflicts.

A sync reads the NSG once. Writes are ordered so no wanted traffic is ever cut off: new and
widened rules first, then narrowed ones, then removals. Each write carries the rule's ETag.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from byoc.domain.carriers import (
    NSG_MAX_PREFIXES,
    NSG_MAX_RULES,
    CarrierData,
    CarrierRange,
    NsgRuleSpec,
    PriorityBandExhaustedError,
    UnsafeRangeError,
    desired_nsg_rules,
    effective_ranges,
    packaged_carrier_data,
    parse_source_cidr,
)
from byoc.domain.nsg_exposure import ExposureReport, ServedPort, port_spans
from byoc.domain.nsg_exposure import evaluate as evaluate_exposure
from byoc.domain.plan import Action, Change, Plan

if TYPE_CHECKING:
    from byoc.ports import HeldLease, NsgPort
    from byoc.services.reconcile import DesiredState
    from byoc.settings import SbcSettings, Settings

TARGET_PREFIX = "nsg:"
RULE_KIND = "nsg-rule"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_ANY_SOURCE = frozenset({"*", "any", "internet"})
_CANONICAL = {
    v.lower(): v for v in ("Inbound", "Outbound", "Allow", "Deny", "Tcp", "Udp", "Icmp", "Esp", "Ah", "*")
}


class ForeignNsgRuleError(Exception):
    """A plan would write or delete a rule byoc does not own; refused."""


def nsg_target(sbc_name: str) -> str:
    """The target name of the NSG in front of SBC `sbc_name`."""
    return f"{TARGET_PREFIX}{sbc_name}"


# --- rules as read and as wanted -------------------------------------------------------------


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

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> NsgRule:
        """The inverse of `fields()` (a plan's `after`)."""
        return cls(
            name=str(data["name"]),
            priority=int(data["priority"]),
            direction=str(data["direction"]),
            access=str(data["access"]),
            protocol=str(data["protocol"]),
            source_address_prefixes=tuple(data["source_address_prefixes"]),
            destination_address_prefixes=tuple(data["destination_address_prefixes"]),
            destination_port_ranges=tuple(data["destination_port_ranges"]),
            source_port_ranges=tuple(data.get("source_port_ranges", ("*",))),
            source_asgs=tuple(data.get("source_asgs", ())),
            destination_asgs=tuple(data.get("destination_asgs", ())),
            description=str(data.get("description", "")),
        )

    def fields(self) -> dict[str, Any]:
        """The rule as JSON for plans and the operations log (no ETag)."""
        out: dict[str, Any] = {
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


@dataclass(frozen=True)
class NsgDesired:
    """What byoc wants in one NSG: the carrier ranges and how they become rules."""

    ranges: tuple[CarrierRange, ...]
    sip_ports: dict[str, int]
    rtp_ports: tuple[int, int]
    name_prefix: str
    priority_band: tuple[int, int]
    max_port_span: int
    destination: str

    def rules(self, actual: NsgState) -> list[NsgRule]:
        """The desired rules around the foreign rules of `actual` (priorities not yet final)."""
        foreign = actual.foreign
        specs = desired_nsg_rules(
            self.ranges,
            sbc_sip_ports=self.sip_ports,
            rtp_ports=self.rtp_ports,
            name_prefix=self.name_prefix,
            priority_band=self.priority_band,
            foreign_priorities={r.priority for r in foreign},
            max_port_span=self.max_port_span,
            destination_address_prefix=self.destination,
            foreign_rule_count=len(foreign),
            foreign_source_prefix_count=sum(_usage(r)[1] for r in foreign),
        )
        return [NsgRule.from_spec(spec) for spec in specs]

    def exposure(self, actual: NsgState, wanted: Iterable[NsgRule]) -> list[str]:
        """What the NSG will let in beyond the carrier ranges once byoc's rules are `wanted`."""
        wanted = list(wanted)
        report = evaluate_exposure(
            [*actual.foreign, *wanted],
            served_ports(self.sip_ports, self.rtp_ports, self.ranges),
            destination=self.destination,
            owned=[r.name for r in wanted],
        )
        return report.problems()


# --- the reconciler ----------------------------------------------------------------------------


class NsgReconciler:
    """Keeps byoc's rules in one SBC's NSG equal to the carrier ranges, and nothing wider."""

    tracks_numbers = False

    def __init__(
        self,
        settings: Settings,
        sbc: SbcSettings,
        port: NsgPort,
        *,
        carrier_data: CarrierData | None = None,
    ) -> None:
        self.target = nsg_target(sbc.name)
        self._settings = settings
        self._sbc = sbc
        self._port = port
        self._carrier_data = carrier_data
        self._prefix = settings.nsg_rule_prefix
        self._snapshot: NsgState | None = None
        self._wrote = False

    def read_actual(self) -> NsgState:
        """The NSG's rules, split into owned and foreign (one read)."""
        owned: dict[str, NsgRule] = {}
        foreign: list[NsgRule] = []
        for raw in self._port.read_rules():
            rule = NsgRule.from_arm(raw)
            if self._owns(rule.name):
                owned[rule.name] = rule
            else:
                foreign.append(rule)
        state = NsgState(owned=owned, foreign=tuple(sorted(foreign, key=lambda r: r.priority)))
        self._snapshot = state
        self._wrote = False
        return state

    def desired(self, state: DesiredState | None = None) -> NsgDesired:
        """The carrier ranges this SBC must let in; unsafe ranges are refused here."""
        del state  # the NSG does not depend on the numbers
        settings, sbc = self._settings, self._sbc
        ranges = sbc_effective_ranges(settings, sbc, self._carrier_data)
        desired = NsgDesired(
            ranges=tuple(ranges),
            sip_ports=_sip_ports(sbc),
            rtp_ports=(sbc.rtp_ports.low, sbc.rtp_ports.high),
            name_prefix=self._prefix,
            priority_band=(settings.nsg_priority_low, settings.nsg_priority_high),
            max_port_span=settings.nsg_max_port_span,
            destination=sbc.nsg_destination,
        )
        desired.rules(NsgState(owned={}, foreign=()))  # refuse bad parameters before any read
        return desired

    def plan(self, actual: NsgState, desired: NsgDesired) -> Plan:
        """Owned-rule changes in a safe order, plus foreign rules that get in their way."""
        wanted, late = _with_stable_priorities(desired.rules(actual), actual, desired)
        now: list[Change] = []
        narrowing: list[Change] = []
        after_removals: list[Change] = []
        for rule in wanted:
            current = actual.owned.get(rule.name)
            if current == rule:
                continue
            change = self._change(current, rule)
            if rule.name in late:
                after_removals.append(change)
            elif current is None or _only_widens(current, rule):
                now.append(change)
            else:
                narrowing.append(change)
        wanted_names = {r.name for r in wanted}
        removals = [
            self._change(rule, None)
            for name, rule in sorted(actual.owned.items())
            if name not in wanted_names
        ]
        notes = _notes(actual, desired, late)
        changes = [*now, *narrowing, *removals, *after_removals]
        if not _within_limits(actual, changes):
            changes = _removals_first(changes)
            notes.append(
                f"the NSG would pass Azure's limit of {NSG_MAX_RULES} rules or {NSG_MAX_PREFIXES} "
                "source or destination prefixes if byoc added before it removed: removals and "
                "narrowing updates are written first (traffic they stop is cut off until the "
                "additions follow in the same sync)"
            )
        return Plan(
            target=self.target,
            changes=tuple(changes),
            conflicts=(*_conflicts(actual.foreign, wanted), *desired.exposure(actual, wanted)),
            notes=tuple(notes),
        )

    def apply(self, plan: Plan, lease: HeldLease) -> None:
        """Write the plan's changes in order, checking the lease before each write."""
        for change in plan.changes:
            self._check_change(plan, change)
            lease.check()
            before_etag = change.before.get("etag") if isinstance(change.before, dict) else None
            self._wrote = True
            if change.action is Action.REMOVE:
                self._port.delete_rule(change.key, etag=before_etag)
                continue
            rule = NsgRule.from_fields(change.after)
            _refuse_unsafe(rule)
            self._port.put_rule(rule.name, rule.to_arm_properties(), etag=before_etag)

    def verify(self, desired: NsgDesired) -> list[str]:
        """What still differs; re-reads only if this sync wrote (a no-op sync reads once)."""
        actual = self._snapshot
        if actual is None or self._wrote:
            actual = self.read_actual()
        plan = self.plan(actual, desired)
        return [f"{c.kind} {c.key} still differs: {c.summary}" for c in plan.changes]

    # --- internals ---------------------------------------------------------------------------

    def _owns(self, name: str) -> bool:
        return name.casefold().startswith(f"{self._prefix}-".casefold())

    def _change(self, before: NsgRule | None, after: NsgRule | None) -> Change:
        if before is None:
            assert after is not None
            return Change(
                target=self.target,
                action=Action.ADD,
                kind=RULE_KIND,
                key=after.name,
                summary=f"add: {after.describe()}",
                after=after.fields(),
            )
        before_json = {**before.fields(), "etag": before.etag}
        if after is None:
            return Change(
                target=self.target,
                action=Action.REMOVE,
                kind=RULE_KIND,
                key=before.name,
                summary=f"no longer wanted: {before.describe()}",
                before=before_json,
            )
        return Change(
            target=self.target,
            action=Action.UPDATE,
            kind=RULE_KIND,
            key=after.name,
            summary=_difference(before, after),
            before=before_json,
            after=after.fields(),
        )

    def _check_change(self, plan: Plan, change: Change) -> None:
        if change.target != self.target or plan.target != self.target:
            raise ForeignNsgRuleError(
                f"plan for {plan.target} given to the reconciler of {self.target}; not applied"
            )
        if change.kind != RULE_KIND or not self._owns(change.key):
            raise ForeignNsgRuleError(
                f"{change.kind} {change.key!r} is not a byoc rule (name prefix "
                f"{self._prefix!r}-); byoc never writes or deletes other rules"
            )


def _refuse_unsafe(rule: NsgRule) -> None:
    """Raise `UnsafeRangeError` if the rule would open anything wider than a carrier range."""
    if rule.access != "Allow" or rule.direction != "Inbound":
        raise UnsafeRangeError(f"rule {rule.name}: byoc only writes inbound Allow rules")
    if not rule.source_address_prefixes or rule.source_asgs:
        raise UnsafeRangeError(f"rule {rule.name}: byoc rules name their source CIDRs")
    for prefix in rule.source_address_prefixes:
        parse_source_cidr(prefix)
    if "*" in rule.destination_port_ranges:
        raise UnsafeRangeError(f"rule {rule.name}: destination ports '*' open every SBC port")


# --- priorities and ordering ---------------------------------------------------------------------


def _with_stable_priorities(
    wanted: list[NsgRule], actual: NsgState, desired: NsgDesired
) -> tuple[list[NsgRule], set[str]]:
    """Keep each owned rule's priority where possible; new ones take free priorities.

    Returns the rules and the names that can only take a priority a removed rule frees
    (those writes go after the removals).
    """
    low, high = desired.priority_band
    foreign_inbound = {r.priority for r in actual.foreign if r.direction == "Inbound"}
    foreign_any = {r.priority for r in actual.foreign}
    held_by_owned = {r.priority for r in actual.owned.values()}
    assigned: dict[str, int] = {}
    for rule in wanted:
        current = actual.owned.get(rule.name)
        if (
            current is not None
            and current.direction == rule.direction
            and low <= current.priority <= high
            and current.priority not in foreign_inbound
            and current.priority not in assigned.values()
        ):
            assigned[rule.name] = current.priority
    taken = foreign_any | set(assigned.values())
    free_now = [p for p in range(low, high + 1) if p not in taken and p not in held_by_owned]
    freed_later = [p for p in range(low, high + 1) if p not in taken and p in held_by_owned]
    late: set[str] = set()
    for rule in wanted:
        if rule.name in assigned:
            continue
        if free_now:
            assigned[rule.name] = free_now.pop(0)
        elif freed_later:
            assigned[rule.name] = freed_later.pop(0)
            late.add(rule.name)
        else:
            raise PriorityBandExhaustedError(
                f"{len(wanted)} byoc rules do not fit in priority band {low}-{high} beside "
                f"{len(foreign_any & set(range(low, high + 1)))} foreign rules; widen the band"
            )
    return [replace(r, priority=assigned[r.name]) for r in wanted], late


def _usage(rule: NsgRule | None) -> tuple[int, int, int]:
    """What one rule counts against the NSG limits: (rules, source prefixes, destination prefixes).

    Only IP addresses and ranges count as prefixes, not `*` or service tags (sandbox/README-azure.md).
    """
    if rule is None:
        return (0, 0, 0)
    return (
        1,
        sum(1 for p in rule.source_address_prefixes if _network(p) is not None),
        sum(1 for p in rule.destination_address_prefixes if _network(p) is not None),
    )


def _change_usage(change: Change) -> tuple[int, int, int]:
    before = _usage(NsgRule.from_fields(change.before) if change.before else None)
    after = _usage(NsgRule.from_fields(change.after) if change.after else None)
    return (after[0] - before[0], after[1] - before[1], after[2] - before[2])


def _within_limits(actual: NsgState, changes: Iterable[Change]) -> bool:
    """True when the NSG stays within Azure's limits after every write of `changes`, in order."""
    rules, sources, destinations = 0, 0, 0
    for rule in (*actual.owned.values(), *actual.foreign):
        one = _usage(rule)
        rules, sources, destinations = rules + one[0], sources + one[1], destinations + one[2]
    for change in changes:
        delta = _change_usage(change)
        rules, sources, destinations = rules + delta[0], sources + delta[1], destinations + delta[2]
        if rules > NSG_MAX_RULES or max(sources, destinations) > NSG_MAX_PREFIXES:
            return False
    return True


def _removals_first(changes: list[Change]) -> list[Change]:
    """The order that never passes a limit the end state keeps: removals, then updates from the
    one that frees most prefixes to the one that takes most, then additions."""
    removals = [c for c in changes if c.action is Action.REMOVE]
    updates = sorted(
        (c for c in changes if c.action is Action.UPDATE),
        key=lambda c: (max(_change_usage(c)[1:]), sum(_change_usage(c)[1:])),
    )
    additions = [c for c in changes if c.action is Action.ADD]
    return [*removals, *updates, *additions]


def _only_widens(before: NsgRule, after: NsgRule) -> bool:
    """True when `after` allows everything `before` did (so writing it cuts nothing off)."""
    if (before.direction, before.access, before.protocol) != (
        after.direction,
        after.access,
        after.protocol,
    ):
        return False
    if before.access != "Allow" or before.source_asgs or before.destination_asgs:
        return False
    old_sources = _source_networks(before.source_address_prefixes)
    new_sources = _source_networks(after.source_address_prefixes)
    if new_sources is not None and (old_sources is None or not _covered(old_sources, new_sources)):
        return False
    new_spans = port_spans(after.destination_port_ranges)
    return all(
        any(lo <= old_lo and old_hi <= hi for lo, hi in new_spans)
        for old_lo, old_hi in port_spans(before.destination_port_ranges)
    ) and set(before.destination_address_prefixes) <= set(after.destination_address_prefixes)


def _covered(inner: Iterable[Network], outer: Iterable[Network]) -> bool:
    outer = list(outer)
    return all(any(_within(a, b) for b in outer) for a in inner)


def _difference(before: NsgRule, after: NsgRule) -> str:
    parts: list[str] = []
    for label, old, new in (
        ("sources", before.source_address_prefixes, after.source_address_prefixes),
        ("ports", before.destination_port_ranges, after.destination_port_ranges),
        ("destination", before.destination_address_prefixes, after.destination_address_prefixes),
        ("source ports", before.source_port_ranges, after.source_port_ranges),
        ("source ASGs", before.source_asgs, after.source_asgs),
        ("destination ASGs", before.destination_asgs, after.destination_asgs),
    ):
        added = [x for x in new if x not in old]
        removed = [x for x in old if x not in new]
        if added or removed:
            text = " ".join([*(f"+{x}" for x in added), *(f"-{x}" for x in removed)])
            parts.append(f"{label} {text}")
    for label, old_value, new_value in (
        ("priority", before.priority, after.priority),
        ("direction", before.direction, after.direction),
        ("access", before.access, after.access),
        ("protocol", before.protocol, after.protocol),
    ):
        if old_value != new_value:
            parts.append(f"{label} {old_value}->{new_value}")
    if before.description != after.description:
        parts.append("description")
    return "update: " + "; ".join(parts)


def _notes(actual: NsgState, desired: NsgDesired, late: set[str]) -> list[str]:
    low, high = desired.priority_band
    inside = [r for r in actual.foreign if low <= r.priority <= high]
    notes: list[str] = []
    if inside:
        listed = ", ".join(f"{r.name} ({r.priority})" for r in inside[:10])
        notes.append(
            f"{len(inside)} foreign rule(s) sit in byoc's priority band {low}-{high}: {listed}; "
            "byoc's rules avoid their priorities"
        )
    if late:
        notes.append(
            f"priority band {low}-{high} is full: {', '.join(sorted(late))} can only be written "
            "after the removals free a priority (their traffic waits until then); widen the band"
        )
    return notes


# --- foreign rules in the way ------------------------------------------------------------------


def _conflicts(foreign: Iterable[NsgRule], wanted: list[NsgRule]) -> list[str]:
    """Foreign rules evaluated before an owned rule that block its traffic (what they let in
    beyond the carriers is reported by the exposure evaluation)."""
    found: list[str] = []
    for other in foreign:
        for mine in wanted:
            if other.direction != mine.direction or other.priority >= mine.priority:
                continue
            if not _overlaps(other, mine):
                continue
            head = (
                f"foreign rule {other.name!r} ({other.describe()}) is evaluated before byoc rule "
                f"{mine.name!r} (priority {mine.priority})"
            )
            if other.access == "Deny":
                found.append(
                    f"{head} and blocks carrier traffic it allows; renumber it above "
                    f"{mine.priority} (evaluated after byoc's rule) or narrow it"
                )
    return found


def _overlaps(other: NsgRule, mine: NsgRule) -> bool:
    if other.protocol != "*" and other.protocol != mine.protocol:
        return False
    if not _ports_overlap(other.destination_port_ranges, mine.destination_port_ranges):
        return False
    destinations = (other.destination_address_prefixes, mine.destination_address_prefixes)
    if not _destinations_overlap(*destinations):
        return False
    theirs = _source_networks(other.source_address_prefixes)
    if theirs is None:
        return True
    ours = _source_networks(mine.source_address_prefixes) or []
    return any(a.version == b.version and a.overlaps(b) for a in theirs for b in ours)


def _source_networks(prefixes: Iterable[str]) -> list[Network] | None:
    """The CIDRs among `prefixes`; None when one of them means any address."""
    networks: list[Network] = []
    for prefix in prefixes:
        if prefix.strip().lower() in _ANY_SOURCE:
            return None
        network = _network(prefix)
        if network is not None:
            networks.append(network)
    return networks


def _destinations_overlap(theirs: Iterable[str], ours: Iterable[str]) -> bool:
    their_nets = [_network(p) for p in theirs]
    our_nets = [_network(p) for p in ours]
    if any(n is None for n in their_nets) or any(n is None for n in our_nets):
        return True  # '*' or a service tag such as VirtualNetwork: assume it covers the SBC
    return any(
        a is not None and b is not None and a.version == b.version and a.overlaps(b)
        for a in their_nets
        for b in our_nets
    )


def _ports_overlap(theirs: Iterable[str], ours: Iterable[str]) -> bool:
    return any(a[0] <= b[1] and b[0] <= a[1] for a in port_spans(theirs) for b in port_spans(ours))


def _within(inner: Network, outer: Network) -> bool:
    if isinstance(inner, ipaddress.IPv4Network) and isinstance(outer, ipaddress.IPv4Network):
        return inner.subnet_of(outer)
    if isinstance(inner, ipaddress.IPv6Network) and isinstance(outer, ipaddress.IPv6Network):
        return inner.subnet_of(outer)
    return False


def _network(text: str) -> Network | None:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        return None


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
        network = _network(text)
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


# --- ranges per SBC, registration ---------------------------------------------------------------


def sbc_effective_ranges(
    settings: Settings, sbc: SbcSettings, carrier_data: CarrierData | None = None
) -> list[CarrierRange]:
    """The carrier ranges SBC `sbc` must accept (its edges and regions, extras, exclusions)."""
    return effective_ranges(
        carrier_data or packaged_carrier_data(),
        twilio_edges=sbc.twilio_edges,
        genesys_regions=sbc.genesys_regions,
        genesys_signaling=_signaling_for(settings, sbc),
        extra=settings.nsg_extra_cidrs,
        exclude=settings.nsg_exclude_cidrs,
    )


def _sip_ports(sbc: SbcSettings) -> dict[str, int]:
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
        sip = _sip_ports(sbc)
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
            _sip_ports(sbc),
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
