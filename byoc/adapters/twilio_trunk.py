"""The Elastic SIP trunk: its settings, origination URLs, termination (IP ACLs, credential lists),
and test calls placed through the account."""

from __future__ import annotations

from functools import partial
from typing import Any

from byoc import metrics
from byoc.adapters.twilio_client import TwilioClient, _page_of
from byoc.ports import (
    TwilioCallState,
    TwilioCredentialList,
    TwilioError,
    TwilioIpAcl,
    TwilioOriginationUrl,
    TwilioTermination,
    TwilioTrunk,
)


def _call_state(call: Any) -> TwilioCallState:
    duration = getattr(call, "duration", None)
    return TwilioCallState(
        sid=str(call.sid), status=str(call.status),
        created=getattr(call, "date_created", None), start=getattr(call, "start_time", None),
        end=getattr(call, "end_time", None),
        duration_s=int(duration) if duration not in (None, "") else None,
    )


class TrunkSide(TwilioClient):
    """The trunk, its origination and termination, and calls."""

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
