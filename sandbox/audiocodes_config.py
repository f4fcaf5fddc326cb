"""The emulated SBC's configuration: dial plans, TLS contexts, other ini tables, global parameters.

Also the ini file format, both ways (vendor notes §3.1): `;` comments, `[ Table ]` ...
`FORMAT Index = col, ...;` ... `Table <index> = v, ...;` ... `[ \\Table ]`, `$$` for a column's
default, names case-insensitive, global parameters `NAME = value` outside tables. Reading is strict:
every line the device would not take is reported with its line number.

Choices where the notes are [U] (documented in sandbox/README-audiocodes.md):
- A DialPlanRule row is identified by (DialPlanName, RuleIndex); the leading ini Index only has to
  be unique within one file and is renumbered on download.
- Incremental ini upserts rows (`mode="upsert"`, missing columns take their defaults) or, with
  `mode="replace_table"`, removes every row of a table the file carries but does not list.
  Rows cannot be deleted by an upsert.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox.audiocodes_dialplan import (
    DEFAULT_MAX_TAG,
    PrefixSyntaxError,
    parse_prefix,
    prefix_problems,
    rule_name_problems,
    tag_problems,
)
from sandbox.audiocodes_tables import (
    SPECS,
    RowRefused,
    RowValue,
    Tables,
    TableSpec,
    ini_value,
)

CRLF = "\r\n"


class ConfigRefused(ValueError):
    """A row or command the device refuses; the message says which field and why."""


@dataclass(frozen=True)
class ConfigLimits:
    """Device limits that differ by model or firmware (seed options)."""

    tag_max_length: int = DEFAULT_MAX_TAG
    max_dial_plan_rules: int = 5000
    max_dial_plans: int = 100


@dataclass
class DialPlanRule:
    rule_index: int
    name: str
    prefix: str
    tag: str = ""


@dataclass
class DialPlan:
    index: int
    name: str
    prefix_case_sensitive: bool = False
    rules: dict[int, DialPlanRule] = field(default_factory=dict)


TLS_CONTEXT_DEFAULTS: dict[str, str] = {
    "Name": "",
    "TLSVersion": "0",
    "DTLSVersion": "0",
    "ServerCipherString": "DEFAULT",
    "ClientCipherString": "DEFAULT",
    "RequireStrictCert": "0",
    "TlsRenegotiation": "1",
    "OcspEnable": "0",
    "DHKeySize": "2048",
}
_TLS_STRING_COLUMNS = {"Name", "ServerCipherString", "ClientCipherString"}


@dataclass
class TlsContextRow:
    index: int
    values: dict[str, str]

    @property
    def name(self) -> str:
        return self.values["Name"]


# Global parameters the emulator knows, with the ini section they are exported under.
KNOWN_PARAMETERS: dict[str, str] = {
    "SyslogServerIP": "SYSTEM Params",
    "EnableSyslog": "SYSTEM Params",
    "NTPServerIP": "SYSTEM Params",
    "NTPUpdateInterval": "SYSTEM Params",
    "TelnetServerEnable": "SYSTEM Params",
    "SSHServerEnable": "SYSTEM Params",
    "HTTPSOnly": "WEB Params",
    "ENABLEMEDIASECURITY": "SIP Params",
    "SRTPTxPacketMKISize": "SIP Params",
    "SIPGatewayName": "SIP Params",
    "SBCKeepAliveTimeOut": "SIP Params",
}
_SECTION_ORDER = ["SYSTEM Params", "WEB Params", "SIP Params"]
_PARAMETER_BY_LOWER = {name.lower(): name for name in KNOWN_PARAMETERS}

# Every table the emulator applies, in device export order (referenced tables first).
TABLE_ORDER = [
    "TLSContexts", "SRD", "CpMediaRealm", "SIPInterface", "ProxySet", "ProxyIp", "DialPlan",
    "DialPlanRule", "AudioCodersGroups", "AudioCoders", "IpProfile", "MessageManipulations",
    "IPGroup", "Classification", "SBCRoutingPolicy", "SBCAlternativeRoutingReasons",
    "IP2IPRouting", "NATTranslation",
]
_TABLE_BY_LOWER = {name.lower(): name for name in TABLE_ORDER}


@dataclass
class DeviceConfig:
    """The running (or saved) configuration of one SBC."""

    parameters: dict[str, str] = field(default_factory=dict)
    dial_plans: dict[int, DialPlan] = field(default_factory=dict)
    tls_contexts: dict[int, TlsContextRow] = field(default_factory=dict)
    tables: Tables = field(default_factory=Tables)
    """Rows of the dictionary tables (sandbox/audiocodes_tables.py), typed, keyed by index."""

    @classmethod
    def factory_default(cls) -> DeviceConfig:
        config = cls(tables=Tables.factory_default())
        config.ensure_default_tls_context()
        return config

    def names(self) -> dict[str, set[str]]:
        """Row names of the tables kept outside `tables` (what a reference may name)."""
        return {"DialPlan": {p.name.lower() for p in self.dial_plans.values()},
                "TLSContexts": {c.name.lower() for c in self.tls_contexts.values()}}

    def put_row(self, spec: TableSpec, index: int, row: dict[str, RowValue],
                keep: bool = False) -> int:
        """Check and write a dictionary-table row; ConfigRefused says why not."""
        try:
            return self.tables.put(spec, index, row, self.names(), keep=keep)
        except RowRefused as exc:
            raise ConfigRefused(str(exc)) from exc

    def ensure_default_tls_context(self) -> None:
        """Context 0 always exists (named "default" when nothing else named it)."""
        if 0 not in self.tls_contexts:
            self.tls_contexts[0] = TlsContextRow(0, {**TLS_CONTEXT_DEFAULTS, "Name": "default"})

    def clone(self) -> DeviceConfig:
        return copy.deepcopy(self)

    def plan_named(self, name: str) -> DialPlan | None:
        for plan in self.dial_plans.values():
            if plan.name.lower() == name.lower():
                return plan
        return None

    def rule_count(self) -> int:
        return sum(len(p.rules) for p in self.dial_plans.values())

    def number_groups(self) -> int:
        total = 0
        for plan in self.dial_plans.values():
            for rule in plan.rules.values():
                try:
                    total += parse_prefix(rule.prefix).number_groups()
                except PrefixSyntaxError:
                    continue
        return total

    # --- validated writes (shared by ini and CLI) ------------------------------------------

    def put_dial_plan(self, plan: DialPlan, limits: ConfigLimits) -> None:
        problems = []
        if not plan.name:
            problems.append("Name is mandatory")
        if "/" in plan.name:
            problems.append(f"Name {plan.name!r} must not contain '/'")
        other = self.plan_named(plan.name)
        if other is not None and other.index != plan.index:
            problems.append(f"Name {plan.name!r} is already used by Dial Plan {other.index}")
        if plan.index not in self.dial_plans and len(self.dial_plans) >= limits.max_dial_plans:
            problems.append(f"the Dial Plan table is full ({limits.max_dial_plans} rows)")
        if problems:
            raise ConfigRefused(f"Dial Plan {plan.index}: " + "; ".join(problems))
        existing = self.dial_plans.get(plan.index)
        if existing is not None:
            plan.rules = existing.rules
        self.dial_plans[plan.index] = plan

    def put_rule(self, plan: DialPlan, rule: DialPlanRule, limits: ConfigLimits) -> None:
        problems = rule_name_problems(rule.name)
        problems += prefix_problems(rule.prefix)
        problems += tag_problems(rule.tag, limits.tag_max_length)
        for other in plan.rules.values():
            if other.rule_index != rule.rule_index and other.name.lower() == rule.name.lower():
                problems.append(f"Name {rule.name!r} is already used by rule {other.rule_index}")
        if rule.rule_index not in plan.rules and self.rule_count() >= limits.max_dial_plan_rules:
            problems.append(f"the Dial Plan Rule table is full ({limits.max_dial_plan_rules} rows)")
        if not problems:
            old = plan.rules.get(rule.rule_index)
            old_groups = parse_prefix(old.prefix).number_groups() if old else 0
            groups = self.number_groups() - old_groups + parse_prefix(rule.prefix).number_groups()
            if groups > 6 * limits.max_dial_plan_rules:
                problems.append(
                    f"number groups of all rules would be {groups}, above "
                    f"6 x {limits.max_dial_plan_rules}"
                )
        if problems:
            raise ConfigRefused(
                f"Dial Plan {plan.name!r} rule {rule.rule_index}: " + "; ".join(problems)
            )
        plan.rules[rule.rule_index] = rule

    def put_tls_context(self, row: TlsContextRow) -> None:
        problems = []
        if not row.name:
            problems.append("Name is mandatory")
        for other in self.tls_contexts.values():
            if other.index != row.index and other.name.lower() == row.name.lower():
                problems.append(f"Name {row.name!r} is already used by TLS context {other.index}")
        for column, value in row.values.items():
            if column not in _TLS_STRING_COLUMNS and not re.fullmatch(r"-?\d+", value):
                problems.append(f"{column} must be a number, got {value!r}")
        if problems:
            raise ConfigRefused(f"TLS context {row.index}: " + "; ".join(problems))
        self.tls_contexts[row.index] = row

    def delete_tls_context(self, index: int) -> None:
        if index == 0:
            raise ConfigRefused("TLS context 0 is the default context and cannot be deleted")
        if index not in self.tls_contexts:
            raise ConfigRefused(f"TLS context {index} does not exist")
        del self.tls_contexts[index]


# --- ini reading -------------------------------------------------------------------------------


@dataclass
class LoadReport:
    """What a configuration load did, as the device reports it in `output`."""

    lines: list[str] = field(default_factory=list)
    errors: int = 0
    changes: int = 0

    def error(self, line_no: int, message: str) -> None:
        self.errors += 1
        self.lines.append(f"Error: line {line_no}: {message}")

    def note(self, message: str) -> None:
        self.lines.append(message)

    @property
    def status(self) -> str:
        return "failure" if self.errors else "success"

    @property
    def output(self) -> str:
        return "\n".join(self.lines)


_HEADER_RE = re.compile(r"^\[\s*(\\?)\s*([^\]]*?)\s*\]$")
_FORMAT_RE = re.compile(r"^FORMAT\s+(\w+)\s*=\s*(.*)$", re.IGNORECASE)
_ROW_RE = re.compile(r"^(\w+)\s+(\d+)\s*=\s*(.*)$")
_PARAM_RE = re.compile(r"^([A-Za-z_][\w.]*)\s*=\s*(.*)$")


@dataclass
class _Value:
    text: str
    quoted: bool

    @property
    def is_default(self) -> bool:
        return not self.quoted and self.text == "$$"


def _split_values(text: str) -> list[_Value]:
    """Split `v1, "v,2", $$` into values; ValueError on a quote that is not closed or garbage."""
    values: list[_Value] = []
    position = 0
    while True:
        while position < len(text) and text[position] == " ":
            position += 1
        if position < len(text) and text[position] == '"':
            close = text.find('"', position + 1)
            if close < 0:
                raise ValueError("a quoted value is not closed")
            values.append(_Value(text[position + 1 : close], True))
            position = close + 1
            while position < len(text) and text[position] == " ":
                position += 1
            if position < len(text) and text[position] != ",":
                raise ValueError(f"unexpected text after a quoted value: {text[position:]!r}")
        else:
            end = text.find(",", position)
            end = len(text) if end < 0 else end
            raw = text[position:end].strip()
            if '"' in raw:
                raise ValueError(f"misplaced quote in {raw!r}")
            values.append(_Value(raw, False))
            position = end
        if position >= len(text):
            return values
        position += 1  # the comma


def _canonical_column(table: str, column: str) -> str:
    prefix = table.lower() + "_"
    return column[len(prefix) :] if column.lower().startswith(prefix) else column


@dataclass
class _OpenTable:
    name: str
    header_line: int
    columns: list[str] | None = None
    seen: set[int] = field(default_factory=set)
    written: set[tuple[object, ...]] = field(default_factory=set)


_DIAL_PLAN_COLUMNS = {"name": "Name", "prefixcasesensitivity": "PrefixCaseSensitivity"}
_RULE_COLUMNS = {
    "dialplanname": "DialPlanName", "ruleindex": "RuleIndex", "name": "Name",
    "prefix": "Prefix", "tag": "Tag",
}


def load_ini(
    config: DeviceConfig, text: str, *, limits: ConfigLimits, mode: str = "upsert"
) -> LoadReport:
    """Apply an ini file to `config` line by line; bad lines are skipped and reported."""
    report = LoadReport()
    lines = re.split(r"\r\n|\n|\r", text)
    if text and not text.endswith(("\n", "\r")):
        report.error(
            len(lines), f"the last line is not terminated by CR/LF and was ignored: {lines[-1]!r}"
        )
        lines[-1] = ""
    table: _OpenTable | None = None
    skipping: str | None = None  # an unsupported table whose lines are skipped
    carried: dict[str, set[tuple[object, ...]]] = {}
    for line_no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        header = _HEADER_RE.match(line)
        if header:
            closing, name = header.group(1) == "\\", header.group(2)
            if skipping is not None:
                if closing:
                    if name.lower() == skipping.lower():
                        skipping = None
                    continue
                report.error(line_no, f"table {skipping!r} is not closed before [ {name} ]")
                skipping = None
            if closing:
                if table is None or table.name.lower() != name.lower():
                    report.error(line_no, f"[ \\{name} ] closes a table that is not open")
                else:
                    carried.setdefault(table.name, set()).update(table.written)
                    table = None
                continue
            if table is not None:
                report.error(line_no, f"table {table.name!r} is not closed before [ {name} ]")
                carried.setdefault(table.name, set()).update(table.written)
                table = None
            if name.lower().endswith("params"):
                continue
            canonical = _TABLE_BY_LOWER.get(name.lower())
            if canonical is None:
                report.error(line_no, f"table {name!r} is not supported; its rows were ignored")
                skipping = name
                continue
            table = _OpenTable(canonical, line_no)
            carried.setdefault(canonical, set())
            continue
        if skipping is not None:
            continue
        if table is None:
            _load_parameter(config, line, line_no, report)
            continue
        format_match = _FORMAT_RE.match(line)
        if format_match:
            _read_format(table, format_match, line, line_no, report)
            continue
        row_match = _ROW_RE.match(line)
        if not row_match:
            report.error(line_no, f"{line!r} is not a row of table {table.name!r}")
            continue
        _load_row(config, table, row_match, line, line_no, report, limits)
    if table is not None:
        report.error(
            table.header_line, f"table {table.name!r} is never closed with [ \\{table.name} ]"
        )
        carried.setdefault(table.name, set()).update(table.written)
    if skipping is not None:
        report.error(len(lines), f"table {skipping!r} is never closed")
    if mode == "replace_table":
        report.changes += _drop_rows_not_carried(config, carried)
    return report


def _read_format(
    table: _OpenTable, match: re.Match[str], line: str, line_no: int, report: LoadReport
) -> None:
    if table.columns is not None:
        report.error(line_no, f"table {table.name!r} has a second FORMAT line")
        return
    if not line.endswith(";"):
        report.error(line_no, "the FORMAT line must end with ';'")
        return
    names = [c.strip() for c in match.group(2).rstrip(";").split(",")]
    if any(not c for c in names):
        report.error(line_no, "the FORMAT line has an empty column name")
        return
    table.columns = [_canonical_column(table.name, c) for c in names]


def _load_parameter(config: DeviceConfig, line: str, line_no: int, report: LoadReport) -> None:
    match = _PARAM_RE.match(line)
    if not match:
        report.error(line_no, f"{line!r} is neither a parameter nor a table row")
        return
    name = _PARAMETER_BY_LOWER.get(match.group(1).lower())
    if name is None:
        report.error(line_no, f"parameter {match.group(1)!r} is not supported")
        return
    value = match.group(2).strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    config.parameters[name] = value
    report.changes += 1


def _load_row(
    config: DeviceConfig, table: _OpenTable, match: re.Match[str], line: str, line_no: int,
    report: LoadReport, limits: ConfigLimits,
) -> None:
    if match.group(1).lower() != table.name.lower():
        report.error(line_no, f"row of {match.group(1)!r} inside table {table.name!r}")
        return
    if table.columns is None:
        report.error(line_no, f"row before the FORMAT line of table {table.name!r}")
        return
    if not line.endswith(";"):
        report.error(line_no, "a table row must end with ';'")
        return
    index = int(match.group(2))
    if index in table.seen:
        report.error(line_no, f"{table.name} {index} appears twice in this file")
        return
    table.seen.add(index)
    try:
        values = _split_values(match.group(3).rstrip()[:-1])
    except ValueError as exc:
        report.error(line_no, f"{table.name} {index}: {exc}")
        return
    if len(values) != len(table.columns):
        report.error(
            line_no,
            f"{table.name} {index} has {len(values)} values for {len(table.columns)} columns",
        )
        return
    row = dict(zip(table.columns, values, strict=True))
    loader: Callable[..., tuple[object, ...]] = {
        "DialPlan": _load_dial_plan_row,
        "DialPlanRule": _load_rule_row,
        "TLSContexts": _load_tls_row,
    }.get(table.name, _load_table_row)
    try:
        key = loader(config, table.name, index, row, limits)
    except ConfigRefused as exc:
        report.error(line_no, str(exc))
        return
    table.written.add(key)
    report.changes += 1


def _typed_columns(
    table: str, index: int, row: dict[str, _Value], known: dict[str, str]
) -> dict[str, _Value]:
    typed: dict[str, _Value] = {}
    for column, value in row.items():
        canonical = known.get(column.lower())
        if canonical is None:
            raise ConfigRefused(f"{table} {index}: column {column!r} does not exist")
        if not value.is_default:
            typed[canonical] = value
    return typed


def _int_value(table: str, index: int, column: str, value: _Value | None, default: int) -> int:
    if value is None:
        return default
    if not re.fullmatch(r"-?\d+", value.text):
        raise ConfigRefused(f"{table} {index}: {column} must be a number, got {value.text!r}")
    return int(value.text)


def _load_dial_plan_row(
    config: DeviceConfig, table: str, index: int, row: dict[str, _Value], limits: ConfigLimits
) -> tuple[object, ...]:
    typed = _typed_columns(table, index, row, _DIAL_PLAN_COLUMNS)
    sensitivity = _int_value(table, index, "PrefixCaseSensitivity",
                             typed.get("PrefixCaseSensitivity"), 0)
    if sensitivity not in (0, 1):
        raise ConfigRefused(f"{table} {index}: PrefixCaseSensitivity must be 0 or 1")
    name = typed["Name"].text if "Name" in typed else ""
    config.put_dial_plan(DialPlan(index, name, bool(sensitivity)), limits)
    return (index,)


def _load_rule_row(
    config: DeviceConfig, table: str, index: int, row: dict[str, _Value], limits: ConfigLimits
) -> tuple[object, ...]:
    typed = _typed_columns(table, index, row, _RULE_COLUMNS)
    if "DialPlanName" not in typed or "RuleIndex" not in typed:
        raise ConfigRefused(f"{table} {index}: DialPlanName and RuleIndex are mandatory")
    plan = config.plan_named(typed["DialPlanName"].text)
    if plan is None:
        raise ConfigRefused(
            f"{table} {index}: Dial Plan {typed['DialPlanName'].text!r} does not exist "
            "(referenced tables must come first)"
        )
    rule_index = _int_value(table, index, "RuleIndex", typed["RuleIndex"], 0)
    if rule_index < 0:
        raise ConfigRefused(f"{table} {index}: RuleIndex must not be negative")
    rule = DialPlanRule(
        rule_index,
        typed["Name"].text if "Name" in typed else "",
        typed["Prefix"].text if "Prefix" in typed else "",
        typed["Tag"].text if "Tag" in typed else "",
    )
    config.put_rule(plan, rule, limits)
    return (plan.index, rule_index)


def _load_tls_row(
    config: DeviceConfig, table: str, index: int, row: dict[str, _Value], limits: ConfigLimits
) -> tuple[object, ...]:
    known = {c.lower(): c for c in TLS_CONTEXT_DEFAULTS}
    typed = _typed_columns(table, index, row, known)
    values = dict(TLS_CONTEXT_DEFAULTS)
    values.update({column: value.text for column, value in typed.items()})
    config.put_tls_context(TlsContextRow(index, values))
    return (index,)


def _load_table_row(
    config: DeviceConfig, table: str, index: int, row: dict[str, _Value], limits: ConfigLimits
) -> tuple[object, ...]:
    spec = SPECS[table]
    given: dict[str, RowValue] = {}
    for column_name, value in row.items():
        column = spec.column(column_name)
        if column is None:
            raise ConfigRefused(f"{table} {index}: column {column_name!r} does not exist")
        if value.is_default:
            continue
        try:
            given[column.ini] = ini_value(column, value.text, value.quoted)
        except RowRefused as exc:
            raise ConfigRefused(f"{table} {index}: {exc}") from exc
    return (config.put_row(spec, index, given),)


def _drop_rows_not_carried(
    config: DeviceConfig, carried: dict[str, set[tuple[object, ...]]]
) -> int:
    dropped = 0
    for table, keys in carried.items():
        if table == "DialPlan":
            for index in [i for i in config.dial_plans if (i,) not in keys]:
                dropped += 1 + len(config.dial_plans.pop(index).rules)
        elif table == "DialPlanRule":
            for plan in config.dial_plans.values():
                for rule_index in [r for r in plan.rules if (plan.index, r) not in keys]:
                    del plan.rules[rule_index]
                    dropped += 1
        elif table == "TLSContexts":
            for index in [i for i in config.tls_contexts if (i,) not in keys and i != 0]:
                del config.tls_contexts[index]
                dropped += 1
        elif table in SPECS:
            rows = config.tables.rows.get(table, {})
            for index in [i for i in rows if (i,) not in keys]:
                del rows[index]
                dropped += 1
    return dropped


# --- ini writing -------------------------------------------------------------------------------


def _quoted(value: str) -> str:
    return f'"{value}"'


def render_ini(config: DeviceConfig, *, banner: list[str], omit_dial_plan_rules: bool) -> str:
    """The ini the device exports: normalized, CRLF line ends, rows renumbered."""
    out = [";**************", ";** Ini File **", ";**************", ""]
    out += [f";{line}" for line in banner]
    out += [";----------------------------------------------", ""]
    for section in sorted(set(KNOWN_PARAMETERS.values()), key=_SECTION_ORDER.index):
        params = [f"{n} = {v}" for n, v in config.parameters.items() if KNOWN_PARAMETERS[n] == section]
        if params:
            out += [f"[{section}]", "", *params, ""]
    for table in TABLE_ORDER:
        if table == "DialPlanRule" and omit_dial_plan_rules:
            continue
        rows = _table_rows(config, table)
        if rows is None:
            continue
        columns, data = rows
        out += [f"[ {table} ]", "", f"FORMAT Index = {', '.join(columns)};"]
        out += [f"{table} {i} = {', '.join(values)};" for i, values in data]
        out += ["", f"[ \\{table} ]", "", ""]
    return CRLF.join(out) + CRLF


def _table_rows(
    config: DeviceConfig, table: str
) -> tuple[list[str], list[tuple[int, list[str]]]] | None:
    if table == "TLSContexts":
        columns = list(TLS_CONTEXT_DEFAULTS)
        return columns, [
            (i, [_quoted(v) if c in _TLS_STRING_COLUMNS else v
                 for c, v in ((c, row.values[c]) for c in columns)])
            for i, row in sorted(config.tls_contexts.items())
        ]
    if table == "DialPlan":
        if not config.dial_plans:
            return None
        return ["Name", "PrefixCaseSensitivity"], [
            (i, [_quoted(p.name), str(int(p.prefix_case_sensitive))])
            for i, p in sorted(config.dial_plans.items())
        ]
    if table == "DialPlanRule":
        rules = [
            (p, r) for _, p in sorted(config.dial_plans.items()) for _, r in sorted(p.rules.items())
        ]
        if not rules:
            return None
        return ["DialPlanName", "RuleIndex", "Name", "Prefix", "Tag"], [
            (n, [_quoted(p.name), str(r.rule_index), _quoted(r.name), _quoted(r.prefix),
                 _quoted(r.tag)])
            for n, (p, r) in enumerate(rules)
        ]
    spec = SPECS[table]
    stored = config.tables.table(table)
    if not stored:
        return None
    columns = [c.ini for c in spec.columns]
    return columns, [
        (i, [str(row[c.ini]) if c.kind in ("int", "enum") else _quoted(str(row[c.ini]))
             for c in spec.columns])
        for i, row in sorted(stored.items())
    ]
