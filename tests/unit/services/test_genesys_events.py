"""Genesys notifications relayed by a workflow data action: only the shared secret gets in, trunk
events feed the health record, audit events queue one Genesys sync, and anything else is ignored."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from fakes import FakeQueue, FakeState

from byoc.domain.jobs import SyncTarget
from byoc.services.genesys_events import (
    SYNC_COALESCE_S,
    CachedSecret,
    GenesysEvents,
)

SECRET = "correct-horse-battery-staple"
TRUNK_ID = "2f139bd7-816e-5f41-be0d-fdfc1a231540"
TRUNK_TOPIC = f"v2.telephony.providers.edges.trunks.{TRUNK_ID}"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def service(secret: str | None = SECRET) -> tuple[GenesysEvents, FakeState, FakeQueue, Clock]:
    def read() -> str:
        if secret is None:
            raise LookupError("BYOC_GENESYS_EVENTS_SECRET_SECRET_NAME is not set")
        return secret

    state, queue, clock = FakeState(), FakeQueue(), Clock()
    events = GenesysEvents(secret=CachedSecret(read), state=state, queue=queue,
                           own_client_id="byoc-client", clock=clock)
    return events, state, queue, clock


def body(topic: str, event: Any) -> bytes:
    return json.dumps({"topicName": topic, "eventBody": event}).encode()


def trunk_event(connected: bool, *, sbc2_ok: bool = True, at: str = "2024-05-01T10:00:00.000Z"
                ) -> dict[str, Any]:
    return {
        "id": TRUNK_ID,
        "connectedStatus": {"connected": connected, "connectedStateTime": at},
        "optionsStatus": [
            {"proxyAddress": "sbc1.byoc.example.net", "optionState": True},
            {"proxyAddress": "sbc2.byoc.example.net", "optionState": sbc2_ok,
             **({} if sbc2_ok else {"errorInfo": {"text": "SIP OPTIONS timed out", "code": "408"}})},
        ],
    }


def audit_event(entity_type: str, entity_id: str, *, client_id: str, action: str = "Update"
                ) -> dict[str, Any]:
    """An audit notification body as the SDK's `AuditTopicAuditLogMessage` serializes it."""
    import PureCloudPlatformClientV2 as G

    client = G.AuditTopicAddressableEntityRef()
    client.id, client.self_uri = client_id, f"/api/v2/oauth/clients/{client_id}"
    entity = G.AuditTopicDomainEntityRef()
    entity.id = entity_id
    message = G.AuditTopicAuditLogMessage()
    message.id, message.service_name, message.level = "a1", "Telephony", "USER"
    message.client_id, message.entity, message.entity_type, message.action = (
        client, entity, entity_type, action)
    serialized: dict[str, Any] = G.ApiClient().sanitize_for_serialization(message)
    return serialized


AUDIT = body("v2.audits.entitytype.DIDPool.entityid.8f0c",
             audit_event("DIDPool", "8f0c", client_id="someone-else"))


# --- authentication ------------------------------------------------------------------------------


@pytest.mark.parametrize("presented", [None, "", "wrong", SECRET + "x", SECRET.upper()])
def test_a_missing_or_wrong_secret_is_refused_and_nothing_happens(presented: str | None) -> None:
    events, state, queue, _ = service()

    reply = events.handle(presented, AUDIT)

    assert reply.status == 401 and "X-Byoc-Secret" in reply.body["error"]
    assert queue.sent == [] and state.data == {}


def test_an_unconfigured_secret_answers_503_not_401() -> None:
    events, _, queue, _ = service(secret=None)

    reply = events.handle("anything", AUDIT)

    assert reply.status == 503 and "BYOC_GENESYS_EVENTS_SECRET_SECRET_NAME" in reply.body["error"]
    assert queue.sent == []


def test_a_rotated_secret_is_read_again_once_the_cached_one_is_a_minute_old() -> None:
    values = iter(["old-secret-value", "new-secret-value"])
    clock = Clock()
    secret = CachedSecret(lambda: next(values), clock=clock)
    events = GenesysEvents(secret=secret, state=FakeState(), queue=FakeQueue())
    assert events.handle("old-secret-value", AUDIT).status == 202

    assert events.handle("new-secret-value", AUDIT).status == 401  # cached a moment ago
    clock.now += 61
    assert events.handle("new-secret-value", AUDIT).status == 202


