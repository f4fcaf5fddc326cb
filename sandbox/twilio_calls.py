"""The Calls resource (`/2010-04-01/Accounts/{sid}/Calls.json`): a call to a number on one of the
account's Elastic SIP trunks leaves from a Twilio edge as an INVITE to the trunk's origination URLs,
lowest priority first (sandbox/README-sip.md).
"""

from __future__ import annotations

import math
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

from sandbox.sip_wire import SipDirectory, SipMessage, sdp, sdp_codecs

if TYPE_CHECKING:
    from sandbox.twilio import Call, Handler, TwilioEmulator

# Twilio Elastic SIP Trunking offers G.711 u-law and A-law (Twilio docs, "SIP trunking: codecs").
OFFERED_CODECS = ["PCMU", "PCMA"]
EDGE_SOURCES = {"ashburn": "127.0.0.2", "umatilla": "127.0.0.3"}
"""Loopback address each Twilio edge sends from (the directory maps it to the edge's range)."""
STATUSES = ("queued", "ringing", "in-progress", "completed", "busy", "failed", "no-answer",
            "canceled")
MAX_TWIML = 4000
ANSWER_TIMEOUT_S = 5.0
MAX_HOLD_S = 10.0


@dataclass
class OutboundCall:
    sid: str
    to: str
    from_: str
    twiml: str
    hold_s: float
    created: datetime
    status: str = "queued"
    start: datetime | None = None
    end: datetime | None = None
    legs: list[dict[str, Any]] = field(default_factory=list)
    hang_up: threading.Event = field(default_factory=threading.Event)
    updated: datetime | None = None


def hold_seconds(twiml: str) -> float:
    """How long the TwiML keeps the call up: `<Pause length>` seconds, 1 s per `<Play>` or
    `<Say>`, at least 0.2 s and at most MAX_HOLD_S. ValueError when it is not TwiML."""
    if "<!" in twiml:
        raise ValueError("Twiml may not carry a DTD or entity declarations")
    try:
        root = ET.fromstring(twiml)  # noqa: S314 - no DTD (checked above), at most 4000 chars
    except ET.ParseError as exc:
        raise ValueError(f"Twiml is not well-formed XML: {exc}") from None
    if root.tag != "Response":
        raise ValueError("Twiml must have a <Response> root element")
    total = 0.0
    for verb in root:
        if verb.tag == "Pause":
            total += float(verb.get("length", "1"))
        elif verb.tag in ("Play", "Say"):
            total += 1.0
        elif verb.tag not in ("Hangup", "Reject"):
            raise ValueError(f"the sandbox does not run <{verb.tag}>")
    return min(max(total, 0.2), MAX_HOLD_S)


