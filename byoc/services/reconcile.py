"""Level-triggered reconciliation: one reconciler per target, all with the same verbs.

    read_actual() -> desired(state) -> plan(actual, desired) -> guard -> apply(plan) -> verify()

The verbs, the desired state and `ReconcilerRegistry` (where each target's reconciler plugs in)
are in `reconciler`, and re-exported here; `ReconcileService` runs them: a dry run (`plan`)
changes nothing and takes no lock; a `sync` holds the target's lease, refuses plans the safety
guard rejects, applies, reads back, and records the operations log and per-number convergence.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from typing import Any

from byoc import metrics
from byoc.domain.inventory import (
    NumberRecord,
    NumberState,
    now_iso,
    on_target_converged,
    on_target_failed,
)
from byoc.domain.plan import GuardLimits, Plan, SafetyGuardRefused, guard, problems_by_number
from byoc.domain.policy import Policy
from byoc.ports import HeldLease, Inventory, JobQueue, OperationsLog, StateStore, TargetLocks
from byoc.services.full_sync_deferral import Deferral, defer_full_sync
from byoc.services.numbers import OWNER_TARGET
from byoc.services.reconciler import (
    AnyReconciler,
    DesiredState,
    Reconciler,
    ReconcilerFactory,
    ReconcilerRegistry,
    ReportingReconciler,
    SliceReconciler,
    UnknownTarget,
    desired_state,
    reports_findings,
    supports_slices,
)
from byoc.services.status import DEFERRED_NAMESPACE, status_namespace
from byoc.services.sync_requests import SyncRequests
from byoc.telemetry import set_attributes, span

log = logging.getLogger("byoc.reconcile")


@dataclass
class SyncOutcome:
    """What one sync of one target did."""

    target: str
    plan: Plan
    applied: bool = False
    converged: bool = False
    refused: str | None = None
    problems: list[str] = field(default_factory=list)
    slice: frozenset[str] | None = None
    """The numbers a slice sync covered (None: the whole target)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "slice": sorted(self.slice) if self.slice is not None else None,
            "applied": self.applied,
            "converged": self.converged,
            "refused": self.refused,
            "problems": self.problems,
            "plan": self.plan.to_json(),
        }


@dataclass
class DryRun:
    """What a dry run found: a plan per target, or why a target could not be planned."""

    plans: list[Plan] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"dry_run": True, "plans": [p.to_json() for p in self.plans], "errors": self.errors}


