"""Notifications the emulated org sends out, the way a Genesys org reaches an HTTP endpoint.

Genesys has no webhook for platform notifications. What reaches an HTTPS endpoint is a Process
Automation trigger on a notification topic, whose Architect workflow gets the event (data format
"Json": an input variable `jsonData` holding "the entire event", Resource Center "Create a
trigger", help.mypurecloud.com/?p=312222) and calls a web-services data action; the data action's
request (URL, body template, static headers such as a shared secret) is what the admin configures.
Triggers run after the event, asynchronously.

This module plays trigger + workflow + data action for two topics:

- `v2.audits` (audit of a write; body: the SDK's `AuditTopicAuditLogMessage`: `clientId` is an
  object `{id, selfUri}`, `entity` `{id, name, selfUri}`, `entityType`, `action`, ...);
- `v2.telephony.providers.edges.trunks` (trunk state; body: `TrunkInstanceTopicTrunk`: `id`,
  `connectedStatus`, `optionsStatus[]`).

The data action posts `{"topicName": <the trigger's topic>, "eventBody": <jsonData>}` with the
configured secret header (the template docs/genesys.md tells the admin to set). What `jsonData`
holds is the `trigger_envelope` variant: the event body alone ("event-body"), or the whole
notification `{topicName, version, eventBody, metadata}` ("notification"). The workflow does not
know the concrete topic, so the data action names the bare one.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

AUDIT_TOPIC = "v2.audits"
TRUNK_TOPIC = "v2.telephony.providers.edges.trunks"
UI_CLIENT_ID = "genesys-admin-ui"
"""The client id audits carry for changes made by an administrator in the Genesys UI."""
SERVICES = {"DIDPool": "Telephony", "IVR": "Architect", "OutboundRoute": "Telephony"}


def _iso(at: float) -> str:
    return dt.datetime.fromtimestamp(at, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Delivery:
    """One data action call: what was sent and what came back."""

    topic: str
    body: dict[str, Any]
    status: int | None = None
    reply: Any = None


@dataclass
class Notifier:
    """The trigger → workflow → data action path to one URL (off until configured)."""

    envelope: Callable[[], str]
    url: str | None = None
    secret: str | None = None
    header: str = "X-Byoc-Secret"
    topics: tuple[str, ...] = (AUDIT_TOPIC, TRUNK_TOPIC)
    deliveries: list[Delivery] = field(default_factory=list)
    _queue: queue.Queue[Delivery | None] = field(default_factory=queue.Queue)
    _worker: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def configure(self, body: dict[str, Any]) -> None:
        """`{"url", "secret", "header"?, "topics"?}`; `{"url": null}` turns delivery off."""
        unknown = set(body) - {"url", "secret", "header", "topics"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(unknown)}")
        url = body.get("url")
        if url is not None and (not isinstance(url, str) or not url.startswith("http")):
            raise ValueError("url must be an http(s) URL or null")
        topics = tuple(body.get("topics") or (AUDIT_TOPIC, TRUNK_TOPIC))
        if set(topics) - {AUDIT_TOPIC, TRUNK_TOPIC}:
            raise ValueError(f"topics must be among {AUDIT_TOPIC}, {TRUNK_TOPIC}")
        self.url, self.secret, self.topics = url, body.get("secret"), topics
        self.header = str(body.get("header") or "X-Byoc-Secret")

    def idle(self) -> bool:
        """True when every queued delivery has been made."""
        return self._queue.unfinished_tasks == 0

    def audit(self, *, client_id: str, entity_type: str, action: str, entity: dict[str, Any],
              now: float) -> None:
        """An audited write (as `AuditTopicAuditLogMessage`)."""
        self._emit(AUDIT_TOPIC, f"{AUDIT_TOPIC}.entitytype.{entity_type}.entityid.{entity['id']}", {
            "id": str(uuid.uuid4()),
            "clientId": {"id": client_id, "selfUri": f"/api/v2/oauth/clients/{client_id}"},
            "serviceName": SERVICES.get(entity_type, "Telephony"),
            "level": "USER",
            "eventTime": _iso(now),
            "action": action,
            "entityType": entity_type,
            "entity": entity,
        }, now)

    def trunk(self, trunk_json: dict[str, Any], now: float) -> None:
        """A trunk's state changed (as `TrunkInstanceTopicTrunk`)."""
        body = {key: trunk_json[key] for key in ("id", "connectedStatus", "optionsStatus")
                if key in trunk_json}
        self._emit(TRUNK_TOPIC, f"{TRUNK_TOPIC}.{trunk_json['id']}", body, now)

    def _emit(self, bare: str, concrete: str, event: dict[str, Any], now: float) -> None:
        if self.url is None or bare not in self.topics:
            return
        data: dict[str, Any] = event
        if self.envelope() == "notification":
            data = {"topicName": concrete, "version": "2", "eventBody": event,
                    "metadata": {"CorrelationId": str(uuid.uuid4())}}
        delivery = Delivery(topic=bare, body={"topicName": bare, "eventBody": data})
        with self._lock:
            self.deliveries.append(delivery)
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, daemon=True,
                                                name="genesys-notifications")
                self._worker.start()
        self._queue.put(delivery)

    def _run(self) -> None:
        with httpx.Client(timeout=30.0) as client:
            while True:
                delivery = self._queue.get()
                if delivery is None:
                    return
                try:
                    headers = {self.header: self.secret} if self.secret else {}
                    reply = client.post(str(self.url), json=delivery.body, headers=headers)
                    delivery.status = reply.status_code
                    try:
                        delivery.reply = reply.json()
                    except ValueError:
                        delivery.reply = reply.text[:500]
                except httpx.HTTPError as exc:
                    delivery.status, delivery.reply = None, f"not delivered: {exc}"
                finally:
                    self._queue.task_done()

    def state(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{"topic": d.topic, "body": d.body, "status": d.status, "reply": d.reply}
                    for d in self.deliveries]
