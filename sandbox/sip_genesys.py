"""Genesys Cloud as a BYOC Cloud trunk's far end: answers an INVITE by the org's own state, and
keeps the conversations the analytics API reports (sandbox/README-sip.md cites the sources).

- Request-URI host: `<inbound SIP termination identifier>.byoc.<region domain>` of a BYOC trunk
  base; anything else is 404 (no trunk takes the call).
- The trunk of that base must be in service, else 503.
- The number (Request-URI user) must be in an active DID pool (404) and routed to an IVR with a
  flow or to a user (480 otherwise).
- The offer's codecs must meet the trunk base's `trunk_media_codec` (488 otherwise); the answer
  carries the intersection in the offer's order.
"""

from __future__ import annotations

import datetime as dt
import ssl
import threading
import uuid
from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.audiocodes_tls import ServedIdentity, self_signed
from sandbox.genesys_wire import bad_request, iso_time
from sandbox.sip_wire import (
    SipError,
    SipMessage,
    SipStream,
    common_codecs,
    response,
    sdp,
    sdp_codecs,
    uri_host,
    uri_user,
)

if TYPE_CHECKING:
    from sandbox.genesys import ApiCall, GenesysEmulator

# Media codec names of the trunk base (`audio/pcmu`) and the SDP encoding names.
_MEDIA_CODECS = {"audio/pcmu": "PCMU", "audio/pcma": "PCMA", "audio/opus": "opus",
                 "audio/g729": "G729", "audio/g722": "G722"}
_SDP_TO_MEDIA = {v.upper(): k for k, v in _MEDIA_CODECS.items()}
MEDIA_ADDRESS = "192.0.2.40"


