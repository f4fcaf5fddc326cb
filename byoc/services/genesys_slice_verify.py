"""Genesys slice verify: the slice's numbers looked up again after the writes (`genesys_slice`
read them, `genesys_slice_plan` planned them)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from byoc.domain.number_ranges import NumberRanges, Span
from byoc.domain.plan import Problem
from byoc.ports import GenesysDidPool, GenesysIvr
from byoc.services.genesys_model import owned
from byoc.services.genesys_shards import family_name
from byoc.services.genesys_slice import GenesysSlice, GenesysSliceWanted

if TYPE_CHECKING:
    from byoc.ports import GenesysPort
    from byoc.services.genesys_applier import GenesysApplier


def verify_slice(
    port: GenesysPort,
    applier: GenesysApplier,
    read: GenesysSlice | None,
    desired: GenesysSliceWanted,
) -> list[str]:
    """Look the slice's numbers up again: each wanted one in a pool and held by its IVR (or a
    shard of it) or user; each one going away held by nobody. A number routed to an IVR that
    sits in a pool this sync wrote (`applier`), and in the IVR as its write returned it, is
    Genesys's own answer already: it is not looked up again. `read`: the slice as read."""
    written = applier.ivrs
    settled = _settled_by_writes(desired, list(applier.pools_written.values()),
                                 written.values())
    looked_up = sorted(desired.numbers - settled)
    found = {n.number: n for n in port.find_pool_numbers(looked_up)}
    owned_before = NumberRanges.of_spans(
        Span.of(p.start, p.end) for p in (read.pools.values() if read else ()) if owned(p.description))
    problems: list[str] = []
    for number in looked_up:
        seen = found.get(number)
        route = desired.routes.get(number)
        if route is not None and seen is None:
            problems.append(Problem(f"{number} is in no DID pool", [number]))
            continue
        owner = seen.owner_id if seen is not None and seen.assigned else None
        if route is None:
            if owner is not None and (number in desired.releasing or number in owned_before):
                problems.append(Problem(f"{number} is still routed "
                                        f"({seen.owner_type if seen else ''} {owner})", [number]))
            continue
        kind, name = route
        why = f" ({read.unroutable[number]})" if read and number in read.unroutable else ""
        if kind == "ivr" and name:
            ivr = written.get(owner or "")
            if owner is None or (ivr is not None
                                 and family_name(ivr).casefold() != name.casefold()):
                problems.append(Problem(f"{number} is not routed to IVR {name!r}{why}",
                                        [number]))
        elif kind == "user" and name and (seen is None or seen.owner_type != "USER"):
            problems.append(Problem(f"{number} is not the work phone of {name}{why}",
                                    [number]))
    return problems


def _settled_by_writes(
    desired: GenesysSliceWanted, pools: list[GenesysDidPool], ivrs: Iterable[GenesysIvr]
) -> frozenset[str]:
    """The slice's IVR-routed numbers that a pool and an IVR written by this sync hold."""
    if not pools:
        return frozenset()
    written = NumberRanges.of_spans([Span.of(p.start, p.end) for p in pools])
    by_name: dict[str, set[str]] = {}
    for ivr in ivrs:
        by_name.setdefault(family_name(ivr).casefold(), set()).update(ivr.dnis)
    return frozenset(
        n for n, (kind, name) in desired.routes.items()
        if kind == "ivr" and name and n in written and n in by_name.get(name.casefold(), ()))



__all__ = ["verify_slice"]
