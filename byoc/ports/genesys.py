"""Port to Genesys Cloud: DID pools, DIDs, IVRs, outbound routes, BYOC trunks and their status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class GenesysDidPool:
    """One DID pool: an inclusive E.164 range (`state` "deleted" pools read back after a delete)."""

    id: str
    start: str
    end: str
    name: str = ""
    description: str = ""
    state: str = "active"


@dataclass(frozen=True)
class GenesysDid:
    """An assigned pool number and what holds it (`owner_type` IVR_CONFIG, USER, PHONE, GROUP)."""

    number: str
    owner_type: str
    owner_id: str
    owner_name: str = ""


@dataclass(frozen=True)
class GenesysPoolNumber:
    """One number of a DID pool as `/didpools/dids` lists it: its pool, and what holds it when
    it is assigned (`owner_type` IVR_CONFIG, USER, PHONE, GROUP)."""

    number: str
    pool_id: str
    assigned: bool = False
    owner_type: str = ""
    owner_id: str = ""


@dataclass(frozen=True)
class GenesysIvr:
    """One Architect IVR ("call route"); `handle` is the adapter's model, kept for the next PUT."""

    id: str
    name: str
    version: int
    dnis: tuple[str, ...] = ()
    handle: Any = field(default=None, compare=False, repr=False)
    description: str = ""
    routing: tuple[str, ...] = ()
    """Ids of its open, closed and holiday hours flows and schedule group ("" where none)."""


@dataclass(frozen=True)
class GenesysContact:
    """One user address (`media_type` PHONE, EMAIL or SMS; `type` WORK, WORK2, MOBILE, ...), with
    every field the SDK's `Contact` carries: a write sends them all back."""

    media_type: str
    type: str | None = None
    address: str | None = None
    extension: str | None = None
    display: str | None = None
    country_code: str | None = None
    integration: str | None = None


@dataclass(frozen=True)
class GenesysUser:
    """A user as far as byoc routes numbers to them."""

    id: str
    email: str
    name: str
    version: int
    addresses: tuple[GenesysContact, ...] = ()

    def phones(self) -> list[str]:
        """Every phone number among the user's addresses."""
        return [a.address for a in self.addresses if a.media_type == "PHONE" and a.address]


@dataclass(frozen=True)
class GenesysRef:
    """A named Genesys object (site, trunk base settings)."""

    id: str
    name: str


@dataclass(frozen=True)
class GenesysOutboundRoute:
    """One outbound route of a site."""

    id: str
    name: str
    version: int
    classification_types: tuple[str, ...]
    trunk_bases: tuple[GenesysRef, ...]
    enabled: bool
    distribution: str = "SEQUENTIAL"
    description: str = ""
    site: GenesysRef | None = None


@dataclass(frozen=True)
class GenesysOutboundRouteSpec:
    """What an outbound route byoc writes must hold."""

    name: str
    classification_types: tuple[str, ...]
    trunk_base: GenesysRef
    description: str
    enabled: bool = True
    distribution: str = "SEQUENTIAL"


@dataclass(frozen=True)
class GenesysProxyStatus:
    """The last SIP OPTIONS ping of one proxy of a trunk."""

    proxy_address: str
    ok: bool
    since: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class GenesysTrunkStatus:
    """A BYOC trunk's state: connected, in service, and SIP OPTIONS per proxy."""

    id: str
    name: str
    trunk_base: str
    in_service: bool
    enabled: bool
    connected: bool
    connected_since: str | None = None
    options: tuple[GenesysProxyStatus, ...] = ()


@dataclass(frozen=True)
class GenesysCallSeen:
    """One conversation the analytics API reports for a number."""

    conversation_id: str
    start: dt.datetime | None
    end: dt.datetime | None
    codecs: tuple[str, ...]
    routed_to: str


