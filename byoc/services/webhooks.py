"""`POST /api/twilio/numbers`: signed notices that numbers were bought, changed or released.

No Twilio product calls this route (Twilio sends no purchase webhook; Monitor Events are polled):
its senders are the customer's own tools, a provisioning portal, an ITSM flow, a Twilio Function.
A notice is a hint: the worker reads Twilio before anything is written (services/notices.py), so a
notice can neither onboard a number the account does not own nor release one at Twilio.

Two ways to sign (docs/twilio.md has a sender example of each):

- `X-Byoc-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>` with a
  dedicated notice secret (`BYOC_TWILIO_NOTICE_SECRET_NAME`), so senders need not hold the auth
  token. The secret may hold several keys separated by white space: the overlap of a rotation. A
  timestamp further than `SIGNATURE_TOLERANCE_S` from now is refused.
- `X-Twilio-Signature`, the way Twilio signs webhooks (HMAC-SHA1 with the account's auth token over
  the URL and the form parameters; JSON bodies carry `bodySHA256` in the query string and the URL
  alone is signed), checked with the SDK's `RequestValidator` against the configured public URL
  (`BYOC_TWILIO_WEBHOOK_URL`) plus the query as received: proxies in front of the function app
  rewrite scheme, host and port, so the URL the app sees is not the one that was signed.

Before anything is enqueued, a request is deduplicated on what it says, not on a field the sender
chooses: Twilio's signature concatenates names and values without separators, so a captured notice
can be re-cut under a new `EventId` and still validate. A notice with the same action, number and
SID as one accepted in the same `DEDUP_WINDOW_S` window is not enqueued again; a notice signed with
the notice secret is refused once its timestamp is older than `SIGNATURE_TOLERANCE_S`. A copy that
gets past both (a Twilio-style replay in a later window) is only a hint: the worker reads Twilio
and finds nothing to change. Each sender (client address) is held to a request rate.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from byoc.domain.jobs import NumberEvent, new_correlation_id
from byoc.domain.numbers import InvalidNumber, parse_number
from byoc.ports import JobQueue, StateStore

log = logging.getLogger("byoc.webhooks")

MAX_EVENTS = 100
MAX_BODY_BYTES = 256 * 1024
TOKEN_REFRESH_S = 300.0
"""A failed check re-reads the auth token (or notice secret) once it is this old (rotation)."""
SIGNATURE_TOLERANCE_S = 300
"""How far the `t=` of an `X-Byoc-Signature` may be from now."""
DEDUP_WINDOW_S = 600.0
"""A notice equal to one accepted in the same window of this length (action, number, SID) is not
enqueued again."""
DEFAULT_RATE_PER_MINUTE = 120
NOTICE_NAMESPACE = "notice"
MAX_CLAIMS = 100
"""Most claims written in one table transaction."""
MAX_SENDERS = 10_000


@dataclass(frozen=True)
class WebhookRequest:
    """What the entrypoint hands over: the raw body and query, the headers that matter, and the
    sender's address (the rate limit's key)."""

    body: bytes
    query: str
    content_type: str | None
    signature: str | None
    byoc_signature: str | None = None
    sender: str = ""


@dataclass(frozen=True)
class WebhookAnswer:
    """The HTTP status and JSON body to answer with."""

    status: int
    body: dict[str, Any]
    events: tuple[NumberEvent, ...] = field(default=())
    retry_after_s: int | None = None


class NumberNotice(BaseModel):
    """One notice: a number was bought (or must be onboarded), released, or changed."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    event_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@+-]+$")
    action: Literal["purchased", "released", "updated"]
    phone_number: str
    phone_number_sid: str | None = Field(default=None, pattern=r"^PN[0-9a-fA-F]{32}$")

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, value: str) -> str:
        if not value.startswith("+"):
            raise ValueError(f"{value!r} must be E.164, e.g. +14155550100")
        try:
            return parse_number(value)
        except InvalidNumber as exc:
            raise ValueError(str(exc)) from None

    def content_key(self) -> str:
        """What the notice says, without the sender-chosen event id."""
        text = f"{self.action}|{self.phone_number}|{self.phone_number_sid or ''}"
        return hashlib.sha256(text.encode()).hexdigest()


