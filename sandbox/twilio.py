"""Strict Twilio emulator: Elastic SIP Trunking v1, API 2010 phone numbers, Monitor v1 events.

The routes sit under the prefixes the twilio SDK's per-domain `base_url` points at (see
sandbox/README-twilio.md): `/trunking/v1/...`, `/api/2010-04-01/...`, `/monitor/v1/...`.
Requests are form-encoded PascalCase, responses snake_case JSON, errors Twilio-shaped
`{code, message, more_info, status}`. List pages carry absolute `meta.next_page_url` (v1) or
relative `next_page_uri` (v2010) pointing back at this emulator, with cursor page tokens so that
changes between two page reads neither repeat nor skip records.

Every vendor call is authenticated (Basic, account SID + auth token), then counted as in flight for
the account; past `limits.concurrency` it is refused with 429 / 20429 before any state is read or
changed. A vendor fault of kind `slow` (`POST /_sandbox/faults {"kind": "slow", "latency_ms": 300}`)
delays a call *inside* that count, so slow calls trip the limit as they would at Twilio.

Sandbox-only helpers (not Twilio APIs): `POST /_sandbox/twilio/purchase` and `/release` (a number
bought or released in the Twilio console: Monitor event, no trunk association), `/clock` (advance
the emulator clock, e.g. past the events retention window) and `/limits` (concurrency, Retry-After).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, ClassVar, Generic, TypeVar
from urllib.parse import parse_qsl, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.core import Emulator, Variant
from sandbox.twilio_calls import TwilioCalls
from sandbox.twilio_sip import SipAccess

API_VERSION = "2010-04-01"
TRUNKING_PREFIX = "/trunking"
API_PREFIX = "/api"
MONITOR_PREFIX = "/monitor"

# Error codes. Documented meaning on https://www.twilio.com/docs/errors/<code>; the ones marked
# "emulator choice" are not confirmed for this exact refusal (see sandbox/README-twilio.md).
INVALID_PARAMETER = 20001  # "Missing required parameter X" / invalid value (emulator choice for v1)
AUTHENTICATE = 20003
METHOD_NOT_ALLOWED = 20004
PAGE_SIZE_TOO_LARGE = 20007
NOT_FOUND = 20404
CONFLICT = 20409  # number already on this trunk (emulator choice)
TOO_MANY_REQUESTS = 20429
TRUNK_VALIDATION_ERROR = 21245  # number already on another trunk (emulator choice)
TRUNK_DOMAIN_TAKEN = 21248
INVALID_URL = 21402
PHONE_NUMBER_INVALID = 21421
PHONE_NUMBER_NOT_AVAILABLE = 21422
INVALID_AREA_CODE = 21451
NO_NUMBERS_IN_AREA_CODE = 21452
TRANSFER_TARGET_UNRELATED = 21473
INVALID_PAGE_TOKEN = 21481

# Twilio's E.164 rule ("What is E.164?", twilio.com/docs/glossary/what-e164; error 13223): '+',
# no leading 0, at most 15 digits; it names no minimum, so a country code and one digit pass.
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
TRUNK_DOMAIN = re.compile(r"^(?:[A-Za-z0-9-]+\.)+pstn\.twilio\.com$")
SIP_URL = re.compile(r"^sip:(?:[^@\s;]+@)?[A-Za-z0-9.\-\[\]:]+(?:;[^\s]*)?$")
CONTAINS = re.compile(r"^[0-9A-Za-z*+]{1,16}$")
ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
HTTP_METHODS = frozenset({"HEAD", "GET", "POST", "PATCH", "PUT", "DELETE"})
TRANSFER_MODES = frozenset({"disable-all", "enable-all", "sip-only"})
TRANSFER_CALLER_IDS = frozenset({"from-transferee", "from-transferor"})
RECORDING_MODES = frozenset(
    {
        "do-not-record",
        "record-from-ringing",
        "record-from-answer",
        "record-from-ringing-dual",
        "record-from-answer-dual",
    }
)
RECORDING_TRIMS = frozenset({"trim-silence", "do-not-trim"})
VOICE_RECEIVE_MODES = frozenset({"voice", "fax"})
ORIGINS = frozenset({"twilio", "hosted"})
MONITOR_FILTERS = ("ActorSid", "EventType", "ResourceSid", "SourceIpAddress")
KEYPAD = {c: d for d, letters in {
    "2": "ABC", "3": "DEF", "4": "GHI", "5": "JKL", "6": "MNO", "7": "PQRS", "8": "TUV", "9": "WXYZ"
}.items() for c in letters}
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
CONSOLE_USER_SID = "US" + "0" * 31 + "1"
CONSOLE_IP = "203.0.113.10"

T = TypeVar("T")


def sid_pattern(prefix: str) -> re.Pattern[str]:
    """`^<prefix>[0-9a-fA-F]{32}$`, the shape of every Twilio SID."""
    return re.compile(rf"^{prefix}[0-9a-fA-F]{{32}}$")


SID = {prefix: sid_pattern(prefix)
       for prefix in ("AC", "TK", "OU", "PN", "AE", "AP", "US", "AL", "CL", "IP", "CR")}


class TwilioApiError(Exception):
    """A refusal rendered as Twilio's JSON error body."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        headers: dict[str, str] | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.detail = detail

    def response(self) -> Response:
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        if self.detail:
            body["detail"] = self.detail
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def bad_param(message: str, code: int = INVALID_PARAMETER) -> TwilioApiError:
    return TwilioApiError(400, code, message)


def not_found(path: str) -> TwilioApiError:
    return TwilioApiError(404, NOT_FOUND, f"The requested resource {path} was not found")


# --- clock and formats ---------------------------------------------------------------------------


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc2822(dt: datetime) -> str:
    return format_datetime(dt)


