"""The complete AudioCodes SBC configuration for the BYOC topology, generated from settings.

    Twilio Elastic SIP Trunk  <->  IPG_Twilio[_Alt]  [SBC]  IPG_Genesys  <->  Genesys BYOC Cloud

`build_configuration` is pure: it turns `SbcConfigInputs` (what settings, the policy and the carrier
ranges say about one SBC) into an ordered list of ini parameter blocks and tables; `render_ini`
and `render_cli` write it out. docs/sbc.md explains every section and how to apply the file.

Column names follow real 7.4 exports [C]. Values that are enums the vendor notes mark unverified
(coder names, TLS version, media-security behaviour, address patterns, NAT columns, and every CLI
command path) are called out in comments of the generated file and in docs/sbc.md; columns whose
enum is not known are written as `$$` (the device default).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from byoc.domain.policy import Policy
    from byoc.settings import SbcSettings, Settings

SRD = "DefaultSRD"
ROUTING_POLICY = "Default_SBCRoutingPolicy"
CODERS_GROUP = "ACG_BYOC"
MEDIA_REALM = "MR_Public"
PORTS_PER_SESSION_LEG = 5  # [C] 7.4 exports pair 1,000 ports with 200 legs
TRANSPORT_UDP, TRANSPORT_TCP, TRANSPORT_TLS = 0, 1, 2
ALT_ROUTING_CAUSES = (408, 480, 500, 502, 503, 504)
"""Answers from Twilio's first edge that send a call to the second edge (408: no answer)."""


class SbcConfigError(ValueError):
    """The settings cannot describe a working SBC configuration; the message says what to set."""


Value = str | int
"""A cell: `str` is written quoted (`"..."`), `int` bare; the string `$$` means the default."""


@dataclass(frozen=True)
class IniTableSection:
    """One ini table: columns, rows by Index, and what it is for (a comment in the file)."""

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[int, tuple[Value, ...]], ...]
    comment: tuple[str, ...] = ()


@dataclass(frozen=True)
class IniParameterSection:
    """Global parameters under `[<name>]` (e.g. `SIP Params`)."""

    name: str
    parameters: tuple[tuple[str, Value], ...]
    comment: tuple[str, ...] = ()


Section = IniTableSection | IniParameterSection


@dataclass(frozen=True)
class SbcConfiguration:
    """Everything one SBC needs, in the order the device must read it."""

    sbc_name: str
    header: tuple[str, ...]
    sections: tuple[Section, ...]

    def table(self, name: str) -> IniTableSection:
        for section in self.sections:
            if isinstance(section, IniTableSection) and section.name == name:
                return section
        raise KeyError(name)


@dataclass(frozen=True)
class SignalingSource:
    """A carrier signaling CIDR and the IP Group calls from it are classified to."""

    cidr: str
    ip_group: str


@dataclass(frozen=True)
class SbcConfigInputs:
    """What the configuration of one SBC depends on."""

    sbc_name: str
    fqdn: str
    tls_context: int
    dial_plan: str
    udp_port: int
    tcp_port: int
    tls_port: int
    rtp_low: int
    rtp_high: int
    twilio_domain: str
    twilio_edges: tuple[str, ...]
    twilio_secure: bool
    genesys_identifier: str
    genesys_region_domain: str
    tags: tuple[str, ...]
    signaling: tuple[SignalingSource, ...] = ()
    carrier_interface: str = "O+M+C"
    genesys_interface: str | None = None
    public_ip: str | None = None
    opus: bool = False
    g729: bool = False
    ntp_server: str | None = "time.windows.com"

    @property
    def twilio_label(self) -> str:
        """`acme` of `acme.pstn.twilio.com`."""
        return self.twilio_domain.removesuffix(".pstn.twilio.com")

    @property
    def genesys_fqdn(self) -> str:
        """The trunk's inbound SIP termination FQDN: `<identifier>.byoc.<region domain>`."""
        return f"{self.genesys_identifier}.byoc.{self.genesys_region_domain}"

    @property
    def split_interfaces(self) -> bool:
        return self.genesys_interface not in (None, self.carrier_interface)


