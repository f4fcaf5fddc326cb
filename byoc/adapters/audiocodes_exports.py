"""Readers of an AudioCodes SBC's configuration exports: the INI file (`GET /files/ini`) and the
CLI script (`GET /files/cliScript`). Both are tolerant: unknown tables, commands and columns are
skipped."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from byoc.ports import (
    SbcCoderGroups,
    SbcDialPlan,
    SbcDialPlanRule,
)

if TYPE_CHECKING:

    pass

log = logging.getLogger("byoc.audiocodes")


# --- ini export --------------------------------------------------------------------------------


@dataclass
class IniTable:
    """One ini table: its columns (FORMAT line, `Table_` prefixes removed) and rows by Index."""

    name: str
    columns: list[str] = field(default_factory=list)
    rows: dict[int, dict[str, str]] = field(default_factory=dict)

    def column(self, row: Mapping[str, str], name: str, default: str = "") -> str:
        """A row's value by column name, case-insensitively."""
        wanted = name.casefold()
        for key, value in row.items():
            if key.casefold() == wanted:
                return value
        return default


@dataclass
class IniDocument:
    """An ini file as read: global parameters and tables (names as written)."""

    parameters: dict[str, str] = field(default_factory=dict)
    tables: dict[str, IniTable] = field(default_factory=dict)

    def table(self, name: str) -> IniTable | None:
        wanted = name.casefold()
        return next((t for k, t in self.tables.items() if k.casefold() == wanted), None)


_INI_HEADER = re.compile(r"^\[\s*(\\?)\s*([^\]]*?)\s*\]")
_INI_FORMAT = re.compile(r"^FORMAT\s+\w+\s*=\s*(.*?);?\s*$", re.IGNORECASE)
_INI_ROW = re.compile(r"^([A-Za-z]\w*)\s+(\d+)\s*=\s*(.*?)\s*;?\s*$")
_INI_PARAMETER = re.compile(r"^([A-Za-z_][\w.]*)\s*=\s*(.*?)\s*$")


def parse_ini(text: str) -> IniDocument:
    """Read an AudioCodes ini file tolerantly.

    `;` comment lines, CR/LF or LF, `[ Table ]` ... `[ \\Table ]` (a missing closer ends the table at
    the next header), `FORMAT Index = a, b;`, rows `Table <Index> = v1, "v,2", $$;` (quoted values may
    hold commas; `$$` stays as written), parameters `NAME = value` outside tables (quotes removed).
    Lines it cannot read are skipped.
    """
    document = IniDocument()
    table: IniTable | None = None
    for raw in text.lstrip("\ufeff").splitlines():
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        header = _INI_HEADER.match(line)
        if header:
            closing, name = header.group(1) == "\\", header.group(2).strip()
            if closing or name.casefold().endswith("params"):
                table = None
                continue
            table = document.tables.setdefault(name, IniTable(name))
            continue
        if table is not None:
            fmt = _INI_FORMAT.match(line)
            if fmt:
                table.columns = [_strip_table_prefix(table.name, c.strip())
                                 for c in fmt.group(1).split(",") if c.strip()]
                continue
            row = _INI_ROW.match(line)
            if row and row.group(1).casefold() == table.name.casefold() and table.columns:
                values = _split_ini_values(row.group(3))
                if len(values) == len(table.columns):
                    table.rows[int(row.group(2))] = dict(zip(table.columns, values, strict=True))
                else:
                    log.debug("ini row skipped", extra={"event": "ini.row_skipped", "line": line})
                continue
        parameter = _INI_PARAMETER.match(line)
        if parameter and table is None:
            document.parameters[parameter.group(1)] = _unquote(parameter.group(2))
    return document


def _strip_table_prefix(table: str, column: str) -> str:
    prefix = f"{table}_".casefold()
    return column[len(prefix):] if column.casefold().startswith(prefix) else column


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def _split_ini_values(text: str) -> list[str]:
    """`1, "a,b", $$` -> ['1', 'a,b', '$$'] (quotes removed; no escapes exist in the format)."""
    values: list[str] = []
    current: list[str] = []
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            values.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    values.append("".join(current).strip())
    return values


