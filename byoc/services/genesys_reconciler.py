"""Genesys Cloud: DID pools cover exactly the managed numbers, each routed as the policy says.

Target `genesys`. What byoc owns and what it leaves alone:

- **DID pools.** A pool whose description contains `managed-by:byoc` is byoc's. byoc's pools cover
  the managed numbers that no foreign pool already covers, one pool per contiguous run of uncovered
  numbers (at most 100,000 numbers each). A number inside a foreign pool is covered by it and gets
  no pool of byoc's. Foreign pools are never written; one overlapping a pool of byoc's (Genesys is
  documented to refuse that) is reported and neither changes. A pool keeps its identity: its
  range changes in place (PUT), its ends moving in to its first and last managed numbers and out
  over new numbers right next to it; a number leaving its middle stays in it, so no managed number
  is ever in no pool. A pool with no managed number left is deleted. Where Genesys refuses a range
  change, new numbers get a pool of their own and the pool keeps its numbers (reported). A pool
  holding a number byoc cannot unassign (a phone, a group) is left as it is and reported.
- **Routing.** A managed number goes into the `dnis` of the IVR (call route) the policy names, or
  becomes the WORK phone of the user with the policy's email; `none` means not routed. Routing is
  byoc's for every managed, releasing, or byoc-pooled number: such a number held by another IVR or
  by a user byoc reads is taken from it. A user whose WORK phone is a number byoc does not manage
  keeps it (reported). An IVR or user the policy names but Genesys lacks is reported and its
  numbers are left as they are. Numbers one IVR write cannot carry go to shard IVRs
  (`genesys_shards`).
- **Outbound.** On the configured site, the configured number classifications must go out through
  the BYOC trunk base. A classification an enabled foreign route already sends there is fine; one
  a foreign route sends elsewhere is reported, not changed; the others go on byoc's own route
  (named by settings, marked `managed-by:byoc`), which is created, repaired or removed.

Writes run in an order that never strands a number: new pools and shards, routing removals,
routing additions that can go at once, pool range changes, pool deletions, the additions that had
to wait (IVR numbers added at most `BYOC_GENESYS_NUMBERS_PER_IVR_PUT` per PUT), shard deletions,
then the outbound route. A sync reads the pools, the IVRs, the users involved, the holders
of numbers in pools that must go, and every outbound route once. Verify reads the pools and
routes again when it wrote them, and checks IVRs and users as each write returned them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

from byoc.domain.number_ranges import BY_START, Span, SpanIndex, SpanSet, span_numbers, span_text
from byoc.domain.plan import Action, Change, Plan
from byoc.domain.targets import GENESYS
from byoc.ports import (
    GenesysDid,
    GenesysDidPool,
    GenesysError,
    GenesysIvr,
    GenesysNumberInUse,
    GenesysOutboundRoute,
    GenesysOutboundRouteSpec,
    GenesysPoolRangeRefused,
    GenesysPort,
    GenesysRef,
    GenesysUser,
)
from byoc.services import genesys_slice
from byoc.services.genesys_pool_view import pool_view
from byoc.services.genesys_shards import shard_of, spread

if TYPE_CHECKING:
    from byoc.ports import HeldLease, Inventory
    from byoc.services.genesys_slice import GenesysSlice, GenesysSliceWanted
    from byoc.services.reconcile import DesiredState
    from byoc.settings import Settings

log = logging.getLogger("byoc.genesys")

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


def _range_key(pool: GenesysDidPool) -> str:
    return f"{pool.start}-{pool.end}"


def _preview(numbers: Sequence[str]) -> str:
    shown = ", ".join(numbers[:_PREVIEW])
    return shown + (f" and {len(numbers) - _PREVIEW} more" if len(numbers) > _PREVIEW else "")


# --- the analysis -------------------------------------------------------------------------------


@dataclass
class _Analysis:
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unroutable: dict[str, str] = field(default_factory=dict)
    """number -> why it cannot be routed as the policy says."""
    stuck: dict[str, str] = field(default_factory=dict)
    """number -> why a pool of byoc's still covers it."""
    numbers_before: int = 0


Holder = tuple[str, str]
"""("ivr", id) or ("user", id)."""