def parse_date_param(name: str, raw: str, *, end_of_day: bool) -> datetime:
    """StartDate/EndDate: ISO 8601 datetime (`...Z` or offset) or a plain date."""
    try:
        if len(raw) == 10:
            day = datetime.strptime(raw, "%Y-%m-%d").replace(tzinfo=UTC)
            return day + timedelta(days=1, seconds=-1) if end_of_day else day
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise bad_param(f"{name} must be an ISO 8601 date or datetime, got {raw!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- request parameters --------------------------------------------------------------------------


def parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_param(f"{name} must be true or false, got {raw!r}")


def parse_int(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise bad_param(
            f"{name} must be an integer between {low} and {high}, got {raw!r}"
        ) from None
    if not low <= value <= high:
        raise bad_param(f"{name} must be between {low} and {high}, got {value}")
    return value


def parse_enum(name: str, raw: str, allowed: frozenset[str]) -> str:
    if raw not in allowed:
        raise bad_param(f"{name} must be one of {', '.join(sorted(allowed))}, got {raw!r}")
    return raw


def parse_friendly_name(name: str, raw: str) -> str:
    if len(raw) > 64:
        raise bad_param(f"{name} must be at most 64 characters long")
    return raw


def parse_callback_url(name: str, raw: str, code: int = INVALID_URL) -> str:
    if raw and not re.match(r"^https?://[^\s]+$", raw):
        raise bad_param(f"{name} is not a valid http(s) URL: {raw!r}", code)
    return raw


def require(form: dict[str, str], name: str) -> str:
    if name not in form:
        raise bad_param(f"Missing required parameter {name} in the post body")
    return form[name]


def national_friendly_name(phone_number: str) -> str:
    """`(415) 555-0100` for NANP numbers, the E.164 string otherwise."""
    if phone_number.startswith("+1") and len(phone_number) == 12:
        d = phone_number[2:]
        return f"({d[:3]}) {d[3:6]}-{d[6:]}"
    return phone_number


def area_code_of(phone_number: str) -> str | None:
    return phone_number[2:5] if phone_number.startswith("+1") and len(phone_number) == 12 else None


def expand_range(spec: str) -> list[str]:
    """`+14155550100..+14155550119` (both ends included) or one number."""
    first, sep, last = spec.partition("..")
    last = last if sep else first
    first, last = first.strip(), last.strip()
    if not (E164.match(first) and E164.match(last)) or len(first) != len(last):
        raise ValueError(f"twilio seed: bad number range {spec!r}")
    low, high = int(first[1:]), int(last[1:])
    if high < low:
        raise ValueError(f"twilio seed: range {spec!r} ends before it starts")
    return [f"+{n:0{len(first) - 1}d}" for n in range(low, high + 1)]


# --- paging --------------------------------------------------------------------------------------


def encode_token(direction: str, key: list[Any]) -> str:
    raw = json.dumps(key, separators=(",", ":")).encode()
    return direction + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> tuple[str, list[Any]]:
    direction, payload = token[:2], token[2:]
    try:
        if direction not in ("PA", "PB"):
            raise ValueError(token)
        key = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        if not isinstance(key, list):
            raise ValueError(token)
    except (ValueError, binascii.Error):
        raise bad_param(f"Invalid PageToken {token!r}", INVALID_PAGE_TOKEN) from None
    return direction, key


@dataclass
class PageSlice(Generic[T]):
    """One page of a sorted collection, with cursor tokens to its neighbours."""

    items: list[T]
    page: int
    page_size: int
    start: int
    next_token: str | None
    previous_token: str | None


def page_size_of(query: dict[str, str]) -> int:
    raw = query.get("PageSize")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError:
        raise bad_param(f"PageSize must be an integer, got {raw!r}") from None
    if size > MAX_PAGE_SIZE:
        raise bad_param(f"PageSize {size} is too large; the maximum is {MAX_PAGE_SIZE}",
                        PAGE_SIZE_TOO_LARGE)
    if size < 1:
        raise bad_param(f"PageSize must be at least 1, got {size}")
    return size


def slice_page(
    items: Sequence[T], key: Callable[[T], list[Any]], query: dict[str, str]
) -> PageSlice[T]:
    """Cut the page the query asks for out of `items` (already sorted by `key`)."""
    size = page_size_of(query)
    page_raw = query.get("Page", "0")
    try:
        page = int(page_raw)
    except ValueError:
        raise bad_param(f"Page must be an integer, got {page_raw!r}") from None
    if page < 0:
        raise bad_param(f"Page must not be negative, got {page}")
    keys = [key(item) for item in items]
    token = query.get("PageToken")
    if token:
        direction, anchor = decode_token(token)
        try:
            if direction == "PA":
                start = next((i for i, k in enumerate(keys) if k > anchor), len(keys))
            else:
                end = next((i for i, k in enumerate(keys) if k >= anchor), len(keys))
                start = max(0, end - size)
        except TypeError:
            raise bad_param(f"Invalid PageToken {token!r}", INVALID_PAGE_TOKEN) from None
    else:
        start = page * size
    chunk = list(items[start : start + size])
    end = start + len(chunk)
    return PageSlice(
        items=chunk,
        page=page,
        page_size=size,
        start=start,
        next_token=encode_token("PA", keys[end - 1]) if chunk and end < len(items) else None,
        previous_token=encode_token("PB", keys[start]) if 0 < start < len(items) else None,
    )


def page_query(query: dict[str, str], size: int, page: int, token: str | None) -> str:
    kept = {k: v for k, v in query.items() if k not in ("Page", "PageSize", "PageToken")}
    kept["PageSize"] = str(size)
    kept["Page"] = str(max(page, 0))
    if token:
        kept["PageToken"] = token
    return urlencode(kept)


# --- state ---------------------------------------------------------------------------------------


@dataclass
class OriginationUrl:
    sid: str
    trunk_sid: str
    friendly_name: str
    sip_url: str
    priority: int
    weight: int
    enabled: bool
    date_created: datetime
    date_updated: datetime
    serial: int


@dataclass
class Trunk:
    sid: str
    friendly_name: str
    domain_name: str | None
    date_created: datetime
    date_updated: datetime
    serial: int
    secure: bool = False
    disaster_recovery_url: str | None = None
    disaster_recovery_method: str = "POST"
    transfer_mode: str = "disable-all"
    transfer_caller_id: str = "from-transferee"
    cnam_lookup_enabled: bool = False
    symmetric_rtp_enabled: bool = False
    recording_mode: str = "do-not-record"
    recording_trim: str = "do-not-trim"
    origination_urls: dict[str, OriginationUrl] = field(default_factory=dict)


@dataclass
class OwnedNumber:
    sid: str
    phone_number: str
    friendly_name: str
    date_created: datetime
    date_updated: datetime
    trunk_sid: str | None = None
    voice_application_sid: str | None = None
    voice_url: str = ""
    voice_method: str = "POST"
    voice_fallback_url: str = ""
    voice_fallback_method: str = "POST"
    status_callback: str = ""
    status_callback_method: str = "POST"
    sms_application_sid: str = ""
    sms_url: str = ""
    sms_method: str = "POST"
    sms_fallback_url: str = ""
    sms_fallback_method: str = "POST"
    voice_caller_id_lookup: bool = False
    voice_receive_mode: str = "voice"
    origin: str = "twilio"
    beta: bool = False


@dataclass(frozen=True)
class AvailableNumber:
    phone_number: str
    iso_country: str
    locality: str
    region: str
    rate_center: str
    lata: str
    postal_code: str
    latitude: str
    longitude: str


@dataclass
class MonitorEvent:
    sid: str
    serial: int
    event_type: str
    resource_sid: str
    phone_number: str
    event_date: datetime
    source: str
    actor_type: str
    actor_sid: str
    source_ip_address: str
    description: str
    event_data: dict[str, Any]


@dataclass
class Actor:
    """Who caused a change: the API (account credentials) or a user in the console."""

    source: str
    actor_type: str
    actor_sid: str
    ip: str


# Number fields an IncomingPhoneNumbers update may set: form key -> (attribute, kind).
NUMBER_FIELDS: dict[str, tuple[str, str]] = {
    "FriendlyName": ("friendly_name", "name"),
    "VoiceUrl": ("voice_url", "url"),
    "VoiceMethod": ("voice_method", "method"),
    "VoiceFallbackUrl": ("voice_fallback_url", "url"),
    "VoiceFallbackMethod": ("voice_fallback_method", "method"),
    "StatusCallback": ("status_callback", "url"),
    "StatusCallbackMethod": ("status_callback_method", "method"),
    "SmsUrl": ("sms_url", "url"),
    "SmsMethod": ("sms_method", "method"),
    "SmsFallbackUrl": ("sms_fallback_url", "url"),
    "SmsFallbackMethod": ("sms_fallback_method", "method"),
    "SmsApplicationSid": ("sms_application_sid", "text"),
    "VoiceCallerIdLookup": ("voice_caller_id_lookup", "bool"),
    "VoiceReceiveMode": ("voice_receive_mode", "receive_mode"),
}


@dataclass
class Call:
    """One authenticated vendor request, as the handlers see it."""

    method: str
    path: str
    base: str
    path_params: dict[str, str]
    query: dict[str, str]
    form: dict[str, str]
    client_ip: str


Handler = Callable[[Call], Response]


class TwilioEmulator(Emulator):
    """Twilio Trunking v1, API 2010 IncomingPhoneNumbers/AvailablePhoneNumbers and Monitor v1."""

    name = "twilio"
    VARIANTS: ClassVar[dict[str, Variant]] = {
        "monitor_event_data": Variant(
            ("resource-properties", "flat", "empty"),
            source="twilio.com/docs/usage/monitor-events documents only that `*.updated` events "
            "carry `event_data.resource_properties` with previous and updated values; the keys of "
            "`phone-number.*` events are not documented (docs/vendors/twilio.md, unverified 3). "
            "'resource-properties': {resource_properties: {name: {previous, updated}}}; 'flat': "
            "{name: value now (or before a delete)}, the shape of the documented example's "
            "neighbours; 'empty': {} (only resource_sid identifies the number).",
        ),
        "rate_limit_retry_after": Variant(
            ("absent", "present"),
            source="twilio.com/docs/api/errors/20429 says only to back off and retry; Retry-After "
            "is documented for the Webhooks API's error 59004, not for 20429 (docs/vendors/"
            "twilio.md §7, unverified 2). 'absent': no header; 'present': Retry-After with "
            "limits.retry_after_s seconds (1 when unset).",
        ),
    }

    def __init__(self, seed: dict[str, Any]) -> None:
        self._flight_lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.rejected_for_concurrency = 0
        self.sip = SipAccess(self)  # one object for good: the routes are bound to it
        self.calls = TwilioCalls(self)
        super().__init__(seed)

    # --- seed and state ------------------------------------------------------------------------

    def reset(self) -> None:
        account = self.seed.get("account") or {}
        self.account_sid: str = account.get("sid", "AC0123456789abcdef0123456789abcdef")
        self.auth_token: str = account.get("auth_token", "sandbox-twilio-auth-token")
        self.account_name: str = account.get("friendly_name", "byoc sandbox")
        if not SID["AC"].match(self.account_sid):
            raise ValueError(f"twilio seed: account sid {self.account_sid!r} is not AC + 32 hex")
        limits = self.seed.get("limits") or {}
        self.concurrency_limit: int = int(limits.get("concurrency", 100))
        retry_after = limits.get("retry_after_s")
        self.retry_after_s: int | None = None if retry_after is None else int(retry_after)
        self.retention = timedelta(days=float(self.seed.get("events_retention_days", 30)))
        self.clock_offset = timedelta(0)
        self.serial = 0
        self.trunks: dict[str, Trunk] = {}
        self.numbers: dict[str, OwnedNumber] = {}
        self.available: dict[str, AvailableNumber] = {}
        self.events: list[MonitorEvent] = []
        self.sip.clear()
        now = self.now()
        for raw in self.seed.get("trunks") or []:
            self._seed_trunk(raw, now)
        for raw in self.seed.get("numbers") or []:
            self._seed_numbers(raw, now)
        owned = {n.phone_number for n in self.numbers.values()}
        for raw in self.seed.get("available") or []:
            for number in expand_range(str(raw["range"])):
                if number not in owned:
                    self.available[number] = self._available_number(number, raw)

    def _seed_trunk(self, raw: dict[str, Any], now: datetime) -> None:
        sid = raw.get("sid") or self._new_sid("TK", raw.get("friendly_name", ""))
        if not SID["TK"].match(sid):
            raise ValueError(f"twilio seed: trunk sid {sid!r} is not TK + 32 hex")
        trunk = Trunk(
            sid=sid,
            friendly_name=raw.get("friendly_name", ""),
            domain_name=raw.get("domain_name"),
            date_created=now,
            date_updated=now,
            serial=self._next_serial(),
            secure=bool(raw.get("secure", False)),
            transfer_mode=raw.get("transfer_mode", "disable-all"),
            transfer_caller_id=raw.get("transfer_caller_id", "from-transferee"),
            cnam_lookup_enabled=bool(raw.get("cnam_lookup_enabled", False)),
            symmetric_rtp_enabled=bool(raw.get("symmetric_rtp_enabled", False)),
            recording_mode=(raw.get("recording") or {}).get("mode", "do-not-record"),
            recording_trim=(raw.get("recording") or {}).get("trim", "do-not-trim"),
        )
        self.trunks[sid] = trunk
        for url in raw.get("origination_urls") or []:
            ou = OriginationUrl(
                sid=url.get("sid") or self._new_sid("OU", sid, url["sip_url"]),
                trunk_sid=sid,
                friendly_name=url["friendly_name"],
                sip_url=url["sip_url"],
                priority=int(url["priority"]),
                weight=int(url["weight"]),
                enabled=bool(url["enabled"]),
                date_created=now,
                date_updated=now,
                serial=self._next_serial(),
            )
            trunk.origination_urls[ou.sid] = ou

    def _seed_numbers(self, raw: dict[str, Any], now: datetime) -> None:
        spec = raw.get("range") or raw.get("phone_number")
        if not spec:
            raise ValueError(f"twilio seed: number entry needs range or phone_number: {raw}")
        trunk_sid = raw.get("trunk_sid")
        if trunk_sid is not None and trunk_sid not in self.trunks:
            raise ValueError(f"twilio seed: number entry {spec} names unknown trunk {trunk_sid}")
        numbers = expand_range(str(spec))
        if raw.get("sid") and len(numbers) != 1:
            raise ValueError(f"twilio seed: an explicit sid needs a single phone_number ({spec})")
        for phone in numbers:
            sid = raw.get("sid") or self._new_sid("PN", phone)
            self.numbers[sid] = OwnedNumber(
                sid=sid,
                phone_number=phone,
                friendly_name=raw.get("friendly_name") or national_friendly_name(phone),
                date_created=now,
                date_updated=now,
                trunk_sid=trunk_sid,
            )

    @staticmethod
    def _available_number(number: str, raw: dict[str, Any]) -> AvailableNumber:
        return AvailableNumber(
            phone_number=number,
            iso_country=str(raw.get("country", "US")),
            locality=str(raw.get("locality", "")),
            region=str(raw.get("region", "")),
            rate_center=str(raw.get("rate_center", "")),
            lata=str(raw.get("lata", "")),
            postal_code=str(raw.get("postal_code", "")),
            latitude=str(raw.get("latitude", "0.0")),
            longitude=str(raw.get("longitude", "0.0")),
        )

    def state(self) -> dict[str, Any]:
        by_area: dict[str, int] = {}
        for number in self.available:
            area = area_code_of(number) or number[:4]
            by_area[area] = by_area.get(area, 0) + 1
        return {
            "account": {"sid": self.account_sid, "friendly_name": self.account_name},
            "trunks": [
                {
                    "sid": t.sid,
                    "friendly_name": t.friendly_name,
                    "domain_name": t.domain_name,
                    "secure": t.secure,
                    "transfer_mode": t.transfer_mode,
                    "recording": {"mode": t.recording_mode, "trim": t.recording_trim},
                    "origination_urls": [
                        {
                            "sid": o.sid,
                            "friendly_name": o.friendly_name,
                            "sip_url": o.sip_url,
                            "priority": o.priority,
                            "weight": o.weight,
                            "enabled": o.enabled,
                        }
                        for o in sorted(t.origination_urls.values(), key=lambda o: o.serial)
                    ],
                    "phone_numbers": sorted(
                        n.phone_number for n in self.numbers.values() if n.trunk_sid == t.sid
                    ),
                }
                for t in sorted(self.trunks.values(), key=lambda t: t.serial)
            ],
            "numbers": [
                {
                    "sid": n.sid,
                    "phone_number": n.phone_number,
                    "friendly_name": n.friendly_name,
                    "trunk_sid": n.trunk_sid,
                    "voice_application_sid": n.voice_application_sid,
                    "date_created": iso(n.date_created),
                }
                for n in sorted(self.numbers.values(), key=lambda n: n.phone_number)
            ],
            "available_count": len(self.available),
            "available_by_area_code": dict(sorted(by_area.items())),
            "events": [
                {
                    "sid": e.sid,
                    "event_type": e.event_type,
                    "resource_sid": e.resource_sid,
                    "phone_number": e.phone_number,
                    "event_date": iso(e.event_date),
                    "source": e.source,
                }
                for e in self._visible_events()
            ],
            "events_retention_days": self.retention.total_seconds() / 86400,
            "limits": {
                "concurrency": self.concurrency_limit,
                "retry_after_s": self.retry_after_s,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "rejected": self.rejected_for_concurrency,
            },
            "clock": {"now": iso(self.now()), "offset_s": self.clock_offset.total_seconds()},
            **self.sip.state(),
            "calls": self.calls.state(),
        }

    # --- helpers -------------------------------------------------------------------------------

    def now(self) -> datetime:
        return (datetime.now(UTC) + self.clock_offset).replace(microsecond=0)

    def _next_serial(self) -> int:
        self.serial += 1
        return self.serial

    def _new_sid(self, prefix: str, *parts: str) -> str:
        """Deterministic after a reset, unique within a run."""
        digest = hashlib.sha256("|".join((prefix, str(self.serial), *parts)).encode()).hexdigest()
        self.serial += 1
        return prefix + digest[:32]

    def _visible_events(self) -> list[MonitorEvent]:
        """Events inside the retention window, newest first."""
        horizon = self.now() - self.retention
        self.events = [e for e in self.events if e.event_date >= horizon]
        return sorted(self.events, key=lambda e: -e.serial)

    def _record_event(
        self,
        action: str,
        number: OwnedNumber,
        actor: Actor,
        changes: dict[str, tuple[Any, Any]],
    ) -> None:
        verb = {"created": "purchased", "updated": "updated", "deleted": "released"}[action]
        serial = self._next_serial()
        self.events.append(
            MonitorEvent(
                sid=self._new_sid("AE", number.sid, action),
                serial=serial,
                event_type=f"phone-number.{action}",
                resource_sid=number.sid,
                phone_number=number.phone_number,
                event_date=self.now(),
                source=actor.source,
                actor_type=actor.actor_type,
                actor_sid=actor.actor_sid,
                source_ip_address=actor.ip,
                description=f"Phone number {number.phone_number} {verb}",
                event_data={
                    "resource_properties": {
                        name: {"previous": before, "updated": after}
                        for name, (before, after) in changes.items()
                    }
                },
            )
        )

    def _api_actor(self, call: Call) -> Actor:
        return Actor("api", "account", self.account_sid, call.client_ip)

    def _trunk(self, call: Call) -> Trunk:
        sid = call.path_params["trunk_sid"]
        trunk = self.trunks.get(sid)
        if trunk is None:
            raise not_found(call.path)
        return trunk

    def _number_by_sid(self, call: Call) -> OwnedNumber:
        number = self.numbers.get(call.path_params["sid"])
        if number is None:
            raise not_found(call.path)
        return number

    def _check_account(self, call: Call) -> None:
        if call.path_params.get("account_sid") != self.account_sid:
            raise TwilioApiError(
                401, AUTHENTICATE, "Authenticate",
                detail="The AccountSid in the URL does not match the credentials used.",
            )

    def _set_trunk(self, number: OwnedNumber, trunk_sid: str | None) -> dict[str, tuple[Any, Any]]:
        """Associate or release; a trunk link clears the voice application (and vice versa)."""
        changes: dict[str, tuple[Any, Any]] = {}
        if number.trunk_sid != trunk_sid:
            changes["trunk_sid"] = (number.trunk_sid, trunk_sid)
            number.trunk_sid = trunk_sid
        if trunk_sid and number.voice_application_sid:
            changes["voice_application_sid"] = (number.voice_application_sid, None)
            number.voice_application_sid = None
        return changes

    # --- rendering -----------------------------------------------------------------------------

    def _trunk_json(self, trunk: Trunk, base: str) -> dict[str, Any]:
        url = f"{base}{TRUNKING_PREFIX}/v1/Trunks/{trunk.sid}"
        return {
            "account_sid": self.account_sid,
            "domain_name": trunk.domain_name,
            "disaster_recovery_method": trunk.disaster_recovery_method,
            "disaster_recovery_url": trunk.disaster_recovery_url,
            "friendly_name": trunk.friendly_name,
            "secure": trunk.secure,
            "recording": {"mode": trunk.recording_mode, "trim": trunk.recording_trim},
            "transfer_mode": trunk.transfer_mode,
            "transfer_caller_id": trunk.transfer_caller_id,
            "cnam_lookup_enabled": trunk.cnam_lookup_enabled,
            "auth_type": ",".join(self.sip.auth_types(trunk.sid)),
            "symmetric_rtp_enabled": trunk.symmetric_rtp_enabled,
            "auth_type_set": [],  # "Reserved." (twilio-python TrunkInstance)
            "date_created": iso(trunk.date_created),
            "date_updated": iso(trunk.date_updated),
            "sid": trunk.sid,
            "url": url,
            "links": {
                "origination_urls": f"{url}/OriginationUrls",
                "credential_lists": f"{url}/CredentialLists",
                "ip_access_control_lists": f"{url}/IpAccessControlLists",
                "phone_numbers": f"{url}/PhoneNumbers",
                "recording": f"{url}/Recording",
            },
        }

    def _origination_json(self, ou: OriginationUrl, base: str) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "sid": ou.sid,
            "trunk_sid": ou.trunk_sid,
            "weight": ou.weight,
            "enabled": ou.enabled,
            "sip_url": ou.sip_url,
            "friendly_name": ou.friendly_name,
            "priority": ou.priority,
            "date_created": iso(ou.date_created),
            "date_updated": iso(ou.date_updated),
            "url": f"{base}{TRUNKING_PREFIX}/v1/Trunks/{ou.trunk_sid}/OriginationUrls/{ou.sid}",
        }

    def _number_uri(self, number: OwnedNumber) -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/IncomingPhoneNumbers/{number.sid}.json"

    def _number_common(self, n: OwnedNumber) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "address_requirements": "none",
            "api_version": API_VERSION,
            "beta": n.beta,
            "capabilities": {"voice": True, "sms": True, "mms": True, "fax": False},
            "friendly_name": n.friendly_name,
            "phone_number": n.phone_number,
            "sid": n.sid,
            "sms_application_sid": n.sms_application_sid,
            "sms_fallback_method": n.sms_fallback_method,
            "sms_fallback_url": n.sms_fallback_url,
            "sms_method": n.sms_method,
            "sms_url": n.sms_url,
            "status_callback": n.status_callback,
            "status_callback_method": n.status_callback_method,
            "trunk_sid": n.trunk_sid,
            "voice_application_sid": n.voice_application_sid,
            "voice_caller_id_lookup": n.voice_caller_id_lookup,
            "voice_fallback_method": n.voice_fallback_method,
            "voice_fallback_url": n.voice_fallback_url,
            "voice_method": n.voice_method,
            "voice_url": n.voice_url,
        }

    def _incoming_json(self, n: OwnedNumber) -> dict[str, Any]:
        uri = self._number_uri(n)
        return {
            **self._number_common(n),
            "address_sid": None,
            "bundle_sid": None,
            "date_created": rfc2822(n.date_created),
            "date_updated": rfc2822(n.date_updated),
            "emergency_address_sid": None,
            "emergency_address_status": "unregistered",
            "emergency_status": "Inactive",
            "identity_sid": None,
            "origin": n.origin,
            "status": "in-use",
            "subresource_uris": {"assigned_add_ons": uri.replace(".json", "/AssignedAddOns.json")},
            "type": "local",
            "uri": uri,
            "voice_receive_mode": n.voice_receive_mode,
        }

    def _trunk_number_json(self, n: OwnedNumber, base: str) -> dict[str, Any]:
        return {
            **self._number_common(n),
            "date_created": iso(n.date_created),
            "date_updated": iso(n.date_updated),
            "links": {"phone_number": f"{base}{API_PREFIX}{self._number_uri(n)}"},
            "url": f"{base}{TRUNKING_PREFIX}/v1/Trunks/{n.trunk_sid}/PhoneNumbers/{n.sid}",
        }

    def _event_json(self, e: MonitorEvent, base: str) -> dict[str, Any]:
        resource = (
            f"{base}{API_PREFIX}/{API_VERSION}/Accounts/{self.account_sid}"
            f"/IncomingPhoneNumbers/{e.resource_sid}.json"
        )
        links = {"resource": resource}
        if e.actor_type == "account":
            links["actor"] = f"{base}{API_PREFIX}/{API_VERSION}/Accounts/{e.actor_sid}.json"
        return {
            "account_sid": self.account_sid,
            "actor_sid": e.actor_sid,
            "actor_type": e.actor_type,
            "description": e.description,
            "event_data": self._event_data(e),
            "event_date": iso(e.event_date),
            "event_type": e.event_type,
            "links": links,
            "resource_sid": e.resource_sid,
            "resource_type": "phone-number",
            "sid": e.sid,
            "source": e.source,
            "source_ip_address": e.source_ip_address,
            "url": f"{base}{MONITOR_PREFIX}/v1/Events/{e.sid}",
        }

    def _event_data(self, e: MonitorEvent) -> dict[str, Any]:
        """`event_data` in the shape the `monitor_event_data` variant in force says."""
        shape = self.variant("monitor_event_data")
        if shape == "empty":
            return {}
        props = e.event_data.get("resource_properties") or {}
        if shape == "flat":
            return {name: (change.get("updated") if change.get("updated") is not None
                           else change.get("previous"))
                    for name, change in props.items()}
        return e.event_data

    @staticmethod
    def _available_json(a: AvailableNumber) -> dict[str, Any]:
        return {
            "friendly_name": national_friendly_name(a.phone_number),
            "phone_number": a.phone_number,
            "lata": a.lata,
            "locality": a.locality,
            "rate_center": a.rate_center,
            "latitude": a.latitude,
            "longitude": a.longitude,
            "region": a.region,
            "postal_code": a.postal_code,
            "iso_country": a.iso_country,
            "address_requirements": "none",
            "beta": False,
            "capabilities": {"voice": True, "SMS": True, "MMS": True, "fax": False},
        }

    @staticmethod
    def _v1_list(
        call: Call, key: str, records: list[dict[str, Any]], sl: PageSlice[Any]
    ) -> Response:
        here = f"{call.base}{call.path}"

        def url(page: int, token: str | None) -> str:
            return f"{here}?{page_query(call.query, sl.page_size, page, token)}"

        return JSONResponse(
            {
                key: records,
                "meta": {
                    "first_page_url": url(0, None),
                    "key": key,
                    "next_page_url": url(sl.page + 1, sl.next_token) if sl.next_token else None,
                    "page": sl.page,
                    "page_size": sl.page_size,
                    "previous_page_url": (
                        url(sl.page - 1, sl.previous_token) if sl.previous_token else None
                    ),
                    "url": url(sl.page, call.query.get("PageToken")),
                },
            }
        )

    @staticmethod
    def _v2010_list(
        call: Call, key: str, records: list[dict[str, Any]], sl: PageSlice[Any]
    ) -> Response:
        here = call.path.removeprefix(API_PREFIX)

        def uri(page: int, token: str | None) -> str:
            return f"{here}?{page_query(call.query, sl.page_size, page, token)}"

        return JSONResponse(
            {
                "end": sl.start + max(len(records) - 1, 0),
                "first_page_uri": uri(0, None),
                key: records,
                "next_page_uri": uri(sl.page + 1, sl.next_token) if sl.next_token else None,
                "page": sl.page,
                "page_size": sl.page_size,
                "previous_page_uri": (
                    uri(sl.page - 1, sl.previous_token) if sl.previous_token else None
                ),
                "start": sl.start,
                "uri": uri(sl.page, call.query.get("PageToken")),
            }
        )

    # --- Trunking v1: trunks -------------------------------------------------------------------

    def list_trunks(self, call: Call) -> Response:
        trunks = sorted(self.trunks.values(), key=lambda t: t.serial)
        sl = slice_page(trunks, lambda t: [t.serial], call.query)
        return self._v1_list(call, "trunks", [self._trunk_json(t, call.base) for t in sl.items], sl)

    def create_trunk(self, call: Call) -> Response:
        now = self.now()
        trunk = Trunk(
            sid=self._new_sid("TK", call.form.get("FriendlyName", "")),
            friendly_name="",
            domain_name=None,
            date_created=now,
            date_updated=now,
            serial=self._next_serial(),
        )
        self._apply_trunk_fields(trunk, call.form)
        self.trunks[trunk.sid] = trunk
        return JSONResponse(self._trunk_json(trunk, call.base), status_code=201)

    def fetch_trunk(self, call: Call) -> Response:
        return JSONResponse(self._trunk_json(self._trunk(call), call.base))

    def update_trunk(self, call: Call) -> Response:
        trunk = self._trunk(call)
        self._apply_trunk_fields(trunk, call.form)
        trunk.date_updated = self.now()
        return JSONResponse(self._trunk_json(trunk, call.base))

    def delete_trunk(self, call: Call) -> Response:
        trunk = self._trunk(call)
        for number in self.numbers.values():
            if number.trunk_sid == trunk.sid:
                changes = self._set_trunk(number, None)
                number.date_updated = self.now()
                self._record_event("updated", number, self._api_actor(call), changes)
        del self.trunks[trunk.sid]
        self.sip.forget_trunk(trunk.sid)
        return Response(status_code=204)

    def _apply_trunk_fields(self, trunk: Trunk, form: dict[str, str]) -> None:
        """Validate every field first, then apply; `Recording` is read-only here and ignored."""
        updates: dict[str, Any] = {}
        if "FriendlyName" in form:
            updates["friendly_name"] = parse_friendly_name("FriendlyName", form["FriendlyName"])
        if "DomainName" in form:
            domain = form["DomainName"]
            if not TRUNK_DOMAIN.match(domain):
                raise bad_param(
                    f"DomainName {domain!r} is invalid: use letters, digits and '-' and end it "
                    "with pstn.twilio.com"
                )
            taken = any(
                t.domain_name and t.domain_name.lower() == domain.lower() and t.sid != trunk.sid
                for t in self.trunks.values()
            )
            if taken:
                raise bad_param(f"Trunk Domain {domain} already taken", TRUNK_DOMAIN_TAKEN)
            updates["domain_name"] = domain
        if "DisasterRecoveryUrl" in form:
            updates["disaster_recovery_url"] = (
                parse_callback_url("DisasterRecoveryUrl", form["DisasterRecoveryUrl"],
                                   INVALID_PARAMETER) or None
            )
        if "DisasterRecoveryMethod" in form:
            updates["disaster_recovery_method"] = parse_enum(
                "DisasterRecoveryMethod", form["DisasterRecoveryMethod"].upper(), HTTP_METHODS
            )
        if "TransferMode" in form:
            updates["transfer_mode"] = parse_enum("TransferMode", form["TransferMode"],
                                                  TRANSFER_MODES)
        if "TransferCallerId" in form:
            updates["transfer_caller_id"] = parse_enum(
                "TransferCallerId", form["TransferCallerId"], TRANSFER_CALLER_IDS
            )
        if "Secure" in form:
            updates["secure"] = parse_bool("Secure", form["Secure"])
        if "CnamLookupEnabled" in form:
            updates["cnam_lookup_enabled"] = parse_bool("CnamLookupEnabled",
                                                        form["CnamLookupEnabled"])
        for name, value in updates.items():
            setattr(trunk, name, value)

    # --- Trunking v1: recording ----------------------------------------------------------------

    def fetch_recording(self, call: Call) -> Response:
        trunk = self._trunk(call)
        return JSONResponse({"mode": trunk.recording_mode, "trim": trunk.recording_trim})

    def update_recording(self, call: Call) -> Response:
        trunk = self._trunk(call)
        mode = call.form.get("Mode")
        trim = call.form.get("Trim")
        if mode is not None:
            mode = parse_enum("Mode", mode, RECORDING_MODES)
        if trim is not None:
            trim = parse_enum("Trim", trim, RECORDING_TRIMS)
        trunk.recording_mode = mode or trunk.recording_mode
        trunk.recording_trim = trim or trunk.recording_trim
        return JSONResponse({"mode": trunk.recording_mode, "trim": trunk.recording_trim})

    # --- Trunking v1: origination URLs ---------------------------------------------------------

    def list_origination_urls(self, call: Call) -> Response:
        trunk = self._trunk(call)
        urls = sorted(trunk.origination_urls.values(), key=lambda o: o.serial)
        sl = slice_page(urls, lambda o: [o.serial], call.query)
        records = [self._origination_json(o, call.base) for o in sl.items]
        return self._v1_list(call, "origination_urls", records, sl)

    def create_origination_url(self, call: Call) -> Response:
        trunk = self._trunk(call)
        for name in ("Weight", "Priority", "Enabled", "FriendlyName", "SipUrl"):
            require(call.form, name)
        fields = self._origination_fields(call.form)
        now = self.now()
        ou = OriginationUrl(
            sid=self._new_sid("OU", trunk.sid, fields["sip_url"]),
            trunk_sid=trunk.sid,
            date_created=now,
            date_updated=now,
            serial=self._next_serial(),
            **fields,
        )
        trunk.origination_urls[ou.sid] = ou
        return JSONResponse(self._origination_json(ou, call.base), status_code=201)

    def _origination_url(self, call: Call) -> OriginationUrl:
        ou = self._trunk(call).origination_urls.get(call.path_params["sid"])
        if ou is None:
            raise not_found(call.path)
        return ou

    def fetch_origination_url(self, call: Call) -> Response:
        return JSONResponse(self._origination_json(self._origination_url(call), call.base))

    def update_origination_url(self, call: Call) -> Response:
        ou = self._origination_url(call)
        for name, value in self._origination_fields(call.form).items():
            setattr(ou, name, value)
        ou.date_updated = self.now()
        return JSONResponse(self._origination_json(ou, call.base))

    def delete_origination_url(self, call: Call) -> Response:
        ou = self._origination_url(call)
        del self.trunks[ou.trunk_sid].origination_urls[ou.sid]
        return Response(status_code=204)

    @staticmethod
    def _origination_fields(form: dict[str, str]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        if "Weight" in form:
            fields["weight"] = parse_int("Weight", form["Weight"], 1, 65535)
        if "Priority" in form:
            fields["priority"] = parse_int("Priority", form["Priority"], 0, 65535)
        if "Enabled" in form:
            fields["enabled"] = parse_bool("Enabled", form["Enabled"])
        if "FriendlyName" in form:
            if not form["FriendlyName"]:
                raise bad_param("FriendlyName must not be empty")
            fields["friendly_name"] = parse_friendly_name("FriendlyName", form["FriendlyName"])
        if "SipUrl" in form:
            sip_url = form["SipUrl"]
            if not SIP_URL.match(sip_url):
                raise bad_param(
                    f"SipUrl {sip_url!r} is invalid: it must be a sip: URI such as "
                    "sip:sbc.example.com:5061;transport=tls"
                )
            fields["sip_url"] = sip_url
        return fields

    # --- Trunking v1: phone numbers ------------------------------------------------------------

    def list_trunk_numbers(self, call: Call) -> Response:
        trunk = self._trunk(call)
        numbers = sorted(
            (n for n in self.numbers.values() if n.trunk_sid == trunk.sid),
            key=lambda n: n.phone_number,
        )
        sl = slice_page(numbers, lambda n: [n.phone_number], call.query)
        records = [self._trunk_number_json(n, call.base) for n in sl.items]
        return self._v1_list(call, "phone_numbers", records, sl)

    def associate_number(self, call: Call) -> Response:
        trunk = self._trunk(call)
        sid = require(call.form, "PhoneNumberSid")
        if not SID["PN"].match(sid):
            raise bad_param(f"PhoneNumberSid {sid!r} is invalid: expected PN followed by 32 hex "
                            "characters")
        number = self.numbers.get(sid)
        if number is None:
            raise not_found(f"{call.path}/{sid}")
        if number.trunk_sid == trunk.sid:
            raise TwilioApiError(
                409, CONFLICT,
                f"Phone number {number.phone_number} ({sid}) is already associated with trunk "
                f"{trunk.sid}",
            )
        if number.trunk_sid is not None:
            raise TwilioApiError(
                409, TRUNK_VALIDATION_ERROR,
                f"Phone number {number.phone_number} ({sid}) is already associated with another "
                f"trunk ({number.trunk_sid}); remove it there first",
            )
        changes = self._set_trunk(number, trunk.sid)
        number.date_updated = self.now()
        self._record_event("updated", number, self._api_actor(call), changes)
        return JSONResponse(self._trunk_number_json(number, call.base), status_code=201)

    def _trunk_number(self, call: Call) -> OwnedNumber:
        trunk = self._trunk(call)
        number = self.numbers.get(call.path_params["sid"])
        if number is None or number.trunk_sid != trunk.sid:
            raise not_found(call.path)
        return number

    def fetch_trunk_number(self, call: Call) -> Response:
        return JSONResponse(self._trunk_number_json(self._trunk_number(call), call.base))

    def disassociate_number(self, call: Call) -> Response:
        number = self._trunk_number(call)
        changes = self._set_trunk(number, None)
        number.date_updated = self.now()
        self._record_event("updated", number, self._api_actor(call), changes)
        return Response(status_code=204)

    # --- API 2010: IncomingPhoneNumbers --------------------------------------------------------

    def list_incoming(self, call: Call) -> Response:
        self._check_account(call)
        numbers = sorted(self.numbers.values(), key=lambda n: n.phone_number)
        q = call.query
        if "PhoneNumber" in q:
            pattern = re.compile(
                "".join(r"\d" if c == "*" else re.escape(c) for c in q["PhoneNumber"].strip())
            )
            numbers = [n for n in numbers if pattern.search(n.phone_number)]
        if "FriendlyName" in q:
            numbers = [n for n in numbers if n.friendly_name == q["FriendlyName"]]
        if "Beta" in q and not parse_bool("Beta", q["Beta"]):
            numbers = [n for n in numbers if not n.beta]
        if "Origin" in q:
            origin = parse_enum("Origin", q["Origin"], ORIGINS)
            numbers = [n for n in numbers if n.origin == origin]
        sl = slice_page(numbers, lambda n: [n.phone_number], q)
        records = [self._incoming_json(n) for n in sl.items]
        return self._v2010_list(call, "incoming_phone_numbers", records, sl)

    def fetch_incoming(self, call: Call) -> Response:
        self._check_account(call)
        return JSONResponse(self._incoming_json(self._number_by_sid(call)))

    def purchase_incoming(self, call: Call) -> Response:
        """Buy a number from the available inventory, optionally straight onto a trunk."""
        self._check_account(call)
        form = call.form
        self._check_trunk_or_application(form)
        if form.get("PhoneNumber"):
            phone = form["PhoneNumber"].strip()
            if not E164.match(phone):
                raise bad_param(f"Phone Number {phone!r} is invalid: use E.164, e.g. +14155550123",
                                PHONE_NUMBER_INVALID)
            if phone not in self.available:
                raise bad_param(f"{phone} is not available", PHONE_NUMBER_NOT_AVAILABLE)
        elif form.get("AreaCode"):
            area = form["AreaCode"].strip()
            if not re.fullmatch(r"[2-9]\d\d", area):
                raise bad_param(f"AreaCode {area!r} is not a valid area code", INVALID_AREA_CODE)
            phone = next((n for n in sorted(self.available) if area_code_of(n) == area), "")
            if not phone:
                raise bad_param(f"No phone numbers found in area code {area}",
                                NO_NUMBERS_IN_AREA_CODE)
        else:
            raise bad_param("Missing required parameter PhoneNumber or AreaCode in the post body")
        now = self.now()
        number = OwnedNumber(
            sid=self._new_sid("PN", phone),
            phone_number=phone,
            friendly_name=national_friendly_name(phone),
            date_created=now,
            date_updated=now,
        )
        self._apply_number_fields(number, form)
        del self.available[phone]
        self.numbers[number.sid] = number
        self._record_event("created", number, self._api_actor(call), {
            "phone_number": (None, number.phone_number),
            "friendly_name": (None, number.friendly_name),
            "trunk_sid": (None, number.trunk_sid),
        })
        return JSONResponse(self._incoming_json(number), status_code=201)

    def update_incoming(self, call: Call) -> Response:
        self._check_account(call)
        number = self._number_by_sid(call)
        target = call.form.get("AccountSid")
        if target is not None and target != self.account_sid:
            raise bad_param(
                f"Transfer target AccountSid {target} is not related to the phone number owner",
                TRANSFER_TARGET_UNRELATED,
            )
        self._check_trunk_or_application(call.form)
        changes = self._apply_number_fields(number, call.form)
        if changes:
            number.date_updated = self.now()
            self._record_event("updated", number, self._api_actor(call), changes)
        return JSONResponse(self._incoming_json(number))

    def release_incoming(self, call: Call) -> Response:
        self._check_account(call)
        number = self._number_by_sid(call)
        self._release(number, self._api_actor(call))
        return Response(status_code=204)

    def _release(self, number: OwnedNumber, actor: Actor) -> None:
        """Gone from the account and from its trunk; it does not return to the inventory."""
        del self.numbers[number.sid]
        self._record_event("deleted", number, actor, {
            "phone_number": (number.phone_number, None),
            "trunk_sid": (number.trunk_sid, None),
        })
        number.trunk_sid = None

    def _check_trunk_or_application(self, form: dict[str, str]) -> None:
        if form.get("TrunkSid") and form.get("VoiceApplicationSid"):
            raise bad_param(
                "TrunkSid and VoiceApplicationSid exclude each other: a number routes to a trunk "
                "or to an application, not both"
            )

    def _apply_number_fields(
        self, number: OwnedNumber, form: dict[str, str]
    ) -> dict[str, tuple[Any, Any]]:
        """Validate all given fields, then apply them; return what changed."""
        updates: dict[str, Any] = {}
        for key, (attr, kind) in NUMBER_FIELDS.items():
            if key not in form:
                continue
            raw = form[key]
            if kind == "name":
                updates[attr] = parse_friendly_name(key, raw)
            elif kind == "url":
                updates[attr] = parse_callback_url(key, raw)
            elif kind == "method":
                updates[attr] = parse_enum(key, raw.upper(), HTTP_METHODS)
            elif kind == "bool":
                updates[attr] = parse_bool(key, raw)
            elif kind == "receive_mode":
                updates[attr] = parse_enum(key, raw, VOICE_RECEIVE_MODES)
            else:
                updates[attr] = raw
        trunk_sid: str | bool | None = False  # False: not given
        if "TrunkSid" in form:
            trunk_sid = form["TrunkSid"] or None
            if trunk_sid is not None and trunk_sid not in self.trunks:
                raise bad_param(f"TrunkSid {trunk_sid!r} is not a trunk of account "
                                f"{self.account_sid}")
        application: str | bool | None = False
        if "VoiceApplicationSid" in form:
            application = form["VoiceApplicationSid"] or None
            if application is not None and not SID["AP"].match(application):
                raise bad_param(f"VoiceApplicationSid {application!r} is not AP + 32 hex")
        changes: dict[str, tuple[Any, Any]] = {}
        for attr, value in updates.items():
            if getattr(number, attr) != value:
                changes[attr] = (getattr(number, attr), value)
                setattr(number, attr, value)
        if trunk_sid is not False:
            assert not isinstance(trunk_sid, bool)
            changes.update(self._set_trunk(number, trunk_sid))
        if application is not False and application != number.voice_application_sid:
            assert not isinstance(application, bool)
            changes["voice_application_sid"] = (number.voice_application_sid, application)
            number.voice_application_sid = application
            if application and number.trunk_sid:
                changes["trunk_sid"] = (number.trunk_sid, None)
                number.trunk_sid = None
        return changes

    # --- API 2010: AvailablePhoneNumbers -------------------------------------------------------

    def search_available_local(self, call: Call) -> Response:
        self._check_account(call)
        country = call.path_params["country"]
        candidates = sorted(
            (a for a in self.available.values() if a.iso_country == country),
            key=lambda a: a.phone_number,
        )
        if not candidates and country not in {a.iso_country for a in self.available.values()}:
            raise not_found(call.path)
        q = call.query
        if "AreaCode" in q:
            area = q["AreaCode"].strip()
            if not re.fullmatch(r"[2-9]\d\d", area):
                raise bad_param(f"AreaCode {area!r} is not a valid area code", INVALID_AREA_CODE)
            candidates = [a for a in candidates if area_code_of(a.phone_number) == area]
        if "Contains" in q:
            contains = q["Contains"].strip()
            if not CONTAINS.match(contains):
                raise bad_param(
                    f"Contains {contains!r} is invalid: use digits, letters and '*' (any digit)"
                )
            pattern = re.compile("".join(
                r"\d" if c == "*" else re.escape(KEYPAD.get(c.upper(), c)) for c in contains
            ))
            candidates = [a for a in candidates if pattern.search(a.phone_number)]
        size = page_size_of(q)
        records = [self._available_json(a) for a in candidates[:size]]
        sl: PageSlice[AvailableNumber] = PageSlice(
            items=candidates[:size], page=0, page_size=size, start=0,
            next_token=None, previous_token=None,
        )
        return self._v2010_list(call, "available_phone_numbers", records, sl)

    # --- Monitor v1: events --------------------------------------------------------------------

    def list_events(self, call: Call) -> Response:
        q = call.query
        given = [name for name in MONITOR_FILTERS if q.get(name)]
        if len(given) > 1:
            raise bad_param(
                f"Only one of {', '.join(MONITOR_FILTERS)} may be combined with a date range; "
                f"got {', '.join(given)}"
            )
        start = parse_date_param("StartDate", q["StartDate"], end_of_day=False) \
            if q.get("StartDate") else None
        end = parse_date_param("EndDate", q["EndDate"], end_of_day=True) \
            if q.get("EndDate") else None
        if start and end and start > end:
            raise bad_param("StartDate must not be after EndDate")
        events = self._visible_events()
        if start:
            events = [e for e in events if e.event_date >= start]
        if end:
            events = [e for e in events if e.event_date <= end]
        attribute = {"ActorSid": "actor_sid", "EventType": "event_type",
                     "ResourceSid": "resource_sid", "SourceIpAddress": "source_ip_address"}
        for name in given:
            events = [e for e in events if getattr(e, attribute[name]) == q[name]]
        sl = slice_page(events, lambda e: [-e.serial], q)
        records = [self._event_json(e, call.base) for e in sl.items]
        return self._v1_list(call, "events", records, sl)

    def fetch_event(self, call: Call) -> Response:
        sid = call.path_params["sid"]
        for event in self._visible_events():
            if event.sid == sid:
                return JSONResponse(self._event_json(event, call.base))
        raise not_found(call.path)

    # --- sandbox helpers -----------------------------------------------------------------------

    async def sandbox_purchase(self, request: Request) -> Response:
        """A number bought in the Twilio console: owned, logged in Monitor, on no trunk."""
        body = await _json_object(request)
        phone = str(body.get("phone_number", "")).strip()
        if not E164.match(phone):
            return JSONResponse({"error": f"phone_number {phone!r} is not E.164"}, status_code=400)
        with self.lock:
            if any(n.phone_number == phone for n in self.numbers.values()):
                return JSONResponse({"error": f"{phone} is already owned"}, status_code=409)
            self.available.pop(phone, None)
            now = self.now()
            number = OwnedNumber(
                sid=self._new_sid("PN", phone),
                phone_number=phone,
                friendly_name=str(body.get("friendly_name") or national_friendly_name(phone)),
                date_created=now,
                date_updated=now,
            )
            self.numbers[number.sid] = number
            actor = Actor("web", "user", CONSOLE_USER_SID, str(body.get("ip", CONSOLE_IP)))
            self._record_event("created", number, actor, {
                "phone_number": (None, phone),
                "friendly_name": (None, number.friendly_name),
                "trunk_sid": (None, None),
            })
            return JSONResponse(self._incoming_json(number), status_code=201)

    async def sandbox_release(self, request: Request) -> Response:
        """A number released in the Twilio console."""
        body = await _json_object(request)
        phone = str(body.get("phone_number", "")).strip()
        with self.lock:
            number = next((n for n in self.numbers.values() if n.phone_number == phone), None)
            if number is None:
                return JSONResponse({"error": f"{phone!r} is not owned"}, status_code=404)
            self._release(number, Actor("web", "user", CONSOLE_USER_SID, CONSOLE_IP))
            return JSONResponse({"released": phone, "sid": number.sid})

    async def sandbox_clock(self, request: Request) -> Response:
        """Move the emulator clock forward (`advance_s`); it never goes back."""
        body = await _json_object(request)
        try:
            advance = float(body.get("advance_s", 0))
        except (TypeError, ValueError):
            return JSONResponse({"error": "advance_s must be a number"}, status_code=400)
        if advance < 0:
            return JSONResponse({"error": "the clock only moves forward"}, status_code=400)
        with self.lock:
            self.clock_offset += timedelta(seconds=advance)
            return JSONResponse({"now": iso(self.now()),
                                 "offset_s": self.clock_offset.total_seconds()})

    async def sandbox_limits(self, request: Request) -> Response:
        """Change `concurrency` and/or `retry_after_s` (null: no Retry-After header)."""
        body = await _json_object(request)
        with self.lock:
            try:
                if "concurrency" in body:
                    limit = int(body["concurrency"])
                    if limit < 1:
                        raise ValueError("concurrency must be at least 1")
                    self.concurrency_limit = limit
                if "retry_after_s" in body:
                    raw = body["retry_after_s"]
                    self.retry_after_s = None if raw is None else int(raw)
            except (TypeError, ValueError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse({"concurrency": self.concurrency_limit,
                                 "retry_after_s": self.retry_after_s})

    # --- request pipeline ----------------------------------------------------------------------

    def _authenticate(self, request: Request) -> None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        user = password = ""
        if scheme.lower() == "basic":
            try:
                user, _, password = (
                    base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
                )
            except (binascii.Error, UnicodeDecodeError):
                user = password = ""
        ok = hmac.compare_digest(user.encode(), self.account_sid.encode()) and hmac.compare_digest(
            password.encode(), self.auth_token.encode()
        )
        if not ok:
            raise TwilioApiError(
                401, AUTHENTICATE, "Authenticate",
                headers={"WWW-Authenticate": 'Basic realm="Twilio API"'},
                detail="Your AccountSid or AuthToken was incorrect.",
            )

    def _enter(self) -> int | None:
        """Count one more call in flight; None when the account is at its concurrency limit."""
        with self._flight_lock:
            if self.in_flight >= self.concurrency_limit:
                self.rejected_for_concurrency += 1
                return None
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.in_flight

    def _leave(self) -> None:
        with self._flight_lock:
            self.in_flight = max(0, self.in_flight - 1)

    def _too_many_requests(self) -> Response:
        headers = {"Twilio-Concurrent-Requests": str(self.concurrency_limit)}
        if self.variant("rate_limit_retry_after") == "present":
            headers["Retry-After"] = str(self.retry_after_s if self.retry_after_s is not None
                                         else 1)
        return TwilioApiError(
            429, TOO_MANY_REQUESTS, "Too Many Requests", headers=headers
        ).response()

    def _endpoint(self, handlers: dict[str, Handler]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                self._authenticate(request)
                handler = handlers.get(request.method)
                if handler is None:
                    raise TwilioApiError(
                        405, METHOD_NOT_ALLOWED, f"Method {request.method} not allowed on "
                        f"{request.url.path}; allowed: {', '.join(sorted(handlers))}"
                    )
            except TwilioApiError as exc:
                return exc.response()
            if self.faults.take("rate_limit", request.url.path, request.method) is not None:
                self.rejected_for_concurrency += 1
                return self._too_many_requests()  # as if the account were at its limit
            concurrent = self._enter()
            if concurrent is None:
                return self._too_many_requests()
            try:
                fault = self.faults.take("slow", request.url.path, request.method)
                if fault is not None and fault.latency_ms:
                    await asyncio.sleep(fault.latency_ms / 1000)
                host = request.headers.get("host", request.url.netloc)
                call = Call(
                    method=request.method,
                    path=request.url.path,
                    base=f"{request.url.scheme}://{host}",
                    path_params=dict(request.path_params),
                    query=dict(request.query_params),
                    form=await _form(request),
                    client_ip=request.client.host if request.client else "127.0.0.1",
                )
                try:
                    with self.lock:
                        response = handler(call)
                except TwilioApiError as exc:
                    response = exc.response()
            finally:
                self._leave()
            response.headers["Twilio-Concurrent-Requests"] = str(concurrent)
            return response

        return endpoint

    def routes(self) -> list[BaseRoute]:
        trunk = f"{TRUNKING_PREFIX}/v1/Trunks/{{trunk_sid}}"
        account = f"{API_PREFIX}/{API_VERSION}/Accounts/{{account_sid}}"
        table: list[tuple[str, dict[str, Handler]]] = [
            (f"{TRUNKING_PREFIX}/v1/Trunks",
             {"GET": self.list_trunks, "POST": self.create_trunk}),
            (trunk, {"GET": self.fetch_trunk, "POST": self.update_trunk,
                     "DELETE": self.delete_trunk}),
            (f"{trunk}/Recording",
             {"GET": self.fetch_recording, "POST": self.update_recording}),
            (f"{trunk}/OriginationUrls",
             {"GET": self.list_origination_urls, "POST": self.create_origination_url}),
            (f"{trunk}/OriginationUrls/{{sid}}",
             {"GET": self.fetch_origination_url, "POST": self.update_origination_url,
              "DELETE": self.delete_origination_url}),
            (f"{trunk}/PhoneNumbers",
             {"GET": self.list_trunk_numbers, "POST": self.associate_number}),
            (f"{trunk}/PhoneNumbers/{{sid}}",
             {"GET": self.fetch_trunk_number, "DELETE": self.disassociate_number}),
            (f"{account}/IncomingPhoneNumbers.json",
             {"GET": self.list_incoming, "POST": self.purchase_incoming}),
            (f"{account}/IncomingPhoneNumbers/{{sid}}.json",
             {"GET": self.fetch_incoming, "POST": self.update_incoming,
              "DELETE": self.release_incoming}),
            (f"{account}/AvailablePhoneNumbers/{{country}}/Local.json",
             {"GET": self.search_available_local}),
            (f"{MONITOR_PREFIX}/v1/Events", {"GET": self.list_events}),
            (f"{MONITOR_PREFIX}/v1/Events/{{sid}}", {"GET": self.fetch_event}),
            *self.sip.routes(trunk, account),
            *self.calls.routes(account),
        ]
        routes: list[BaseRoute] = [
            Route(path, self._endpoint(h), methods=ALL_METHODS) for path, h in table
        ]
        routes += [
            Route("/_sandbox/twilio/purchase", self.sandbox_purchase, methods=["POST"]),
            Route("/_sandbox/twilio/release", self.sandbox_release, methods=["POST"]),
            Route("/_sandbox/twilio/clock", self.sandbox_clock, methods=["POST"]),
            Route("/_sandbox/twilio/limits", self.sandbox_limits, methods=["POST"]),
            Route("/{path:path}", _unknown_resource, methods=ALL_METHODS),
        ]
        return routes


async def _unknown_resource(request: Request) -> Response:
    return not_found(request.url.path).response()


async def _form(request: Request) -> dict[str, str]:
    """Form-encoded body (the only encoding Twilio reads); other bodies carry no parameters."""
    if request.method not in ("POST", "PUT"):
        return {}
    content_type = request.headers.get("content-type", "")
    if "application/x-www-form-urlencoded" not in content_type:
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        raw = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        return {}
    return raw if isinstance(raw, dict) else {}
