"""The emulated SBC's call routing: an INVITE is handled by the configuration the SBC holds
(sandbox/README-sip.md cites the manual section of each step).

1. SIP interface: the one whose `TLSPort` the caller connected to.
2. Classification (rows in index order): source SIP interface, source address (the public address
   the loopback source stands for), transport; `ActionType` allow gives the source IP Group. No
   match: the interface's `ClassificationFailureResponseType` (0 = no answer at all).
3. Dial plan: the source IP Group's `SBCDialPlanName`, best match of the Request-URI user -> tag.
4. IP-to-IP routing (index order, first match): source IP Group (or Any), request type, and
   `DestTags` equal to the tag when the row names one. `DestType` internal replies as
   `InternalAction` says; `DestType` IP Group forwards.
5. Destination IP Group: its IP Profile's coder group filters the offer (488 when nothing is
   left); its `OutboundManSet` rewrites the Request-URI host; its Proxy Set's first proxy address
   and transport is where the INVITE goes. The answer is relayed; ACK and BYE follow the dialog.
"""

from __future__ import annotations

import re
import secrets
import ssl
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sandbox.audiocodes_dialplan import RuleCandidate, best_rule
from sandbox.audiocodes_tables import address_matches
from sandbox.audiocodes_tls import sip_response
from sandbox.sip_wire import (
    SipDirectory,
    SipError,
    SipMessage,
    SipStream,
    common_codecs,
    response,
    sdp,
    sdp_codecs,
    uri_user,
    with_host,
)

if TYPE_CHECKING:
    from sandbox.audiocodes import AudioCodesEmulator

# AudioCodes coder names (Coders Group table) and the SDP encoding names they offer.
CODER_SDP_NAMES = {"g711ulaw64k": "PCMU", "g711alaw64k": "PCMA", "g729": "G729", "g722": "G722",
                   "opus": "opus"}
_TRANSPORTS = {0: "UDP", 1: "TCP", 2: "TLS", -1: "TLS"}
_REPLY = re.compile(r"Reply\(Response='(\d{3})'\)")
FORWARD_TIMEOUT_S = 5.0
LOOPBACK = "127.0.0.1"


class Refusal(Exception):
    """The SBC answers the INVITE itself: `status` (None: no answer at all) and why."""

    def __init__(self, status: int | None, reason: str, why: str) -> None:
        super().__init__(why)
        self.status, self.reason, self.why = status, reason, why


@dataclass
class Route:
    """Where one INVITE goes, as the configuration decided it."""

    source_group: str
    tag: str | None
    route_name: str
    dest_group: str
    target: str
    transport: str
    request_uri: str
    codecs: list[str]