FORM_FIELDS = {
    "EventId": "event_id",
    "Action": "action",
    "PhoneNumber": "phone_number",
    "PhoneNumberSid": "phone_number_sid",
}


class InvalidPayload(ValueError):
    """The body is not a valid notice; the message names every problem."""


class SenderRateLimit:
    """A token bucket per sender: `per_minute` requests a minute, bursts up to that many."""

    def __init__(self, per_minute: int, clock: Callable[[], float]) -> None:
        self._rate = max(1, per_minute) / 60.0
        self._capacity = float(max(1, per_minute))
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, sender: str) -> float | None:
        """None if `sender` may go on; otherwise the seconds until it may."""
        now = self._clock()
        with self._lock:
            tokens, since = self._buckets.pop(sender, (self._capacity, now))
            tokens = min(self._capacity, tokens + (now - since) * self._rate)
            allowed = tokens >= 1.0
            self._buckets[sender] = (tokens - 1.0 if allowed else tokens, now)
            while len(self._buckets) > MAX_SENDERS:
                self._buckets.popitem(last=False)
        return None if allowed else (1.0 - tokens) / self._rate


class _FormParams(dict[str, list[str]]):
    """Form parameters with every value of a repeated name (what the validator signs)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


class TwilioNumberWebhook:
    """Checks the signature, deduplicates, parses and enqueues one `NumberEvent` per notice."""

    def __init__(
        self,
        *,
        public_url: str | None,
        auth_token: Callable[[], str],
        queue: JobQueue,
        state: StateStore,
        notice_secret: Callable[[], str | None] | None = None,
        rate_per_minute: int = DEFAULT_RATE_PER_MINUTE,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._public_url = public_url
        self._auth_token = auth_token
        self._notice_secret = notice_secret
        self._queue = queue
        self._state = state
        self._clock = clock
        self._wall = wall_clock
        self._token: tuple[str, float] | None = None
        self._secret: tuple[tuple[str, ...], float] | None = None
        self._token_lock = threading.Lock()
        self._limit = SenderRateLimit(rate_per_minute, clock)

    def accept(self, request: WebhookRequest) -> WebhookAnswer:
        """202 with the correlation id, 200 for a duplicate, or 4xx/503 saying why nothing was
        enqueued."""
        wait = self._limit.take(request.sender or "unknown")
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            return WebhookAnswer(
                429, {"error": f"too many notices from this sender; retry in {seconds} s"},
                retry_after_s=seconds)
        if len(request.body) > MAX_BODY_BYTES:
            return _refuse(413, f"body is larger than {MAX_BODY_BYTES} bytes")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "body is not UTF-8 text")
        is_json = _media_type(request.content_type) == "application/json"
        if request.byoc_signature is not None:
            refused = self._signed_with_secret(request, text)
        else:
            if not self._public_url:
                return _refuse(503, "BYOC_TWILIO_WEBHOOK_URL is not set, so Twilio signatures "
                                    "cannot be checked; nothing was accepted")
            refused = self._signed(request, text, is_json)
        if refused is not None:
            return refused
        try:
            notices = _parse_json(text) if is_json else _parse_form(text)
        except InvalidPayload as exc:
            return _refuse(400, f"malformed payload: {exc}")
        return self._enqueue_fresh(notices)

    def _enqueue_fresh(self, notices: list[NumberNotice]) -> WebhookAnswer:
        """Enqueue the notices not seen in this window: one claim in the state table per notice,
        a single write (one round trip) for the usual one-notice request."""
        bucket = int(self._wall() // DEDUP_WINDOW_S)
        keys = [f"content:{n.content_key()}:{bucket}" for n in notices]
        if len(keys) == 1:
            fresh = notices if self._state.claim(NOTICE_NAMESPACE, keys[0]) else []
            claimed = keys if fresh else []
        elif len(set(keys)) <= MAX_CLAIMS and self._state.claim_all(NOTICE_NAMESPACE, keys):
            fresh, claimed = notices, keys
        else:
            fresh, claimed = [], []
            for notice, key in zip(notices, keys, strict=True):
                if self._state.claim(NOTICE_NAMESPACE, key):
                    fresh.append(notice)
                    claimed.append(key)
        if not fresh:
            log.info("replayed notice refused", extra={"event": "webhook.replay"})
            return WebhookAnswer(200, {"accepted": 0, "duplicate": True})
        try:
            return self._enqueue(fresh, duplicates=len(notices) - len(fresh))
        except Exception:
            for key in claimed:  # nothing (or not all) was enqueued: the sender's retry must work
                self._state.release_claim(NOTICE_NAMESPACE, key)
            raise

    def _enqueue(self, fresh: list[NumberNotice], *, duplicates: int) -> WebhookAnswer:
        correlation_id = new_correlation_id()
        events = tuple(
            NumberEvent(
                action=n.action, number=n.phone_number, sid=n.phone_number_sid, source="webhook",
                event_id=n.event_id, correlation_id=correlation_id,
            )
            for n in fresh
        )
        for event in events:
            self._queue.send(event)
        log.info("number notices accepted",
                 extra={"event": "webhook.accepted", "correlation_id": correlation_id,
                        "numbers": [e.number for e in events]})
        body: dict[str, Any] = {"correlation_id": correlation_id, "accepted": len(events)}
        if duplicates:
            body["duplicates"] = duplicates
        return WebhookAnswer(202, body, events)

    def _signed_with_secret(self, request: WebhookRequest, text: str) -> WebhookAnswer | None:
        """None when `X-Byoc-Signature` is good; otherwise the 403/503 answer."""
        if self._notice_secret is None:
            return _refuse(503, "X-Byoc-Signature is used but no notice secret is configured "
                                "(BYOC_TWILIO_NOTICE_SECRET_NAME); nothing was accepted")
        parts = dict(
            item.strip().split("=", 1) for item in (request.byoc_signature or "").split(",")
            if "=" in item
        )
        stamp, given = parts.get("t", ""), parts.get("v1", "")
        if not stamp.isdigit() or not re.fullmatch(r"[0-9a-f]{64}", given):
            return _refuse(403, "X-Byoc-Signature must read t=<unix seconds>,v1=<hex HMAC-SHA256>")
        if abs(self._wall() - int(stamp)) > SIGNATURE_TOLERANCE_S:
            return _refuse(403, f"X-Byoc-Signature timestamp is more than "
                                f"{SIGNATURE_TOLERANCE_S} s from now; sign each request when it "
                                "is sent (and check the sender's clock)")
        message = f"{stamp}.".encode() + text.encode()
        for refresh in (False, True):
            if refresh and self._secret_age() < TOKEN_REFRESH_S:
                break
            keys = self._secret_keys(refresh)
            if not keys:
                return _refuse(503, "the notice secret is empty; nothing was accepted")
            for key in keys:
                expected = hmac.new(key.encode(), message, hashlib.sha256).hexdigest()
                if hmac.compare_digest(expected, given):
                    return None
        log.warning("webhook signature refused", extra={"event": "webhook.forbidden",
                                                         "scheme": "byoc"})
        return _refuse(403, "X-Byoc-Signature does not match this request; it must be "
                            "HMAC-SHA256 with the notice secret over '<t>.' and the exact body")

    def _secret_keys(self, refresh: bool) -> tuple[str, ...]:
        with self._token_lock:
            stale = self._secret is not None and self._clock() - self._secret[1] >= TOKEN_REFRESH_S
            if self._secret is None or refresh or stale:
                # re-read at least every TOKEN_REFRESH_S, so a retired key stops working then
                raw = self._notice_secret() if self._notice_secret else None
                self._secret = (tuple((raw or "").split()), self._clock())
            return self._secret[0]

    def _secret_age(self) -> float:
        with self._token_lock:
            return self._clock() - self._secret[1] if self._secret else 0.0

    def _signed(self, request: WebhookRequest, text: str, is_json: bool) -> WebhookAnswer | None:
        """None when the signature is good; otherwise the 403 answer."""
        if not request.signature:
            return _refuse(403, "X-Twilio-Signature header is missing")
        url = _signed_url(self._public_url or "", request.query)
        params: Any
        if is_json:
            if "bodySHA256" not in parse_qs(request.query):
                return _refuse(403, "a JSON body must be signed with bodySHA256 in the query "
                                    "string (see docs/twilio.md)")
            params = text
        else:
            params = _FormParams()
            for name, value in parse_qsl(text, keep_blank_values=True):
                params.setdefault(name, []).append(value)
        if self._valid(url, params, request.signature, refresh=False):
            return None
        if self._token_age() >= TOKEN_REFRESH_S and self._valid(
            url, params, request.signature, refresh=True
        ):
            return None
        log.warning("webhook signature refused",
                    extra={"event": "webhook.forbidden", "url": url.split("?", 1)[0]})
        return _refuse(403, "X-Twilio-Signature does not match this request; it must be signed "
                            "with the account's auth token over the public URL "
                            "(BYOC_TWILIO_WEBHOOK_URL) and the exact body")

    def _valid(self, url: str, params: Any, signature: str, *, refresh: bool) -> bool:
        from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

        return bool(RequestValidator(self._token_value(refresh)).validate(url, params, signature))

    def _token_value(self, refresh: bool) -> str:
        with self._token_lock:
            if self._token is None or refresh:
                self._token = (self._auth_token(), self._clock())
            return self._token[0]

    def _token_age(self) -> float:
        with self._token_lock:
            return self._clock() - self._token[1] if self._token else 0.0


def _signed_url(public_url: str, query: str) -> str:
    """The URL the sender signed: the configured public URL plus the query as received."""
    if not query:
        return public_url
    return f"{public_url}{'&' if '?' in public_url else '?'}{query}"


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def _refuse(status: int, message: str) -> WebhookAnswer:
    return WebhookAnswer(status, {"error": message})


def _parse_form(text: str) -> list[NumberNotice]:
    fields: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True):
        if name in FORM_FIELDS:
            if FORM_FIELDS[name] in fields:
                raise InvalidPayload(f"{name} is given more than once")
            fields[FORM_FIELDS[name]] = value
    if not fields:
        raise InvalidPayload(f"no notice fields; expected {', '.join(FORM_FIELDS)}")
    return [_notice(fields, "", form=True)]


def _parse_json(text: str) -> list[NumberNotice]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(f"body is not JSON ({exc})") from None
    except RecursionError:
        raise InvalidPayload("body is nested too deeply") from None
    if isinstance(data, dict):
        return [_notice(data, "")]
    if isinstance(data, list):
        if not data:
            raise InvalidPayload("the list of notices is empty")
        if len(data) > MAX_EVENTS:
            raise InvalidPayload(f"{len(data)} notices in one request; at most {MAX_EVENTS}")
        problems: list[str] = []
        notices: list[NumberNotice] = []
        for index, item in enumerate(data):
            try:
                notices.append(_notice(item, f"[{index}]"))
            except InvalidPayload as exc:
                problems.append(str(exc))
        if problems:
            raise InvalidPayload("; ".join(problems))
        return notices
    raise InvalidPayload("body must be a JSON object or a list of objects")


def _notice(data: Any, where: str, *, form: bool = False) -> NumberNotice:
    if not isinstance(data, dict):
        raise InvalidPayload(f"{where or 'body'}: must be an object")
    try:
        return NumberNotice.model_validate(data)
    except ValidationError as exc:
        names = {v: k for k, v in FORM_FIELDS.items()} if form else {}
        problems = []
        for error in exc.errors(include_input=False):
            field_name = ".".join(str(p) for p in error["loc"])
            shown = names.get(field_name, field_name)
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}{'.' if where and shown else ''}{shown}: {message}")
        raise InvalidPayload("; ".join(problems)) from None
