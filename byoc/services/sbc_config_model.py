"""What an SBC configuration is made of: the inputs it depends on (read from settings, the
policy and the carrier ranges), and the ini parameter blocks and tables it consists of."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from byoc.services.nsg_ranges import sbc_effective_ranges

if TYPE_CHECKING:
    from byoc.domain.policy import Policy
    from byoc.settings import SbcSettings, Settings

SRD = "DefaultSRD"
ROUTING_POLICY = "Default_SBCRoutingPolicy"
CODERS_GROUP = "ACG_BYOC"
MEDIA_REALM = "MR_Public"
PORTS_PER_SESSION_LEG = 5  # [C] 7.4 exports pair 1,000 ports with 200 legs
TRANSPORT_UDP, TRANSPORT_TCP, TRANSPORT_TLS = 0, 1, 2
PROBE_GROUP = "IPG_Probe"
"""The IP Group byoc's health probe is classified to: OPTIONS answered, nothing routed."""
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
    probe_sources: tuple[str, ...] = ()
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
    groups = twilio_groups(edges)
    sources: dict[str, str] = {}
    for item in sbc_effective_ranges(settings, sbc):
        if item.purpose != "signaling":
            continue
        if item.carrier == "genesys":
            sources.setdefault(item.cidr, "IPG_Genesys")
        elif item.carrier == "twilio":
            group = next((g for e, g in groups if e == item.scope.lower()), "IPG_Twilio")
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
        probe_sources=tuple(settings.probe_source_cidrs),
        carrier_interface=carrier_interface,
        genesys_interface=genesys_interface,
        public_ip=public_ip,
        opus=opus,
        g729=g729,
        ntp_server=ntp_server,
    )


def twilio_groups(edges: Sequence[str]) -> list[tuple[str, str]]:
    """(edge, IP Group): the first edge is the primary, the second the alternative route."""
    names = ["IPG_Twilio", "IPG_Twilio_Alt"]
    return [(edge, names[i]) for i, edge in enumerate(edges[:2])]
