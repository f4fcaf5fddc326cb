"""Genesys Architect IVRs (`/architect/ivrs`): DNIS lists, shards, routing."""

from __future__ import annotations

import json
import logging
import re
from functools import partial
from typing import Any

from byoc.adapters.genesys_client import PAGE_SIZE, VERSION_ATTEMPTS, GenesysClient
from byoc.adapters.genesys_errors import GenesysNotFound, GenesysRequestTooLarge, GenesysVersionConflict
from byoc.ports import (
    GenesysError,
    GenesysIvr,
)

log = logging.getLogger("byoc.genesys")


REQUEST_BYTES_MAX = 512_000
"""Genesys's `request.bytes.max` organization limit: the largest request body it accepts."""


class Ivrs(GenesysClient):
    """Architect IVRs."""

    def find_ivrs(self, name: str) -> list[GenesysIvr]:
        """`GET /architect/ivrs?name=<name>*`: the IVR and its shards (`<name> [byoc N]`), and
        nothing else that merely starts with the name."""
        architect = self._apis().architect
        models = self._pages(f"find IVR {name!r}", lambda page: architect.get_architect_ivrs(
            page_size=PAGE_SIZE, page_number=page, name=f"{name}*"))
        wanted = name.casefold()
        return [ivr for ivr in map(_ivr, models)
                if (folded := ivr.name.casefold()) == wanted
                or (folded.startswith(wanted) and _SHARD_NAME.fullmatch(folded[len(wanted):]))]

    def list_ivrs(self) -> list[GenesysIvr]:
        architect = self._apis().architect
        models = self._pages("list IVRs", lambda page: architect.get_architect_ivrs(
            page_size=PAGE_SIZE, page_number=page))
        return [_ivr(m) for m in models]

    def get_ivr(self, ivr_id: str) -> GenesysIvr:
        architect = self._apis().architect
        return _ivr(self._call(f"read IVR {ivr_id}", architect.get_architect_ivr, ivr_id))

    def update_ivr_dnis(
        self, ivr: GenesysIvr, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
    ) -> GenesysIvr:
        architect = self._apis().architect
        gone = set(remove)
        current = ivr
        what = f"update IVR {ivr.name!r}"
        for _ in range(VERSION_ATTEMPTS):
            kept = [n for n in current.dnis if n not in gone]
            have = set(kept)
            dnis = kept + [n for n in dict.fromkeys(add) if n not in have]
            if dnis == list(current.dnis):
                return current
            model = current.handle if current.handle is not None else self._ivr_model(current.id)
            model.dnis, model.version = dnis, current.version
            self._fits(what, model)
            try:
                saved = self._settling(
                    what, partial(self._write, what, architect.put_architect_ivr, ivr.id, model))
                return _ivr(saved)
            except GenesysVersionConflict:
                log.info("IVR changed meanwhile; re-reading", extra={
                    "event": "genesys.version_conflict", "ivr": ivr.name})
                current = self.get_ivr(ivr.id)
        raise GenesysVersionConflict(
            f"IVR {ivr.name!r} kept changing under byoc ({VERSION_ATTEMPTS} version conflicts in a "
            "row); someone or something else is editing it. The next sync retries")

    def _fits(self, what: str, model: Any) -> None:
        """Refuse to send a body over Genesys's `request.bytes.max` (sized as the SDK encodes
        it): the API would refuse it whatever byoc did next."""
        apis = self._apis()
        size = len(json.dumps(apis.client.sanitize_for_serialization(model)).encode("utf-8"))
        if size > REQUEST_BYTES_MAX:
            raise GenesysRequestTooLarge(
                f"byoc did not {what}: the request would be {size:,} bytes and Genesys accepts "
                f"at most {REQUEST_BYTES_MAX:,} (request.bytes.max). Spread the numbers over "
                "more IVRs (docs/genesys.md, \"Large IVRs\")", status=413)

    def create_ivr(self, like: GenesysIvr, *, name: str, description: str) -> GenesysIvr:
        """POST an IVR with no numbers and `like`'s flows and schedule group; after a failure,
        an IVR of that name and description found by a read is the one created."""
        apis = self._apis()
        source = like.handle if like.handle is not None else self._ivr_model(like.id)
        body = apis.G.IVR()
        body.name, body.description, body.dnis = name, description, []
        _copy_routing(apis.G, body, source)
        what = f"create IVR {name!r} (numbers of {like.name!r})"
        try:
            return _ivr(self._call(what, apis.architect.post_architect_ivrs, body))
        except GenesysError:
            found = [i for i in self.list_ivrs() if i.name == name]
            if found and found[0].description == description:
                return found[0]
            raise

    def update_ivr_routing(self, ivr: GenesysIvr, like: GenesysIvr) -> GenesysIvr:
        architect = self._apis().architect
        source = like.handle if like.handle is not None else self._ivr_model(like.id)
        current = ivr
        what = f"give IVR {ivr.name!r} the flows of {like.name!r}"
        for _ in range(VERSION_ATTEMPTS):
            model = current.handle if current.handle is not None else self._ivr_model(current.id)
            _copy_routing(self._apis().G, model, source)
            model.version = current.version
            try:
                return _ivr(self._write(what, architect.put_architect_ivr, ivr.id, model))
            except GenesysVersionConflict:
                current = self.get_ivr(ivr.id)
        raise GenesysVersionConflict(
            f"IVR {ivr.name!r} kept changing under byoc ({VERSION_ATTEMPTS} version conflicts in a "
            "row); the next sync retries")

    def delete_ivr(self, ivr: GenesysIvr) -> None:
        architect = self._apis().architect
        try:
            self._call(f"delete IVR {ivr.name!r}", architect.delete_architect_ivr, ivr.id)
        except GenesysNotFound:
            return

    def _ivr_model(self, ivr_id: str) -> Any:
        architect = self._apis().architect
        return self._call(f"read IVR {ivr_id}", architect.get_architect_ivr, ivr_id)


_SHARD_NAME = re.compile(r" \[byoc \d{1,4}\]")


def _ivr(model: Any) -> GenesysIvr:
    return GenesysIvr(
        id=str(model.id),
        name=str(model.name or ""),
        version=int(model.version or 0),
        dnis=tuple(model.dnis or ()),
        handle=model,
        description=str(model.description or ""),
        routing=tuple(str(ref.id) if ref is not None and ref.id else "" for ref in (
            model.open_hours_flow, model.closed_hours_flow, model.holiday_hours_flow,
            model.schedule_group)),
    )


_IVR_ROUTING = ("open_hours_flow", "closed_hours_flow", "holiday_hours_flow", "schedule_group")


def _copy_routing(G: Any, model: Any, like: Any) -> None:  # noqa: N803
    for attribute in _IVR_ROUTING:
        found = getattr(like, attribute)
        ref = None
        if found is not None and found.id:
            ref = G.DomainEntityRef()
            ref.id = found.id
        setattr(model, attribute, ref)