def inputs_from_settings(
    settings: Settings,
    sbc: SbcSettings,
    policy: Policy,
    *,
    twilio_domain: str,
    genesys_identifier: str,
    carrier_interface: str = "O+M+C",
    genesys_interface: str | None = None,
    public_ip: str | None = None,
    opus: bool = False,
    g729: bool = False,
    ntp_server: str | None = "time.windows.com",
) -> SbcConfigInputs:
    """The inputs for `sbc` from settings, the policy's tags and the SBC's carrier ranges."""
    from byoc.services.nsg_reconciler import sbc_effective_ranges

    problems: list[str] = []
    domain = twilio_domain.strip().lower()
    label = domain.removesuffix(".pstn.twilio.com")
    if domain == label or not label or not all(c.isalnum() or c == "-" for c in label):
        problems.append(
            f"--twilio-domain {twilio_domain!r} must be the trunk's Termination SIP URI host, "
            "<name>.pstn.twilio.com (Twilio console: Elastic SIP Trunking > Trunk > Termination)"
        )
    identifier = genesys_identifier.strip().lower()
    if not identifier or not all(c.isalnum() or c == "-" for c in identifier):
        problems.append(
            f"--genesys-identifier {genesys_identifier!r} must be the BYOC Cloud trunk's Inbound "
            "SIP Termination Identifier (letters, digits, '-'; Genesys: Telephony > Trunks > "
            "External Trunks > Inbound)"
        )
    if not sbc.twilio_edges:
        problems.append(f"SBC {sbc.name}: twilio_edges is empty; name at least one Twilio edge")
    for address in (public_ip,) if public_ip else ():
        try:
            ipaddress.IPv4Address(address)
        except ValueError:
            problems.append(f"--public-ip {address!r} is not an IPv4 address")
    if problems:
        raise SbcConfigError("; ".join(problems))
    edges = tuple(e.strip().lower() for e in sbc.twilio_edges)
    twilio_groups = _twilio_groups(edges)
    sources: dict[str, str] = {}
    for item in sbc_effective_ranges(settings, sbc):
        if item.purpose != "signaling":
            continue
        if item.carrier == "genesys":
            sources.setdefault(item.cidr, "IPG_Genesys")
        elif item.carrier == "twilio":
            group = next((g for e, g in twilio_groups if e == item.scope.lower()), "IPG_Twilio")
            sources.setdefault(item.cidr, group)
    tags = sorted({policy.defaults.sbc_tag, *(r.sbc_tag for r in policy.rules if r.sbc_tag)})
    return SbcConfigInputs(
        sbc_name=sbc.name,
        fqdn=sbc.fqdn,
        tls_context=sbc.tls_context,
        dial_plan=sbc.dial_plan,
        udp_port=sbc.sip_ports.udp,
        tcp_port=sbc.sip_ports.tcp,
        tls_port=sbc.sip_ports.tls,
        rtp_low=sbc.rtp_ports.low,
        rtp_high=sbc.rtp_ports.high,
        twilio_domain=domain,
        twilio_edges=edges,
        twilio_secure=settings.twilio_trunk_secure,
        genesys_identifier=identifier,
        genesys_region_domain=settings.genesys_region,
        tags=tuple(tags),
        signaling=tuple(SignalingSource(c, g) for c, g in sources.items()),
        carrier_interface=carrier_interface,
        genesys_interface=genesys_interface,
        public_ip=public_ip,
        opus=opus,
        g729=g729,
        ntp_server=ntp_server,
    )


def _twilio_groups(edges: Sequence[str]) -> list[tuple[str, str]]:
    """(edge, IP Group): the first edge is the primary, the second the alternative route."""
    names = ["IPG_Twilio", "IPG_Twilio_Alt"]
    return [(edge, names[i]) for i, edge in enumerate(edges[:2])]


