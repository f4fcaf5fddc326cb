"""Genesys read model: what byoc reads from Genesys and what it wants there (`genesys_reconciler`)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import TypeAlias

from byoc.domain.number_ranges import Span
from byoc.domain.targets import GENESYS
from byoc.ports import (
    GenesysDid,
    GenesysDidPool,
    GenesysError,
    GenesysIvr,
    GenesysOutboundRoute,
    GenesysPort,
    GenesysRef,
    GenesysUser,
)

TARGET = GENESYS
MARKER = "managed-by:byoc"
POOL_KIND = "did-pool"
IVR_KIND = "ivr-dnis"
SHARD_KIND = "ivr-shard"
USER_KIND = "user-phone"
ROUTE_KIND = "outbound-route"
MAX_POOL_SIZE = 100_000
POOL_DESCRIPTION = f"Numbers byoc routes through the BYOC trunk ({MARKER})"
ROUTE_DESCRIPTION = f"Outbound calls through the BYOC trunk ({MARKER})"
_PREVIEW = 3


class ForeignGenesysObjectError(Exception):
    """A plan would write a Genesys object byoc does not own; refused."""


def owned(description: str | None) -> bool:
    """True for a description that marks the object as byoc's."""
    return MARKER in (description or "")


# --- actual and desired state ---------------------------------------------------------------------


class UserDirectory:
    """Users read on demand by email (a sync needs only those the policy or inventory names)."""

    def __init__(self, port: GenesysPort) -> None:
        self._port = port
        self._by_email: dict[str, GenesysUser | None] = {}

    def lookup(self, emails: Iterable[str]) -> dict[str, GenesysUser]:
        """The users among `emails` that exist (one search for all not read yet)."""
        wanted = {e.casefold() for e in emails}
        missing = sorted(wanted - set(self._by_email))
        if missing:
            found = {u.email.casefold(): u for u in self._port.find_users(missing)}
            for email in missing:
                self._by_email[email] = found.get(email)
        return {e: u for e in wanted if (u := self._by_email.get(e)) is not None}

    def lookup_ids(self, user_ids: Iterable[str]) -> dict[str, GenesysUser]:
        """The users with these ids, by email (each read once; those gone are left out)."""
        known = {u.id: u for u in self.known()}
        found: dict[str, GenesysUser] = {}
        for user_id in sorted(set(user_ids)):
            user = known.get(user_id)
            if user is None:
                try:
                    user = self._port.get_user(user_id)
                except GenesysError as exc:
                    if exc.status != 404:
                        raise
                    continue
                self.remember(user)
            found[user.email.casefold()] = user
        return found

    def known(self) -> list[GenesysUser]:
        return [u for u in self._by_email.values() if u is not None]

    def remember(self, user: GenesysUser) -> None:
        self._by_email[user.email.casefold()] = user


class PoolDids:
    """The assigned numbers of byoc's pools, read on demand (only pools that must go need them)."""

    def __init__(self, port: GenesysPort) -> None:
        self._port = port
        self._by_pool: dict[str, list[GenesysDid]] = {}

    def of(self, pool: GenesysDidPool) -> list[GenesysDid]:
        if pool.id not in self._by_pool:
            self._by_pool[pool.id] = self._port.list_pool_dids(pool)
        return self._by_pool[pool.id]


class OutboundState:
    """The outbound routes of the configured site (matched by the site's id: a route's site
    reference need not carry a name), from one read of every site's routes; the trunk base is
    looked up only when byoc's route must be written."""

    def __init__(self, port: GenesysPort, site_name: str, trunk_base_name: str,
                 routes: Iterable[GenesysOutboundRoute]) -> None:
        self._port = port
        self.site_name = site_name
        self.trunk_base_name = trunk_base_name
        self._site = port.find_site(site_name)
        site_id = self._site.id if self._site is not None else None
        self.routes = tuple(r for r in routes if r.site is not None and r.site.id == site_id)
        self._base: GenesysRef | None = None
        self._base_read = False

    def site(self) -> GenesysRef | None:
        return self._site

    def trunk_base(self) -> GenesysRef | None:
        if not self._base_read:
            self._base, self._base_read = self._port.find_trunk_base(self.trunk_base_name), True
        return self._base

    def through_trunk_base(self, route: GenesysOutboundRoute) -> bool:
        """True when the route sends calls through the configured trunk base (by name)."""
        return any(b.name.casefold() == self.trunk_base_name.casefold() for b in route.trunk_bases)


@dataclass(frozen=True)
class GenesysState:
    """Genesys as read: pools, IVRs, users (read on demand), and the outbound side."""

    pools: tuple[GenesysDidPool, ...]
    ivrs: tuple[GenesysIvr, ...]
    users: UserDirectory
    dids: PoolDids
    outbound: OutboundState | None = None


@dataclass(frozen=True)
class OutboundWanted:
    """The outbound route settings."""

    site: str
    trunk_base: str
    route_name: str
    classifications: tuple[str, ...]


RouteKey = tuple[str, str | None]
"""(genesys kind: ivr, user or none; IVR name or user email)."""


@dataclass(frozen=True)
class GenesysDesired:
    """What Genesys must carry: the present numbers grouped by route, and the numbers going away."""

    routes: dict[RouteKey, list[str]]
    """(kind, name) -> the present numbers routed there."""
    numbers: AbstractSet[str] = frozenset()
    """Every present number, as the inventory lists them (in order: reading them so is faster)."""
    releasing: frozenset[str] = frozenset()
    user_hints: frozenset[str] = frozenset()
    """Emails of users that may hold byoc's numbers (from the inventory's last routing)."""
    outbound: OutboundWanted | None = None
    numbers_per_put: int = 50
    ivr_shards: bool = True
    """Spread an IVR's numbers over more IVRs when one request cannot carry them."""



# --- ranges ---------------------------------------------------------------------------------------

PoolSpan: TypeAlias = Span[GenesysDidPool]
"""Numbers of one length, and the pool they make, if any."""


def range_key(pool: GenesysDidPool) -> str:
    return f"{pool.start}-{pool.end}"


def preview(numbers: Sequence[str]) -> str:
    shown = ", ".join(numbers[:_PREVIEW])
    return shown + (f" and {len(numbers) - _PREVIEW} more" if len(numbers) > _PREVIEW else "")


# --- the analysis -------------------------------------------------------------------------------

Holder = tuple[str, str]
"""("ivr", id) or ("user", id)."""
