"""The Genesys applier: writes a plan's changes, keeping what each write returned for verify."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from byoc.domain.number_ranges import NumberRanges, Span, span_text
from byoc.domain.plan import Action, Change, Plan, Takes, unfit
from byoc.ports import (
    GenesysDidPool,
    GenesysError,
    GenesysIvr,
    GenesysNumberInUse,
    GenesysPoolRangeRefused,
    GenesysPort,
    GenesysUser,
)
from byoc.services.genesys_model import (
    IVR_KIND,
    MARKER,
    POOL_KIND,
    ROUTE_KIND,
    SHARD_KIND,
    TARGET,
    USER_KIND,
    ForeignGenesysObjectError,
    GenesysState,
    PoolSpan,
    owned,
)
from byoc.services.genesys_payloads import (
    IvrNumbers,
    IvrRead,
    NewPool,
    PoolRange,
    RouteRead,
    RouteSpec,
    ShardLike,
    ShardRef,
    UserNumbers,
    UserRead,
)
from byoc.services.genesys_pool_view import pool_view
from byoc.services.genesys_shards import shard_of

if TYPE_CHECKING:
    from byoc.ports import HeldLease
    from byoc.settings import Settings

log = logging.getLogger("byoc.genesys")

_TAKES: dict[str, Takes] = {
    POOL_KIND: Takes(PoolRange, (PoolRange, NewPool)), IVR_KIND: Takes(IvrRead, IvrNumbers),
    SHARD_KIND: Takes(ShardRef, ShardLike), USER_KIND: Takes(UserRead, UserNumbers),
    ROUTE_KIND: Takes(RouteRead, RouteSpec),
}
"""change kind -> the payloads its write takes."""


class GenesysApplier:
    """Applies pool, IVR, shard, user and route changes, and keeps what each write returned (what
    a sync read and wrote, for its verify)."""

    target = TARGET

    def __init__(self, settings: Settings, port: GenesysPort) -> None:
        self._settings = settings
        self._port = port
        self.pools_written: dict[str, GenesysDidPool] = {}
        """The pools this sync created or changed, as Genesys answered."""
        self.snapshot: GenesysState | None = None
        """Genesys as this sync read it (users and the outbound side are read from it)."""
        self.dirty: set[str] = set()
        """What this sync wrote: `pools`, `ivrs`, `users`, `outbound` (read again to verify)."""
        self.ivrs: dict[str, GenesysIvr] = {}
        """IVR id -> the IVR as read or as its last write returned it."""
        self.refused: dict[str, str] = {}
        """pool id -> why Genesys would not change its range in place (this sync)."""
        self._created: dict[str, str] = {}
        """placeholder id of a shard this sync created -> its id."""
        self._writers: dict[str, Callable[[Change, HeldLease], None]] = {
            POOL_KIND: self._apply_pool, IVR_KIND: self._apply_ivr, SHARD_KIND: self._apply_shard,
            USER_KIND: self._apply_user, ROUTE_KIND: self._apply_route,
        }
        """change kind -> the write that makes it."""

    def check(self, plan: Plan) -> None:
        """Refuse, before any write, a plan with a change kind or payload no write here takes."""
        unknown = sorted({c.kind for c in plan.changes if c.kind not in self._writers}) \
            or unfit(plan, _TAKES)
        if unknown:
            raise ForeignGenesysObjectError(
                f"unknown change kind(s) {', '.join(unknown)}; not applied")

    def apply(self, change: Change, lease: HeldLease) -> None:
        """Make one change, checking the lease before each write."""
        write = self._writers.get(change.kind)
        if write is None:
            raise ForeignGenesysObjectError(f"unknown change kind {change.kind!r}; not applied")
        write(change, lease)

    def remember(self, state: GenesysState | None, ivrs: Iterable[GenesysIvr] = ()) -> None:
        """Start from what a sync read: a full sync's `state`, or a slice's `ivrs`."""
        self.snapshot = state
        self.ivrs = {i.id: i for i in (state.ivrs if state is not None else ivrs)}
        self.dirty = set()

    def _apply_pool(self, change: Change, lease: HeldLease) -> None:
        if change.action is Action.ADD:
            new = change.after_as(NewPool)
            if not owned(new.description):
                raise ForeignGenesysObjectError(
                    f"DID pool {change.key} would be created without the {MARKER!r} mark; refused")
            lease.check()
            self.dirty.add("pools")
            self._create_pool(new.start, new.end, new.name, new.description)
            return
        if change.action is Action.UPDATE:
            self._resize_pool(change, lease)
            return
        before = change.before_as(PoolRange)
        if not owned(before.description):
            raise ForeignGenesysObjectError(
                f"DID pool {change.key} (id {before.id}) is not byoc's; byoc never deletes "
                "foreign pools")
        lease.check()
        self.dirty.add("pools")
        self._port.delete_did_pool(before.pool())
        pool_view(self._port).drop(before.id)
        self.pools_written.pop(before.id, None)

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
        self.pools_written[pool.id] = pool
        pool_view(self._port).put(pool)

    def _resize_pool(self, change: Change, lease: HeldLease) -> None:
        """PUT the new range. Where Genesys refuses, numbers the pool was to take get a pool of
        their own, and a pool that was to let numbers go keeps them (deleting and creating it
        again would leave its managed numbers in no pool meanwhile); verify reports it."""
        before, after = change.before_as(PoolRange), change.after_as(PoolRange)
        if not owned(before.description) or not owned(after.description):
            raise ForeignGenesysObjectError(
                f"DID pool {change.key} (id {before.id}) is not byoc's; not changed")
        pool = before.pool()
        lease.check()
        self.dirty.add("pools")
        try:
            self._wrote_pool(
                self._port.resize_did_pool(pool, after.start, after.end, name=after.name))
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
                self.refused[pool.id] = (
                    f"DID pool {change.key} was not changed to {after.start}-{after.end} "
                    f"in place, Genesys refused: {exc}. byoc does not delete and recreate a "
                    "pool that holds managed numbers (they would be in no pool meanwhile): take "
                    "the numbers byoc no longer manages out of it by hand, or leave them there")
        old: PoolSpan = Span.of(pool.start, pool.end)
        new: PoolSpan = Span.of(after.start, after.end)
        parts = [new] if gone else (NumberRanges.of_spans([new]) - NumberRanges.of_spans([old])).spans()
        for part in parts:
            first, last = span_text(part.width, part.low), span_text(part.width, part.high)
            lease.check()
            self._create_pool(first, last, f"byoc {first}-{last}", after.description)

    def _apply_ivr(self, change: Change, lease: HeldLease) -> None:
        """Removals ride on the first PUT; additions go `per_put` at a time. A number something
        else holds is dropped from its PUT and left for verify to report."""
        after = change.after_as(IvrNumbers)
        ivr = self._current_ivr(after.id)
        remove = after.remove
        add = list(after.add)
        per_put = max(1, after.per_put)
        chunks = [add[i:i + per_put] for i in range(0, len(add), per_put)] or [[]]
        for index, chunk in enumerate(chunks):
            gone = remove if index == 0 else ()
            while chunk or gone:
                lease.check()
                self.dirty.add("ivrs")
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
                self.ivrs[ivr.id] = ivr
                break

    def _apply_shard(self, change: Change, lease: HeldLease) -> None:
        """Create, align or delete one of byoc's IVR shards (never an IVR it does not own)."""
        alike = None if change.after is None else change.after_as(ShardLike)
        if alike is not None:
            ref: ShardRef | None = alike.shard
        else:
            ref = None if change.before is None else change.before_as(ShardRef)
        if ref is None or not owned(ref.description):
            raise ForeignGenesysObjectError(
                f"IVR {change.key!r} is not a shard of byoc's; not changed")
        if alike is None and change.action is not Action.REMOVE:
            raise ForeignGenesysObjectError(f"IVR shard {change.key!r}: nothing to write")
        lease.check()
        self.dirty.add("ivrs")
        if change.action is Action.ADD and alike is not None:
            created = self._port.create_ivr(self._current_ivr(alike.like), name=ref.name,
                                            description=ref.description)
            self.ivrs[created.id] = created
            self._created[ref.id] = created.id
            return
        current = self._current_ivr(ref.id)
        if shard_of(current) is None:
            raise ForeignGenesysObjectError(
                f"IVR {change.key!r} is not a shard of byoc's; not changed")
        if change.action is Action.UPDATE and alike is not None:  # it takes its IVR's flows
            saved = self._port.update_ivr_routing(current, self._current_ivr(alike.like))
            self.ivrs[saved.id] = saved
            return
        self._port.delete_ivr(current)
        self.ivrs.pop(current.id, None)

    def _apply_user(self, change: Change, lease: HeldLease) -> None:
        after = change.after_as(UserNumbers)
        user = self._current_user(after.id)
        remove = after.remove
        work = after.work
        lease.check()
        self.dirty.add("users")
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
        if self.snapshot is not None:
            self.snapshot.users.remember(saved)

    def _apply_route(self, change: Change, lease: HeldLease) -> None:
        state = self.snapshot.outbound if self.snapshot else None
        known = {r.id: r for r in state.routes} if state else {}
        read = None if change.before is None else change.before_as(RouteRead)
        wanted = None if change.after is None else change.after_as(RouteSpec)
        current = known.get(read.route.id) if read else None
        if read and (current is None or not owned(current.description)):
            raise ForeignGenesysObjectError(
                f"outbound route {change.key!r} is not a route byoc read as its own; not changed")
        site = wanted.site if wanted else read.site if read else None
        if site is None:
            raise ForeignGenesysObjectError(f"outbound route {change.key!r}: no site; not applied")
        lease.check()
        self.dirty.add("outbound")
        if change.action is Action.REMOVE:
            assert current is not None
            self._port.delete_outbound_route(site, current)
            return
        if wanted is None:
            raise ForeignGenesysObjectError(f"outbound route {change.key!r}: nothing to write")
        spec = wanted.spec
        if not owned(spec.description):
            raise ForeignGenesysObjectError(f"outbound route {spec.name!r} without the mark")
        if current is None:
            self._port.create_outbound_route(site, spec)
        else:
            self._port.update_outbound_route(site, current, spec)

    # --- internals -------------------------------------------------------------------------------

    def _current_user(self, user_id: str) -> GenesysUser:
        known = self.snapshot.users.known() if self.snapshot else []
        user = next((u for u in known if u.id == user_id), None)
        return user if user is not None else self._port.get_user(user_id)

    def _current_ivr(self, ivr_id: str) -> GenesysIvr:
        ivr_id = self._created.get(ivr_id, ivr_id)
        ivr = self.ivrs.get(ivr_id)
        if ivr is None:
            ivr = self._port.get_ivr(ivr_id)
            self.ivrs[ivr_id] = ivr
        return ivr
