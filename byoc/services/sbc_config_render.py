"""An SBC configuration written out: as an ini file, or as an incremental CLI script."""

from __future__ import annotations

from dataclasses import dataclass, field

from byoc.services.sbc_config_model import IniParameterSection, SbcConfigError, SbcConfiguration, Value


def _ini_value(value: Value, *, parameter: bool = False) -> str:
    """Cells: numbers bare, `$$` as is, text in double quotes; parameters keep their own quotes."""
    if isinstance(value, int) or value == "$$" or parameter:
        return str(value)
    return f'"{value}"'


def render_ini(config: SbcConfiguration) -> str:
    """The configuration as an ini file (CR/LF line ends, as the device writes and expects)."""
    lines = [f";{line}" for line in config.header] + [""]
    for section in config.sections:
        lines += [f"; {line}" for line in section.comment]
        if isinstance(section, IniParameterSection):
            lines += [f"[{section.name}]", ""]
            lines += [f"{name} = {_ini_value(value, parameter=True)}"
                      for name, value in section.parameters]
            lines.append("")
            continue
        lines += [f"[ {section.name} ]", "", f"FORMAT Index = {', '.join(section.columns)};"]
        lines += [f"{section.name} {index} = {', '.join(_ini_value(v) for v in row)};"
                  for index, row in section.rows]
        lines += ["", f"[ \\{section.name} ]", "", ""]
    return "\r\n".join(lines).rstrip("\r\n") + "\r\n"


@dataclass(frozen=True)
class _CliTable:
    mode: str
    row: str  # {index}, or {parent}/{index} for child rows
    fields: dict[str, str]
    parent_column: str | None = None
    child_column: str | None = None
    words: dict[str, dict[int, str]] = field(default_factory=dict)


_OFF_ON = {0: "disable", 1: "enable"}
_TOPOLOGY = {0: "down", 1: "up"}
_RELEASE_CAUSES = {408: "408-req-timeout", 480: "480-unavail", 500: "500-internal-err",
                   502: "502-bad-gateway", 503: "503-service-unavail", 504: "504-server-timeout"}