def dial_plans_from_ini(document: IniDocument) -> tuple[list[SbcDialPlan], bool]:
    """The Dial Plans of an ini export, and whether it carried a `[ DialPlanRule ]` table."""
    plans_table = document.table("DialPlan")
    rules_table = document.table("DialPlanRule")
    plans: dict[int, tuple[str, list[SbcDialPlanRule]]] = {}
    if plans_table is not None:
        for index, row in sorted(plans_table.rows.items()):
            plans[index] = (plans_table.column(row, "Name"), [])
    if rules_table is not None:
        by_name = {name.casefold(): index for index, (name, _) in plans.items()}
        for position, row in sorted(rules_table.rows.items()):
            plan_ref = rules_table.column(row, "DialPlanName")
            plan_index = by_name.get(plan_ref.casefold())
            if plan_index is None:
                plan_id = rules_table.column(row, "DialPlanId") or plan_ref
                plan_index = int(plan_id) if plan_id.isdigit() and int(plan_id) in plans else None
            if plan_index is None:
                log.warning(
                    "dial-plan rule names a plan the ini does not list; skipped",
                    extra={"event": "ini.rule_orphan", "plan": plan_ref},
                )
                continue
            rule_index = rules_table.column(row, "RuleIndex")
            plans[plan_index][1].append(SbcDialPlanRule(
                index=int(rule_index) if rule_index.isdigit() else position,
                name=rules_table.column(row, "Name"),
                prefix=rules_table.column(row, "Prefix"),
                tag=rules_table.column(row, "Tag"),
            ))
    return (
        [SbcDialPlan(i, name, tuple(sorted(rules, key=lambda r: r.index)))
         for i, (name, rules) in sorted(plans.items())],
        rules_table is not None,
    )


def coder_groups_from_ini(document: IniDocument) -> SbcCoderGroups:
    """The audio coder groups of an ini export (`[ AudioCodersGroups ]`, `[ AudioCoders ]` rows
    named by group in `AudioCodersGroupId`), and the groups `[ IpProfile ]` rows name."""
    names = document.table("AudioCodersGroups")
    coders = document.table("AudioCoders")
    groups: dict[str, list[tuple[int, str]]] = {}
    if names is not None:
        for _, row in sorted(names.rows.items()):
            groups.setdefault(names.column(row, "Name"), [])
    if coders is not None:
        for position, row in sorted(coders.rows.items()):
            group = coders.column(row, "AudioCodersGroupId")
            order = coders.column(row, "AudioCodersIndex")
            groups.setdefault(group, []).append(
                (int(order) if order.isdigit() else position, coders.column(row, "Name")))
    profiles = document.table("IpProfile")
    in_use: list[str] = []
    if profiles is not None:
        for _, row in sorted(profiles.rows.items()):
            for column in ("CodersGroupName", "SBCExtensionCodersGroupName"):
                name = profiles.column(row, column)
                if name and name != "$$" and name not in in_use:
                    in_use.append(name)
    return SbcCoderGroups(
        groups=tuple((g, tuple(n for _, n in sorted(rows))) for g, rows in groups.items()),
        in_use=tuple(in_use),
    )


# --- CLI export --------------------------------------------------------------------------------


@dataclass
class _CliNode:
    words: list[str]
    indent: int
    children: list[_CliNode] = field(default_factory=list)


def _cli_words(line: str) -> list[str]:
    """Split a CLI line into words; `"..."` is one word (quotes removed)."""
    words: list[str] = []
    for match in re.finditer(r'"([^"]*)"|(\S+)', line):
        words.append(match.group(1) if match.group(1) is not None else match.group(2))
    return words


def _cli_tree(text: str) -> list[_CliNode]:
    """The script as a tree by indentation; `exit`, `activate` and comments are dropped."""
    roots: list[_CliNode] = []
    stack: list[_CliNode] = []
    for raw in text.lstrip("\ufeff").splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith(("#", "!")):
            continue
        words = _cli_words(stripped)
        if words[0].lower() in ("exit", "activate", "end"):
            continue
        node = _CliNode(words, len(raw) - len(raw.lstrip()))
        while stack and stack[-1].indent >= node.indent:
            stack.pop()
        (stack[-1].children if stack else roots).append(node)
        stack.append(node)
    return roots


