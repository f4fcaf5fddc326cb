"""Twilio through its own SDK (`twilio` 9.x): the trunk, its numbers, purchases, Monitor events.

The SDK is imported on first use. With `BYOC_TWILIO_API_BASE` set (the sandbox) every domain's
`base_url` points there and `edge`/`region` are cleared, so `TWILIO_EDGE`/`TWILIO_REGION` in the
environment cannot rewrite the host (docs/vendors/twilio.md §3, sandbox/README-twilio.md).

The SDK never retries a 429/20429 on a POST (and on GET only with `Retry-After`): every call here
backs off and retries itself. A retried create first re-reads the object by its natural key (the
phone number, the origination URL, the trunk association) so a call that did land is not repeated.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from byoc import metrics
from byoc.adapters.retry import Backoff, retry_after_s, retrying
from byoc.ports import (
    TwilioCredentialList,
    TwilioError,
    TwilioIpAcl,
    TwilioNumber,
    TwilioNumberAuditEvent,
    TwilioNumberUnavailable,
    TwilioOriginationUrl,
    TwilioRateLimited,
    TwilioTermination,
    TwilioTrunk,
)

log = logging.getLogger("byoc.twilio")

T = TypeVar("T")

PAGE_SIZE = 1000
REQUEST_TIMEOUT_S = 30.0
NUMBER_EVENT_PREFIX = "phone-number."
_UNAVAILABLE_CODES = frozenset({21421, 21422, 21452})
"""Invalid number, number not available, no numbers in the area code."""


class TwilioListingMismatch(TwilioError):
    """A listing came back with numbers of another account: nothing in it is used."""


BACKOFF = Backoff(attempts=6, base_s=0.5, cap_s=16.0, retry_after_cap_s=16.0, jitter=True)
"""429/20429, 5xx and dropped connections: six attempts, jittered backoff from 0.5 s to 16 s."""


@dataclass(frozen=True)
class _Refusal:
    status: int | None
    code: int | None
    message: str
    retry_after: float | None = None
    timed_out: bool = False

    @property
    def rate_limited(self) -> bool:
        return self.status == 429 or self.code == 20429

    @property
    def retryable(self) -> bool:
        return (self.timed_out or self.rate_limited
                or (self.status is not None and self.status >= 500))


class _Refused(Exception):
    """A retryable refusal on its way through the retry loop (never leaves `_call`)."""

    def __init__(self, cause: BaseException, refusal: _Refusal) -> None:
        super().__init__(refusal.message)
        self.cause, self.refusal = cause, refusal


def build_twilio_client(
    account_sid: str, auth_token: str, api_base: str | None, timeout_s: float = REQUEST_TIMEOUT_S
) -> Any:
    """A twilio `Client`; with `api_base`, every domain used by byoc points there."""
    from twilio.http.http_client import TwilioHttpClient  # type: ignore[import-untyped]
    from twilio.rest import Client  # type: ignore[import-untyped]

    class RetryAfterHttpClient(TwilioHttpClient):  # type: ignore[misc]
        """Keeps the last Retry-After header (the SDK drops headers from its exceptions)."""

        retry_after: float | None = None

        def request(self, *args: Any, **kwargs: Any) -> Any:
            response = super().request(*args, **kwargs)
            self.retry_after = retry_after_s(response.headers)
            return response

    client = Client(
        account_sid, auth_token, http_client=RetryAfterHttpClient(timeout=timeout_s)
    )
    if api_base:
        base = api_base.rstrip("/")
        client.edge = None
        client.region = None
        client.trunking.base_url = f"{base}/trunking"
        client.api.base_url = f"{base}/api"
        client.monitor.base_url = f"{base}/monitor"
    return client


@dataclass(frozen=True)
class TwilioCallState:
    """An outbound call as the Calls resource shows it."""

    sid: str
    status: str
    created: dt.datetime | None
    start: dt.datetime | None
    end: dt.datetime | None
    duration_s: int | None

    @property
    def ended(self) -> bool:
        return self.status in ("completed", "busy", "failed", "no-answer", "canceled")


def _call_state(call: Any) -> TwilioCallState:
    duration = getattr(call, "duration", None)
    return TwilioCallState(
        sid=str(call.sid), status=str(call.status),
        created=getattr(call, "date_created", None), start=getattr(call, "start_time", None),
        end=getattr(call, "end_time", None),
        duration_s=int(duration) if duration not in (None, "") else None,
    )


class TwilioAdapter:
    """The `TwilioPort` of one account and one trunk."""

    def __init__(
        self,
        *,
        account_sid: str,
        trunk_sid: str,
        auth_token: Callable[[], str],
        api_base: str | None = None,
        concurrency: int = 4,
        retry: Backoff = BACKOFF,
        sleep: Callable[[float], None] | None = None,
        page_size: int = PAGE_SIZE,
        timeout_s: float = REQUEST_TIMEOUT_S,
    ) -> None:
        self.account_sid = account_sid
        self.trunk_sid = trunk_sid
        self._auth_token = auth_token
        self._api_base = api_base
        self._concurrency = max(1, concurrency)
        self._retry = retry
        self._sleep = sleep
        self._page_size = page_size
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._token: str | None = None
        self._generation = 0
        self._token_lock = threading.Lock()

    # --- plumbing -----------------------------------------------------------------------------

    def _client(self) -> Any:
        """One SDK client per thread (its HTTP client keeps per-request state), rebuilt after the
        auth token was read again."""
        client = getattr(self._local, "client", None)
        if client is None or getattr(self._local, "generation", None) != self._generation:
            with self._token_lock:
                if self._token is None:
                    self._token = self._auth_token()
                token, generation = self._token, self._generation
            client = build_twilio_client(self.account_sid, token, self._api_base, self._timeout_s)
            self._local.client = client
            self._local.generation = generation
        return client

    def _reread_token(self, seen_generation: int) -> None:
        """Read the auth token again (it may have been rotated in Key Vault) unless another thread
        already did since `seen_generation`."""
        with self._token_lock:
            if self._generation == seen_generation:
                self._token = self._auth_token()
                self._generation += 1
        log.warning("Twilio answered 401: the auth token was read again",
                    extra={"event": "twilio.token_reread"})

    def _trunk(self) -> Any:
        return self._client().trunking.v1.trunks(self.trunk_sid)

    def _call(
        self,
        operation: str,
        call: Callable[[], T],
        *,
        recover: Callable[[], T | None] | None = None,
    ) -> T:
        """Run one SDK call, backing off on 429/20429, 5xx and dropped connections.

        `recover` (for creates) re-reads by natural key before each retry and returns what the
        earlier attempt created, if it did.
        """
        reread: list[bool] = []
        loop = retrying(
            self._retry,
            retry_if=lambda exc: isinstance(exc, _Refused),
            retry_after=lambda exc: exc.refusal.retry_after if isinstance(exc, _Refused) else None,
            sleep=self._sleep,
            before_sleep=partial(self._retrying, operation),
        )
        try:
            for attempt in loop:
                with attempt:
                    if attempt.retry_state.attempt_number > 1 and recover is not None:
                        found = recover()
                        if found is not None:
                            return found
                    return self._attempt(operation, call, reread)
        except _Refused as refused:
            refusal = refused.refusal
            if refusal.rate_limited:
                metrics.rate_limited("twilio")
                raise TwilioRateLimited(
                    f"Twilio answered 429/20429 (too many concurrent requests) to "
                    f"{operation} {self._retry.attempts} times; lower BYOC_TWILIO_CONCURRENCY or "
                    "look for other clients of this account",
                    status=refusal.status, code=refusal.code,
                ) from refused.cause
            raise self._error(operation, refused.cause, refusal) from refused.cause
        raise AssertionError("unreachable")  # pragma: no cover

    def _attempt(self, operation: str, call: Callable[[], T], reread: list[bool]) -> T:
        """One attempt of `call`; a retryable refusal is raised as `_Refused`, any other failure
        as its `TwilioError`. A 401 reads the auth token again, once per call, and tries again."""
        metrics.vendor_call("twilio")
        generation = self._generation
        try:
            return call()
        except Exception as exc:
            refusal = self._refusal(exc)
            if refusal is not None and refusal.status == 401 and not reread:
                # A rotated token: read it again from Key Vault and try once more (a 401 is
                # an authentication refusal: nothing was done).
                reread.append(True)
                self._reread_token(generation)
                metrics.vendor_call("twilio")
                try:
                    return call()
                except Exception as again:
                    exc, refusal = again, self._refusal(again)
            if refusal is None or not refusal.retryable:
                raise self._error(operation, exc, refusal) from exc
            raise _Refused(exc, refusal) from exc

    @staticmethod
    def _retrying(operation: str, retry: int, exc: BaseException, delay: float) -> None:
        refusal = exc.refusal if isinstance(exc, _Refused) else None
        if refusal is None:
            return
        metrics.vendor_retry("twilio", "rate_limited" if refusal.rate_limited else "busy",
                             rate_limited=refusal.rate_limited)
        log.warning(
            "Twilio call refused; retrying",
            extra={"event": "twilio.retry", "operation": operation,
                   "status": refusal.status, "code": refusal.code,
                   "attempt": retry, "delay_s": round(delay, 3)},
        )

    def _refusal(self, exc: BaseException) -> _Refusal | None:
        """Status, Twilio code and Retry-After of a failed call; None if it is not a vendor answer."""
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import Timeout
        from twilio.base.exceptions import (  # type: ignore[import-untyped]
            TwilioException,
            TwilioRestException,
        )

        retry_after = getattr(self._client().http_client, "retry_after", None)
        if isinstance(exc, TwilioRestException):
            code = int(exc.code) if exc.code is not None else None
            return _Refusal(int(exc.status), code, str(exc.msg), retry_after)
        if isinstance(exc, TwilioException) and len(exc.args) > 1:
            # list/page calls raise a bare TwilioException carrying the response
            response = exc.args[1]
            status = getattr(response, "status_code", None)
            code, message = None, str(getattr(response, "text", ""))[:300]
            try:
                body = json.loads(getattr(response, "text", "") or "{}")
                code = int(body["code"]) if body.get("code") is not None else None
                message = str(body.get("message", message))
            except (ValueError, TypeError, AttributeError, KeyError):
                pass
            retry_after = retry_after_s(getattr(response, "headers", None))
            return _Refusal(int(status) if status is not None else None, code, message, retry_after)
        if isinstance(exc, Timeout):
            # no answer in time: the outcome is unknown, retried like a 5xx
            return _Refusal(None, None, f"no answer within {self._timeout_s:g} s "
                            f"(BYOC_TWILIO_TIMEOUT_S; {type(exc).__name__})", None, timed_out=True)
        if isinstance(exc, RequestsConnectionError):
            # a dropped connection: the outcome is unknown, retried like a 5xx
            return _Refusal(599, None, f"{type(exc).__name__}: {exc}", None)
        return None

    @staticmethod
    def _error(operation: str, exc: BaseException, refusal: _Refusal | None) -> TwilioError:
        if refusal is None:
            return TwilioError(f"Twilio {operation} failed: {type(exc).__name__}: {exc}")
        if refusal.timed_out:
            return TwilioError(
                f"Twilio did not answer {operation}: {refusal.message}; check the network path "
                "to Twilio, or raise BYOC_TWILIO_TIMEOUT_S if Twilio is only slow"
            )
        detail = f"HTTP {refusal.status}" + (f", error {refusal.code}" if refusal.code else "")
        hint = ""
        if refusal.status == 401 or refusal.code == 20003:
            hint = " (check BYOC_TWILIO_ACCOUNT_SID and the auth token)"
        elif refusal.code:
            hint = f" (https://www.twilio.com/docs/errors/{refusal.code})"
        cls = TwilioNumberUnavailable if refusal.code in _UNAVAILABLE_CODES else TwilioError
        return cls(
            f"Twilio refused {operation}: {refusal.message} [{detail}]{hint}",
            status=refusal.status, code=refusal.code,
        )

    def _pages(self, operation: str, first: Callable[[], Any]) -> Iterator[Any]:
        """Every record of a paged list, each page fetched with retries."""
        page = self._call(operation, first)
        while page is not None:
            yield from page
            page = self._call(operation, _next_page_of(page))

    def _each(
        self,
        numbers: list[TwilioNumber],
        write: Callable[[TwilioNumber], None],
        before_each: Callable[[], None],
    ) -> dict[str, str]:
        """`write` every number with bounded concurrency; {number: problem} of those that failed."""
        failures: dict[str, str] = {}
        stop: list[BaseException] = []
        lock = threading.Lock()

        def one(number: TwilioNumber) -> None:
            if stop:
                return
            try:
                before_each()
            except BaseException as exc:  # the lease is lost: no further writes
                with lock:
                    stop.append(exc)
                return
            try:
                write(number)
            except TwilioError as exc:
                with lock:
                    failures[number.phone_number] = str(exc)

        workers = min(self._concurrency, max(1, len(numbers)))
        # Each write runs in a copy of this thread's context: its trace and log fields go along.
        context = contextvars.copy_context()
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="twilio") as pool:
            list(pool.map(lambda n: context.copy().run(one, n), numbers))
        if stop:
            raise stop[0]
        return failures

    # --- trunk --------------------------------------------------------------------------------

    def place_call(self, to: str, from_: str, twiml: str) -> TwilioCallState:
        """Start an outbound call (Calls resource) running `twiml`. Not retried: a second
        attempt could place a second call."""
        metrics.vendor_call("twilio")
        try:
            made = self._client().calls.create(to=to, from_=from_, twiml=twiml)
        except Exception as exc:
            raise self._error("place a call", exc, self._refusal(exc)) from None
        return _call_state(made)

    def fetch_call(self, sid: str) -> TwilioCallState:
        return _call_state(self._call("read a call", lambda: self._client().calls(sid).fetch()))

    def end_call(self, sid: str, status: str) -> TwilioCallState:
        """Hang up (`completed`, a call in progress) or cancel (`canceled`, one not answered)."""
        return _call_state(self._call(
            "end a call", lambda: self._client().calls(sid).update(status=status)))

    def fetch_trunk(self) -> TwilioTrunk:
        trunk = self._call("read the trunk", lambda: self._trunk().fetch())
        return _trunk(trunk)

    def set_trunk_secure(self, secure: bool) -> TwilioTrunk:
        trunk = self._call(
            "update the trunk's secure setting", lambda: self._trunk().update(secure=secure)
        )
        return _trunk(trunk)

    def list_origination_urls(self) -> list[TwilioOriginationUrl]:
        return [
            _origination_url(u)
            for u in self._pages(
                "list origination URLs",
                lambda: self._trunk().origination_urls.page(page_size=self._page_size),
            )
        ]

    def create_origination_url(self, url: TwilioOriginationUrl) -> TwilioOriginationUrl:
        def recover() -> TwilioOriginationUrl | None:
            wanted = url.sip_url.lower()
            return next(
                (u for u in self.list_origination_urls() if u.sip_url.lower() == wanted), None
            )

        created = self._call(
            f"create origination URL {url.sip_url}",
            lambda: _origination_url(self._trunk().origination_urls.create(
                weight=url.weight, priority=url.priority, enabled=url.enabled,
                friendly_name=url.friendly_name, sip_url=url.sip_url,
            )),
            recover=recover,
        )
        return created

    def update_origination_url(self, url: TwilioOriginationUrl) -> TwilioOriginationUrl:
        if url.sid is None:
            raise ValueError("an origination URL update needs the URL's sid")
        sid = url.sid
        return self._call(
            f"update origination URL {url.sip_url}",
            lambda: _origination_url(self._trunk().origination_urls(sid).update(
                weight=url.weight, priority=url.priority, enabled=url.enabled,
                friendly_name=url.friendly_name, sip_url=url.sip_url,
            )),
        )

    def delete_origination_url(self, sid: str) -> None:
        try:
            self._call(f"delete origination URL {sid}",
                       lambda: self._trunk().origination_urls(sid).delete())
        except TwilioError as exc:
            if exc.status != 404:
                raise

    # --- numbers ------------------------------------------------------------------------------

    def list_trunk_numbers(self) -> list[TwilioNumber]:
        return self._own_numbers("the trunk's numbers", [
            _number(n)
            for n in self._pages(
                "list the trunk's numbers",
                lambda: self._trunk().phone_numbers.page(page_size=self._page_size),
            )
        ])

    def list_account_numbers(self) -> list[TwilioNumber]:
        return self._own_numbers("the account's numbers", [
            _number(n)
            for n in self._pages(
                "list the account's numbers",
                lambda: self._client().incoming_phone_numbers.page(page_size=self._page_size),
            )
        ])

    def _own_numbers(self, what: str, numbers: list[TwilioNumber]) -> list[TwilioNumber]:
        """`numbers`, unless the listing holds another account's numbers: then nothing is trusted
        (byoc would otherwise offboard its own numbers and onboard someone else's)."""
        foreign = sorted({n.account_sid for n in numbers
                          if n.account_sid and n.account_sid != self.account_sid})
        if foreign:
            raise TwilioListingMismatch(
                f"Twilio listed {what} of account(s) {', '.join(foreign)}, not "
                f"{self.account_sid}; byoc changed nothing. Check BYOC_TWILIO_ACCOUNT_SID and "
                "that the credentials are this account's, not a parent or other account's"
            )
        return numbers

    def fetch_number(self, sid: str) -> TwilioNumber | None:
        try:
            found = self._call(f"read number {sid}",
                               lambda: self._client().incoming_phone_numbers(sid).fetch())
        except TwilioError as exc:
            if exc.status == 404:
                return None
            raise
        return _number(found)

    def find_number(self, phone_number: str) -> TwilioNumber | None:
        """The account's number `phone_number` (the list filter matches substrings: exact here)."""
        matches = self._pages(
            f"look up {phone_number}",
            lambda: self._client().incoming_phone_numbers.page(
                phone_number=phone_number, page_size=50
            ),
        )
        return next((_number(n) for n in matches if n.phone_number == phone_number), None)

    def associate_numbers(
        self, numbers: list[TwilioNumber], before_each: Callable[[], None]
    ) -> dict[str, str]:
        return self._each(numbers, self._associate, before_each)

    def _associate(self, number: TwilioNumber) -> None:
        def recover() -> bool | None:
            current = self.fetch_number(number.sid)
            return True if current is not None and current.trunk_sid == self.trunk_sid else None

        try:
            self._call(
                f"associate {number.phone_number} with trunk {self.trunk_sid}",
                lambda: self._trunk().phone_numbers.create(phone_number_sid=number.sid),
                recover=recover,
            )
        except TwilioError as exc:
            if exc.status is None or not 400 <= exc.status < 500:
                raise
            # Decide on the number's own trunk_sid, not on the error code (codes unverified).
            current = self.fetch_number(number.sid)
            if current is not None and current.trunk_sid == self.trunk_sid:
                return
            if current is None:
                raise TwilioError(
                    f"{number.phone_number} ({number.sid}) is not owned by account "
                    f"{self.account_sid}; not associated", status=exc.status, code=exc.code,
                ) from exc
            if current.trunk_sid:
                raise TwilioError(
                    f"{number.phone_number} is on trunk {current.trunk_sid}, not "
                    f"{self.trunk_sid}; byoc does not move numbers between trunks (remove it "
                    "there first)", status=exc.status, code=exc.code,
                ) from exc
            raise

    def release_numbers(
        self, numbers: list[TwilioNumber], before_each: Callable[[], None]
    ) -> dict[str, str]:
        return self._each(numbers, self._release, before_each)

    def _release(self, number: TwilioNumber) -> None:
        def recover() -> bool | None:
            return True if self.fetch_number(number.sid) is None else None

        try:
            self._call(
                f"release {number.phone_number} ({number.sid})",
                lambda: self._client().incoming_phone_numbers(number.sid).delete(),
                recover=recover,
            )
        except TwilioError as exc:
            if exc.status != 404:
                raise

    # --- purchases ----------------------------------------------------------------------------

    def search_available(
        self, *, country: str, area_code: str, contains: str | None, limit: int
    ) -> list[str]:
        def first() -> Any:
            local = self._client().available_phone_numbers(country).local
            if contains:
                return local.page(area_code=area_code, contains=contains,
                                  page_size=min(limit, PAGE_SIZE))
            return local.page(area_code=area_code, page_size=min(limit, PAGE_SIZE))

        page = self._call(f"search available {country} numbers in area code {area_code}", first)
        return [str(n.phone_number) for n in page][:limit]

    def purchase_number(self, phone_number: str) -> TwilioNumber:
        def recover() -> TwilioNumber | None:
            return self.find_number(phone_number)

        return self._call(
            f"buy {phone_number}",
            lambda: _number(self._client().incoming_phone_numbers.create(
                phone_number=phone_number, trunk_sid=self.trunk_sid
            )),
            recover=recover,
        )

    # --- Monitor events -----------------------------------------------------------------------

    def list_number_events(self, since: dt.datetime) -> list[TwilioNumberAuditEvent]:
        """`phone-number.*` events on or after `since`, oldest first."""
        events = self._pages(
            "read Monitor events",
            lambda: self._client().monitor.v1.events.page(start_date=since, page_size=self._page_size),
        )
        newest_first = [
            _number_event(e) for e in events if str(e.event_type or "").startswith(NUMBER_EVENT_PREFIX)
        ]
        # Monitor lists newest first; events of the same second keep that order, reversed.
        return sorted(reversed(newest_first), key=lambda e: e.event_date)

    def number_event_data_keys(self, since: dt.datetime) -> list[tuple[str, ...]]:
        """The top-level keys of `event_data` of each `phone-number.*` Monitor event on or after
        `since` (their shape is unverified; `byoc doctor` reports which one the account sends)."""
        events = self._pages(
            "read Monitor events",
            lambda: self._client().monitor.v1.events.page(start_date=since, page_size=self._page_size),
        )
        return [tuple(sorted(e.event_data)) if isinstance(e.event_data, dict) else ()
                for e in events if str(e.event_type or "").startswith(NUMBER_EVENT_PREFIX)]

    # --- termination (ACLs and credential lists) -----------------------------------------------

    def read_termination(
        self, acl_name: str, credential_list_name: str | None
    ) -> TwilioTermination:
        sip = self._client().sip
        trunk_acls = frozenset(str(a.sid) for a in self._pages(
            "list the trunk's IP access control lists",
            lambda: self._trunk().ip_access_control_lists.page(page_size=self._page_size)))
        acls: list[TwilioIpAcl] = []
        for raw in self._pages("list IP access control lists",
                               lambda: sip.ip_access_control_lists.page(page_size=self._page_size)):
            sid, name = str(raw.sid), str(raw.friendly_name or "")
            addresses: dict[str, str] = {}
            if name == acl_name or sid in trunk_acls:
                addresses = {
                    str(a.ip_address): str(a.sid) for a in self._pages(
                        f"list the addresses of IP access control list {name}",
                        partial(_page_of, sip.ip_access_control_lists(sid).ip_addresses,
                                self._page_size))}
            acls.append(TwilioIpAcl(sid=sid, friendly_name=name, addresses=addresses))
        lists: list[TwilioCredentialList] = []
        trunk_lists: frozenset[str] = frozenset()
        if credential_list_name:
            # the SDK names the trunk's credential lists `credentials_lists`
            trunk_lists = frozenset(str(c.sid) for c in self._pages(
                "list the trunk's credential lists",
                lambda: self._trunk().credentials_lists.page(page_size=self._page_size)))
            for raw in self._pages("list credential lists",
                                   lambda: sip.credential_lists.page(page_size=self._page_size)):
                sid, name = str(raw.sid), str(raw.friendly_name or "")
                users: dict[str, str] = {}
                if name == credential_list_name:
                    users = {str(c.username): str(c.sid) for c in self._pages(
                        f"list the credentials of credential list {name}",
                        partial(_page_of, sip.credential_lists(sid).credentials,
                                self._page_size))}
                lists.append(TwilioCredentialList(sid=sid, friendly_name=name, usernames=users))
        return TwilioTermination(acls=tuple(acls), trunk_acl_sids=trunk_acls,
                                 credential_lists=tuple(lists),
                                 trunk_credential_list_sids=trunk_lists)

    def create_ip_acl(self, friendly_name: str) -> TwilioIpAcl:
        def recover() -> Any:
            found = self.read_termination(friendly_name, None).acls
            return next((a for a in found if a.friendly_name == friendly_name), None)

        def create() -> Any:
            return self._client().sip.ip_access_control_lists.create(friendly_name=friendly_name)

        created = self._call(f"create IP access control list {friendly_name}", create,
                             recover=recover)
        return TwilioIpAcl(sid=str(created.sid), friendly_name=friendly_name)

    def add_acl_address(self, acl_sid: str, ip_address: str, friendly_name: str) -> None:
        def addresses() -> Any:
            return self._client().sip.ip_access_control_lists(acl_sid).ip_addresses

        def recover() -> Any:
            return True if any(str(a.ip_address) == ip_address for a in addresses().list()) \
                else None

        self._call(
            f"add {ip_address} to IP access control list {acl_sid}",
            lambda: addresses().create(friendly_name=friendly_name, ip_address=ip_address),
            recover=recover,
        )

    def remove_acl_address(self, acl_sid: str, address_sid: str) -> None:
        try:
            self._call(
                f"remove address {address_sid} from IP access control list {acl_sid}",
                lambda: self._client().sip.ip_access_control_lists(acl_sid)
                .ip_addresses(address_sid).delete())
        except TwilioError as exc:
            if exc.status != 404:
                raise

    def associate_ip_acl(self, acl_sid: str) -> None:
        try:
            self._call(
                f"associate IP access control list {acl_sid} with trunk {self.trunk_sid}",
                lambda: self._trunk().ip_access_control_lists.create(
                    ip_access_control_list_sid=acl_sid))
        except TwilioError as exc:
            if exc.status != 409:  # already associated (a retried call that had landed)
                raise

    def create_credential_list(self, friendly_name: str) -> TwilioCredentialList:
        created = self._call(
            f"create credential list {friendly_name}",
            lambda: self._client().sip.credential_lists.create(friendly_name=friendly_name),
        )
        return TwilioCredentialList(sid=str(created.sid), friendly_name=friendly_name)

    def add_credential(self, list_sid: str, username: str, password: str) -> None:
        self._call(
            f"add user {username} to credential list {list_sid}",
            lambda: self._client().sip.credential_lists(list_sid).credentials.create(
                username=username, password=password),
        )

    def associate_credential_list(self, list_sid: str) -> None:
        try:
            self._call(
                f"associate credential list {list_sid} with trunk {self.trunk_sid}",
                lambda: self._trunk().credentials_lists.create(credential_list_sid=list_sid))
        except TwilioError as exc:
            if exc.status != 409:
                raise


def _page_of(resource: Any, page_size: int) -> Any:
    return resource.page(page_size=page_size)


def _next_page_of(page: Any) -> Callable[[], Any]:
    return lambda: page.next_page()


def _trunk(raw: Any) -> TwilioTrunk:
    return TwilioTrunk(
        sid=str(raw.sid), secure=bool(raw.secure), domain_name=raw.domain_name,
        friendly_name=raw.friendly_name, auth_type=str(raw.auth_type or ""),
        disaster_recovery_url=raw.disaster_recovery_url or None,
    )


def _origination_url(raw: Any) -> TwilioOriginationUrl:
    return TwilioOriginationUrl(
        sid=str(raw.sid), friendly_name=str(raw.friendly_name or ""), sip_url=str(raw.sip_url),
        priority=int(raw.priority), weight=int(raw.weight), enabled=bool(raw.enabled),
    )


def _number(raw: Any) -> TwilioNumber:
    return TwilioNumber(
        sid=str(raw.sid), phone_number=str(raw.phone_number), trunk_sid=raw.trunk_sid or None,
        account_sid=getattr(raw, "account_sid", None) or None,
    )


def _number_event(raw: Any) -> TwilioNumberAuditEvent:
    """A Monitor event in byoc's terms.

    Verify on a real account: the keys of `event_data` of `phone-number.*` events. Twilio documents
    only that updates carry previous and updated values in `resource_properties`; byoc reads that
    shape (`{name: {previous, updated}}`), a flat one (`{name: value}`), or none at all, when the
    number is known only by `resource_sid` and the poller reads it from Twilio.
    """
    data = raw.event_data if isinstance(raw.event_data, dict) else {}
    props = data.get("resource_properties")
    phone: str | None = None
    trunk: tuple[str | None, str | None] | None = None
    changed: frozenset[str] | None = None
    if isinstance(props, dict):
        changed = frozenset(str(k) for k in props)
        value = props.get("phone_number")
        if isinstance(value, dict):
            phone = value.get("updated") or value.get("previous") or None
        elif isinstance(value, str):
            phone = value
        trunk_value = props.get("trunk_sid")
        if isinstance(trunk_value, dict):
            trunk = (trunk_value.get("previous") or None, trunk_value.get("updated") or None)
    elif isinstance(data.get("phone_number"), str):
        # flat: current values only; what an update changed is not said
        phone = data["phone_number"] or None
        if "trunk_sid" in data and str(raw.event_type).endswith(".created"):
            trunk = (None, data.get("trunk_sid") or None)
    return TwilioNumberAuditEvent(
        sid=str(raw.sid),
        event_type=str(raw.event_type),
        event_date=raw.event_date,
        resource_sid=raw.resource_sid,
        phone_number=phone,
        trunk_sid=trunk,
        changed=changed,
    )
