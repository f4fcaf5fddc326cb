"""The emulated SBC's table dictionary (sandbox/audiocodes_tables.py, from the manuals): rows it
applies and keeps typed, and rows it refuses line by line as the device reports them."""

from __future__ import annotations

import pytest

from sandbox.audiocodes_cli import run_cli_script
from sandbox.audiocodes_config import ConfigLimits, DeviceConfig, load_ini
from sandbox.audiocodes_tables import address_matches, address_problem

pytestmark = pytest.mark.integration

LIMITS = ConfigLimits()
GOOD = (
    "[ CpMediaRealm ]\r\nFORMAT Index = MediaRealmName, IPv4IF, PortRangeStart, MediaSessionLeg, "
    "PortRangeEnd;\r\nCpMediaRealm 1 = \"MR_Lab\", \"O+M+C\", 6000, 100, 6499;\r\n"
    "[ \\CpMediaRealm ]\r\n"
    "[ ProxySet ]\r\nFORMAT Index = ProxyName, SRDName, EnableProxyKeepAlive;\r\n"
    "ProxySet 0 = \"PS_Lab\", \"DefaultSRD\", 1;\r\n[ \\ProxySet ]\r\n"
    "[ IPGroup ]\r\nFORMAT Index = Type, Name, ProxySetName, MediaRealm;\r\n"
    "IPGroup 0 = 0, \"IPG_Lab\", \"PS_Lab\", \"MR_Lab\";\r\n[ \\IPGroup ]\r\n"
)


def fresh() -> DeviceConfig:
    return DeviceConfig.factory_default()


def test_rows_are_applied_typed_with_defaults_and_keyed_by_index() -> None:
    config = fresh()
    report = load_ini(config, GOOD, limits=LIMITS)

    assert report.errors == 0, report.output
    group = config.tables.rows["IPGroup"][0]
    assert group["Name"] == "IPG_Lab" and group["Type"] == 0 and group["ClassifyByProxySet"] == 1
    assert config.tables.rows["CpMediaRealm"][1]["PortRangeStart"] == 6000
    assert config.tables.named("ProxySet", "ps_lab") is not None


@pytest.mark.parametrize(("text", "error"), [
    ("[ MediaRealm ]\r\nFORMAT Index = MediaRealmName;\r\nMediaRealm 0 = \"x\";\r\n"
     "[ \\MediaRealm ]\r\n", "table 'MediaRealm' is not supported"),
    ("[ IPGroup ]\r\nFORMAT Index = Name, Colour;\r\nIPGroup 0 = \"a\", 1;\r\n[ \\IPGroup ]\r\n",
     "column 'Colour' does not exist"),
    ("[ ProxyIp ]\r\nFORMAT Index = ProxySetId, ProxyIpIndex, IpAddress, TransportType;\r\n"
     "ProxyIp 0 = \"0\", 0, \"a.example\", 7;\r\n[ \\ProxyIp ]\r\n",
     "TransportType 7 is not one of -1, 0, 1, 2"),
    ("[ IPGroup ]\r\nFORMAT Index = Type, Name;\r\nIPGroup 0 = \"server\", \"a\";\r\n"
     "[ \\IPGroup ]\r\n", "Type must be a number"),
    ("[ IPGroup ]\r\nFORMAT Index = Name, ProxySetName;\r\nIPGroup 0 = \"a\", \"PS_None\";\r\n"
     "[ \\IPGroup ]\r\n", "referenced tables must come first"),
    ("[ Classification ]\r\nFORMAT Index = ClassificationName, SrcAddress;\r\n"
     "Classification 0 = \"c\", \"192.0.2.[16-31]\";\r\n[ \\Classification ]\r\n",
     "wildcards 'x' (one digit) and '*'"),
    ("[ IPGroup ]\r\nFORMAT Index = Name;\r\nIPGroup 0 = \"a\", \"b\";\r\n[ \\IPGroup ]\r\n",
     "2 values for 1 columns"),
])
def test_bad_ini_rows_are_reported_by_line_and_not_applied(text: str, error: str) -> None:
    config = fresh()
    report = load_ini(config, text, limits=LIMITS)

    assert report.errors >= 1 and report.status == "failure"
    assert error in report.output and "Error: line " in report.output
    assert "IPGroup" not in config.tables.rows


def test_cli_rows_take_the_manuals_words_and_refuse_others() -> None:
    config = fresh()
    script = """configure voip
 proxy-set 0
  proxy-name "PS_Lab"
  proxy-enable-keep-alive using-options
  activate
 exit
 proxy-ip 0/0
  proxy-address "pstn.ashburn.twilio.com:5061"
  transport-type tls
 exit
 ip-group 0
  type server
  name "IPG_Lab"
  proxy-set-name "PS_Lab"
  classify-by-proxy-set 1
 exit
 media security
  media-security-enable on
 exit
exit
"""
    report = run_cli_script(config, script, limits=LIMITS, hostname="Mediant SW")

    assert report.errors == 1
    assert "classify-by-proxy-set '1': Invalid value, expected {disable|enable}" in report.output
    assert "Mediant SW(config-voip)# proxy-set 0" in report.output
    assert config.tables.rows["ProxyIp"][0]["TransportType"] == 2
    assert config.tables.rows["IPGroup"][0]["ProxySetName"] == "PS_Lab"
    assert config.parameters["ENABLEMEDIASECURITY"] == "1"


@pytest.mark.parametrize(("pattern", "address", "matched"), [
    ("10.8.8.xx", "10.8.8.10", True), ("10.8.8.xx", "10.8.8.99", True),
    ("10.8.8.xx", "10.8.8.9", False), ("10.8.8.xx", "10.8.8.100", False),
    ("10.8.8.*", "10.8.8.0", True), ("10.8.8.*", "10.8.9.0", False), ("*", "1.2.3.4", True),
])
def test_source_address_patterns_match_as_the_manual_says(pattern: str, address: str,
                                                          matched: bool) -> None:
    """Mediant 4000 SBC UM p.460: 10.8.8.xx = 10.8.8.10 to .99; 10.8.8.* = .0 to .255."""
    assert address_matches(pattern, address) is matched
    assert address_problem(pattern) is None
