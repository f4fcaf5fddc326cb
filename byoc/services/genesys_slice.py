"""Genesys slice syncs: converge only what a few numbers touch (issue 25). This module reads.

A number event needs the DID pools holding each number or right next to it (number ± 1), and the
IVRs and users that hold it or that the policy routes it to; never the org's every pool. So:

- **Read** (here): each number and its two neighbours are looked up by number (`/didpools/dids`,
  `GenesysPort.find_pool_numbers`), the pools found are read by id (and the org's pool count, the
  guard's base, when the plan removes numbers), and the holders the lookups name by id. The IVR
  (with its shards) or user the policy routes a number to is read by name or email while planning.
- **Plan** (`genesys_slice_plan`): the full sync's rules, applied to the slice. A pool keeps its
  identity: its ends move in past numbers that left (walking inwards over numbers the inventory no
  longer wants) and out over new numbers right next to it; a number leaving its middle stays in
  it, unrouted; a pool with no wanted number left goes; a new number next to no pool of byoc's
  gets a new pool. Routing moves only the slice's numbers; an IVR's other numbers, and its
  shards, stay as they are (new numbers fill the IVR, then each shard, then a new shard).
- **Verify** (`genesys_slice_verify`): the slice's numbers are looked up again: each wanted
  number in a pool and held by its IVR family or user, each number that left held by nobody byoc
  would unroute.

One more number so costs about 8 Genesys calls whatever the estate's size (docs/performance.md).
The timer's full sync still runs and settles what a slice cannot see (a user the policy gives two
numbers, a foreign change elsewhere).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from byoc.domain.number_ranges import span_text
from byoc.ports import GenesysDidPool, GenesysError, GenesysIvr, GenesysPoolNumber, GenesysUser
from byoc.services.genesys_pool_view import pool_view

if TYPE_CHECKING:
    from byoc.ports import GenesysPort
    from byoc.services.genesys_model import RouteKey
    from byoc.services.reconciler import DesiredState
    from byoc.settings import Settings

LISTING_AFTER = 30
"""Looked-up numbers past which a slice asks whether listing every pool is cheaper (1 call)."""
PAGE_SIZE = 100
"""Pools per page of the listing (the adapter's page size)."""


@dataclass
class GenesysSlice:
    """What the slice's numbers touch in Genesys, as read."""

    numbers: frozenset[str]
    found: dict[str, GenesysPoolNumber]
    """number (slice numbers and their neighbours) -> its pool and holder; absent: in no pool."""
    pools: dict[str, GenesysDidPool]
    """Active pools holding a looked-up number, by id."""
    holders: dict[str, GenesysIvr | GenesysUser] = field(default_factory=dict)
    """Owner id -> the IVR or user holding a slice number (those byoc can read)."""
    families: dict[str, list[GenesysIvr]] = field(default_factory=dict)
    """IVR name (casefolded) -> [the IVR, its shards in order]; [] when Genesys lacks it."""
    users: dict[str, GenesysUser | None] = field(default_factory=dict)
    """Email (casefolded) -> the user, None when Genesys lacks one."""
    unroutable: dict[str, str] = field(default_factory=dict)
    """Number -> why the plan leaves it unrouted (its verify problem says why)."""


@dataclass(frozen=True)
class GenesysSliceWanted:
    """What the slice's numbers should be: the route of each wanted one, and those going away."""

    numbers: frozenset[str]
    routes: dict[str, RouteKey]
    releasing: frozenset[str]
    numbers_per_put: int
    ivr_shards: bool


def neighbours(numbers: Iterable[str]) -> list[str]:
    """The numbers and those right next to them (same length), in order."""
    around: set[str] = set()
    for number in numbers:
        width, value = len(number), int(number[1:])
        around.update(span_text(width, v) for v in (value - 1, value, value + 1)
                      if len(span_text(width, v)) == width and 10 ** (width - 3) <= v)
    return sorted(around, key=lambda n: (len(n), n))


def read_slice(port: GenesysPort, numbers: frozenset[str]) -> GenesysSlice:
    probe = neighbours(numbers)
    view = pool_view(port)
    if not view.fresh() and len(probe) > LISTING_AFTER:
        pages = -(-port.count_did_pools() // PAGE_SIZE)
        if pages < len(probe):  # listing every pool costs fewer calls than the lookups
            view.replace_all(port.list_did_pools())
    if view.fresh():
        found: dict[str, GenesysPoolNumber] = {}
        pools: dict[str, GenesysDidPool] = {}
        for number in probe:
            if (pool := view.find(number)) is not None:
                found[number] = GenesysPoolNumber(number, pool.id)
                pools[pool.id] = pool
        # who holds a pool number only a lookup says (a new number is in no pool: no call)
        placed = sorted(n for n in numbers if n in found)
        looked = {n.number: n for n in port.find_pool_numbers(placed)}
        found.update(looked)
        if moved := {n.pool_id for n in found.values() if n.pool_id not in pools}:
            pools.update((p.id, p) for p in port.read_did_pools(moved) if p.state != "deleted")
        if len(looked) < len(placed):  # a pool of the view's no longer holds a slice number
            view.forget()
            found, pools = _looked_up(port, probe)
    else:
        found, pools = _looked_up(port, probe)
    piece = GenesysSlice(numbers=numbers, found=found, pools=pools)
    for number in sorted(numbers):
        seen = found.get(number)
        if seen is None or not seen.assigned or seen.owner_id in piece.holders:
            continue
        try:
            if seen.owner_type == "IVR_CONFIG":
                piece.holders[seen.owner_id] = port.get_ivr(seen.owner_id)
            elif seen.owner_type == "USER":
                piece.holders[seen.owner_id] = port.get_user(seen.owner_id)
        except GenesysError as exc:
            if exc.status != 404:
                raise
    return piece


def _looked_up(
    port: GenesysPort, probe: list[str]
) -> tuple[dict[str, GenesysPoolNumber], dict[str, GenesysDidPool]]:
    """The probed numbers looked up one by one, and the active pools holding them."""
    found = {n.number: n for n in port.find_pool_numbers(probe)}
    ids = {n.pool_id for n in found.values() if n.pool_id}
    pools = {p.id: p for p in (port.read_did_pools(ids) if ids else []) if p.state != "deleted"}
    return found, pools


def desired_slice(
    settings: Settings, state: DesiredState, numbers: frozenset[str]
) -> GenesysSliceWanted:
    return GenesysSliceWanted(
        numbers=numbers,
        routes={n: (r.genesys_kind, r.genesys_name) for n, r in state.present.items()
                if n in numbers},
        releasing=frozenset(state.releasing & numbers),
        numbers_per_put=settings.genesys_numbers_per_ivr_put,
        ivr_shards=settings.genesys_ivr_shards,
    )


__all__ = ["GenesysSlice", "GenesysSliceWanted", "desired_slice", "neighbours", "read_slice"]
