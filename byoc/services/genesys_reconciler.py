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

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from byoc.domain.plan import Plan, Problem
from byoc.ports import GenesysIvr, GenesysPort, GenesysUser
from byoc.services import genesys_slice, genesys_slice_plan, genesys_slice_verify
from byoc.services.genesys_applier import GenesysApplier
from byoc.services.genesys_model import (
    TARGET,
    ForeignGenesysObjectError,
    GenesysDesired,
    GenesysState,
    OutboundWanted,
    PoolDids,
    RouteKey,
    UserDirectory,
    preview,
)
from byoc.services.genesys_outbound_plan import GenesysOutboundPlanner
from byoc.services.genesys_payloads import PoolRange
from byoc.services.genesys_planner import GenesysPlanner
from byoc.services.genesys_pool_view import pool_view
from byoc.services.genesys_slice import GenesysSlice, GenesysSliceWanted
from byoc.services.reconciler import SliceReconciler

if TYPE_CHECKING:
    from byoc.ports import HeldLease, Inventory
    from byoc.services.reconciler import DesiredState
    from byoc.settings import Settings


class GenesysReconciler(
    SliceReconciler[GenesysState, GenesysDesired, GenesysSlice, GenesysSliceWanted],
):
    """Keeps Genesys's DID pools, number routing and outbound route as inventory + policy say:
    reads, then plans with a `GenesysPlanner`, writes with a `GenesysApplier` (which keeps what
    the sync wrote for verify); the slice verbs (`genesys_slice`) use the same two."""

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
        """The slice the last `read_slice` read (its verify needs the pools byoc owned)."""
        self._outbound = GenesysOutboundPlanner(settings, port)
        self._planner = GenesysPlanner(self._outbound)
        self._applier = GenesysApplier(settings, port)

    # --- the verbs -------------------------------------------------------------------------------

    def read_actual(self) -> GenesysState:
        """Pools, IVRs and the outbound side, each read once (users are read when planning)."""
        state = GenesysState(
            pools=tuple(self._port.list_did_pools()),
            ivrs=tuple(self._port.list_ivrs()),
            users=UserDirectory(self._port),
            dids=PoolDids(self._port),
            outbound=self._outbound.read(),
        )
        self._applier.remember(state)
        pool_view(self._port).replace_all(state.pools)
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
        analysis = self._planner.analyse(actual, desired)
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
        self._applier.check(plan)
        for change in plan.changes:
            self._applier.apply(change, lease)

    def verify(self, desired: GenesysDesired) -> list[str]:
        """What still differs. Pools and outbound routes this sync wrote are read again; IVRs and
        users are checked as Genesys returned them from each write (its own state after it)."""
        written = self._applier
        actual = written.snapshot
        if actual is None:
            actual = self.read_actual()
        elif written.dirty:
            actual = GenesysState(
                pools=tuple(self._port.list_did_pools()) if "pools" in written.dirty
                else actual.pools,
                ivrs=tuple(written.ivrs.values()),
                users=actual.users,
                dids=PoolDids(self._port),
                outbound=self._outbound.read() if "outbound" in written.dirty else actual.outbound,
            )
            written.remember(actual)
            pool_view(self._port).replace_all(actual.pools)
        analysis = self._planner.analyse(actual, desired)
        # A change names the numbers it adds or takes away; one naming none (an outbound route,
        # a new shard) may concern every number.
        problems: list[str] = [
            Problem((written.refused.get(c.before.id) if isinstance(c.before, PoolRange) else None)
                    or f"{c.kind} {c.key} still differs: {c.summary}",
                    [*c.numbers_added, *c.numbers_removed] or None)
            for c in analysis.changes
        ]
        reasons: dict[str, list[str]] = defaultdict(list)
        for number, reason in (*analysis.unroutable.items(), *analysis.stuck.items()):
            reasons[reason].append(number)
        problems += [Problem(f"{preview(sorted(numbers))}: {reason}", numbers)
                     for reason, numbers in reasons.items()]
        return problems

    # --- slices (genesys_slice) ------------------------------------------------------------------

    def read_slice(self, numbers: frozenset[str]) -> GenesysSlice:
        """The pools holding or next to `numbers` and their holders, looked up by number."""
        self._slice = genesys_slice.read_slice(self._port, numbers)
        self._applier.remember(None, ivrs=(
            h for h in self._slice.holders.values() if isinstance(h, GenesysIvr)))
        return self._slice

    def desired_slice(self, state: DesiredState, numbers: frozenset[str]) -> GenesysSliceWanted:
        return genesys_slice.desired_slice(self._settings, state, numbers)

    def plan_slice(self, actual: GenesysSlice, desired: GenesysSliceWanted) -> Plan:
        plan = genesys_slice_plan.plan_slice(self._planner, self._port, self._inventory, actual, desired)
        written = self._applier
        written.ivrs.update({i.id: i for family in actual.families.values() for i in family})
        written.snapshot = GenesysState(
            pools=tuple(actual.pools.values()), ivrs=tuple(written.ivrs.values()),
            users=UserDirectory(self._port), dids=PoolDids(self._port))
        for user in [*actual.users.values(), *actual.holders.values()]:
            if isinstance(user, GenesysUser):
                written.snapshot.users.remember(user)
        return plan

    def verify_slice(self, desired: GenesysSliceWanted) -> list[str]:
        return genesys_slice_verify.verify_slice(self._port, self._applier, self._slice, desired)


__all__ = ["GenesysReconciler"]
