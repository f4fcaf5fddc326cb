"""One AudioCodes Mediant SBC through its REST API `/api/v1` (firmware 7.2/7.4), with httpx.

Vendor facts are in docs/vendors/audiocodes.md. What this module relies on:

- Every request carries HTTP Basic auth; the management certificate is checked against
  `BYOC_CA_BUNDLE` (or the system store). There is no switch to turn verification off.
- 409 (HA mate synchronising, device busy) and 5xx answers are retried with exponential backoff
  (honouring `Retry-After`); so are connections that never reached the device. A write whose answer
  was lost is not retried: the next sync reads the device and repairs.
- 7.2/7.4 have no row-level configuration resource. Dial Plans are read from `GET /files/ini`
  (`[ DialPlan ]`, `[ DialPlanRule ]`), and from `GET /files/cliScript` when the ini export leaves
  the rules out (some 7.40A firmware). Both parsers are tolerant: unknown tables, commands and
  columns are skipped.
- Writes go through an incremental upload only. A full `PUT /files/ini` or `/files/cliScript`
  replaces the whole configuration and resets the device; this module never sends one.
  An answer of HTTP 200 is not success: `status` must not be "failure" and `output` must hold no
  error line. Then `POST /actions/saveConfiguration`, then the plans are read back and compared with
  what was written.

The dial-plan write format (incremental CLI, and the `configure voip > sbc dial-plan >
dial-plan-rule` command path) is NOT verified on a device. It is data (`DIAL_PLAN_WRITE_FORMAT`)
rendered by one function (`render_dial_plan_edit`); docs/sbc.md says how to confirm it on a lab SBC.
TLS context files (`/files/tls/<ctx>/...`) belong in this class too: `_upload` already sends the
multipart part `file` they take.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from byoc import metrics
from byoc.adapters.retry import Backoff, retry_after_s, retrying
from byoc.ports import (
    SbcAlarm,
    SbcCoderGroups,
    SbcDialPlan,
    SbcDialPlanEdit,
    SbcDialPlanRule,
    SbcDialPlans,
    SbcIpToIpRoute,
    SbcStatus,
    SbcWriteIncomplete,
)

if TYPE_CHECKING:
    import httpx

    from byoc.settings import SbcSettings, Settings

log = logging.getLogger("byoc.audiocodes")

API_PREFIX = "/api/v1"


# --- errors ------------------------------------------------------------------------------------


class AudioCodesError(Exception):
    """Base of every AudioCodes adapter error."""


class SbcUnreachable(AudioCodesError):
    """The SBC's REST API could not be reached (or its certificate was not trusted)."""


class SbcAuthFailed(AudioCodesError):
    """The SBC refused the credentials (401)."""


class SbcForbidden(AudioCodesError):
    """The SBC user's privilege level is too low for the request (403)."""


class SbcBusy(AudioCodesError):
    """The SBC kept answering 409 (HA sync, device busy) or 5xx past the retry budget."""


class SbcRequestRefused(AudioCodesError):
    """The SBC refused the request (400, 404, ...); the message carries its description."""


class SbcScriptFailed(AudioCodesError, SbcWriteIncomplete):
    """An incremental upload answered 200 but reported errors; nothing was saved."""

    def __init__(self, message: str, output: str) -> None:
        super().__init__(message)
        self.output = output


class SbcWriteNotApplied(AudioCodesError):
    """After a write, the SBC does not show the rules that were written."""


class SbcConfigUnreadable(AudioCodesError):
    """Neither the ini nor the CLI export shows the Dial Plan rules."""


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


# --- the REST client ---------------------------------------------------------------------------


BACKOFF = Backoff(attempts=6, base_s=0.5, cap_s=8.0, retry_after_cap_s=30.0)
"""409 (HA sync), 5xx and connections that never reached the device: six attempts, 0.5 s to 8 s."""


