"""Genesys slice plans: the full sync's pool and routing rules, applied to the numbers a slice
read (`genesys_slice`). A pool keeps its identity: its ends move in past numbers that left and out
over new numbers right next to it; routing moves only the slice's numbers, and an IVR's new
numbers fill it, then each shard, then a new shard."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from byoc.domain.inventory import PRESENT_STATES, NumberState
from byoc.domain.number_ranges import NumberRanges, Span, span_numbers, span_text
from byoc.domain.plan import Action, Change, Plan
from byoc.ports import GenesysDidPool, GenesysIvr, GenesysUser
from byoc.services.genesys_model import MAX_POOL_SIZE, PoolSpan, owned
from byoc.services.genesys_plan_rules import (
    grow,
    numbers_outside,
    pool_bounds,
    span_pool,
    work_phone_not_managed,
)
from byoc.services.genesys_shards import (
    NEW,
    capacity,
    shard_description,
    shard_name,
    shard_of,
)
from byoc.services.genesys_slice import GenesysSlice, GenesysSliceWanted

if TYPE_CHECKING:
    from byoc.ports import GenesysPort, Inventory
    from byoc.services.genesys_planner import GenesysPlanner


WALK_LIMIT = 10_000
"""Numbers a shrinking pool end walks over at most before it stops (the full sync settles it)."""

class Presence:
    """Whether a number is wanted: the slice's own from its desired state, others from the
    inventory (read once each)."""

    def __init__(self, wanted: GenesysSliceWanted,
                 inventory: Callable[[], Inventory] | None) -> None:
        self._wanted = wanted
        self._open = inventory
        self._known: dict[str, bool] = {}

    @property
    def _inventory(self) -> Inventory | None:
        return self._open() if self._open is not None else None

    def __call__(self, number: str) -> bool:
        if number in self._wanted.numbers:
            return number in self._wanted.routes
        if number not in self._known:
            record = self._inventory.get(number) if self._inventory is not None else None
            self._known[number] = record is not None and record.state in PRESENT_STATES
        return self._known[number]

    def releasing(self, number: str) -> bool:
        if number in self._wanted.numbers:
            return number in self._wanted.releasing
        record = self._inventory.get(number) if self._inventory is not None else None
        return record is not None and record.state is NumberState.RELEASING


def _walk(low: int, high: int, step: int, width: int, wanted: Callable[[str], bool]) -> int | None:
    """The first value from `low` towards `high` (by `step`) whose number is wanted."""
    value, walked = low, 0
    while (value <= high if step > 0 else value >= high) and walked < WALK_LIMIT:
        if wanted(span_text(width, value)):
            return value
        value += step
        walked += 1
    return None if walked < WALK_LIMIT else value


@dataclass
class _Out:
    changes_early: list[Change] = field(default_factory=list)
    changes_late: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unroutable: dict[str, str] = field(default_factory=dict)


def plan_slice(
    planner: GenesysPlanner,
    port: GenesysPort,
    inventory: Callable[[], Inventory] | None,
    actual: GenesysSlice,
    desired: GenesysSliceWanted,
) -> Plan:
    """The full sync's pool and routing rules, on the slice (`inventory`: where a number outside
    it is asked whether it is still wanted)."""
    present = Presence(desired, inventory)
    mine = [p for p in actual.pools.values() if owned(p.description)]
    foreign = [p for p in actual.pools.values() if not owned(p.description)]
    kept: list[PoolSpan] = []
    dropped: list[GenesysDidPool] = []
    for pool in sorted(mine, key=lambda p: (len(p.start), p.start)):
        span: PoolSpan = Span.of(pool.start, pool.end, pool)
        low, high = span.low, span.high
        if pool.start in desired.numbers:
            found = _walk(span.low, span.high, 1, span.width, present)
            if found is None:
                dropped.append(pool)
                continue
            low = found
        if pool.end in desired.numbers:
            found = _walk(span.high, low, -1, span.width, present)
            high = found if found is not None else low
        kept.append(span._replace(low=low, high=high))
    in_pools = NumberRanges.of_spans([Span.of(p.start, p.end) for p in actual.pools.values()])
    wanted_new = [n for n in desired.routes if n not in in_pools]
    left, grown = grow(NumberRanges.of_numbers(wanted_new), kept)
    new_spans: list[PoolSpan] = [
        Span(run.width, low, min(low + MAX_POOL_SIZE - 1, run.high))
        for run in left for low in range(run.low, run.high + 1, MAX_POOL_SIZE)]
    dropped_set = NumberRanges.of_spans([Span.of(p.start, p.end) for p in dropped])
    late_spans = [s for s in new_spans if dropped_set.touches(s)]
    resized = [s for s in grown if (s.low, s.high) != pool_bounds(span_pool(s))]
    # A pool that only grows lets no number go: it is written first, so the numbers it takes
    # are routed with those of the new pools, in one IVR write rather than two.
    widened = [s for s in resized if _only_grows(s)]
    resized = [s for s in resized if not _only_grows(s)]
    late_numbers = {n for s in late_spans for n in span_numbers(s)}
    late_numbers.update(n for s in resized for n in numbers_outside(s, Span.of(
        span_pool(s).start, span_pool(s).end)))

    out = _Out()
    owned_before = NumberRanges.of_spans([Span.of(p.start, p.end) for p in mine])
    _route(planner, port, actual, desired, present, owned_before, late_numbers, out)
    actual.unroutable = dict(out.unroutable)
    wanted_ranges = NumberRanges.of_numbers(desired.routes)
    changes = [
        *(planner.pool_creation(s) for s in new_spans if s not in late_spans),
        *(planner.pool_resize(s) for s in widened),
        *out.changes_early,
        *(planner.pool_resize(s) for s in resized),
        *(planner.pool_removal(p, wanted_ranges) for p in dropped),
        *(planner.pool_creation(s) for s in late_spans),
        *out.changes_late,
    ]
    # The guard's base is the target's total; only a plan that removes numbers needs it, and
    # every pool holds at least one number, so the pool count is a floor (one call).
    total = sum(Span.of(p.start, p.end).size for p in actual.pools.values())
    if any(c.numbers_removed for c in changes):
        total = max(total, port.count_did_pools())
    return Plan(
        target=planner.target,
        changes=tuple(changes),
        numbers_before=total,
        conflicts=tuple(out.conflicts),
        notes=tuple(f"{number}: {why}" for number, why in sorted(out.unroutable.items()))
        + tuple(f"foreign DID pool {p.name!r} covers a number of this slice" for p in foreign),
    )


def _only_grows(span: PoolSpan) -> bool:
    low, high = pool_bounds(span_pool(span))
    return span.low <= low and span.high >= high


Holder = tuple[str, str]


def _route(
    planner: GenesysPlanner,
    port: GenesysPort,
    actual: GenesysSlice,
    desired: GenesysSliceWanted,
    present: Presence,
    owned_before: NumberRanges,
    late_numbers: set[str],
    out: _Out,
) -> None:
    """Take each slice number from a holder it must leave, and give it to the one it must have."""
    remove: dict[Holder, list[str]] = {}
    add: dict[Holder, list[str]] = {}
    late: set[str] = set()
    for number in sorted(desired.numbers):
        seen = actual.found.get(number)
        responsible = (number in desired.routes or number in desired.releasing
                       or number in owned_before)
        if not responsible:
            continue
        goal = _goal(port, actual, desired, number, out, present=present,
                     owned_before=owned_before, remove=remove)
        if goal is None and number in out.unroutable:
            continue
        holder: Holder | None = None
        if seen is not None and seen.assigned:
            kind = {"IVR_CONFIG": "ivr", "USER": "user"}.get(seen.owner_type)
            if kind is None or seen.owner_id not in actual.holders:
                if goal is not None:
                    out.unroutable[number] = (
                        f"held by {seen.owner_type} {seen.owner_id!r}, which byoc does not "
                        "unassign")
                continue
            holder = (kind, seen.owner_id)
        if holder is not None and goal is not None and _same_family(actual, holder, goal):
            continue
        if holder is not None:
            remove.setdefault(holder, []).append(number)
        if goal is not None:
            add.setdefault(goal, []).append(number)
            if holder is not None or number in late_numbers:
                late.add(number)
    _place_in_shards(planner, actual, desired, remove, add, out)
    per_put = max(1, desired.numbers_per_put)
    for holder in sorted({*remove, *add}):
        gone, now = remove.get(holder, []), [n for n in add.get(holder, []) if n not in late]
        if gone or now:
            out.changes_early.append(_change(planner, actual, holder, gone, now, per_put))
        if later := [n for n in add.get(holder, []) if n in late]:
            out.changes_late.append(_change(planner, actual, holder, [], later, per_put))


def _goal(
    port: GenesysPort,
    actual: GenesysSlice,
    desired: GenesysSliceWanted,
    number: str,
    out: _Out,
    *,
    present: Presence,
    owned_before: NumberRanges,
    remove: dict[Holder, list[str]],
) -> Holder | None:
    """Who should hold `number` (None: nobody); a missing IVR or user is reported. A user's
    other WORK phone is handled as the full sync does: one byoc does not manage stays and the
    number is not assigned; one of byoc's that is going leaves (into `remove`)."""
    kind, name = desired.routes.get(number, ("none", None))
    if name is None or kind not in ("ivr", "user"):
        return None
    if kind == "ivr":
        family = _family(port, actual, name)
        if not family:
            _missing(out, f"IVR {name!r}", number)
            return None
        return ("ivr", family[0].id)
    user = _user(port, actual, name)
    if user is None:
        _missing(out, f"user {name}", number)
        return None
    others = [a.address for a in user.addresses if a.media_type == "PHONE"
              and (a.type or "WORK") == "WORK" and a.address and a.address != number]
    foreign = _not_in_owned_pools(port, actual, [
        p for p in others if not (present(p) or present.releasing(p) or p in owned_before)])
    if foreign:
        out.conflicts.append(work_phone_not_managed(user.email, foreign[0], number))
        out.unroutable[number] = f"user {user.email} has a work phone byoc does not manage"
        return None
    # One of byoc's numbers the policy gives this user too (in the slice), or still wanted
    # outside it (its route is not this slice's to read): the user keeps it for now.
    route = desired.routes[number]
    if kept := [p for p in others if desired.routes.get(p) == route
                or (p not in desired.numbers and present(p))]:
        out.conflicts.append(
            f"user {user.email} already has work phone {kept[0]}, which byoc manages, and a "
            f"user holds one work phone: {number} is not assigned now. The next full sync (the "
            "reconcile timer, or `byoc apply -t genesys`) gives them the one the policy says; "
            f"to give them {number}, route {kept[0]} elsewhere in the policy or release it")
        out.unroutable[number] = (f"user {user.email} has work phone {kept[0]}; the next full "
                                  "sync settles which one they keep")
        return None
    # The others are byoc's and going (released, or routed elsewhere within this slice, where
    # `_route` takes them off): they leave in the same write, as in the full sync.
    for phone in others:
        if phone not in desired.numbers:
            remove.setdefault(("user", user.id), []).append(phone)
    return ("user", user.id)


