"""The NSG evaluated as Azure evaluates it: priority order, first match wins, default rules last,
service tags wider than any carrier, protocols and port ranges matched per served port."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from byoc.domain.nsg_exposure import ExposureReport, ServedPort, deciding_rule, evaluate

SBC = "10.0.1.4"
CARRIER = "54.172.60.0/30"
MEDIA = "168.86.128.0/18"
SIP_UDP = ServedPort("SIP over UDP", "Udp", 5060, 5060, (ipaddress.ip_network(CARRIER),))
SIP_TLS = ServedPort("SIP over TLS", "Tcp", 5061, 5061, (ipaddress.ip_network(CARRIER),))
RTP = ServedPort("RTP", "Udp", 10000, 20000, (ipaddress.ip_network(MEDIA),))
SERVED = (SIP_UDP, SIP_TLS, RTP)


@dataclass(frozen=True)
class Rule:
    name: str
    priority: int
    source: str
    ports: str = "*"
    protocol: str = "*"
    access: str = "Allow"
    destination: str = "*"
    direction: str = "Inbound"
    source_ports: str = "*"

    @property
    def source_address_prefixes(self) -> tuple[str, ...]:
        return (self.source,)

    @property
    def source_port_ranges(self) -> tuple[str, ...]:
        return (self.source_ports,)

    @property
    def destination_address_prefixes(self) -> tuple[str, ...]:
        return (self.destination,)

    @property
    def destination_port_ranges(self) -> tuple[str, ...]:
        return tuple(self.ports.split(","))

    @property
    def source_asgs(self) -> tuple[str, ...]:
        return ()

    @property
    def destination_asgs(self) -> tuple[str, ...]:
        return ()


BYOC = [
    Rule("byoc-signaling-udp-1", 1000, CARRIER, "5060", "Udp"),
    Rule("byoc-signaling-tcp-1", 1001, CARRIER, "5061", "Tcp"),
    Rule("byoc-media-udp-1", 1002, MEDIA, "10000-20000", "Udp"),
]


def report(*foreign: Rule) -> ExposureReport:
    return evaluate([*BYOC, *foreign], SERVED, destination=SBC, owned=[r.name for r in BYOC])


def openings(result: ExposureReport, service: str) -> list[tuple[str, str, tuple[str, ...], str]]:
    port = next(p for p in result.ports if p.port.service == service)
    return [
        (o.rule, o.kind, o.sources, ",".join(f"{lo}-{hi}" for lo, hi in o.ports))
        for o in port.openings
    ]


def test_byoc_rules_alone_open_only_carriers_and_the_defaults_only_internal_sources() -> None:
    result = report()

    assert not result.exposed and result.problems() == []
    assert openings(result, "SIP over UDP") == [
        ("byoc-signaling-udp-1", "carrier", (CARRIER,), "5060-5060"),
        ("AllowVnetInBound", "internal", ("VirtualNetwork",), "5060-5060"),
        ("AllowAzureLoadBalancerInBound", "internal", ("AzureLoadBalancer",), "5060-5060"),
    ]


def test_a_later_allow_of_any_protocol_and_port_exposes_every_served_port() -> None:
    result = report(Rule("corp-any", 4000, "*"))

    assert {p.port.service for p in result.ports if p.exposed} == {"SIP over UDP", "SIP over TLS", "RTP"}
    assert all("'corp-any' (priority 4000)" in p for p in result.problems())


def test_azurecloud_behind_byoc_still_opens_the_rest_of_azure() -> None:
    result = report(Rule("corp-cloud", 3000, "AzureCloud", "5060", "Udp"))

    assert ("corp-cloud", "wider", ("AzureCloud",), "5060-5060") in openings(result, "SIP over UDP")
    assert not [p for p in result.problems() if "SIP over TLS" in p]


def test_a_deny_evaluated_first_hides_a_later_allow_on_the_same_ports() -> None:
    result = report(
        Rule("corp-deny", 150, "Internet", "5061", "Tcp", "Deny"),
        Rule("corp-allow", 160, "Internet", "5061", "Tcp"),
    )

    assert not result.exposed
    assert "corp-allow" not in {o[0] for o in openings(result, "SIP over TLS")}
    assert "byoc-signaling-tcp-1" not in {o[0] for o in openings(result, "SIP over TLS")}


def test_a_deny_limited_to_some_source_ports_does_not_hide_what_follows() -> None:
    result = report(
        Rule("corp-deny", 150, "Internet", "5061", "Tcp", "Deny", source_ports="1024-2048"),
        Rule("corp-allow", 160, "Internet", "5061", "Tcp"),
    )

    assert [p for p in result.problems() if "'corp-allow'" in p]


def test_only_the_overlapping_part_of_a_port_range_is_reported() -> None:
    result = report(Rule("corp-rtp", 2000, "8.8.8.0/24", "15000-25000", "Udp"))

    assert ("corp-rtp", "wider", ("8.8.8.0/24",), "15000-20000") in openings(result, "RTP")
    assert not [p for p in result.problems() if "SIP" in p]


def test_protocols_and_destinations_that_do_not_match_are_not_counted() -> None:
    result = report(
        Rule("corp-icmp", 2000, "Internet", "*", "Icmp"),
        Rule("corp-tcp-5060", 2001, "Internet", "5060", "Tcp"),
        Rule("corp-other-vm", 2002, "Internet", "*", "*", destination="10.0.2.0/24"),
    )

    assert not result.exposed


def test_a_public_range_is_split_into_the_carrier_part_and_the_part_beyond() -> None:
    inside = report(Rule("corp-twilio", 500, "54.172.60.0/31", "5060", "Udp"))
    beyond = report(Rule("corp-wide", 500, "54.172.60.0/24", "5060", "Udp"))
    private = report(Rule("corp-lan", 500, "192.168.0.0/16", "5060", "Udp"))

    assert not inside.exposed
    assert ("corp-twilio", "carrier", ("54.172.60.0/31",), "5060-5060") in openings(inside, "SIP over UDP")
    assert ("corp-wide", "carrier", (CARRIER,), "5060-5060") in openings(beyond, "SIP over UDP")
    assert ("corp-wide", "wider", ("54.172.60.0/24",), "5060-5060") in openings(beyond, "SIP over UDP")
    assert not private.exposed
    assert ("corp-lan", "internal", ("192.168.0.0/16",), "5060-5060") in openings(private, "SIP over UDP")


def test_internet_opened_first_covers_later_public_tags_and_ranges() -> None:
    result = report(
        Rule("corp-internet", 200, "Internet", "5060", "Udp"),
        Rule("corp-cloud", 300, "AzureCloud", "5060", "Udp"),
        Rule("corp-range", 400, "8.8.8.0/24", "5060", "Udp"),
    )

    assert [o[0] for o in openings(result, "SIP over UDP") if o[1] == "wider"] == ["corp-internet"]


def decided(rules: list[Rule], source: str = CARRIER, port: int = 5061, protocol: str = "tcp") -> str | None:
    rule = deciding_rule(rules, source, port, protocol, destination=SBC)
    return None if rule is None else f"{rule.name}:{rule.access}"


def test_the_flow_from_a_carrier_range_is_decided_by_the_first_matching_rule_by_priority() -> None:
    assert decided(BYOC) == "byoc-signaling-tcp-1:Allow"
    assert decided([*BYOC, Rule("block", 900, "54.172.0.0/16", "5061", access="Deny")]) == "block:Deny"
    assert decided([*BYOC, Rule("later-deny", 2000, "*", access="Deny")]) == "byoc-signaling-tcp-1:Allow"


def test_a_flow_no_custom_rule_matches_falls_to_azures_default_deny() -> None:
    assert decided(BYOC, port=5062) == "DenyAllInBound:Deny"
    assert decided(BYOC, protocol="udp") == "DenyAllInBound:Deny"
    assert decided([Rule("other-sbc", 100, "*", destination="10.0.9.9")]) == "DenyAllInBound:Deny"
    assert decided([Rule("vnet-only", 100, "VirtualNetwork")]) == "DenyAllInBound:Deny"


def test_a_rule_must_cover_the_whole_source_range_and_internet_covers_public_ones() -> None:
    assert decided([Rule("part", 100, "54.172.60.0/31")]) == "DenyAllInBound:Deny"
    assert decided([Rule("internet", 100, "Internet")]) == "internet:Allow"
    assert decided([Rule("internet", 100, "Internet")], source="10.1.0.0/24") == "DenyAllInBound:Deny"
    assert decided(BYOC, source="not-a-range") is None