class GenesysReconciler:
    """Keeps Genesys's DID pools, number routing and outbound route as inventory + policy say."""

    target = TARGET
    tracks_numbers = True

    def __init__(self, settings: Settings, port: GenesysPort,
                 inventory: Callable[[], Inventory] | None = None) -> None:
        self._settings = settings
        self._port = port
        self._inventory = inventory
        """Where a slice sync asks whether numbers outside it are still wanted (opened on first
        use: a full sync never needs it)."""
        self._slice: GenesysSlice | None = None
        self._pools_written: dict[str, GenesysDidPool] = {}
        """The pools this sync created or changed, as Genesys answered."""
        self._snapshot: GenesysState | None = None
        self._dirty: set[str] = set()
        self._ivrs: dict[str, GenesysIvr] = {}
        self._refused: dict[str, str] = {}
        self._created: dict[str, str] = {}
        """placeholder id of a shard this sync created -> its id."""
        """pool id -> why Genesys would not change its range in place (this sync)."""

    # --- the verbs -------------------------------------------------------------------------------

    def read_actual(self) -> GenesysState:
        """Pools, IVRs and the outbound side, each read once (users are read when planning)."""
        state = GenesysState(
            pools=tuple(self._port.list_did_pools()),
            ivrs=tuple(self._port.list_ivrs()),
            users=UserDirectory(self._port),
            dids=PoolDids(self._port),
            outbound=self._read_outbound(),
        )
        self._remember(state)
        pool_view(self._port).replace_all(state.pools)
        self._dirty = set()
        return state

    def desired(self, state: DesiredState) -> GenesysDesired:
        """Each present number's Genesys route, the releasing numbers, and the outbound route."""
        grouped: dict[RouteKey, list[str]] = {}
        for route, numbers in state.by_route.items():
            grouped.setdefault((route.genesys_kind, route.genesys_name), []).extend(numbers)
        hints = {
            target.removeprefix("user:") for record in state.records.values()
            if (target := record.genesys_target) and target.startswith("user:")
            and (record.number in state.present or record.number in state.releasing)
        }
        settings = self._settings
        outbound = None
        if settings.genesys_site_name and settings.genesys_trunk_base_name:
            outbound = OutboundWanted(
                site=settings.genesys_site_name,
                trunk_base=settings.genesys_trunk_base_name,
                route_name=settings.genesys_outbound_route_name,
                classifications=tuple(settings.genesys_outbound_classifications),
            )
        return GenesysDesired(
            routes=grouped,
            numbers=state.present.keys(),  # a view: 100,000 numbers are not copied
            releasing=state.releasing,
            user_hints=frozenset(hints),
            outbound=outbound,
            numbers_per_put=settings.genesys_numbers_per_ivr_put,
            ivr_shards=settings.genesys_ivr_shards,
        )

    def plan(self, actual: GenesysState, desired: GenesysDesired) -> Plan:
        analysis = self._analyse(actual, desired)
        return Plan(
            target=self.target,
            changes=tuple(analysis.changes),
            numbers_before=analysis.numbers_before,
            conflicts=tuple(analysis.conflicts),
            notes=tuple(analysis.notes),
        )

    def apply(self, plan: Plan, lease: HeldLease) -> None:
        """Write the plan's changes in order, checking the lease before each write."""
        if plan.target != self.target:
            raise ForeignGenesysObjectError(
                f"plan for {plan.target} given to the reconciler of {self.target}; not applied")
        for change in plan.changes:
            if change.kind == POOL_KIND:
                self._apply_pool(change, lease)
            elif change.kind == IVR_KIND:
                self._apply_ivr(change, lease)
            elif change.kind == SHARD_KIND:
                self._apply_shard(change, lease)
            elif change.kind == USER_KIND:
                self._apply_user(change, lease)
            elif change.kind == ROUTE_KIND:
                self._apply_route(change, lease)
            else:
                raise ForeignGenesysObjectError(f"unknown change kind {change.kind!r}; not applied")

    def verify(self, desired: GenesysDesired) -> list[str]:
        """What still differs. Pools and outbound routes this sync wrote are read again; IVRs and
        users are checked as Genesys returned them from each write (its own state after it)."""
        actual = self._snapshot
        if actual is None:
            actual = self.read_actual()
        elif self._dirty:
            actual = GenesysState(
                pools=tuple(self._port.list_did_pools()) if "pools" in self._dirty else actual.pools,
                ivrs=tuple(self._ivrs.values()),
                users=actual.users,
                dids=PoolDids(self._port),
                outbound=self._read_outbound() if "outbound" in self._dirty else actual.outbound,
            )
            self._remember(actual)
            pool_view(self._port).replace_all(actual.pools)
            self._dirty = set()
        analysis = self._analyse(actual, desired)
        problems = [
            self._refused.get((c.before or {}).get("id", ""))
            or f"{c.kind} {c.key} still differs: {c.summary}"
            for c in analysis.changes
        ]
        reasons: dict[str, list[str]] = defaultdict(list)
        for number, reason in (*analysis.unroutable.items(), *analysis.stuck.items()):
            reasons[reason].append(number)
        problems += [f"{_preview(sorted(numbers))}: {reason}" for reason, numbers in reasons.items()]
        return problems

    # --- slices (genesys_slice) ------------------------------------------------------------------

    def read_slice(self, numbers: frozenset[str]) -> GenesysSlice:
        """The pools holding or next to `numbers` and their holders, looked up by number."""
        self._slice = genesys_slice.read_slice(self, numbers)
        self._snapshot, self._dirty = None, set()
        self._ivrs = {h.id: h for h in self._slice.holders.values() if isinstance(h, GenesysIvr)}
        return self._slice

    def desired_slice(self, state: DesiredState, numbers: frozenset[str]) -> GenesysSliceWanted:
        return genesys_slice.desired_slice(self, state, numbers)

    def plan_slice(self, actual: GenesysSlice, desired: GenesysSliceWanted) -> Plan:
        plan = genesys_slice.plan_slice(self, actual, desired)
        self._ivrs.update({i.id: i for family in actual.families.values() for i in family})
        self._snapshot = GenesysState(
            pools=tuple(actual.pools.values()), ivrs=tuple(self._ivrs.values()),
            users=UserDirectory(self._port), dids=PoolDids(self._port))
        for user in [*actual.users.values(), *actual.holders.values()]:
            if isinstance(user, GenesysUser):
                self._snapshot.users.remember(user)
        return plan

    def verify_slice(self, desired: GenesysSliceWanted) -> list[str]:
        return genesys_slice.verify_slice(self, desired)

    # --- planning --------------------------------------------------------------------------------

    def _analyse(self, actual: GenesysState, desired: GenesysDesired) -> _Analysis:
        out = _Analysis()
        pools = [p for p in actual.pools if p.state != "deleted"]
        mine = sorted((Span.of(p.start, p.end, p) for p in pools if owned(p.description)),
                      key=BY_START)
        foreign_pools = [p for p in pools if not owned(p.description)]
        foreign_spans = [Span.of(p.start, p.end, p) for p in foreign_pools]
        foreign = SpanIndex(foreign_spans)

        present = SpanSet.of_numbers(desired.numbers)
        kept: list[PoolSpan] = []
        dropped: list[PoolSpan] = []
        claimed: list[PoolSpan] = []
        # width -> the highest number claimed so far (`mine` is sorted: a pool can only overlap
        # an earlier one that reaches that far)
        reach: dict[int, int] = {}
        for span in mine:
            pool = _pool(span)
            twin = None
            if reach.get(span.width, -1) >= span.low:
                twin = next((s.pool for s in claimed if s.overlaps(span)), None)
            if twin is not None:
                out.conflicts.append(
                    f"byoc's DID pools {_range_key(pool)} (id {pool.id}) and {_range_key(twin)} "
                    f"(id {twin.id}) overlap (a replayed create?); byoc leaves {pool.id} alone: "
                    "delete the duplicate by hand")
                continue
            claimed.append(span)
            reach[span.width] = max(reach.get(span.width, -1), span.high)
            bounds = present.bounds_within(span)
            if bounds is None:
                dropped.append(span)
                continue
            # The pool keeps its identity: its ends move in to its first and last present
            # numbers (a PUT); a gap inside stays in it (splitting would take the numbers on one
            # side out of every pool until the new pool exists).
            kept.append(Span(span.width, *bounds, span.pool))
            for clash in foreign.overlapping(span):
                assert clash.pool is not None
                out.conflicts.append(
                    f"byoc's DID pool {_range_key(pool)} (id {pool.id}) overlaps foreign pool "
                    f"{clash.pool.name!r} ({_range_key(clash.pool)}, id {clash.pool.id}); byoc "
                    "changes neither: remove the overlap by hand")

        pool_user_ids = self._unassignable(actual, dropped, kept, desired.numbers, out)

        kept_ranges = SpanSet(kept)
        foreign_ranges = SpanSet(foreign_spans)
        in_foreign = (present - kept_ranges) & foreign_ranges  # covered by a foreign pool
        needed = present - in_foreign
        # Runs of numbers no pool covers: they touch no foreign pool, so new pools overlap none.
        # A run next to a pool of byoc's grows that pool in place; the others get new pools.
        uncovered, kept = _grow(needed - kept_ranges, kept)
        new_spans = [
            Span(whole.width, low, min(low + MAX_POOL_SIZE - 1, whole.high))
            for whole in uncovered
            for low in range(whole.low, whole.high + 1, MAX_POOL_SIZE)
        ]
        resized = [s for s in kept if (s.low, s.high) != _bounds(_pool(s))]
        grown = [n for s in resized for n in _outside(s, Span.of(_pool(s).start, _pool(s).end))]
        for span in kept:
            if holes := span.size - present.count_within(span):
                pool = _pool(span)
                out.notes.append(
                    f"byoc's DID pool {_range_key(pool)} keeps {holes} number(s) byoc no longer "
                    "manages between its first and last managed numbers: splitting it would "
                    "leave the numbers on one side in no pool until the new pool exists")

        owned_ranges = SpanSet(mine)
        responsible = _Responsible(desired, owned_ranges)
        out.numbers_before = len(owned_ranges) + len((present - owned_ranges) & foreign_ranges) + sum(
            1 for n in desired.releasing - desired.numbers
            if n not in owned_ranges and n in foreign_ranges)

        # A new pool overlapping a pool that goes can only be created after the deletion; its
        # numbers are routed after that too. Every other new pool is created first.
        dropped_ranges = SpanSet(dropped)
        dropped_numbers = {n for span in dropped for n in span_numbers(span)}
        late_spans = [s for s in new_spans if dropped_ranges.touches(s)]
        early_spans = [s for s in new_spans if not dropped_ranges.touches(s)]
        late_numbers = {n for s in late_spans for n in span_numbers(s)} | dropped_numbers
        late_numbers.update(grown)  # routed once their pool has grown
        # what the pools that stay hold now (a pool's growth is not in it yet)
        lasting = SpanIndex([*(_held_now(s) for s in kept), *foreign_spans])
        early, late = self._routing(
            actual, desired, responsible, dropped_numbers, late_numbers, pool_user_ids, lasting,
            out)

        deletions = [self._pool_removal(_pool(span), needed) for span in dropped]
        out.changes = [
            *(self._pool_creation(s) for s in early_spans),
            *early,
            *(self._pool_resize(s) for s in resized),
            *deletions,
            *(self._pool_creation(s) for s in late_spans),
            *late,
            *self._outbound(actual, desired, out),
        ]
        self._pool_notes(foreign_pools, in_foreign, out)
        return out

    def _pool_removal(self, pool: GenesysDidPool, needed: SpanSet) -> Change:
        span: PoolSpan = Span.of(pool.start, pool.end)
        stays = needed.count_within(span)
        summary = (
            f"no longer wanted ({span.size} numbers)" if not stays
            else f"range changes: deleted and created again around the {stays} number(s) "
            "that stay (unrouted first, routed again after)")
        return Change(
            target=self.target, action=Action.REMOVE, kind=POOL_KIND, key=_range_key(pool),
            summary=summary,
            before={"id": pool.id, "start": pool.start, "end": pool.end, "name": pool.name,
                    "description": pool.description},
            numbers_removed=tuple(span_numbers(span)),
        )

    def _pool_resize(self, span: PoolSpan) -> Change:
        pool = _pool(span)
        first, last = span_text(span.width, span.low), span_text(span.width, span.high)
        old: PoolSpan = Span.of(pool.start, pool.end)
        added, removed = _outside(span, old), _outside(old, span)
        parts = [f"{pool.start}-{pool.end} -> {first}-{last} in place"]
        if added:
            parts.append(f"grows by {len(added)}: {_preview(added)}")
        if removed:
            parts.append(f"lets go of {len(removed)} (unrouted first): {_preview(removed)}")
        return Change(
            target=self.target, action=Action.UPDATE, kind=POOL_KIND, key=_range_key(pool),
            summary="; ".join(parts),
            before={"id": pool.id, "start": pool.start, "end": pool.end, "name": pool.name,
                    "description": pool.description},
            after={"id": pool.id, "start": first, "end": last, "name": f"byoc {first}-{last}",
                   "description": pool.description},
            numbers_added=tuple(added), numbers_removed=tuple(removed),
        )

    def _pool_creation(self, span: PoolSpan) -> Change:
        first, last = span_text(span.width, span.low), span_text(span.width, span.high)
        return Change(
            target=self.target, action=Action.ADD, kind=POOL_KIND, key=f"{first}-{last}",
            summary=f"{span.size} number(s)",
            after={"start": first, "end": last, "name": f"byoc {first}-{last}",
                   "description": POOL_DESCRIPTION},
            numbers_added=tuple(span_numbers(span)),
        )

    def _unassignable(
        self,
        actual: GenesysState,
        dropped: list[PoolSpan],
        kept: list[PoolSpan],
        present: AbstractSet[str],
        out: _Analysis,
    ) -> set[str]:
        """Read who holds the numbers of the pools that must go or shrink (only those the pool
        lets go of). A pool holding such a number byoc cannot unassign (a phone, a group, an IVR
        it cannot see) stays as it is, reported; returns the ids of users holding the others
        (they are unrouted first)."""
        ivr_ids = {i.id for i in actual.ivrs}
        user_ids: set[str] = set()
        shrinking = [s for s in kept
                     if (s.low, s.high) != _bounds(_pool(s))]
        for span in [*dropped, *shrinking]:
            pool = _pool(span)
            going = span in dropped
            dids = [d for d in actual.dids.of(pool)
                    if going or not span.low <= int(d.number[1:]) <= span.high]
            stuck = [d for d in dids if d.owner_type != "USER"
                     and not (d.owner_type == "IVR_CONFIG" and d.owner_id in ivr_ids)]
            if not stuck:
                user_ids |= {d.owner_id for d in dids if d.owner_type == "USER"}
                continue
            whole = Span.of(pool.start, pool.end, pool)
            if going:
                dropped.remove(span)
            else:
                kept.remove(span)
            kept.append(whole)
            first = stuck[0]
            why = (f"{first.number} in it is assigned to {first.owner_type} "
                   f"{first.owner_name or first.owner_id!r}, which byoc does not unassign")
            out.conflicts.append(
                f"byoc's DID pool {_range_key(pool)} (id {pool.id}) must shrink or go, but {why}; "
                "unassign it by hand")
            for number in span_numbers(whole):
                if number not in present:
                    out.stuck[number] = f"still in DID pool {_range_key(pool)}: {why}"
        return user_ids

    def _routing(
        self,
        actual: GenesysState,
        desired: GenesysDesired,
        responsible: _Responsible,
        dropped_numbers: set[str],
        late_numbers: set[str],
        pool_user_ids: set[str],
        lasting: SpanIndex[GenesysDidPool],
        out: _Analysis,
    ) -> tuple[list[Change], list[Change]]:
        """Routing changes in two rounds. The early round (before pool deletions) takes every
        number from where it must not stay and adds what can be added at once; the late round
        adds numbers that first had to leave another holder or wait for a recreated pool."""
        emails = {name for kind, name in desired.routes if kind == "user" and name}
        users = actual.users.lookup({*emails, *desired.user_hints})
        users.update(actual.users.lookup_ids(pool_user_ids))
        held = _held(actual.ivrs, users.values(), responsible)
        wanted = _wanted(actual.ivrs, users, desired, out)
        _one_work_phone_per_user(wanted, users, responsible, out)
        shards = spread(actual.ivrs, wanted, held, allow=desired.ivr_shards)
        out.conflicts.extend(shards.conflicts)
        out.unroutable.update(shards.unroutable)
        unseen = _unseen_holders(actual, wanted, held, responsible, lasting, out)
        if unseen - {u.id for u in users.values()}:
            users.update(actual.users.lookup_ids(unseen))
            held = _held(actual.ivrs, users.values(), responsible)

        # Per holder, as sets: what it must give up, and what it must get now or after the
        # pools change (a number held elsewhere first leaves its holder; a number in a pool
        # that is recreated is unrouted and routed again).
        unroutable = out.unroutable.keys()
        remove: dict[Holder, list[str]] = {}
        add_early: dict[Holder, list[str]] = {}
        add_late: dict[Holder, list[str]] = {}
        for holder in {*held, *wanted}:
            has, goal = held.get(holder, set()), wanted.get(holder, set())
            recreated = goal & dropped_numbers
            gone = (has - goal) | (has & recreated)
            gone.difference_update(unroutable)
            if gone:
                remove[holder] = sorted(gone)
            add = (goal - has) | recreated
            add.difference_update(unroutable)
            # (set & set walks the smaller one: cheap while few numbers move)
            late = (add & late_numbers).union(*(add & numbers for numbers in held.values()))
            if late:
                add_late[holder] = sorted(late)
            if early := add - late:
                add_early[holder] = sorted(early)

        ivrs = {i.id: i for i in actual.ivrs} | shards.placeholders
        by_id = {u.id: u for u in users.values()}
        per_put = max(1, desired.numbers_per_put)
        early_changes: list[Change] = []
        for holder in {*remove, *add_early}:
            gone_list, added = remove.get(holder, []), add_early.get(holder, [])
            if holder[0] == "ivr":
                early_changes.append(self._ivr_change(ivrs[holder[1]], gone_list, added, per_put))
            else:
                early_changes.append(self._user_change(by_id[holder[1]], gone_list, added))
        late_changes: list[Change] = []
        for holder, added in add_late.items():
            if holder[0] == "ivr":
                late_changes.append(self._ivr_change(ivrs[holder[1]], [], added, per_put))
            else:
                late_changes.append(self._user_change(by_id[holder[1]], [], added))
        return (
            [*(self._shard_change(Action.ADD, new, like) for new, like in shards.create),
             *(self._shard_change(Action.UPDATE, shard, like) for shard, like in shards.fix),
             *sorted(early_changes, key=_change_order)],
            [*sorted(late_changes, key=_change_order),
             *(self._shard_change(Action.REMOVE, shard, None) for shard in shards.delete)],
        )

    def _shard_change(self, action: Action, ivr: GenesysIvr, like: GenesysIvr | None) -> Change:
        summary = {Action.ADD: f"created for the numbers of {like.name if like else ''!r} past "
                               "one request's size limit",
                   Action.UPDATE: f"given the flows of {like.name if like else ''!r}",
                   Action.REMOVE: "no longer needed: its IVR's numbers fit in fewer IVRs"}[action]
        ref = {"id": ivr.id, "name": ivr.name, "description": ivr.description}
        return Change(
            target=self.target, action=action, kind=SHARD_KIND, key=ivr.name, summary=summary,
            before=None if action is Action.ADD else ref,
            after=None if like is None else {**ref, "like": like.id})

    def _ivr_change(
        self, ivr: GenesysIvr, remove: list[str], add: list[str], per_put: int
    ) -> Change:
        parts = []
        if remove:
            parts.append(f"remove {len(remove)} number(s): {_preview(remove)}")
        if add:
            writes = -(-len(add) // per_put)
            parts.append(f"add {len(add)} number(s) in {writes} write(s) of at most {per_put}: "
                         f"{_preview(add)}")
        return Change(
            target=self.target, action=Action.UPDATE, kind=IVR_KIND, key=ivr.name,
            summary="; ".join(parts),
            before={"id": ivr.id, "version": ivr.version, "dnis": len(ivr.dnis)},
            after={"id": ivr.id, "remove": remove, "add": add, "per_put": per_put},
            numbers_added=tuple(add), numbers_removed=tuple(remove),
        )

    def _user_change(self, user: GenesysUser, remove: list[str], add: list[str]) -> Change:
        work = add[0] if add else None
        parts = [f"remove phone {_preview(remove)}"] if remove else []
        if work:
            parts.append(f"work phone {work}")
        return Change(
            target=self.target, action=Action.UPDATE, kind=USER_KIND, key=user.email,
            summary="; ".join(parts),
            before={"id": user.id, "version": user.version, "phones": user.phones()},
            after={"id": user.id, "remove": remove, "work": work},
            numbers_added=tuple(add[:1]), numbers_removed=tuple(remove),
        )

    def _pool_notes(
        self, foreign_pools: list[GenesysDidPool], in_foreign: SpanSet, out: _Analysis
    ) -> None:
        for pool in sorted(foreign_pools, key=lambda p: p.id):
            count = in_foreign.count_within(Span.of(pool.start, pool.end))
            if count:
                out.notes.append(
                    f"{count} managed number(s) lie in foreign DID pool {pool.name!r} "
                    f"({_range_key(pool)}); it covers them, byoc adds no pool of its own")

    # --- outbound --------------------------------------------------------------------------------

    def _read_outbound(self) -> OutboundState | None:
        settings = self._settings
        if not (settings.genesys_site_name and settings.genesys_trunk_base_name):
            return None
        return OutboundState(self._port, settings.genesys_site_name,
                             settings.genesys_trunk_base_name, self._port.list_outbound_routes())

    def _outbound(
        self, actual: GenesysState, desired: GenesysDesired, out: _Analysis
    ) -> list[Change]:
        wanted = desired.outbound
        state = actual.outbound
        if wanted is None or state is None:
            out.notes.append(
                "the outbound route is not managed: set BYOC_GENESYS_SITE_NAME and "
                "BYOC_GENESYS_TRUNK_BASE_NAME")
            return []
        mine = [r for r in state.routes if r.name == wanted.route_name and owned(r.description)]
        clash = [r for r in state.routes if r.name == wanted.route_name and not owned(r.description)]
        if clash:
            out.conflicts.append(
                f"outbound route {wanted.route_name!r} on site {wanted.site!r} is not byoc's (no "
                f"{MARKER!r} in its description); byoc does not change it. Rename it, mark it, or "
                "set BYOC_GENESYS_OUTBOUND_ROUTE_NAME")
            return []
        carried: list[str] = []
        for classification in wanted.classifications:
            others = [r for r in state.routes if r.enabled and not owned(r.description)
                      and classification in r.classification_types]
            agreeing = [r for r in others if state.through_trunk_base(r)]
            if agreeing:
                out.notes.append(
                    f"{classification} calls already go through {wanted.trunk_base!r} by foreign "
                    f"outbound route {agreeing[0].name!r}")
            elif others:
                through = ", ".join(b.name or b.id for b in others[0].trunk_bases) or "no trunk"
                out.conflicts.append(
                    f"foreign outbound route {others[0].name!r} sends {classification} calls "
                    f"through {through}, not the BYOC trunk base {wanted.trunk_base!r}; byoc does "
                    "not change it")
            else:
                carried.append(classification)
        current = mine[0] if mine else None
        if not carried:
            if current is None:
                return []
            return [self._route_change(Action.REMOVE, current, None, current.site,
                                       "no classification left for byoc's route (foreign "
                                       "routes carry them)")]
        if current is not None and not _route_differences(current, carried, state):
            return []
        site, base = state.site(), state.trunk_base()
        if site is None or base is None:
            missing = (f"site {wanted.site!r} (BYOC_GENESYS_SITE_NAME)" if site is None
                       else f"trunk base settings {wanted.trunk_base!r} "
                       "(BYOC_GENESYS_TRUNK_BASE_NAME)")
            out.conflicts.append(f"{missing} does not exist in Genesys; byoc's outbound route "
                                 "is not written")
            return []
        spec = GenesysOutboundRouteSpec(
            name=wanted.route_name, classification_types=tuple(carried), trunk_base=base,
            description=ROUTE_DESCRIPTION)
        if current is None:
            return [self._route_change(Action.ADD, None, spec, site,
                                       f"{', '.join(carried)} through {base.name!r}")]
        summary = "; ".join(_route_differences(current, carried, state))
        return [self._route_change(Action.UPDATE, current, spec, site, summary)]

    def _route_change(
        self,
        action: Action,
        current: GenesysOutboundRoute | None,
        spec: GenesysOutboundRouteSpec | None,
        site: GenesysRef | None,
        summary: str,
    ) -> Change:
        before = None if current is None else {
            "id": current.id, "version": current.version,
            "classification_types": list(current.classification_types),
            "trunk_bases": [b.name or b.id for b in current.trunk_bases],
            "enabled": current.enabled, "description": current.description,
        }
        after = None if spec is None else {
            "name": spec.name, "classification_types": list(spec.classification_types),
            "trunk_base": {"id": spec.trunk_base.id, "name": spec.trunk_base.name},
            "enabled": spec.enabled, "distribution": spec.distribution,
            "description": spec.description,
        }
        key = spec.name if spec else current.name if current else ""
        where = {"site": {"id": site.id, "name": site.name}} if site else {}
        return Change(target=self.target, action=action, kind=ROUTE_KIND, key=key,
                      summary=summary, before=before and {**before, **where},
                      after=after and {**after, **where})

    # --- applying --------------------------------------------------------------------------------

    def _apply_pool(self, change: Change, lease: HeldLease) -> None:
        if change.action is Action.ADD:
            after = change.after
            if not owned(after.get("description")):
                raise ForeignGenesysObjectError(
                    f"DID pool {change.key} would be created without the {MARKER!r} mark; refused")
            lease.check()
            self._dirty.add("pools")
            self._create_pool(after["start"], after["end"], after["name"], after["description"])
            return
        if change.action is Action.UPDATE:
            self._resize_pool(change, lease)
            return
        before = change.before
        if not owned(before.get("description")):
            raise ForeignGenesysObjectError(
                f"DID pool {change.key} (id {before.get('id')}) is not byoc's; byoc never deletes "
                "foreign pools")
        lease.check()
        self._dirty.add("pools")
        self._port.delete_did_pool(GenesysDidPool(
            id=before["id"], start=before["start"], end=before["end"], name=before.get("name", ""),
            description=before.get("description", "")))
        pool_view(self._port).drop(before["id"])
        self._pools_written.pop(before["id"], None)

    def _create_pool(self, start: str, end: str, name: str, description: str) -> None:
        """Create a pool and keep it as Genesys answered (a refusal means the pool view missed
        something: it is forgotten)."""
        try:
            created = self._port.create_did_pool(start, end, name=name, description=description)
        except GenesysError:
            pool_view(self._port).forget()
            raise
        self._wrote_pool(created)

    def _wrote_pool(self, pool: GenesysDidPool) -> None:
        self._pools_written[pool.id] = pool
        pool_view(self._port).put(pool)

    def _resize_pool(self, change: Change, lease: HeldLease) -> None:
        """PUT the new range. Where Genesys refuses, numbers the pool was to take get a pool of
        their own, and a pool that was to let numbers go keeps them (deleting and creating it
        again would leave its managed numbers in no pool meanwhile); verify reports it."""
        before, after = change.before, change.after
        if not owned(before.get("description")) or not owned(after.get("description")):
            raise ForeignGenesysObjectError(
                f"DID pool {change.key} (id {before.get('id')}) is not byoc's; not changed")
        pool = GenesysDidPool(
            id=before["id"], start=before["start"], end=before["end"],
            name=before.get("name", ""), description=before["description"])
        lease.check()
        self._dirty.add("pools")
        try:
            self._wrote_pool(
                self._port.resize_did_pool(pool, after["start"], after["end"], name=after["name"]))
            return
        except GenesysError as exc:
            pool_view(self._port).forget()
            gone = exc.status == 404
            if not gone and not isinstance(exc, GenesysPoolRangeRefused):
                raise
            log.warning("DID pool range not changed in place", extra={
                "event": "genesys.pool_resize_refused", "target": self.target,
                "pool": change.key, "reason": str(exc)})
            if not gone:
                self._refused[pool.id] = (
                    f"DID pool {change.key} was not changed to {after['start']}-{after['end']} "
                    f"in place, Genesys refused: {exc}. byoc does not delete and recreate a "
                    "pool that holds managed numbers (they would be in no pool meanwhile): take "
                    "the numbers byoc no longer manages out of it by hand, or leave them there")
        old: PoolSpan = Span.of(pool.start, pool.end)
        new: PoolSpan = Span.of(after["start"], after["end"])
        parts = [new] if gone else (SpanSet([new]) - SpanSet([old])).spans
        for part in parts:
            first, last = span_text(part.width, part.low), span_text(part.width, part.high)
            lease.check()
            self._create_pool(first, last, f"byoc {first}-{last}", after["description"])

    def _apply_ivr(self, change: Change, lease: HeldLease) -> None:
        """Removals ride on the first PUT; additions go `per_put` at a time. A number something
        else holds is dropped from its PUT and left for verify to report."""
        after = change.after
        ivr = self._current_ivr(after["id"])
        remove = tuple(after.get("remove", ()))
        add = list(after.get("add", ()))
        per_put = max(1, int(after.get("per_put", self._settings.genesys_numbers_per_ivr_put)))
        chunks = [add[i:i + per_put] for i in range(0, len(add), per_put)] or [[]]
        for index, chunk in enumerate(chunks):
            gone = remove if index == 0 else ()
            while chunk or gone:
                lease.check()
                self._dirty.add("ivrs")
                try:
                    ivr = self._port.update_ivr_dnis(ivr, add=tuple(chunk), remove=gone)
                except GenesysNumberInUse as refused:
                    if refused.number not in chunk:
                        raise
                    log.warning("number held elsewhere; not routed", extra={
                        "event": "genesys.number_in_use", "target": self.target,
                        "number": refused.number, "ivr": ivr.name, "reason": str(refused)})
                    chunk.remove(refused.number)
                    continue
                self._ivrs[ivr.id] = ivr
                break

    def _apply_shard(self, change: Change, lease: HeldLease) -> None:
        """Create, align or delete one of byoc's IVR shards (never an IVR it does not own)."""
        ref = change.after or change.before or {}
        if not owned(ref.get("description")):
            raise ForeignGenesysObjectError(
                f"IVR {change.key!r} is not a shard of byoc's; not changed")
        lease.check()
        self._dirty.add("ivrs")
        if change.action is Action.ADD:
            like = self._current_ivr(change.after["like"])
            created = self._port.create_ivr(like, name=ref["name"], description=ref["description"])
            self._ivrs[created.id] = created
            self._created[ref["id"]] = created.id
            return
        current = self._current_ivr(ref["id"])
        if shard_of(current) is None:
            raise ForeignGenesysObjectError(
                f"IVR {change.key!r} is not a shard of byoc's; not changed")
        if change.action is Action.UPDATE:
            saved = self._port.update_ivr_routing(current, self._current_ivr(change.after["like"]))
            self._ivrs[saved.id] = saved
            return
        self._port.delete_ivr(current)
        self._ivrs.pop(current.id, None)

    def _apply_user(self, change: Change, lease: HeldLease) -> None:
        after = change.after
        user = self._current_user(after["id"])
        remove = tuple(after.get("remove", ()))
        work = after.get("work")
        lease.check()
        self._dirty.add("users")
        try:
            saved = self._port.update_user_phones(user, remove=remove, work=work)
        except GenesysNumberInUse as refused:
            log.warning("number held elsewhere; not routed", extra={
                "event": "genesys.number_in_use", "target": self.target,
                "number": refused.number, "user": user.email, "reason": str(refused)})
            if not remove or refused.number != work:
                return
            lease.check()
            saved = self._port.update_user_phones(user, remove=remove)
        if self._snapshot is not None:
            self._snapshot.users.remember(saved)

    def _apply_route(self, change: Change, lease: HeldLease) -> None:
        state = self._snapshot.outbound if self._snapshot else None
        known = {r.id: r for r in state.routes} if state else {}
        current = known.get(change.before["id"]) if change.before else None
        if change.before and (current is None or not owned(current.description)):
            raise ForeignGenesysObjectError(
                f"outbound route {change.key!r} is not a route byoc read as its own; not changed")
        where = (change.after or change.before or {}).get("site")
        if not where:
            raise ForeignGenesysObjectError(f"outbound route {change.key!r}: no site; not applied")
        site = GenesysRef(id=where["id"], name=where["name"])
        lease.check()
        self._dirty.add("outbound")
        if change.action is Action.REMOVE:
            assert current is not None
            self._port.delete_outbound_route(site, current)
            return
        after = change.after
        spec = GenesysOutboundRouteSpec(
            name=after["name"], classification_types=tuple(after["classification_types"]),
            trunk_base=GenesysRef(**after["trunk_base"]), description=after["description"],
            enabled=after["enabled"], distribution=after["distribution"])
        if not owned(spec.description):
            raise ForeignGenesysObjectError(f"outbound route {spec.name!r} without the mark")
        if current is None:
            self._port.create_outbound_route(site, spec)
        else:
            self._port.update_outbound_route(site, current, spec)

    # --- internals -------------------------------------------------------------------------------

    def _remember(self, state: GenesysState) -> None:
        self._snapshot = state
        self._ivrs = {i.id: i for i in state.ivrs}

    def _current_user(self, user_id: str) -> GenesysUser:
        known = self._snapshot.users.known() if self._snapshot else []
        user = next((u for u in known if u.id == user_id), None)
        return user if user is not None else self._port.get_user(user_id)

    def _current_ivr(self, ivr_id: str) -> GenesysIvr:
        ivr_id = self._created.get(ivr_id, ivr_id)
        ivr = self._ivrs.get(ivr_id)
        if ivr is None:
            ivr = self._port.get_ivr(ivr_id)
            self._ivrs[ivr_id] = ivr
        return ivr


def _pool(span: PoolSpan) -> GenesysDidPool:
    assert span.pool is not None, "a span read from a pool keeps it"
    return span.pool


def _bounds(pool: GenesysDidPool) -> tuple[int, int]:
    return int(pool.start[1:]), int(pool.end[1:])


def _held_now(span: PoolSpan) -> PoolSpan:
    """The part of a kept span its pool covers today."""
    low, high = _bounds(_pool(span))
    return span._replace(low=max(span.low, low), high=min(span.high, high))


def _outside(span: PoolSpan, other: PoolSpan) -> list[str]:
    """The numbers of `span` that `other` does not hold."""
    return [n for part in (SpanSet([span]) - SpanSet([other])).spans for n in span_numbers(part)]


def _grow(runs: SpanSet, kept: list[PoolSpan]) -> tuple[list[PoolSpan], list[PoolSpan]]:
    """Runs right next to a kept pool of byoc's join it (up to `MAX_POOL_SIZE`); returns the
    runs left over and the kept spans, grown."""
    spans = sorted(kept, key=BY_START)
    ends = {(s.width, s.high): i for i, s in enumerate(spans)}
    starts = {(s.width, s.low): i for i, s in enumerate(spans)}
    left: list[PoolSpan] = []
    for run in runs.spans:
        i = ends.get((run.width, run.low - 1))
        j = starts.get((run.width, run.high + 1))
        if i is not None and spans[i].size + run.size <= MAX_POOL_SIZE:
            span = spans[i]
            del ends[(span.width, span.high)]
            spans[i] = span._replace(high=run.high)
            ends[(run.width, run.high)] = i
        elif j is not None and spans[j].size + run.size <= MAX_POOL_SIZE:
            span = spans[j]
            del starts[(span.width, span.low)]
            spans[j] = span._replace(low=run.low)
            starts[(run.width, run.low)] = j
        else:
            left.append(run)
    return left, spans


def _change_order(change: Change) -> tuple[str, str]:
    return (change.kind, change.key.casefold())


class _Responsible:
    """The numbers whose routing is byoc's: present, releasing, or in a DID pool of byoc's."""

    def __init__(self, desired: GenesysDesired, owned: SpanSet) -> None:
        self._present = desired.numbers
        self._releasing = desired.releasing
        self._owned = owned

    def __contains__(self, number: object) -> bool:
        return number in self._present or number in self._releasing or number in self._owned

    def among(self, numbers: Iterable[str]) -> set[str]:
        """Those of `numbers` that are byoc's."""
        found = set(numbers)
        others = found - self._present - self._releasing
        return found - {n for n in others if n not in self._owned}


def _held(
    ivrs: Iterable[GenesysIvr], users: Iterable[GenesysUser], responsible: _Responsible
) -> dict[Holder, set[str]]:
    """Which of byoc's numbers each holder has now: IVRs (`dnis`) and the users byoc read."""
    held: dict[Holder, set[str]] = {}
    for ivr in ivrs:
        if numbers := responsible.among(ivr.dnis):
            held[("ivr", ivr.id)] = numbers
    for user in users:
        if numbers := responsible.among(user.phones()):
            held[("user", user.id)] = numbers
    return held


def _wanted(
    ivrs: Iterable[GenesysIvr],
    users: dict[str, GenesysUser],
    desired: GenesysDesired,
    out: _Analysis,
) -> dict[Holder, set[str]]:
    """Which numbers each holder should have (those routed to `none` are nobody's); numbers
    whose IVR or user is missing are left out and reported."""
    ivr_by_name = {i.name.casefold(): i for i in ivrs}
    wanted: dict[Holder, set[str]] = {}
    missing: dict[str, set[str]] = defaultdict(set)
    for (kind, name), numbers in desired.routes.items():
        holder: Holder | None = None
        if kind == "ivr" and name:
            ivr = ivr_by_name.get(name.casefold())
            if ivr is None:
                missing[f"IVR {name!r}"].update(numbers)
                continue
            holder = ("ivr", ivr.id)
        elif kind == "user" and name:
            user = users.get(name.casefold())
            if user is None:
                missing[f"user {name}"].update(numbers)
                continue
            holder = ("user", user.id)
        if holder is not None:
            wanted.setdefault(holder, set()).update(numbers)
    for what, lacking in sorted(missing.items()):
        ordered = sorted(lacking)
        out.conflicts.append(
            f"{what} does not exist in Genesys; {len(ordered)} number(s) the policy routes to it "
            f"are left as they are ({_preview(ordered)}). Create it, or change the policy")
        for number in ordered:
            out.unroutable[number] = f"the policy routes it to {what}, which Genesys lacks"
    return wanted


def _unseen_holders(
    actual: GenesysState,
    wanted: dict[Holder, set[str]],
    held: dict[Holder, set[str]],
    responsible: _Responsible,
    lasting: SpanIndex[GenesysDidPool],
    out: _Analysis,
) -> set[str]:
    """A number to route that no holder byoc read has may still be held by someone it did not
    read: the assigned numbers of its pool say who. Returns the ids of users among them; a number
    a phone or group holds cannot be taken and is reported."""
    pools: dict[str, GenesysDidPool] = {}
    seen = set().union(*held.values())  # a number a holder byoc read has is not unseen
    for numbers in wanted.values():
        for number in numbers - seen:
            span = lasting.find(number)
            if span is not None and span.pool is not None:
                pools[span.pool.id] = span.pool
    ivr_ids = {i.id for i in actual.ivrs}
    user_ids: set[str] = set()
    for pool in pools.values():
        for did in actual.dids.of(pool):
            if did.number not in responsible:
                continue
            if did.owner_type == "USER":
                user_ids.add(did.owner_id)
            elif not (did.owner_type == "IVR_CONFIG" and did.owner_id in ivr_ids) and any(
                did.number in numbers for numbers in wanted.values()
            ):
                out.unroutable[did.number] = (
                    f"held by {did.owner_type} {did.owner_name or did.owner_id!r}, which byoc "
                    "does not unassign")
    return user_ids


def _one_work_phone_per_user(
    wanted: dict[Holder, set[str]],
    users: dict[str, GenesysUser],
    responsible: _Responsible,
    out: _Analysis,
) -> None:
    """A user gets one WORK phone, and never in place of a number byoc does not manage."""
    by_id = {u.id: u for u in users.values()}
    for holder in sorted((h for h in wanted if h[0] == "user"), key=lambda h: by_id[h[1]].email):
        user = by_id[holder[1]]
        numbers = sorted(wanted[holder])
        if not numbers:
            continue
        first = numbers[0]
        if len(numbers) > 1:
            out.conflicts.append(
                f"user {user.email} can hold one work phone; the policy routes {len(numbers)} "
                f"numbers to them ({_preview(numbers)}); only {first} is assigned")
            for number in numbers[1:]:
                out.unroutable[number] = f"user {user.email} already gets {first}"
            wanted[holder] = {first}
        work = [a.address for a in user.addresses
                if a.media_type == "PHONE" and (a.type or "WORK") == "WORK" and a.address]
        unmanaged = [p for p in work if p not in responsible]
        if unmanaged and first not in user.phones():
            out.conflicts.append(
                f"user {user.email}'s work phone is {unmanaged[0]}, which byoc does not manage; "
                f"byoc does not replace it, so {first} is not assigned")
            del wanted[holder]
            out.unroutable[first] = f"user {user.email} has a work phone byoc does not manage"


def _route_differences(
    current: GenesysOutboundRoute, carried: list[str], state: OutboundState
) -> list[str]:
    found: list[str] = []
    if set(current.classification_types) != set(carried):
        found.append(f"classifications {sorted(current.classification_types)} -> {sorted(carried)}")
    if len(current.trunk_bases) != 1 or not state.through_trunk_base(current):
        found.append(f"trunk bases {[b.name or b.id for b in current.trunk_bases]} -> "
                     f"[{state.trunk_base_name!r}]")
    if not current.enabled:
        found.append("enabled False -> True")
    return found


__all__ = [
    "MARKER",
    "TARGET",
    "ForeignGenesysObjectError",
    "GenesysDesired",
    "GenesysReconciler",
    "GenesysState",
]