class _Busy(Exception):
    """A retryable failure on its way through the retry loop (never leaves `_request`)."""

    def __init__(self, error: Exception, retry_after: float | None = None, *,
                 reason: str = "busy") -> None:
        super().__init__(str(error))
        self.error, self.retry_after, self.reason = error, retry_after, reason


_RETRY_STATUSES = frozenset({409, 500, 502, 503, 504})


class AudioCodesSbc:
    """One SBC's REST API: Dial Plans (read, write), status and active alarms."""

    def __init__(
        self,
        base_url: str,
        username: str,
        password: Callable[[], str],
        *,
        name: str = "sbc",
        ca_bundle: str | None = None,
        timeout_s: float = 15.0,
        retry: Backoff = BACKOFF,
        sleep: Callable[[float], None] | None = None,
        write_format: DialPlanWriteFormat | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not base_url.startswith("https://"):
            raise ValueError(f"SBC {name}: {base_url!r} must be an https:// URL")
        self.name = name
        self._base = base_url.rstrip("/") + API_PREFIX
        self._username = username
        self._password = password
        self._ca_bundle = ca_bundle
        self._timeout_s = timeout_s
        self._retry = retry
        self._sleep = sleep
        self._fixed_format = write_format
        self._format = write_format or DIAL_PLAN_WRITE_FORMAT
        self._format_source = "given" if write_format else "default"
        self._transport = transport
        self._client: httpx.Client | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, sbc: SbcSettings, password: Callable[[], str]
    ) -> AudioCodesSbc:
        """The adapter for `sbc`, with the password read (from Key Vault) on first use."""
        return cls(
            sbc.management_url,
            settings.sbc_username,
            password,
            name=sbc.name,
            ca_bundle=settings.ca_bundle,
            timeout_s=settings.sbc_timeout_s,
        )

    # --- dial plans --------------------------------------------------------------------------

    def read_dial_plans(self) -> SbcDialPlans:
        """Every Dial Plan and rule: from the ini export, or the CLI one if the ini has no rules;
        and whether the device runs changes it has not saved (`GET /status`)."""
        save_needed = self.status().save_needed
        return replace(self._read_plans(), save_needed=save_needed)

    def _read_plans(self) -> SbcDialPlans:
        ini_plans, has_rules = dial_plans_from_ini(parse_ini(self._get_text("/files/ini")))
        if has_rules:
            return SbcDialPlans(tuple(ini_plans), source="ini")
        cli_plans, found = dial_plans_from_cli(self._get_text("/files/cliScript"))
        if ini_plans and not found:
            raise SbcConfigUnreadable(
                f"SBC {self.name}: the ini export lists Dial Plans "
                f"{[p.name for p in ini_plans]} without a [ DialPlanRule ] table, and the CLI "
                "export shows no dial plan either; byoc will not guess the rules. Check "
                "GET /api/v1/files/cliScript on the device (docs/sbc.md)."
            )
        return SbcDialPlans(tuple(cli_plans), source="cliScript")

    def read_ip_to_ip_routes(self) -> tuple[SbcIpToIpRoute, ...] | None:
        """The IP-to-IP Routing table of the ini export in index order (the device tries rows top
        down); None when the export has no `[ IP2IPRouting ]` table."""
        table = parse_ini(self._get_text("/files/ini")).table("IP2IPRouting")
        if table is None:
            return None
        return tuple(
            SbcIpToIpRoute(
                index=index,
                name=table.column(row, "RouteName"),
                source_ip_group=table.column(row, "SrcIPGroupName"),
                request_type=table.column(row, "RequestType", "0"),
                dest_type=table.column(row, "DestType", "0"),
                dest_ip_group=table.column(row, "DestIPGroupName"),
                dest_tags=table.column(row, "DestTags"),
                internal_action=table.column(row, "InternalAction"),
            )
            for index, row in sorted(table.rows.items())
        )

    def write_dial_plan(self, edit: SbcDialPlanEdit) -> SbcDialPlans:
        """Upload `edit` incrementally, check the answer, save, read back and compare."""
        self._choose_dialect()
        text = render_dial_plan_edit(edit, self._format)
        answer = self._upload(self._format.endpoint, self._format.filename, text)
        problems = upload_errors(answer)
        if problems:
            others = ", ".join(d for d in DIAL_PLAN_DIALECTS if d != self._format.dialect)
            raise SbcScriptFailed(
                f"SBC {self.name}: the dial-plan upload answered 200 but reported "
                f"{'; '.join(problems[:5])}. The configuration was NOT saved; part of the "
                "script may be running until the next sync repairs it. Dial-plan CLI dialect "
                f"{self._format.dialect!r} ({self._format_source}); the other is {others}: "
                "compare with GET /api/v1/files/cliScript (docs/sbc.md).",
                str(answer.get("output") or ""),
            )
        self.save_configuration()
        after = self._read_plans()
        problems = edit_problems(edit, after)
        if problems:
            raise SbcWriteNotApplied(
                f"SBC {self.name}: the upload was accepted but Dial Plan {edit.plan_name!r} "
                f"does not show what was written: {'; '.join(problems[:5])}"
                f"{f' (+{len(problems) - 5} more)' if len(problems) > 5 else ''}. The write "
                "format is unverified on this firmware: see docs/sbc.md, 'Confirm the write "
                "format on a lab SBC'."
            )
        log.info(
            "dial plan written",
            extra={"event": "sbc.dial_plan_written", "target": f"sbc:{self.name}",
                   "put": len(edit.put), "deleted": len(edit.delete)},
        )
        return after

    def upload_configuration(self, text: str, form: str) -> str:
        """Upload a generated configuration incrementally (`form` ini or cli) and check the
        answer; returns the device's `output`. Nothing is saved: the caller saves after checking."""
        endpoint, filename = {"ini": ("/files/ini/incremental", "byoc.ini"),
                              "cli": ("/files/cliScript/incremental", "byoc-cli.txt")}[form]
        answer = self._upload(endpoint, filename, text)
        problems = upload_errors(answer)
        if problems:
            raise SbcScriptFailed(
                f"SBC {self.name}: the {form} upload answered 200 but reported "
                f"{'; '.join(problems[:5])}. The configuration was NOT saved.",
                str(answer.get("output") or ""),
            )
        return str(answer.get("output") or "")

    def upload_answer_fields(self) -> tuple[str, ...]:
        """Upload an incremental CLI script that changes nothing (`configure voip`, `exit`) and
        return the answer's field names: whether this firmware sends `status` is unverified
        (`byoc doctor --probe-writes`). Raises `SbcScriptFailed` when the answer reports errors."""
        answer = self._upload("/files/cliScript/incremental", "byoc-doctor.txt",
                              "configure voip\nexit\n")
        problems = upload_errors(answer)
        if problems:
            raise SbcScriptFailed(f"SBC {self.name}: an empty CLI script got {'; '.join(problems)}",
                                  str(answer.get("output") or ""))
        return tuple(sorted(answer))

    def _choose_dialect(self) -> None:
        """The dial-plan CLI dialect the device's own CLI export uses (read once), unless one
        was given. No public source settles it (docs/sbc.md)."""
        if self._fixed_format is not None or self._format_source == "read from the CLI export":
            return
        found = dial_plan_dialect(self._get_text("/files/cliScript"))
        if found is None:
            self._format_source = "the CLI export shows no rule to learn it from; byoc's default"
            return
        self._format = DIAL_PLAN_DIALECTS[found]
        self._format_source = "read from the CLI export"

    def save_configuration(self) -> None:
        """`POST /actions/saveConfiguration` with an empty body (`Content-Length: 0`)."""
        self._request("POST", "/actions/saveConfiguration", content=b"", write=True)

    # --- configuration exports (read only) ----------------------------------------------------

    def read_export(self, kind: str) -> str:
        """`GET /files/ini` or `GET /files/cliScript`: the running configuration as text."""
        if kind not in ("ini", "cliScript"):
            raise ValueError(f"export {kind!r} is not 'ini' or 'cliScript'")
        return self._get_text(f"/files/{kind}")

    def read_dial_plan_dialect(self) -> str | None:
        """The dial-plan CLI dialect (`nested` or `flat`) the device's CLI export writes its rules
        in; None when the export holds no rule."""
        return dial_plan_dialect(self.read_export("cliScript"))

    def read_coder_groups(self) -> SbcCoderGroups:
        """The audio coder groups of the ini export and the groups the IP Profiles use."""
        return coder_groups_from_ini(parse_ini(self.read_export("ini")))

    # --- monitoring --------------------------------------------------------------------------

    def status(self) -> SbcStatus:
        """`GET /status`; `saveNeeded` / `resetNeeded` come as strings and are read as booleans."""
        data = self._get_json("/status")

        def flag(key: str) -> bool:
            return str(data.get(key, "")).strip().lower() == "true"

        return SbcStatus(
            operational_state=str(data.get("operationalState", "")),
            high_availability=str(data.get("highAvailability", "")),
            version=str(data.get("versionID", "")),
            save_needed=flag("saveNeeded"),
            reset_needed=flag("resetNeeded"),
            raw=data,
        )

    def active_alarms(self, *, details: bool = False, page_size: int = 20,
                      max_pages: int = 50) -> list[SbcAlarm]:
        """Every active alarm, page by page (`after` cursor until "-1"; 204 = none)."""
        alarms: list[SbcAlarm] = []
        params: dict[str, str] = {"limit": str(page_size)}
        for _ in range(max_pages):
            response = self._request("GET", "/alarms/active", params=params)
            if response.status_code == 204 or not response.content:
                break
            page = _json(response, "/alarms/active")
            for item in page.get("alarms") or []:
                alarms.append(SbcAlarm(id=str(item.get("id", "")),
                                       description=str(item.get("description", ""))))
            after = str((page.get("cursor") or {}).get("after", "-1"))
            if after in ("-1", "") or not page.get("alarms"):
                break
            params = {"limit": str(page_size), "after": after}
        if details:
            alarms = [self._alarm_details(alarm) for alarm in alarms]
        return alarms

    def _alarm_details(self, alarm: SbcAlarm) -> SbcAlarm:
        try:
            data = self._get_json(f"/alarms/active/{alarm.id}")
        except SbcRequestRefused:
            return alarm  # cleared since the list was read
        return SbcAlarm(
            id=alarm.id,
            description=str(data.get("description", alarm.description)),
            severity=_optional(data.get("severity")),
            source=_optional(data.get("source")),
            date=_optional(data.get("date")),
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- transport ---------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        if self._client is None:
            import httpx

            verify: ssl.SSLContext | bool = True
            if self._ca_bundle:
                verify = ssl.create_default_context(cafile=self._ca_bundle)
            self._client = httpx.Client(
                base_url=self._base,
                auth=httpx.BasicAuth(self._username, self._password()),
                verify=verify,
                timeout=httpx.Timeout(self._timeout_s),
                headers={"Accept": "application/json, application/octet-stream, */*"},
                transport=self._transport,
            )
        return self._client

    def _get_text(self, path: str) -> str:
        response = self._request("GET", path)
        return response.content.decode("utf-8", errors="replace")

    def _get_json(self, path: str) -> dict[str, Any]:
        return _json(self._request("GET", path), path)

    def _upload(self, path: str, filename: str, text: str, *, once: bool = False) -> dict[str, Any]:
        """PUT a file as multipart part `file` (what every file endpoint of the API reads).

        `once`: a single attempt, no retry on 409/5xx (the caller restores and retries the step).
        """
        files = {"file": (filename, text.encode("utf-8"), "application/octet-stream")}
        response = self._request("PUT", path, files=files, write=True, once=once)
        try:
            return _json(response, path)
        except SbcRequestRefused:
            return {"status": "unknown", "output": response.text}

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        content: bytes | None = None,
        files: Mapping[str, Any] | None = None,
        write: bool = False,
        once: bool = False,
    ) -> httpx.Response:

        where = f"SBC {self.name}: {method} {API_PREFIX}{path}"
        loop = retrying(
            self._retry,
            retry_if=lambda exc: isinstance(exc, _Busy),
            retry_after=lambda exc: exc.retry_after if isinstance(exc, _Busy) else None,
            sleep=self._sleep,
            before_sleep=lambda _, exc, __: metrics.vendor_retry(
                "audiocodes", exc.reason if isinstance(exc, _Busy) else "busy"),
            once=once,
        )
        try:
            for attempt in loop:
                with attempt:
                    response = self._attempt(method, path, where, params=params, content=content,
                                             files=files, write=write, once=once)
        except _Busy as busy:
            raise busy.error from busy.error.__cause__
        return self._checked(response, where)

    def _attempt(
        self,
        method: str,
        path: str,
        where: str,
        *,
        params: Mapping[str, str] | None,
        content: bytes | None,
        files: Mapping[str, Any] | None,
        write: bool,
        once: bool,
    ) -> httpx.Response:
        """One request; what is worth another attempt is raised as `_Busy` (carrying the error
        to raise when no attempt is left), anything else as itself."""
        import httpx

        metrics.vendor_call("audiocodes")
        try:
            response = self._http().request(
                method, path, params=params, content=content, files=files
            )
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            if _is_certificate_error(exc):
                raise SbcUnreachable(
                    f"{where}: the management certificate is not trusted ({exc}); put the CA "
                    "that issued it in BYOC_CA_BUNDLE"
                ) from exc
            error = SbcUnreachable(f"{where}: cannot connect ({exc})")
            error.__cause__ = exc
            raise _Busy(error, reason="no_answer") from exc
        except httpx.TransportError as exc:
            if write:
                raise SbcUnreachable(
                    f"{where}: {type(exc).__name__}: the answer was lost; the write may or may "
                    "not have been applied (the next sync reads the device and repairs)"
                ) from exc
            error = SbcUnreachable(f"{where}: {type(exc).__name__}: {exc}")
            error.__cause__ = exc
            raise _Busy(error, reason="no_answer") from exc
        if response.status_code in _RETRY_STATUSES:
            tried = (f"{response.status_code} (one attempt, not retried)" if once
                     else f"still {response.status_code} after {self._retry.attempts} attempts")
            raise _Busy(SbcBusy(
                f"{where}: {tried} ({_description(response)})"
                + ("; HA sync in progress? retry later" if response.status_code == 409 else "")
            ), retry_after_s(response.headers))
        return response

    def _checked(self, response: httpx.Response, where: str) -> httpx.Response:
        """The answer, or the error its status stands for (401, 403, any other 4xx)."""
        if response.status_code == 401:
            raise SbcAuthFailed(
                f"{where}: 401, the SBC refused user {self._username!r}; check BYOC_SBC_USERNAME "
                "and the password secret"
            )
        if response.status_code == 403:
            raise SbcForbidden(
                f"{where}: 403, user {self._username!r} lacks the privilege level "
                "(Administrator for files and actions)"
            )
        if response.status_code >= 400:
            raise SbcRequestRefused(f"{where}: {response.status_code} ({_description(response)})")
        return response

def _json(response: httpx.Response, path: str) -> dict[str, Any]:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        raise SbcRequestRefused(f"{path}: the answer is not JSON: {response.text[:200]!r}") from exc
    if not isinstance(data, dict):
        raise SbcRequestRefused(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _description(response: httpx.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:200] or "no body"
    if isinstance(data, dict) and data.get("description"):
        return str(data["description"])
    return json.dumps(data)[:200]


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)


def _is_certificate_error(exc: Exception) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return True
        cause = cause.__cause__ or cause.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(exc)