def _flat_cli_tree(text: str) -> list[_CliNode]:
    """A script without indentation: nesting from `configure`, the dial-plan rows and `exit`."""
    roots: list[_CliNode] = []
    stack: list[_CliNode] = []
    for raw in text.lstrip("\ufeff").splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith(("#", "!")):
            continue
        words = _cli_words(stripped)
        head = words[0].lower()
        if head == "exit":
            if stack:
                stack.pop()
            continue
        if head == "end":
            stack.clear()
            continue
        if head == "activate":
            continue
        node = _CliNode(words, len(stack))
        (stack[-1].children if stack else roots).append(node)
        if head == "configure" or _dial_plan_row(words) is not None or _rule_row(words) is not None:
            stack.append(node)
    return roots


def _dial_plan_row(words: list[str]) -> int | None:
    lowered = [w.lower() for w in words]
    if lowered[:1] == ["sbc"]:
        lowered = lowered[1:]
    if len(lowered) == 2 and lowered[0] == "dial-plan" and lowered[1].isdigit():
        return int(lowered[1])
    return None


def _rule_row(words: list[str]) -> tuple[int | None, int] | None:
    """`dial-plan-rule 3` -> (None, 3); `dial-plan-rule 0/3` -> (0, 3)."""
    lowered = [w.lower() for w in words]
    if lowered[:1] == ["sbc"]:
        lowered = lowered[1:]
    if len(lowered) != 2 or lowered[0] != "dial-plan-rule":
        return None
    match = re.fullmatch(r"(?:(\d+)/)?(\d+)", lowered[1])
    if not match:
        return None
    return (int(match.group(1)) if match.group(1) else None), int(match.group(2))


def _fields(node: _CliNode) -> dict[str, str]:
    return {
        child.words[0].lower(): " ".join(child.words[1:])
        for child in node.children
        if len(child.words) >= 2 and not child.children
    } | {child.words[0].lower(): "" for child in node.children if len(child.words) == 1}


def dial_plans_from_cli(text: str) -> tuple[list[SbcDialPlan], bool]:
    """The Dial Plans of a CLI script (the running configuration), and whether it had any.

    Tolerant of both shapes the notes allow: `sbc dial-plan <i>` with `dial-plan-rule <j>` nested
    inside, and `dial-plan-rule <i>/<j>` at the `configure voip` level. Other commands are skipped.
    """
    indented = any(line[:1] in (" ", "\t") for line in text.splitlines())
    roots = _cli_tree(text) if indented else _flat_cli_tree(text)
    plans: dict[int, str] = {}
    rules: dict[int, list[SbcDialPlanRule]] = {}

    def take_rule(plan_index: int, rule_index: int, node: _CliNode) -> None:
        values = _fields(node)
        rules.setdefault(plan_index, []).append(SbcDialPlanRule(
            index=rule_index, name=values.get("name", ""), prefix=values.get("prefix", ""),
            tag=values.get("tag", ""),
        ))

    for root in roots:
        if [w.lower() for w in root.words] != ["configure", "voip"]:
            continue
        for node in root.children:
            plan_index = _dial_plan_row(node.words)
            if plan_index is not None:
                plans[plan_index] = _fields(node).get("name", plans.get(plan_index, ""))
                for child in node.children:
                    row = _rule_row(child.words)
                    if row is not None:
                        take_rule(plan_index if row[0] is None else row[0], row[1], child)
                continue
            row = _rule_row(node.words)
            if row is not None and row[0] is not None:
                take_rule(row[0], row[1], node)
    found = bool(plans) or bool(rules)
    return (
        [SbcDialPlan(i, plans.get(i, ""), tuple(sorted(rules.get(i, []), key=lambda r: r.index)))
         for i in sorted(set(plans) | set(rules))],
        found,
    )