# CLI paths, field names and enum words: the manuals' CLI names where they give one (docs/sbc.md,
# "Tables and their sources"); the rest follows the CLI's pattern and is [U]: `<table> <index>`,
# one field per line, `activate`, `exit`.
_CLI: dict[str, _CliTable] = {
    "TLSContexts": _CliTable("network", "tls {index}", {
        "Name": "name", "TLSVersion": "tls-version", "TlsRenegotiation": "tls-renegotiation",
        "DHKeySize": "dh-key-size"},
        words={"TLSVersion": {4: "tls-v1.2"}, "TlsRenegotiation": _OFF_ON}),
    "CpMediaRealm": _CliTable("voip", "media realm {index}", {
        "MediaRealmName": "name", "IPv4IF": "ipv4if", "PortRangeStart": "port-range-start",
        "MediaSessionLeg": "session-leg", "PortRangeEnd": "port-range-end",
        "IsDefault": "is-default", "TopologyLocation": "topology-location"},
        words={"IsDefault": _OFF_ON, "TopologyLocation": _TOPOLOGY}),
    "SIPInterface": _CliTable("voip", "sip-interface {index}", {
        "InterfaceName": "interface-name", "NetworkInterface": "network-interface",
        "ApplicationType": "application-type", "UDPPort": "udp-port", "TCPPort": "tcp-port",
        "TLSPort": "tls-port", "SRDName": "srd-name", "TLSContext": "tls-context-name",
        "TLSMutualAuthentication": "tls-mutual-auth", "TCPKeepaliveEnable": "tcp-keepalive-enable",
        "ClassificationFailureResponseType": "classification-fail-response-type",
        "MediaRealm": "media-realm-name", "TopologyLocation": "topology-location"},
        words={"ApplicationType": {2: "sbc"}, "TLSMutualAuthentication": _OFF_ON,
               "TCPKeepaliveEnable": _OFF_ON, "TopologyLocation": _TOPOLOGY}),
    "ProxySet": _CliTable("voip", "proxy-set {index}", {
        "ProxyName": "proxy-name", "EnableProxyKeepAlive": "proxy-enable-keep-alive",
        "ProxyKeepAliveTime": "proxy-keep-alive-time",
        "ProxyLoadBalancingMethod": "proxy-load-balancing-method",
        "IsProxyHotSwap": "is-proxy-hot-swap", "SRDName": "srd-name",
        "ClassificationInput": "classification-input", "TLSContextName": "tls-context-name",
        "ProxyRedundancyMode": "proxy-redundancy-mode", "DNSResolveMethod": "dns-resolve-method",
        "SBCIPv4SIPInterfaceName": "sbcipv4-sip-int-name"},
        words={"EnableProxyKeepAlive": {0: "disable", 1: "using-options"},
               "ProxyLoadBalancingMethod": {0: "disable", 1: "round-robin"},
               "IsProxyHotSwap": _OFF_ON, "ClassificationInput": {0: "ip-only"}}),
    "ProxyIp": _CliTable("voip", "proxy-ip {parent}/{index}", {
        "IpAddress": "proxy-address", "TransportType": "transport-type", "Priority": "priority",
        "Weight": "weight"}, parent_column="ProxySetId", child_column="ProxyIpIndex",
        words={"TransportType": {0: "udp", 1: "tcp", 2: "tls"}}),
    "AudioCodersGroups": _CliTable("voip", "coders-and-profiles audio-coders-groups {index}",
                                   {"Name": "name"}),
    "AudioCoders": _CliTable("voip", "coders-and-profiles audio-coders {parent}/{index}", {
        "Name": "name", "pTime": "p-time", "rate": "rate", "PayloadType": "payload-type",
        "Sce": "sce"}, parent_column="AudioCodersGroupId", child_column="AudioCodersIndex",
        words={"Sce": _OFF_ON}),
    "IpProfile": _CliTable("voip", "coders-and-profiles ip-profile {index}", {
        "ProfileName": "profile-name", "CodersGroupName": "coders-group-name",
        "SBCExtensionCodersGroupName": "sbc-ext-coders-group-name",
        "SBCMediaSecurityBehaviour": "sbc-media-security-behaviour",
        "EnableSymmetricMKI": "enable-symmetric-mki", "MKISize": "mki-size"},
        words={"SBCMediaSecurityBehaviour": {0: "as-is", 1: "srtp", 2: "rtp", 3: "both"},
               "EnableSymmetricMKI": _OFF_ON}),
    "MessageManipulations": _CliTable("voip", "message message-manipulations {index}", {
        "ManipulationName": "manipulation-name", "ManSetID": "manipulation-set-id",
        "MessageType": "message-type", "Condition": "condition", "ActionSubject": "action-subject",
        "ActionType": "action-type", "ActionValue": "action-value", "RowRole": "row-role"},
        words={"ActionType": {2: "modify"}, "RowRole": {0: "use-current-condition"}}),
    "DialPlan": _CliTable("voip", "sbc dial-plan {index}", {
        "Name": "name", "PrefixCaseSensitivity": "prefix-case-sensitivity"},
        words={"PrefixCaseSensitivity": {0: "off", 1: "on"}}),
    "IPGroup": _CliTable("voip", "ip-group {index}", {
        "Type": "type", "Name": "name", "ProxySetName": "proxy-set-name",
        "SIPGroupName": "sip-group-name", "ContactName": "contact-name", "SRDName": "srd-name",
        "MediaRealm": "media-realm-name", "ClassifyByProxySet": "classify-by-proxy-set",
        "ProfileName": "ip-profile-name", "OutboundManSet": "outbound-mesg-manipulation-set",
        "SBCDialPlanName": "sbc-dial-plan-name", "Tags": "tags",
        "ProxyKeepAliveUsingIPG": "proxy-keep-alive-using-ipg"},
        words={"Type": {0: "server"}, "ClassifyByProxySet": _OFF_ON,
               "ProxyKeepAliveUsingIPG": _OFF_ON}),
    "Classification": _CliTable("voip", "sbc classification {index}", {
        "ClassificationName": "classification-name", "SRDName": "srd-name",
        "SrcSIPInterfaceName": "src-sip-interface-name", "SrcAddress": "src-ip-address",
        "SrcTransportType": "src-transport-type", "ActionType": "action-type",
        "SrcIPGroupName": "src-ip-group-name"},
        words={"ActionType": {1: "allow"}, "SrcTransportType": {-1: "any"}}),
    "SBCAlternativeRoutingReasons": _CliTable(
        "voip", "sbc routing sbc-alt-routing-reasons {index}", {"ReleaseCause": "rel-cause"},
        words={"ReleaseCause": _RELEASE_CAUSES}),
    "IP2IPRouting": _CliTable("voip", "sbc routing ip2ip-routing {index}", {
        "RouteName": "route-name", "RoutingPolicyName": "routing-policy-name",
        "SrcIPGroupName": "src-ip-group-name", "RequestType": "request-type",
        "DestType": "dst-type", "DestIPGroupName": "dst-ip-group-name",
        "AltRouteOptions": "alt-route-options", "DestTags": "dest-tags",
        "InternalAction": "internal-action"},
        words={"DestType": {0: "ip-group", 13: "internal"},
               "RequestType": {0: "all", 6: "options"},
               "AltRouteOptions": {0: "route-row", 1: "alt-route-ignore-inputs"}}),
    "NATTranslation": _CliTable("network", "nat-translation {index}", {
        "SrcIPInterfaceName": "src-interface-name", "TargetIPAddress": "target-ip-address",
        "SourceStartPort": "src-start-port", "SourceEndPort": "src-end-port",
        "TargetStartPort": "target-start-port", "TargetEndPort": "target-end-port"}),
}

