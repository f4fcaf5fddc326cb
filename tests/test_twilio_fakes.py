"""An in-memory Twilio account and trunk (`TwilioPort`) for unit tests of byoc's Twilio services.

Import it as `from test_twilio_fakes import FakeTwilio` (tests/ is on the path). The tests at the
bottom hold the fake to the behaviour of the sandbox emulator that the services rely on.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections import Counter
from collections.abc import Callable, Iterable

from byoc.ports import (
    TwilioCredentialList,
    TwilioError,
    TwilioIpAcl,
    TwilioNumber,
    TwilioNumberAuditEvent,
    TwilioNumberUnavailable,
    TwilioOriginationUrl,
    TwilioTermination,
    TwilioTrunk,
)

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TRUNK = "TK0123456789abcdef0123456789abcdef"
OTHER_TRUNK = "TKffffffffffffffffffffffffffffffff"


def pn_sid(number: str) -> str:
    return "PN" + hashlib.sha256(number.encode()).hexdigest()[:32]


class FakeTwilio:
    """One account with one trunk; `calls` counts every call, `writes` every change."""

    def __init__(
        self,
        *,
        secure: bool = True,
        urls: Iterable[TwilioOriginationUrl] = (),
        on_trunk: Iterable[str] = (),
        off_trunk: Iterable[str] = (),
        on_other_trunk: Iterable[str] = (),
        available: Iterable[str] = (),
    ) -> None:
        self.trunk = TwilioTrunk(sid=TRUNK, secure=secure, domain_name="byoc.pstn.twilio.com")
        self._serial = itertools.count(1)
        self.urls: dict[str, TwilioOriginationUrl] = {}
        for url in urls:
            self._add_url(url)
        self.numbers: dict[str, TwilioNumber] = {}
        for number, trunk in itertools.chain(
            ((n, TRUNK) for n in on_trunk), ((n, None) for n in off_trunk),
            ((n, OTHER_TRUNK) for n in on_other_trunk),
        ):
            self.numbers[number] = TwilioNumber(sid=pn_sid(number), phone_number=number,
                                                trunk_sid=trunk)
        self.available = list(available)
        self.events: list[TwilioNumberAuditEvent] = []
        self.calls: Counter[str] = Counter()
        self.writes: list[str] = []
        self.fail_numbers: dict[str, str] = {}
        self.searched_countries: list[str] = []
        self.acls: dict[str, TwilioIpAcl] = {}
        self.trunk_acls: set[str] = set()
        self.credential_lists: dict[str, TwilioCredentialList] = {}
        self.trunk_credential_lists: set[str] = set()
        self.now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    # --- helpers for tests --------------------------------------------------------------------

    def _add_url(self, url: TwilioOriginationUrl) -> TwilioOriginationUrl:
        sid = url.sid or f"OU{next(self._serial):032x}"
        stored = TwilioOriginationUrl(friendly_name=url.friendly_name, sip_url=url.sip_url,
                                      priority=url.priority, weight=url.weight,
                                      enabled=url.enabled, sid=sid)
        self.urls[sid] = stored
        return stored

    def on_trunk(self) -> set[str]:
        return {n for n, rec in self.numbers.items() if rec.trunk_sid == TRUNK}

    def console_purchase(self, number: str, *, trunk_sid: str | None = None,
                         minutes: int = 1) -> TwilioNumberAuditEvent:
        """A number bought outside byoc: owned and logged in Monitor."""
        self.numbers[number] = TwilioNumber(sid=pn_sid(number), phone_number=number,
                                            trunk_sid=trunk_sid)
        return self._event("created", number, (None, trunk_sid), minutes,
                           {"phone_number", "friendly_name", "trunk_sid"})

    def console_release(self, number: str, *, minutes: int = 1) -> TwilioNumberAuditEvent:
        gone = self.numbers.pop(number)
        return self._event("deleted", number, (gone.trunk_sid, None), minutes,
                           {"phone_number", "trunk_sid"})

    def _event(self, verb: str, number: str, trunk: tuple[str | None, str | None], minutes: int,
               changed: set[str]) -> TwilioNumberAuditEvent:
        self.now += dt.timedelta(minutes=minutes)
        event = TwilioNumberAuditEvent(
            sid=f"AE{next(self._serial):032x}", event_type=f"phone-number.{verb}",
            event_date=self.now, resource_sid=pn_sid(number), phone_number=number,
            trunk_sid=trunk, changed=frozenset(changed),
        )
        self.events.append(event)
        return event

    # --- TwilioPort ---------------------------------------------------------------------------

    def fetch_trunk(self) -> TwilioTrunk:
        self.calls["fetch_trunk"] += 1
        return self.trunk

    def set_trunk_secure(self, secure: bool) -> TwilioTrunk:
        self.calls["set_trunk_secure"] += 1
        self.writes.append(f"secure={secure}")
        self.trunk = TwilioTrunk(sid=TRUNK, secure=secure, domain_name=self.trunk.domain_name)
        return self.trunk

    def list_origination_urls(self) -> list[TwilioOriginationUrl]:
        self.calls["list_origination_urls"] += 1
        return list(self.urls.values())

    def create_origination_url(self, url: TwilioOriginationUrl) -> TwilioOriginationUrl:
        self.calls["create_origination_url"] += 1
        if not url.sip_url.startswith("sip:"):
            raise TwilioError(f"SipUrl {url.sip_url} must use the sip: scheme", status=400)
        self.writes.append(f"create {url.sip_url}")
        return self._add_url(url)

    def update_origination_url(self, url: TwilioOriginationUrl) -> TwilioOriginationUrl:
        self.calls["update_origination_url"] += 1
        assert url.sid in self.urls
        self.writes.append(f"update {url.sip_url}")
        self.urls[url.sid] = url
        return url

    def delete_origination_url(self, sid: str) -> None:
        self.calls["delete_origination_url"] += 1
        self.writes.append(f"delete {self.urls[sid].sip_url}")
        del self.urls[sid]

    def list_trunk_numbers(self) -> list[TwilioNumber]:
        self.calls["list_trunk_numbers"] += 1
        return [n for n in self.numbers.values() if n.trunk_sid == TRUNK]

    def list_account_numbers(self) -> list[TwilioNumber]:
        self.calls["list_account_numbers"] += 1
        return list(self.numbers.values())

    def fetch_number(self, sid: str) -> TwilioNumber | None:
        self.calls["fetch_number"] += 1
        return next((n for n in self.numbers.values() if n.sid == sid), None)

    def find_number(self, phone_number: str) -> TwilioNumber | None:
        self.calls["find_number"] += 1
        return self.numbers.get(phone_number)

    def associate_numbers(self, numbers: list[TwilioNumber],
                          before_each: Callable[[], None]) -> dict[str, str]:
        failures = {}
        for number in numbers:
            before_each()
            self.calls["associate"] += 1
            if number.phone_number in self.fail_numbers:
                failures[number.phone_number] = self.fail_numbers[number.phone_number]
                continue
            owned = self.numbers.get(number.phone_number)
            if owned is None or owned.trunk_sid not in (None, TRUNK):
                failures[number.phone_number] = "not owned, or on another trunk"
                continue
            self.writes.append(f"associate {number.phone_number}")
            self.numbers[number.phone_number] = TwilioNumber(owned.sid, owned.phone_number, TRUNK)
        return failures

    def release_numbers(self, numbers: list[TwilioNumber],
                        before_each: Callable[[], None]) -> dict[str, str]:
        for number in numbers:
            before_each()
            self.calls["release"] += 1
            self.writes.append(f"release {number.phone_number}")
            self.numbers.pop(number.phone_number, None)
        return {}

    def search_available(self, *, country: str, area_code: str, contains: str | None,
                         limit: int) -> list[str]:
        self.calls["search_available"] += 1
        self.searched_countries.append(country)
        found = [n for n in self.available
                 if n.startswith(f"+1{area_code}") and (not contains or contains in n[2:])]
        return found[:limit]

    def purchase_number(self, phone_number: str) -> TwilioNumber:
        self.calls["purchase"] += 1
        if phone_number not in self.available:
            raise TwilioNumberUnavailable(f"{phone_number} is not available", status=400,
                                          code=21422)
        self.available.remove(phone_number)
        self.writes.append(f"purchase {phone_number}")
        self.numbers[phone_number] = TwilioNumber(pn_sid(phone_number), phone_number, TRUNK)
        return self.numbers[phone_number]

    def list_number_events(self, since: dt.datetime) -> list[TwilioNumberAuditEvent]:
        self.calls["list_number_events"] += 1
        return sorted((e for e in self.events if e.event_date >= since),
                      key=lambda e: (e.event_date, e.sid))

    def read_termination(self, acl_name: str,
                         credential_list_name: str | None) -> TwilioTermination:
        self.calls["read_termination"] += 1
        return TwilioTermination(
            acls=tuple(TwilioIpAcl(a.sid, a.friendly_name, dict(a.addresses))
                       for a in self.acls.values()),
            trunk_acl_sids=frozenset(self.trunk_acls),
            credential_lists=tuple(TwilioCredentialList(c.sid, c.friendly_name, dict(c.usernames))
                                   for c in self.credential_lists.values()),
            trunk_credential_list_sids=frozenset(self.trunk_credential_lists))

    def create_ip_acl(self, friendly_name: str) -> TwilioIpAcl:
        self.writes.append(f"create_ip_acl {friendly_name}")
        acl = TwilioIpAcl(f"AL{next(self._serial):032x}", friendly_name, {})
        self.acls[acl.sid] = acl
        return acl

    def add_acl_address(self, acl_sid: str, ip_address: str, friendly_name: str) -> None:
        self.writes.append(f"add_acl_address {ip_address}")
        self.acls[acl_sid].addresses[ip_address] = f"IP{next(self._serial):032x}"

    def remove_acl_address(self, acl_sid: str, address_sid: str) -> None:
        self.writes.append(f"remove_acl_address {address_sid}")
        addresses = self.acls[acl_sid].addresses
        for ip, sid in list(addresses.items()):
            if sid == address_sid:
                del addresses[ip]

    def associate_ip_acl(self, acl_sid: str) -> None:
        self.writes.append(f"associate_ip_acl {acl_sid}")
        self.trunk_acls.add(acl_sid)

    def create_credential_list(self, friendly_name: str) -> TwilioCredentialList:
        self.writes.append(f"create_credential_list {friendly_name}")
        found = TwilioCredentialList(f"CL{next(self._serial):032x}", friendly_name, {})
        self.credential_lists[found.sid] = found
        return found

    def add_credential(self, list_sid: str, username: str, password: str) -> None:
        self.writes.append(f"add_credential {username}")
        self.credential_lists[list_sid].usernames[username] = f"CR{next(self._serial):032x}"

    def associate_credential_list(self, list_sid: str) -> None:
        self.writes.append(f"associate_credential_list {list_sid}")
        self.trunk_credential_lists.add(list_sid)


# --- the fake keeps the emulator's rules the services depend on -------------------------------


def test_the_fake_never_moves_a_number_from_another_trunk() -> None:
    twilio = FakeTwilio(on_other_trunk=["+14155550100"])
    failures = twilio.associate_numbers([twilio.numbers["+14155550100"]], lambda: None)
    assert "+14155550100" in failures and twilio.numbers["+14155550100"].trunk_sid == OTHER_TRUNK


def test_the_fake_buys_onto_the_trunk_only_what_is_available() -> None:
    twilio = FakeTwilio(available=["+14155550200"])
    assert twilio.purchase_number("+14155550200").trunk_sid == TRUNK
    try:
        twilio.purchase_number("+14155550200")
    except TwilioNumberUnavailable:
        pass
    else:
        raise AssertionError("a number can be bought once")
