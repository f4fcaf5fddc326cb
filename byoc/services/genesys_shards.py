"""IVRs past one request: a policy may route more numbers to one IVR than one write can carry.

An IVR PUT carries the IVR's whole `dnis` list, and Genesys refuses a request body over
`request.bytes.max` (512,000 bytes: about 31,000 E.164 numbers). When the numbers routed to an IVR
would not fit, byoc spreads them over additional IVR configurations ("shards") named after it
(`Main IVR [byoc 2]`, `[byoc 3]`, ...), with its flows and schedule group, marked in their
description as byoc's and as the shard of that IVR (by id). byoc creates them when needed, keeps
their flows in step with the IVR's, and deletes them when the numbers fit again. Numbers stay
where they are while they fit; new ones fill the IVR first, then each shard in order.

With `BYOC_GENESYS_IVR_SHARDS=false` byoc refuses up front instead: the numbers that do not fit
are reported and left unrouted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from byoc.ports import GenesysIvr

MARKER = "managed-by:byoc"
REQUEST_BYTES_MAX = 512_000
"""Genesys's `request.bytes.max` (organization limits): the largest request body it accepts."""
BODY_HEADROOM_BYTES = 16_384
"""Room kept for the rest of an IVR body (name, description, flows, division, audit fields)."""
_SHARD_OF = re.compile(r"shard-of:([A-Za-z0-9._:-]{1,100})")
_INDEX = re.compile(r" \[byoc (\d{1,4})\]$")
NEW = "new:"
"""Id prefix of a shard the plan creates (the real id exists only after the create)."""

Holder = tuple[str, str]


def capacity(numbers: set[str] | list[str]) -> int:
    """How many numbers one IVR write carries: each costs its length plus quotes and `, `."""
    widest = max(map(len, numbers), default=16)
    return (REQUEST_BYTES_MAX - BODY_HEADROOM_BYTES) // (widest + 4)


SURE_FIT = (REQUEST_BYTES_MAX - BODY_HEADROOM_BYTES) // (16 + 4)
"""So many numbers fit in one write whatever their length (E.164: at most 16 characters)."""


def shard_name(ivr_name: str, index: int) -> str:
    return f"{ivr_name} [byoc {index}]"


def family_name(ivr: GenesysIvr) -> str:
    """The name of the IVR `ivr` belongs to: its own, or for one of byoc's shards
    (`<name> [byoc N]`) the sharded IVR's."""
    return _INDEX.sub("", ivr.name) if shard_of(ivr) is not None else ivr.name


def shard_description(original: GenesysIvr) -> str:
    return (f"Numbers of IVR {original.name!r} past one request's size limit "
            f"(shard-of:{original.id}, {MARKER})")


def shard_of(ivr: GenesysIvr) -> str | None:
    """The id of the IVR `ivr` is byoc's shard of, or None."""
    if MARKER not in ivr.description:
        return None
    found = _SHARD_OF.search(ivr.description)
    return found.group(1) if found else None


@dataclass
class ShardPlan:
    """What the shards need: IVRs to create (placeholders, id `new:<name>`), to give the IVR's
    flows, and to delete once empty."""

    create: list[tuple[GenesysIvr, GenesysIvr]] = field(default_factory=list)
    """(placeholder, the IVR it is a shard of)."""
    fix: list[tuple[GenesysIvr, GenesysIvr]] = field(default_factory=list)
    delete: list[GenesysIvr] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    unroutable: dict[str, str] = field(default_factory=dict)

    @property
    def placeholders(self) -> dict[str, GenesysIvr]:
        return {new.id: new for new, _ in self.create}