class SbcCallRouter:
    """Serves SIP connections on an emulated SBC's TLS port by its running configuration."""

    def __init__(self, sbc: AudioCodesEmulator) -> None:
        self.sbc = sbc
        self.directory: SipDirectory | None = None
        self.port = 5061
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    # --- configuration lookups ---------------------------------------------------------------

    def _rows(self, table: str) -> list[tuple[int, dict[str, Any]]]:
        return sorted(self.sbc.running.tables.table(table).items())

    def _named(self, table: str, column: str, name: str) -> dict[str, Any] | None:
        for _, row in self._rows(table):
            if str(row.get(column, "")).lower() == name.lower():
                return row
        return None

    def interface(self, port: int) -> dict[str, Any] | None:
        """The SIP interface listening for TLS on `port`."""
        for _, row in self._rows("SIPInterface"):
            if int(row.get("TLSPort", 0)) == port:
                return row
        return None

    def resolve(self, transport: str, port: int) -> str | None:
        """The listener serving `port` over `transport`, when a SIP interface names it."""
        with self.sbc.lock:
            if transport != "TLS" or self.interface(port) is None:
                return None
            self.port = port
        return self.sbc.tls_listener_address()

    def classify(self, interface: dict[str, Any], source: str) -> str:
        name = str(interface["InterfaceName"])
        for _, row in self._rows("Classification"):
            if str(row.get("SrcSIPInterfaceName") or name).lower() != name.lower():
                continue
            if not address_matches(str(row.get("SrcAddress", "")), source):
                continue
            if int(row.get("SrcTransportType", -1)) not in (-1, 2):
                continue
            if int(row.get("ActionType", 1)) == 0:
                raise Refusal(403, "Forbidden",
                              f"Classification {row['ClassificationName']!r} denies {source}")
            return str(row["SrcIPGroupName"])
        code = int(interface.get("ClassificationFailureResponseType", 500))
        raise Refusal(code or None, "Classification Failed",
                      f"no Classification row of SIP interface {name} matches source {source} "
                      "over TLS")

    def dial_plan_tag(self, group: dict[str, Any], number: str) -> str | None:
        plan_name = str(group.get("SBCDialPlanName") or "")
        if not plan_name:
            return None
        plan = self.sbc.running.plan_named(plan_name)
        if plan is None:
            return None
        candidates = [RuleCandidate(r.rule_index, r.name, r.prefix, r.tag)
                      for r in plan.rules.values()]
        best, _ = best_rule(candidates, number, case_sensitive=plan.prefix_case_sensitive,
                            range_outranks_x=self.sbc.options.range_outranks_x)
        return best.tag if best is not None else None

    def coders(self, group: dict[str, Any]) -> list[str] | None:
        profile = self._named("IpProfile", "ProfileName", str(group.get("ProfileName") or ""))
        if profile is None:
            return None
        coder_group = str(profile.get("CodersGroupName") or "")
        names = [str(row["Name"]) for _, row in self._rows("AudioCoders")
                 if str(row.get("AudioCodersGroupId", "")).lower() == coder_group.lower()]
        return [CODER_SDP_NAMES.get(n.lower(), n) for n in names]

    def rewrite(self, group: dict[str, Any], uri: str) -> str:
        man_set = int(group.get("OutboundManSet", -1))
        for _, row in self._rows("MessageManipulations"):
            if int(row.get("ManSetID", -2)) != man_set or row.get("Condition"):
                continue
            if str(row.get("MessageType", "")).lower() not in ("invite.request", "invite", "any"):
                continue
            if (str(row.get("ActionSubject", "")).lower() == "header.request-uri.url.host"
                    and int(row.get("ActionType", -1)) == 2):
                uri = with_host(uri, str(row.get("ActionValue", "")).strip("'\""))
        return uri

    def proxy(self, group: dict[str, Any]) -> tuple[str, str]:
        name = str(group.get("ProxySetName") or "")
        for index, row in self._rows("ProxySet"):
            if str(row.get("ProxyName", "")).lower() == name.lower():
                addresses = [r for _, r in self._rows("ProxyIp") if str(r["ProxySetId"]) == str(index)]
                addresses.sort(key=lambda r: int(r.get("ProxyIpIndex", 0)))
                if addresses:
                    first = addresses[0]
                    return str(first["IpAddress"]), _TRANSPORTS.get(int(first["TransportType"]), "TLS")
        raise Refusal(503, "Service Unavailable",
                      f"Proxy Set {name!r} of the destination IP Group has no proxy address")

    def route(self, request: SipMessage, source: str) -> Route:
        """Decide where an INVITE goes, or raise Refusal with the step that refused it."""
        with self.sbc.lock:
            interface = self.interface(self.port)
            if interface is None:
                raise Refusal(None, "", f"no SIP interface listens for TLS on {self.port}")
            source_group = self.classify(interface, source)
            group = self._named("IPGroup", "Name", source_group)
            number = uri_user(request.uri)
            tag = self.dial_plan_tag(group or {}, number)
            for _, row in self._rows("IP2IPRouting"):
                src = str(row.get("SrcIPGroupName") or "Any")
                if src.lower() not in ("any", source_group.lower()):
                    continue
                if int(row.get("RequestType", 0)) not in (0, 1, 4, 5):
                    continue
                wanted = str(row.get("DestTags") or "")
                if wanted and wanted != tag:
                    continue
                name = str(row["RouteName"])
                if int(row.get("DestType", 0)) == 13:
                    reply = _REPLY.search(str(row.get("InternalAction", "")))
                    code = int(reply.group(1)) if reply else 500
                    plan = (group or {}).get("SBCDialPlanName") or "(none)"
                    raise Refusal(code, "Not Found" if code == 404 else "Rejected",
                                  f"IP-to-IP route {name!r} replies {code}: dial plan {plan} "
                                  f"gave {number} the tag {tag!r}, which no route to an IP "
                                  "Group names")
                if int(row.get("DestType", 0)) != 0:
                    continue
                dest_name = str(row["DestIPGroupName"])
                dest = self._named("IPGroup", "Name", dest_name)
                if dest is None:
                    raise Refusal(500, "Server Internal Error", f"IP Group {dest_name} is missing")
                target, transport = self.proxy(dest)
                codecs = self.coders(dest)
                offered = sdp_codecs(request.body)
                kept = offered if codecs is None else common_codecs(offered, codecs)
                if not kept:
                    raise Refusal(488, "Not Acceptable Here",
                                  f"no offered codec ({', '.join(offered) or 'none'}) is in the "
                                  f"coders of IP Profile {dest.get('ProfileName')} "
                                  f"({', '.join(codecs or [])})")
                return Route(source_group, tag, name, dest_name, target, transport,
                             self.rewrite(dest, request.uri), kept)
            raise Refusal(404, "Not Found", f"no IP-to-IP route matches the call from "
                          f"{source_group} to {number} (tag {tag!r})")

    # --- the connection ------------------------------------------------------------------------

    def serve(self, tls: ssl.SSLSocket, peer: str) -> bool:
        """Serve one caller connection (the dialog lives as long as the connection)."""
        if self.directory is None:
            return False
        upstream = SipStream(tls)
        downstream: SipStream | None = None
        record: dict[str, Any] = {}
        try:
            while True:
                request = upstream.read()
                if request is None:
                    return True
                if not request.is_request:
                    continue
                if request.method == "INVITE":
                    downstream, record = self._invite(upstream, request, peer)
                elif request.method in ("ACK", "BYE") and downstream is not None:
                    self._relay_in_dialog(upstream, downstream, request, record)
                elif request.method == "BYE":
                    upstream.send(response(request, 481, "Call/Transaction Does Not Exist"))
                elif request.method == "OPTIONS" and self._has_interface():
                    self._options(upstream, request, peer)
                else:
                    answer = sip_response(request.encode(), self.sbc._server_header())
                    if answer is not None:
                        tls.sendall(answer)
        except (OSError, SipError):
            return True
        finally:
            if downstream is not None:
                downstream.close()

    def _has_interface(self) -> bool:
        with self.sbc.lock:
            return self.interface(self.port) is not None

    def _options(self, upstream: SipStream, request: SipMessage, peer: str) -> None:
        """OPTIONS by the routes: classified, then the first IP-to-IP row for OPTIONS (or all
        requests) from the source IP Group; an internal row replies with its code."""
        assert self.directory is not None
        source = self.directory.public(peer)
        with self.sbc.lock:
            interface = self.interface(self.port)
            assert interface is not None
            try:
                group = self.classify(interface, source)
            except Refusal as refusal:
                if refusal.status is not None:
                    upstream.send(response(request, refusal.status, refusal.reason,
                                           warning=self._warning(refusal.why)))
                return  # ClassificationFailureResponseType 0: no answer at all
            for _, row in self._rows("IP2IPRouting"):
                src = str(row.get("SrcIPGroupName") or "Any")
                if src.lower() not in ("any", group.lower()) or row.get("DestTags"):
                    continue
                if int(row.get("RequestType", 0)) not in (0, 6):
                    continue
                reply = _REPLY.search(str(row.get("InternalAction", "")))
                if int(row.get("DestType", 0)) == 13 and reply:
                    code = int(reply.group(1))
                    upstream.send(response(request, code, "OK" if code == 200 else "Rejected",
                                           extra=[("server", self.sbc._server_header())]))
                    return
                break
        upstream.send(response(request, 404, "Not Found", warning=self._warning(
            f"no IP-to-IP route answers OPTIONS from {group}")))

    def _invite(self, upstream: SipStream, request: SipMessage,
                peer: str) -> tuple[SipStream | None, dict[str, Any]]:
        assert self.directory is not None
        source = self.directory.public(peer)
        record: dict[str, Any] = {"call_id": request.header("call-id"), "source": source,
                                  "number": uri_user(request.uri)}
        with self._lock:
            self.calls.append(record)
        upstream.send(response(request, 100, "Trying"))
        try:
            route = self.route(request, source)
        except Refusal as refusal:
            record.update(status=refusal.status, why=refusal.why)
            if refusal.status is not None:
                upstream.send(response(request, refusal.status, refusal.reason,
                                       warning=self._warning(refusal.why)))
            else:
                upstream.sock.close()
            return None, record
        record.update(source_group=route.source_group, tag=route.tag, route=route.route_name,
                      dest_group=route.dest_group, target=route.target,
                      request_uri=route.request_uri, offered=route.codecs)
        try:
            downstream = self.directory.connect(route.target, route.transport, source=LOOPBACK)
        except OSError as exc:
            why = f"IP Group {route.dest_group}: {route.target} unreachable: {exc}"
            record.update(status=503, why=why)
            upstream.send(response(request, 503, "Service Unavailable", warning=self._warning(why)))
            return None, record
        onward = SipMessage(f"INVITE {route.request_uri} SIP/2.0")
        branch = "z9hG4bK" + secrets.token_hex(8)
        onward.headers = [
            ("via", f"SIP/2.0/TLS {self.sbc.fqdn}:{self.port};branch={branch}"),
            ("max-forwards", "69"),
            ("from", request.header("from") or ""),
            ("to", f"<{route.request_uri}>"),
            ("call-id", f"{secrets.token_hex(12)}@{self.sbc.fqdn}"),
            ("cseq", "1 INVITE"),
            ("contact", f"<sip:{self.sbc.fqdn}:{self.port};transport=tls>"),
            ("user-agent", self.sbc._server_header()),
        ]
        onward.body = sdp(route.codecs, self._media_address())
        onward.set("content-type", "application/sdp")
        downstream.send(onward)
        final = downstream.final(FORWARD_TIMEOUT_S)
        if final is None:
            why = f"no answer from IP Group {route.dest_group} ({route.target})"
            record.update(status=408, why=why)
            upstream.send(response(request, 408, "Request Timeout", warning=self._warning(why)))
            downstream.close()
            return None, record
        record.update(status=final.status, why=final.header("warning") or final.reason)
        body = b""
        if final.status == 200:
            answered = sdp_codecs(final.body)
            record["codec"] = answered[0] if answered else None
            body = sdp(answered[:1], self._media_address())
        relayed = response(request, final.status, final.reason, body=body,
                           warning=final.header("warning"))
        upstream.send(relayed)
        record["downstream_invite"] = onward
        record["downstream_to"] = final.header("to")
        if final.status != 200:
            downstream.close()
            return None, record
        return downstream, record

    def _relay_in_dialog(self, upstream: SipStream, downstream: SipStream, request: SipMessage,
                         record: dict[str, Any]) -> None:
        invite: SipMessage = record["downstream_invite"]
        onward = SipMessage(f"{request.method} {invite.uri} SIP/2.0")
        onward.headers = [
            ("via", f"SIP/2.0/TLS {self.sbc.fqdn}:{self.port};branch=z9hG4bK{secrets.token_hex(8)}"),
            ("max-forwards", "69"), ("from", invite.header("from") or ""),
            ("to", record.get("downstream_to") or invite.header("to") or ""),
            ("call-id", invite.header("call-id") or ""),
            ("cseq", f"{1 if request.method == 'ACK' else 2} {request.method}"),
        ]
        downstream.send(onward)
        if request.method == "BYE":
            final = downstream.final(FORWARD_TIMEOUT_S)
            record["ended"] = True
            status = final.status if final is not None else 408
            upstream.send(response(request, status, final.reason if final else "Request Timeout"))

    def _media_address(self) -> str:
        return str(self.sbc.status_fields.get("ipAddress") or LOOPBACK)

    def _warning(self, why: str) -> str:
        return f'399 {self.sbc.fqdn} "{why.replace(chr(34), chr(39))}"'
