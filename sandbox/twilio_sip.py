"""Termination access for the Twilio emulator: IP access control lists, credential lists, and their
association with trunks.

Sources (sandbox/README-twilio.md, "Termination"):
- API 2010 SIP resources, as twilio-python 9.x builds them:
  `/Accounts/{AC}/SIP/IpAccessControlLists[/{AL}].json` (FriendlyName),
  `…/IpAccessControlLists/{AL}/IpAddresses[/{IP}].json` (FriendlyName, IpAddress, CidrPrefixLength;
  "IPv4 only supported today"), `/Accounts/{AC}/SIP/CredentialLists[/{CL}].json` (FriendlyName),
  `…/CredentialLists/{CL}/Credentials[/{CR}].json` (Username up to 32 characters; Password at least
  12 characters with a digit and mixed case; the password is never returned)
  (`twilio/rest/api/v2010/account/sip/ip_access_control_list/*.py`, `…/credential_list/*.py`).
- Trunking v1 associations: `/Trunks/{TK}/IpAccessControlLists[/{AL}]` (POST
  `IpAccessControlListSid`) and `/Trunks/{TK}/CredentialLists[/{CL}]` (POST `CredentialListSid`),
  instances `account_sid, sid, trunk_sid, friendly_name, date_created, date_updated, url`
  (`twilio/rest/trunking/v1/trunk/ip_access_control_list.py`, `credential_list.py`); "If an INVITE is
  received for a Trunk, the source IP address must be in one of the lists for the INVITE to be
  accepted" (twilio.com/docs/sip-trunking/api/ipaccesscontrollist-resource).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from sandbox.twilio import Call, Handler, TwilioEmulator

USERNAME = re.compile(r"^[A-Za-z0-9_.@+-]{1,32}$")


@dataclass
class IpAddressEntry:
    sid: str
    friendly_name: str
    ip_address: str
    cidr_prefix_length: int
    date_created: datetime
    date_updated: datetime
    serial: int


@dataclass
class IpAcl:
    sid: str
    friendly_name: str
    date_created: datetime
    date_updated: datetime
    serial: int
    addresses: dict[str, IpAddressEntry] = field(default_factory=dict)


@dataclass
class Credential:
    sid: str
    username: str
    password: str
    date_created: datetime
    date_updated: datetime
    serial: int


@dataclass
class CredentialList:
    sid: str
    friendly_name: str
    date_created: datetime
    date_updated: datetime
    serial: int
    credentials: dict[str, Credential] = field(default_factory=dict)


class SipAccess:
    """The account's ACLs and credential lists, and which trunk uses which."""

    def __init__(self, emulator: TwilioEmulator) -> None:
        self.e = emulator
        self.clear()

    def clear(self) -> None:
        """No lists and no associations (a reset)."""
        self.acls: dict[str, IpAcl] = {}
        self.credential_lists: dict[str, CredentialList] = {}
        self.trunk_acls: dict[str, list[str]] = {}
        self.trunk_credential_lists: dict[str, list[str]] = {}

    # --- helpers -------------------------------------------------------------------------------

    def _base_uri(self) -> str:
        from sandbox.twilio import API_VERSION

        return f"/{API_VERSION}/Accounts/{self.e.account_sid}/SIP"

    def _acl(self, call: Call, key: str = "sid") -> IpAcl:
        from sandbox.twilio import not_found

        self.e._check_account(call)
        acl = self.acls.get(call.path_params[key])
        if acl is None:
            raise not_found(call.path)
        return acl

    def _cl(self, call: Call, key: str = "sid") -> CredentialList:
        from sandbox.twilio import not_found

        self.e._check_account(call)
        found = self.credential_lists.get(call.path_params[key])
        if found is None:
            raise not_found(call.path)
        return found

    def auth_types(self, trunk_sid: str) -> list[str]:
        """What a trunk admits termination traffic by (its `auth_type_set`)."""
        kinds = []
        if self.trunk_credential_lists.get(trunk_sid):
            kinds.append("CREDENTIAL_LIST")
        if self.trunk_acls.get(trunk_sid):
            kinds.append("IP_ACL")
        return kinds

    def forget_trunk(self, trunk_sid: str) -> None:
        self.trunk_acls.pop(trunk_sid, None)
        self.trunk_credential_lists.pop(trunk_sid, None)

    def state(self) -> dict[str, Any]:
        return {
            "ip_access_control_lists": [
                {"sid": a.sid, "friendly_name": a.friendly_name,
                 "ip_addresses": [{"sid": i.sid, "ip_address": i.ip_address,
                                   "cidr_prefix_length": i.cidr_prefix_length,
                                   "friendly_name": i.friendly_name}
                                  for i in sorted(a.addresses.values(), key=lambda i: i.serial)]}
                for a in sorted(self.acls.values(), key=lambda a: a.serial)
            ],
            "credential_lists": [
                {"sid": c.sid, "friendly_name": c.friendly_name,
                 "usernames": sorted(x.username for x in c.credentials.values())}
                for c in sorted(self.credential_lists.values(), key=lambda c: c.serial)
            ],
            "trunk_ip_access_control_lists": {k: list(v) for k, v in self.trunk_acls.items() if v},
            "trunk_credential_lists": {k: list(v) for k, v in self.trunk_credential_lists.items()
                                       if v},
        }

    def _acl_json(self, acl: IpAcl) -> dict[str, Any]:
        from sandbox.twilio import rfc2822

        uri = f"{self._base_uri()}/IpAccessControlLists/{acl.sid}.json"
        return {"sid": acl.sid, "account_sid": self.e.account_sid,
                "friendly_name": acl.friendly_name,
                "date_created": rfc2822(acl.date_created), "date_updated": rfc2822(acl.date_updated),
                "subresource_uris": {"ip_addresses": uri.replace(".json", "/IpAddresses.json")},
                "uri": uri}

    def _address_json(self, acl: IpAcl, entry: IpAddressEntry) -> dict[str, Any]:
        from sandbox.twilio import rfc2822

        return {"sid": entry.sid, "account_sid": self.e.account_sid,
                "friendly_name": entry.friendly_name, "ip_address": entry.ip_address,
                "cidr_prefix_length": entry.cidr_prefix_length,
                "ip_access_control_list_sid": acl.sid,
                "date_created": rfc2822(entry.date_created),
                "date_updated": rfc2822(entry.date_updated),
                "uri": f"{self._base_uri()}/IpAccessControlLists/{acl.sid}/IpAddresses/"
                       f"{entry.sid}.json"}

    def _cl_json(self, cl: CredentialList) -> dict[str, Any]:
        from sandbox.twilio import rfc2822

        uri = f"{self._base_uri()}/CredentialLists/{cl.sid}.json"
        return {"sid": cl.sid, "account_sid": self.e.account_sid, "friendly_name": cl.friendly_name,
                "date_created": rfc2822(cl.date_created), "date_updated": rfc2822(cl.date_updated),
                "subresource_uris": {"credentials": uri.replace(".json", "/Credentials.json")},
                "uri": uri}

    def _credential_json(self, cl: CredentialList, cred: Credential) -> dict[str, Any]:
        from sandbox.twilio import rfc2822

        return {"sid": cred.sid, "account_sid": self.e.account_sid, "credential_list_sid": cl.sid,
                "username": cred.username, "date_created": rfc2822(cred.date_created),
                "date_updated": rfc2822(cred.date_updated),
                "uri": f"{self._base_uri()}/CredentialLists/{cl.sid}/Credentials/{cred.sid}.json"}

    def _trunk_link_json(self, call: Call, kind: str, sid: str, name: str) -> dict[str, Any]:
        from sandbox.twilio import TRUNKING_PREFIX, iso

        trunk = self.e._trunk(call)
        return {"account_sid": self.e.account_sid, "sid": sid, "trunk_sid": trunk.sid,
                "friendly_name": name, "date_created": iso(trunk.date_created),
                "date_updated": iso(trunk.date_updated),
                "url": f"{call.base}{TRUNKING_PREFIX}/v1/Trunks/{trunk.sid}/{kind}/{sid}"}

    def _v2010(self, call: Call, key: str, records: list[Any], render: Any) -> Response:
        from sandbox.twilio import slice_page

        sl = slice_page(records, lambda r: [r.serial], call.query)
        return self.e._v2010_list(call, key, [render(r) for r in sl.items], sl)

    # --- API 2010: IP access control lists ------------------------------------------------------

    def list_acls(self, call: Call) -> Response:
        self.e._check_account(call)
        acls = sorted(self.acls.values(), key=lambda a: a.serial)
        return self._v2010(call, "ip_access_control_lists", acls, self._acl_json)

    def create_acl(self, call: Call) -> Response:
        from sandbox.twilio import parse_friendly_name, require

        self.e._check_account(call)
        name = parse_friendly_name("FriendlyName", require(call.form, "FriendlyName"))
        now = self.e.now()
        acl = IpAcl(sid=self.e._new_sid("AL", name), friendly_name=name, date_created=now,
                    date_updated=now, serial=self.e._next_serial())
        self.acls[acl.sid] = acl
        return JSONResponse(self._acl_json(acl), status_code=201)

    def fetch_acl(self, call: Call) -> Response:
        return JSONResponse(self._acl_json(self._acl(call)))

    def update_acl(self, call: Call) -> Response:
        from sandbox.twilio import parse_friendly_name, require

        acl = self._acl(call)
        acl.friendly_name = parse_friendly_name("FriendlyName", require(call.form, "FriendlyName"))
        acl.date_updated = self.e.now()
        return JSONResponse(self._acl_json(acl))

    def delete_acl(self, call: Call) -> Response:
        acl = self._acl(call)
        del self.acls[acl.sid]
        for sids in self.trunk_acls.values():
            if acl.sid in sids:
                sids.remove(acl.sid)
        return Response(status_code=204)

    def list_addresses(self, call: Call) -> Response:
        acl = self._acl(call, "acl_sid")
        entries = sorted(acl.addresses.values(), key=lambda i: i.serial)
        return self._v2010(call, "ip_addresses", entries,
                           lambda entry: self._address_json(acl, entry))

    def _address_fields(self, acl: IpAcl, form: dict[str, str],
                        entry: IpAddressEntry | None) -> dict[str, Any]:
        from sandbox.twilio import bad_param, parse_friendly_name, parse_int

        fields: dict[str, Any] = {}
        if "FriendlyName" in form:
            fields["friendly_name"] = parse_friendly_name("FriendlyName", form["FriendlyName"])
        if "IpAddress" in form:
            try:
                fields["ip_address"] = str(ipaddress.IPv4Address(form["IpAddress"].strip()))
            except ValueError:
                raise bad_param(f"IpAddress {form['IpAddress']!r} is not an IPv4 address in "
                                "dotted decimal notation (IPv4 only)") from None
        if "CidrPrefixLength" in form:
            fields["cidr_prefix_length"] = parse_int("CidrPrefixLength",
                                                     form["CidrPrefixLength"], 1, 32)
        address = fields.get("ip_address", entry.ip_address if entry else None)
        if any(e.ip_address == address and e is not entry for e in acl.addresses.values()):
            raise bad_param(f"IpAddress {address} is already in this list")
        return fields

    def create_address(self, call: Call) -> Response:
        from sandbox.twilio import require

        acl = self._acl(call, "acl_sid")
        require(call.form, "FriendlyName")
        require(call.form, "IpAddress")
        fields = self._address_fields(acl, call.form, None)
        now = self.e.now()
        entry = IpAddressEntry(
            sid=self.e._new_sid("IP", acl.sid, fields["ip_address"]),
            friendly_name=fields["friendly_name"], ip_address=fields["ip_address"],
            cidr_prefix_length=fields.get("cidr_prefix_length", 32), date_created=now,
            date_updated=now, serial=self.e._next_serial())
        acl.addresses[entry.sid] = entry
        return JSONResponse(self._address_json(acl, entry), status_code=201)

    def _address(self, call: Call) -> tuple[IpAcl, IpAddressEntry]:
        from sandbox.twilio import not_found

        acl = self._acl(call, "acl_sid")
        entry = acl.addresses.get(call.path_params["sid"])
        if entry is None:
            raise not_found(call.path)
        return acl, entry

    def fetch_address(self, call: Call) -> Response:
        return JSONResponse(self._address_json(*self._address(call)))

    def update_address(self, call: Call) -> Response:
        acl, entry = self._address(call)
        for name, value in self._address_fields(acl, call.form, entry).items():
            setattr(entry, name, value)
        entry.date_updated = self.e.now()
        return JSONResponse(self._address_json(acl, entry))

    def delete_address(self, call: Call) -> Response:
        acl, entry = self._address(call)
        del acl.addresses[entry.sid]
        return Response(status_code=204)

    # --- API 2010: credential lists ------------------------------------------------------------

    def list_cls(self, call: Call) -> Response:
        self.e._check_account(call)
        lists = sorted(self.credential_lists.values(), key=lambda c: c.serial)
        return self._v2010(call, "credential_lists", lists, self._cl_json)

    def create_cl(self, call: Call) -> Response:
        from sandbox.twilio import parse_friendly_name, require

        self.e._check_account(call)
        name = parse_friendly_name("FriendlyName", require(call.form, "FriendlyName"))
        now = self.e.now()
        cl = CredentialList(sid=self.e._new_sid("CL", name), friendly_name=name,
                            date_created=now, date_updated=now, serial=self.e._next_serial())
        self.credential_lists[cl.sid] = cl
        return JSONResponse(self._cl_json(cl), status_code=201)

    def fetch_cl(self, call: Call) -> Response:
        return JSONResponse(self._cl_json(self._cl(call)))

    def delete_cl(self, call: Call) -> Response:
        cl = self._cl(call)
        del self.credential_lists[cl.sid]
        for sids in self.trunk_credential_lists.values():
            if cl.sid in sids:
                sids.remove(cl.sid)
        return Response(status_code=204)

    def list_credentials(self, call: Call) -> Response:
        cl = self._cl(call, "cl_sid")
        creds = sorted(cl.credentials.values(), key=lambda c: c.serial)
        return self._v2010(call, "credentials", creds, lambda c: self._credential_json(cl, c))

    @staticmethod
    def _password(raw: str) -> str:
        from sandbox.twilio import bad_param

        if len(raw) < 12 or not re.search(r"\d", raw) or not re.search(r"[a-z]", raw) \
                or not re.search(r"[A-Z]", raw):
            raise bad_param("Password must be at least 12 characters long and contain a digit, "
                            "an upper case and a lower case letter")
        return raw

    def create_credential(self, call: Call) -> Response:
        from sandbox.twilio import bad_param, require

        cl = self._cl(call, "cl_sid")
        username = require(call.form, "Username")
        if not USERNAME.match(username):
            raise bad_param(f"Username {username!r} is invalid: up to 32 characters")
        if any(c.username == username for c in cl.credentials.values()):
            raise bad_param(f"Username {username} is already in this list")
        password = self._password(require(call.form, "Password"))
        now = self.e.now()
        cred = Credential(sid=self.e._new_sid("CR", cl.sid, username), username=username,
                          password=password, date_created=now, date_updated=now,
                          serial=self.e._next_serial())
        cl.credentials[cred.sid] = cred
        return JSONResponse(self._credential_json(cl, cred), status_code=201)

    def _credential(self, call: Call) -> tuple[CredentialList, Credential]:
        from sandbox.twilio import not_found

        cl = self._cl(call, "cl_sid")
        cred = cl.credentials.get(call.path_params["sid"])
        if cred is None:
            raise not_found(call.path)
        return cl, cred

    def fetch_credential(self, call: Call) -> Response:
        return JSONResponse(self._credential_json(*self._credential(call)))

    def update_credential(self, call: Call) -> Response:
        cl, cred = self._credential(call)
        if "Password" in call.form:
            cred.password = self._password(call.form["Password"])
        cred.date_updated = self.e.now()
        return JSONResponse(self._credential_json(cl, cred))

    def delete_credential(self, call: Call) -> Response:
        cl, cred = self._credential(call)
        del cl.credentials[cred.sid]
        return Response(status_code=204)

    # --- Trunking v1: associations -------------------------------------------------------------

    def _links(self, call: Call, kind: str) -> tuple[list[str], dict[str, Any]]:
        trunk = self.e._trunk(call)
        if kind == "IpAccessControlLists":
            return self.trunk_acls.setdefault(trunk.sid, []), self.acls
        return self.trunk_credential_lists.setdefault(trunk.sid, []), self.credential_lists

    def _list_links(self, call: Call, kind: str, key: str) -> Response:
        from sandbox.twilio import slice_page

        linked, pool = self._links(call, kind)
        items = [pool[sid] for sid in linked if sid in pool]
        sl = slice_page(items, lambda r: [r.serial], call.query)
        records = [self._trunk_link_json(call, kind, r.sid, r.friendly_name) for r in sl.items]
        return self.e._v1_list(call, key, records, sl)

    def _link(self, call: Call, kind: str, field_name: str, prefix: str) -> Response:
        from sandbox.twilio import CONFLICT, SID, TwilioApiError, bad_param, not_found, require

        linked, pool = self._links(call, kind)
        sid = require(call.form, field_name)
        if not SID[prefix].match(sid):
            raise bad_param(f"{field_name} {sid!r} is invalid: expected {prefix} followed by 32 "
                            "hex characters")
        if sid not in pool:
            raise not_found(f"{call.path}/{sid}")
        if sid in linked:
            raise TwilioApiError(409, CONFLICT, f"{sid} is already associated with this trunk")
        linked.append(sid)
        return JSONResponse(self._trunk_link_json(call, kind, sid, pool[sid].friendly_name),
                            status_code=201)

    def _linked(self, call: Call, kind: str) -> tuple[list[str], Any]:
        from sandbox.twilio import not_found

        linked, pool = self._links(call, kind)
        sid = call.path_params["sid"]
        if sid not in linked or sid not in pool:
            raise not_found(call.path)
        return linked, pool[sid]

    def _fetch_link(self, call: Call, kind: str) -> Response:
        _, item = self._linked(call, kind)
        return JSONResponse(self._trunk_link_json(call, kind, item.sid, item.friendly_name))

    def _unlink(self, call: Call, kind: str) -> Response:
        linked, item = self._linked(call, kind)
        linked.remove(item.sid)
        return Response(status_code=204)

    def routes(self, trunk: str, account: str) -> list[tuple[str, dict[str, Handler]]]:
        acl, cl = "IpAccessControlLists", "CredentialLists"
        return [
            (f"{account}/SIP/{acl}.json", {"GET": self.list_acls, "POST": self.create_acl}),
            (f"{account}/SIP/{acl}/{{sid}}.json",
             {"GET": self.fetch_acl, "POST": self.update_acl, "DELETE": self.delete_acl}),
            (f"{account}/SIP/{acl}/{{acl_sid}}/IpAddresses.json",
             {"GET": self.list_addresses, "POST": self.create_address}),
            (f"{account}/SIP/{acl}/{{acl_sid}}/IpAddresses/{{sid}}.json",
             {"GET": self.fetch_address, "POST": self.update_address,
              "DELETE": self.delete_address}),
            (f"{account}/SIP/{cl}.json", {"GET": self.list_cls, "POST": self.create_cl}),
            (f"{account}/SIP/{cl}/{{sid}}.json", {"GET": self.fetch_cl, "DELETE": self.delete_cl}),
            (f"{account}/SIP/{cl}/{{cl_sid}}/Credentials.json",
             {"GET": self.list_credentials, "POST": self.create_credential}),
            (f"{account}/SIP/{cl}/{{cl_sid}}/Credentials/{{sid}}.json",
             {"GET": self.fetch_credential, "POST": self.update_credential,
              "DELETE": self.delete_credential}),
            (f"{trunk}/{acl}",
             {"GET": lambda c: self._list_links(c, acl, "ip_access_control_lists"),
              "POST": lambda c: self._link(c, acl, "IpAccessControlListSid", "AL")}),
            (f"{trunk}/{acl}/{{sid}}",
             {"GET": lambda c: self._fetch_link(c, acl), "DELETE": lambda c: self._unlink(c, acl)}),
            (f"{trunk}/{cl}",
             {"GET": lambda c: self._list_links(c, cl, "credential_lists"),
              "POST": lambda c: self._link(c, cl, "CredentialListSid", "CL")}),
            (f"{trunk}/{cl}/{{sid}}",
             {"GET": lambda c: self._fetch_link(c, cl), "DELETE": lambda c: self._unlink(c, cl)}),
        ]
