"""One Genesys Cloud org's objects and the rules the Platform API enforces when they change.

Numbers: a DID pool covers a contiguous E.164 range; a pool number becomes a DID (gets an id)
only when it is assigned, as an IVR `dnis` entry or as a user's PHONE address. The org refuses
what the real API refuses: non-E.164 ranges, overlapping pools, deleting a pool with assigned
numbers, a number routed twice, a number routed outside every pool, stale versions.
"""

from __future__ import annotations

import itertools
import uuid
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sandbox.genesys_entities import (
    DidPool,
    Division,
    Entity,
    Flow,
    Ivr,
    OutboundRoute,
    ScheduleGroup,
    Site,
    Trunk,
    TrunkBase,
    User,
)
from sandbox.genesys_wire import (
    bad_request,
    conflict,
    invalid_value,
    is_e164,
    not_found,
    version_mismatch,
)

MAX_POOL_SIZE = 100_000
PROVIDERS = ("PURE_CLOUD", "PURE_CLOUD_VOICE")
MEDIA_TYPES = ("PHONE", "EMAIL", "SMS")
CONTACT_TYPES = ("PRIMARY", "WORK", "WORK2", "WORK3", "WORK4", "HOME", "MOBILE", "MAIN", "OTHER")
DISTRIBUTIONS = ("SEQUENTIAL", "RANDOM")
DID_POOL_ID_REQUIRED = "Field 'didPoolId' is required and cannot be empty."

_DEFAULT_VARIANTS = {
    "conflict_text": "names-version", "pool_delete_lag": "immediate",
    "pool_range_change": "refuses-stranding",
}

PoolVisibility = Callable[[DidPool], bool]
"""Answers whether a pool is already visible to Architect/Directory (eventual consistency)."""


@dataclass(frozen=True)
class OrgRules:
    """Tunable behaviour, from the seed."""

    ivr_version_mismatch_status: int = 409
    user_version_mismatch_status: int = 400
    max_dnis_added_per_write: int = 50
    pool_delete_lag_s: float = 5.0
    """Under the `pool_delete_lag` variant "lagging": how long a deleted pool still shows."""
    max_number_plans: int = 200


@dataclass
class Did:
    """An assigned pool number (only assigned numbers are DIDs and have an id)."""

    id: str
    number: str
    pool: DidPool
    owner_type: str
    owner: Entity
    assigned_at: float


def number_matches(how: str, needle: str, number: str) -> bool:
    """`numberMatch` of /didpools/dids under the `dids_number_match` variant: `needle` (its '+'
    removed) against the whole number, its start, or any part of its digits."""
    digits = number.lstrip("+")
    if how == "exact":
        return digits == needle
    if how == "prefix":
        return digits.startswith(needle)
    return needle in digits


def _object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(f"The request body must be a JSON object describing the {what}.")
    return body


