"""Plans: the typed list of changes a reconciler wants to make, and the safety guard over them.

A plan is printed for a dry run, checked by `guard`, applied and verified: one object throughout.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, TypeVar

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]
"""A value as `json.dumps` prints it."""


class Payload(ABC):
    """A change's typed before or after: what the applier reads, and (`to_json`) the one JSON
    shape every plan output prints (`byoc plan --json`, previews, the dashboard, the audit)."""

    __slots__ = ()

    @abstractmethod
    def to_json(self) -> JsonValue:
        """The payload as plans print it."""


P = TypeVar("P", bound=Payload)


class PayloadMismatch(TypeError):
    """A change carries a payload its kind's write does not take (a planner defect)."""


PayloadTypes = type[Payload] | tuple[type[Payload], ...] | None
"""One type, any of several, or None (that side of the change is always empty)."""


@dataclass(frozen=True)
class Takes:
    """The payload types one change kind's write takes, before and after."""

    before: PayloadTypes = None
    after: PayloadTypes = None


def _printed(value: Payload | None) -> JsonValue:
    return None if value is None else value.to_json()


class Action(StrEnum):
    """What a change does to one object of a target."""

    ADD = "add"
    REMOVE = "remove"
    UPDATE = "update"


@dataclass(frozen=True)
class Change:
    """One change to one object of a target (a DID pool, a dial-plan rule, an NSG rule...)."""

    target: str
    action: Action
    kind: str
    key: str
    summary: str
    before: Payload | None = None
    """The object as read, typed by the change's kind (None: it does not exist yet)."""
    after: Payload | None = None
    """The object as it is to be, typed by the change's kind (None: it goes)."""
    numbers_added: tuple[str, ...] = ()
    numbers_removed: tuple[str, ...] = ()

    def before_as(self, payload: type[P]) -> P:
        """`before`, checked to be the `payload` type this change's kind writes from."""
        return self._typed("before", self.before, payload)

    def after_as(self, payload: type[P]) -> P:
        """`after`, checked to be the `payload` type this change's kind writes from."""
        return self._typed("after", self.after, payload)

    def _typed(self, side: str, value: object, payload: type[P]) -> P:
        if not isinstance(value, payload):
            raise PayloadMismatch(
                f"{self.kind} {self.key}: its {side} is {type(value).__name__}, not "
                f"{payload.__name__}; not applied")
        return value

    def before_json(self) -> JsonValue:
        """`before` as plans print it."""
        return _printed(self.before)

    def after_json(self) -> JsonValue:
        """`after` as plans print it."""
        return _printed(self.after)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "action": self.action.value,
            "kind": self.kind,
            "key": self.key,
            "summary": self.summary,
            "before": _printed(self.before),
            "after": _printed(self.after),
            "numbers_added": list(self.numbers_added),
            "numbers_removed": list(self.numbers_removed),
        }


@dataclass(frozen=True)
class Plan:
    """Every change one target needs, plus what the planner noticed but will not change."""

    target: str
    changes: tuple[Change, ...] = ()
    numbers_before: int = 0
    conflicts: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def numbers_removed(self) -> set[str]:
        """Numbers this plan takes away from the target (net of numbers it re-adds)."""
        removed = {n for c in self.changes for n in c.numbers_removed}
        added = {n for c in self.changes for n in c.numbers_added}
        return removed - added

    def numbers_added(self) -> set[str]:
        added = {n for c in self.changes for n in c.numbers_added}
        removed = {n for c in self.changes for n in c.numbers_removed}
        return added - removed

    def counts(self) -> dict[str, int]:
        out = {a.value: 0 for a in Action}
        for change in self.changes:
            out[change.action.value] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "changes": [c.to_json() for c in self.changes],
            "counts": self.counts(),
            "numbers_before": self.numbers_before,
            "numbers_added": len(self.numbers_added()),
            "numbers_removed": len(self.numbers_removed()),
            "conflicts": list(self.conflicts),
            "notes": list(self.notes),
        }

    def render_text(self) -> str:
        """The plan as a person reads it, one line per change."""
        marks = {Action.ADD: "+", Action.REMOVE: "-", Action.UPDATE: "~"}
        lines = [f"{self.target}: " + ("no changes" if self.is_empty else self._headline())]
        lines += [f"  {marks[c.action]} {c.kind} {c.key}: {c.summary}" for c in self.changes]
        lines += [f"  ! conflict: {text}" for text in self.conflicts]
        lines += [f"  · {text}" for text in self.notes]
        return "\n".join(lines)

    def _headline(self) -> str:
        counts = self.counts()
        return (
            f"{counts['add']} to add, {counts['update']} to update, {counts['remove']} to remove "
            f"(+{len(self.numbers_added())} / -{len(self.numbers_removed())} numbers)"
        )


