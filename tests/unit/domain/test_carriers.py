"""Carrier ranges as data, and the NSG rules computed from them."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

import pytest

from byoc.domain.carrier_nsg_rules import desired_nsg_rules
from byoc.domain.carrier_ranges import effective_ranges
from byoc.domain.carriers import (
    NSG_MAX_PREFIXES,
    NSG_MAX_RULES,
    CarrierData,
    CarrierDataError,
    CarrierRange,
    InvalidNsgParameterError,
    NsgLimitExceeded,
    NsgRuleSpec,
    PriorityBandExhaustedError,
    UnknownCarrierScopeError,
    UnsafeRangeError,
    load_carrier_data,
    packaged_carrier_data,
    parse_source_cidr,
)

TWILIO_SIGNALING = {
    "ashburn": "54.172.60.0/30",
    "umatilla": "54.244.51.0/30",
    "dublin": "54.171.127.192/30",
    "frankfurt": "35.156.191.128/30",
    "tokyo": "54.65.63.192/30",
    "singapore": "54.169.127.128/30",
    "sydney": "54.252.254.64/30",
    "sao-paulo": "177.71.206.192/30",
}
TWILIO_MEDIA = "168.86.128.0/18"
GENESYS_MEDIA = {"52.129.96.0/20", "169.150.104.0/21", "167.234.48.0/20", "136.245.64.0/18"}

DANGEROUS_SOURCES = [
    "*",
    "0.0.0.0/0",
    "Internet",
    "INTERNET",
    "Any",
    "AzureCloud",
    "AzureCloud.WestEurope",
    "VirtualNetwork",
    "::/0",
    "10.0.0.0/7",
    "128.0.0.0/1",
    "2001::/16",
    "not-a-cidr",
    "300.1.1.1/32",
    "54.172.60.1/30",  # host bits set
    "54.172.60.0/33",
    "224.0.0.0/8",
    "127.0.0.1",
    "",
]

# Every kind of source no carrier publishes, and the words the refusal must use.
REFUSED_KINDS = [
    ("10.0.0.0/8", "private network (RFC 1918)"),
    ("172.16.0.0/12", "private network (RFC 1918)"),
    ("192.168.0.0/16", "private network (RFC 1918)"),
    ("192.168.10.0/24", "inside 192.168.0.0/16"),
    ("100.64.0.0/10", "shared address space"),
    ("100.100.0.0/16", "shared address space"),
    ("240.0.0.0/4", "reserved"),
    ("198.18.0.0/15", "benchmarking"),
    ("127.0.0.0/8", "loopback"),
    ("::1/128", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("fe80::/64", "link-local"),
    ("224.0.0.0/4", "multicast"),
    ("ff02::/16", "multicast"),
    ("fd00::/48", "unique local"),
    ("::ffff:0:0/96", "IPv4-mapped IPv6"),
    ("::ffff:54.172.60.0/126", "IPv4-mapped IPv6"),
    ("64:ff9b::/96", "NAT64"),
    ("11.0.0.0/8", "wider than /16"),
    ("54.0.0.0/15", "wider than /16"),
    ("2600::/32", "wider than /48"),
    ("0.0.0.0/0", "wider than /16"),
    ("::/0", "wider than /48"),
]


@pytest.mark.parametrize(("source", "reason"), REFUSED_KINDS)
def test_source_no_carrier_publishes_is_refused_with_its_reason(source: str, reason: str) -> None:
    with pytest.raises(UnsafeRangeError, match=re.escape(reason)):
        parse_source_cidr(source)
    with pytest.raises(UnsafeRangeError, match=re.escape(reason)):
        ranges(extra=[source])
    with pytest.raises(UnsafeRangeError, match=re.escape(reason)):
        ranges(genesys_signaling={"us-east-1": [source]})


@pytest.mark.parametrize(("source", "reason"), REFUSED_KINDS[:6])
def test_source_no_carrier_publishes_is_refused_in_the_data_file(source: str, reason: str) -> None:
    text = resources.files("byoc").joinpath("data/carrier_ranges.yaml").read_text("utf-8")
    forged = text.replace("[54.172.60.0/30]", f"[{source}]", 1)

    with pytest.raises(CarrierDataError, match=re.escape(reason)):
        load_carrier_data(forged)


def data() -> CarrierData:
    return packaged_carrier_data()


def ranges(**overrides: Any) -> list[CarrierRange]:
    arguments: dict[str, Any] = {
        "twilio_edges": ["ashburn", "umatilla"],
        "genesys_regions": ["us-east-1"],
        "genesys_signaling": {"us-east-1": ["198.51.100.10", "198.51.100.11"]},
        "extra": [],
        "exclude": [],
    }
    arguments.update(overrides)
    return effective_ranges(data(), **arguments)


def rules(items: Sequence[CarrierRange], **overrides: Any) -> list[NsgRuleSpec]:
    arguments: dict[str, Any] = {
        "sbc_sip_ports": {"udp": 5060, "tcp": 5060, "tls": 5061},
        "rtp_ports": (6000, 49999),
        "name_prefix": "byoc",
        "priority_band": (1000, 1199),
        "foreign_priorities": set(),
        "max_port_span": 45000,
        "destination_address_prefix": "10.0.1.4",
    }
    arguments.update(overrides)
    return desired_nsg_rules(items, **arguments)


def cidrs_of(items: Sequence[CarrierRange], **where: str) -> set[str]:
    return {r.cidr for r in items if all(getattr(r, k) == v for k, v in where.items())}


def covered(rule: NsgRuleSpec) -> list[ipaddress.IPv4Network]:
    return [ipaddress.IPv4Network(p) for p in rule.source_address_prefixes]


# --- the data file -----------------------------------------------------------------------------


def test_packaged_data_has_twilio_signaling_per_edge_as_published() -> None:
    every_edge = effective_ranges(
        data(), twilio_edges=list(TWILIO_SIGNALING), genesys_regions=[], genesys_signaling={}
    )

    for edge, cidr in TWILIO_SIGNALING.items():
        found = [r for r in every_edge if r.scope == edge]
        assert {r.cidr for r in found} == {cidr}
        assert {(r.protocol, r.carrier_ports) for r in found} == {
            ("udp", "5060"),
            ("tcp", "5060"),
            ("tls", "5061"),
        }
    assert cidrs_of(every_edge, purpose="media") == {TWILIO_MEDIA}


def test_packaged_data_has_media_ranges_with_carrier_ports() -> None:
    selected = ranges()

    twilio_media = [r for r in selected if r.carrier == "twilio" and r.purpose == "media"]
    genesys_media = [r for r in selected if r.carrier == "genesys" and r.purpose == "media"]
    assert {(r.cidr, r.protocol, r.carrier_ports) for r in twilio_media} == {
        (TWILIO_MEDIA, "udp", "10000-60000")
    }
    assert {r.cidr for r in genesys_media} == GENESYS_MEDIA
    assert {(r.protocol, r.carrier_ports) for r in genesys_media} == {("udp", "16384-65535")}


def test_every_data_range_names_its_source_and_check_date() -> None:
    assert data().version >= 1
    for entry in data().entries:
        assert entry.source.startswith("https://")
        assert entry.checked is not None
    assert "help.mypurecloud.com" in data().genesys_signaling.source


def test_genesys_signaling_comes_from_settings_with_the_article_as_source() -> None:
    selected = ranges()

    signaling = [r for r in selected if r.carrier == "genesys" and r.purpose == "signaling"]
    assert {r.cidr for r in signaling} == {"198.51.100.10/32", "198.51.100.11/32"}
    assert {r.source for r in signaling} == {data().genesys_signaling.source}
    assert all(r.checked is None and r.scope == "us-east-1" for r in signaling)


def test_unselected_edges_are_left_out() -> None:
    selected = ranges(twilio_edges=["dublin"])

    assert cidrs_of(selected, carrier="twilio", purpose="signaling") == {"54.171.127.192/30"}


def test_sdk_style_region_names_are_accepted() -> None:
    selected = ranges(genesys_regions=["eu_central_1"], genesys_signaling={})

    assert cidrs_of(selected, carrier="genesys") == GENESYS_MEDIA


def test_unknown_edge_and_region_are_refused_with_the_known_names() -> None:
    with pytest.raises(UnknownCarrierScopeError) as caught:
        ranges(twilio_edges=["virginia"], genesys_regions=["us-east-2"], genesys_signaling={})

    message = str(caught.value)
    assert "Twilio edge 'virginia'" in message and "ashburn" in message
    assert "Genesys region 'us-east-2'" in message


def test_signaling_for_an_unselected_region_is_refused() -> None:
    with pytest.raises(UnknownCarrierScopeError, match="region 'eu-west-1'"):
        ranges(genesys_signaling={"eu-west-1": ["198.51.100.1"]})


def test_invalid_data_file_lists_its_problems() -> None:
    text = """
