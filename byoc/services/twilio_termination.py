"""The trunk's termination side: what admits the SBCs' outbound calls (Genesys -> SBC -> Twilio).

Twilio accepts an INVITE for the trunk's termination domain only from a source address in one of
the trunk's IP access control lists, or with a credential of one of its credential lists
(docs/vendors/twilio.md; without either the domain "will not receive any traffic"). Desired state:

- one IP access control list named `BYOC_TWILIO_TERMINATION_ACL_NAME` (byoc's own: byoc adds and
  removes its addresses) holding every SBC's `public_ips`, associated with the trunk;
- optionally one credential list `BYOC_TWILIO_CREDENTIAL_LIST_NAME` with the user
  `BYOC_TWILIO_CREDENTIAL_USERNAME` (password from Key Vault), associated with the trunk.

Other lists on the trunk are left alone and named in the plan's notes, with the trunk's secure and
auth settings and its disaster-recovery URL.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from byoc.domain.plan import Action, Change, Takes
from byoc.domain.targets import TWILIO
from byoc.ports import TwilioIpAcl, TwilioPort, TwilioTermination, TwilioTrunk
from byoc.services.twilio_payloads import (
    AclAddress,
    AclLink,
    CredentialListLink,
    CredentialUser,
    ListedAclAddress,
    NewAcl,
    NewCredentialList,
)

TARGET = TWILIO
ACL_KIND = "termination-acl"
ADDRESS_KIND = "termination-acl-address"
ACL_LINK_KIND = "termination-acl-link"
CREDENTIALS_KIND = "termination-credential-list"
USER_KIND = "termination-credential"
CREDENTIALS_LINK_KIND = "termination-credential-list-link"
KINDS = frozenset({ACL_KIND, ADDRESS_KIND, ACL_LINK_KIND, CREDENTIALS_KIND, USER_KIND,
                   CREDENTIALS_LINK_KIND})


@dataclass(frozen=True)
class TerminationDesired:
    """The ACL (address -> SBC name) and the optional credential list byoc keeps on the trunk."""

    acl_name: str
    addresses: dict[str, str]
    credential_list: str | None = None
    username: str | None = None
    password: Callable[[], str] | None = field(default=None, compare=False)


def plan_termination(
    trunk: TwilioTrunk, actual: TwilioTermination, desired: TerminationDesired
) -> tuple[list[Change], list[str]]:
    """(changes, notes) that make the trunk admit every SBC."""
    changes: list[Change] = []
    notes = [report(trunk, actual, desired)]
    if not desired.addresses:
        notes.append("no SBC has public_ips, so byoc keeps no termination IP access control "
                     "list; the SBCs' outbound calls need an ACL or credential list on the trunk")
    else:
        changes += _acl_changes(actual, desired)
    if desired.credential_list and desired.username:
        changes += _credential_changes(actual, desired)
    ours = {desired.acl_name}
    for acl in actual.acls:
        if acl.sid in actual.trunk_acl_sids and acl.friendly_name not in ours:
            notes.append(f"IP access control list {acl.friendly_name!r} ({acl.sid}) on the trunk "
                         "is not byoc's; left alone")
    return changes, notes


def report(trunk: TwilioTrunk, actual: TwilioTermination, desired: TerminationDesired) -> str:
    """One line on how the trunk admits calls, as read."""
    admits = trunk.auth_type or "nothing (Twilio refuses every call to the termination domain)"
    names = [a.friendly_name for a in actual.acls if a.sid in actual.trunk_acl_sids]
    return (f"termination {trunk.domain_name or '(no domain name)'}: admits {admits}; "
            f"IP ACLs {names or 'none'}; secure {str(trunk.secure).lower()}; disaster-recovery "
            f"URL {trunk.disaster_recovery_url or 'not set'}")


def _own_acl(actual: TwilioTermination, name: str) -> TwilioIpAcl | None:
    return next((a for a in actual.acls if a.friendly_name == name), None)


def _acl_changes(actual: TwilioTermination, desired: TerminationDesired) -> list[Change]:
    acl = _own_acl(actual, desired.acl_name)
    if acl is None:
        return [Change(
            target=TARGET, action=Action.ADD, kind=ACL_KIND, key=desired.acl_name,
            summary=f"IP access control list {desired.acl_name} with "
                    f"{', '.join(sorted(desired.addresses))}, on the trunk",
            after=NewAcl(desired.acl_name, tuple(desired.addresses.items())),
        )]
    changes = [
        Change(target=TARGET, action=Action.ADD, kind=ADDRESS_KIND, key=f"{acl.friendly_name}:{ip}",
               summary=f"{ip} ({sbc}) into IP access control list {acl.friendly_name}",
               after=AclAddress(acl.sid, ip, sbc))
        for ip, sbc in sorted(desired.addresses.items()) if ip not in acl.addresses
    ]
    changes += [
        Change(target=TARGET, action=Action.REMOVE, kind=ADDRESS_KIND,
               key=f"{acl.friendly_name}:{ip}",
               summary=f"{ip} out of IP access control list {acl.friendly_name} (no SBC has it)",
               before=ListedAclAddress(acl.sid, ip, sid))
        for ip, sid in sorted(acl.addresses.items()) if ip not in desired.addresses
    ]
    if acl.sid not in actual.trunk_acl_sids:
        changes.append(Change(
            target=TARGET, action=Action.ADD, kind=ACL_LINK_KIND, key=acl.friendly_name,
            summary=f"associate IP access control list {acl.friendly_name} with the trunk",
            after=AclLink(acl.sid)))
    return changes


def _credential_changes(actual: TwilioTermination, desired: TerminationDesired) -> list[Change]:
    name, user = str(desired.credential_list), str(desired.username)
    found = next((c for c in actual.credential_lists if c.friendly_name == name), None)
    if found is None:
        return [Change(target=TARGET, action=Action.ADD, kind=CREDENTIALS_KIND, key=name,
                       summary=f"credential list {name} with user {user}, on the trunk",
                       after=NewCredentialList(name, user))]
    changes = []
    if user not in found.usernames:
        changes.append(Change(target=TARGET, action=Action.ADD, kind=USER_KIND,
                              key=f"{name}:{user}", summary=f"user {user} into credential list "
                              f"{name}", after=CredentialUser(found.sid, user)))
    if found.sid not in actual.trunk_credential_list_sids:
        changes.append(Change(target=TARGET, action=Action.ADD, kind=CREDENTIALS_LINK_KIND,
                              key=name, summary=f"associate credential list {name} with the trunk",
                              after=CredentialListLink(found.sid)))
    return changes


def apply_termination(twilio: TwilioPort, change: Change, desired: TerminationDesired) -> None:
    """Make one termination change at Twilio."""
    write = _WRITERS.get(change.kind)
    if write is None:
        raise ValueError(f"unknown termination change kind {change.kind!r}; not applied")
    write(twilio, change, desired)


def _create_acl(twilio: TwilioPort, change: Change, desired: TerminationDesired) -> None:
    new = change.after_as(NewAcl)
    acl = twilio.create_ip_acl(new.friendly_name)
    for ip, sbc in sorted(new.addresses):
        twilio.add_acl_address(acl.sid, ip, sbc)
    twilio.associate_ip_acl(acl.sid)


def _write_address(twilio: TwilioPort, change: Change, desired: TerminationDesired) -> None:
    if change.action is Action.ADD:
        add = change.after_as(AclAddress)
        twilio.add_acl_address(add.acl_sid, add.ip_address, add.friendly_name)
    else:
        listed = change.before_as(ListedAclAddress)
        twilio.remove_acl_address(listed.acl_sid, listed.sid)


def _link_acl(twilio: TwilioPort, change: Change, desired: TerminationDesired) -> None:
    twilio.associate_ip_acl(change.after_as(AclLink).acl_sid)


def _password(desired: TerminationDesired) -> str:
    if desired.password is None:
        raise ValueError("the credential's password is not configured "
                         "(BYOC_TWILIO_CREDENTIAL_PASSWORD_SECRET_NAME)")
    return desired.password()


def _create_credentials(twilio: TwilioPort, change: Change, desired: TerminationDesired) -> None:
    new = change.after_as(NewCredentialList)
    password = _password(desired)
    created = twilio.create_credential_list(new.friendly_name)
    twilio.add_credential(created.sid, new.username, password)
    twilio.associate_credential_list(created.sid)


def _add_user(twilio: TwilioPort, change: Change, desired: TerminationDesired) -> None:
    user = change.after_as(CredentialUser)
    password = _password(desired)
    twilio.add_credential(user.list_sid, user.username, password)


def _link_credentials(twilio: TwilioPort, change: Change, desired: TerminationDesired) -> None:
    twilio.associate_credential_list(change.after_as(CredentialListLink).list_sid)


_WRITERS: dict[str, Callable[[TwilioPort, Change, TerminationDesired], None]] = {
    ACL_KIND: _create_acl, ADDRESS_KIND: _write_address, ACL_LINK_KIND: _link_acl,
    CREDENTIALS_KIND: _create_credentials, USER_KIND: _add_user,
    CREDENTIALS_LINK_KIND: _link_credentials,
}
"""termination change kind -> the write that makes it."""

TAKES: dict[str, Takes] = {
    ACL_KIND: Takes(after=NewAcl), ADDRESS_KIND: Takes(before=ListedAclAddress, after=AclAddress),
    ACL_LINK_KIND: Takes(after=AclLink), CREDENTIALS_KIND: Takes(after=NewCredentialList),
    USER_KIND: Takes(after=CredentialUser), CREDENTIALS_LINK_KIND: Takes(after=CredentialListLink),
}
"""termination change kind -> the payloads its write takes."""


def verify_termination(actual: TwilioTermination, desired: TerminationDesired) -> list[str]:
    """What still keeps the trunk from admitting the SBCs as configured."""
    problems: list[str] = []
    if desired.addresses:
        acl = _own_acl(actual, desired.acl_name)
        if acl is None:
            problems.append(f"IP access control list {desired.acl_name} is missing")
        else:
            if set(acl.addresses) != set(desired.addresses):
                problems.append(f"IP access control list {desired.acl_name} holds "
                                f"{sorted(acl.addresses)}, not {sorted(desired.addresses)}")
            if acl.sid not in actual.trunk_acl_sids:
                problems.append(f"IP access control list {desired.acl_name} is not on the trunk")
    if desired.credential_list and desired.username:
        found = next((c for c in actual.credential_lists
                      if c.friendly_name == desired.credential_list), None)
        if found is None or desired.username not in found.usernames:
            problems.append(f"credential list {desired.credential_list} with user "
                            f"{desired.username} is missing")
        elif found.sid not in actual.trunk_credential_list_sids:
            problems.append(f"credential list {desired.credential_list} is not on the trunk")
    return problems
