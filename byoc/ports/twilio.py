"""Port to Twilio Elastic SIP Trunking and the account's numbers."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class TwilioNumber:
    """A number the Twilio account owns (`trunk_sid` None: on no trunk)."""

    sid: str
    phone_number: str
    trunk_sid: str | None = None
    account_sid: str | None = None
    """The account Twilio says owns it (None: not reported)."""


@dataclass(frozen=True)
class TwilioTrunk:
    """The Elastic SIP trunk's settings byoc manages."""

    sid: str
    secure: bool
    domain_name: str | None = None
    friendly_name: str | None = None
    auth_type: str = ""
    """What admits termination traffic: `IP_ACL` and/or `CREDENTIAL_LIST`, comma-delimited;
    empty: the termination domain receives no traffic."""
    disaster_recovery_url: str | None = None


@dataclass(frozen=True)
class TwilioOriginationUrl:
    """One origination URL of the trunk (`sid` None: not created yet)."""

    friendly_name: str
    sip_url: str
    priority: int
    weight: int
    enabled: bool = True
    sid: str | None = None


@dataclass(frozen=True)
class TwilioNumberAuditEvent:
    """One Monitor `phone-number.*` event, as far as byoc reads it.

    `phone_number` and `trunk_sid` come from the event's `resource_properties`; None when the event
    does not say (their keys are unverified on a real account). `changed` names the properties an
    update changed (None: unknown).
    """

    sid: str
    event_type: str
    event_date: dt.datetime
    resource_sid: str | None
    phone_number: str | None = None
    trunk_sid: tuple[str | None, str | None] | None = None
    changed: frozenset[str] | None = None


@dataclass(frozen=True)
class TwilioIpAcl:
    """An IP access control list of the account: its addresses, address -> address SID."""

    sid: str
    friendly_name: str
    addresses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TwilioCredentialList:
    """A credential list of the account: its user names, user name -> credential SID."""

    sid: str
    friendly_name: str
    usernames: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TwilioTermination:
    """What admits the SBCs' calls to the trunk: the lists byoc looks at, and the trunk's links."""

    acls: tuple[TwilioIpAcl, ...] = ()
    trunk_acl_sids: frozenset[str] = frozenset()
    credential_lists: tuple[TwilioCredentialList, ...] = ()
    trunk_credential_list_sids: frozenset[str] = frozenset()


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


class TwilioError(Exception):
    """Twilio refused a call; the message says what, and what to look at."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TwilioRateLimited(TwilioError):
    """Twilio kept answering 429/20429 (too many concurrent requests) after every retry."""


class TwilioNumberUnavailable(TwilioError):
    """The number cannot be bought (taken meanwhile, or not in Twilio's inventory)."""


class TwilioCallPort(Protocol):
    """Outbound calls placed through the account (what `byoc test-call` makes)."""

    def place_call(self, to: str, from_: str, twiml: str) -> TwilioCallState: ...

    def fetch_call(self, sid: str) -> TwilioCallState: ...

    def end_call(self, sid: str, status: str) -> TwilioCallState: ...


class TwilioPort(Protocol):
    """One Twilio account and its Elastic SIP trunk (REST: Trunking v1, API 2010, Monitor v1).

    Reads follow every page. Writes retry 429/20429 with backoff and never create duplicates.
    Batch writes run with bounded concurrency, call `before_each()` (the lease check) before every
    write, and return the numbers that failed with the reason instead of stopping at the first.
    """

    def fetch_trunk(self) -> TwilioTrunk: ...

    def set_trunk_secure(self, secure: bool) -> TwilioTrunk: ...

    def list_origination_urls(self) -> list[TwilioOriginationUrl]: ...

    def create_origination_url(self, url: TwilioOriginationUrl) -> TwilioOriginationUrl: ...

    def update_origination_url(self, url: TwilioOriginationUrl) -> TwilioOriginationUrl: ...

    def delete_origination_url(self, sid: str) -> None: ...

    def list_trunk_numbers(self) -> list[TwilioNumber]: ...

    def list_account_numbers(self) -> list[TwilioNumber]: ...

    def fetch_number(self, sid: str) -> TwilioNumber | None: ...

    def find_number(self, phone_number: str) -> TwilioNumber | None: ...

    def associate_numbers(
        self, numbers: list[TwilioNumber], before_each: Callable[[], None]
    ) -> dict[str, str]: ...

    def release_numbers(
        self, numbers: list[TwilioNumber], before_each: Callable[[], None]
    ) -> dict[str, str]: ...

    def search_available(
        self, *, country: str, area_code: str, contains: str | None, limit: int
    ) -> list[str]: ...

    def purchase_number(self, phone_number: str) -> TwilioNumber: ...

    def list_number_events(self, since: dt.datetime) -> list[TwilioNumberAuditEvent]: ...

    def number_event_data_keys(self, since: dt.datetime) -> list[tuple[str, ...]]:
        """The top-level `event_data` keys of each `phone-number.*` Monitor event since `since`."""
        ...

    def read_termination(
        self, acl_name: str, credential_list_name: str | None
    ) -> TwilioTermination:
        """The account's ACLs (addresses of the one named `acl_name` and of those on the trunk),
        its credential lists (user names of the named one), and the trunk's links to both."""
        ...

    def create_ip_acl(self, friendly_name: str) -> TwilioIpAcl: ...

    def add_acl_address(self, acl_sid: str, ip_address: str, friendly_name: str) -> None: ...

    def remove_acl_address(self, acl_sid: str, address_sid: str) -> None: ...

    def associate_ip_acl(self, acl_sid: str) -> None: ...

    def create_credential_list(self, friendly_name: str) -> TwilioCredentialList: ...

    def add_credential(self, list_sid: str, username: str, password: str) -> None: ...

    def associate_credential_list(self, list_sid: str) -> None: ...
