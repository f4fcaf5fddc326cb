"""Genesys notifications relayed to `POST /api/genesys/events`, turned into health records and syncs.

Genesys cannot call Azure directly: a Process Automation trigger on a notification topic starts a
workflow (data format Json: the event arrives as its `jsonData` input), whose web-services data
action posts `{"topicName": ..., "eventBody": <jsonData>}` here with byoc's shared secret in the
`X-Byoc-Secret` header (docs/genesys.md). Where `jsonData` is the whole notification (`topicName`,
`eventBody`, ...) rather than its body, the inner one is read. What each topic does:

- `v2.telephony.providers.edges.trunks.{id}` (or `...trunks`, the id then read from the event):
  the trunk's health record (`health/genesys-trunk:<id>`, the record the health check keeps) takes
  the event's connected and SIP OPTIONS state; a trunk that goes down is logged as an alert. An
  event older than the one recorded is ignored.
- `v2.audits.entitytype.{DIDPool|DID|IVR|OutboundRoute}.entityid.{id}` (or `v2.audits`, the type
  and id then read from the event): a Genesys sync is queued, so a change made by hand is
  repaired. Events within `SYNC_COALESCE_S` share one sync (queued to run after them); changes
  byoc's own OAuth client made (`eventBody.clientId.id`, the SDK's `AuditTopicAuditLogMessage`)
  are ignored.
- Any other topic: 202, ignored with a log line.

A missing or wrong secret is 401 and changes nothing; a body that is not such a notification is
400. Events are hints: the periodic reconcile and health timers repair whatever an event missed.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from byoc.domain.inventory import now_iso
from byoc.domain.jobs import SyncTarget, new_correlation_id
from byoc.ports import JobQueue, StateStore

log = logging.getLogger("byoc.genesys.events")

SECRET_HEADER = "X-Byoc-Secret"  # noqa: S105 - a header name, not a secret
MAX_BODY_BYTES = 64 * 1024
SYNC_COALESCE_S = 30
SECRET_TTL_S = 300.0
SECRET_RECHECK_AFTER_S = 60.0
HEALTH_NAMESPACE = "health"
TRUNK_COMPONENT = "genesys-trunk:"
"""Health records of trunks are `health/genesys-trunk:<trunk id>`, as the health check writes them."""
EVENTS_NAMESPACE = "genesys-events"
TRUNK_TOPIC = re.compile(r"^v2\.telephony\.providers\.edges\.trunks(?:\.([A-Za-z0-9-]{1,64}))?$")
"""`...trunks.{id}`, or `...trunks` with the id taken from `eventBody.id`."""
AUDIT_TOPIC = re.compile(
    r"^v2\.audits(?:\.entitytype\.([A-Za-z]{1,40})\.entityid\.([A-Za-z0-9._:+-]{1,100}))?$"
)
"""`v2.audits.entitytype.{type}.entityid.{id}`, or `v2.audits` with `eventBody.entityType` and
`eventBody.entity.id` (a workflow does not know the concrete topic it was triggered by)."""
AUDITED_TYPES = frozenset({"DIDPool", "DID", "IVR", "OutboundRoute"})
_ID = re.compile(r"^[A-Za-z0-9._:+-]{1,100}$")


@dataclass(frozen=True)
class EventReply:
    """The HTTP answer: status and JSON body."""

    status: int
    body: dict[str, Any]


class MalformedEvent(ValueError):
    """The body is not a Genesys notification byoc can read."""


class SharedSecret(Protocol):
    """Where the events secret comes from."""

    def value(self, *, fresh: bool = False) -> str:
        """The secret; `fresh` skips any cache (after a mismatch, in case it was rotated)."""
        ...

    def age_s(self) -> float:
        """Seconds since the value was read (0 when not cached)."""
        ...


class CachedSecret:
    """A secret read through `read` (Key Vault), kept for `ttl_s`."""

    def __init__(self, read: Callable[[], str], *, ttl_s: float = SECRET_TTL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._read = read
        self._ttl = ttl_s
        self._clock = clock
        self._value: str | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def value(self, *, fresh: bool = False) -> str:
        with self._lock:
            if fresh or self._value is None or self._clock() - self._at > self._ttl:
                self._value, self._at = self._read(), self._clock()
            return self._value

    def age_s(self) -> float:
        return 0.0 if self._value is None else self._clock() - self._at


class GenesysEvents:
    """Checks, parses and acts on one relayed Genesys notification."""

    def __init__(
        self,
        *,
        secret: SharedSecret,
        state: StateStore,
        queue: JobQueue,
        own_client_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._state = state
        self._queue = queue
        self._own_client_id = own_client_id
        self._clock = clock

    def handle(self, presented_secret: str | None, body: bytes) -> EventReply:
        """Authenticate, parse and dispatch one notification."""
        try:
            authentic = self._authentic(presented_secret)
        except LookupError as exc:
            log.error("Genesys events secret not configured", extra={
                "event": "genesys.events.unconfigured", "error": str(exc)})
            return EventReply(503, {"error": "the Genesys events secret is not configured: set "
                                             "BYOC_GENESYS_EVENTS_SECRET_SECRET_NAME"})
        if not authentic:
            log.warning("Genesys event refused: missing or wrong secret", extra={
                "event": "genesys.events.unauthorized",
                "secret_presented": bool(presented_secret)})
            return EventReply(401, {"error": f"missing or wrong {SECRET_HEADER} header"})
        if len(body) > MAX_BODY_BYTES:
            return EventReply(413, {"error": f"body over {MAX_BODY_BYTES} bytes"})
        try:
            topic, event = _parse(body)
            if match := TRUNK_TOPIC.match(topic):
                return self._trunk(match.group(1) or _event_id(event, "id"), event, topic)
            if match := AUDIT_TOPIC.match(topic):
                entity_type = match.group(1) or _event_text(event, "entityType")
                entity_id = match.group(2) or _event_id(
                    _object(event.get("entity")), "id", "eventBody.entity.id")
                if entity_type in AUDITED_TYPES:
                    return self._audit(entity_type, entity_id, event)
        except MalformedEvent as exc:
            log.warning("Genesys event refused: malformed", extra={
                "event": "genesys.events.malformed", "error": str(exc)})
            return EventReply(400, {"error": str(exc)})
        log.info("Genesys event ignored: topic not handled", extra={
            "event": "genesys.events.ignored", "topic": topic[:200]})
        return EventReply(202, {"ignored": True, "topic": topic[:200]})

    # --- internals -------------------------------------------------------------------------------

    def _authentic(self, presented: str | None) -> bool:
        if not presented:
            self._secret.value()  # an unconfigured secret is a 503, not a 401
            return False
        given = presented.encode("utf-8")
        if hmac.compare_digest(given, self._secret.value().encode("utf-8")):
            return True
        if self._secret.age_s() > SECRET_RECHECK_AFTER_S:
            return hmac.compare_digest(given, self._secret.value(fresh=True).encode("utf-8"))
        return False

    def _trunk(self, trunk_id: str, event: dict[str, Any], topic: str) -> EventReply:
        connected, event_time = _connected(event)
        options = _options(event)
        failing = [o for o in options if o["ok"] is False]
        if connected is False:
            status, reason = "down", "disconnected (Genesys trunk event): calls to and from " \
                "Genesys fail"
        elif options and len(failing) == len(options):
            status, reason = "down", "SIP OPTIONS fail to every SBC: " + _why(failing)
        elif failing:
            status, reason = "degraded", "SIP OPTIONS fail to " + _why(failing)
        elif connected is True or options:
            status, reason = "ok", "connected; SIP OPTIONS answered"
        else:
            log.info("Genesys trunk event without connection or OPTIONS state; ignored", extra={
                "event": "genesys.events.empty", "trunk_id": trunk_id})
            return EventReply(202, {"ignored": True, "reason": "no trunk state in the event"})

        key = f"{TRUNK_COMPONENT}{trunk_id}"
        stored = self._state.get(HEALTH_NAMESPACE, key)
        previous: dict[str, Any] = stored if isinstance(stored, dict) else {}
        found = previous.get("figures")
        figures: dict[str, Any] = found if isinstance(found, dict) else {}
        if _older(event_time, figures.get("event_time")):
            log.info("Genesys trunk event older than the recorded state; ignored", extra={
                "event": "genesys.events.stale", "trunk_id": trunk_id})
            return EventReply(202, {"ignored": True, "reason": "older than the recorded state"})
        name = figures.get("name") or trunk_id
        record = {
            "status": status,
            "reason": f"Genesys trunk {name!r}: {reason}",
            "figures": {
                **{k: v for k, v in figures.items() if k in ("name", "trunk_base")},
                "connected": connected,
                "options": options,
                "proxies": len(options),
                "proxies_failing": len(failing),
                "event_time": event_time,
                "source": "genesys-event",
                "topic": topic,
            },
            "checked_at": now_iso(),
        }
        self._state.put(HEALTH_NAMESPACE, key, record)
        was = previous.get("status")
        fields = {"component": key, "trunk_id": trunk_id, "status": status, "reason": reason}
        if status == "down" and was != "down":
            log.error(f"ALERT: Genesys BYOC trunk {name!r} is down: {reason}", extra={
                "event": "alert.genesys_trunk_down", **fields})
        elif status == "ok" and was in ("down", "degraded"):
            log.warning(f"Genesys BYOC trunk {name!r} recovered", extra={
                "event": "genesys.trunk_recovered", **fields})
        elif status == "degraded":
            log.warning(f"Genesys BYOC trunk {name!r} degraded: {reason}", extra={
                "event": "genesys.trunk_degraded", **fields})
        else:
            log.info(f"Genesys BYOC trunk {name!r}: {status}: {reason}", extra={
                "event": "genesys.trunk_state", **fields})
        return EventReply(202, {"accepted": "trunk", "health": key, "status": status})

    def _audit(self, entity_type: str, entity_id: str, event: dict[str, Any]) -> EventReply:
        client_id = _client_id(event)
        if self._own_client_id and client_id == self._own_client_id:
            log.info("Genesys audit of byoc's own change; ignored", extra={
                "event": "genesys.events.own_change", "entity_type": entity_type,
                "entity_id": entity_id})
            return EventReply(202, {"ignored": True, "reason": "byoc's own change"})
        now = self._clock()
        due = self._state.get(EVENTS_NAMESPACE, "sync-due")
        if isinstance(due, int | float) and due > now:
            log.info("Genesys audit event joins the queued sync", extra={
                "event": "genesys.events.coalesced", "entity_type": entity_type,
                "entity_id": entity_id})
            return EventReply(202, {"accepted": "audit", "sync": "already queued"})
        self._state.put(EVENTS_NAMESPACE, "sync-due", now + SYNC_COALESCE_S)
        correlation_id = new_correlation_id()
        self._queue.send(
            SyncTarget(
                target="genesys",
                reason=f"Genesys audit: {entity_type} {entity_id[:60]} changed",
                correlation_id=correlation_id,
            ),
            delay_s=SYNC_COALESCE_S,
        )
        log.info("Genesys sync queued after an audit event", extra={
            "event": "genesys.events.sync_queued", "entity_type": entity_type,
            "entity_id": entity_id, "correlation_id": correlation_id})
        return EventReply(202, {"accepted": "audit", "sync": "genesys",
                                "correlation_id": correlation_id})


# --- parsing --------------------------------------------------------------------------------------


def _parse(body: bytes) -> tuple[str, dict[str, Any]]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise MalformedEvent(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedEvent("body must be a JSON object with topicName and eventBody")
    topic = data.get("topicName")
    if not isinstance(topic, str) or not topic.strip():
        raise MalformedEvent("topicName must be a non-empty string")
    event = data.get("eventBody")
    if isinstance(event, str):  # a data action template may pass the body as JSON text
        try:
            event = json.loads(event)
        except ValueError:
            raise MalformedEvent("eventBody is text that is not JSON") from None
    if not isinstance(event, dict):
        raise MalformedEvent("eventBody must be a JSON object")
    inner, inner_topic = event.get("eventBody"), event.get("topicName")
    if isinstance(inner, dict) and isinstance(inner_topic, str) and inner_topic.strip():
        # the workflow's `jsonData` was the whole notification: its own topic is the concrete one
        return inner_topic.strip(), inner
    return topic.strip(), event


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _event_text(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"eventBody.{key} must be a non-empty string")
    return value


def _event_id(event: dict[str, Any], key: str, where: str | None = None) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not _ID.match(value):
        raise MalformedEvent(f"{where or 'eventBody.' + key} must be an id (the topic has none)")
    return value


def _client_id(event: dict[str, Any]) -> str | None:
    """The OAuth client that made the audited change: `clientId` is an `AuditTopicAddressableEntityRef`
    (`{id, selfUri}`) in the SDK's `AuditTopicAuditLogMessage`; a bare id (a workflow that flattened
    it) is read too."""
    value = event.get("clientId")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _connected(event: dict[str, Any]) -> tuple[bool | None, str | None]:
    status = event.get("connectedStatus")
    if status is None:
        return None, None
    if not isinstance(status, dict):
        raise MalformedEvent("eventBody.connectedStatus must be an object")
    connected = status.get("connected")
    if connected is not None and not isinstance(connected, bool):
        raise MalformedEvent("eventBody.connectedStatus.connected must be true or false")
    when = status.get("connectedStateTime")
    return connected, when if isinstance(when, str) else None


def _options(event: dict[str, Any]) -> list[dict[str, Any]]:
    raw = event.get("optionsStatus")
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(o, dict) for o in raw):
        raise MalformedEvent("eventBody.optionsStatus must be a list of objects")
    options = []
    for item in raw:
        state = item.get("optionState")
        if state is not None and not isinstance(state, bool):
            raise MalformedEvent("eventBody.optionsStatus[].optionState must be true or false")
        error = item.get("errorInfo")
        text = error.get("text") or error.get("code") if isinstance(error, dict) else None
        options.append({
            "proxy": str(item.get("proxyAddress") or "?")[:200],
            "ok": state,
            "error": str(text)[:300] if text else None,
        })
    return options


def _why(failing: list[dict[str, Any]]) -> str:
    return ", ".join(f"{o['proxy']} ({o['error'] or 'no answer'})" for o in failing[:5])


def _older(new: str | None, old: Any) -> bool:
    if not new or not isinstance(old, str):
        return False
    try:
        return _instant(new) < _instant(old)
    except ValueError:
        return False


def _instant(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
