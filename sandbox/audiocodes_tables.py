"""The configuration tables the emulated SBC applies, as a dictionary written from the AudioCodes
manuals and public device exports (each table's source is in `TableSpec.source` and in
sandbox/README-audiocodes.md), and the applied rows.

A table has its ini name, its CLI path (`configure <mode>` then the words before the row index),
and its columns. A column has its ini name, its CLI field name, and a kind:
- `int`: a number within [low, high];
- `enum`: one of the manual's `[n] Label` values; in the CLI the field takes a word;
- `text`: a string of at most `max_len` characters;
- `ref`: the name of a row of another table (checked when the row is written: referenced tables
  must come first, as the ini rules say).

Applied rows are kept typed (ints as int, the rest as str), with every column filled (defaults for
the ones an upload left out), per table and keyed by the row index: `Tables.rows("IPGroup")`.
A later issue routes SIP calls through the emulated SBC by reading these rows.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["int", "enum", "text", "ref"]
RowValue = int | str

UM_M4K = "Mediant 4000 SBC User's Manual 7.4 (manualshive 3011146)"
UM_800B = "Mediant 800B User's Manual 7.2 LTRT-10632 (easymanua.ls)"
UM_1000B = "Mediant 1000B User's Manual 7.2 (easymanua.ls)"
EXPORT = "public 7.4 Azure VE export (github tlothering/AudioCodes_SBC_on_Azure)"
CLI_REF = "CLI Reference Guide 7.2 (techdocs.audiocodes.com)"


class RowRefused(ValueError):
    """A row the device refuses; the message names the table, row, column and why."""


@dataclass(frozen=True)
class Column:
    ini: str
    cli: str | None
    kind: Kind = "text"
    default: RowValue = ""
    low: int = -1
    high: int = 2_147_483_647
    max_len: int = 256
    words: tuple[tuple[int, str], ...] = ()
    ref: str | None = None
    ref_also: tuple[str, ...] = ()
    """Values a `ref` column accepts without a row (`Any`, empty)."""

    def word(self, value: int) -> str | None:
        return dict(self.words).get(value)

    def value_of_word(self, word: str) -> int | None:
        for value, text in self.words:
            if text.lower() == word.lower():
                return value
        return None


@dataclass(frozen=True)
class TableSpec:
    ini: str
    mode: str
    cli_path: tuple[str, ...]
    columns: tuple[Column, ...]
    source: str
    name_column: str | None = None
    parent: tuple[str, str, str] | None = None
    """Child tables: (parent table, column naming the parent, column of the child's own index)."""
    max_rows: int = 5000

    def column(self, name: str) -> Column | None:
        lowered = name.lower()
        prefix = self.ini.lower() + "_"
        if lowered.startswith(prefix):
            lowered = lowered[len(prefix):]
        return next((c for c in self.columns if c.ini.lower() == lowered), None)

    def cli_column(self, field_name: str) -> Column | None:
        return next((c for c in self.columns if c.cli == field_name.lower()), None)

    def defaults(self) -> dict[str, RowValue]:
        return {c.ini: c.default for c in self.columns}


def _enum(ini: str, cli: str, default: int, *words: tuple[int, str]) -> Column:
    return Column(ini, cli, "enum", default, words=words)


def _int(ini: str, cli: str | None, default: int, low: int, high: int) -> Column:
    return Column(ini, cli, "int", default, low=low, high=high)


def _text(ini: str, cli: str | None, max_len: int = 256, default: str = "") -> Column:
    return Column(ini, cli, "text", default, max_len=max_len)


def _ref(ini: str, cli: str, table: str, *also: str) -> Column:
    return Column(ini, cli, "ref", "", ref=table, ref_also=also or ("",))


DISABLE_ENABLE = ((0, "disable"), (1, "enable"))
TOPOLOGY = ((0, "down"), (1, "up"))
TRANSPORT = ((-1, "not-configured"), (0, "udp"), (1, "tcp"), (2, "tls"))
RELEASE_CAUSES = (
    (4, "4xx"), (5, "5xx"), (6, "6xx"), (400, "400-bad-req"), (402, "402-payment-req"),
    (403, "403-forbidden"), (404, "404-not-found"), (405, "405-method-not-allowed"),
    (406, "406-not-acceptable"), (408, "408-req-timeout"), (409, "409-conflict"),
    (410, "410-gone"), (413, "413-req-too-large"), (414, "414-req-uri-too-long"),
    (415, "415-unsup-media"), (420, "420-bad-ext"), (421, "421-ext-req"),
    (423, "423-session-interval-too-small"), (480, "480-unavail"),
    (481, "481-transaction-not-exist"), (482, "482-loop-detected"), (483, "483-too-many-hops"),
    (484, "484-address-incomplete"), (485, "485-ambiguous"), (486, "486-busy"),
    (487, "487-req-terminated"), (488, "488-not-acceptable-here"), (491, "491-req-pending"),
    (493, "493-undecipherable"), (500, "500-internal-err"), (501, "501-not-implemented"),
    (502, "502-bad-gateway"), (503, "503-service-unavail"), (504, "504-server-timeout"),
    (505, "505-version-not-supported"), (513, "513-message-too-large"),
    (600, "600-busy-everywhere"), (603, "603-decline"), (604, "604-does-not-exist-anywhere"),
    (606, "606-not-acceptable"),
)

TABLES: tuple[TableSpec, ...] = (
    TableSpec("SRD", "voip", ("srd",), (_text("Name", "name", 40),),
              f"{UM_M4K} 'Configuring SRDs'; factory default row 0 DefaultSRD", "Name"),
    TableSpec("CpMediaRealm", "voip", ("media", "realm"), (
        _text("MediaRealmName", "name", 40), _text("IPv4IF", "ipv4if", 40),
        _text("IPv6IF", "ipv6if", 40), _int("PortRangeStart", "port-range-start", -1, -1, 65535),
        _int("MediaSessionLeg", "session-leg", -1, -1, 100_000),
        _int("PortRangeEnd", "port-range-end", -1, -1, 65535),
        _enum("IsDefault", "is-default", 0, *DISABLE_ENABLE),
        _enum("TopologyLocation", "topology-location", 0, *TOPOLOGY),
    ), f"{UM_1000B} p.329 (ipv6if, port-range-start, session-leg, port-range-end); Mediant 600 "
       "UM 6.4 p.170 (ini columns); real table name CpMediaRealm in 7.x exports", "MediaRealmName"),
    TableSpec("SIPInterface", "voip", ("sip-interface",), (
        _text("InterfaceName", "interface-name", 40), _text("NetworkInterface", "network-interface", 40),
        _enum("ApplicationType", "application-type", 0, (0, "gw"), (2, "sbc")),
        _int("UDPPort", "udp-port", 5060, 0, 65535), _int("TCPPort", "tcp-port", 5060, 0, 65535),
        _int("TLSPort", "tls-port", 5061, 0, 65535), _ref("SRDName", "srd-name", "SRD"),
        _ref("TLSContext", "tls-context-name", "TLSContexts"),
        _enum("TLSMutualAuthentication", "tls-mutual-auth", -1, (-1, "not-configured"),
              *DISABLE_ENABLE),
        _enum("TCPKeepaliveEnable", "tcp-keepalive-enable", 0, *DISABLE_ENABLE),
        _int("ClassificationFailureResponseType", "classification-fail-response-type", 500, 0, 699),
        _ref("MediaRealm", "media-realm-name", "CpMediaRealm"),
        _enum("TopologyLocation", "topology-location", 0, *TOPOLOGY),
    ), f"{UM_M4K} p.376 (tls-context-name); {EXPORT} SIPInterface FORMAT", "InterfaceName"),
    TableSpec("ProxySet", "voip", ("proxy-set",), (
        _text("ProxyName", "proxy-name", 40),
        _enum("EnableProxyKeepAlive", "proxy-enable-keep-alive", 0, (0, "disable"),
              (1, "using-options"), (2, "using-register")),
        _int("ProxyKeepAliveTime", "proxy-keep-alive-time", 60, 5, 2_000_000),
        _enum("ProxyLoadBalancingMethod", "proxy-load-balancing-method", 0, (0, "disable"),
              (1, "round-robin"), (2, "random-weights")),
        _enum("IsProxyHotSwap", "is-proxy-hot-swap", 0, *DISABLE_ENABLE),
        _ref("SRDName", "srd-name", "SRD"),
        _enum("ClassificationInput", "classification-input", 0, (0, "ip-only"),
              (1, "ip-port-transport")),
        _ref("TLSContextName", "tls-context-name", "TLSContexts"),
        _enum("ProxyRedundancyMode", "proxy-redundancy-mode", -1, (-1, "not-configured"),
              (0, "parking"), (1, "homing")),
        _enum("DNSResolveMethod", "dns-resolve-method", -1, (-1, "not-configured"),
              (0, "a-record"), (1, "srv"), (2, "naptr")),
        _ref("SBCIPv4SIPInterfaceName", "sbcipv4-sip-int-name", "SIPInterface"),
    ), f"{UM_800B} p.383 and UM-1000 p.408 (proxy-enable-keep-alive [0] Disable [1] Using OPTIONS "
       "[2] Using REGISTER); Mediant 600 UM p.203 (keep-alive time 5-2,000,000, LB method); "
       f"{EXPORT} ProxySet FORMAT", "ProxyName"),
    TableSpec("ProxyIp", "voip", ("proxy-ip",), (
        _text("ProxySetId", None, 40), _int("ProxyIpIndex", None, 0, 0, 49),
        _text("IpAddress", "proxy-address", 256),
        _enum("TransportType", "transport-type", -1, *TRANSPORT),
        _int("Priority", "priority", 0, 0, 65535), _int("Weight", "weight", 0, 0, 65535),
    ), f"{EXPORT} ProxyIp FORMAT (ProxySetId is the Proxy Set's index as text); TransportType "
       "0 UDP 1 TCP 2 TLS (Mediant 2000 UM p.380)", None, ("ProxySet", "ProxySetId", "ProxyIpIndex")),
    TableSpec("AudioCodersGroups", "voip", ("coders-and-profiles", "audio-coders-groups"),
              (_text("Name", "name", 40),), f"{EXPORT} (AudioCodersGroups_0)", "Name"),
    TableSpec("AudioCoders", "voip", ("coders-and-profiles", "audio-coders"), (
        _text("AudioCodersGroupId", None, 40), _int("AudioCodersIndex", None, 0, 0, 9),
        _text("Name", "name", 40), _int("pTime", "p-time", -1, -1, 200),
        _int("rate", "rate", -1, -1, 200), _int("PayloadType", "payload-type", -1, -1, 127),
        _enum("Sce", "sce", 0, *DISABLE_ENABLE), _text("CoderSpecific", "coder-specific", 256),
    ), f"{EXPORT} AudioCoders FORMAT; the coder name enum is not public (names or numbers kept "
       "as given)", None, ("AudioCodersGroups", "AudioCodersGroupId", "AudioCodersIndex")),
    TableSpec("IpProfile", "voip", ("coders-and-profiles", "ip-profile"), (
        _text("ProfileName", "profile-name", 40),
        _ref("CodersGroupName", "coders-group-name", "AudioCodersGroups"),
        _ref("SBCExtensionCodersGroupName", "sbc-ext-coders-group-name", "AudioCodersGroups"),
        _enum("SBCMediaSecurityBehaviour", "sbc-media-security-behaviour", 0, (0, "as-is"),
              (1, "srtp"), (2, "rtp"), (3, "both")),
        _enum("EnableSymmetricMKI", "enable-symmetric-mki", 0, *DISABLE_ENABLE),
        _int("MKISize", "mki-size", 0, 0, 4),
    ), f"{UM_M4K} p.429 (sbc-media-security-behaviour [0] As is [1] SRTP [2] RTP [3] Both; "
       "enable-symmetric-mki); Mediant 2600 UM 6.8 p.301", "ProfileName"),
    TableSpec("MessageManipulations", "voip", ("message", "message-manipulations"), (
        _text("ManipulationName", "manipulation-name", 40),
        _int("ManSetID", "manipulation-set-id", 0, 0, 19), _text("MessageType", "message-type"),
        _text("Condition", "condition"), _text("ActionSubject", "action-subject"),
        _enum("ActionType", "action-type", 0, (0, "add"), (1, "remove"), (2, "modify"),
              (3, "add-prefix"), (4, "add-suffix"), (5, "remove-suffix"), (6, "remove-prefix"),
              (7, "normalize")),
        _text("ActionValue", "action-value"),
        _enum("RowRole", "row-role", 0, (0, "use-current-condition"),
              (1, "use-previous-condition")),
    ), f"{EXPORT} MessageManipulations FORMAT and row (ActionType 2, ActionValue \"'host'\"); "
       f"{UM_M4K} p.510", "ManipulationName"),
    TableSpec("IPGroup", "voip", ("ip-group",), (
        _enum("Type", "type", 0, (0, "server"), (1, "user"), (2, "gateway")),
        _text("Name", "name", 40), _ref("ProxySetName", "proxy-set-name", "ProxySet"),
        _text("SIPGroupName", "sip-group-name"), _text("ContactName", "contact-name"),
        _ref("SRDName", "srd-name", "SRD"), _ref("MediaRealm", "media-realm-name", "CpMediaRealm"),
        _enum("ClassifyByProxySet", "classify-by-proxy-set", 1, *DISABLE_ENABLE),
        _ref("ProfileName", "ip-profile-name", "IpProfile"),
        _int("InboundManSet", "inbound-mesg-manipulation-set", -1, -1, 19),
        _int("OutboundManSet", "outbound-mesg-manipulation-set", -1, -1, 19),
        _ref("SBCDialPlanName", "sbc-dial-plan-name", "DialPlan"),
        _text("Tags", "tags"),
        _enum("ProxyKeepAliveUsingIPG", "proxy-keep-alive-using-ipg", 0, *DISABLE_ENABLE),
    ), f"CLI Reference 'ip-group' (classify-by-proxy-set {{disable|enable}}, "
       f"inbound-mesg-manipulation-set); UM-1000 p.539 (SBCDialPlanName, Tags); {EXPORT}", "Name"),
    TableSpec("Classification", "voip", ("sbc", "classification"), (
        _text("ClassificationName", "classification-name", 40), _ref("SRDName", "srd-name", "SRD"),
        _ref("SrcSIPInterfaceName", "src-sip-interface-name", "SIPInterface"),
        Column("SrcAddress", "src-ip-address", "text", "", max_len=15),
        _enum("SrcTransportType", "src-transport-type", -1, (-1, "any"), (0, "udp"), (1, "tcp"),
              (2, "tls")),
        _enum("ActionType", "action-type", 1, (0, "deny"), (1, "allow")),
        _ref("SrcIPGroupName", "src-ip-group-name", "IPGroup"),
    ), "Mediant 4000 SBC UM (manualslib 1272709) p.460 and Mediant 1000B UM p.692 (src-ip-address "
       "dotted decimal with 'x' and '*'; src-transport-type [-1] Any [0] UDP [1] TCP [2] TLS)",
        "ClassificationName"),
    TableSpec("SBCAlternativeRoutingReasons", "voip", ("sbc", "routing", "sbc-alt-routing-reasons"),
              (_enum("ReleaseCause", "rel-cause", 408, *RELEASE_CAUSES),),
              f"{UM_800B} p.729 and Mediant 500L UM p.704 (ini SBCAlternativeRoutingReasons, CLI "
              "configure voip > sbc routing sbc-alt-routing-reasons, rel-cause); CLI words of "
              f"{CLI_REF} 'alt-route-reasons-rules'"),
    TableSpec("SBCRoutingPolicy", "voip", ("sbc", "routing", "sbc-routing-policy"),
              (_text("Name", "name", 40),), f"{EXPORT}; factory default row 0 "
              "Default_SBCRoutingPolicy", "Name"),
    TableSpec("IP2IPRouting", "voip", ("sbc", "routing", "ip2ip-routing"), (
        _text("RouteName", "route-name", 40),
        _ref("RoutingPolicyName", "routing-policy-name", "SBCRoutingPolicy"),
        _ref("SrcIPGroupName", "src-ip-group-name", "IPGroup", "Any"),
        _enum("RequestType", "request-type", 0, (0, "all"), (1, "invite"), (2, "register"),
              (3, "subscribe"), (4, "invite-and-register"), (5, "invite-and-subscribe"),
              (6, "options")),
        _enum("DestType", "dst-type", 0, (0, "ip-group"), (1, "dest-address"), (2, "request-uri"),
              (3, "enum"), (4, "hunt-group"), (5, "dial-plan"), (9, "routing-server"),
              (10, "all-users"), (11, "ip-group-set"), (12, "destination-tag"), (13, "internal")),
        _ref("DestIPGroupName", "dst-ip-group-name", "IPGroup"),
        _enum("AltRouteOptions", "alt-route-options", 0, (0, "route-row"),
              (1, "alt-route-ignore-inputs"), (2, "alt-route-consider-inputs")),
        _text("DestTags", "dest-tags"), _text("RoutingTagName", "routing-tag-name", 40, "default"),
        _text("InternalAction", "internal-action"),
    ), f"{UM_800B} p.718 and Mediant 500L UM p.694 (dst-type [0] IP Group ... [12] Destination "
       f"Tag [13] Internal, dst-ip-group-name); UM-1000 p.539 (DestTags); {EXPORT} OPTIONS row "
       "(RequestType 6, DestType 13, InternalAction \"Reply(Response='200')\")", "RouteName"),
    TableSpec("NATTranslation", "network", ("nat-translation",), (
        _text("SrcIPInterfaceName", "src-interface-name", 40),
        _text("TargetIPAddress", "target-ip-address", 15),
        _int("SourceStartPort", "src-start-port", 1, 1, 65535),
        _int("SourceEndPort", "src-end-port", 65535, 1, 65535),
        _int("TargetStartPort", "target-start-port", 1, 1, 65535),
        _int("TargetEndPort", "target-end-port", 65535, 1, 65535),
    ), "akandor/AudioCodes SBCNat.sh and Set-AUDCPublicNatAddress.ps1 (configure network > "
       "nat-translation: src-interface-name, target-ip-address, src-start-port, src-end-port)"),
)
SPECS = {spec.ini: spec for spec in TABLES}
SPEC_BY_LOWER = {spec.ini.lower(): spec for spec in TABLES}

FACTORY_ROWS: dict[str, dict[int, dict[str, RowValue]]] = {
    "SRD": {0: {"Name": "DefaultSRD"}},
    "SBCRoutingPolicy": {0: {"Name": "Default_SBCRoutingPolicy"}},
    "CpMediaRealm": {0: {"MediaRealmName": "DefaultRealm", "IsDefault": 1}},
    "AudioCodersGroups": {0: {"Name": "AudioCodersGroups_0"}},
}

_IP_OCTET = re.compile(r"^(\*|[0-9x]{1,3})$")


def address_matches(pattern: str, address: str) -> bool:
    """Whether a Classification source-address pattern matches an IPv4 address (manual: dotted
    decimal; `x` one digit of the octet as written, `*` any octet 0-255; empty or `*` = any)."""
    if pattern in ("", "*"):
        return True
    parts, octets = pattern.split("."), address.split(".")
    if len(parts) != 4 or len(octets) != 4:
        return False
    for part, octet in zip(parts, octets, strict=True):
        if part == "*":
            continue
        if len(part) != len(octet) or any(p != "x" and p != o for p, o in zip(part, octet,
                                                                               strict=True)):
            return False
    return True


def address_problem(pattern: str) -> str | None:
    """Why a source-address pattern is not one the manual allows, or None."""
    if pattern in ("", "*"):
        return None
    parts = pattern.split(".")
    if len(parts) != 4 or not all(_IP_OCTET.match(p) for p in parts):
        return (f"{pattern!r} is not a dotted-decimal address with the wildcards 'x' (one digit) "
                "and '*' (one octet)")
    for part in parts:
        if "x" not in part and part != "*" and (int(part) > 255 or (len(part) > 1 and
                                                                     part[0] == "0")):
            return f"{pattern!r}: octet {part!r} is not 0-255"
    return None


@dataclass
class Tables:
    """Applied rows of the dictionary tables: `rows[table][index] = {column: value}`."""

    rows: dict[str, dict[int, dict[str, RowValue]]] = field(default_factory=dict)

    @classmethod
    def factory_default(cls) -> Tables:
        tables = cls()
        for table, rows in FACTORY_ROWS.items():
            for index, values in rows.items():
                tables.rows.setdefault(table, {})[index] = {**SPECS[table].defaults(), **values}
        return tables

    def clone(self) -> Tables:
        return copy.deepcopy(self)

    def table(self, name: str) -> dict[int, dict[str, RowValue]]:
        return self.rows.get(name, {})

    def named(self, table: str, name: str) -> tuple[int, dict[str, RowValue]] | None:
        spec = SPECS[table]
        if spec.name_column is None:
            return None
        for index, row in self.table(table).items():
            if str(row[spec.name_column]).lower() == name.lower():
                return index, row
        return None

    def child_index(self, spec: TableSpec, parent: str, child: int) -> int | None:
        """The stored index of a child row identified by (parent, child index)."""
        assert spec.parent is not None
        _, parent_column, child_column = spec.parent
        for index, row in self.table(spec.ini).items():
            if str(row[parent_column]) == parent and row[child_column] == child:
                return index
        return None

    def put(self, spec: TableSpec, index: int, given: dict[str, RowValue],
            names: dict[str, set[str]], keep: bool = False) -> int:
        """Check and write a row (missing columns: defaults, or the stored row with `keep`).
        `names` holds the names other tables have (DialPlan, TLSContexts). Returns its index."""
        where = f"{spec.ini} {index}"
        problems: list[str] = []
        if spec.parent is not None:
            parent_table, parent_column, child_column = spec.parent
            parent = str(given.get(parent_column, ""))
            parents = self.table(parent_table)
            if not (parent.isdigit() and int(parent) in parents) and self.named(
                    parent_table, parent) is None:
                problems.append(f"{parent_column} {parent!r} is not a row of {parent_table}")
            child = given.get(child_column, 0)
            existing = self.child_index(spec, parent, int(child))
            if existing is not None:
                index = existing
        base = dict(self.table(spec.ini).get(index) or {}) if keep else {}
        row = {**spec.defaults(), **base, **given}
        for column in spec.columns:
            value = row[column.ini]
            if column.kind in ("int", "enum"):
                if not isinstance(value, int):
                    problems.append(f"{column.ini} must be a number, got {value!r}")
                elif column.kind == "int" and not column.low <= value <= column.high:
                    problems.append(f"{column.ini} {value} is out of range "
                                    f"{column.low}..{column.high}")
                elif column.kind == "enum" and column.word(value) is None:
                    allowed = ", ".join(str(v) for v, _ in column.words)
                    problems.append(f"{column.ini} {value} is not one of {allowed}")
                continue
            text = str(value)
            if len(text) > column.max_len:
                problems.append(f"{column.ini} is longer than {column.max_len} characters")
            if column.kind == "ref" and text not in column.ref_also:
                assert column.ref is not None
                if column.ref in SPECS:
                    known = self.named(column.ref, text) is not None
                else:
                    known = text.lower() in names.get(column.ref, set())
                if not known:
                    problems.append(f"{column.ini} {text!r} is not a row of {column.ref} "
                                    "(referenced tables must come first)")
        if spec.ini == "Classification":
            problem = address_problem(str(row["SrcAddress"]))
            if problem:
                problems.append(f"SrcAddress {problem}")
        if spec.name_column is not None:
            name = str(row[spec.name_column])
            if not name:
                problems.append(f"{spec.name_column} is mandatory")
            other = self.named(spec.ini, name) if name else None
            if other is not None and other[0] != index:
                problems.append(f"{spec.name_column} {name!r} is already used by row {other[0]}")
        if index not in self.table(spec.ini) and len(self.table(spec.ini)) >= spec.max_rows:
            problems.append(f"the table is full ({spec.max_rows} rows)")
        if problems:
            raise RowRefused(f"{where}: " + "; ".join(problems))
        self.rows.setdefault(spec.ini, {})[index] = row
        return index

    def delete(self, spec: TableSpec, index: int) -> None:
        if index not in self.table(spec.ini):
            raise RowRefused(f"{spec.ini} {index} does not exist")
        del self.rows[spec.ini][index]


def ini_value(column: Column, text: str, quoted: bool) -> RowValue:
    """An ini cell as the column's type; RowRefused for a number that is not one."""
    if column.kind in ("int", "enum"):
        if quoted or not re.fullmatch(r"-?\d+", text):
            raise RowRefused(f"{column.ini} must be a number, got {text!r}")
        return int(text)
    return text


def cli_value(column: Column, word: str) -> RowValue:
    """A CLI field value as the column's type: enums take the manual's words, ints digits."""
    if column.kind == "enum":
        value = column.value_of_word(word)
        if value is None:
            allowed = "|".join(w for _, w in column.words)
            raise RowRefused(f"{column.cli} {word!r}: Invalid value, expected {{{allowed}}}")
        return value
    if column.kind == "int":
        if not re.fullmatch(r"-?\d+", word):
            raise RowRefused(f"{column.cli} {word!r}: Invalid value, expected a number")
        return int(word)
    return word
