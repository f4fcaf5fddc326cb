"""One AudioCodes Mediant SBC through its REST API `/api/v1` (firmware 7.2/7.4), with httpx.

Vendor facts are in docs/vendors/audiocodes.md. What this module relies on:

- Requests, authentication, certificate checks and retries are the REST client's
  (`audiocodes_rest.AudioCodesRest`, which this class extends).
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

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from byoc.adapters.audiocodes_dialplan import (
    DIAL_PLAN_DIALECTS,
    DIAL_PLAN_WRITE_FORMAT,
    DialPlanWriteFormat,
    dial_plan_dialect,
    edit_problems,
    render_dial_plan_edit,
    upload_errors,
)
from byoc.adapters.audiocodes_errors import (
    SbcConfigUnreadable,
    SbcRequestRefused,
    SbcScriptFailed,
    SbcWriteNotApplied,
)
from byoc.adapters.audiocodes_exports import (
    coder_groups_from_ini,
    dial_plans_from_cli,
    dial_plans_from_ini,
    parse_ini,
)
from byoc.adapters.audiocodes_rest import API_PREFIX, BACKOFF, AudioCodesRest, json_object
from byoc.adapters.retry import Backoff
from byoc.ports import (
    SbcAlarm,
    SbcCoderGroups,
    SbcDialPlanEdit,
    SbcDialPlans,
    SbcIpToIpRoute,
    SbcStatus,
)

if TYPE_CHECKING:
    import httpx

    from byoc.settings import SbcSettings, Settings

__all__ = ["API_PREFIX", "BACKOFF", "AudioCodesSbc"]

log = logging.getLogger("byoc.audiocodes")


class AudioCodesSbc(AudioCodesRest):
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
        super().__init__(base_url, username, password, name=name, ca_bundle=ca_bundle,
                         timeout_s=timeout_s, retry=retry, sleep=sleep, transport=transport)
        self._fixed_format = write_format
        self._format = write_format or DIAL_PLAN_WRITE_FORMAT
        self._format_source = "given" if write_format else "default"

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
            page = json_object(response, "/alarms/active")
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


def _optional(value: Any) -> str | None:
    return None if value is None else str(value)