def _not_in_owned_pools(port: GenesysPort, actual: GenesysSlice, phones: list[str]) -> list[str]:
    """Those of `phones` in no DID pool of byoc's (a user's other phones, looked up by number)."""
    if not phones:
        return []
    found = {n.number: n.pool_id for n in port.find_pool_numbers(phones)}
    pools = dict(actual.pools)
    if unread := {i for i in found.values() if i and i not in pools}:
        pools.update((p.id, p) for p in port.read_did_pools(unread))
    return [p for p in phones
            if not ((pool := pools.get(found.get(p, ""))) is not None
                    and pool.state != "deleted" and owned(pool.description))]


def _missing(out: _Out, what: str, number: str) -> None:
    out.conflicts.append(f"{what} does not exist in Genesys; {number}, which the policy routes "
                         "to it, is left as it is. Create it, or change the policy")
    out.unroutable[number] = f"the policy routes it to {what}, which Genesys lacks"


def _family(port: GenesysPort, actual: GenesysSlice, name: str) -> list[GenesysIvr]:
    key = name.casefold()
    if key not in actual.families:
        found = port.find_ivrs(name)
        original = next((i for i in found if i.name.casefold() == key), None)
        shards = sorted((i for i in found if original is not None and shard_of(i) == original.id),
                        key=lambda i: (len(i.name), i.name))
        actual.families[key] = [original, *shards] if original is not None else []
    return actual.families[key]


