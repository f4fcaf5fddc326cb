"""Ports to the AudioCodes SBCs: dial plans, IP-to-IP routes, status, alarms, the configuration read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class SbcDialPlanRule:
    """One Dial Plan Rule as the SBC holds it (`index` is its RuleIndex within the plan)."""

    index: int
    name: str
    prefix: str
    tag: str = ""


@dataclass(frozen=True)
class SbcDialPlan:
    """One SBC Dial Plan and its rules."""

    index: int
    name: str
    rules: tuple[SbcDialPlanRule, ...] = ()


@dataclass(frozen=True)
class SbcDialPlans:
    """Every Dial Plan of one SBC, and the export it was read from (`ini` or `cliScript`)."""

    plans: tuple[SbcDialPlan, ...] = ()
    source: str = "ini"
    save_needed: bool = False
    """The device runs changes it has not saved (lost on its next reset)."""

    def named(self, name: str) -> SbcDialPlan | None:
        """The plan called `name` (the device compares names case-insensitively)."""
        wanted = name.casefold()
        return next((p for p in self.plans if p.name.casefold() == wanted), None)


@dataclass(frozen=True)
class SbcIpToIpRoute:
    """One row of the SBC's IP-to-IP Routing table (`IP2IPRouting`), columns as exported."""

    index: int
    name: str
    source_ip_group: str
    request_type: str
    dest_type: str
    dest_ip_group: str
    dest_tags: str
    internal_action: str = ""


@dataclass(frozen=True)
class SbcDialPlanEdit:
    """Rule changes to one Dial Plan, written to the SBC in one incremental upload."""

    plan_name: str
    plan_index: int
    create_plan: bool = False
    put: tuple[SbcDialPlanRule, ...] = ()
    """Rules written at their index (added, or replacing the rule there)."""
    delete: tuple[int, ...] = ()
    """Rule indexes removed."""


@dataclass(frozen=True)
class SbcStatus:
    """`GET /api/v1/status`, with the flags the device sends as strings turned into booleans."""

    operational_state: str
    high_availability: str
    version: str
    save_needed: bool
    reset_needed: bool
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SbcAlarm:
    """One active alarm (`severity`, `source` and `date` only when details were read)."""

    id: str
    description: str
    severity: str | None = None
    source: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class SbcCoderGroups:
    """The SBC's audio coder groups (coder names as exported, in order) and the groups its IP
    Profiles name (empty: no IP Profile names one)."""

    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    in_use: tuple[str, ...] = ()

    def coders(self, group: str) -> tuple[str, ...]:
        """The coders of `group` (names compared case-insensitively); empty when absent."""
        wanted = group.casefold()
        return next((c for name, c in self.groups if name.casefold() == wanted), ())


class SbcError(Exception):
    """Base of every error an SBC adapter raises."""


class SbcUnreachable(SbcError):
    """The SBC's REST API could not be reached (or its certificate was not trusted)."""


class SbcBusy(SbcError):
    """The SBC kept answering 409 (HA sync, device busy) or 5xx past the retry budget."""


class SbcWriteIncomplete(Exception):
    """An upload reached the SBC but the device refused part of it: what it accepted runs,
    unsaved (raised by `SbcDialPlanPort.write_dial_plan`)."""


class SbcDialPlanPort(Protocol):
    """The Dial Plans of one AudioCodes SBC (REST API `/api/v1`)."""

    def read_dial_plans(self) -> SbcDialPlans:
        """Every plan and rule, from the ini export or, when it lacks the rules, the CLI one."""
        ...

    def write_dial_plan(self, edit: SbcDialPlanEdit) -> SbcDialPlans:
        """One incremental upload, its answer checked, save, then the plans read back; raises
        unless the read-back shows exactly the edit's rules."""
        ...

    def save_configuration(self) -> None:
        """Save the running configuration (what an earlier write left unsaved)."""
        ...


class SbcMonitorPort(Protocol):
    """What the health check reads from an SBC."""

    def status(self) -> SbcStatus: ...

    def active_alarms(self, *, details: bool = False) -> list[SbcAlarm]: ...


class SbcConfigReadPort(Protocol):
    """What `byoc doctor` reads from an SBC without writing: status, exports, coder groups."""

    def status(self) -> SbcStatus: ...

    def read_export(self, kind: str) -> str:
        """The configuration export as text: `ini` or `cliScript`."""
        ...

    def read_coder_groups(self) -> SbcCoderGroups: ...

    def read_dial_plan_dialect(self) -> str | None:
        """`nested` or `flat`: where the CLI export writes Dial Plan rules (None: no rule)."""
        ...

    def read_dial_plans(self) -> SbcDialPlans: ...

    def write_dial_plan(self, edit: SbcDialPlanEdit) -> SbcDialPlans: ...

    def upload_answer_fields(self) -> tuple[str, ...]:
        """The field names of the answer to an incremental upload that changes nothing."""
        ...

    def close(self) -> None: ...
