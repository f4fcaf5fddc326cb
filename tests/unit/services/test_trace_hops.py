"""How the trace judges an NSG (the domain's NSG evaluation) and an SBC's IP-to-IP routes, as the
devices would."""

from __future__ import annotations

from byoc.domain.nsg_exposure import deciding_rule
from byoc.ports import SbcIpToIpRoute
from byoc.services.nsg_rule import NsgRule
from byoc.services.trace import _first_route


def rule(name: str, priority: int, access: str, sources: tuple[str, ...],
         ports: tuple[str, ...] = ("5061",), protocol: str = "Tcp") -> NsgRule:
    return NsgRule(name=name, priority=priority, direction="Inbound", access=access,
                   protocol=protocol, source_address_prefixes=sources,
                   destination_address_prefixes=("*",), destination_port_ranges=ports)


def decides(rules: list[NsgRule], source: str, port: int, destination: str = "*") -> str:
    verdict = deciding_rule(rules, source, port, "tcp", destination=destination)
    assert verdict is not None
    return verdict.name


def test_the_lowest_priority_matching_rule_decides_like_azure() -> None:
    allow = rule("byoc-signaling", 1000, "Allow", ("54.172.60.0/30",))
    deny = rule("block-all", 900, "Deny", ("*",))

    assert decides([allow], "54.172.60.0/30", 5061) == "byoc-signaling"
    assert decides([allow, deny], "54.172.60.0/30", 5061) == "block-all"
    assert decides([allow], "54.172.60.0/30", 5060) == "DenyAllInBound"  # other port
    assert decides([allow], "54.244.51.0/30", 5061) == "DenyAllInBound"  # other source
    assert decides([rule("wide", 100, "Allow", ("54.172.0.0/16",), ("5000-6000",), "*")],
                   "54.172.60.0/30", 5061) == "wide"
    elsewhere = NsgRule(name="other-vm", priority=800, direction="Inbound", access="Deny",
                        protocol="*", source_address_prefixes=("*",),
                        destination_address_prefixes=("10.0.9.0/24",),
                        destination_port_ranges=("*",))
    assert decides([elsewhere, allow], "54.172.60.0/30", 5061, "10.0.1.4") == "byoc-signaling"
    assert decides([elsewhere, allow], "54.172.60.0/30", 5061, "10.0.9.7") == "other-vm"


def route(index: int, name: str, tags: str, dest: str = "IPG_Genesys", source: str = "Any",
          request: str = "0", dest_type: str = "0") -> SbcIpToIpRoute:
    return SbcIpToIpRoute(index=index, name=name, source_ip_group=source, request_type=request,
                          dest_type=dest_type, dest_ip_group=dest, dest_tags=tags)


def test_the_first_route_that_takes_the_tag_wins() -> None:
    routes = (route(0, "OPTIONS", "", "", request="6", dest_type="13"),
              route(1, "from Genesys", "", "IPG_Twilio", source="IPG_Genesys"),
              route(2, "in main", "main"),
              route(3, "unrouted", "", "", dest_type="13"))

    assert _first_route(routes, "main").name == "in main"  # type: ignore[union-attr]
    assert _first_route(routes, "MAIN").name == "in main"  # type: ignore[union-attr]
    assert _first_route(routes, "sales").name == "unrouted"  # type: ignore[union-attr]
    assert _first_route(routes[:3], "sales") is None
