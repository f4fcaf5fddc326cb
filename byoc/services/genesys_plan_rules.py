"""The Genesys planner's pure rules: pool spans kept, grown and cut; who holds each number
and who should (`genesys_planner`, `genesys_slice`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from byoc.domain.number_ranges import BY_START, NumberRanges, SpanIndex
from byoc.domain.plan import Change
from byoc.ports import GenesysDidPool, GenesysIvr, GenesysUser
from byoc.services.genesys_model import (
    MAX_POOL_SIZE,
    GenesysDesired,
    GenesysState,
    Holder,
    PoolSpan,
    preview,
)


@dataclass
class Analysis:
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unroutable: dict[str, str] = field(default_factory=dict)
    """number -> why it cannot be routed as the policy says."""
    stuck: dict[str, str] = field(default_factory=dict)
    """number -> why a pool of byoc's still covers it."""
    numbers_before: int = 0


def span_pool(span: PoolSpan) -> GenesysDidPool:
    assert span.pool is not None, "a span read from a pool keeps it"
    return span.pool


def pool_bounds(pool: GenesysDidPool) -> tuple[int, int]:
    return int(pool.start[1:]), int(pool.end[1:])


def held_now(span: PoolSpan) -> PoolSpan:
    """The part of a kept span its pool covers today."""
    low, high = pool_bounds(span_pool(span))
    return span._replace(low=max(span.low, low), high=min(span.high, high))


def numbers_outside(span: PoolSpan, other: PoolSpan) -> list[str]:
    """The numbers of `span` that `other` does not hold."""
    return list(NumberRanges.of_spans([span]) - NumberRanges.of_spans([other]))  # one length: in order


def grow(runs: NumberRanges, kept: list[PoolSpan]) -> tuple[list[PoolSpan], list[PoolSpan]]:
    """Runs right next to a kept pool of byoc's join it (up to `MAX_POOL_SIZE`); returns the
    runs left over and the kept spans, grown."""
    spans = sorted(kept, key=BY_START)
    ends = {(s.width, s.high): i for i, s in enumerate(spans)}
    starts = {(s.width, s.low): i for i, s in enumerate(spans)}
    left: list[PoolSpan] = []
    for run in runs.spans():
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


def change_order(change: Change) -> tuple[str, str]:
    return (change.kind, change.key.casefold())


class Responsible:
    """The numbers whose routing is byoc's: present, releasing, or in a DID pool of byoc's."""

    def __init__(self, desired: GenesysDesired, owned: NumberRanges) -> None:
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


def holdings(
    ivrs: Iterable[GenesysIvr], users: Iterable[GenesysUser], responsible: Responsible
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


def wanted_holders(
    ivrs: Iterable[GenesysIvr],
    users: dict[str, GenesysUser],
    desired: GenesysDesired,
    out: Analysis,
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
            f"are left as they are ({preview(ordered)}). Create it, or change the policy")
        for number in ordered:
            out.unroutable[number] = f"the policy routes it to {what}, which Genesys lacks"
    return wanted


def unseen_holders(
    actual: GenesysState,
    wanted: dict[Holder, set[str]],
    held: dict[Holder, set[str]],
    responsible: Responsible,
    lasting: SpanIndex[GenesysDidPool],
    out: Analysis,
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


def work_phone_not_managed(email: str, phone: str, number: str) -> str:
    """The conflict of a number routed to a user whose WORK phone is not byoc's (full and
    slice syncs say the same)."""
    return (f"user {email}'s work phone is {phone}, which byoc does not manage; byoc does not "
            f"replace it, so {number} is not assigned. Take {phone} off the user in Genesys "
            f"(or make it another phone type), or route {number} elsewhere in the policy")


def one_work_phone_per_user(
    wanted: dict[Holder, set[str]],
    users: dict[str, GenesysUser],
    responsible: Responsible,
    out: Analysis,
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
                f"numbers to them ({preview(numbers)}); only {first} is assigned")
            for number in numbers[1:]:
                out.unroutable[number] = f"user {user.email} already gets {first}"
            wanted[holder] = {first}
        work = [a.address for a in user.addresses
                if a.media_type == "PHONE" and (a.type or "WORK") == "WORK" and a.address]
        unmanaged = [p for p in work if p not in responsible]
        if unmanaged and first not in user.phones():
            out.conflicts.append(work_phone_not_managed(user.email, unmanaged[0], first))
            del wanted[holder]
            out.unroutable[first] = f"user {user.email} has a work phone byoc does not manage"
