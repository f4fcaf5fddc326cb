"""The Twilio number webhook: signatures checked with the SDK's own RequestValidator, payloads parsed.

Every request here is signed the way a sender does it (docs/twilio.md): `RequestValidator(token)
.compute_signature(url, params)` over the public URL the sender posts to.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from urllib.parse import urlencode

import pytest
from fakes import FakeQueue, FakeState
from twilio.request_validator import RequestValidator

from byoc.domain.jobs import NumberEvent
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.services.numbers import NumberLifecycle
from byoc.services.webhooks import TwilioNumberWebhook, WebhookRequest

TOKEN = "test-twilio-auth-token"
PUBLIC_URL = "https://byoc.example.com/api/twilio/numbers"
SIGNER = RequestValidator(TOKEN)
FORM = {"EventId": "portal-7f3a", "Action": "purchased", "PhoneNumber": "+14155550123",
        "PhoneNumberSid": "PN" + "a" * 32}


def webhook(queue: FakeQueue, public_url: str | None = PUBLIC_URL,
            token: str = TOKEN) -> TwilioNumberWebhook:
    return TwilioNumberWebhook(public_url=public_url, auth_token=lambda: token, queue=queue,
                               state=FakeState())


def form_request(params: dict[str, str], *, signed_url: str = PUBLIC_URL, query: str = "",
                 body: str | None = None, token: str = TOKEN) -> WebhookRequest:
    url = signed_url + (f"?{query}" if query else "")
    return WebhookRequest(
        body=(body if body is not None else urlencode(params)).encode(),
        query=query,
        content_type="application/x-www-form-urlencoded; charset=utf-8",
        signature=RequestValidator(token).compute_signature(url, params),
    )


def json_request(payload: object, *, with_hash: bool = True, body: str | None = None,
                 extra_query: str = "") -> WebhookRequest:
    raw = json.dumps(payload)
    query = extra_query
    if with_hash:
        query = "&".join(p for p in (extra_query, f"bodySHA256={SIGNER.compute_hash(raw)}") if p)
    url = PUBLIC_URL + (f"?{query}" if query else "")
    return WebhookRequest(body=(body if body is not None else raw).encode(), query=query,
                          content_type="application/json",
                          signature=SIGNER.compute_signature(url, {}))


def test_a_signed_form_notice_is_accepted_and_enqueued_with_a_correlation_id() -> None:
    queue = FakeQueue()

    answer = webhook(queue).accept(form_request(FORM))

    assert answer.status == 202 and answer.body["accepted"] == 1
    [(job, _)] = queue.sent
    assert isinstance(job, NumberEvent)
    assert (job.action, job.number, job.source, job.event_id, job.sid) == (
        "purchased", "+14155550123", "webhook", "portal-7f3a", "PN" + "a" * 32)
    assert job.correlation_id == answer.body["correlation_id"]


@pytest.mark.parametrize("seen_by_the_app", [
    "http://10.0.0.7:8080/api/twilio/numbers",              # TLS terminated, private host and port
    "http://localhost:7071/api/twilio/numbers",
])
def test_the_signature_is_checked_against_the_public_url_not_the_rewritten_one(
        seen_by_the_app: str) -> None:
    queue = FakeQueue()
    signed_for_the_app_url = form_request(FORM, signed_url=seen_by_the_app)

    assert webhook(queue).accept(form_request(FORM)).status == 202
    assert webhook(queue).accept(signed_for_the_app_url).status == 403


def test_a_public_url_with_the_default_port_written_out_still_validates() -> None:
    queue = FakeQueue()
    request = form_request(FORM, signed_url="https://byoc.example.com:443/api/twilio/numbers")

    assert webhook(queue).accept(request).status == 202


def test_the_query_string_is_part_of_what_was_signed() -> None:
    queue = FakeQueue()
    request = form_request(FORM, query="source=portal&b=%2B1")
    tampered = WebhookRequest(body=request.body, query="source=other&b=%2B1",
                              content_type=request.content_type, signature=request.signature)

    assert webhook(queue).accept(request).status == 202
    assert webhook(queue).accept(tampered).status == 403


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl"])
def test_a_missing_or_wrong_signature_is_403_and_nothing_is_enqueued(signature: str | None) -> None:
    queue = FakeQueue()
    good = form_request(FORM)

    answer = webhook(queue).accept(WebhookRequest(body=good.body, query="",
                                                  content_type=good.content_type,
                                                  signature=signature))

    assert answer.status == 403 and "X-Twilio-Signature" in answer.body["error"]
    assert queue.sent == []


def test_a_request_signed_with_another_token_is_refused() -> None:
    queue = FakeQueue()

    assert webhook(queue).accept(form_request(FORM, token="someone-elses-token")).status == 403
    assert queue.sent == []


def test_a_tampered_form_body_is_refused() -> None:
    queue = FakeQueue()
    tampered = urlencode({**FORM, "PhoneNumber": "+14155550999"})

    answer = webhook(queue).accept(form_request(FORM, body=tampered))

    assert answer.status == 403 and queue.sent == []


def test_a_signed_json_notice_with_body_sha256_is_accepted() -> None:
    queue = FakeQueue()
    payload = [{"event_id": "e-1", "action": "purchased", "phone_number": "+14155550123"},
               {"event_id": "e-2", "action": "released", "phone_number": "+14155550124"}]

    answer = webhook(queue).accept(json_request(payload))

    assert answer.status == 202 and answer.body["accepted"] == 2
    assert [(j.action, j.number) for j, _ in queue.sent] == [
        ("purchased", "+14155550123"), ("released", "+14155550124")]


def test_a_json_body_without_body_sha256_is_refused_even_with_a_valid_url_signature() -> None:
    queue = FakeQueue()
    request = json_request({"event_id": "e-1", "action": "purchased",
                            "phone_number": "+14155550123"}, with_hash=False)

    answer = webhook(queue).accept(request)

    assert answer.status == 403 and "bodySHA256" in answer.body["error"]
    assert queue.sent == []


def test_a_tampered_json_body_fails_the_body_hash() -> None:
    queue = FakeQueue()
    signed = {"event_id": "e-1", "action": "purchased", "phone_number": "+14155550123"}
    forged = json.dumps({**signed, "phone_number": "+14155550999"})

    answer = webhook(queue).accept(json_request(signed, body=forged))

    assert answer.status == 403 and queue.sent == []


def test_a_json_body_hash_given_in_upper_case_hex_is_refused() -> None:
    queue = FakeQueue()
    raw = json.dumps({"event_id": "e-1", "action": "purchased", "phone_number": "+14155550123"})
    query = f"bodySHA256={hashlib.sha256(raw.encode()).hexdigest().upper()}"
    request = WebhookRequest(body=raw.encode(), query=query, content_type="application/json",
                             signature=SIGNER.compute_signature(f"{PUBLIC_URL}?{query}", {}))

    assert webhook(queue).accept(request).status == 403


@pytest.mark.parametrize("params,problem", [
    ({**FORM, "PhoneNumber": "4155550123"}, "PhoneNumber"),
    ({**FORM, "PhoneNumber": "+1415"}, "PhoneNumber"),
    ({**FORM, "Action": "stolen"}, "Action"),
    ({k: v for k, v in FORM.items() if k != "EventId"}, "EventId"),
    ({**FORM, "PhoneNumberSid": "XX123"}, "PhoneNumberSid"),
    ({"Unrelated": "1"}, "EventId"),
])
def test_a_malformed_signed_form_is_400_naming_the_problem(params: dict[str, str],
                                                            problem: str) -> None:
    queue = FakeQueue()

    answer = webhook(queue).accept(form_request(params))

    assert answer.status == 400 and problem in answer.body["error"]
    assert queue.sent == []


@pytest.mark.parametrize("payload,problem", [
    ("not json", "not JSON"),
    ("[]", "empty"),
    ('[{"event_id": "a", "action": "purchased", "phone_number": "+14155550123"}, 7]',
     "[1]: must be an object"),
    ('{"event_id": "a", "action": "purchased"}', "phone_number"),
    ('"text"', "JSON object"),
])
def test_a_malformed_signed_json_is_400_and_nothing_of_it_is_enqueued(payload: str,
                                                                      problem: str) -> None:
    queue = FakeQueue()
    query = f"bodySHA256={SIGNER.compute_hash(payload)}"
    request = WebhookRequest(body=payload.encode(), query=query, content_type="application/json",
                             signature=SIGNER.compute_signature(f"{PUBLIC_URL}?{query}", {}))

    answer = webhook(queue).accept(request)

    assert answer.status == 400 and problem in answer.body["error"]
    assert queue.sent == []


def test_without_a_configured_public_url_nothing_is_accepted() -> None:
    queue = FakeQueue()

    answer = webhook(queue, public_url=None).accept(form_request(FORM))

    assert answer.status == 503 and "BYOC_TWILIO_WEBHOOK_URL" in answer.body["error"]
    assert queue.sent == []


def test_a_rotated_auth_token_is_picked_up_once_the_cached_one_is_old() -> None:
    queue = FakeQueue()
    tokens = iter(["old-token", "new-token"])
    now = [0.0]
    service = TwilioNumberWebhook(public_url=PUBLIC_URL, auth_token=lambda: next(tokens),
                                  queue=queue, state=FakeState(), clock=lambda: now[0])
    assert service.accept(form_request(FORM, token="old-token")).status == 202

    now[0] = 600.0
    later = {**FORM, "EventId": "portal-7f3b", "Action": "updated"}
    assert service.accept(form_request(later, token="new-token")).status == 202


def test_a_replayed_event_id_is_answered_as_a_duplicate_and_processed_once() -> None:
    queue = FakeQueue()
    service = webhook(queue)
    policy: Policy = load_policy(
        'version: 1\nmanaged: {prefixes: ["+1415555"]}\n'
        "defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}\n", "test")
    from fakes import FakeInventory

    inventory = FakeInventory()
    lifecycle = NumberLifecycle(inventory=inventory, state=FakeState(), queue=FakeQueue(),
                                policy=lambda: policy, number_targets=lambda: ["twilio"])

    first = service.accept(form_request(FORM))
    replay = service.accept(form_request(FORM))
    outcomes = [lifecycle.handle(job) for job, _ in queue.sent]  # type: ignore[arg-type]

    assert (first.status, replay.status) == (202, 200)
    assert replay.body == {"accepted": 0, "duplicate": True}
    assert [o.duplicate for o in outcomes] == [False]
    assert inventory.writes == 1


def test_a_notice_recut_under_a_new_event_id_with_the_same_signature_is_not_enqueued() -> None:
    # Twilio's signature concatenates names and values without separators: a sender's extra
    # field (`Note`) folded into EventId gives another id and the same signed string.
    queue = FakeQueue()
    service = webhook(queue)
    original = {**FORM, "Note": "urgent"}
    recut = {**FORM, "EventId": FORM["EventId"] + "Noteurgent"}
    assert SIGNER.compute_signature(PUBLIC_URL, recut) == \
        SIGNER.compute_signature(PUBLIC_URL, original)
    replay = WebhookRequest(body=urlencode(recut).encode(), query="",
                            content_type="application/x-www-form-urlencoded",
                            signature=SIGNER.compute_signature(PUBLIC_URL, original))

    first = service.accept(form_request(original))
    again = service.accept(replay)

    assert (first.status, again.status) == (202, 200) and again.body["duplicate"] is True
    assert len(queue.sent) == 1


def test_the_same_notice_signed_again_under_a_new_event_id_is_not_enqueued_twice() -> None:
    queue = FakeQueue()
    service = webhook(queue)

    first = service.accept(form_request(FORM))
    again = service.accept(form_request({**FORM, "EventId": "portal-other"}))

    assert (first.status, again.status) == (202, 200)
    assert len(queue.sent) == 1


def test_a_deeply_nested_json_body_within_the_size_limit_is_400() -> None:
    queue = FakeQueue()
    body = "[" * 60_000 + "]" * 60_000
    query = f"bodySHA256={SIGNER.compute_hash(body)}"
    request = WebhookRequest(body=body.encode(), query=query, content_type="application/json",
                             signature=SIGNER.compute_signature(f"{PUBLIC_URL}?{query}", {}))

    answer = webhook(queue).accept(request)

    assert answer.status == 400 and "nested" in answer.body["error"] and queue.sent == []


def test_a_sender_over_its_rate_is_429_with_retry_after_and_others_still_get_in() -> None:
    queue = FakeQueue()
    now = [0.0]
    service = TwilioNumberWebhook(public_url=PUBLIC_URL, auth_token=lambda: TOKEN, queue=queue,
                                  state=FakeState(), rate_per_minute=3, clock=lambda: now[0])

    def notice(index: int, sender: str) -> WebhookRequest:
        params = {**FORM, "EventId": f"e-{index}", "PhoneNumber": f"+1415555{index:04d}"}
        params.pop("PhoneNumberSid")
        return replace(form_request(params), sender=sender)

    answers = [service.accept(notice(i, "198.51.100.7")) for i in range(4)]
    other = service.accept(notice(10, "203.0.113.9"))
    now[0] = 30.0
    later = service.accept(notice(11, "198.51.100.7"))

    assert [a.status for a in answers] == [202, 202, 202, 429]
    assert answers[3].retry_after_s is not None and answers[3].retry_after_s >= 1
    assert other.status == 202 and later.status == 202
    assert len(queue.sent) == 5


SECRET = "notice-secret-0123456789abcdef"


def byoc_signed(body: str, secret: str = SECRET, at: int = 1_700_000_000) -> WebhookRequest:
    mac = hmac.new(secret.encode(), f"{at}.{body}".encode(), hashlib.sha256).hexdigest()
    return WebhookRequest(body=body.encode(), query="", content_type="application/json",
                          signature=None, byoc_signature=f"t={at},v1={mac}")


def secret_webhook(queue: FakeQueue, secret: list[str], now: list[float]) -> TwilioNumberWebhook:
    return TwilioNumberWebhook(public_url=None, auth_token=lambda: TOKEN, queue=queue,
                               state=FakeState(), notice_secret=lambda: secret[0],
                               clock=lambda: now[0], wall_clock=lambda: 1_700_000_000 + now[0])


def test_a_notice_signed_with_the_notice_secret_needs_no_auth_token_and_no_public_url() -> None:
    queue = FakeQueue()
    body = json.dumps({"event_id": "itsm-1", "action": "purchased",
                       "phone_number": "+14155550123"})
    service = secret_webhook(queue, [SECRET], [0.0])

    good = service.accept(byoc_signed(body))
    forged = service.accept(byoc_signed(body.replace("0123", "0124"), secret="guess"))
    stale = service.accept(byoc_signed(body, at=1_700_000_000 - 3600))

    assert good.status == 202 and len(queue.sent) == 1
    assert forged.status == 403 and stale.status == 403 and "timestamp" in stale.body["error"]


def test_a_rotated_notice_secret_accepts_old_and_new_keys_during_the_overlap() -> None:
    queue = FakeQueue()
    secret = ["old-key-0123456789"]
    now = [0.0]
    service = secret_webhook(queue, secret, now)
    assert service.accept(byoc_signed('{"event_id":"a","action":"purchased",'
                                      '"phone_number":"+14155550101"}', "old-key-0123456789",
                                      )).status == 202

    secret[0] = "new-key-9876543210 old-key-0123456789"
    now[0] = 400.0
    new = service.accept(byoc_signed('{"event_id":"b","action":"purchased",'
                                     '"phone_number":"+14155550102"}', "new-key-9876543210",
                                     at=1_700_000_400))
    old = service.accept(byoc_signed('{"event_id":"c","action":"purchased",'
                                     '"phone_number":"+14155550103"}', "old-key-0123456789",
                                     at=1_700_000_400))
    secret[0] = "new-key-9876543210"
    now[0] = 800.0
    retired = service.accept(byoc_signed('{"event_id":"d","action":"purchased",'
                                         '"phone_number":"+14155550104"}', "old-key-0123456789",
                                         at=1_700_000_800))

    assert (new.status, old.status, retired.status) == (202, 202, 403)