class TwilioCalls:
    """Outbound-api calls of the account, placed over the sandbox's SIP directory."""

    def __init__(self, emulator: TwilioEmulator) -> None:
        self.e = emulator
        self.directory: SipDirectory | None = None
        self.calls: dict[str, OutboundCall] = {}

    def routes(self, account: str) -> list[tuple[str, dict[str, Handler]]]:
        return [(f"{account}/Calls.json", {"POST": self.create}),
                (f"{account}/Calls/{{sid}}.json", {"GET": self.fetch, "POST": self.update})]

    def state(self) -> list[dict[str, Any]]:
        return [{"sid": c.sid, "to": c.to, "status": c.status, "legs": list(c.legs)}
                for c in self.calls.values()]

    # --- REST -------------------------------------------------------------------------------------

    def create(self, call: Call) -> Response:
        from sandbox.twilio import E164, bad_param

        self.e._check_account(call)
        form = call.form
        to, from_ = form.get("To", "").strip(), form.get("From", "").strip()
        if not to:
            raise bad_param("Required parameter \"To\" missing.", 21201)
        if not E164.match(to):
            raise bad_param(f"Invalid 'To' Phone Number: {to}", 21211)
        if not from_:
            raise bad_param("Required parameter \"From\" missing.", 21213)
        owned = {n.phone_number for n in self.e.numbers.values()}
        if from_ not in owned:
            raise bad_param(f"The source phone number provided, {from_}, is not yet verified "
                            "for your account.", 21210)
        twiml = form.get("Twiml", "")
        if not twiml:
            raise bad_param("Either Url, ApplicationSid or Twiml is required (the sandbox runs "
                            "Twiml only).", 21205)
        if len(twiml) > MAX_TWIML:
            raise bad_param(f"Twiml exceeds {MAX_TWIML} characters.", 21232)
        try:
            hold = hold_seconds(twiml)
        except ValueError as exc:
            raise bad_param(str(exc), 12100) from None
        with self.e.lock:
            placed = OutboundCall(self.e._new_sid("CA", to), to, from_, twiml, hold,
                                  self.e.now())
            self.calls[placed.sid] = placed
        threading.Thread(target=self._run, args=(placed,), daemon=True,
                         name=f"call-{placed.sid}").start()
        return JSONResponse(self._json(placed, call.base), status_code=201)

    def fetch(self, call: Call) -> Response:
        self.e._check_account(call)
        return JSONResponse(self._json(self._call(call), call.base))

    def update(self, call: Call) -> Response:
        from sandbox.twilio import bad_param

        self.e._check_account(call)
        placed = self._call(call)
        status = call.form.get("Status", "")
        if status not in ("completed", "canceled"):
            raise bad_param(f"Status must be completed or canceled, not {status!r}", 21220)
        with self.e.lock:
            if status == "canceled" and placed.status in ("queued", "ringing"):
                placed.status, placed.end = "canceled", self.e.now()
            if status == "completed":
                placed.hang_up.set()
        return JSONResponse(self._json(placed, call.base))

    def _call(self, call: Call) -> OutboundCall:
        from sandbox.twilio import not_found

        found = self.calls.get(call.path_params["sid"])
        if found is None:
            raise not_found(call.path)
        return found

    def _json(self, c: OutboundCall, base: str) -> dict[str, Any]:
        from sandbox.twilio import API_VERSION, rfc2822

        uri = f"/{API_VERSION}/Accounts/{self.e.account_sid}/Calls/{c.sid}.json"
        duration = (math.ceil((c.end - c.start).total_seconds())
                    if c.end is not None and c.start is not None else None)
        return {
            "sid": c.sid, "account_sid": self.e.account_sid, "to": c.to, "to_formatted": c.to,
            "from": c.from_, "from_formatted": c.from_, "status": c.status,
            "direction": "outbound-api", "api_version": API_VERSION,
            "date_created": rfc2822(c.created), "date_updated": rfc2822(c.updated or c.created),
            "start_time": rfc2822(c.start) if c.start else None,
            "end_time": rfc2822(c.end) if c.end else None,
            "duration": str(duration) if duration is not None else None,
            "price": None, "price_unit": "USD", "answered_by": None, "caller_name": None,
            "parent_call_sid": None, "phone_number_sid": None, "queue_time": "0",
            "trunk_sid": None, "group_sid": None, "forwarded_from": None,
            "uri": uri, "subresource_uris": {},
        }

    # --- the call -------------------------------------------------------------------------------

    def _set(self, c: OutboundCall, status: str) -> None:
        with self.e.lock:
            if c.status in ("completed", "busy", "failed", "no-answer", "canceled"):
                return
            c.status, c.updated = status, self.e.now()
            if status == "in-progress":
                c.start = c.updated
            elif status in ("completed", "busy", "failed", "no-answer"):
                c.end = c.updated
                c.start = c.start or c.updated

    def _urls(self, to: str) -> list[str]:
        with self.e.lock:
            number = next((n for n in self.e.numbers.values() if n.phone_number == to), None)
            trunk = self.e.trunks.get(number.trunk_sid or "") if number is not None else None
            if trunk is None:
                return []
            urls = [u for u in trunk.origination_urls.values() if u.enabled]
            urls.sort(key=lambda u: (u.priority, -u.weight, u.serial))
            return [u.sip_url for u in urls]

    def _run(self, c: OutboundCall) -> None:
        urls = self._urls(c.to)
        if not urls or self.directory is None:
            c.legs.append({"error": f"{c.to} is on no trunk with an enabled origination URL "
                                    "(the sandbox does not model the PSTN)"})
            self._set(c, "failed")
            return
        self._set(c, "ringing")
        outcome = "failed"
        for url in urls:
            if c.status == "canceled":
                return
            leg: dict[str, Any] = {"url": url}
            c.legs.append(leg)
            outcome = self._leg(c, url, leg)
            if outcome != "next":
                break
        self._set(c, "failed" if outcome == "next" else outcome)

    def _leg(self, c: OutboundCall, url: str, leg: dict[str, Any]) -> str:
        """One INVITE to one origination URL: the call's outcome, or "next" to fail over (5xx,
        no answer, no connection: Twilio docs, origination URI priority and failover)."""
        assert self.directory is not None
        target, transport, edge = _parse_sip_url(url)
        source = EDGE_SOURCES.get(edge, EDGE_SOURCES["ashburn"])
        began = time.monotonic()
        try:
            stream = self.directory.connect(target, transport, source=source)
        except OSError as exc:
            leg.update(status=None, reason=str(exc))
            return "next"
        host = target.rsplit(":", 1)[0]
        invite = SipMessage(f"INVITE sip:{c.to}@{target} SIP/2.0")
        branch = "z9hG4bK" + secrets.token_hex(8)
        call_id = f"{secrets.token_hex(16)}@{self.e.account_sid}"
        invite.headers = [
            ("via", f"SIP/2.0/{transport} {source}:5061;branch={branch}"),
            ("max-forwards", "70"), ("from", f"<sip:{c.from_}@{source}>;tag={secrets.token_hex(4)}"),
            ("to", f"<sip:{c.to}@{host}>"), ("call-id", call_id), ("cseq", "1 INVITE"),
            ("contact", f"<sip:{c.from_}@{source}:5061;transport={transport.lower()}>"),
            ("x-twilio-callsid", c.sid), ("content-type", "application/sdp"),
        ]
        invite.body = sdp(OFFERED_CODECS, source)
        try:
            stream.send(invite)
            final = stream.final(ANSWER_TIMEOUT_S)
            leg["answer_s"] = round(time.monotonic() - began, 3)
            if final is None:
                leg.update(status=408, reason="no answer")
                return "next"
            leg.update(status=final.status, reason=final.reason, warning=final.header("warning"))
            if final.status != 200:
                if final.status >= 500:
                    return "next"
                return "busy" if final.status in (486, 600) else "failed"
            answered = sdp_codecs(final.body)
            leg["codec"] = answered[0] if answered else None
            self._set(c, "in-progress")
            to_header = final.header("to") or invite.header("to") or ""
            ack = SipMessage(f"ACK sip:{c.to}@{target} SIP/2.0", [
                ("via", f"SIP/2.0/{transport} {source}:5061;branch=z9hG4bK{secrets.token_hex(8)}"),
                ("from", invite.header("from") or ""), ("to", to_header), ("call-id", call_id),
                ("cseq", "1 ACK")])
            stream.send(ack)
            c.hang_up.wait(c.hold_s)
            bye = SipMessage(f"BYE sip:{c.to}@{target} SIP/2.0", [
                ("via", f"SIP/2.0/{transport} {source}:5061;branch=z9hG4bK{secrets.token_hex(8)}"),
                ("from", invite.header("from") or ""), ("to", to_header), ("call-id", call_id),
                ("cseq", "2 BYE")])
            stream.send(bye)
            ended = stream.final(ANSWER_TIMEOUT_S)
            leg["bye"] = ended.status if ended is not None else None
            return "completed"
        finally:
            stream.close()


def _parse_sip_url(url: str) -> tuple[str, str, str]:
    """(host:port, transport, edge) of an origination URL `sip:host[:port][;transport=..][;edge=..]`."""
    body = url.removeprefix("sips:").removeprefix("sip:")
    hostport, *params = body.split(";")
    options = dict(p.split("=", 1) for p in params if "=" in p)
    transport = options.get("transport", "udp").upper()
    if ":" not in hostport:
        hostport += ":5061" if transport == "TLS" else ":5060"
    return hostport, transport, options.get("edge", "ashburn").lower()
