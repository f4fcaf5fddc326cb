"""The Genesys planner: from the read model and the wanted state to the ordered changes."""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from byoc.domain.number_ranges import BY_START, NumberRanges, Span, SpanIndex, span_numbers, span_text
from byoc.domain.plan import Action, Change
from byoc.ports import GenesysDidPool, GenesysIvr, GenesysUser
from byoc.services.genesys_model import (
    IVR_KIND,
    MAX_POOL_SIZE,
    POOL_DESCRIPTION,
    POOL_KIND,
    SHARD_KIND,
    TARGET,
    USER_KIND,
    GenesysDesired,
    GenesysState,
    Holder,
    PoolSpan,
    owned,
    preview,
    range_key,
)
from byoc.services.genesys_outbound_plan import GenesysOutboundPlanner
from byoc.services.genesys_payloads import (
    IvrNumbers,
    IvrRead,
    NewPool,
    PoolRange,
    ShardLike,
    ShardRef,
    UserNumbers,
    UserRead,
)
from byoc.services.genesys_plan_rules import (
    Analysis,
    Responsible,
    change_order,
    grow,
    held_now,
    holdings,
    numbers_outside,
    one_work_phone_per_user,
    pool_bounds,
    span_pool,
    unseen_holders,
    wanted_holders,
)
from byoc.services.genesys_shards import spread