class GenesysError(Exception):
    """Genesys Cloud refused a call; the message says what and what to look at."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GenesysNumberInUse(GenesysError):
    """A number cannot be routed: something else (a phone, a group, another user) holds it."""

    def __init__(self, message: str, *, number: str, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, status=status, code=code)
        self.number = number


class GenesysPoolRangeRefused(GenesysError):
    """Genesys refused to change a DID pool's range in place (whether it ever does for a shrink
    past an assigned number is unverified: docs/verify-on-a-real-tenant.md)."""


class GenesysPort(Protocol):
    """One Genesys Cloud org (Platform API v2) as byoc's Genesys reconciler uses it.

    Reads follow every page. Writes carry the entity's current `version`; a version conflict is
    re-read and re-applied, and a number of a pool created moments ago is retried while the pool
    settles. A create that may have landed before an error is found again by its range instead of
    being created twice.
    """

    def list_did_pools(self) -> list[GenesysDidPool]: ...

    def create_did_pool(
        self, start: str, end: str, *, name: str, description: str
    ) -> GenesysDidPool: ...

    def resize_did_pool(
        self, pool: GenesysDidPool, start: str, end: str, *, name: str
    ) -> GenesysDidPool:
        """Change the pool's range in place (PUT): `GenesysPoolRangeRefused` when Genesys will
        not, `GenesysNotFound`-like 404 `GenesysError` when the pool is gone."""
        ...

    def delete_did_pool(self, pool: GenesysDidPool) -> None: ...

    def read_did_pool_state(self, pool_id: str) -> str | None:
        """The pool's state as Genesys reports it now (None: not found), uncorrected."""
        ...

    def list_pool_dids(self, pool: GenesysDidPool) -> list[GenesysDid]:
        """The pool's assigned numbers and their owners (unassigned numbers are not DIDs)."""
        ...

    def find_pool_numbers(self, numbers: Iterable[str]) -> list[GenesysPoolNumber]:
        """The pool numbers among `numbers` (one `/didpools/dids` lookup each; numbers in no
        pool are left out): what a slice sync reads instead of every pool."""
        ...

    def match_pool_numbers(self, text: str) -> list[str]:
        """The first page of pool numbers `/didpools/dids` gives for `numberMatch=text`, as
        listed (`byoc doctor` tells how Genesys reads `numberMatch` by it)."""
        ...

    def count_did_pools(self) -> int:
        """How many DID pools the org lists (one page of one pool: its `total`)."""
        ...

    def read_did_pools(self, pool_ids: Iterable[str]) -> list[GenesysDidPool]:
        """The pools with these ids (`GET /didpools?id=`, up to 100 a page)."""
        ...

    def find_ivrs(self, name: str) -> list[GenesysIvr]:
        """The IVR named `name` (case-insensitive) and byoc's shards of it (`name [byoc N]`)."""
        ...

    def list_ivrs(self) -> list[GenesysIvr]: ...

    def get_ivr(self, ivr_id: str) -> GenesysIvr: ...

    def update_ivr_dnis(
        self, ivr: GenesysIvr, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
    ) -> GenesysIvr:
        """Add and remove numbers of the IVR's `dnis` in one PUT; returns the IVR as saved."""
        ...

    def create_ivr(self, like: GenesysIvr, *, name: str, description: str) -> GenesysIvr:
        """A new IVR with no numbers and the flows and schedule group of `like`."""
        ...

    def update_ivr_routing(self, ivr: GenesysIvr, like: GenesysIvr) -> GenesysIvr:
        """Give `ivr` the flows and schedule group of `like` (its numbers stay)."""
        ...

    def delete_ivr(self, ivr: GenesysIvr) -> None: ...

    def find_users(self, emails: Iterable[str]) -> list[GenesysUser]: ...

    def get_user(self, user_id: str) -> GenesysUser: ...

    def update_user_phones(
        self, user: GenesysUser, *, remove: tuple[str, ...] = (), work: str | None = None
    ) -> GenesysUser:
        """Drop the phone addresses `remove`; set the WORK phone to `work` (None: leave it)."""
        ...

    def find_site(self, name: str) -> GenesysRef | None: ...

    def find_trunk_base(self, name: str) -> GenesysRef | None: ...

    def list_outbound_routes(self) -> list[GenesysOutboundRoute]:
        """Every outbound route of every site, each with its site."""
        ...

    def create_outbound_route(
        self, site: GenesysRef, spec: GenesysOutboundRouteSpec
    ) -> GenesysOutboundRoute: ...

    def update_outbound_route(
        self, site: GenesysRef, route: GenesysOutboundRoute, spec: GenesysOutboundRouteSpec
    ) -> GenesysOutboundRoute: ...

    def delete_outbound_route(self, site: GenesysRef, route: GenesysOutboundRoute) -> None: ...

    def read_trunk_status(self, trunk_base_name: str | None = None) -> list[GenesysTrunkStatus]:
        """The BYOC (external) trunks, or only those of the named trunk base settings."""
        ...

    def read_trunk_base_codecs(self, trunk_base_name: str) -> tuple[str, ...] | None:
        """The trunk base's `trunk_media_codec` list (`audio/pcmu`, ...) in order; None: not set."""
        ...


class GenesysCallPort(Protocol):
    """The conversations Genesys analytics reports for a number (what `byoc test-call` reads)."""

    def calls_to(self, number: str, start: dt.datetime,
                 end: dt.datetime) -> list[GenesysCallSeen]: ...


class TrunkStatusPort(Protocol):
    """The part of `GenesysPort` the health check reads: the BYOC trunks and their live status."""

    def read_trunk_status(self, trunk_base_name: str | None = None) -> list[GenesysTrunkStatus]: ...
