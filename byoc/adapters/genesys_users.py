"""Genesys users and their phone numbers (`/users`, `/users/search`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from functools import partial
from typing import Any

from byoc.adapters.genesys_client import MAX_PAGES, PAGE_SIZE, VERSION_ATTEMPTS, GenesysClient
from byoc.adapters.genesys_errors import GenesysVersionConflict
from byoc.ports import (
    GenesysContact,
    GenesysUser,
)

USER_IDS_PER_READ = 100
EMAILS_PER_SEARCH = 50


class Users(GenesysClient):
    """Users and their phones."""

    def find_users(self, emails: Iterable[str]) -> list[GenesysUser]:
        """The users with these emails (search for their ids, then read them in full)."""
        apis = self._apis()
        wanted = sorted({e.strip().lower() for e in emails if e.strip()})
        ids: list[str] = []
        for first in range(0, len(wanted), EMAILS_PER_SEARCH):
            batch = wanted[first:first + EMAILS_PER_SEARCH]
            for page in range(1, MAX_PAGES + 1):
                criterion = apis.G.UserSearchCriteria()
                criterion.type, criterion.fields, criterion.values = "EXACT", ["email"], batch
                request = apis.G.UserSearchRequest()
                request.query, request.page_size, request.page_number = [criterion], PAGE_SIZE, page
                found = self._call("search users by email", apis.users.post_users_search, request)
                ids.extend(u.id for u in found.results or [])
                if not found.results or page >= (found.page_count or 0):
                    break
        users: list[GenesysUser] = []
        unique = list(dict.fromkeys(ids))
        for first in range(0, len(unique), USER_IDS_PER_READ):
            batch = unique[first:first + USER_IDS_PER_READ]
            models = self._pages("read users", partial(self._users_page, batch))
            users.extend(_user(m) for m in models)
        return [u for u in users if u.email.lower() in wanted]

    def _users_page(self, ids: list[str], page: int) -> Any:
        return self._apis().users.get_users(id=ids, page_size=PAGE_SIZE, page_number=page)

    def get_user(self, user_id: str) -> GenesysUser:
        users = self._apis().users
        return _user(self._call(f"read user {user_id}", users.get_user, user_id))

    def update_user_phones(
        self, user: GenesysUser, *, remove: tuple[str, ...] = (), work: str | None = None
    ) -> GenesysUser:
        apis = self._apis()
        gone = set(remove)
        current = user
        what = f"update the phone of user {user.email}"
        for _ in range(VERSION_ATTEMPTS):
            contacts = _phones_changed(current.addresses, gone, work)
            if Counter(contacts) == Counter(current.addresses):
                return current
            body = apis.G.UpdateUser()
            body.addresses = [_contact_model(apis.G, c) for c in contacts]
            body.version = current.version
            try:
                saved = self._settling(
                    what, partial(self._write, what, apis.users.patch_user, user.id, body))
                return _user(saved)
            except GenesysVersionConflict:
                current = self.get_user(user.id)
        raise GenesysVersionConflict(
            f"user {user.email} kept changing under byoc ({VERSION_ATTEMPTS} version conflicts in "
            "a row); the next sync retries")


def _user(model: Any) -> GenesysUser:
    addresses = tuple(
        GenesysContact(media_type=str(a.media_type or ""), type=a.type, address=a.address,
                       extension=a.extension, display=a.display, country_code=a.country_code,
                       integration=a.integration)
        for a in model.addresses or ()
    )
    return GenesysUser(
        id=str(model.id), email=str(model.email or ""), name=str(model.name or ""),
        version=int(model.version or 0), addresses=addresses,
    )


def _phones_changed(
    addresses: tuple[GenesysContact, ...], gone: set[str], work: str | None
) -> list[GenesysContact]:
    """The contacts with the numbers `gone` taken out and the WORK phone set to `work` (None:
    left), in the first WORK phone contact. Every other field stays: a contact that also has an
    extension keeps it (and loses only the number and the display made from it); other contacts
    are sent back as read."""
    contacts: list[GenesysContact] = []
    placed = work is None
    for contact in addresses:
        phone = contact.media_type == "PHONE"
        if phone and not placed and (contact.type or "WORK") == "WORK":
            if contact.address != work:
                # a display made from the old number goes with it; one standing alone stays
                display = None if contact.address else contact.display
                contact = replace(contact, address=work, display=display, country_code=None)
            placed = True
        elif phone and contact.address is not None and contact.address in gone:
            if not contact.extension:
                continue
            contact = replace(contact, address=None, display=None, country_code=None)
        contacts.append(contact)
    if not placed:
        contacts.append(GenesysContact(media_type="PHONE", type="WORK", address=work))
    return contacts


def _contact_model(G: Any, contact: GenesysContact) -> Any:  # noqa: N803 - the SDK's usual alias
    """Every field as read: a contact may carry an address and an extension, or only a display
    (docs/genesys.md); leaving one out would erase it."""
    model = G.Contact()
    model.media_type, model.type = contact.media_type, contact.type
    model.address, model.extension, model.display = contact.address, contact.extension, contact.display
    model.country_code, model.integration = contact.country_code, contact.integration
    return model