class ReconcileService:
    """Plans and syncs targets."""

    def __init__(
        self,
        *,
        registry: ReconcilerRegistry,
        inventory: Inventory,
        operations: OperationsLog,
        state: StateStore,
        locks: TargetLocks,
        queue: JobQueue,
        policy: Callable[[], Policy],
        limits: GuardLimits,
        full_sync_max_deferral_s: float = 0.0,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.registry = registry
        self._inventory = inventory
        self._operations = operations
        self._state = state
        self._locks = locks
        self._queue = queue
        self._syncs = SyncRequests(queue=queue, state=state)
        self._policy = policy
        self._limits = limits
        self._max_deferral_s = full_sync_max_deferral_s
        self._clock = clock

    def desired_state(self) -> DesiredState:
        return desired_state(self._inventory.all(), self._policy())

    def plan(self, target: str = "all") -> list[Plan]:
        """Dry run: what `apply` would change, per target. Changes nothing."""
        state = self.desired_state()
        plans = []
        for name in self.registry.expand(target):
            reconciler = self.registry.build(name)
            plans.append(reconciler.plan(reconciler.read_actual(), reconciler.desired(state)))
        return plans

    def dry_run(
        self, target: str = "all", *, on_target: Callable[[str], AbstractContextManager[Any]]
        | None = None,
    ) -> DryRun:
        """Plans per target; a target that cannot be read is reported, not fatal to the others.
        `on_target(name)` wraps the work on each target (the CLI shows progress with it)."""
        names = self.registry.expand(target)
        with on_target("the inventory and the policy") if on_target else nullcontext():
            state = self.desired_state()
        result = DryRun()
        for name in names:
            with on_target(name) if on_target else nullcontext():
                self._dry_run_one(name, state, result)
        return result

    def _dry_run_one(self, name: str, state: DesiredState, result: DryRun) -> None:
        try:
            reconciler = self.registry.build(name)
            result.plans.append(reconciler.plan(reconciler.read_actual(), reconciler.desired(state)))
        except Exception as exc:
            log.warning("target could not be planned", extra={
                "event": "plan.failed", "target": name, "error": str(exc)})
            result.errors.append({"target": name, "error": f"{type(exc).__name__}: {exc}"})

    def enqueue(
        self, target: str, *, reason: str, correlation_id: str, force: bool = False
    ) -> list[str]:
        """Queue a sync of `target` (or of every target); returns the targets queued."""
        names = self.registry.expand(target)
        for name in names:
            self._syncs.request(name, reason=reason, correlation_id=correlation_id, force=force)
        return names

    def enqueue_timer(self, *, correlation_id: str) -> tuple[list[str], list[Deferral]]:
        """The reconcile timer: queue a full sync of every target, except those whose slice
        backlog is being worked (within the deferral bound); returns what was queued and what
        was deferred."""
        queued: list[str] = []
        deferred: list[Deferral] = []
        for name in self.registry.expand("all"):
            deferral = self._deferral(name)
            if deferral is None:
                self._syncs.request(name, reason="reconcile timer", correlation_id=correlation_id)
                queued.append(name)
                continue
            deferred.append(deferral)
            self._state.put(DEFERRED_NAMESPACE, name, {"at": now_iso(self._clock()),
                                                       **deferral.to_json()})
            log.info(deferral.text, extra={"event": "sync.deferred", "target": name,
                                           "correlation_id": correlation_id,
                                           "pending": deferral.pending})
        return queued, deferred

    def unrecorded(self, plans: list[Plan]) -> list[Plan]:
        """The empty plans of targets with no full sync on record (their numbers all came in by
        slice syncs): a sync of each records their convergence for `byoc status`."""
        namespace = status_namespace(slice_sync=False)
        return [p for p in plans
                if p.is_empty and not isinstance(self._state.get(namespace, p.target), dict)]

    def _deferral(self, target: str) -> Deferral | None:
        if self._max_deferral_s <= 0:
            return None
        pending = self._syncs.pending(target)
        if not pending:
            return None
        last_full = self._state.get(status_namespace(slice_sync=False), target)
        last_slice = self._state.get(status_namespace(slice_sync=True), target)
        return defer_full_sync(target, pending=pending,
                               last_full=last_full if isinstance(last_full, dict) else None,
                               last_slice=last_slice if isinstance(last_slice, dict) else None,
                               now=self._clock(), max_age_s=self._max_deferral_s)

    def sync(
        self, target: str, *, correlation_id: str, force: bool = False,
        numbers: Iterable[str] | None = None,
    ) -> SyncOutcome:
        """Converge one target under its lease (LockBusy propagates: retry later).

        With `numbers`, only the slice they touch, when the target can sync slices: with the
        other numbers noted for the target, at most `MAX_SLICE_NUMBERS` of them (the lowest); a
        follow-on slice job is queued for the rest. Otherwise (or without `numbers`) the whole
        target."""
        reconciler = self.registry.build(target)
        with self._locks.hold(target) as lease, span(
            f"sync {target}", target=target, correlation_id=correlation_id, force=force
        ) as current:
            self._syncs.started(target)
            piece: frozenset[str] | None = None
            if numbers is not None and supports_slices(reconciler):
                taken = self._syncs.take_slice(target, numbers)
                piece = taken.numbers
            else:
                taken = self._syncs.take(target)
            set_attributes(current, {"byoc.slice": len(piece) if piece is not None else 0})
            started = time.monotonic()
            try:
                outcome = self._sync_held(reconciler, lease, correlation_id=correlation_id,
                                          force=force, numbers=piece)
            except Exception as exc:
                metrics.sync_finished(target, seconds=time.monotonic() - started,
                                      outcome="failed", changes=0,
                                      kind="full" if piece is None else "slice")
                # The failure is what `byoc status` shows for the target until a sync succeeds.
                with suppress(Exception):  # the sync's own error is the one to raise
                    self._put_status(SyncOutcome(target=target, plan=Plan(target=target),
                                                 slice=piece), correlation_id,
                                     error=f"{type(exc).__name__}: {exc}"[:1000])
                log.warning("sync failed", extra={
                    "event": "sync.failed", "target": target, "correlation_id": correlation_id,
                    "error": f"{type(exc).__name__}: {exc}"[:500]})
                raise
            result = ("refused" if outcome.refused else
                      "converged" if outcome.converged else "diverged")
            set_attributes(current, {"byoc.outcome": result,
                                     "byoc.changes": len(outcome.plan.changes),
                                     "byoc.refused": outcome.refused})
            metrics.sync_finished(target, seconds=time.monotonic() - started, outcome=result,
                                  changes=len(outcome.plan.changes) if outcome.applied else 0,
                                  kind="full" if piece is None else "slice")
            self._syncs.forget(target, taken)
            # A burst's backlog drains slice by slice, never widened to a full sync.
            self._syncs.follow_on(target, taken, correlation_id=correlation_id)
            return outcome

    def _sync_held(
        self, reconciler: AnyReconciler, lease: HeldLease, *, correlation_id: str, force: bool,
        numbers: frozenset[str] | None,
    ) -> SyncOutcome:
        target = reconciler.target
        verify: Callable[[Any], list[str]]
        if numbers is None:
            state = self.desired_state()
            desired = reconciler.desired(state)
            plan = reconciler.plan(reconciler.read_actual(), desired)
            verify = reconciler.verify
        else:
            if not supports_slices(reconciler):
                raise TypeError(f"{target} cannot sync a slice")
            sliced = reconciler
            # Only the slice's records and routes: nothing here reads the whole inventory.
            state = desired_state(self._inventory.get_many(numbers), self._policy())
            desired = sliced.desired_slice(state, numbers)
            plan = sliced.plan_slice(sliced.read_slice(numbers), desired)
            verify = sliced.verify_slice
        outcome = SyncOutcome(target=target, plan=plan, slice=numbers)
        try:
            guard(plan, self._limits, force=force, releasing=state.releasing)
        except SafetyGuardRefused as refused:
            outcome.refused = refused.reason
            self._record(plan, "refused", correlation_id, str(refused))
            self._put_status(outcome, correlation_id)
            log.warning(
                "plan refused by the mass-deletion guard",
                extra={"event": "sync.refused", "target": target,
                       "correlation_id": correlation_id, "reason": refused.reason},
            )
            return outcome
        if not plan.is_empty:
            lease.check()
            try:
                with span(f"apply {target}", target=target, changes=len(plan.changes)):
                    reconciler.apply(plan, lease)
            except Exception as exc:
                failure = f"{type(exc).__name__}: {exc}"
                self._record(plan, "failed", correlation_id, failure)
                self._mark_numbers(reconciler, state, plan, error=failure,
                                   correlation_id=correlation_id)
                raise
            outcome.applied = True
            self._record(plan, "applied", correlation_id, "")
        outcome.problems = verify(desired)
        if reports_findings(reconciler):
            reconciler.report()
        outcome.converged = not outcome.problems
        self._mark_numbers(reconciler, state, plan, error=_errors_of(outcome.problems),
                           correlation_id=correlation_id)
        self._put_status(outcome, correlation_id)
        log.info(
            "target synced",
            extra={"event": "sync.done", "target": target, "correlation_id": correlation_id,
                   "changes": len(plan.changes), "converged": outcome.converged,
                   "slice": len(numbers) if numbers is not None else None},
        )
        return outcome

    def _record(self, plan: Plan, outcome: str, correlation_id: str, detail: str) -> None:
        for change in plan.changes:
            self._operations.record(
                target=plan.target,
                operation=f"{change.action.value} {change.kind} {change.key}",
                outcome=outcome,
                correlation_id=correlation_id,
                numbers=[*change.numbers_added, *change.numbers_removed],
                before=change.before_json(),
                after=change.after_json(),
                detail=detail,
            )

    def _put_status(self, outcome: SyncOutcome, correlation_id: str, *,
                    error: str | None = None) -> None:
        """Record how the sync ended, for `byoc status`: a slice sync's apart from the last full
        sync's, so neither hides the other."""
        row = self._status(outcome, correlation_id, at=now_iso(self._clock()))
        if outcome.slice is None:
            self._state.put(DEFERRED_NAMESPACE, outcome.target, None)
        if error is not None:
            row["error"] = error
        self._state.put(status_namespace(slice_sync=outcome.slice is not None), outcome.target,
                        row)

    @staticmethod
    def _status(outcome: SyncOutcome, correlation_id: str, *, at: str) -> dict[str, Any]:
        return {
            "at": at,
            "converged": outcome.converged,
            "refused": outcome.refused,
            "changes": len(outcome.plan.changes),
            "slice": sorted(outcome.slice)[:20] if outcome.slice is not None else None,
            "slice_size": len(outcome.slice) if outcome.slice is not None else None,
            "problems": outcome.problems[:10],
            "conflicts": list(outcome.plan.conflicts)[:10],
            "correlation_id": correlation_id,
        }

    def _mark_numbers(
        self, reconciler: AnyReconciler, state: DesiredState, plan: Plan,
        *, error: str | Callable[[str], str | None] | None, correlation_id: str,
    ) -> None:
        """Record per-number convergence of this target in the inventory: `error` is the one
        error of every number, or each number's own (None: converged).

        Each record is changed as it is stored now, not as this sync read it: syncs of other
        targets and number events write the same records meanwhile. A record whose fate changed
        since the read (released, or onboarded again) is left to the next sync.
        """
        if not reconciler.tracks_numbers:
            return
        targets = self.number_targets()
        target = reconciler.target
        planned = {
            number: record.wanted_on_targets
            for number, record in state.records.items()
            if number in state.present or number in state.releasing
        }

        def mark(current: NumberRecord) -> NumberRecord | None:
            wanted = planned.get(current.number)
            if wanted is None or current.state is NumberState.RELEASED:
                return None
            if current.wanted_on_targets != wanted:
                return None
            failure = error(current.number) if callable(error) else error
            if failure is not None:
                return on_target_failed(current, target, failure)
            if target in current.converged and target not in current.errors:
                return None
            updated = on_target_converged(current, target, targets)
            if current.state is not NumberState.ACTIVE and updated.state is NumberState.ACTIVE:
                metrics.number_routable(current.number, since=current.onboarding_since,
                                        source=current.source)
            if updated.state is NumberState.RELEASING and all(
                t in updated.converged for t in targets if t != OWNER_TARGET
            ):
                owner_due.append(current.number)
            return updated

        owner_due: list[str] = []
        self._inventory.update_many(planned, mark)
        if owner_due and target != OWNER_TARGET and OWNER_TARGET in targets:
            # The last target let go: the owner can release now, not at the next timer.
            self._syncs.request(OWNER_TARGET, reason=f"released everywhere else: {owner_due[0]}"
                                + (f" and {len(owner_due) - 1} more" if len(owner_due) > 1 else ""),
                                correlation_id=correlation_id, numbers=owner_due)

    def number_targets(self) -> list[str]:
        """Targets every number must converge on before it is active."""
        return [t for t in self.registry.targets() if self.registry.build(t).tracks_numbers]


def _errors_of(problems: list[str]) -> str | Callable[[str], str | None] | None:
    """What verify found, per number: None when nothing; the problems themselves, for every
    number, when one of them may concern the whole target; otherwise only the numbers the
    problems name fail (each with its own), and the others converged."""
    if not problems:
        return None
    named = problems_by_number(problems)
    if named is None:
        return "; ".join(problems[:5])
    return lambda number: "; ".join(named[number][:5]) if number in named else None


__all__ = [
    "AnyReconciler",
    "DesiredState",
    "DryRun",
    "ReconcileService",
    "Reconciler",
    "ReconcilerFactory",
    "ReconcilerRegistry",
    "ReportingReconciler",
    "SliceReconciler",
    "SyncOutcome",
    "UnknownTarget",
    "desired_state",
    "reports_findings",
    "supports_slices",
]
