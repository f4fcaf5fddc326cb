"""The account's phone numbers: the trunk's and the account's lists, association and release,
purchases, and Monitor `phone-number.*` events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from byoc.adapters.twilio_client import NUMBER_EVENT_PREFIX, PAGE_SIZE, TwilioClient, TwilioListingMismatch
from byoc.ports import (
    TwilioError,
    TwilioNumber,
    TwilioNumberAuditEvent,
)


class Numbers(TwilioClient):
    """Numbers, purchases and their Monitor events."""

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
