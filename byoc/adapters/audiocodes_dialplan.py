"""The one place that knows how a dial-plan change is written to an AudioCodes SBC: the write
format (incremental CLI; NOT verified on a device, docs/sbc.md), its rendering, and how the upload's
answer and the plans read back are checked."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from byoc.ports import (
    SbcDialPlanEdit,
    SbcDialPlans,
)

if TYPE_CHECKING:

    pass

log = logging.getLogger("byoc.audiocodes")


# --- the one place that knows how a dial-plan change is written --------------------------------


@dataclass(frozen=True)
class DialPlanWriteFormat:
    """How a Dial Plan change is written, as data. UNVERIFIED on a device (docs/sbc.md).

    Incremental CLI is used rather than incremental ini rows because an ini upload cannot delete a
    row. Placeholders: {plan_index} {plan_name} {rule_index} {name} {prefix} {tag}.
    """

    endpoint: str = "/files/cliScript/incremental"
    filename: str = "byoc-dial-plan.txt"
    enter: tuple[str, ...] = ("configure voip",)
    plan_row: str = "sbc dial-plan {plan_index}"
    plan_fields: tuple[str, ...] = ('name "{plan_name}"',)
    rule_row: str = "dial-plan-rule {rule_index}"
    rule_fields: tuple[str, ...] = ('name "{name}"', 'prefix "{prefix}"', 'tag "{tag}"')
    delete_rule: str = "no dial-plan-rule {rule_index}"
    activate: str = "activate"
    leave: str = "exit"
    rules_inside_plan: bool = True
    """False: rule rows (and their deletion) are written at the `enter` level, after the plan."""
    dialect: str = "nested"


DIAL_PLAN_WRITE_FORMAT = DialPlanWriteFormat()
FLAT_DIAL_PLAN_WRITE_FORMAT = DialPlanWriteFormat(
    rule_row="sbc dial-plan-rule {plan_index}/{rule_index}",
    delete_rule="no sbc dial-plan-rule {plan_index}/{rule_index}",
    rules_inside_plan=False, dialect="flat",
)
DIAL_PLAN_DIALECTS = {f.dialect: f for f in (DIAL_PLAN_WRITE_FORMAT, FLAT_DIAL_PLAN_WRITE_FORMAT)}
"""The dial-plan CLI dialects byoc can write; no public source settles which the device uses."""
_FLAT_RULE = re.compile(r"^\s*sbc\s+dial-plan-rule\s+\d+/\d+\s*$", re.MULTILINE)
_NESTED_RULE = re.compile(r"^\s+dial-plan-rule\s+\d+\s*$", re.MULTILINE)


def dial_plan_dialect(cli_export: str) -> str | None:
    """The dialect a CLI export writes its rules in (`nested` or `flat`), None if it has none."""
    if _FLAT_RULE.search(cli_export):
        return "flat"
    if _NESTED_RULE.search(cli_export):
        return "nested"
    return None


def render_dial_plan_edit(edit: SbcDialPlanEdit, fmt: DialPlanWriteFormat = DIAL_PLAN_WRITE_FORMAT) -> str:
    """The upload text of `edit`: rules written first, deletions last (no moment without cover)."""
    for value in (edit.plan_name, *(v for r in edit.put for v in (r.name, r.prefix, r.tag))):
        if '"' in value or "\n" in value or "\r" in value:
            raise ValueError(f"{value!r} cannot be written to the SBC (quote or line break)")
    lines: list[str] = []
    depth = 0

    def emit(text: str) -> None:
        lines.append(" " * depth + text)

    for command in fmt.enter:
        emit(command)
        depth += 1
    if edit.create_plan or fmt.rules_inside_plan:
        emit(fmt.plan_row.format(plan_index=edit.plan_index, plan_name=edit.plan_name))
        depth += 1
        if edit.create_plan:
            for template in fmt.plan_fields:
                emit(template.format(plan_index=edit.plan_index, plan_name=edit.plan_name))
            emit(fmt.activate)
        if not fmt.rules_inside_plan:
            depth -= 1
            emit(fmt.leave)
    for rule in edit.put:
        emit(fmt.rule_row.format(plan_index=edit.plan_index, rule_index=rule.index))
        depth += 1
        for template in fmt.rule_fields:
            emit(template.format(name=rule.name, prefix=rule.prefix, tag=rule.tag,
                                 rule_index=rule.index, plan_index=edit.plan_index))
        emit(fmt.activate)
        depth -= 1
        emit(fmt.leave)
    for index in edit.delete:
        emit(fmt.delete_rule.format(plan_index=edit.plan_index, rule_index=index))
    if fmt.rules_inside_plan:
        depth -= 1
        emit(fmt.leave)
    for _ in fmt.enter:
        depth -= 1
        emit(fmt.leave)
    return "\n".join(lines) + "\n"


_ERROR_LINE = re.compile(
    r"\b(error|invalid|failed|failure|not allowed|unknown command|incomplete command|"
    r"does not exist)\b",
    re.IGNORECASE,
)
_PROMPT_ECHO = re.compile(r"^[\w .-]+(\([^)]*\))?#(\s|$)")
"""An echoed prompt: host name (may hold spaces: `Mediant SW`), optional `(mode)`, then `# `."""


def upload_errors(answer: Mapping[str, Any]) -> list[str]:
    """Problems in an incremental upload's JSON answer: `status` other than success, and the
    error lines of `output` (echoed command prompts are not errors)."""
    problems: list[str] = []
    status = answer.get("status")
    if status is not None and str(status).strip().lower() != "success":
        problems.append(f"status is {status!r}")
    output = str(answer.get("output") or "")
    problems += [
        line.strip()
        for line in output.splitlines()
        if _ERROR_LINE.search(line) and not _PROMPT_ECHO.match(line.strip())
    ]
    return problems


def edit_problems(edit: SbcDialPlanEdit, after: SbcDialPlans) -> list[str]:
    """How the plans read back differ from what `edit` wrote (empty: all of it is there)."""
    plan = after.named(edit.plan_name)
    if plan is None:
        return [f"Dial Plan {edit.plan_name!r} is not on the device"]
    by_index = {r.index: r for r in plan.rules}
    problems: list[str] = []
    for rule in edit.put:
        found = by_index.get(rule.index)
        if found is None:
            problems.append(f"rule {rule.index} {rule.name!r} ({rule.prefix}) is missing")
        elif (found.name, found.prefix, found.tag) != (rule.name, rule.prefix, rule.tag):
            problems.append(
                f"rule {rule.index} reads {found.name!r} {found.prefix} tag {found.tag!r}, "
                f"written {rule.name!r} {rule.prefix} tag {rule.tag!r}"
            )
    written = {r.index for r in edit.put}
    problems += [
        f"rule {index} {by_index[index].name!r} was to be deleted and is still there"
        for index in edit.delete
        if index in by_index and index not in written
    ]
    return problems