class GenesysSip:
    """The org's SIP side: serves connections from the SBCs, records conversations."""

    def __init__(self, emulator: GenesysEmulator, *, region_domain: str,
                 identifiers: dict[str, str]) -> None:
        self.emulator = emulator
        self.region_domain = region_domain
        self.identifiers = identifiers
        """trunk base name -> its Inbound SIP Termination Identifier."""
        self.conversations: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        key = ec.generate_private_key(ec.SECP256R1())
        self.identity = ServedIdentity(key, self_signed(key, common_name=f"*.byoc.{region_domain}"),
                                       ())

    def host_for(self, identifier: str) -> str:
        return f"{identifier}.byoc.{self.region_domain}".lower()

    # --- answering ------------------------------------------------------------------------------

    def _decide(self, request: SipMessage) -> tuple[int, str, str, dict[str, Any]]:
        """(status, reason, why, conversation facts) for an INVITE, from the org's state."""
        org = self.emulator.org
        host = uri_host(request.uri).lower()
        base = next((b for b in org.trunk_bases.values()
                     if b.name in self.identifiers and self.host_for(self.identifiers[b.name]) == host),
                    None)
        if base is None:
            return 404, "Not Found", (f"no BYOC trunk has the inbound SIP termination identifier "
                                      f"of {host}"), {}
        trunk = next((t for t in org.trunks.values() if t.trunk_base is base), None)
        if trunk is None or not trunk.in_service or not trunk.enabled:
            return 503, "Service Unavailable", f"trunk {base.name} is not in service", {}
        number = uri_user(request.uri)
        pool = org.pool_for(number)
        if pool is None or pool.state == "deleted":
            return 404, "Not Found", f"{number} is in no DID pool", {}
        owner = org.holder(number)
        if owner is not None and number not in org.numbers_of(owner[1]):
            owner = None
        if owner is None:
            return 480, "Temporarily Unavailable", (f"{number} (DID pool {pool.name}) is routed "
                                                    "to no IVR or user"), {}
        kind, entity = owner
        flow = getattr(entity, "open_hours_flow", None)
        if kind == "IVR_CONFIG" and flow is None:
            return 480, "Temporarily Unavailable", f"IVR {entity.name} has no flow", {}
        value = (base.properties.get("trunk_media_codec") or {}).get("value") or {}
        allowed = value.get("instance") or value.get("default") or []
        supported = [_MEDIA_CODECS.get(str(c).lower(), str(c)) for c in allowed]
        offered = sdp_codecs(request.body)
        kept = common_codecs(offered, supported)
        if not kept:
            return 488, "Not Acceptable Here", (f"no offered codec ({', '.join(offered)}) is in "
                                                f"trunk {base.name}'s media codecs "
                                                f"({', '.join(supported)})"), {}
        facts = {"trunk": trunk, "number": number, "codecs": kept, "owner": entity, "kind": kind,
                 "flow": flow.name if flow is not None else None}
        return 200, "OK", "", facts

    def serve(self, tls: ssl.SSLSocket, peer: str) -> bool:
        stream = SipStream(tls)
        conversation: dict[str, Any] | None = None
        try:
            while True:
                request = stream.read()
                if request is None:
                    break
                if not request.is_request or request.method == "ACK":
                    continue
                if request.method == "INVITE":
                    stream.send(response(request, 100, "Trying"))
                    conversation = self._invite(stream, request, peer)
                elif request.method == "BYE":
                    if conversation is not None and conversation["end"] is None:
                        conversation["end"] = self.emulator.now()
                        stream.send(response(request, 200, "OK"))
                    else:
                        stream.send(response(request, 481, "Call/Transaction Does Not Exist"))
                elif request.method == "OPTIONS":
                    stream.send(response(request, 200, "OK"))
                else:
                    stream.send(response(request, 501, "Not Implemented"))
        except (OSError, SipError):
            pass
        if conversation is not None and conversation["end"] is None:
            conversation["end"] = self.emulator.now()
        return True

    def _invite(self, stream: SipStream, request: SipMessage,
                peer: str) -> dict[str, Any] | None:
        with self.emulator.lock:
            status, reason, why, facts = self._decide(request)
            now = self.emulator.now()
            if status == 200:
                facts["trunk"].inbound_calls += 1
        if status != 200:
            stream.send(response(request, status, reason, warning=f'399 genesys "{why}"'))
            return None
        conversation: dict[str, Any] = {
            "id": str(uuid.uuid4()), "start": now, "end": None, "dnis": facts["number"],
            "ani": uri_user((request.header("from") or "").strip("<>").split(">")[0]),
            "codec": facts["codecs"][0], "trunk": facts["trunk"].name, "peer": peer,
            "routed_to": {"type": facts["kind"], "name": facts["owner"].name,
                          "flow": facts["flow"]},
        }
        with self._lock:
            self.conversations.append(conversation)
        stream.send(response(request, 200, "OK", body=sdp(facts["codecs"], MEDIA_ADDRESS),
                             extra=[("contact", f"<sip:{MEDIA_ADDRESS}:5061;transport=tls>")]))
        return conversation

    # --- analytics --------------------------------------------------------------------------------

    def query(self, call: ApiCall) -> tuple[int, Any]:
        """POST /api/v2/analytics/conversations/details/query (ConversationQuery): the interval
        and `segmentFilters` predicates on `dnis` (SDK SegmentDetailQueryPredicate)."""
        body = call.json()
        if not isinstance(body, dict) or not isinstance(body.get("interval"), str):
            raise bad_request("interval is required (ISO-8601 start/end)")
        try:
            start_text, end_text = body["interval"].split("/")
            start = dt.datetime.fromisoformat(start_text.replace("Z", "+00:00")).timestamp()
            end = dt.datetime.fromisoformat(end_text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise bad_request(f"interval {body['interval']!r} is not start/end in ISO-8601") from None
        wanted: set[str] = set()
        for group in body.get("segmentFilters") or []:
            for predicate in (group or {}).get("predicates") or []:
                if predicate.get("dimension") == "dnis":
                    wanted.add(str(predicate.get("value", "")).removeprefix("tel:"))
                elif predicate.get("dimension") is not None:
                    raise bad_request(f"dimension {predicate.get('dimension')!r} is not "
                                      "supported by the sandbox")
        with self._lock:
            found = [c for c in self.conversations if start <= c["start"] < end
                     and (not wanted or c["dnis"] in wanted)]
        found.sort(key=lambda c: c["start"], reverse=body.get("order") != "asc")
        return 200, {"conversations": [self._details(c) for c in found],
                     "totalHits": len(found)}

    @staticmethod
    def _details(c: dict[str, Any]) -> dict[str, Any]:
        session = {
            "mediaType": "voice", "direction": "inbound", "dnis": f"tel:{c['dnis']}",
            "ani": f"tel:{c['ani']}", "sessionId": c["id"],
            "mediaEndpointStats": [{"codecs": [_SDP_TO_MEDIA.get(c["codec"].upper(), c["codec"])],
                                    "eventTime": iso_time(c["start"])}],
            "segments": [{"segmentStart": iso_time(c["start"]), "segmentType": "interact",
                          **({"segmentEnd": iso_time(c["end"])} if c["end"] else {})}],
        }
        participant = {"purpose": "ivr" if c["routed_to"]["type"] == "IVR_CONFIG" else "agent",
                       "participantName": c["routed_to"]["name"], "sessions": [session]}
        out: dict[str, Any] = {
            "conversationId": c["id"], "conversationStart": iso_time(c["start"]),
            "originatingDirection": "inbound",
            "participants": [{"purpose": "customer", "sessions": [session]}, participant],
        }
        if c["end"] is not None:
            out["conversationEnd"] = iso_time(c["end"])
        return out
