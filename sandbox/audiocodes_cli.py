"""The CLI script dialect of the emulated SBC: running the incremental/full script, and rendering
the running configuration as `GET /api/v1/files/cliScript` returns it.

The notes verify the general pattern (a row is edited as `<table> <index>`, one field per line, then
`activate` and `exit`; `<table> new` adds a row; `no <table> <index>` deletes it) and list the dial
plan command path as [U]. The emulator uses the notes' likely shape:

    configure voip
     sbc dial-plan <i|new>            (fields: name, prefix-case-sensitivity off|on)
      dial-plan-rule <j|new>          (fields: name, prefix, tag)
      no dial-plan-rule <j>
     no sbc dial-plan <i>
    configure network
     tls <i|new>                      (field: name)
     no tls <i>

`exit` leaves a row and activates it when it has changes that were not activated; `end` leaves
every level. Lines starting with `#` are comments. Action commands (`copy`, `reload`, `write`, ...)
are refused for the whole script (HTTP 400). Every other line the emulator does not know is
reported in `output` as an error and the script goes on, like the device executing line by line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sandbox.audiocodes_config import (
    TLS_CONTEXT_DEFAULTS,
    ConfigLimits,
    ConfigRefused,
    DeviceConfig,
    DialPlan,
    DialPlanRule,
    LoadReport,
    TlsContextRow,
)
from sandbox.audiocodes_tables import TABLES, RowRefused, RowValue, TableSpec, cli_value

ACTION_COMMANDS = frozenset(
    {"copy", "reload", "write", "erase", "debug", "ping", "traceroute", "clear", "admin",
     "telnet", "ssh", "dir", "delete", "format", "configure-terminal"}
)
_MODES = {"voip", "network", "system", "troubleshoot", "data"}
# TLS context fields besides `name`: CLI word -> ini value (7.4 TLSVersion enum; words [U]).
_TLS_FIELDS: dict[str, tuple[str, dict[str, int]]] = {
    "tls-version": ("TLSVersion", {
        "any": 0, "tls-v1.0": 1, "tls-v1.1": 2, "tls-v1.0-and-v1.1": 3, "tls-v1.2": 4,
        "tls-v1.0-and-v1.2": 5, "tls-v1.1-and-v1.2": 6, "tls-v1.0-v1.1-and-v1.2": 7,
        "tls-v1.3": 8, "tls-v1.2-and-v1.3": 12}),
    "tls-renegotiation": ("TlsRenegotiation", {"disable": 0, "enable": 1}),
    "dh-key-size": ("DHKeySize", {"1024": 1024, "2048": 2048, "3072": 3072}),
}


def find_action_command(text: str) -> tuple[int, str] | None:
    """The first action command of a script (line number, line), which the device refuses."""
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        if words[0] == "do" and len(words) > 1:
            words = words[1:]
        if words[0].lower() in ACTION_COMMANDS:
            return line_no, line
    return None


def _tokens(line: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    while position < len(line):
        if line[position].isspace():
            position += 1
            continue
        if line[position] == '"':
            close = line.find('"', position + 1)
            if close < 0:
                raise ValueError("a quoted value is not closed")
            tokens.append(line[position + 1 : close])
            position = close + 1
            if position < len(line) and not line[position].isspace():
                raise ValueError("a quoted value must be followed by a space")
            continue
        end = position
        while end < len(line) and not line[end].isspace():
            end += 1
        token = line[position:end]
        if '"' in token:
            raise ValueError(f"misplaced quote in {token!r}")
        tokens.append(token)
        position = end
    return tokens


@dataclass
class _Frame:
    kind: str  # root, mode, other-mode, dial-plan, rule, tls, row, params, broken
    prompt: str
    mode: str = ""
    index: int = -1
    plan_index: int = -1
    fields: dict[str, str] = field(default_factory=dict)
    exists: bool = False
    dirty: bool = False
    spec: TableSpec | None = None
    values: dict[str, RowValue] = field(default_factory=dict)


class CliSession:
    """Runs one script against a configuration (mutated in place)."""

    def __init__(self, config: DeviceConfig, limits: ConfigLimits, hostname: str,
                 dialect: str = "nested") -> None:
        self.dialect = dialect
        self.config = config
        self.limits = limits
        self.hostname = hostname
        self.report = LoadReport()
        self.stack: list[_Frame] = [_Frame("root", f"{hostname}#")]

    def run(self, text: str) -> LoadReport:
        for line_no, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            self.report.note(f"{self.stack[-1].prompt} {line}")
            try:
                words = _tokens(line)
            except ValueError as exc:
                self.report.error(line_no, f"{line!r}: {exc}")
                continue
            self._execute(words, line, line_no)
        while len(self.stack) > 1:
            self._pop(len(self.stack))
        return self.report

    # --- dispatch ---------------------------------------------------------------------------

    def _execute(self, words: list[str], line: str, line_no: int) -> None:
        frame = self.stack[-1]
        head = words[0].lower()
        if head == "exit":
            if len(self.stack) > 1:
                self._pop(line_no)
            return
        if head == "end":
            while len(self.stack) > 1:
                self._pop(line_no)
            return
        if head == "show" or (head == "do" and len(words) > 1 and words[1].lower() == "show"):
            self.report.note("% show output is not emulated")
            return
        if frame.kind == "broken":
            return
        handler = {
            "root": self._root,
            "mode": self._mode,
            "other-mode": self._other_mode,
            "dial-plan": self._dial_plan,
            "rule": self._rule,
            "tls": self._tls,
            "row": self._row,
            "params": self._params,
        }[frame.kind]
        handler(frame, words, line, line_no)

    def _invalid(self, line: str, line_no: int, why: str = "Invalid command") -> None:
        self.report.error(line_no, f"{line!r}: {why}")

    def _root(self, frame: _Frame, words: list[str], line: str, line_no: int) -> None:
        if len(words) == 2 and words[0].lower() == "configure" and words[1].lower() in _MODES:
            mode = words[1].lower()
            kind = "mode" if mode in ("voip", "network") else "other-mode"
            self.stack.append(_Frame(kind, f"{self.hostname}(config-{mode})#", mode=mode))
            return
        self._invalid(line, line_no)

    def _other_mode(self, frame: _Frame, words: list[str], line: str, line_no: int) -> None:
        self._invalid(line, line_no, f"not supported by the emulator in 'configure {frame.mode}'")

    def _mode(self, frame: _Frame, words: list[str], line: str, line_no: int) -> None:
        lowered = [w.lower() for w in words]
        negate = lowered[0] == "no"
        body = lowered[1:] if negate else lowered
        if frame.mode == "voip" and body[:2] == ["sbc", "dial-plan"] and len(body) == 3:
            self._row_command(frame, "dial-plan", body[2], negate, line, line_no)
        elif (frame.mode == "voip" and self.dialect == "flat" and len(body) == 3
              and body[:2] == ["sbc", "dial-plan-rule"]):
            self._flat_rule(body[2], negate, line, line_no)
        elif frame.mode == "network" and body[:1] == ["tls"] and len(body) == 2:
            self._row_command(frame, "tls", body[1], negate, line, line_no)
        elif frame.mode == "voip" and body == ["media", "security"] and not negate:
            self.stack.append(_Frame("params", f"{self.hostname}(media-security)#"))
        else:
            spec = next((t for t in TABLES if t.mode == frame.mode
                         and tuple(body[:-1]) == t.cli_path), None)
            if spec is None or len(body) < 2:
                self._invalid(line, line_no)
            else:
                self._table_row(spec, body[-1], negate, line, line_no)

    def _row_command(
        self, frame: _Frame, kind: str, index_text: str, negate: bool, line: str, line_no: int
    ) -> None:
        existing = self.config.dial_plans if kind == "dial-plan" else self.config.tls_contexts
        if index_text == "new" and not negate:
            index = next(i for i in range(len(existing) + 1) if i not in existing)
        elif index_text.isdigit():
            index = int(index_text)
        else:
            self._invalid(line, line_no, f"{index_text!r} is not a row index")
            return
        if negate:
            self._delete(kind, index, line, line_no)
            return
        if kind == "dial-plan":
            plan = self.config.dial_plans.get(index)
            fields = {"name": plan.name if plan else "",
                      "prefix-case-sensitivity": "on" if plan and plan.prefix_case_sensitive
                      else "off"}
            prompt = f"{self.hostname}(sbc-dial-plan-{index})#"
            self.stack.append(_Frame("dial-plan", prompt, index=index, fields=fields,
                                     exists=plan is not None))
        else:
            context = self.config.tls_contexts.get(index)
            self.stack.append(_Frame("tls", f"{self.hostname}(tls-{index})#", index=index,
                                     fields={"name": context.name if context else ""},
                                     exists=context is not None))

    def _delete(self, kind: str, index: int, line: str, line_no: int) -> None:
        if kind == "dial-plan":
            if self.config.dial_plans.pop(index, None) is None:
                self._invalid(line, line_no, f"Dial Plan {index} does not exist")
                return
        else:
            try:
                self.config.delete_tls_context(index)
            except ConfigRefused as exc:
                self._invalid(line, line_no, str(exc))
                return
        self.report.changes += 1

    def _flat_rule(self, index_text: str, negate: bool, line: str, line_no: int) -> None:
        """`sbc dial-plan-rule <plan>/<rule>` at `configure voip` level (the flat dialect)."""
        parts = index_text.split("/")
        plan = (self.config.dial_plans.get(int(parts[0]))
                if len(parts) == 2 and all(p.isdigit() for p in parts) else None)
        if plan is None:
            self._invalid(line, line_no, f"{index_text!r} is not <existing dial plan>/<rule>")
            if not negate:
                self.stack.append(_Frame("broken", f"{self.hostname}(dial-plan-rule-?)#"))
            return
        rule_index = int(parts[1])
        if negate:
            if plan.rules.pop(rule_index, None) is None:
                self._invalid(line, line_no,
                              f"rule {rule_index} of Dial Plan {plan.name!r} does not exist")
            else:
                self.report.changes += 1
            return
        rule = plan.rules.get(rule_index)
        fields = {"name": rule.name, "prefix": rule.prefix, "tag": rule.tag} if rule else {
            "name": "", "prefix": "", "tag": ""}
        self.stack.append(_Frame("rule", f"{self.hostname}(dial-plan-rule-{index_text})#",
                                 index=rule_index, plan_index=plan.index, fields=fields,
                                 exists=rule is not None))

    def _table_row(self, spec: TableSpec, index_text: str, negate: bool, line: str,
                   line_no: int) -> None:
        """`<path> <i>`, `<path> new`, or for a child table `<path> <parent>/<i>`."""
        rows = self.config.tables.table(spec.ini)
        values: dict[str, RowValue] = {}
        if spec.parent is not None:
            match = index_text.split("/")
            if len(match) != 2 or not all(m.isdigit() for m in match):
                self._invalid(line, line_no, f"{index_text!r} is not <parent index>/<row index>")
                self.stack.append(_Frame("broken", f"{self.hostname}({spec.cli_path[-1]}-?)#"))
                return
            _, parent_column, child_column = spec.parent
            values = {parent_column: match[0], child_column: int(match[1])}
            found = self.config.tables.child_index(spec, match[0], int(match[1]))
            index = found if found is not None else next(
                i for i in range(len(rows) + 1) if i not in rows)
        elif index_text == "new" and not negate:
            index = next(i for i in range(len(rows) + 1) if i not in rows)
        elif index_text.isdigit():
            index = int(index_text)
        else:
            self._invalid(line, line_no, f"{index_text!r} is not a row index")
            if not negate:
                self.stack.append(_Frame("broken", f"{self.hostname}({spec.cli_path[-1]}-?)#"))
            return
        if negate:
            try:
                self.config.tables.delete(spec, index)
            except RowRefused as exc:
                self._invalid(line, line_no, str(exc))
                return
            self.report.changes += 1
            return
        prompt = f"{self.hostname}({spec.cli_path[-1]}-{index_text})#"
        self.stack.append(_Frame("row", prompt, index=index, spec=spec, values=values,
                                 exists=index in rows))

    def _row(self, frame: _Frame, words: list[str], line: str, line_no: int) -> None:
        assert frame.spec is not None
        if words[0].lower() == "activate" and len(words) == 1:
            self._activate(frame, line_no)
            return
        column = frame.spec.cli_column(words[0])
        if column is None:
            self._invalid(line, line_no)
            return
        if len(words) != 2:
            self._invalid(line, line_no, f"'{words[0]}' takes exactly one value")
            return
        try:
            frame.values[column.ini] = cli_value(column, words[1])
        except RowRefused as exc:
            self._invalid(line, line_no, str(exc))
            return
        frame.dirty = True

    def _params(self, frame: _Frame, words: list[str], line: str, line_no: int) -> None:
        """`configure voip > media security`: the global SRTP switch (EnableMediaSecurity)."""
        if len(words) == 2 and words[0].lower() == "media-security-enable" and words[1].lower() in (
                "on", "off"):
            self.config.parameters["ENABLEMEDIASECURITY"] = "1" if words[1].lower() == "on" else "0"
            self.report.changes += 1
            return
        self._invalid(line, line_no)

    def _set_field(
        self, frame: _Frame, words: list[str], line: str, line_no: int, allowed: set[str]
    ) -> bool:
        name = words[0].lower()
        if name not in allowed:
            return False
        if len(words) != 2:
            self._invalid(line, line_no, f"'{name}' takes exactly one value")
            return True
        frame.fields[name] = words[1]
        frame.dirty = True
        return True

    def _dial_plan(self, frame: _Frame, words: list[str], line: str, line_no: int) -> None:
        head = words[0].lower()
        if head == "activate" and len(words) == 1:
            self._activate(frame, line_no)
            return
        if self._set_field(frame, words, line, line_no, {"name", "prefix-case-sensitivity"}):
            return
        lowered = [w.lower() for w in words]
        negate = lowered[0] == "no"
        body = lowered[1:] if negate else lowered
        if body[:1] != ["dial-plan-rule"] or len(body) != 2 or self.dialect != "nested":
            self._invalid(line, line_no)
            if body[:1] == ["dial-plan-rule"] and not negate:
                self.stack.append(_Frame("broken", f"{self.hostname}(dial-plan-rule-?)#"))
            return
        if (frame.dirty or not frame.exists) and not self._activate(frame, line_no):
            if not negate:
                self.stack.append(_Frame("broken", f"{self.hostname}(dial-plan-rule-?)#"))
            return
        plan = self.config.dial_plans[frame.index]
        if body[1] == "new" and not negate:
            rule_index = next(i for i in range(len(plan.rules) + 1) if i not in plan.rules)
        elif body[1].isdigit():
            rule_index = int(body[1])
        else:
            self._invalid(line, line_no, f"{words[-1]!r} is not a row index")
            if not negate:
                self.stack.append(_Frame("broken", f"{self.hostname}(dial-plan-rule-?)#"))
            return
        if negate:
            if plan.rules.pop(rule_index, None) is None:
                self._invalid(line, line_no,
                              f"rule {rule_index} of Dial Plan {plan.name!r} does not exist")
            else:
                self.report.changes += 1
            return
        rule = plan.rules.get(rule_index)
        fields = {"name": rule.name, "prefix": rule.prefix, "tag": rule.tag} if rule else {
            "name": "", "prefix": "", "tag": ""}
        prompt = f"{self.hostname}(dial-plan-rule-{frame.index}/{rule_index})#"
        self.stack.append(_Frame("rule", prompt, index=rule_index, plan_index=frame.index,
                                 fields=fields, exists=rule is not None))

    def _rule(self, frame: _Frame, words: list[str], line: str, line_no: int) -> None:
        if words[0].lower() == "activate" and len(words) == 1:
            self._activate(frame, line_no)
        elif not self._set_field(frame, words, line, line_no, {"name", "prefix", "tag"}):
            self._invalid(line, line_no)

    def _tls(self, frame: _Frame, words: list[str], line: str, line_no: int) -> None:
        if words[0].lower() == "activate" and len(words) == 1:
            self._activate(frame, line_no)
            return
        field_name = words[0].lower()
        if field_name in _TLS_FIELDS and len(words) == 2:
            column, allowed = _TLS_FIELDS[field_name]
            value = allowed.get(words[1].lower())
            if value is None:
                self._invalid(line, line_no, f"{field_name} {words[1]!r}: Invalid value, expected "
                              f"{{{'|'.join(allowed)}}}")
                return
            frame.values[column] = value
            frame.dirty = True
        elif not self._set_field(frame, words, line, line_no, {"name"}):
            self._invalid(line, line_no, "not supported by the emulator for TLS contexts")

    # --- rows -------------------------------------------------------------------------------

    def _activate(self, frame: _Frame, line_no: int) -> bool:
        try:
            if frame.kind == "dial-plan":
                sensitivity = frame.fields["prefix-case-sensitivity"].lower()
                if sensitivity not in ("off", "on", "0", "1"):
                    raise ConfigRefused(
                        f"Dial Plan {frame.index}: prefix-case-sensitivity must be off or on"
                    )
                self.config.put_dial_plan(
                    DialPlan(frame.index, frame.fields["name"], sensitivity in ("on", "1")),
                    self.limits,
                )
            elif frame.kind == "rule":
                plan = self.config.dial_plans.get(frame.plan_index)
                if plan is None:
                    raise ConfigRefused(f"Dial Plan {frame.plan_index} does not exist")
                self.config.put_rule(
                    plan,
                    DialPlanRule(frame.index, frame.fields["name"], frame.fields["prefix"],
                                 frame.fields["tag"]),
                    self.limits,
                )
            elif frame.kind == "row":
                assert frame.spec is not None
                frame.index = self.config.put_row(frame.spec, frame.index, frame.values, keep=True)
            elif frame.kind == "tls":
                current = self.config.tls_contexts.get(frame.index)
                values = dict(current.values) if current else None
                row = TlsContextRow(frame.index, values or dict(TLS_CONTEXT_DEFAULTS))
                row.values["Name"] = frame.fields["name"]
                row.values.update({k: str(v) for k, v in frame.values.items()})
                self.config.put_tls_context(row)
            else:
                return True
        except ConfigRefused as exc:
            self.report.error(line_no, f"activate failed: {exc}")
            return False
        frame.exists, frame.dirty = True, False
        self.report.changes += 1
        return True

    def _pop(self, line_no: int) -> None:
        frame = self.stack[-1]
        if frame.kind in ("dial-plan", "rule", "tls", "row") and (frame.dirty or not frame.exists):
            self._activate(frame, line_no)
        self.stack.pop()


def run_cli_script(
    config: DeviceConfig, text: str, *, limits: ConfigLimits, hostname: str,
    dialect: str = "nested",
) -> LoadReport:
    """Run a CLI script against `config` (mutated in place); errors are in the report.
    `dialect`: where dial-plan rules live (`nested` in their plan, or `flat` at voip level)."""
    return CliSession(config, limits, hostname, dialect).run(text)


def render_cli(config: DeviceConfig, *, hostname: str, dialect: str = "nested") -> str:
    """The running configuration as a CLI script (the emulated tables only)."""
    out = [f"# Running configuration of {hostname} (emulated Mediant VE SBC)", "configure network"]
    for index, context in sorted(config.tls_contexts.items()):
        out += [f" tls {index}", f'  name "{context.name}"', "  activate", " exit"]
    out += ["exit", "configure voip"]
    for index, plan in sorted(config.dial_plans.items()):
        out += [
            f" sbc dial-plan {index}",
            f'  name "{plan.name}"',
            f"  prefix-case-sensitivity {'on' if plan.prefix_case_sensitive else 'off'}",
            "  activate",
        ]
        for rule_index, rule in sorted(plan.rules.items()) if dialect == "nested" else ():
            out += [
                f"  dial-plan-rule {rule_index}",
                f'   name "{rule.name}"',
                f'   prefix "{rule.prefix}"',
                f'   tag "{rule.tag}"',
                "   activate",
                "  exit",
            ]
        out.append(" exit")
    for index, plan in sorted(config.dial_plans.items()) if dialect == "flat" else ():
        for rule_index, rule in sorted(plan.rules.items()):
            out += [f" sbc dial-plan-rule {index}/{rule_index}", f'  name "{rule.name}"',
                    f'  prefix "{rule.prefix}"', f'  tag "{rule.tag}"', "  activate", " exit"]
    out.append("exit")
    return "\n".join(out) + "\n"
