"""The generated SBC configuration: golden files, the output reads back with byoc's own ini
reader, and it agrees with the settings (ports, RTP range of the NSG, peers, policy tags).

Regenerate the golden files after an intended change: BYOC_UPDATE_GOLDEN=1 pytest <this file>.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from byoc.adapters.audiocodes_exports import dial_plans_from_cli, parse_ini
from byoc.domain.address_patterns import address_patterns, octet_patterns
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.services.nsg_reconciler import NsgReconciler
from byoc.services.nsg_rule import NsgState
from byoc.services.sbc_config import build_configuration
from byoc.services.sbc_config_model import (
    IniTableSection,
    SbcConfigError,
    SbcConfiguration,
    inputs_from_settings,
)
from byoc.services.sbc_config_render import render_cli, render_ini
from byoc.settings import Settings, load_settings
from sandbox.audiocodes_tables import address_matches, address_problem

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "golden"
NSG_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-byoc"
    "/providers/Microsoft.Network/networkSecurityGroups/nsg-sbc1"
)


def make_settings(**sbc: Any) -> Settings:
    return load_settings(
        twilio_account_sid="AC" + "0" * 32, twilio_trunk_sid="TK" + "0" * 32,
        twilio_auth_token="t", genesys_client_id="c", genesys_client_secret="s",
        sbc_password="p", storage_connection_string="UseDevelopmentStorage=true",
        policy_path=str(ROOT / "policy.example.yaml"),
        genesys_signaling_cidrs={"us-east-1": ["203.0.113.0/28"]},
        sbcs=[{"name": "sbc1", "management_url": "https://10.0.1.4", "fqdn": "sbc1.example.com",
               "nsg_resource_id": NSG_ID, "nsg_destination": "10.0.1.4", **sbc}],
    )


def policy() -> Policy:
    return load_policy((ROOT / "policy.example.yaml").read_text(), "policy.example.yaml")


def configuration(settings: Settings | None = None, **options: Any) -> SbcConfiguration:
    settings = settings or make_settings()
    inputs = inputs_from_settings(
        settings, settings.sbcs[0], policy(), twilio_domain="acme-byoc.pstn.twilio.com",
        genesys_identifier="acme-byoc", **options,
    )
    return build_configuration(inputs)


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("BYOC_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    assert path.read_bytes().decode() == text, f"{name} differs; BYOC_UPDATE_GOLDEN=1 to accept"


def test_ini_matches_the_golden_file() -> None:
    check_golden("sbc1.ini", render_ini(configuration()))


def test_cli_matches_the_golden_file() -> None:
    check_golden("sbc1.cli", render_cli(configuration()))


def test_split_interfaces_with_nat_extra_coders_and_probe_source_match_the_golden_file() -> None:
    settings = make_settings().model_copy(update={"probe_source_cidrs": ["10.40.0.64/28"]})
    config = configuration(settings, genesys_interface="Genesys_IF", public_ip="20.1.2.3",
                           opus=True, g729=True)
    check_golden("sbc1-split-nat.ini", render_ini(config))


@pytest.mark.parametrize("options", [{}, {"genesys_interface": "G", "public_ip": "20.1.2.3",
                                          "opus": True}])
def test_ini_reads_back_with_byocs_own_reader(options: dict[str, Any]) -> None:
    config = configuration(**options)

    document = parse_ini(render_ini(config))

    tables = [s for s in config.sections if isinstance(s, IniTableSection)]
    assert [t.name for t in tables] == list(document.tables)
    for section in tables:
        read = document.tables[section.name]
        assert read.columns == list(section.columns)
        assert read.rows == {
            index: {c: str(v) for c, v in zip(section.columns, row, strict=True)}
            for index, row in section.rows
        }
    assert document.parameters == {"NTPServerIP": "time.windows.com", "ENABLEMEDIASECURITY": "1",
                                   "SRTPTxPacketMKISize": "0"}


def test_sip_ports_and_rtp_range_follow_the_settings_and_the_nsg() -> None:
    settings = make_settings(sip_ports={"udp": 5080, "tcp": 5080, "tls": 5081},
                             rtp_ports={"low": 20000, "high": 29999})
    config = configuration(settings)

    interface = config.table("SIPInterface").rows[0][1]
    realm = dict(zip(config.table("CpMediaRealm").columns, config.table("CpMediaRealm").rows[0][1],
                     strict=True))
    nsg = NsgReconciler(settings, settings.sbcs[0], port=None).desired()  # type: ignore[arg-type]

    assert interface[3:6] == (5080, 5080, 5081)
    assert (realm["PortRangeStart"], realm["PortRangeEnd"]) == nsg.rtp_ports == (20000, 29999)


def test_peers_keep_alive_and_the_request_uri_hosts_they_need() -> None:
    config = configuration()

    proxies = [row[2] for _, row in config.table("ProxyIp").rows]
    keep_alive = {row[0]: row[1] for _, row in config.table("ProxySet").rows}
    hosts = {row[1]: row[6] for _, row in config.table("MessageManipulations").rows}

    assert proxies == ["pstn.ashburn.twilio.com:5061", "pstn.umatilla.twilio.com:5061",
                       "acme-byoc.byoc.mypurecloud.com:5061"]
    assert set(keep_alive.values()) == {1}
    assert hosts == {1: "'acme-byoc.pstn.ashburn.twilio.com'",
                     2: "'acme-byoc.pstn.umatilla.twilio.com'",
                     3: "'acme-byoc.byoc.mypurecloud.com'"}


def test_routing_has_a_row_per_policy_tag_and_an_alternative_route() -> None:
    routes = configuration().table("IP2IPRouting")
    rows = [dict(zip(routes.columns, row, strict=True)) for _, row in routes.rows]

    assert [r["DestTags"] for r in rows if r["DestIPGroupName"] == "IPG_Genesys"] == [
        "default", "direct", "main"]
    outbound = [(r["DestIPGroupName"], r["AltRouteOptions"]) for r in rows
                if r["SrcIPGroupName"] == "IPG_Genesys"]
    assert outbound == [("IPG_Twilio", 0), ("IPG_Twilio_Alt", 1)]
    assert rows[0]["RequestType"] == 6 and rows[-1]["InternalAction"] == "Reply(Response='404')"


def test_carrier_ip_groups_use_the_dial_plan_from_settings() -> None:
    groups = configuration(make_settings(dial_plan="DP_BYOC")).table("IPGroup")
    by_name = {row[1]: dict(zip(groups.columns, row, strict=True)) for _, row in groups.rows}

    assert by_name["IPG_Twilio"]["SBCDialPlanName"] == "DP_BYOC"
    assert by_name["IPG_Twilio_Alt"]["SBCDialPlanName"] == "DP_BYOC"
    assert by_name["IPG_Genesys"]["SBCDialPlanName"] == ""
    assert {g["ContactName"] for g in by_name.values()} == {"sbc1.example.com"}


def test_coders_put_g711_first_and_add_g729_only_when_licensed() -> None:
    def coders(**options: Any) -> list[Any]:
        return [row[2] for _, row in configuration(**options).table("AudioCoders").rows]

    assert coders() == ["g711Ulaw64k", "g711Alaw64k"]
    assert coders(opus=True, g729=True) == ["g711Ulaw64k", "g711Alaw64k", "opus", "g729"]


def test_insecure_trunk_uses_udp_and_rtp_towards_twilio() -> None:
    config = configuration(make_settings().model_copy(update={"twilio_trunk_secure": False}))

    proxies = [(row[2], row[3]) for _, row in config.table("ProxyIp").rows]
    assert proxies[0] == ("pstn.ashburn.twilio.com:5060", 0)
    assert proxies[-1] == ("acme-byoc.byoc.mypurecloud.com:5061", 2)


def test_signaling_sources_are_classified_to_their_ip_group() -> None:
    rows = configuration().table("Classification").rows
    by_group = {(row[3], row[6]) for _, row in rows}

    genesys = {address for address, group in by_group if group == "IPG_Genesys"}
    assert genesys == {"203.0.113.x", "203.0.113.10", "203.0.113.11", "203.0.113.12",
                       "203.0.113.13", "203.0.113.14", "203.0.113.15"}
    assert any(group == "IPG_Twilio_Alt" for _, group in by_group)


def test_cli_form_carries_the_dial_plan_byoc_reads() -> None:
    plans, found = dial_plans_from_cli(render_cli(configuration()))

    assert found and [p.name for p in plans] == ["BYOC"]


@pytest.mark.parametrize(("cidr", "patterns"), [
    ("54.172.60.0/30", ("54.172.60.0", "54.172.60.1", "54.172.60.2", "54.172.60.3")),
    ("192.0.2.16/28", ("192.0.2.16", "192.0.2.17", "192.0.2.18", "192.0.2.19", "192.0.2.2x",
                       "192.0.2.30", "192.0.2.31")),
    ("10.0.0.0/8", ("10.*.*.*",)), ("1.2.3.4/32", ("1.2.3.4",)), ("2001:db8::/32", ()),
    ("168.86.128.0/18", ("168.86.128.*", "168.86.129.*", "168.86.13x.*", "168.86.14x.*",
                         "168.86.15x.*", "168.86.16x.*", "168.86.17x.*", "168.86.18x.*",
                         "168.86.190.*", "168.86.191.*")),
])
def test_cidrs_become_the_fewest_manual_address_patterns(cidr: str,
                                                         patterns: tuple[str, ...]) -> None:
    assert address_patterns(cidr) == patterns
    assert all(address_problem(p) is None for p in patterns)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255))
def test_octet_patterns_cover_exactly_the_range(a: int, b: int) -> None:
    low, high = min(a, b), max(a, b)
    found = octet_patterns(low, high)
    matched = {v for v in range(256) for p in found if address_matches(f"1.1.1.{p}", f"1.1.1.{v}")}
    assert matched == set(range(low, high + 1))


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 32), st.lists(st.integers(0, 2**32 - 1),
                                                                  max_size=20))
def test_classification_patterns_match_exactly_the_cidr(base: int, length: int,
                                                        probes: list[int]) -> None:
    """The matched set equals the CIDR: every octet value around the prefix boundary, and random
    addresses, judged by the manual's matching rule (sandbox/audiocodes_tables.py)."""
    network = ipaddress.IPv4Network((base, length), strict=False)
    patterns = address_patterns(str(network))
    first = int(network.network_address)
    shift = 8 * (3 - min(length, 31) // 8)
    near = [first + (v << shift) - (first & (0xFF << shift)) for v in range(256)]
    for value in [*near, *probes, first, int(network.broadcast_address)]:
        address = ipaddress.IPv4Address(value % 2**32)
        assert any(address_matches(p, str(address)) for p in patterns) == (address in network)


@pytest.mark.parametrize(("options", "message"), [
    ({"twilio_domain": "acme.example.com"}, "pstn.twilio.com"),
    ({"genesys_identifier": "bad id!"}, "Inbound SIP Termination Identifier"),
    ({"public_ip": "not-an-ip"}, "IPv4"),
])
def test_wrong_inputs_are_refused_with_what_to_set(options: dict[str, Any], message: str) -> None:
    settings = make_settings()
    values: dict[str, Any] = {"twilio_domain": "acme.pstn.twilio.com", "genesys_identifier": "a",
                              **options}
    with pytest.raises(SbcConfigError, match=message):
        inputs_from_settings(settings, settings.sbcs[0], policy(), **values)


# --- the command ------------------------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from byoc.bootstrap import reset_services

    for key in list(os.environ):
        if key.startswith("BYOC_"):
            monkeypatch.delenv(key)
    settings = {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "BYOC_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "BYOC_TWILIO_TRUNK_SID": "TK" + "0" * 32,
        "BYOC_TWILIO_AUTH_TOKEN": "t", "BYOC_GENESYS_CLIENT_ID": "c",
        "BYOC_GENESYS_CLIENT_SECRET": "s", "BYOC_SBC_PASSWORD": "p",
        "BYOC_POLICY_PATH": str(ROOT / "policy.example.yaml"),
        "BYOC_SBCS": json.dumps([
            {"name": "sbc1", "management_url": "https://10.0.1.4", "fqdn": "sbc1.example.com"},
            {"name": "sbc2", "management_url": "https://10.0.2.4", "fqdn": "sbc2.example.com"},
        ]),
        "BYOC_TWILIO_TERMINATION_DOMAIN": "acme-byoc.pstn.twilio.com",
        "BYOC_GENESYS_INBOUND_IDENTIFIER": "acme-byoc",
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    reset_services()
    yield
    reset_services()


@pytest.mark.usefixtures("cli_env")
def test_render_config_writes_one_file_per_sbc(tmp_path: Path) -> None:
    from byoc.entrypoints.cli import app

    result = CliRunner().invoke(
        app, ["sbc", "render-config", "--format", "ini", "--output", str(tmp_path / "byoc.ini")])

    assert result.exit_code == 0, result.output
    for name in ("sbc1", "sbc2"):
        text = (tmp_path / f"byoc-{name}.ini").read_text()
        assert f"{name}.example.com" in text and "[ IP2IPRouting ]" in text


@pytest.mark.usefixtures("cli_env")
def test_render_config_for_one_sbc_as_cli_on_stdout() -> None:
    from byoc.entrypoints.cli import app

    result = CliRunner().invoke(app, ["sbc", "render-config", "--sbc", "sbc2", "--format", "cli"])

    assert result.exit_code == 0, result.output
    assert "configure voip" in result.stdout and "sbc2.example.com" in result.stdout
    assert "sbc1.example.com" not in result.stdout


@pytest.mark.usefixtures("cli_env")
def test_render_config_names_a_bad_option() -> None:
    from byoc.entrypoints.cli import app

    result = CliRunner().invoke(app, ["sbc", "render-config", "--twilio-domain", "x.example.com"])

    assert result.exit_code == 1
    assert "pstn.twilio.com" in result.output


@pytest.mark.parametrize(("secure", "ports", "message"), [
    (False, {"udp": 0, "tcp": 5060, "tls": 5061}, "Twilio \\(UDP.*sip_ports.udp of SBC sbc1 is 0"),
    (True, {"udp": 5060, "tcp": 5060, "tls": 0}, "Genesys \\(TLS\\) leg needs TLS"),
])
def test_a_leg_the_sip_ports_cannot_serve_is_refused(secure: bool, ports: dict[str, int],
                                                     message: str) -> None:
    settings = make_settings(sip_ports=ports).model_copy(update={"twilio_trunk_secure": secure})

    with pytest.raises(SbcConfigError, match=message):
        configuration(settings)


def test_cli_form_quotes_sip_literals_and_switches_media_security_on() -> None:
    text = render_cli(configuration())

    assert "  action-value \"'acme-byoc.pstn.ashburn.twilio.com'\"" in text
    assert f"  action-value \"'acme-byoc.byoc.{make_settings().genesys_region}'\"" in text
    assert "configure voip\n media security\n  media-security-enable on\n exit\nexit" in text
    assert "  sbc-media-security-behaviour srtp" in text


def test_second_twilio_edge_takes_calls_the_first_answers_with_an_error() -> None:
    config = configuration()

    causes = {row[0] for _, row in config.table("SBCAlternativeRoutingReasons").rows}
    assert {408, 480, 503} <= causes
    routes = config.table("IP2IPRouting")
    by_name = {row[0]: dict(zip(routes.columns, row, strict=True)) for _, row in routes.rows}
    assert by_name["out Twilio alt"]["AltRouteOptions"] == 1
    proxy_sets = config.table("ProxySet")
    assert all(dict(zip(proxy_sets.columns, row, strict=True))["IsProxyHotSwap"] == 1
               for _, row in proxy_sets.rows)


def test_the_health_probe_source_is_classified_to_a_group_that_only_answers_options() -> None:
    settings = make_settings().model_copy(
        update={"probe_source_cidrs": ["10.40.0.64/26", "198.51.100.7/32"]})
    config = configuration(settings)

    def rows(table: str) -> list[dict[str, Any]]:
        section = config.table(table)
        return [dict(zip(section.columns, row, strict=True)) for _, row in section.rows]

    probe = [(r["SrcAddress"], r["SrcSIPInterfaceName"]) for r in rows("Classification")
             if r["SrcIPGroupName"] == "IPG_Probe"]
    assert probe == [(pattern, "SI_Public") for cidr in ("10.40.0.64/26", "198.51.100.7/32")
                     for pattern in address_patterns(cidr)]
    assert probe[:3] == [("10.40.0.64", "SI_Public"), ("10.40.0.65", "SI_Public"),
                         ("10.40.0.66", "SI_Public")] and probe[-1] == ("198.51.100.7", "SI_Public")
    group = next(r for r in rows("IPGroup") if r["Name"] == "IPG_Probe")
    assert (group["ProxySetName"], group["SBCDialPlanName"], group["ClassifyByProxySet"]) == (
        "PS_Probe", "", 0)
    proxy_sets = rows("ProxySet")
    probe_set = next(i for i, r in enumerate(proxy_sets) if r["ProxyName"] == "PS_Probe")
    assert proxy_sets[probe_set]["EnableProxyKeepAlive"] == 0
    assert str(probe_set) not in {r["ProxySetId"] for r in rows("ProxyIp")}  # nothing is sent to it
    routes = [(r["RouteName"], r["SrcIPGroupName"], r["RequestType"], r["InternalAction"])
              for r in rows("IP2IPRouting")]
    assert routes[:2] == [("OPTIONS", "Any", 6, "Reply(Response='200')"),
                          ("probe only", "IPG_Probe", 0, "Reply(Response='403')")]

    nsg = NsgReconciler(settings, settings.sbcs[0], port=None).desired()  # type: ignore[arg-type]
    probe_ranges = {(r.cidr, r.purpose, r.protocol) for r in nsg.ranges if r.carrier == "byoc-probe"}
    assert probe_ranges == {("198.51.100.7/32", "signaling", t) for t in ("udp", "tcp", "tls")}
    rules = nsg.rules(NsgState(owned={}, foreign=()))
    admitting = [r for r in rules if "198.51.100.7/32" in r.source_address_prefixes]
    assert admitting and all(r.name.startswith("byoc-signaling-") for r in admitting)
    assert {p for r in admitting for p in r.destination_port_ranges} <= {"5060", "5061"}


def test_without_probe_sources_nothing_is_classified_for_the_probe() -> None:
    config = configuration()
    assert "IPG_Probe" not in {row[1] for _, row in config.table("IPGroup").rows}
    assert "probe only" not in {row[0] for _, row in config.table("IP2IPRouting").rows}
