"""The typed before/after of each Genesys change kind: what the planners build and the applier
reads, printed (`to_json`) in the shape plans have always shown (`genesys_reconciler`)."""

from __future__ import annotations

from dataclasses import dataclass

from byoc.domain.plan import JsonValue, Payload
from byoc.ports import GenesysDidPool, GenesysOutboundRoute, GenesysOutboundRouteSpec, GenesysRef


@dataclass(frozen=True)
class PoolRange(Payload):
    """An existing DID pool: as read (`before`), or its new range (a resize's `after`)."""

    id: str
    start: str
    end: str
    name: str
    description: str

    @classmethod
    def of(cls, pool: GenesysDidPool) -> PoolRange:
        return cls(pool.id, pool.start, pool.end, pool.name, pool.description)

    def pool(self) -> GenesysDidPool:
        return GenesysDidPool(id=self.id, start=self.start, end=self.end, name=self.name,
                              description=self.description)

    def to_json(self) -> JsonValue:
        return {"id": self.id, "start": self.start, "end": self.end, "name": self.name,
                "description": self.description}


@dataclass(frozen=True)
class NewPool(Payload):
    """A DID pool to create."""

    start: str
    end: str
    name: str
    description: str

    def to_json(self) -> JsonValue:
        return {"start": self.start, "end": self.end, "name": self.name,
                "description": self.description}


@dataclass(frozen=True)
class IvrRead(Payload):
    """An IVR as the plan read it: its version and how many numbers it holds."""

    id: str
    version: int
    dnis: int

    def to_json(self) -> JsonValue:
        return {"id": self.id, "version": self.version, "dnis": self.dnis}


@dataclass(frozen=True)
class IvrNumbers(Payload):
    """Numbers to take off and put on an IVR, `per_put` additions a request."""

    id: str
    remove: tuple[str, ...]
    add: tuple[str, ...]
    per_put: int

    def to_json(self) -> JsonValue:
        return {"id": self.id, "remove": list(self.remove), "add": list(self.add),
                "per_put": self.per_put}


@dataclass(frozen=True)
class ShardRef(Payload):
    """One of byoc's IVR shards (`id` a placeholder until it is created)."""

    id: str
    name: str
    description: str

    def to_json(self) -> JsonValue:
        return {"id": self.id, "name": self.name, "description": self.description}


@dataclass(frozen=True)
class ShardLike(Payload):
    """A shard to create or align, with the IVR whose flows it takes (`like`, an IVR id)."""

    shard: ShardRef
    like: str

    def to_json(self) -> JsonValue:
        return {"id": self.shard.id, "name": self.shard.name,
                "description": self.shard.description, "like": self.like}


@dataclass(frozen=True)
class UserRead(Payload):
    """A user as the plan read it: its version and phone numbers."""

    id: str
    version: int
    phones: tuple[str, ...]

    def to_json(self) -> JsonValue:
        return {"id": self.id, "version": self.version, "phones": list(self.phones)}


@dataclass(frozen=True)
class UserNumbers(Payload):
    """Phone numbers to take off a user, and the work phone to give it (None: none)."""

    id: str
    remove: tuple[str, ...]
    work: str | None

    def to_json(self) -> JsonValue:
        return {"id": self.id, "remove": list(self.remove), "work": self.work}


def _site(site: GenesysRef | None) -> dict[str, JsonValue]:
    return {"site": {"id": site.id, "name": site.name}} if site else {}


@dataclass(frozen=True)
class RouteRead(Payload):
    """byoc's outbound route as read, with the site it is under."""

    route: GenesysOutboundRoute
    site: GenesysRef | None

    def to_json(self) -> JsonValue:
        route = self.route
        return {"id": route.id, "version": route.version,
                "classification_types": list(route.classification_types),
                "trunk_bases": [b.name or b.id for b in route.trunk_bases],
                "enabled": route.enabled, "description": route.description, **_site(self.site)}


@dataclass(frozen=True)
class RouteSpec(Payload):
    """byoc's outbound route as it is to be written, under `site`."""

    spec: GenesysOutboundRouteSpec
    site: GenesysRef | None

    def to_json(self) -> JsonValue:
        spec = self.spec
        return {"name": spec.name, "classification_types": list(spec.classification_types),
                "trunk_base": {"id": spec.trunk_base.id, "name": spec.trunk_base.name},
                "enabled": spec.enabled, "distribution": spec.distribution,
                "description": spec.description, **_site(self.site)}