# --- the configuration -------------------------------------------------------------------------

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
        return _twilio_groups(self.inputs.twilio_edges)

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
    b.table(
        "ProxySet",
        ("ProxyName", "EnableProxyKeepAlive", "ProxyKeepAliveTime", "ProxyLoadBalancingMethod",
         "IsProxyHotSwap", "SRDName", "ClassificationInput", "TLSContextName",
         "ProxyRedundancyMode", "DNSResolveMethod", "SBCIPv4SIPInterfaceName"),
        [(name, 1, 60, 0, 1, SRD, 0, TLS_CONTEXT_NAME, "$$", "$$", interface)
         for name, _, interface in proxy_sets],
        "One proxy set per peer, each with OPTIONS keep-alive every 60 s (EnableProxyKeepAlive 1).",
        "Twilio: pstn.<edge>.twilio.com (Twilio's recommended outbound proxy, NAPTR/SRV "
        "capable); Genesys: the trunk FQDN, which resolves to the region's BYOC SIP addresses.",
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
    )


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
        "First match wins. OPTIONS are answered 200 (keep-alives). Carrier -> Genesys: one row per "
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


def address_patterns(cidr: str) -> tuple[str, ...]:
    """The fewest Classification source-address patterns matching exactly the IPv4 `cidr`; empty
    for IPv6 (the pattern is IPv4 dotted decimal).

    The manuals allow digits, dots and two wildcards only: `x` stands for one digit of an octet
    written without leading zeros (`10.8.8.xx` = .10 to .99) and `*` for a whole octet (0-255).
    An octet boundary is one pattern; any other prefix length becomes several rows, one per
    decimal block of the partial octet (`192.0.2.16/28`: 16, 17, 18, 19, 2x, 30, 31).
    """
    network = ipaddress.ip_network(cidr, strict=False)
    if not isinstance(network, ipaddress.IPv4Network):
        return ()
    octets = str(network.network_address).split(".")
    whole, rest = divmod(network.prefixlen, 8)
    if whole == 4:
        return (str(network.network_address),)
    low = int(octets[whole])
    high = low + (1 << (8 - rest)) - 1
    head = octets[:whole]
    tail = ["*"] * (3 - whole)
    return tuple(".".join([*head, part, *tail]) for part in octet_patterns(low, high))


def octet_patterns(low: int, high: int) -> list[str]:
    """The fewest octet patterns (digits, trailing `x`, or `*`) whose union is low..high."""
    candidates = _OCTET_PATTERNS
    patterns: list[str] = []
    covered = low - 1
    while covered < high:
        start = covered + 1
        best = max(
            ((b, text) for text, a, b in candidates if a <= start <= b and a >= low and b <= high),
            key=lambda item: item[0],
        )
        patterns.append(best[1])
        covered = best[0]
    return patterns


def _octet_candidates() -> list[tuple[str, int, int]]:
    """(pattern, first, last) of every octet pattern that matches a contiguous range."""
    found = [("*", 0, 255)]
    for length in (1, 2, 3):
        for wild in range(length + 1):
            fixed = length - wild
            starts = range(10 ** (fixed - 1) if fixed > 1 or (fixed == 1 and length > 1) else 0,
                           10 ** fixed) if fixed else range(1)
            for value in starts:
                digits = str(value) if fixed else ""
                if fixed and len(digits) != fixed:
                    continue
                text = digits + "x" * wild
                first = int(digits or "0") * 10 ** wild
                last = first + 10 ** wild - 1
                if not fixed:  # all wildcards: the numbers of that many digits
                    first, last = (0 if length == 1 else 10 ** (length - 1)), 10 ** length - 1
                last = min(last, 255)
                if first <= last:
                    found.append((text, first, last))
    return found


_OCTET_PATTERNS = _octet_candidates()


# --- rendering ---------------------------------------------------------------------------------


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
