"""Genesys Cloud wire conventions: error bodies, entity listings and paging, E.164, timestamps.

Everything here is what the Platform API looks like on the wire (camelCase JSON, `ErrorBody`,
`*EntityListing` envelopes), independent of any one resource.
"""

from __future__ import annotations

import math
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
DEFAULT_PAGE_SIZE = 25
ID_NAMESPACE = uuid.UUID("6f1d2f3e-5b1c-4e4a-9a57-0b7c1e2d3f40")


def stable_id(kind: str, name: str) -> str:
    """A deterministic id for a seeded entity, so ids survive `reset()`."""
    return str(uuid.uuid5(ID_NAMESPACE, f"{kind}:{name}"))


def iso_time(epoch_s: float) -> str:
    """Genesys timestamps: ISO 8601 UTC with milliseconds and a `Z`."""
    whole = time.gmtime(epoch_s)
    millis = int((epoch_s - math.floor(epoch_s)) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", whole) + f".{millis:03d}Z"


def is_e164(value: object) -> bool:
    return isinstance(value, str) and bool(E164.match(value))


@dataclass
class GenesysError(Exception):
    """An API refusal, rendered as the Platform API's `ErrorBody`."""

    status: int
    code: str
    message: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "code": self.code,
            "status": self.status,
            "messageWithParams": self.message,
            "messageParams": dict(self.params),
            "contextId": str(uuid.uuid4()),
            "details": [],
            "errors": [],
        }


def bad_request(message: str, code: str = "bad.request", **params: str) -> GenesysError:
    return GenesysError(400, code, message, params)


def invalid_value(field_name: str, value: object, expected: str) -> GenesysError:
    return GenesysError(
        400,
        "invalid.value",
        f"Value [{value}] is not valid for field [{field_name}]. {expected}",
        {"field": field_name, "value": str(value)},
    )


def not_found(kind: str, entity_id: str) -> GenesysError:
    return GenesysError(
        404, "not.found", f"Unable to find a {kind} with id {entity_id}", {"id": entity_id}
    )


def conflict(message: str, code: str = "general.conflict", **params: str) -> GenesysError:
    return GenesysError(409, code, message, params)


def version_mismatch(
    status: int, kind: str, supplied: object, current: int, *, names_version: bool = True
) -> GenesysError:
    """A stale `version`: 409 or 400 with "does not match the current version", or (a 409 whose
    text does not say why, `names_version=False`) a bare conflict: Terraform's
    `IsVersionMismatch` retries any 409, which only makes sense if some say nothing of versions."""
    if not names_version and status == 409:
        return GenesysError(
            409, "general.conflict",
            f"The {kind} could not be saved: it conflicts with a concurrent change.", {})
    return GenesysError(
        status,
        "general.conflict" if status == 409 else "bad.request",
        f"The {kind} version [{supplied}] does not match the current version [{current}].",
        {"supplied": str(supplied), "current": str(current)},
    )


class QueryArgs:
    """Typed access to query parameters, refusing malformed values like the API does."""

    def __init__(self, params: QueryParams) -> None:
        self.params = params

    def text(self, name: str) -> str | None:
        value = self.params.get(name)
        return value if value not in (None, "") else None

    def integer(self, name: str, default: int) -> int:
        raw = self.params.get(name)
        if raw in (None, ""):
            return default
        try:
            return int(str(raw))
        except ValueError:
            raise invalid_value(name, raw, "Expected an integer.") from None

    def boolean(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None
        if raw.lower() not in ("true", "false"):
            raise invalid_value(name, raw, "Expected true or false.")
        return raw.lower() == "true"

    def items(self, name: str) -> list[str]:
        """A list parameter: repeated (`id=a&id=b`) or comma-joined (`id=a,b`, as the SDK sends)."""
        out: list[str] = []
        for raw in self.params.getlist(name):
            out.extend(part.strip() for part in raw.split(",") if part.strip())
        return out


@dataclass(frozen=True)
class PageRequest:
    size: int
    number: int

    @property
    def start(self) -> int:
        return (self.number - 1) * self.size


def page_request(query: QueryArgs, max_size: int) -> PageRequest:
    """`pageSize` 1..max (default 25) and `pageNumber` >= 1 (default 1), else 400."""
    size = query.integer("pageSize", DEFAULT_PAGE_SIZE)
    number = query.integer("pageNumber", 1)
    if not 1 <= size <= max_size:
        raise invalid_value("pageSize", size, f"Allowable values are 1 to {max_size}.")
    if number < 1:
        raise invalid_value("pageNumber", number, "Page numbers start at 1.")
    return PageRequest(size, number)


def _page_uri(path: str, query: QueryParams, size: int, number: int) -> str:
    rest = [(k, v) for k, v in query.multi_items() if k not in ("pageSize", "pageNumber")]
    return f"{path}?" + urlencode([("pageSize", size), ("pageNumber", number), *rest])


def listing(
    entities: Sequence[dict[str, Any]],
    total: int,
    page: PageRequest,
    path: str,
    query: QueryParams,
    *,
    with_entity_count: bool = True,
) -> dict[str, Any]:
    """An `*EntityListing` envelope for one page (`entities` is that page only)."""
    page_count = math.ceil(total / page.size) if total else 0
    out: dict[str, Any] = {
        "entities": list(entities),
        "pageSize": page.size,
        "pageNumber": page.number,
        "total": total,
    }
    if with_entity_count:
        out["totalNumberOfEntities"] = total
    out["firstUri"] = _page_uri(path, query, page.size, 1)
    out["selfUri"] = _page_uri(path, query, page.size, page.number)
    out["lastUri"] = _page_uri(path, query, page.size, max(page_count, 1))
    if page.number < page_count:
        out["nextUri"] = _page_uri(path, query, page.size, page.number + 1)
    if 1 < page.number <= page_count + 1:
        out["previousUri"] = _page_uri(path, query, page.size, page.number - 1)
    out["pageCount"] = page_count
    return out


def paged(
    items: Sequence[dict[str, Any]],
    page: PageRequest,
    path: str,
    query: QueryParams,
    *,
    with_entity_count: bool = True,
) -> dict[str, Any]:
    """`listing` over a full, already filtered and sorted list."""
    chunk = items[page.start : page.start + page.size]
    return listing(chunk, len(items), page, path, query, with_entity_count=with_entity_count)


def ref(entity_id: str, name: str | None, self_uri: str) -> dict[str, Any]:
    """A `DomainEntityRef`."""
    out: dict[str, Any] = {"id": entity_id}
    if name is not None:
        out["name"] = name
    out["selfUri"] = self_uri
    return out