class SafetyGuardRefused(Exception):
    """A plan would remove more than the configured share of a target's numbers."""

    def __init__(self, plan: Plan, reason: str) -> None:
        self.plan = plan
        self.reason = reason
        super().__init__(
            f"{plan.target}: plan refused by the mass-deletion guard: {reason}. Nothing was "
            "changed. If this is intended, run `byoc apply --target "
            f"{plan.target} --force`."
        )


@dataclass(frozen=True)
class GuardLimits:
    """How much a plan may remove without `--force`."""

    max_delete_fraction: float = 0.1
    max_delete_count: int = 100


def guard(
    plan: Plan,
    limits: GuardLimits,
    *,
    force: bool = False,
    releasing: frozenset[str] = frozenset(),
) -> None:
    """Refuse a plan that deletes too many of a target's numbers, unless forced.

    Every removal counts against the absolute cap. Only removals nobody asked for count against the
    fraction: numbers being released (`releasing`) are expected to go, so releasing one number of a
    small trunk is not refused, while a source that suddenly lists nothing is.
    """
    if force:
        return
    all_removed = plan.numbers_removed()
    if len(all_removed) > limits.max_delete_count:
        raise SafetyGuardRefused(
            plan,
            f"it removes {len(all_removed)} numbers, above the cap of {limits.max_delete_count}",
        )
    removed = len(all_removed - releasing)
    if removed == 0:
        return
    base = max(plan.numbers_before, 1)
    fraction = removed / base
    if fraction > limits.max_delete_fraction:
        raise SafetyGuardRefused(
            plan,
            f"it removes {removed} of {plan.numbers_before} numbers ({fraction:.0%}), above "
            f"the limit of {limits.max_delete_fraction:.0%}",
        )


class Problem(str):
    """One thing a verify read found still wrong, in words (a `str`), and the inventory numbers
    it concerns when the reconciler can name them: then only those numbers are marked failed on
    the target. `numbers` None (or a plain `str` problem): it may concern every number."""

    numbers: frozenset[str] | None

    def __new__(cls, text: str, numbers: Iterable[str] | None = None) -> Problem:
        problem = super().__new__(cls, text)
        problem.numbers = frozenset(numbers) if numbers is not None else None
        return problem


def problems_by_number(problems: Iterable[str]) -> dict[str, list[str]] | None:
    """Each number named by a problem -> the problems naming it; None when one problem may
    concern the whole target (a plain `str`, or a `Problem` whose `numbers` is None)."""
    named: dict[str, list[str]] = {}
    for problem in problems:
        numbers = problem.numbers if isinstance(problem, Problem) else None
        if numbers is None:
            return None
        for number in numbers:
            named.setdefault(number, []).append(str(problem))
    return named


def unfit(plan: Plan, takes: Mapping[str, Takes]) -> list[str]:
    """The kinds of `plan` that `takes` does not know, sorted; raises `PayloadMismatch` for a
    change whose payload is not what its kind takes. A reconciler's apply calls it before any
    write, so a plan it cannot apply whole changes nothing."""
    unknown: set[str] = set()
    for change in plan.changes:
        kind = takes.get(change.kind)
        if kind is None:
            unknown.add(change.kind)
            continue
        for side, value, wanted in (("before", change.before, kind.before),
                                    ("after", change.after, kind.after)):
            if value is not None and (wanted is None or not isinstance(value, wanted)):
                raise PayloadMismatch(
                    f"{change.kind} {change.key}: its {side} is {type(value).__name__}, not "
                    f"{_type_names(wanted)}; nothing applied")
    return sorted(unknown)


def _type_names(types: PayloadTypes) -> str:
    if types is None:
        return "empty"
    return " or ".join(t.__name__ for t in (types if isinstance(types, tuple) else (types,)))
