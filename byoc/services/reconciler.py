"""What a reconciler is: the desired state every target is given (`DesiredState`, from inventory +
policy), the verbs each target's reconciler has (`Reconciler`, and `SliceReconciler` for a few
numbers at a time), and `ReconcilerRegistry`, where each target's reconciler plugs in.
`reconcile.ReconcileService` runs them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, TypeGuard, TypeVar, runtime_checkable

from byoc.domain.inventory import PRESENT_STATES, NumberRecord, NumberState
from byoc.domain.plan import Plan
from byoc.domain.policy import Policy, Route
from byoc.domain.targets import ALL, FAMILIES
from byoc.ports import HeldLease


@dataclass(frozen=True)
class DesiredState:
    """What every target should carry: the numbers and their routes, from inventory + policy."""

    present: dict[str, Route]
    releasing: frozenset[str] = frozenset()
    records: dict[str, NumberRecord] = field(default_factory=dict)
    wanted: frozenset[str] = frozenset()
    """Every number the inventory wants on the targets (`present`, and any the policy dropped)."""
    released: frozenset[str] = frozenset()
    route_groups: dict[Route, list[str]] | None = None
    """`by_route` as the policy computed it, when it did."""

    @property
    def numbers(self) -> frozenset[str]:
        return frozenset(self.present)

    @cached_property
    def by_route(self) -> dict[Route, list[str]]:
        """The present numbers grouped by route, in inventory order (shared by the targets that
        group them: Genesys by holder, each SBC by tag)."""
        if self.route_groups is not None:
            return self.route_groups
        grouped: dict[Route, list[str]] = {}
        for number, route in self.present.items():
            grouped.setdefault(route, []).append(number)
        return grouped


def desired_state(records: list[NumberRecord], policy: Policy) -> DesiredState:
    """Numbers the targets must carry (managed, not released) with the route policy gives each."""
    releasing: list[str] = []
    wanted: list[str] = []
    released: list[str] = []
    for record in records:
        state = record.state
        if state in PRESENT_STATES:
            wanted.append(record.number)
        elif state is NumberState.RELEASING:
            releasing.append(record.number)
        elif state is NumberState.RELEASED:
            released.append(record.number)
    routed = policy.route_numbers(wanted)  # in bulk: each policy lookup is made once
    return DesiredState(
        present=routed.routes,
        route_groups=routed.by_route,
        releasing=frozenset(releasing),
        records={r.number: r for r in records},
        wanted=frozenset(wanted),
        released=frozenset(released),
    )


ActualT = TypeVar("ActualT")
DesiredT = TypeVar("DesiredT")
SliceActualT = TypeVar("SliceActualT")
SliceDesiredT = TypeVar("SliceDesiredT")


class Reconciler(Protocol[ActualT, DesiredT]):
    """One target (twilio, genesys, sbc:<name>, nsg:<name>): what it reads (`ActualT`) and what it
    wants (`DesiredT`) are its own types; each reconciler subclasses this with them, so mypy
    checks its verbs against one another."""

    target: str
    tracks_numbers: bool
    """True when the target carries numbers (per-number convergence is recorded)."""

    def read_actual(self) -> ActualT: ...

    def desired(self, state: DesiredState) -> DesiredT: ...

    def plan(self, actual: ActualT, desired: DesiredT) -> Plan: ...

    def apply(self, plan: Plan, lease: HeldLease) -> None:
        """Apply the plan; call `lease.check()` before every write."""
        ...

    def verify(self, desired: DesiredT) -> list[str]:
        """Read back, and nothing else; the problems left (empty when the target matches
        `desired`)."""
        ...


AnyReconciler = Reconciler[Any, Any]
"""What the registry and the service hold: any target's reconciler."""

ReconcilerFactory = Callable[[], AnyReconciler]


@runtime_checkable
class SliceReconciler(
    Reconciler[ActualT, DesiredT], Protocol[ActualT, DesiredT, SliceActualT, SliceDesiredT]
):
    """A target that can converge a slice: only what a few numbers touch (issue 25).

    A number event needs only the part of each target its numbers touch; reading the whole target
    would make one more number cost more the larger the estate. A reconciler without these verbs
    gets a full sync. The timer's full reconcile still runs and repairs anything a slice missed.
    """

    def read_slice(self, numbers: frozenset[str]) -> SliceActualT:
        """Read only what `numbers` touch; vendor calls must not grow with the estate."""
        ...

    def desired_slice(self, state: DesiredState, numbers: frozenset[str]) -> SliceDesiredT:
        """What the slice should be; `state` holds only the slice's records and routes."""
        ...

    def plan_slice(self, actual: SliceActualT, desired: SliceDesiredT) -> Plan:
        """Changes within the slice only; `numbers_before` is the target's total (the guard's
        base), not the slice's."""
        ...

    def verify_slice(self, desired: SliceDesiredT) -> list[str]:
        """Read the slice back; the problems left."""
        ...


@runtime_checkable
class ReportingReconciler(Protocol):
    """A target whose verify read shows other parts of byoc something to do (issue 26: verify
    only reads back; what it found is sent here, once, after it)."""

    def report(self) -> None:
        """Send what the last verify found (number events) and forget it."""
        ...


def reports_findings(reconciler: AnyReconciler) -> TypeGuard[ReportingReconciler]:
    """True when `reconciler` has findings to send after verify."""
    return isinstance(reconciler, ReportingReconciler)


def supports_slices(
    reconciler: AnyReconciler,
) -> TypeGuard[SliceReconciler[Any, Any, Any, Any]]:
    """True when `reconciler` can sync a slice instead of its whole target."""
    return isinstance(reconciler, SliceReconciler)


class ReconcilerRegistry:
    """The targets byoc knows and how to build each one's reconciler."""

    def __init__(self) -> None:
        self._factories: dict[str, ReconcilerFactory] = {}

    def register(self, target: str, factory: ReconcilerFactory) -> None:
        if target in self._factories:
            raise ValueError(f"a reconciler for {target!r} is already registered")
        self._factories[target] = factory

    def targets(self) -> list[str]:
        return list(self._factories)

    def build(self, target: str) -> AnyReconciler:
        try:
            return self._factories[target]()
        except KeyError:
            known = ", ".join(self._factories) or "none yet"
            raise UnknownTarget(f"no target named {target!r} (known: {known})") from None

    def expand(self, target: str) -> list[str]:
        """`all` -> every target; a family (`sbc`, `nsg`) -> each of its targets; a name -> itself,
        if known."""
        if target == ALL:
            return self.targets()
        if target in FAMILIES:
            members = [t for t in self._factories if t.startswith(target + ":")]
            if not members:
                raise UnknownTarget(f"no {target} target is configured "
                                    f"(known: {', '.join(self._factories) or 'none yet'})")
            return members
        if target not in self._factories:
            known = ", ".join(self._factories) or "none yet"
            raise UnknownTarget(f"no target named {target!r} (known: {known})")
        return [target]


class UnknownTarget(LookupError):
    """The target named is not configured."""


__all__ = [
    "AnyReconciler",
    "DesiredState",
    "Reconciler",
    "ReconcilerFactory",
    "ReconcilerRegistry",
    "ReportingReconciler",
    "SliceReconciler",
    "UnknownTarget",
    "desired_state",
    "reports_findings",
    "supports_slices",
]
