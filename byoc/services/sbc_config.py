"""The complete AudioCodes SBC configuration for the BYOC topology, generated from settings.

    Twilio Elastic SIP Trunk  <->  IPG_Twilio[_Alt]  [SBC]  IPG_Genesys  <->  Genesys BYOC Cloud

`build_configuration` is pure: it turns `SbcConfigInputs` (what settings, the policy and the carrier
ranges say about one SBC, `sbc_config_model`) into an ordered list of ini parameter blocks and
tables, one step per table; `sbc_config_render` writes it out as ini or CLI. docs/sbc.md explains
every section and how to apply the file.

Column names follow real 7.4 exports [C]. Values that are enums the vendor notes mark unverified
(coder names, TLS version, media-security behaviour, address patterns, NAT columns, and every CLI
command path) are called out in comments of the generated file and in docs/sbc.md; columns whose
enum is not known are written as `$$` (the device default).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from byoc.domain.address_patterns import address_patterns
from byoc.services.sbc_config_model import (
    ALT_ROUTING_CAUSES,
    CODERS_GROUP,
    MEDIA_REALM,
    PORTS_PER_SESSION_LEG,
    PROBE_GROUP,
    ROUTING_POLICY,
    SRD,
    TRANSPORT_TLS,
    TRANSPORT_UDP,
    IniParameterSection,
    IniTableSection,
    SbcConfigError,
    SbcConfigInputs,
    SbcConfiguration,
    Section,
    Value,
    twilio_groups,
)

TLS_CONTEXT_NAME = "byoc-tls"


@dataclass
class _Builder:
    """The sections written so far, and the names the tables refer to each other by."""

    inputs: SbcConfigInputs
    sections: list[Section] = field(default_factory=list)

    def table(self, name: str, columns: Sequence[str], rows: Iterable[Sequence[Value]],
              *comment: str, indexes: Sequence[int] | None = None) -> None:
        values = tuple(
            (indexes[i] if indexes is not None else i, tuple(r)) for i, r in enumerate(rows)
        )
        for index, row in values:
            if len(row) != len(columns):
                raise AssertionError(f"{name} {index}: {len(row)} values for {len(columns)} columns")
        self.sections.append(IniTableSection(name, tuple(columns), values, tuple(comment)))

    @property
    def twilio_groups(self) -> list[tuple[str, str]]:
        return twilio_groups(self.inputs.twilio_edges)

    @property
    def carrier_si(self) -> str:
        return "SI_Twilio" if self.inputs.split_interfaces else "SI_Public"

    @property
    def genesys_si(self) -> str:
        return "SI_Genesys" if self.inputs.split_interfaces else "SI_Public"

    @property
    def realms(self) -> list[tuple[str, str, int]]:
        """(media realm, network interface, topology location), the carrier side first."""
        i = self.inputs
        if i.split_interfaces:
            return [("MR_Twilio", i.carrier_interface, 0), ("MR_Genesys", str(i.genesys_interface), 1)]
        return [(MEDIA_REALM, i.carrier_interface, 0)]

    @property
    def carrier_realm(self) -> str:
        return self.realms[0][0]

    @property
    def genesys_realm(self) -> str:
        return self.realms[-1][0]

    @property
    def manipulation_sets(self) -> dict[str, int]:
        """IP Group -> its outbound message manipulation set (Twilio's edges first, then Genesys)."""
        sets = {group: n + 1 for n, (_, group) in enumerate(self.twilio_groups)}
        sets["IPG_Genesys"] = len(sets) + 1
        return sets


def build_configuration(inputs: SbcConfigInputs) -> SbcConfiguration:
    """Every parameter and table of one SBC for the BYOC topology (see docs/sbc.md)."""
    if not inputs.tags:
        raise SbcConfigError("the policy names no SBC tag; nothing would route to Genesys")
    if inputs.rtp_high - inputs.rtp_low + 1 < PORTS_PER_SESSION_LEG:
        raise SbcConfigError(f"RTP port range {inputs.rtp_low}-{inputs.rtp_high} is too small")
    transport_problems(inputs)
    b = _Builder(inputs)
    for step in (_global_parameters, _tls_contexts, _media_realms, _sip_interfaces, _proxy_sets,
                 _coders_and_profiles, _message_manipulations, _dial_plan, _ip_groups,
                 _classification, _alternative_routing_reasons, _ip_to_ip_routes,
                 _nat_translation):
        step(b)
    return SbcConfiguration(inputs.sbc_name, _header(inputs), tuple(b.sections))


def _global_parameters(b: _Builder) -> None:
    """NTP (when set), and SRTP enabled globally."""
    i = b.inputs
    system: list[tuple[str, Value]] = []
    if i.ntp_server:
        system.append(("NTPServerIP", f"'{i.ntp_server}'"))
    if system:
        b.sections.append(IniParameterSection(
            "SYSTEM Params", tuple(system),
            ("NTP: the device checks certificate dates against it (TLS needs a correct clock).",),
        ))
    b.sections.append(IniParameterSection(
        "SIP Params",
        (("ENABLEMEDIASECURITY", 1), ("SRTPTxPacketMKISize", 0)),
        ("SRTP is enabled globally (the Genesys leg's IP Profile demands SRTP, and SRTP "
         "transcoding needs it); each leg's IP Profile decides. The manuals say this parameter "
         "takes effect after a device reset: save and reset once after the first upload. MKI "
         "size 0: Twilio sends no MKI.",),
    ))


def _tls_contexts(b: _Builder) -> None:
    i = b.inputs
    b.table(
        "TLSContexts",
        ("Name", "TLSVersion", "TlsRenegotiation", "DHKeySize"),
        [(TLS_CONTEXT_NAME, 4, 0, 2048)],
        f"TLS context {i.tls_context} serves SIP TLS on both legs; byoc uploads its key and "
        "certificate (Key Vault) to it.",
        "TLSVersion 4 = TLS 1.2 only (Genesys: TLS 1.2) [C: 7.4 Teams exports; verify]. "
        "Renegotiation off.",
        indexes=[i.tls_context],
    )


def _media_realms(b: _Builder) -> None:
    i = b.inputs
    span = i.rtp_high - i.rtp_low + 1
    b.table(
        "CpMediaRealm",
        ("MediaRealmName", "IPv4IF", "PortRangeStart", "MediaSessionLeg", "PortRangeEnd",
         "IsDefault", "TopologyLocation"),
        [(name, interface, i.rtp_low, span // PORTS_PER_SESSION_LEG, i.rtp_high,
          1 if position == 0 else 0, location)
         for position, (name, interface, location) in enumerate(b.realms)],
        f"RTP ports {i.rtp_low}-{i.rtp_high}: the same range byoc opens in the NSG "
        "(settings rtp_ports).",
    )


def _sip_interfaces(b: _Builder) -> None:
    i = b.inputs
    interfaces = [(b.carrier_si, i.carrier_interface, b.carrier_realm, 0)]
    if i.split_interfaces:
        interfaces.append((b.genesys_si, str(i.genesys_interface), b.genesys_realm, 1))
    b.table(
        "SIPInterface",
        ("InterfaceName", "NetworkInterface", "ApplicationType", "UDPPort", "TCPPort", "TLSPort",
         "SRDName", "TLSContext", "TLSMutualAuthentication", "TCPKeepaliveEnable",
         "ClassificationFailureResponseType", "MediaRealm", "TopologyLocation"),
        [(name, interface, 2, i.udp_port, i.tcp_port, i.tls_port, SRD, TLS_CONTEXT_NAME, 0, 1, 0,
          realm, location) for name, interface, realm, location in interfaces],
        "Carrier side and Genesys side. On one network interface both sides share one SIP "
        "interface: the NSG opens one set of SIP ports, and IP Groups tell the peers apart."
        if not i.split_interfaces else "Carrier side and Genesys side, one network interface each.",
        "UDP/TCP and TLS ports as settings sip_ports. No mutual TLS (Genesys does not use it). "
        "Unclassified requests get no answer.",
    )


def _proxy_sets(b: _Builder) -> None:
    """One proxy set per peer (Twilio's edges, Genesys), and its address."""
    i = b.inputs
    twilio_transport = TRANSPORT_TLS if i.twilio_secure else TRANSPORT_UDP
    twilio_port = 5061 if i.twilio_secure else 5060
    proxy_sets: list[tuple[str, str, str]] = [
        (f"PS_{group.removeprefix('IPG_')}", f"pstn.{edge}.twilio.com:{twilio_port}", b.carrier_si)
        for edge, group in b.twilio_groups
    ]
    proxy_sets.append(("PS_Genesys", f"{i.genesys_fqdn}:5061", b.genesys_si))
    rows: list[tuple[Value, ...]] = [
        (name, 1, 60, 0, 1, SRD, 0, TLS_CONTEXT_NAME, "$$", "$$", interface)
        for name, _, interface in proxy_sets
    ]
    if i.probe_sources:
        rows.append((_probe_proxy_set(), 0, 60, 0, 0, SRD, 0, TLS_CONTEXT_NAME, "$$", "$$",
                     b.carrier_si))
    b.table(
        "ProxySet",
        ("ProxyName", "EnableProxyKeepAlive", "ProxyKeepAliveTime", "ProxyLoadBalancingMethod",
         "IsProxyHotSwap", "SRDName", "ClassificationInput", "TLSContextName",
         "ProxyRedundancyMode", "DNSResolveMethod", "SBCIPv4SIPInterfaceName"),
        rows,
        "One proxy set per peer, each with OPTIONS keep-alive every 60 s (EnableProxyKeepAlive 1).",
        "Twilio: pstn.<edge>.twilio.com (Twilio's recommended outbound proxy, NAPTR/SRV "
        "capable); Genesys: the trunk FQDN, which resolves to the region's BYOC SIP addresses.",
        *(("PS_Probe: the Server IP Group of byoc's health probe; no address, no keep-alive "
           "(nothing is ever sent to it).",) if i.probe_sources else ()),
    )
    b.table(
        "ProxyIp",
        ("ProxySetId", "ProxyIpIndex", "IpAddress", "TransportType", "Priority", "Weight"),
        [(str(index), 0, address, TRANSPORT_TLS if name == "PS_Genesys" else twilio_transport, 0, 0)
         for index, (name, address, _) in enumerate(proxy_sets)],
        "TransportType 0 UDP, 1 TCP, 2 TLS. Genesys BYOC Cloud listens for TLS on 5061.",
    )


def _coders_and_profiles(b: _Builder) -> None:
    """The coders offered on both legs, and each leg's IP Profile (RTP or SRTP)."""
    i = b.inputs
    coders: list[tuple[str, int]] = [("g711Ulaw64k", -1), ("g711Alaw64k", -1)]
    if i.opus:
        coders.append(("opus", 111))
    if i.g729:
        coders.append(("g729", -1))
    b.table("AudioCodersGroups", ("Name",), [(CODERS_GROUP,)],
            "Coders offered on both legs, in order of preference.")
    b.table(
        "AudioCoders",
        ("AudioCodersGroupId", "AudioCodersIndex", "Name", "pTime", "rate", "PayloadType", "Sce"),
        [(CODERS_GROUP, index, name, "$$", "$$", payload, 0)
         for index, (name, payload) in enumerate(coders)],
        "G.711 u-law and A-law first" + (", then Opus" if i.opus else "")
        + (", then G.729 (licensed)" if i.g729 else "") + ". 7.4 exports write the coder as a "
        "number; the names here are the 6.x/7.2 names [U: confirm on a lab SBC].",
    )
    security_twilio = 1 if i.twilio_secure else 2
    b.table(
        "IpProfile",
        ("ProfileName", "CodersGroupName", "SBCExtensionCodersGroupName",
         "SBCMediaSecurityBehaviour", "EnableSymmetricMKI", "MKISize"),
        [("IPP_Twilio", CODERS_GROUP, CODERS_GROUP, security_twilio, 0, 0),
         ("IPP_Genesys", CODERS_GROUP, CODERS_GROUP, 1, 0, 0)],
        "Per-leg media: Twilio " + ("SRTP (secure trunk)" if i.twilio_secure
                                    else "RTP (trunk not secure)")
        + ", Genesys SRTP (TLS trunks carry SRTP). SBCMediaSecurityBehaviour 1 = SRTP, 2 = RTP [U].",
    )


def _message_manipulations(b: _Builder) -> None:
    """The Request-URI host each peer identifies the trunk by."""
    i = b.inputs
    sets = b.manipulation_sets
    manipulations: list[tuple[str, int, str, str, str, int, str, int]] = [
        (f"Twilio RURI {edge}"[:40], sets[group], "Invite.Request", "",
         "Header.Request-URI.URL.Host", 2, f"'{i.twilio_label}.pstn.{edge}.twilio.com'", 0)
        for edge, group in b.twilio_groups
    ]
    manipulations.append((
        "Genesys RURI", sets["IPG_Genesys"], "Invite.Request", "",
        "Header.Request-URI.URL.Host", 2, f"'{i.genesys_fqdn}'", 0,
    ))
    b.table(
        "MessageManipulations",
        ("ManipulationName", "ManSetID", "MessageType", "Condition", "ActionSubject",
         "ActionType", "ActionValue", "RowRole"),
        manipulations,
        "Request-URI host of INVITEs: Twilio identifies the trunk by <trunk>.pstn.<edge>.twilio.com;"
        " Genesys by the Inbound SIP Termination Identifier FQDN. ActionType 2 = modify [C].",
    )


def _dial_plan(b: _Builder) -> None:
    i = b.inputs
    b.table("DialPlan", ("Name", "PrefixCaseSensitivity"), [(i.dial_plan, 0)],
            f"Dial Plan {i.dial_plan!r}: byoc keeps its rules (byoc-*) equal to the managed numbers,"
            " each tagged with the policy's SBC tag (`byoc apply --target sbc:<name>`).")


def _ip_groups(b: _Builder) -> None:
    i = b.inputs
    sets = b.manipulation_sets
    groups: list[tuple[Value, ...]] = [
        (0, group, f"PS_{group.removeprefix('IPG_')}", "", i.fqdn, SRD, b.carrier_realm,
         1, "IPP_Twilio", sets[group], i.dial_plan, f"twilio-{edge}"[:16], 1)
        for edge, group in b.twilio_groups
    ]
    groups.append((0, "IPG_Genesys", "PS_Genesys", "", i.fqdn, SRD, b.genesys_realm, 1,
                   "IPP_Genesys", sets["IPG_Genesys"], "", "genesys", 1))
    if i.probe_sources:
        groups.append((0, PROBE_GROUP, _probe_proxy_set(), "", i.fqdn, SRD, b.carrier_realm, 0,
                       "", -1, "", "", 0))
    b.table(
        "IPGroup",
        ("Type", "Name", "ProxySetName", "SIPGroupName", "ContactName", "SRDName", "MediaRealm",
         "ClassifyByProxySet", "ProfileName", "OutboundManSet", "SBCDialPlanName", "Tags",
         "ProxyKeepAliveUsingIPG"),
        groups,
        "Server IP Groups. Calls from Twilio look their destination number up in the Dial Plan "
        "(SBCDialPlanName): the rule's tag selects the route below. Contact host = the SBC FQDN "
        "(the name in its TLS certificate).",
    )


def _classification(b: _Builder) -> None:
    """Each carrier signaling range classified to its IP Group."""
    classification: list[tuple[Value, ...]] = []
    for source in b.inputs.signaling:
        patterns = address_patterns(source.cidr)
        for n, pattern in enumerate(patterns):
            label = source.ip_group.removeprefix("IPG_")
            suffix = f" #{n + 1}" if len(patterns) > 1 else ""
            classification.append((
                f"{label} {source.cidr}{suffix}"[:40], SRD,
                b.carrier_si if source.ip_group != "IPG_Genesys" else b.genesys_si, pattern, -1, 1,
                source.ip_group,
            ))
    interfaces = [b.carrier_si] + ([b.genesys_si] if b.inputs.split_interfaces else [])
    for cidr in b.inputs.probe_sources:
        patterns = address_patterns(cidr)
        for n, pattern in enumerate(patterns):
            for interface in interfaces:
                suffix = f" #{n + 1}" if len(patterns) > 1 else ""
                where = f" {interface.removeprefix('SI_')}" if len(interfaces) > 1 else ""
                classification.append((f"Probe{where} {cidr}{suffix}"[:40], SRD, interface,
                                       pattern, -1, 1, PROBE_GROUP))
    b.table(
        "Classification",
        ("ClassificationName", "SRDName", "SrcSIPInterfaceName", "SrcAddress", "SrcTransportType",
         "ActionType", "SrcIPGroupName"),
        classification,
        "Carrier signaling ranges (the same ones the NSG allows) classified to their IP "
        "Group; Genesys may send from any address of its region, so proxy-set "
        "classification alone is not enough. A source address is dotted decimal with `x` "
        "(one digit) and `*` (one octet) only, so a CIDR that does not end on an octet "
        "boundary takes one row per decimal block (#1, #2, ...).",
        *(("Probe rows: where byoc's SIP OPTIONS health probe comes from (settings "
           "probe_source_cidrs), classified to IPG_Probe; without them the SBC would not answer "
           "it (unclassified requests get no answer).",) if b.inputs.probe_sources else ()),
    )


def _probe_proxy_set() -> str:
    return f"PS_{PROBE_GROUP.removeprefix('IPG_')}"


def _alternative_routing_reasons(b: _Builder) -> None:
    """With a second Twilio edge: the answers that send a call to it."""
    if len(b.twilio_groups) <= 1:
        return
    b.table(
        "SBCAlternativeRoutingReasons", ("ReleaseCause",),
        [(code,) for code in ALT_ROUTING_CAUSES],
        "SIP answers after which a call to Twilio's first edge is tried again on the second "
        "(the alternative route below); no answer and ICMP errors always trigger it. Table "
        "and column of the 7.2 manuals; 7.4+ firmware may use Alternative Reasons Sets "
        "instead (docs/sbc.md, verify on a lab SBC).",
    )


def _ip_to_ip_routes(b: _Builder) -> None:
    routes: list[tuple[Value, ...]] = [
        ("OPTIONS", ROUTING_POLICY, "Any", 6, 13, "", 0, "", "Reply(Response='200')"),
    ]
    if b.inputs.probe_sources:
        routes.append(("probe only", ROUTING_POLICY, PROBE_GROUP, 0, 13, "", 0, "",
                       "Reply(Response='403')"))
    routes += [
        (f"in {tag}", ROUTING_POLICY, "Any", 0, 0, "IPG_Genesys", 0, tag, "")
        for tag in b.inputs.tags
    ]
    for position, (_, group) in enumerate(b.twilio_groups):
        routes.append((
            "out Twilio" if position == 0 else "out Twilio alt", ROUTING_POLICY, "IPG_Genesys", 0,
            0, group, 0 if position == 0 else 1, "", "",
        ))
    routes.append(("unrouted", ROUTING_POLICY, "Any", 0, 13, "", 0, "", "Reply(Response='404')"))
    b.table(
        "IP2IPRouting",
        ("RouteName", "RoutingPolicyName", "SrcIPGroupName", "RequestType", "DestType",
         "DestIPGroupName", "AltRouteOptions", "DestTags", "InternalAction"),
        routes,
        "First match wins. OPTIONS are answered 200 (keep-alives" + (
            ", byoc's health probe); any other request from IPG_Probe is refused 403"
            if b.inputs.probe_sources else ")") + ". Carrier -> Genesys: one row per "
        "policy tag (DestTags). Genesys -> carrier: Twilio's first edge, then the second edge as "
        "alternative route (AltRouteOptions 1) for failover. Anything else: 404.",
        "DestType 0 = IP Group, 13 = internal; RequestType 0 = all, 6 = OPTIONS.",
    )


def _nat_translation(b: _Builder) -> None:
    """With a public IP: advertise it instead of the VM's private address."""
    i = b.inputs
    if not i.public_ip:
        return
    b.table(
        "NATTranslation",
        ("SrcIPInterfaceName", "TargetIPAddress", "SourceStartPort", "SourceEndPort",
         "TargetStartPort", "TargetEndPort"),
        [(i.carrier_interface, i.public_ip, 1, 65535, 1, 65535)],
        "Azure NAT: the VM's private address is advertised as its public IP in SIP and SDP. "
        "Column names [U] (the CLI is nat-translation: src-interface-name, target-ip-address).",
    )


def _header(i: SbcConfigInputs) -> tuple[str, ...]:
    """The file's opening comment: what it is and how (not) to apply it."""
    return (
        f"byoc: AudioCodes SBC configuration for {i.sbc_name} ({i.fqdn})",
        "Generated by `byoc sbc render-config`; docs/sbc.md explains every section.",
        "Apply it as an INCREMENTAL upload on a factory-default SBC (rows are keyed by Index).",
        "Never upload it as the full ini or CLI script: that replaces the whole configuration and",
        "resets the device.",
        "Items marked [U] are unverified on a device; [C] seen in public configurations only.",
    ) + (() if i.public_ip else (
        "No --public-ip given: add NAT (NATTranslation) so SIP and SDP carry the public address.",
    ))


def transport_problems(inputs: SbcConfigInputs) -> None:
    """Refuse a leg whose transport the SIP interface does not listen on (port 0 = not offered):
    the peer's traffic would find no listener, and byoc's own traffic no source port."""
    problems: list[str] = []
    ports = {"UDP": inputs.udp_port, "TCP": inputs.tcp_port, "TLS": inputs.tls_port}
    twilio = "TLS" if inputs.twilio_secure else "UDP"
    legs = [(f"Twilio ({twilio}: twilio_trunk_secure is "
             f"{'true' if inputs.twilio_secure else 'false'})", twilio), ("Genesys (TLS)", "TLS")]
    for leg, transport in legs:
        if ports[transport] == 0:
            problems.append(
                f"the {leg} leg needs {transport}, but sip_ports.{transport.lower()} of SBC "
                f"{inputs.sbc_name} is 0 (not offered); set sip_ports.{transport.lower()} (e.g. "
                f"{5061 if transport == 'TLS' else 5060})"
                + ("" if transport == "TLS" else " or make the Twilio trunk secure (TLS)")
            )
    if problems:
        raise SbcConfigError("; ".join(problems))
