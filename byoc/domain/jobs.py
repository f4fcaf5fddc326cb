"""Queue messages (`byoc-jobs`): a versioned, discriminated union of pydantic models.

Events only say "look at X"; a `NumberEvent` updates the inventory and leads to `SyncTarget` jobs.

Version 2 adds `traceparent` (W3C Trace Context), so the work a message starts continues the trace
of the work that queued it. Version 1 messages (no trace) are still read.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from byoc.domain.numbers import E164Number
from byoc.domain.targets import JOB_TARGET_PATTERN, SbcName

SCHEMA_VERSION: Literal[2] = 2
READABLE_VERSIONS = (1, 2)
TRACEPARENT_PATTERN = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
MAX_SLICE_NUMBERS = 100
"""The most numbers one slice sync carries; more pending than this are synced in several slices."""


def new_correlation_id() -> str:
    """A fresh id that follows one piece of work across jobs, logs and the operations log."""
    return uuid.uuid4().hex


class _Job(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    schema_version: Literal[1, 2] = SCHEMA_VERSION
    correlation_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    traceparent: str | None = Field(default=None, pattern=TRACEPARENT_PATTERN)


class NumberEvent(_Job):
    """A number was bought, released or changed at Twilio (or someone says so)."""

    type: Literal["number_event"] = "number_event"
    action: Literal["purchased", "released", "updated"]
    number: E164Number
    sid: str | None = Field(default=None, pattern=r"^PN[0-9a-fA-F]{32}$")
    source: Literal["webhook", "poller", "purchase", "sweep", "cli"]
    event_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@+-]+$")


class SyncTarget(_Job):
    """Converge one target (read, plan, guard, apply, verify): the whole target, or only the slice
    `numbers` touch (a number event's sync; absent in messages older than slices: a full sync)."""

    type: Literal["sync_target"] = "sync_target"
    target: str = Field(pattern=JOB_TARGET_PATTERN)
    reason: str = Field(min_length=1, max_length=200)
    force: bool = False
    numbers: tuple[E164Number, ...] | None = Field(
        default=None, min_length=1, max_length=MAX_SLICE_NUMBERS)

    @model_validator(mode="after")
    def _slice_of_one_target(self) -> SyncTarget:
        if self.numbers is not None and self.target == "all":
            raise ValueError("numbers: a slice sync names one target, not all")
        return self


class RotateCertificate(_Job):
    """Rotate the SBC TLS certificate from Key Vault (one SBC, or all when `sbc` is None)."""

    type: Literal["rotate_certificate"] = "rotate_certificate"
    sbc: SbcName | None = None
    force: bool = False
    certificate_version: str | None = Field(default=None, max_length=64)
    certificate: str | None = Field(default=None, pattern=r"^[0-9A-Za-z-]{1,127}$")
    """Only the SBCs using this Key Vault certificate (None: every SBC, each with its own)."""


Job = Annotated[NumberEvent | SyncTarget | RotateCertificate, Field(discriminator="type")]
_JOB_ADAPTER: TypeAdapter[Job] = TypeAdapter(Job)


class InvalidJob(ValueError):
    """A queue message that is not a valid byoc job; it goes to the poison queue, not a retry."""


def parse_job(raw: bytes | str) -> Job:
    """Validate a message body; raise InvalidJob naming every problem."""
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidJob(f"message is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidJob("message must be a JSON object")
    version = data.get("schema_version")
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise InvalidJob(f"unsupported schema_version {version!r} (this worker reads 1 and 2)")
    if version == 1 and "traceparent" in data:
        raise InvalidJob("traceparent: not part of schema_version 1 (use 2)")
    try:
        return _JOB_ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'message'}: {e['msg']}"
            for e in exc.errors(include_input=False)
        )
        raise InvalidJob(problems) from None


def dump_job(job: Job) -> str:
    """The JSON text of a job, as it goes on the queue (the queue adapter base64-encodes it).

    A full sync's message leaves `numbers` out, so a worker from before slice syncs (which
    refuses fields it does not know) still reads it during a rolling deploy; a slice's message
    needs a worker that knows slices (docs/deploy.md, "Upgrading")."""
    if isinstance(job, SyncTarget) and job.numbers is None:
        return job.model_dump_json(exclude={"numbers"})
    return job.model_dump_json()
