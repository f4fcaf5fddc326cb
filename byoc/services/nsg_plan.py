"""How byoc's NSG rules are planned: the desired rules around the foreign ones, stable priorities,
write order within Azure's limits, what each change widens or narrows, and the foreign rules in the
way."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from byoc.domain.carrier_nsg_rules import desired_nsg_rules
from byoc.domain.carriers import (
    NSG_MAX_PREFIXES,
    NSG_MAX_RULES,
    CarrierRange,
    PriorityBandExhaustedError,
    UnsafeRangeError,
    parse_source_cidr,
)
from byoc.domain.networks import Network, network_within, parse_network
from byoc.domain.nsg_exposure import evaluate as evaluate_exposure
from byoc.domain.nsg_exposure import port_spans
from byoc.domain.plan import Action, Change
from byoc.services.nsg_payloads import ListedRule, WantedRule
from byoc.services.nsg_ranges import served_ports
from byoc.services.nsg_rule import NsgRule, NsgState

if TYPE_CHECKING:
    pass


_ANY_SOURCE = frozenset({"*", "any", "internet"})


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



def refuse_unsafe(rule: NsgRule) -> None:
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


def with_stable_priorities(
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
        sum(1 for p in rule.source_address_prefixes if parse_network(p) is not None),
        sum(1 for p in rule.destination_address_prefixes if parse_network(p) is not None),
    )


def _change_usage(change: Change) -> tuple[int, int, int]:
    before = _usage(None if change.before is None else change.before_as(ListedRule).rule)
    after = _usage(None if change.after is None else change.after_as(WantedRule).rule)
    return (after[0] - before[0], after[1] - before[1], after[2] - before[2])


def within_limits(actual: NsgState, changes: Iterable[Change]) -> bool:
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


def removals_first(changes: list[Change]) -> list[Change]:
    """The order that never passes a limit the end state keeps: removals, then updates from the
    one that frees most prefixes to the one that takes most, then additions."""
    removals = [c for c in changes if c.action is Action.REMOVE]
    updates = sorted(
        (c for c in changes if c.action is Action.UPDATE),
        key=lambda c: (max(_change_usage(c)[1:]), sum(_change_usage(c)[1:])),
    )
    additions = [c for c in changes if c.action is Action.ADD]
    return [*removals, *updates, *additions]


def only_widens(before: NsgRule, after: NsgRule) -> bool:
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
    return all(any(network_within(a, b) for b in outer) for a in inner)


def difference(before: NsgRule, after: NsgRule) -> str:
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


def plan_notes(actual: NsgState, desired: NsgDesired, late: set[str]) -> list[str]:
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


def conflicts(foreign: Iterable[NsgRule], wanted: list[NsgRule]) -> list[str]:
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
        network = parse_network(prefix)
        if network is not None:
            networks.append(network)
    return networks


def _destinations_overlap(theirs: Iterable[str], ours: Iterable[str]) -> bool:
    their_nets = [parse_network(p) for p in theirs]
    our_nets = [parse_network(p) for p in ours]
    if any(n is None for n in their_nets) or any(n is None for n in our_nets):
        return True  # '*' or a service tag such as VirtualNetwork: assume it covers the SBC
    return any(
        a is not None and b is not None and a.version == b.version and a.overlaps(b)
        for a in their_nets
        for b in our_nets
    )


def _ports_overlap(theirs: Iterable[str], ours: Iterable[str]) -> bool:
    return any(a[0] <= b[1] and b[0] <= a[1] for a in port_spans(theirs) for b in port_spans(ours))
