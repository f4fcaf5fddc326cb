"""The typed before/after of each Twilio change kind: what the planners build and the writes
read, printed (`to_json`) in the shape plans have always shown (`twilio_reconciler`)."""

from __future__ import annotations

from dataclasses import dataclass

from byoc.domain.plan import JsonValue, Payload
from byoc.ports import TwilioNumber, TwilioOriginationUrl


@dataclass(frozen=True)
class TrunkSecurity(Payload):
    """The trunk's `secure` flag (kind `trunk`)."""

    secure: bool

    def to_json(self) -> JsonValue:
        return {"secure": self.secure}


@dataclass(frozen=True)
class OriginationUrl(Payload):
    """One origination URL as it is or is to be (kind `origination-url`; `sid` None: new)."""

    url: TwilioOriginationUrl

    def to_json(self) -> JsonValue:
        url = self.url
        return {"sid": url.sid, "friendly_name": url.friendly_name, "sip_url": url.sip_url,
                "priority": url.priority, "weight": url.weight, "enabled": url.enabled}


@dataclass(frozen=True)
class AccountNumbers(Payload):
    """Numbers the account owns, to associate, release or onboard (printed number -> sid)."""

    numbers: tuple[TwilioNumber, ...]

    def to_json(self) -> JsonValue:
        return {n.phone_number: n.sid for n in self.numbers}


@dataclass(frozen=True)
class GoneNumbers(Payload):
    """Inventory numbers the account no longer owns, with the sid last known (`numbers-gone`)."""

    sids: tuple[tuple[str, str | None], ...]

    @property
    def numbers(self) -> list[str]:
        return [number for number, _ in self.sids]

    def to_json(self) -> JsonValue:
        return dict(self.sids)


@dataclass(frozen=True)
class NewAcl(Payload):
    """byoc's IP access control list to create with its addresses (address, SBC name)."""

    friendly_name: str
    addresses: tuple[tuple[str, str], ...]

    def to_json(self) -> JsonValue:
        return {"friendly_name": self.friendly_name, "addresses": dict(self.addresses)}


@dataclass(frozen=True)
class AclAddress(Payload):
    """An address to add to byoc's IP access control list, named after its SBC."""

    acl_sid: str
    ip_address: str
    friendly_name: str

    def to_json(self) -> JsonValue:
        return {"acl_sid": self.acl_sid, "ip_address": self.ip_address,
                "friendly_name": self.friendly_name}


@dataclass(frozen=True)
class ListedAclAddress(Payload):
    """An address in byoc's IP access control list, as read (to remove)."""

    acl_sid: str
    ip_address: str
    sid: str

    def to_json(self) -> JsonValue:
        return {"acl_sid": self.acl_sid, "ip_address": self.ip_address, "sid": self.sid}


@dataclass(frozen=True)
class AclLink(Payload):
    """byoc's IP access control list, to associate with the trunk."""

    acl_sid: str

    def to_json(self) -> JsonValue:
        return {"acl_sid": self.acl_sid}


@dataclass(frozen=True)
class NewCredentialList(Payload):
    """byoc's credential list to create with its one user (password from Key Vault)."""

    friendly_name: str
    username: str

    def to_json(self) -> JsonValue:
        return {"friendly_name": self.friendly_name, "username": self.username}


@dataclass(frozen=True)
class CredentialUser(Payload):
    """byoc's user, to add to its credential list."""

    list_sid: str
    username: str

    def to_json(self) -> JsonValue:
        return {"list_sid": self.list_sid, "username": self.username}


@dataclass(frozen=True)
class CredentialListLink(Payload):
    """byoc's credential list, to associate with the trunk."""

    list_sid: str

    def to_json(self) -> JsonValue:
        return {"list_sid": self.list_sid}