version: 1
entries:
  - carrier: twilio
    purpose: media
    applies_to: [ashburn]
    cidrs: [0.0.0.0/0]
    carrier_ports: {tcp: "5060"}
    source: http://example.com
    checked: 2024-01-01
genesys_signaling: {carrier_ports: {udp: "5060"}, source: https://x.example}
"""
    with pytest.raises(CarrierDataError) as caught:
        load_carrier_data(text, "ranges.yaml")

    message = str(caught.value)
    assert "entries.0.cidrs.0" in message and "0.0.0.0/0" in message
    assert "entries.0.source" in message


# --- dangerous sources -------------------------------------------------------------------------


@pytest.mark.parametrize("source", DANGEROUS_SOURCES)
def test_dangerous_source_in_settings_is_refused(source: str) -> None:
    with pytest.raises(UnsafeRangeError):
        ranges(extra=[source])
    with pytest.raises(UnsafeRangeError):
        ranges(genesys_signaling={"us-east-1": [source]})


@pytest.mark.parametrize("source", DANGEROUS_SOURCES)
def test_dangerous_source_handed_straight_to_rule_computation_is_refused(source: str) -> None:
    forged = CarrierRange(source, "twilio", "signaling", "udp", "forged")

    with pytest.raises(UnsafeRangeError):
        rules([*ranges(), forged])


def test_unsafe_message_names_the_cidr_and_its_origin() -> None:
    with pytest.raises(UnsafeRangeError) as caught:
        ranges(extra=["54.172.60.1/30", "0.0.0.0/0"])

    message = str(caught.value)
    assert "'54.172.60.1/30' has host bits set; the network is 54.172.60.0/30" in message
    assert "0.0.0.0/0 is wider than /16" in message
    assert "BYOC_NSG_EXTRA_CIDRS" in message


def test_bare_address_and_smallest_allowed_prefix_are_accepted() -> None:
    assert str(parse_source_cidr("198.51.100.7")) == "198.51.100.7/32"
    assert str(parse_source_cidr("54.0.0.0/16")) == "54.0.0.0/16"
    assert str(parse_source_cidr("2600:1f18::/48")) == "2600:1f18::/48"
    assert str(parse_source_cidr("2001:db8::/48")) == "2001:db8::/48"  # documentation: never sent


def test_destination_port_range_wider_than_limit_is_refused() -> None:
    with pytest.raises(UnsafeRangeError, match="spans 60001 ports, more than the allowed 45000"):
        rules(ranges(), rtp_ports=(5535, 65535))


# --- extra and exclude -------------------------------------------------------------------------


def test_excluded_cidr_is_removed() -> None:
    selected = ranges(exclude=["54.244.51.0/30"])

    assert "54.244.51.0/30" not in {r.cidr for r in selected}
    assert "54.172.60.0/30" in {r.cidr for r in selected}
    assert all("54.244.51.0/30" not in r.source_address_prefixes for r in rules(selected))


def test_excluded_part_of_a_range_is_carved_out() -> None:
    selected = ranges(exclude=["168.86.160.0/19"])

    assert cidrs_of(selected, carrier="twilio", purpose="media") == {"168.86.128.0/19"}


def test_exclusion_covering_a_range_removes_it_and_smaller_ones() -> None:
    selected = ranges(exclude=["198.51.100.0/24"])

    assert not cidrs_of(selected, carrier="genesys", purpose="signaling")


def test_malformed_exclusion_is_refused() -> None:
    with pytest.raises(UnsafeRangeError, match="excluded CIDR 'nope'"):
        ranges(exclude=["nope"])


def test_extra_cidr_is_allowed_for_signaling_and_media() -> None:
    selected = ranges(extra=["203.0.113.0/28"])

    extra = [r for r in selected if r.carrier == "extra"]
    assert {(r.purpose, r.protocol) for r in extra} == {
        ("signaling", "udp"),
        ("signaling", "tcp"),
        ("signaling", "tls"),
        ("media", "udp"),
    }


# --- rule computation --------------------------------------------------------------------------


def test_default_estate_needs_three_rules() -> None:
    computed = rules(ranges())

    assert [(r.name, r.protocol, r.destination_port_ranges) for r in computed] == [
        ("byoc-signaling-tcp-1", "Tcp", ("5060", "5061")),
        ("byoc-signaling-udp-1", "Udp", ("5060",)),
        ("byoc-media-udp-1", "Udp", ("6000-49999",)),
    ]
    for rule in computed:
        assert (rule.direction, rule.access, rule.source_port_range) == ("Inbound", "Allow", "*")
        assert rule.destination_address_prefix == "10.0.1.4"
        assert len(rule.description) <= 140


def test_rules_allow_exactly_the_selected_sources() -> None:
    selected = ranges()

    tcp, udp, media = rules(selected)

    assert tcp.source_address_prefixes == (
        "54.172.60.0/30",
        "54.244.51.0/30",
        "198.51.100.10/31",  # two adjacent /32s collapsed
    )
    assert udp.source_address_prefixes == tcp.source_address_prefixes
    assert set(media.source_address_prefixes) == GENESYS_MEDIA | {TWILIO_MEDIA}
    assert "twilio" in tcp.description and "genesys" in tcp.description


def test_duplicate_and_adjacent_sources_are_merged() -> None:
    selected = [
        CarrierRange("203.0.113.0/25", "extra", "signaling", "udp", "s"),
        CarrierRange("203.0.113.128/25", "extra", "signaling", "udp", "s"),
        CarrierRange("203.0.113.0/25", "other", "signaling", "udp", "s"),
        CarrierRange("203.0.113.5/32", "other", "signaling", "udp", "s"),
    ]

    (rule,) = rules(selected)

    assert rule.source_address_prefixes == ("203.0.113.0/24",)


def test_sources_needing_different_ports_get_separate_rules() -> None:
    selected = [
        CarrierRange("203.0.113.0/24", "a", "signaling", "tcp", "s"),
        CarrierRange("203.0.113.0/24", "a", "signaling", "tls", "s"),
        CarrierRange("198.51.100.0/24", "b", "signaling", "tls", "s"),
    ]

    computed = rules(selected)

    assert [(r.name, r.source_address_prefixes, r.destination_port_ranges) for r in computed] == [
        ("byoc-signaling-tcp-1", ("203.0.113.0/24",), ("5060", "5061")),
        ("byoc-signaling-tcp-2", ("198.51.100.0/24",), ("5061",)),
    ]


def test_transport_the_sbc_does_not_offer_opens_nothing() -> None:
    computed = rules(ranges(), sbc_sip_ports={"udp": 0, "tcp": 0, "tls": 5061})

    assert [(r.name, r.destination_port_ranges) for r in computed] == [
        ("byoc-signaling-tcp-1", ("5061",)),
        ("byoc-media-udp-1", ("6000-49999",)),
    ]


def test_rule_grouping_is_minimal_for_every_edge_and_region() -> None:
    selected = ranges(
        twilio_edges=list(TWILIO_SIGNALING),
        genesys_regions=["us-east-1", "eu-west-1"],
        genesys_signaling={"us-east-1": ["198.51.100.10"], "eu-west-1": ["192.0.2.0/29"]},
    )

    computed = rules(selected)

    assert len(computed) == 3
    every_source = {ipaddress.IPv4Network(r.cidr) for r in selected}
    for source in every_source:
        holders = [r for r in computed if any(source.subnet_of(n) for n in covered(r))]
        assert holders, f"{source} is not allowed by any rule"


def test_rules_are_deterministic() -> None:
    assert rules(ranges()) == rules(list(reversed(ranges())))


def test_rule_names_follow_azure_rules() -> None:
    for rule in rules(ranges(), name_prefix="sbc1_nsg.byoc"):
        assert len(rule.name) <= 80
        assert rule.name.startswith("sbc1_nsg.byoc-")

    with pytest.raises(InvalidNsgParameterError, match="longer than Azure's 80"):
        rules(ranges(), name_prefix="b" * 70)
    with pytest.raises(InvalidNsgParameterError, match="rule name prefix"):
        rules(ranges(), name_prefix="-byoc")


def test_long_descriptions_are_shortened_to_azure_limit() -> None:
    selected = ranges(
        twilio_edges=list(TWILIO_SIGNALING),
        genesys_regions=["us-east-1", "eu-west-1", "ap-southeast-2"],
        genesys_signaling={
            "us-east-1": ["198.51.100.10"],
            "eu-west-1": ["192.0.2.0/29"],
            "ap-southeast-2": ["192.0.2.64/29"],
        },
    )

    for rule in rules(selected):
        assert len(rule.description) <= 140
        assert "twilio" in rule.description


def test_destination_must_be_an_address_or_star() -> None:
    assert {
        r.destination_address_prefix for r in rules(ranges(), destination_address_prefix="*")
    } == {"*"}
    with pytest.raises(InvalidNsgParameterError, match="destination"):
        rules(ranges(), destination_address_prefix="VirtualNetwork")


# --- priorities -------------------------------------------------------------------------------


def test_priorities_come_from_the_band_skipping_foreign_rules() -> None:
    computed = rules(ranges(), priority_band=(1000, 1010), foreign_priorities={1000, 1002, 900})

    assert [r.priority for r in computed] == [1001, 1003, 1004]


def test_band_exhaustion_is_an_error() -> None:
    with pytest.raises(PriorityBandExhaustedError) as caught:
        rules(ranges(), priority_band=(1000, 1003), foreign_priorities={1001, 1002})

    message = str(caught.value)
    assert "3 rules need 3 priorities but band 1000-1003 has only 2 free" in message
    assert "1001, 1002" in message


@pytest.mark.parametrize("band", [(99, 200), (300, 200), (4000, 4097)])
def test_band_outside_azure_priorities_is_refused(band: tuple[int, int]) -> None:
    with pytest.raises(InvalidNsgParameterError, match="priority band"):
        rules(ranges(), priority_band=band)


# --- Azure limits ------------------------------------------------------------------------------


def _scattered(count: int) -> list[CarrierRange]:
    # Non-adjacent /32s, so nothing collapses.
    return [
        CarrierRange(
            str(ipaddress.IPv4Address(0x0B000000 + 2 * i)), "extra", "signaling", "udp", "s"
        )
        for i in range(count)
    ]


def test_source_prefix_limit_is_checked() -> None:
    at_limit = _scattered(NSG_MAX_PREFIXES)
    assert len(rules(at_limit)[0].source_address_prefixes) == NSG_MAX_PREFIXES

    with pytest.raises(NsgLimitExceeded, match="exceed the Azure limit of 4000"):
        rules(at_limit, foreign_source_prefix_count=1)


def test_rule_count_limit_counts_foreign_rules() -> None:
    with pytest.raises(NsgLimitExceeded, match="3 byoc rules \\+ 998 other rules"):
        rules(ranges(), foreign_rule_count=NSG_MAX_RULES - 2)
