"""Genesys telephony DID pools and their numbers (`/telephony/providers/edges/didpools`, `/dids`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from byoc.adapters.genesys_client import MAX_PAGES, PAGE_SIZE, VERSION_ATTEMPTS, GenesysClient
from byoc.adapters.genesys_errors import (
    DidPoolOverlap,
    GenesysAuthError,
    GenesysNotFound,
    GenesysPermissionDenied,
    GenesysRateLimited,
    GenesysUnavailable,
    GenesysVersionConflict,
)
from byoc.adapters.genesys_session import BACKOFF
from byoc.domain.number_ranges import Span
from byoc.ports import (
    GenesysDid,
    GenesysDidPool,
    GenesysError,
    GenesysPoolNumber,
    GenesysPoolRangeRefused,
)

log = logging.getLogger("byoc.genesys")


POOL_DELETE_DELAYS_S = (1.0, 3.0, 5.0)
POOL_DELETE_SHOW_DELAYS_S = (1.0, 2.0, 3.0, 5.0, 8.0, 13.0)
"""Waits for a pool byoc deleted to stop blocking an overlapping create (about 32 s in all)."""
POOL_DELETE_SHOW_S = 300.0
"""How long after byoc deleted a pool an overlap with it is taken for a deletion not shown yet."""


class DidPools(GenesysClient):
    """DID pools and the numbers they hold."""

    def list_did_pools(self) -> list[GenesysDidPool]:
        """Every DID pool of the org (deleted ones included, with state "deleted")."""
        edges = self._apis().edges
        models = self._pages("list DID pools", lambda page: edges.get_telephony_providers_edges_didpools(
            page_size=PAGE_SIZE, page_number=page, sort_by="number"))
        self._pool_fields = {}  # a whole listing: pools no longer listed are forgotten
        # a pool byoc deleted moments ago may still read as active: it is gone all the same
        gone = {i for i, at in self._deleted.items() if self._clock() - at < POOL_DELETE_SHOW_S}
        return [replace(p, state="deleted") if p.id in gone else p
                for p in map(self._kept, models)]

    def _kept(self, model: Any) -> GenesysDidPool:
        """The pool, its version and the fields a PUT must carry back remembered."""
        self._pool_fields[str(model.id)] = (model.version, model.comments, model.provider)
        return _pool(model)

    def read_did_pool_state(self, pool_id: str) -> str | None:
        """The pool's state as Genesys reports it now (`active`, `deleted`; None: not found), not
        corrected by byoc's memory of the pools it deleted (`byoc doctor` tells the lag by it)."""
        edges = self._apis().edges
        try:
            model = self._call(f"read DID pool {pool_id}",
                               edges.get_telephony_providers_edges_didpool, pool_id)
        except GenesysNotFound:
            return None
        return str(model.state or "active")

    def create_did_pool(
        self, start: str, end: str, *, name: str, description: str
    ) -> GenesysDidPool:
        """Create the pool; after a failure, find it by range before creating it again."""
        apis = self._apis()
        body = apis.G.DIDPool()
        body.start_phone_number, body.end_phone_number = start, end
        body.name, body.description = name, description
        body.provider = "PURE_CLOUD"
        what = f"create DID pool {start}-{end}"
        self._deletion_waits.pop((start, end), None)
        attempt = 0
        while attempt < 3:
            try:
                created = self._call(what, apis.edges.post_telephony_providers_edges_didpools, body)
                return self._kept(created)
            except GenesysError as exc:
                landed = self._pool_by_range(start, end)
                if (landed is not None and landed.description == description
                        and landed.id not in self._deleted):
                    log.info("DID pool create was replayed; the pool exists", extra={
                        "event": "genesys.pool_found", "start": start, "end": end})
                    return landed
                if isinstance(exc, DidPoolOverlap) and self._deletion_pending(start, end):
                    continue
                if isinstance(exc, DidPoolOverlap):
                    raise DidPoolOverlap(
                        f"DID pool {start}-{end} overlaps an existing pool; not created. "
                        f"{exc}", status=exc.status, code=exc.code) from None
                if not isinstance(exc, GenesysRateLimited | GenesysUnavailable) or attempt == 2:
                    raise
                self._retry_sleep(BACKOFF.delay(attempt + 1))
                attempt += 1
        raise AssertionError("unreachable")

    def _deletion_pending(self, start: str, end: str) -> bool:
        """Whether the pools in the way of `start`-`end` are all ones byoc deleted moments ago
        (a deletion may show late); if so, waits a little so the caller can try again."""
        now = self._clock()
        recent = {i for i, at in self._deleted.items() if now - at < POOL_DELETE_SHOW_S}
        waited = self._deletion_waits.get((start, end), 0)
        if not recent or waited >= len(POOL_DELETE_SHOW_DELAYS_S):
            return False
        wanted: Span[None] = Span.of(start, end)
        in_way = [p for p in self.list_did_pools() if (p.state != "deleted" or p.id in recent)
                  and Span.of(p.start, p.end).overlaps(wanted)]
        if not in_way or any(p.id not in recent for p in in_way):
            return False
        delay = POOL_DELETE_SHOW_DELAYS_S[waited]
        self._deletion_waits[(start, end)] = waited + 1
        log.info("a deleted DID pool still shows; waiting before creating the new one", extra={
            "event": "genesys.pool_delete_pending", "start": start, "end": end,
            "delay_s": delay})
        self._sleep(delay)
        return True

    def _pool_by_range(self, start: str, end: str) -> GenesysDidPool | None:
        for pool in self.list_did_pools():
            if pool.state != "deleted" and (pool.start, pool.end) == (start, end):
                return pool
        return None

    def resize_did_pool(
        self, pool: GenesysDidPool, start: str, end: str, *, name: str
    ) -> GenesysDidPool:
        """PUT the pool with a new range, every other field as read (the SDK's
        `put_telephony_providers_edges_didpool`; Terraform changes ranges in place since PR #926).
        A 409 with the pool's version unchanged, or a 400 other than an overlap, is a refusal."""
        edges = self._apis().edges
        what = f"change DID pool {pool.start}-{pool.end} (id {pool.id}) to {start}-{end}"
        known = self._pool_fields.pop(pool.id, None)
        for _ in range(VERSION_ATTEMPTS):
            if known is not None:  # as last read or written: no read first
                model = self._apis().G.DIDPool()
                model.version, model.comments = known[0], known[1]
                if known[2] in ("PURE_CLOUD", "PURE_CLOUD_VOICE"):
                    model.provider = known[2]
                model.description, known = pool.description, None
            else:
                try:
                    model = self._call(f"read DID pool {pool.id}",
                                       edges.get_telephony_providers_edges_didpool, pool.id)
                except GenesysNotFound:
                    self._deleted[pool.id] = self._clock()
                    raise
            if str(model.state or "active") == "deleted":
                self._deleted[pool.id] = self._clock()
                raise GenesysNotFound(f"Genesys refused to {what}: the pool was deleted",
                                      status=404)
            version = model.version
            model.start_phone_number, model.end_phone_number, model.name = start, end, name
            try:
                return self._kept(self._write(
                    what, edges.put_telephony_providers_edges_didpool, pool.id, model))
            except GenesysVersionConflict as exc:
                again = self._call(f"read DID pool {pool.id}",
                                   edges.get_telephony_providers_edges_didpool, pool.id)
                if again.version == version:
                    raise GenesysPoolRangeRefused(str(exc), status=exc.status,
                                                  code=exc.code) from None
            except GenesysNotFound:
                self._deleted[pool.id] = self._clock()
                raise
            except (DidPoolOverlap, GenesysRateLimited, GenesysUnavailable, GenesysAuthError,
                    GenesysPermissionDenied):
                raise
            except GenesysError as exc:
                if exc.status not in (400, 409, 422):
                    raise
                raise GenesysPoolRangeRefused(str(exc), status=exc.status,
                                              code=exc.code) from None
        raise GenesysVersionConflict(
            f"DID pool {pool.start}-{pool.end} kept changing under byoc ({VERSION_ATTEMPTS} "
            "version conflicts in a row); the next sync retries")

    def delete_did_pool(self, pool: GenesysDidPool) -> None:
        """Delete the pool; a 409 (numbers still assigned) is retried while unassignments settle."""
        edges = self._apis().edges
        what = f"delete DID pool {pool.start}-{pool.end} (id {pool.id})"
        for delay in (*POOL_DELETE_DELAYS_S, None):
            try:
                self._call(what, edges.delete_telephony_providers_edges_didpool, pool.id)
                self._deleted[pool.id] = self._clock()
                return
            except GenesysNotFound:
                self._deleted[pool.id] = self._clock()
                return
            except GenesysError as exc:
                if exc.status != 409 or delay is None:
                    raise
                self._sleep(delay)

    def list_pool_dids(self, pool: GenesysDidPool) -> list[GenesysDid]:
        """`GET /dids?didPool.id=`: only assigned numbers are DIDs, so this reads what holds them."""
        edges = self._apis().edges
        models = self._pages(
            f"list the assigned numbers of DID pool {pool.start}-{pool.end}",
            lambda page: edges.get_telephony_providers_edges_dids(
                did_pool_id=pool.id, page_size=PAGE_SIZE, page_number=page))
        return [
            GenesysDid(
                number=str(m.phone_number),
                owner_type=str(m.owner_type or ""),
                owner_id=str(m.owner.id) if m.owner else "",
                owner_name=str(m.owner.name or "") if m.owner else "",
            )
            for m in models
        ]

    def find_pool_numbers(self, numbers: Iterable[str]) -> list[GenesysPoolNumber]:
        """`GET /didpools/dids?type=ASSIGNED_AND_UNASSIGNED&numberMatch=<number>`, one lookup per
        number, keeping only the entry that is the number itself. UNVERIFIED on a real tenant
        (docs/verify-on-a-real-tenant.md, sandbox variant `dids_number_match`): whether
        `numberMatch` matches the whole number, its start or any part; an exact comparison here
        makes every reading give the same answer (a broader match only costs more pages)."""
        edges = self._apis().edges
        found: list[GenesysPoolNumber] = []
        for number in dict.fromkeys(numbers):
            for page in range(1, MAX_PAGES + 1):
                listing = self._call(
                    f"look up pool number {number}", edges.get_telephony_providers_edges_didpools_dids,
                    "ASSIGNED_AND_UNASSIGNED", number_match=number, page_size=PAGE_SIZE,
                    page_number=page)
                entities = list(listing.entities or [])
                hit = next((m for m in entities if _same_number(m.number, number)), None)
                if hit is not None:
                    found.append(GenesysPoolNumber(
                        number=number,
                        pool_id=str(hit.did_pool.id) if hit.did_pool else "",
                        assigned=bool(hit.assigned),
                        owner_type=str(hit.owner_type or "") if hit.assigned else "",
                        owner_id=str(hit.owner.id) if hit.assigned and hit.owner else "",
                    ))
                    break
                page_count = getattr(listing, "page_count", None)
                if len(entities) < PAGE_SIZE or (page_count is not None and page >= page_count):
                    break
        return found

    def match_pool_numbers(self, text: str) -> list[str]:
        """`GET /didpools/dids?type=ASSIGNED_AND_UNASSIGNED&numberMatch=<text>`, first page."""
        edges = self._apis().edges
        listing = self._call(
            f"match pool numbers to {text!r}", edges.get_telephony_providers_edges_didpools_dids,
            "ASSIGNED_AND_UNASSIGNED", number_match=text, page_size=PAGE_SIZE, page_number=1)
        return [str(m.number) for m in listing.entities or []]

    def count_did_pools(self) -> int:
        """`GET /didpools?pageSize=1`: the listing's `total`."""
        edges = self._apis().edges
        listing = self._call("count DID pools", edges.get_telephony_providers_edges_didpools,
                             page_size=1, page_number=1)
        return int(listing.total or 0)

    def read_did_pools(self, pool_ids: Iterable[str]) -> list[GenesysDidPool]:
        """`GET /didpools?id=...`, 100 ids a request."""
        edges = self._apis().edges
        ids = sorted(set(pool_ids))
        pools: list[GenesysDidPool] = []
        for first in range(0, len(ids), PAGE_SIZE):
            batch = ids[first:first + PAGE_SIZE]
            listing = self._call(
                f"read {len(batch)} DID pool(s)", edges.get_telephony_providers_edges_didpools,
                page_size=PAGE_SIZE, page_number=1, id=batch)
            pools.extend(map(self._kept, listing.entities or []))
        gone = {i for i, at in self._deleted.items() if self._clock() - at < POOL_DELETE_SHOW_S}
        return [replace(p, state="deleted") if p.id in gone else p for p in pools]


def _same_number(listed: Any, number: str) -> bool:
    return str(listed or "").lstrip("+") == number.lstrip("+")


def _pool(model: Any) -> GenesysDidPool:
    return GenesysDidPool(
        id=str(model.id),
        start=str(model.start_phone_number),
        end=str(model.end_phone_number),
        name=str(model.name or ""),
        description=str(model.description or ""),
        state=str(model.state or "active"),
    )