# --- malformed and unknown ----------------------------------------------------------------------


@pytest.mark.parametrize("raw,problem", [
    (b"not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"eventBody": {}}).encode(), "topicName"),
    (json.dumps({"topicName": "", "eventBody": {}}).encode(), "topicName"),
    (json.dumps({"topicName": TRUNK_TOPIC}).encode(), "eventBody must be a JSON object"),
    (json.dumps({"topicName": TRUNK_TOPIC, "eventBody": "{oops"}).encode(), "not JSON"),
    (body(TRUNK_TOPIC, {"connectedStatus": {"connected": "yes"}}), "connected must be true"),
    (body(TRUNK_TOPIC, {"optionsStatus": {"proxyAddress": "x"}}), "list of objects"),
])
def test_a_malformed_notification_is_refused_with_what_is_wrong(raw: bytes, problem: str) -> None:
    events, state, queue, _ = service()

    reply = events.handle(SECRET, raw)

    assert reply.status == 400 and problem in reply.body["error"]
    assert queue.sent == [] and state.data == {}


def test_an_unknown_topic_is_accepted_and_ignored_with_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events, state, queue, _ = service()
    caplog.set_level(logging.INFO, logger="byoc.genesys.events")

    reply = events.handle(SECRET, body("v2.users.abc.activity", {"id": "abc"}))

    assert reply.status == 202 and reply.body["ignored"] is True
    assert queue.sent == [] and state.data == {}
    assert any(getattr(r, "event", "") == "genesys.events.ignored" for r in caplog.records)


def test_an_eventbody_sent_as_json_text_is_read() -> None:
    events, _, queue, _ = service()

    raw = json.dumps({"topicName": "v2.audits.entitytype.IVR.entityid.x1",
                      "eventBody": json.dumps({"entityType": "IVR"})}).encode()

    assert events.handle(SECRET, raw).status == 202 and len(queue.sent) == 1


# --- trunk events --------------------------------------------------------------------------------


def test_a_disconnected_trunk_is_recorded_down_and_raises_an_alert(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events, state, queue, _ = service()
    state.put("health", f"genesys-trunk:{TRUNK_ID}", {
        "status": "ok", "reason": "fine", "figures": {"name": "Twilio-BYOC"}, "checked_at": "x"})
    caplog.set_level(logging.INFO, logger="byoc.genesys.events")

    reply = events.handle(SECRET, body(TRUNK_TOPIC, trunk_event(False, sbc2_ok=False)))

    assert reply.status == 202 and reply.body["status"] == "down"
    record = state.get("health", f"genesys-trunk:{TRUNK_ID}")
    assert record["status"] == "down" and "'Twilio-BYOC'" in record["reason"]
    assert record["figures"]["connected"] is False and record["figures"]["proxies_failing"] == 1
    alerts = [r for r in caplog.records if getattr(r, "event", "") == "alert.genesys_trunk_down"]
    assert len(alerts) == 1 and alerts[0].levelno == logging.ERROR
    assert queue.sent == []


def test_options_failing_on_one_proxy_is_degraded_and_recovery_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    events, state, _, _ = service()
    caplog.set_level(logging.INFO, logger="byoc.genesys.events")

    degraded = events.handle(SECRET, body(TRUNK_TOPIC, trunk_event(True, sbc2_ok=False)))
    recovered = events.handle(SECRET, body(TRUNK_TOPIC, trunk_event(
        True, at="2024-05-01T10:05:00.000Z")))

    assert degraded.body["status"] == "degraded" and recovered.body["status"] == "ok"
    assert "sbc2.byoc.example.net (SIP OPTIONS timed out)" in caplog.text
    assert any(getattr(r, "event", "") == "genesys.trunk_recovered" for r in caplog.records)
    assert state.get("health", f"genesys-trunk:{TRUNK_ID}")["status"] == "ok"


def test_a_trunk_event_older_than_the_recorded_one_changes_nothing() -> None:
    events, state, _, _ = service()
    events.handle(SECRET, body(TRUNK_TOPIC, trunk_event(True, at="2024-05-01T10:05:00.000Z")))

    late = events.handle(SECRET, body(TRUNK_TOPIC, trunk_event(False, at="2024-05-01T10:00:00Z")))

    assert late.status == 202 and late.body["ignored"] is True
    assert state.get("health", f"genesys-trunk:{TRUNK_ID}")["status"] == "ok"


def test_a_trunk_metrics_topic_is_not_a_trunk_state_event() -> None:
    events, state, _, _ = service()

    reply = events.handle(SECRET, body(f"{TRUNK_TOPIC}.metrics", {"calls": {}}))

    assert reply.body.get("ignored") is True and state.data == {}


# --- audit events --------------------------------------------------------------------------------


@pytest.mark.parametrize("entity", ["DIDPool", "DID", "IVR"])
def test_an_audit_event_on_a_pool_did_or_ivr_queues_a_genesys_sync(entity: str) -> None:
    events, _, queue, _ = service()

    reply = events.handle(SECRET, body(f"v2.audits.entitytype.{entity}.entityid.abc-123",
                                       {"entityType": entity, "action": "Update"}))

    assert reply.status == 202 and reply.body["sync"] == "genesys"
    ((job, delay),) = queue.sent
    assert isinstance(job, SyncTarget) and job.target == "genesys"
    assert entity in job.reason and delay == SYNC_COALESCE_S


def test_audit_events_close_together_share_one_sync_and_a_later_one_queues_another() -> None:
    events, _, queue, clock = service()

    for _ in range(5):
        assert events.handle(SECRET, AUDIT).status == 202
    clock.now += SYNC_COALESCE_S + 1
    events.handle(SECRET, AUDIT)

    assert len(queue.sent) == 2


def test_an_audit_of_byocs_own_change_queues_nothing() -> None:
    events, _, queue, _ = service()

    event = audit_event("IVR", "x", client_id="byoc-client")
    assert event["clientId"] == {"id": "byoc-client", "selfUri": "/api/v2/oauth/clients/byoc-client"}

    reply = events.handle(SECRET, body("v2.audits.entitytype.IVR.entityid.x", event))

    assert reply.status == 202 and reply.body["ignored"] is True and queue.sent == []


def test_an_audit_of_another_clients_change_queues_a_sync() -> None:
    events, _, queue, _ = service()

    reply = events.handle(SECRET, body("v2.audits.entitytype.IVR.entityid.x",
                                       audit_event("IVR", "x", client_id="admin-ui-client")))

    assert reply.status == 202 and len(queue.sent) == 1


def test_an_audit_of_another_entity_type_is_ignored() -> None:
    events, _, queue, _ = service()

    reply = events.handle(SECRET, body("v2.audits.entitytype.Queue.entityid.x", {}))

    assert reply.body.get("ignored") is True and queue.sent == []


# --- as a workflow sends them (it does not know the concrete topic) --------------------------


def test_a_trunk_event_under_the_bare_topic_takes_the_id_from_the_event() -> None:
    events, state, _, _ = service()

    reply = events.handle(SECRET, body("v2.telephony.providers.edges.trunks", trunk_event(False)))

    assert reply.status == 202
    assert state.get("health", f"genesys-trunk:{TRUNK_ID}")["status"] == "down"


def test_an_audit_event_under_the_bare_topic_takes_type_and_id_from_the_event() -> None:
    events, _, queue, _ = service()

    reply = events.handle(SECRET, body("v2.audits", {
        "entityType": "DIDPool", "entity": {"id": "pool-1"}, "action": "Delete"}))

    assert reply.status == 202 and "DIDPool pool-1" in queue.sent[0][0].reason


@pytest.mark.parametrize("topic,event", [
    ("v2.telephony.providers.edges.trunks", {"connectedStatus": {"connected": True}}),
    ("v2.audits", {"entity": {"id": "x"}}),
    ("v2.audits", {"entityType": "IVR", "entity": "x"}),
])
def test_a_bare_topic_without_the_ids_in_the_event_is_malformed(topic: str,
                                                                 event: dict[str, Any]) -> None:
    events, _, queue, _ = service()

    assert events.handle(SECRET, body(topic, event)).status == 400 and queue.sent == []


def test_a_whole_notification_handed_on_by_the_workflow_is_read_by_its_own_topic() -> None:
    events, _, queue, _ = service()
    notification = {"topicName": "v2.audits.entitytype.DIDPool.entityid.p1", "version": "2",
                    "eventBody": audit_event("DIDPool", "p1", client_id="byoc-client"),
                    "metadata": {"CorrelationId": "c1"}}

    reply = events.handle(SECRET, body("v2.audits", notification))

    assert reply.status == 202 and reply.body["reason"] == "byoc's own change"
    assert queue.sent == []