class GenesysPlanner:
    """Plans pools, routing and the outbound route; builds the change each write makes (for the
    full sync and the slice sync alike)."""

    target = TARGET

    def __init__(self, outbound: GenesysOutboundPlanner) -> None:
        self._outbound = outbound

    def analyse(self, actual: GenesysState, desired: GenesysDesired) -> Analysis:
        """Every change, in write order, with the conflicts, notes and unroutable numbers."""
        out = Analysis()
        pools = [p for p in actual.pools if p.state != "deleted"]
        mine = sorted((Span.of(p.start, p.end, p) for p in pools if owned(p.description)),
                      key=BY_START)
        foreign_pools = [p for p in pools if not owned(p.description)]
        foreign_spans = [Span.of(p.start, p.end, p) for p in foreign_pools]
        foreign = SpanIndex(foreign_spans)

        present = NumberRanges.of_numbers(desired.numbers)
        kept: list[PoolSpan] = []
        dropped: list[PoolSpan] = []
        claimed: list[PoolSpan] = []
        # width -> the highest number claimed so far (`mine` is sorted: a pool can only overlap
        # an earlier one that reaches that far)
        reach: dict[int, int] = {}
        for span in mine:
            pool = span_pool(span)
            twin = None
            if reach.get(span.width, -1) >= span.low:
                twin = next((s.pool for s in claimed if s.overlaps(span)), None)
            if twin is not None:
                out.conflicts.append(
                    f"byoc's DID pools {range_key(pool)} (id {pool.id}) and {range_key(twin)} "
                    f"(id {twin.id}) overlap (a replayed create?); byoc leaves {pool.id} alone: "
                    "delete the duplicate by hand")
                continue
            claimed.append(span)
            reach[span.width] = max(reach.get(span.width, -1), span.high)
            bounds = present.bounds_within(span)
            if bounds is None:
                dropped.append(span)
                continue
            # The pool keeps its identity: its ends move in to its first and last present
            # numbers (a PUT); a gap inside stays in it (splitting would take the numbers on one
            # side out of every pool until the new pool exists).
            kept.append(Span(span.width, *bounds, span.pool))
            for clash in foreign.overlapping(span):
                assert clash.pool is not None
                out.conflicts.append(
                    f"byoc's DID pool {range_key(pool)} (id {pool.id}) overlaps foreign pool "
                    f"{clash.pool.name!r} ({range_key(clash.pool)}, id {clash.pool.id}); byoc "
                    "changes neither: remove the overlap by hand")

        pool_user_ids = self._unassignable(actual, dropped, kept, desired.numbers, out)

        kept_ranges = NumberRanges.of_spans(kept)
        foreign_ranges = NumberRanges.of_spans(foreign_spans)
        in_foreign = (present - kept_ranges) & foreign_ranges  # covered by a foreign pool
        needed = present - in_foreign
        # Runs of numbers no pool covers: they touch no foreign pool, so new pools overlap none.
        # A run next to a pool of byoc's grows that pool in place; the others get new pools.
        uncovered, kept = grow(needed - kept_ranges, kept)
        new_spans = [
            Span(whole.width, low, min(low + MAX_POOL_SIZE - 1, whole.high))
            for whole in uncovered
            for low in range(whole.low, whole.high + 1, MAX_POOL_SIZE)
        ]
        resized = [s for s in kept if (s.low, s.high) != pool_bounds(span_pool(s))]
        grown = [n for s in resized
                 for n in numbers_outside(s, Span.of(span_pool(s).start, span_pool(s).end))]
        for span in kept:
            if holes := span.size - present.count_within(span):
                pool = span_pool(span)
                out.notes.append(
                    f"byoc's DID pool {range_key(pool)} keeps {holes} number(s) byoc no longer "
                    "manages between its first and last managed numbers: splitting it would "
                    "leave the numbers on one side in no pool until the new pool exists")

        owned_ranges = NumberRanges.of_spans(mine)
        responsible = Responsible(desired, owned_ranges)
        out.numbers_before = len(owned_ranges) + len((present - owned_ranges) & foreign_ranges) + sum(
            1 for n in desired.releasing - desired.numbers
            if n not in owned_ranges and n in foreign_ranges)

        # A new pool overlapping a pool that goes can only be created after the deletion; its
        # numbers are routed after that too. Every other new pool is created first.
        dropped_ranges = NumberRanges.of_spans(dropped)
        dropped_numbers = {n for span in dropped for n in span_numbers(span)}
        late_spans = [s for s in new_spans if dropped_ranges.touches(s)]
        early_spans = [s for s in new_spans if not dropped_ranges.touches(s)]
        late_numbers = {n for s in late_spans for n in span_numbers(s)} | dropped_numbers
        late_numbers.update(grown)  # routed once their pool has grown
        # what the pools that stay hold now (a pool's growth is not in it yet)
        lasting = SpanIndex([*(held_now(s) for s in kept), *foreign_spans])
        early, late = self._routing(
            actual, desired, responsible, dropped_numbers, late_numbers, pool_user_ids, lasting,
            out)

        deletions = [self.pool_removal(span_pool(span), needed) for span in dropped]
        out.changes = [
            *(self.pool_creation(s) for s in early_spans),
            *early,
            *(self.pool_resize(s) for s in resized),
            *deletions,
            *(self.pool_creation(s) for s in late_spans),
            *late,
            *self._outbound.changes(actual, desired, out),
        ]
        self._pool_notes(foreign_pools, in_foreign, out)
        return out

    def pool_removal(self, pool: GenesysDidPool, needed: NumberRanges) -> Change:
        span: PoolSpan = Span.of(pool.start, pool.end)
        stays = needed.count_within(span)
        summary = (
            f"no longer wanted ({span.size} numbers)" if not stays
            else f"range changes: deleted and created again around the {stays} number(s) "
            "that stay (unrouted first, routed again after)")
        return Change(
            target=self.target, action=Action.REMOVE, kind=POOL_KIND, key=range_key(pool),
            summary=summary,
            before=PoolRange.of(pool),
            numbers_removed=tuple(span_numbers(span)),
        )

    def pool_resize(self, span: PoolSpan) -> Change:
        pool = span_pool(span)
        first, last = span_text(span.width, span.low), span_text(span.width, span.high)
        old: PoolSpan = Span.of(pool.start, pool.end)
        added, removed = numbers_outside(span, old), numbers_outside(old, span)
        parts = [f"{pool.start}-{pool.end} -> {first}-{last} in place"]
        if added:
            parts.append(f"grows by {len(added)}: {preview(added)}")
        if removed:
            parts.append(f"lets go of {len(removed)} (unrouted first): {preview(removed)}")
        return Change(
            target=self.target, action=Action.UPDATE, kind=POOL_KIND, key=range_key(pool),
            summary="; ".join(parts),
            before=PoolRange.of(pool),
            after=PoolRange(pool.id, first, last, f"byoc {first}-{last}", pool.description),
            numbers_added=tuple(added), numbers_removed=tuple(removed),
        )

    def pool_creation(self, span: PoolSpan) -> Change:
        first, last = span_text(span.width, span.low), span_text(span.width, span.high)
        return Change(
            target=self.target, action=Action.ADD, kind=POOL_KIND, key=f"{first}-{last}",
            summary=f"{span.size} number(s)",
            after=NewPool(first, last, f"byoc {first}-{last}", POOL_DESCRIPTION),
            numbers_added=tuple(span_numbers(span)),
        )

    def _unassignable(
        self,
        actual: GenesysState,
        dropped: list[PoolSpan],
        kept: list[PoolSpan],
        present: AbstractSet[str],
        out: Analysis,
    ) -> set[str]:
        """Read who holds the numbers of the pools that must go or shrink (only those the pool
        lets go of). A pool holding such a number byoc cannot unassign (a phone, a group, an IVR
        it cannot see) stays as it is, reported; returns the ids of users holding the others
        (they are unrouted first)."""
        ivr_ids = {i.id for i in actual.ivrs}
        user_ids: set[str] = set()
        shrinking = [s for s in kept
                     if (s.low, s.high) != pool_bounds(span_pool(s))]
        for span in [*dropped, *shrinking]:
            pool = span_pool(span)
            going = span in dropped
            dids = [d for d in actual.dids.of(pool)
                    if going or not span.low <= int(d.number[1:]) <= span.high]
            stuck = [d for d in dids if d.owner_type != "USER"
                     and not (d.owner_type == "IVR_CONFIG" and d.owner_id in ivr_ids)]
            if not stuck:
                user_ids |= {d.owner_id for d in dids if d.owner_type == "USER"}
                continue
            whole = Span.of(pool.start, pool.end, pool)
            if going:
                dropped.remove(span)
            else:
                kept.remove(span)
            kept.append(whole)
            first = stuck[0]
            why = (f"{first.number} in it is assigned to {first.owner_type} "
                   f"{first.owner_name or first.owner_id!r}, which byoc does not unassign")
            out.conflicts.append(
                f"byoc's DID pool {range_key(pool)} (id {pool.id}) must shrink or go, but {why}; "
                "unassign it by hand")
            for number in span_numbers(whole):
                if number not in present:
                    out.stuck[number] = f"still in DID pool {range_key(pool)}: {why}"
        return user_ids

    def _routing(
        self,
        actual: GenesysState,
        desired: GenesysDesired,
        responsible: Responsible,
        dropped_numbers: set[str],
        late_numbers: set[str],
        pool_user_ids: set[str],
        lasting: SpanIndex[GenesysDidPool],
        out: Analysis,
    ) -> tuple[list[Change], list[Change]]:
        """Routing changes in two rounds. The early round (before pool deletions) takes every
        number from where it must not stay and adds what can be added at once; the late round
        adds numbers that first had to leave another holder or wait for a recreated pool."""
        emails = {name for kind, name in desired.routes if kind == "user" and name}
        users = actual.users.lookup({*emails, *desired.user_hints})
        users.update(actual.users.lookup_ids(pool_user_ids))
        held = holdings(actual.ivrs, users.values(), responsible)
        wanted = wanted_holders(actual.ivrs, users, desired, out)
        one_work_phone_per_user(wanted, users, responsible, out)
        shards = spread(actual.ivrs, wanted, held, allow=desired.ivr_shards)
        out.conflicts.extend(shards.conflicts)
        out.unroutable.update(shards.unroutable)
        unseen = unseen_holders(actual, wanted, held, responsible, lasting, out)
        if unseen - {u.id for u in users.values()}:
            users.update(actual.users.lookup_ids(unseen))
            held = holdings(actual.ivrs, users.values(), responsible)

        # Per holder, as sets: what it must give up, and what it must get now or after the
        # pools change (a number held elsewhere first leaves its holder; a number in a pool
        # that is recreated is unrouted and routed again).
        unroutable = out.unroutable.keys()
        remove: dict[Holder, list[str]] = {}
        add_early: dict[Holder, list[str]] = {}
        add_late: dict[Holder, list[str]] = {}
        for holder in {*held, *wanted}:
            has, goal = held.get(holder, set()), wanted.get(holder, set())
            recreated = goal & dropped_numbers
            gone = (has - goal) | (has & recreated)
            gone.difference_update(unroutable)
            if gone:
                remove[holder] = sorted(gone)
            add = (goal - has) | recreated
            add.difference_update(unroutable)
            # (set & set walks the smaller one: cheap while few numbers move)
            late = (add & late_numbers).union(*(add & numbers for numbers in held.values()))
            if late:
                add_late[holder] = sorted(late)
            if early := add - late:
                add_early[holder] = sorted(early)

        ivrs = {i.id: i for i in actual.ivrs} | shards.placeholders
        by_id = {u.id: u for u in users.values()}
        per_put = max(1, desired.numbers_per_put)
        early_changes: list[Change] = []
        for holder in {*remove, *add_early}:
            gone_list, added = remove.get(holder, []), add_early.get(holder, [])
            if holder[0] == "ivr":
                early_changes.append(self.ivr_change(ivrs[holder[1]], gone_list, added, per_put))
            else:
                early_changes.append(self.user_change(by_id[holder[1]], gone_list, added))
        late_changes: list[Change] = []
        for holder, added in add_late.items():
            if holder[0] == "ivr":
                late_changes.append(self.ivr_change(ivrs[holder[1]], [], added, per_put))
            else:
                late_changes.append(self.user_change(by_id[holder[1]], [], added))
        return (
            [*(self.shard_change(Action.ADD, new, like) for new, like in shards.create),
             *(self.shard_change(Action.UPDATE, shard, like) for shard, like in shards.fix),
             *sorted(early_changes, key=change_order)],
            [*sorted(late_changes, key=change_order),
             *(self.shard_change(Action.REMOVE, shard, None) for shard in shards.delete)],
        )

    def shard_change(self, action: Action, ivr: GenesysIvr, like: GenesysIvr | None) -> Change:
        summary = {Action.ADD: f"created for the numbers of {like.name if like else ''!r} past "
                               "one request's size limit",
                   Action.UPDATE: f"given the flows of {like.name if like else ''!r}",
                   Action.REMOVE: "no longer needed: its IVR's numbers fit in fewer IVRs"}[action]
        ref = ShardRef(ivr.id, ivr.name, ivr.description)
        return Change(
            target=self.target, action=action, kind=SHARD_KIND, key=ivr.name, summary=summary,
            before=None if action is Action.ADD else ref,
            after=None if like is None else ShardLike(ref, like.id))

    def ivr_change(
        self, ivr: GenesysIvr, remove: list[str], add: list[str], per_put: int
    ) -> Change:
        parts = []
        if remove:
            parts.append(f"remove {len(remove)} number(s): {preview(remove)}")
        if add:
            writes = -(-len(add) // per_put)
            parts.append(f"add {len(add)} number(s) in {writes} write(s) of at most {per_put}: "
                         f"{preview(add)}")
        return Change(
            target=self.target, action=Action.UPDATE, kind=IVR_KIND, key=ivr.name,
            summary="; ".join(parts),
            before=IvrRead(ivr.id, ivr.version, len(ivr.dnis)),
            after=IvrNumbers(ivr.id, tuple(remove), tuple(add), per_put),
            numbers_added=tuple(add), numbers_removed=tuple(remove),
        )

    def user_change(self, user: GenesysUser, remove: list[str], add: list[str]) -> Change:
        work = add[0] if add else None
        parts = [f"remove phone {preview(remove)}"] if remove else []
        if work:
            parts.append(f"work phone {work}")
        return Change(
            target=self.target, action=Action.UPDATE, kind=USER_KIND, key=user.email,
            summary="; ".join(parts),
            before=UserRead(user.id, user.version, tuple(user.phones())),
            after=UserNumbers(user.id, tuple(remove), work),
            numbers_added=tuple(add[:1]), numbers_removed=tuple(remove),
        )

    def _pool_notes(
        self, foreign_pools: list[GenesysDidPool], in_foreign: NumberRanges, out: Analysis
    ) -> None:
        for pool in sorted(foreign_pools, key=lambda p: p.id):
            count = in_foreign.count_within(Span.of(pool.start, pool.end))
            if count:
                out.notes.append(
                    f"{count} managed number(s) lie in foreign DID pool {pool.name!r} "
                    f"({range_key(pool)}); it covers them, byoc adds no pool of its own")
