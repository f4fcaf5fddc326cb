"""`POST /api/twilio/numbers`: Twilio-signed notices that numbers were bought or released.

A purchase portal, a Twilio Function or any sender holding the account's auth token signs its
request the way Twilio signs webhooks (`X-Twilio-Signature`, HMAC-SHA1 of the URL and the form
parameters; JSON bodies carry `bodySHA256` in the query string and the URL alone is signed). The
signature is checked with the Twilio SDK's `RequestValidator` against the configured public URL
(`BYOC_TWILIO_WEBHOOK_URL`) plus the query string as received: proxies in front of the function app
rewrite scheme, host and port, so the URL the app sees is not the one that was signed.

Accepted notices become `NumberEvent` jobs (source `webhook`); the number lifecycle records each
event id once, so a repeated notice is accepted and not processed twice. docs/twilio.md has the
payload and a sender example.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs, parse_qsl

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from byoc.domain.jobs import NumberEvent, new_correlation_id
from byoc.domain.numbers import InvalidNumber, parse_number
from byoc.ports import JobQueue

log = logging.getLogger("byoc.webhooks")

MAX_EVENTS = 100
MAX_BODY_BYTES = 256 * 1024
TOKEN_REFRESH_S = 300.0
"""A failed check re-reads the auth token once it is this old (the token may have been rotated)."""


@dataclass(frozen=True)
class WebhookRequest:
    """What the entrypoint hands over: the raw body and query, and two headers."""

    body: bytes
    query: str
    content_type: str | None
    signature: str | None


@dataclass(frozen=True)
class WebhookAnswer:
    """The HTTP status and JSON body to answer with."""

    status: int
    body: dict[str, Any]
    events: tuple[NumberEvent, ...] = field(default=())


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


FORM_FIELDS = {
    "EventId": "event_id",
    "Action": "action",
    "PhoneNumber": "phone_number",
    "PhoneNumberSid": "phone_number_sid",
}


class InvalidPayload(ValueError):
    """The body is not a valid notice; the message names every problem."""


class _FormParams(dict[str, list[str]]):
    """Form parameters with every value of a repeated name (what the validator signs)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


class TwilioNumberWebhook:
    """Checks the signature, parses the notices and enqueues one `NumberEvent` per notice."""

    def __init__(
        self,
        *,
        public_url: str | None,
        auth_token: Callable[[], str],
        queue: JobQueue,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._public_url = public_url
        self._auth_token = auth_token
        self._queue = queue
        self._clock = clock
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()

    def accept(self, request: WebhookRequest) -> WebhookAnswer:
        """202 with the correlation id, or 403/400/413/503 saying why nothing was enqueued."""
        if not self._public_url:
            return _refuse(503, "BYOC_TWILIO_WEBHOOK_URL is not set, so Twilio signatures cannot "
                                "be checked; nothing was accepted")
        if len(request.body) > MAX_BODY_BYTES:
            return _refuse(413, f"body is larger than {MAX_BODY_BYTES} bytes")
        try:
            text = request.body.decode("utf-8")
        except UnicodeDecodeError:
            return _refuse(400, "body is not UTF-8 text")
        is_json = _media_type(request.content_type) == "application/json"
        signed = self._signed(request, text, is_json)
        if signed is not None:
            return signed
        try:
            notices = _parse_json(text) if is_json else _parse_form(text)
        except InvalidPayload as exc:
            return _refuse(400, f"malformed payload: {exc}")
        correlation_id = new_correlation_id()
        events = tuple(
            NumberEvent(
                action=n.action, number=n.phone_number, sid=n.phone_number_sid, source="webhook",
                event_id=n.event_id, correlation_id=correlation_id,
            )
            for n in notices
        )
        for event in events:
            self._queue.send(event)
        log.info("number notices accepted",
                 extra={"event": "webhook.accepted", "correlation_id": correlation_id,
                        "numbers": [e.number for e in events]})
        return WebhookAnswer(
            202, {"correlation_id": correlation_id, "accepted": len(events)}, events
        )

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