def spread(
    ivrs: tuple[GenesysIvr, ...] | list[GenesysIvr],
    wanted: dict[Holder, set[str]],
    held: dict[Holder, set[str]],
    *,
    allow: bool,
) -> ShardPlan:
    """Spread each IVR's wanted numbers over it and its shards (changing `wanted` in place)."""
    plan = ShardPlan()
    by_id = {i.id: i for i in ivrs}
    shards: dict[str, list[GenesysIvr]] = {}
    for ivr in ivrs:
        parent = shard_of(ivr)
        if parent is not None:
            shards.setdefault(parent, []).append(ivr)
    for original_id, group in shards.items():
        if original_id not in by_id:  # the IVR is gone: its shards carry nothing
            for shard in group:
                wanted.pop(("ivr", shard.id), None)
                plan.delete.append(shard)
    for original in [i for i in ivrs if shard_of(i) is None]:
        group = sorted(shards.get(original.id, []), key=_index)
        numbers: set[str] = set(wanted.get(("ivr", original.id), set()))
        for shard in group:  # numbers are the IVR's, whichever of its shards holds them
            numbers |= wanted.pop(("ivr", shard.id), set())
        if not group and len(numbers) <= SURE_FIT:
            continue  # the usual case: one IVR, and its numbers fit
        room = capacity(numbers)
        if len(numbers) > room and not allow:
            _refuse(original, numbers, held, room, wanted, plan)
            continue
        _fill(original, group, numbers, held, room, wanted, plan)
    return plan


def _index(ivr: GenesysIvr) -> int:
    found = _INDEX.search(ivr.name)
    return int(found.group(1)) if found else 1_000_000


def _fill(
    original: GenesysIvr,
    group: list[GenesysIvr],
    numbers: set[str],
    held: dict[Holder, set[str]],
    room: int,
    wanted: dict[Holder, set[str]],
    plan: ShardPlan,
) -> None:
    members = [original, *group]
    placed: dict[str, set[str]] = {}
    left = set(numbers)
    for member in members:  # numbers stay where they are while they fit
        stay = held.get(("ivr", member.id), set()) & left
        if len(stay) > room:
            stay = set(sorted(stay)[:room])
        placed[member.id] = stay
        left -= stay
    queue = sorted(left)
    for member in members:
        free = room - len(placed[member.id])
        if free > 0 and queue:
            placed[member.id].update(queue[:free])
            queue = queue[free:]
    taken = {_index(m) for m in group}
    index = 2
    while queue:
        while index in taken:
            index += 1
        new = GenesysIvr(id=f"{NEW}{shard_name(original.name, index)}",
                         name=shard_name(original.name, index), version=0,
                         description=shard_description(original), routing=original.routing)
        taken.add(index)
        plan.create.append((new, original))
        placed[new.id] = set(queue[:room])
        queue = queue[room:]
    for member_id, chosen in placed.items():
        if chosen:
            wanted[("ivr", member_id)] = chosen
        else:
            wanted.pop(("ivr", member_id), None)
    for shard in group:
        if not placed[shard.id]:
            plan.delete.append(shard)
        elif shard.routing != original.routing:
            plan.fix.append((shard, original))


def _refuse(
    original: GenesysIvr,
    numbers: set[str],
    held: dict[Holder, set[str]],
    room: int,
    wanted: dict[Holder, set[str]],
    plan: ShardPlan,
) -> None:
    there = sorted(held.get(("ivr", original.id), set()) & numbers)[:room]
    kept = set(there)
    kept.update(sorted(numbers - kept)[:room - len(kept)])
    wanted[("ivr", original.id)] = kept
    beyond = sorted(numbers - kept)
    plan.conflicts.append(
        f"the policy routes {len(numbers):,} numbers to IVR {original.name!r}; one write of an "
        f"IVR carries at most {room:,} (Genesys refuses a request over {REQUEST_BYTES_MAX:,} "
        f"bytes) and BYOC_GENESYS_IVR_SHARDS=false forbids spreading them over more IVRs: "
        f"{len(beyond):,} are not routed. Route some elsewhere, or allow shards")
    for number in beyond:
        plan.unroutable[number] = (
            f"IVR {original.name!r} is full (BYOC_GENESYS_IVR_SHARDS=false)")
