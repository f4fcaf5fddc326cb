"""IVRs past one request: numbers an IVR cannot carry in one write go to shards named after it,
numbers stay where they are while they fit, shards go when no longer needed, and with shards
forbidden the overflow is refused up front."""

from __future__ import annotations

import json

from byoc.ports import GenesysIvr
from byoc.services.genesys_shards import (
    NEW,
    REQUEST_BYTES_MAX,
    capacity,
    shard_description,
    shard_of,
    spread,
)

MAIN = GenesysIvr("ivr-1", "Main IVR", 3, routing=("flow-open", "flow-closed", "", "sched-1"))


def numbers(count: int, first: int = 16_285_000_000) -> set[str]:
    return {f"+{first + i}" for i in range(count)}


def shard(index: int, dnis: set[str] = frozenset(), routing: tuple[str, ...] = MAIN.routing
          ) -> GenesysIvr:  # type: ignore[assignment]
    return GenesysIvr(f"ivr-s{index}", f"Main IVR [byoc {index}]", 1, tuple(sorted(dnis)),
                      description=shard_description(MAIN), routing=routing)


def test_one_ivr_write_of_capacity_numbers_fits_in_the_request_limit() -> None:
    room = capacity(numbers(1))
    body = {"name": MAIN.name, "dnis": sorted(numbers(room)), "version": 3,
            "description": "x" * 200, "openHoursFlow": {"id": "f" * 36}}

    assert room > 30_000 and len(json.dumps(body)) < REQUEST_BYTES_MAX


def test_numbers_past_one_request_go_to_a_new_shard_with_the_ivrs_flows() -> None:
    wanted = {("ivr", MAIN.id): numbers(40_000)}

    plan = spread([MAIN], wanted, {}, allow=True)

    ((new, like),) = plan.create
    assert new.name == "Main IVR [byoc 2]" and like is MAIN and new.id.startswith(NEW)
    assert shard_of(new) == MAIN.id and new.routing == MAIN.routing
    assert len(wanted[("ivr", MAIN.id)]) == capacity(numbers(1))
    assert wanted[("ivr", MAIN.id)] | wanted[("ivr", new.id)] == numbers(40_000)
    assert plan.conflicts == [] and plan.delete == []


def test_numbers_stay_on_the_shard_that_holds_them_and_new_ones_fill_the_ivr_first() -> None:
    on_shard = numbers(100)
    second = shard(2, on_shard)
    wanted = {("ivr", MAIN.id): numbers(1_000)}

    plan = spread([MAIN, second], wanted, {("ivr", second.id): on_shard}, allow=True)

    assert wanted[("ivr", second.id)] == on_shard
    assert wanted[("ivr", MAIN.id)] == numbers(1_000) - on_shard
    assert plan.create == [] and plan.delete == [] and plan.fix == []


def test_a_shard_no_longer_needed_is_deleted_and_its_numbers_return_to_the_ivr() -> None:
    second = shard(2, numbers(10))
    wanted = {("ivr", MAIN.id): numbers(500)}

    plan = spread([MAIN, second], wanted, {("ivr", second.id): numbers(10)}, allow=True)

    # (they fit on the shard too, but the shard goes only when nothing is left on it)
    assert wanted.get(("ivr", second.id)) == numbers(10) and plan.delete == []
    wanted = {("ivr", MAIN.id): set()}
    plan = spread([MAIN, second], wanted, {("ivr", second.id): numbers(10)}, allow=True)
    assert plan.delete == [second] and ("ivr", second.id) not in wanted


def test_a_shard_whose_flows_drifted_is_given_the_ivrs_flows_again() -> None:
    second = shard(2, numbers(10), routing=("other-flow", "flow-closed", "", "sched-1"))
    wanted = {("ivr", MAIN.id): numbers(10)}

    plan = spread([MAIN, second], wanted, {("ivr", second.id): numbers(10)}, allow=True)

    assert plan.fix == [(second, MAIN)]


def test_an_ivr_that_is_not_byocs_shard_is_never_taken_for_one() -> None:
    lookalike = GenesysIvr("ivr-x", "Main IVR [byoc 2]", 1, description="made by hand")
    wanted = {("ivr", MAIN.id): numbers(10)}

    plan = spread([MAIN, lookalike], wanted, {}, allow=True)

    assert plan.delete == [] and shard_of(lookalike) is None


def test_with_shards_forbidden_the_overflow_is_refused_up_front() -> None:
    wanted = {("ivr", MAIN.id): numbers(40_000)}

    plan = spread([MAIN], wanted, {}, allow=False)

    room = capacity(numbers(1))
    assert plan.create == [] and len(wanted[("ivr", MAIN.id)]) == room
    assert len(plan.unroutable) == 40_000 - room
    (conflict,) = plan.conflicts
    assert "BYOC_GENESYS_IVR_SHARDS=false" in conflict and "40,000" in conflict