def _text(body: dict[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise bad_request(f"Field '{key}' is required and cannot be empty.", field=key)
        return None
    if not isinstance(value, str):
        raise invalid_value(key, value, "Expected a string.")
    return value


def _ref_id(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("id"), str) or not value["id"]:
        raise invalid_value(key, value, "Expected an entity reference with an 'id'.")
    return str(value["id"])


def _version(body: dict[str, Any], kind: str) -> int:
    value = body.get("version")
    if value is None:
        raise bad_request(
            f"Field 'version' is required to update a {kind}; read the {kind} first.",
            field="version",
        )
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid_value("version", value, "Expected an integer.")
    return value


class GenesysOrg:
    """Every object of the emulated org, keyed by id, plus the write rules."""

    def __init__(self, rules: OrgRules, division: Division, actor: str) -> None:
        self.rules = rules
        self.division = division
        self.actor = actor
        self.pools: dict[str, DidPool] = {}
        self.ivrs: dict[str, Ivr] = {}
        self.users: dict[str, User] = {}
        self.flows: dict[str, Flow] = {}
        self.schedule_groups: dict[str, ScheduleGroup] = {}
        self.sites: dict[str, Site] = {}
        self.trunk_bases: dict[str, TrunkBase] = {}
        self.outbound_routes: dict[str, OutboundRoute] = {}
        self.trunks: dict[str, Trunk] = {}
        self.dids: dict[str, Did] = {}
        self._pool_dids: dict[str, set[str]] = {}
        """Pool id -> its assigned numbers (the DIDs whose `pool` it is)."""
        self._ivr_of: dict[str, dict[str, Ivr]] = {}
        self._users_of: dict[str, dict[str, User]] = {}
        """Number -> the IVRs / users carrying it, in the order they joined the org."""
        self._seq: dict[str, int] = {}
        self._joined = itertools.count()
        self._active: list[DidPool] = []
        self._active_keys: list[tuple[int, str]] = []
        self._deleted: list[DidPool] = []
        """Active pools sorted by (length, start); they never overlap."""
        self.pool_writes = 0
        """Pools created, changed or deleted so far (listings keep their order until it moves)."""
        self.variant: Callable[[str], str] = _DEFAULT_VARIANTS.__getitem__
        """The emulator's variant in force (sandbox/README-genesys.md, "Variants")."""

    def deletion_shown(self, pool: DidPool, now: float) -> bool:
        """Whether a deleted pool reads back as deleted yet (and stops blocking an overlap)."""
        if pool.state != "deleted":
            return False
        if self.variant("pool_delete_lag") != "lagging":
            return True
        return now - (pool.deleted_at or 0.0) >= self.rules.pool_delete_lag_s

    # ----- lookups -------------------------------------------------------------------------

    def get(self, table: dict[str, Any], kind: str, entity_id: str) -> Any:
        found = table.get(entity_id)
        if found is None:
            raise not_found(kind, entity_id)
        return found

    def pool_for(self, number: str) -> DidPool | None:
        """The active pool covering `number`, by bisection of the sorted active pools."""
        at = bisect_right(self._active_keys, (len(number), number)) - 1
        pool = self._active[at] if at >= 0 else None
        if pool is None or not pool.covers(number) or self.pools.get(pool.id) is not pool:
            return None
        return pool

    def _index_pool(self, pool: DidPool, *, add: bool) -> None:
        key = (len(pool.start), pool.start)
        if add:
            at = bisect_left(self._active_keys, key)
            self._active_keys.insert(at, key)
            self._active.insert(at, pool)
        else:
            at = self._active.index(pool, bisect_left(self._active_keys, key))
            del self._active_keys[at], self._active[at]

    def holder(self, number: str, *, skip: Entity | None = None) -> tuple[str, Entity] | None:
        """Who holds a routed number: the user who joined the org last among those carrying it
        (when it is a pool number), else the IVR listing it in `dnis`."""
        users = [
            u for u in self._users_of.get(number, {}).values()
            if u is not skip and self.users.get(u.id) is u
        ]
        if users and self.pool_for(number) is not None:
            return "USER", max(users, key=lambda u: self._seq[u.id])
        ivrs = [
            i for i in self._ivr_of.get(number, {}).values()
            if i is not skip and self.ivrs.get(i.id) is i
        ]
        if ivrs:
            return "IVR_CONFIG", max(ivrs, key=lambda i: self._seq[i.id])
        return None

    def numbers_of(self, entity: Entity) -> list[str]:
        """The numbers an IVR or a user carries as it stands."""
        if isinstance(entity, Ivr):
            return list(entity.dnis)
        return entity.phone_addresses() if isinstance(entity, User) else []

    def owners(self, *, skip: Entity | None = None) -> dict[str, tuple[str, Entity]]:
        """Who holds each routed number: IVR `dnis` and users' pool numbers."""
        held: dict[str, tuple[str, Entity]] = {}
        for number in set(self._ivr_of) | set(self._users_of):
            found = self.holder(number, skip=skip)
            if found is not None:
                held[number] = found
        return held

    def _carry(self, table: dict[str, dict[str, Any]], entity: Entity, numbers: list[str],
               *, add: bool) -> None:
        for number in numbers:
            if add:
                table.setdefault(number, {})[entity.id] = entity
            else:
                carriers = table.get(number, {})
                carriers.pop(entity.id, None)
                if not carriers:
                    table.pop(number, None)

    def _held_in(self, start: str, end: str) -> set[str]:
        """The routed numbers in a range: the range walked, or the routed numbers filtered,
        whichever is shorter (no union of the carried numbers is built: at 100,000 numbers
        that alone cost more than the walk)."""
        ivr_of, users_of = self._ivr_of, self._users_of
        size = int(end[1:]) - int(start[1:]) + 1
        if size <= len(ivr_of) + len(users_of):
            width = len(start) - 1
            numbers = (f"+{n:0{width}d}" for n in range(int(start[1:]), int(end[1:]) + 1))
            return {n for n in numbers if n in ivr_of or n in users_of}
        return {n for table in (ivr_of, users_of) for n in table
                if len(n) == len(start) and start <= n <= end}

    def sync_dids(self, numbers: set[str], now: float) -> None:
        """Bring the DIDs of `numbers` (those a write touched) in line with who holds them: a
        DID exists exactly for each pool number assigned to an owner, and goes when the number
        is unassigned, changes owner or changes pool."""
        for number in sorted(numbers):
            held = self.holder(number)
            pool = self.pool_for(number)
            did = self.dids.get(number)
            if did is not None and (held is None or held[1] is not did.owner or pool is not did.pool):
                del self.dids[number]
                self._pool_dids[did.pool.id].discard(number)
                did = None
            if did is None and held is not None and pool is not None:
                owner_type, owner = held
                self.dids[number] = Did(str(uuid.uuid4()), number, pool, owner_type, owner, now)
                self._pool_dids.setdefault(pool.id, set()).add(number)

    def pool_numbers(
        self, pool_ids: list[str], match: str | None = None, how: str = "substring"
    ) -> Iterator[tuple[str, DidPool]]:
        """Every number of the active pools (optionally only `pool_ids`) that `match` matches
        under `how` (`numberMatch`, see `number_matches`), ascending by length, then number.

        A whole-number or leading-digits `match` is answered by bisection of the sorted pools,
        reading only the numbers it matches; a `substring` match shorter than a pool's numbers,
        or a `match` that is not plain digits, walks the numbers of every pool."""
        needle = None if match is None else match.lstrip("+")
        plain = needle is not None and needle.isascii() and needle.isdigit() \
            and not needle.startswith("0")
        keys, active = self._active_keys, self._active
        at = 0
        while at < len(active):
            width = len(active[at].start)
            end = bisect_left(keys, (width + 1, ""), at)
            first, at = at, end
            wide = width - 1
            if needle is not None and plain:
                if wide < len(needle) or (wide > len(needle) and how == "exact"):
                    continue
                if wide == len(needle) or how == "prefix":
                    scale = 10 ** (wide - len(needle))
                    low, high = int(needle) * scale, (int(needle) + 1) * scale - 1
                    i = max(first, bisect_right(keys, (width, f"+{low}"), first, end) - 1)
                    top = f"+{high}"
                    while i < end and keys[i][1] <= top:
                        pool = active[i]
                        i += 1
                        if self._listed(pool, pool_ids):
                            for value in range(max(low, int(pool.start[1:])),
                                               min(high, int(pool.end[1:])) + 1):
                                yield f"+{value}", pool
                    continue
            for pool in active[first:end]:
                if self._listed(pool, pool_ids):
                    for value in pool.numbers():
                        number = f"+{value}"
                        if needle is None or number_matches(how, needle, number):
                            yield number, pool

    def _listed(self, pool: DidPool, pool_ids: list[str]) -> bool:
        """Whether an active pool is the org's (and among `pool_ids`, when given)."""
        return self.pools.get(pool.id) is pool and (not pool_ids or pool.id in pool_ids)

    # ----- DID pools -----------------------------------------------------------------------

    def _pool_range(
        self, body: dict[str, Any], skip: DidPool | None, now: float
    ) -> tuple[str, str]:
        start = _text(body, "startPhoneNumber", required=True)
        end = _text(body, "endPhoneNumber", required=True)
        assert start is not None and end is not None
        for key, value in (("startPhoneNumber", start), ("endPhoneNumber", end)):
            if not is_e164(value):
                raise invalid_value(key, value, "Must be in E.164 format, e.g. +14155550100.")
        if len(start) != len(end):
            raise bad_request(
                f"The DID pool range {start} - {end} mixes numbers of different lengths.",
                start=start,
                end=end,
            )
        if start > end:
            raise bad_request(
                f"The DID pool start number {start} is after its end number {end}.",
                start=start,
                end=end,
            )
        size = int(end[1:]) - int(start[1:]) + 1
        if size > MAX_POOL_SIZE:
            raise bad_request(
                f"The DID pool range {start} - {end} holds {size} numbers; "
                f"a range may hold at most {MAX_POOL_SIZE}.",
                start=start,
                end=end,
            )
        for other in self._overlap_candidates(start, end, skip, now):
            if other is skip or self.deletion_shown(other, now) or len(other.start) != len(start):
                continue
            if start <= other.end and other.start <= end:
                raise bad_request(
                    f"The DID pool range {start} - {end} overlaps the existing DID pool "
                    f"{other.start} - {other.end} (id {other.id}).",
                    code="did.pool.range.overlap",
                    start=start,
                    end=end,
                    poolId=other.id,
                )
        return start, end

    def _overlap_candidates(
        self, start: str, end: str, skip: DidPool | None, now: float
    ) -> list[DidPool]:
        """The pools that may overlap a range: the active one starting at or before its end
        nearest to it (active pools never overlap, so no earlier one reaches further), and the
        deleted ones whose deletion does not show yet."""
        at = bisect_right(self._active_keys, (len(end), end))
        nearest = [p for p in self._active[max(0, at - 2):at] if p is not skip][-1:]
        self._deleted = [p for p in self._deleted if not self.deletion_shown(p, now)]
        return [p for p in [*nearest, *self._deleted] if self.pools.get(p.id) is p]

    def _provider(self, body: dict[str, Any], default: str) -> str:
        provider = body.get("provider", default) or default
        if provider not in PROVIDERS:
            raise invalid_value(
                "provider", provider, f"Allowable values are {', '.join(PROVIDERS)}."
            )
        return str(provider)

    def create_pool(self, body: Any, now: float, *, entity_id: str | None = None) -> DidPool:
        body = _object(body, "DID pool")
        start, end = self._pool_range(body, None, now)
        pool = DidPool(
            id=entity_id or str(uuid.uuid4()),
            name=_text(body, "name") or f"{start} - {end}",
            start=start,
            end=end,
            description=_text(body, "description"),
            comments=_text(body, "comments"),
            provider=self._provider(body, "PURE_CLOUD"),
            created_at=now,
            modified_at=now,
            created_by=self.actor,
            modified_by=self.actor,
        )
        self.pools[pool.id] = pool
        self.pool_writes += 1
        self._index_pool(pool, add=True)
        self.sync_dids(self._held_in(start, end), now)
        return pool

    def update_pool(self, pool_id: str, body: Any, now: float) -> DidPool:
        pool: DidPool = self.get(self.pools, "DID pool", pool_id)
        body = _object(body, "DID pool")
        if pool.state == "deleted":
            raise not_found("DID pool", pool_id)
        supplied = body.get("version")
        if supplied is not None and supplied != pool.version:
            raise version_mismatch(
                409, "DID pool", supplied, pool.version,
                names_version=self.variant("conflict_text") == "names-version")
        start, end = self._pool_range(body, pool, now)
        answer = self.variant("pool_range_change")
        if answer == "refuses-any" and (start, end) != (pool.start, pool.end):
            raise bad_request(
                "The start and end numbers of an existing DID pool cannot be changed; create a "
                "new DID pool instead.",
                field="startPhoneNumber",
            )
        stranded = [
            number
            for number in self._pool_dids.get(pool.id, ())
            if not (len(number) == len(start) and start <= number <= end)
        ]
        if stranded and answer == "refuses-stranding":
            listed = ", ".join(sorted(stranded))
            raise conflict(
                f"The DID pool range cannot exclude assigned numbers: {listed}.", numbers=listed
            )
        touched: set[str] = set()
        self.pool_writes += 1
        if (start, end) != (pool.start, pool.end):
            pool.range_changed_at = now
            touched = self._held_in(pool.start, pool.end) | self._held_in(start, end)
            self._index_pool(pool, add=False)
            pool.start, pool.end = start, end
            self._index_pool(pool, add=True)
        pool.description = _text(body, "description")
        pool.comments = _text(body, "comments")
        pool.provider = self._provider(body, pool.provider)
        pool.name = _text(body, "name") or pool.name
        pool.touch(now, self.actor)
        self.sync_dids(touched, now)
        return pool

    def delete_pool(self, pool_id: str, now: float) -> None:
        pool: DidPool = self.get(self.pools, "DID pool", pool_id)
        if pool.state == "deleted":
            raise not_found("DID pool", pool_id)
        assigned = sorted(self._pool_dids.get(pool.id, ()))
        if assigned:
            raise conflict(
                f"The DID pool {pool.start} - {pool.end} has {len(assigned)} assigned number(s) "
                f"({', '.join(assigned[:5])}{', ...' if len(assigned) > 5 else ''}); "
                "unassign them before deleting the pool.",
                code="did.pool.in.use",
                poolId=pool.id,
            )
        self.pool_writes += 1
        self._index_pool(pool, add=False)
        self._deleted.append(pool)
        pool.state = "deleted"
        pool.deleted_at = now
        pool.touch(now, self.actor)

    # ----- routed numbers (IVR dnis, user phone addresses) ---------------------------------

    def _check_routable(
        self,
        numbers: list[str],
        added: set[str],
        holder: Entity,
        pool_visible: PoolVisibility,
        *,
        require_pool: bool,
    ) -> None:
        ivr_of, users_of = self._ivr_of, self._users_of
        for number in numbers:
            if number not in users_of and ivr_of.get(number, {}).get(holder.id, None) is holder \
                    and len(ivr_of[number]) == 1:
                continue  # carried by `holder` alone: `holder(number, skip=holder)` is None
            owner = self.holder(number, skip=holder)
            if owner is not None and not (owner[0] == "USER" and isinstance(holder, User)):
                # two users' contacts may carry the same number; an IVR and a user may not
                owner_type, entity = owner
                raise bad_request(
                    f"The number {number} is already assigned to {owner_type} "
                    f"'{entity.name}' (id {entity.id}); a number can route to one place only.",
                    code="did.already.assigned",
                    number=number,
                    ownerId=entity.id,
                )
        for number in numbers:
            pool = self.pool_for(number)
            if pool is None and require_pool:
                raise bad_request(DID_POOL_ID_REQUIRED, field="didPoolId", number=number)
            if pool is not None and number in added and not pool_visible(pool):
                raise bad_request(DID_POOL_ID_REQUIRED, field="didPoolId", number=number)

    # ----- Architect IVRs ------------------------------------------------------------------

    def _flow(self, body: dict[str, Any], key: str) -> Flow | None:
        flow_id = _ref_id(body, key)
        if flow_id is None:
            return None
        flow = self.flows.get(flow_id)
        if flow is None:
            raise bad_request(f"The flow {flow_id} in '{key}' does not exist.", field=key)
        return flow

    def _apply_ivr(
        self, ivr: Ivr, body: dict[str, Any], pool_visible: PoolVisibility
    ) -> set[str]:
        """Validate everything first, then change `ivr`: a refused write changes nothing.
        Returns the numbers it took or let go."""
        name = _text(body, "name", required=True)
        assert name is not None
        for other in self.ivrs.values():
            if other is not ivr and other.name.lower() == name.lower():
                raise bad_request(f"An IVR named '{name}' already exists.", code="duplicate.name")
        raw = body.get("dnis") or []
        if not isinstance(raw, list) or not all(isinstance(n, str) for n in raw):
            raise invalid_value("dnis", raw, "Expected a list of E.164 numbers.")
        dnis = list(raw)
        for number in dnis:
            if not is_e164(number):
                raise invalid_value("dnis", number, "DNIS numbers must be in E.164 format.")
        duplicated = sorted(n for n, times in Counter(dnis).items() if times > 1)
        if duplicated:
            raise bad_request(f"The dnis list repeats {', '.join(duplicated)}.", field="dnis")
        added = set(dnis) - set(ivr.dnis)
        if len(added) > self.rules.max_dnis_added_per_write:
            raise bad_request(
                f"An IVR write may add at most {self.rules.max_dnis_added_per_write} dnis numbers; "
                f"this one adds {len(added)}. Add them in several writes.",
                field="dnis",
            )
        open_flow = self._flow(body, "openHoursFlow")
        closed_flow = self._flow(body, "closedHoursFlow")
        holiday_flow = self._flow(body, "holidayHoursFlow")
        group_id = _ref_id(body, "scheduleGroup")
        group = None
        if group_id is not None:
            group = self.schedule_groups.get(group_id)
            if group is None:
                raise bad_request(f"The schedule group {group_id} does not exist.")
            if open_flow is None or closed_flow is None:
                raise bad_request(
                    "An IVR with a scheduleGroup needs an openHoursFlow and a closedHoursFlow.",
                    field="scheduleGroup",
                )
        self._check_routable(dnis, added, ivr, pool_visible, require_pool=True)
        ivr.name = name
        ivr.description = _text(body, "description")
        # Only the numbers that came or went change who holds them (and so their DIDs): an IVR
        # of 25,000 numbers gaining 50 re-indexes 50, not 25,050.
        before, after = set(ivr.dnis), set(dnis)
        self._carry(self._ivr_of, ivr, [n for n in ivr.dnis if n not in after], add=False)
        self._carry(self._ivr_of, ivr, [n for n in dnis if n not in before], add=True)
        self._seq.setdefault(ivr.id, next(self._joined))
        touched = before ^ after
        ivr.dnis = dnis
        ivr.open_hours_flow, ivr.closed_hours_flow = open_flow, closed_flow
        ivr.holiday_hours_flow, ivr.schedule_group = holiday_flow, group
        return touched

    def create_ivr(
        self,
        body: Any,
        now: float,
        pool_visible: PoolVisibility,
        *,
        entity_id: str | None = None,
    ) -> Ivr:
        body = _object(body, "IVR")
        ivr = Ivr(
            id=entity_id or str(uuid.uuid4()),
            name="",
            division=self.division,
            created_at=now,
            modified_at=now,
            created_by=self.actor,
            modified_by=self.actor,
        )
        touched = self._apply_ivr(ivr, body, pool_visible)
        self.ivrs[ivr.id] = ivr
        self.sync_dids(touched, now)
        return ivr

    def update_ivr(
        self,
        ivr_id: str,
        body: Any,
        now: float,
        pool_visible: PoolVisibility,
        *,
        concurrent_write: bool = False,
    ) -> Ivr:
        ivr: Ivr = self.get(self.ivrs, "IVR", ivr_id)
        body = _object(body, "IVR")
        supplied = _version(body, "IVR")
        if concurrent_write:
            ivr.touch(now, "another-client")
        if supplied != ivr.version:
            raise version_mismatch(
                self.rules.ivr_version_mismatch_status, "IVR", supplied, ivr.version,
                names_version=self.variant("conflict_text") == "names-version",
            )
        touched = self._apply_ivr(ivr, body, pool_visible)
        ivr.touch(now, self.actor)
        self.sync_dids(touched, now)
        return ivr

    def delete_ivr(self, ivr_id: str, now: float) -> None:
        ivr: Ivr = self.get(self.ivrs, "IVR", ivr_id)
        del self.ivrs[ivr_id]
        self._carry(self._ivr_of, ivr, ivr.dnis, add=False)
        self.sync_dids(set(ivr.dnis), now)
        del self._seq[ivr_id]

    # ----- users ---------------------------------------------------------------------------

    def _addresses(self, raw: Any) -> list[dict[str, Any]]:
        if not isinstance(raw, list):
            raise invalid_value("addresses", raw, "Expected a list of contacts.")
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        for item in raw:
            if not isinstance(item, dict):
                raise invalid_value("addresses", item, "Each address must be a Contact object.")
            media = item.get("mediaType")
            kind = item.get("type")
            if media not in MEDIA_TYPES:
                raise invalid_value(
                    "addresses.mediaType", media, f"Allowable values are {', '.join(MEDIA_TYPES)}."
                )
            if kind is not None and kind not in CONTACT_TYPES:
                raise invalid_value(
                    "addresses.type", kind, f"Allowable values are {', '.join(CONTACT_TYPES)}."
                )
            address, extension = item.get("address"), item.get("extension")
            display = item.get("display")
            for key, value in (("address", address), ("extension", extension),
                               ("display", display)):
                if value is not None and not isinstance(value, str):
                    raise invalid_value(f"addresses.{key}", value, "Expected a string.")
            if not address and not extension and not display:
                raise bad_request("A contact needs an 'address', an 'extension' or a 'display'.")
            if media == "PHONE" and address and not is_e164(address):
                raise invalid_value(
                    "addresses.address", address, "Phone addresses must be in E.164 format."
                )
            key = (str(media), str(kind or "WORK"))
            if key in seen:
                raise bad_request(
                    f"The user already has a {key[0]} address of type {key[1]}; "
                    "one address per media type and type.",
                    field="addresses",
                )
            seen.add(key)
            out.append(
                {
                    "address": address,
                    "mediaType": media,
                    "type": kind or "WORK",
                    "extension": extension,
                    "display": display,
                }
            )
        return out

    def add_user(
        self,
        *,
        entity_id: str,
        name: str,
        email: str,
        addresses: list[dict[str, Any]],
        now: float,
        department: str | None = None,
        title: str | None = None,
    ) -> User:
        user = User(
            id=entity_id,
            name=name,
            email=email,
            username=email,
            division=self.division,
            department=department,
            title=title,
            created_at=now,
            modified_at=now,
        )
        contacts = self._addresses(addresses)
        phones = [str(c["address"]) for c in contacts if c["mediaType"] == "PHONE" and c["address"]]
        self._check_routable(phones, set(), user, lambda _: True, require_pool=False)
        user.addresses = contacts
        self.users[user.id] = user
        self._seq[user.id] = next(self._joined)
        self._carry(self._users_of, user, phones, add=True)
        self.sync_dids(set(phones), now)
        return user

    def patch_user(
        self,
        user_id: str,
        body: Any,
        now: float,
        pool_visible: PoolVisibility,
        *,
        concurrent_write: bool = False,
    ) -> User:
        user: User = self.get(self.users, "user", user_id)
        body = _object(body, "user")
        supplied = _version(body, "user")
        if concurrent_write:
            user.touch(now, "another-client")
        if supplied != user.version:
            raise version_mismatch(
                self.rules.user_version_mismatch_status, "user", supplied, user.version,
                names_version=self.variant("conflict_text") == "names-version",
            )
        touched: set[str] = set()
        if "addresses" in body:
            contacts = self._addresses(body["addresses"])
            phones = [
                str(c["address"]) for c in contacts if c["mediaType"] == "PHONE" and c["address"]
            ]
            added = set(phones) - set(user.phone_addresses())
            self._check_routable(phones, added, user, pool_visible, require_pool=False)
            touched = set(user.phone_addresses()) | set(phones)
            self._carry(self._users_of, user, user.phone_addresses(), add=False)
            self._carry(self._users_of, user, phones, add=True)
            user.addresses = contacts
        for key in ("name", "department", "title"):
            value = _text(body, key)
            if value is not None:
                setattr(user, key, value)
        user.touch(now, self.actor)
        self.sync_dids(touched, now)
        return user

    # ----- telephony: sites, trunk bases, outbound routes ----------------------------------

    def _trunk_bases(self, body: dict[str, Any]) -> list[TrunkBase]:
        raw = body.get("externalTrunkBases") or []
        if not isinstance(raw, list):
            raise invalid_value("externalTrunkBases", raw, "Expected a list of references.")
        out: list[TrunkBase] = []
        for item in raw:
            base_id = _ref_id({"ref": item}, "ref")
            base = self.trunk_bases.get(base_id or "")
            if base is None:
                raise bad_request(f"The trunk base settings {base_id} do not exist.")
            if base.trunk_type != "EXTERNAL":
                raise bad_request(
                    f"Trunk base '{base.name}' is of type {base.trunk_type}; outbound routes "
                    "take EXTERNAL trunk bases only.",
                    field="externalTrunkBases",
                )
            out.append(base)
        return out

    def _apply_route(self, route: OutboundRoute, body: dict[str, Any]) -> None:
        name = _text(body, "name", required=True)
        assert name is not None
        for other in self.outbound_routes.values():
            if other is not route and other.site is route.site and other.name == name:
                raise bad_request(
                    f"An outbound route named '{name}' already exists on site '{route.site.name}'.",
                    code="duplicate.name",
                )
        types = body.get("classificationTypes")
        if not isinstance(types, list) or not types or not all(isinstance(t, str) for t in types):
            raise bad_request(
                "Field 'classificationTypes' is required and cannot be empty.",
                field="classificationTypes",
            )
        distribution = body.get("distribution") or "SEQUENTIAL"
        if distribution not in DISTRIBUTIONS:
            raise invalid_value(
                "distribution", distribution, f"Allowable values are {', '.join(DISTRIBUTIONS)}."
            )
        enabled = body.get("enabled", False)
        if not isinstance(enabled, bool):
            raise invalid_value("enabled", enabled, "Expected true or false.")
        bases = self._trunk_bases(body)
        route.name, route.classification_types = name, list(types)
        route.distribution, route.enabled = str(distribution), enabled
        route.description = _text(body, "description")
        route.external_trunk_bases = bases

    def create_route(
        self, site: Site, body: Any, now: float, *, entity_id: str | None = None
    ) -> OutboundRoute:
        body = _object(body, "outbound route")
        route = OutboundRoute(
            id=entity_id or str(uuid.uuid4()),
            name="",
            site=site,
            classification_types=[],
            created_at=now,
            modified_at=now,
            created_by=self.actor,
            modified_by=self.actor,
        )
        self._apply_route(route, body)
        self.outbound_routes[route.id] = route
        return route

    def update_route(self, route: OutboundRoute, body: Any, now: float) -> OutboundRoute:
        body = _object(body, "outbound route")
        supplied = _version(body, "outbound route")
        if supplied != route.version:
            raise version_mismatch(
                409, "outbound route", supplied, route.version,
                names_version=self.variant("conflict_text") == "names-version")
        self._apply_route(route, body)
        route.touch(now, self.actor)
        return route

    def update_trunk_base(self, base: TrunkBase, body: Any, now: float) -> TrunkBase:
        body = _object(body, "trunk base settings")
        supplied = _version(body, "trunk base settings")
        if supplied != base.version:
            raise version_mismatch(
                409, "trunk base settings", supplied, base.version,
                names_version=self.variant("conflict_text") == "names-version")
        name = _text(body, "name", required=True)
        assert name is not None
        metabase_id = _ref_id(body, "trunkMetabase")
        if metabase_id is None:
            raise bad_request("Field 'trunkMetabase' is required.", field="trunkMetabase")
        if metabase_id != base.metabase_id:
            raise bad_request("The trunk metabase of existing settings cannot change.")
        inbound_id = _ref_id(body, "inboundSite")
        inbound = self.sites.get(inbound_id or "")
        if inbound_id is not None and inbound is None:
            raise bad_request(f"The inbound site {inbound_id} does not exist.")
        if "external_sip_pcv_byoc" in base.metabase_id and inbound is None:
            raise bad_request(
                "inboundSite is required for external BYOC trunks.", field="inboundSite"
            )
        properties = body.get("properties", base.properties)
        if not isinstance(properties, dict):
            raise invalid_value("properties", properties, "Expected an object.")
        base.name, base.inbound_site, base.properties = name, inbound, properties
        base.description = _text(body, "description")
        base.touch(now, self.actor)
        return base

    def put_number_plans(self, site: Site, body: Any) -> list[dict[str, Any]]:
        if not isinstance(body, list):
            raise invalid_value("body", type(body).__name__, "Expected a list of number plans.")
        if len(body) > self.rules.max_number_plans:
            raise bad_request(
                f"A site takes at most {self.rules.max_number_plans} number plans at a time; "
                f"got {len(body)}.",
            )
        plans: list[dict[str, Any]] = []
        for raw in body:
            plan = _object(raw, "number plan")
            name = _text(plan, "name", required=True)
            classification = _text(plan, "classification", required=True)
            plans.append(
                {
                    "id": str(plan.get("id") or uuid.uuid4()),
                    "name": name,
                    "state": "active",
                    "match": _text(plan, "match") or "",
                    "matchType": _text(plan, "matchType") or "regex",
                    "normalizedFormat": _text(plan, "normalizedFormat") or "",
                    "priority": int(plan.get("priority") or 0),
                    "classification": classification,
                }
            )
        site.number_plans = plans
        return plans