# Global parameters the CLI sets, as (mode, sub-mode, field, words); others stay in the ini form.
_CLI_PARAMETERS: dict[str, tuple[str, str, str, dict[int, str]]] = {
    "ENABLEMEDIASECURITY": ("voip", "media security", "media-security-enable", {0: "off", 1: "on"}),
}


def _cli_value(value: Value) -> str:
    """Numbers bare, text in double quotes as given: a SIP-expression literal keeps its single
    quotes (`action-value "'acme.pstn.twilio.com'"`)."""
    if isinstance(value, int):
        return str(value)
    if '"' in value:
        raise SbcConfigError(f"{value!r} cannot be written in the CLI (double quote)")
    return f'"{value}"'


def render_cli(config: SbcConfiguration) -> str:
    """The configuration as an incremental CLI script. Its command paths are [U] (docs/sbc.md)."""
    lines = [f"# {line}" for line in config.header]
    lines += ["# CLI paths and field names: the manuals' where they give them; the others follow",
              "# the CLI's pattern and are UNVERIFIED (docs/sbc.md lists which).", ""]
    row_by_name: dict[str, int] = {}
    for section in config.sections:
        if isinstance(section, IniParameterSection):
            for name, value in section.parameters:
                where = _CLI_PARAMETERS.get(name)
                if where is None or not isinstance(value, int):
                    lines.append(f"# [{section.name}] {name} = {value} (default or set through "
                                 "the ini file or Web UI)")
                    continue
                mode, submode, field_name, words = where
                lines += [f"# [{section.name}] {name} = {value}", f"configure {mode}",
                          f" {submode}", f"  {field_name} {words[value]}", " exit", "exit"]
            lines.append("")
            continue
        table = _CLI[section.name]
        lines += [f"# {section.name}: {line}" for line in section.comment]
        lines.append(f"configure {table.mode}")
        for index, row in section.rows:
            cells = dict(zip(section.columns, row, strict=True))
            if table.parent_column and table.child_column:
                parent = str(cells.pop(table.parent_column))
                parent_index = int(parent) if parent.isdigit() else row_by_name[parent]
                command = table.row.format(parent=parent_index, index=cells.pop(table.child_column))
            else:
                command = table.row.format(index=index)
                if isinstance(row[0], str):
                    row_by_name.setdefault(row[0], index)
            lines.append(f" {command}")
            for column, value in cells.items():
                if column not in table.fields or value == "$$":
                    continue
                word = None
                if isinstance(value, int) and column in table.words:
                    word = table.words[column].get(value)
                    if word is None:
                        raise AssertionError(f"{section.name}.{column}: no CLI word for {value}")
                lines.append(f"  {table.fields[column]} {word or _cli_value(value)}")
            lines += ["  activate", " exit"]
        lines += ["exit", ""]
    return "\n".join(lines).rstrip("\n") + "\n"