def _user(port: GenesysPort, actual: GenesysSlice, email: str) -> GenesysUser | None:
    key = email.casefold()
    if key not in actual.users:
        found = port.find_users([email])
        actual.users[key] = next((u for u in found if u.email.casefold() == key), None)
    return actual.users[key]


def _same_family(actual: GenesysSlice, holder: Holder, goal: Holder) -> bool:
    if holder == goal:
        return True
    if holder[0] != "ivr" or goal[0] != "ivr":
        return False
    ivr = actual.holders.get(holder[1])
    return isinstance(ivr, GenesysIvr) and shard_of(ivr) == goal[1]


def _place_in_shards(
    planner: GenesysPlanner,
    actual: GenesysSlice,
    desired: GenesysSliceWanted,
    remove: dict[Holder, list[str]],
    add: dict[Holder, list[str]],
    out: _Out,
) -> None:
    """New numbers of an IVR fill it, then each of its shards in order, then a new shard;
    the numbers it already has stay where they are (as the full sync's spread does)."""
    for family in actual.families.values():
        if not family or ("ivr", family[0].id) not in add:
            continue
        incoming = add.pop(("ivr", family[0].id))
        members = list(family)
        counts = {m.id: len(set(m.dnis) - set(remove.get(("ivr", m.id), []))) for m in members}
        room = capacity([*(n for m in members for n in m.dnis), *incoming])
        queue = sorted(incoming)
        index = 2
        while queue:
            member = next((m for m in members if counts[m.id] < room), None)
            if member is None:
                if not desired.ivr_shards:
                    for number in queue:
                        out.unroutable[number] = (
                            f"IVR {family[0].name!r} is full (BYOC_GENESYS_IVR_SHARDS=false)")
                    out.conflicts.append(
                        f"IVR {family[0].name!r} is full and BYOC_GENESYS_IVR_SHARDS=false: "
                        f"{len(queue)} number(s) are not routed")
                    break
                taken = {m.name for m in members}
                while shard_name(family[0].name, index) in taken:
                    index += 1
                name = shard_name(family[0].name, index)
                member = GenesysIvr(id=f"{NEW}{name}", name=name, version=0,
                                    description=shard_description(family[0]),
                                    routing=family[0].routing)
                members.append(member)
                counts[member.id] = 0
                out.changes_early.append(planner.shard_change(Action.ADD, member, family[0]))
            free = room - counts[member.id]
            add.setdefault(("ivr", member.id), []).extend(queue[:free])
            counts[member.id] += len(queue[:free])
            queue = queue[free:]
        actual.holders.update({m.id: m for m in members})


def _change(
    planner: GenesysPlanner,
    actual: GenesysSlice,
    holder: Holder,
    gone: list[str],
    now: list[str],
    per_put: int,
) -> Change:
    held = actual.holders.get(holder[1])
    if held is None:
        held = next(u for u in actual.users.values() if u is not None and u.id == holder[1])
    if isinstance(held, GenesysIvr):
        return planner.ivr_change(held, sorted(gone), sorted(now), per_put)
    return planner.user_change(held, sorted(gone), sorted(now))


__all__ = ["Presence", "plan_slice"]
