"""The AudioCodes adapter without a network: tolerant ini/CLI readers, the dial-plan write text,
the upload answer check, and retries (httpx MockTransport)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from byoc.adapters.audiocodes import AudioCodesSbc
from byoc.adapters.audiocodes_dialplan import (
    DIAL_PLAN_WRITE_FORMAT,
    dial_plan_dialect,
    render_dial_plan_edit,
    upload_errors,
)
from byoc.adapters.audiocodes_errors import (
    SbcAuthFailed,
    SbcConfigUnreadable,
    SbcScriptFailed,
    SbcWriteNotApplied,
)
from byoc.adapters.audiocodes_exports import dial_plans_from_cli, dial_plans_from_ini, parse_ini
from byoc.adapters.retry import Backoff
from byoc.ports import (
    SbcBusy,
    SbcDialPlan,
    SbcDialPlanEdit,
    SbcDialPlanRule,
    SbcUnreachable,
)

DEVICE_INI = (
    ";**************\r\n;** Ini File **\r\n;**************\r\n\r\n"
    "[SIP Params]\r\n\r\nENABLEMEDIASECURITY = 1\r\nNTPServerIP = '0.pool.ntp.org'\r\n\r\n"
    "[ DialPlan ]\r\n\r\nFORMAT Index = Name, PrefixCaseSensitivity;\r\n"
    'DialPlan 0 = "BYOC", 0;\r\nDialPlan 1 = "Teams", 0;\r\n\r\n[ \\DialPlan ]\r\n\r\n'
    "[ DialPlanRule ]\r\n\r\n"
    "FORMAT DialPlanRule_Index = DialPlanRule_DialPlanName, DialPlanRule_RuleIndex, "
    "DialPlanRule_Name, DialPlanRule_Prefix, DialPlanRule_Tag;\r\n"
    'DialPlanRule 0 = "BYOC", 4, "byoc-4155550100", "+1415555[0100-0119,0150]#", "main";\r\n'
    'DialPlanRule 1 = "BYOC", 0, "catch-all", "*", "pstn";\r\n'
    'DialPlanRule 2 = "Teams", 0, "t", "+1628xxx#", $$;\r\n'
    "DialPlanRule 3 = broken row without a semicolon or enough values\r\n"
    "\r\n[ \\DialPlanRule ]\r\n"
)


def test_ini_reader_takes_quoted_commas_prefixed_columns_and_skips_bad_rows() -> None:
    plans, has_rules = dial_plans_from_ini(parse_ini(DEVICE_INI))

    assert has_rules
    assert plans == [
        SbcDialPlan(0, "BYOC", (
            SbcDialPlanRule(0, "catch-all", "*", "pstn"),
            SbcDialPlanRule(4, "byoc-4155550100", "+1415555[0100-0119,0150]#", "main"),
        )),
        SbcDialPlan(1, "Teams", (SbcDialPlanRule(0, "t", "+1628xxx#", "$$"),)),
    ]


def test_ini_reader_keeps_parameters_and_tolerates_a_missing_table_closer() -> None:
    text = "[SIP Params]\nENABLEMEDIASECURITY = 1\n[ DialPlan ]\nFORMAT Index = Name;\nDialPlan 3 = \"X\";\n"

    document = parse_ini(text)

    assert document.parameters == {"ENABLEMEDIASECURITY": "1"}
    assert dial_plans_from_ini(document) == ([SbcDialPlan(3, "X")], False)


def test_ini_without_rule_table_says_so() -> None:
    text = DEVICE_INI.split("[ DialPlanRule ]")[0]

    plans, has_rules = dial_plans_from_ini(parse_ini(text))

    assert not has_rules and [p.name for p in plans] == ["BYOC", "Teams"]


NESTED_CLI = """# running configuration
configure network
 tls 0
  name "default"
  activate
 exit
exit
configure voip
 sip-interface 0
  interface-name "SI"
  udp-port 5060
  activate
 exit
 sbc dial-plan 0
  name "BYOC"
  activate
  dial-plan-rule 2
   name "byoc-4155550100"
   prefix "+1415555[0100-0119]#"
   tag "main"
   activate
  exit
  dial-plan-rule 0
   name "empty-tag"
   prefix "+1#"
   tag ""
  exit
 exit
exit
"""


def test_cli_reader_takes_nested_rules_and_skips_other_tables() -> None:
    plans, found = dial_plans_from_cli(NESTED_CLI)

    assert found
    assert plans == [SbcDialPlan(0, "BYOC", (
        SbcDialPlanRule(0, "empty-tag", "+1#", ""),
        SbcDialPlanRule(2, "byoc-4155550100", "+1415555[0100-0119]#", "main"),
    ))]


def test_cli_reader_takes_the_plan_slash_rule_form_and_flat_scripts() -> None:
    flat = "\n".join([
        "configure voip", "sbc dial-plan 1", 'name "BYOC"', "activate", "exit",
        "sbc dial-plan-rule 1/5", 'name "r"', 'prefix "+1xx#"', 'tag "t"', "activate", "exit",
        "exit",
    ])

    plans, found = dial_plans_from_cli(flat)

    assert found
    assert plans == [SbcDialPlan(1, "BYOC", (SbcDialPlanRule(5, "r", "+1xx#", "t"),))]


def test_cli_without_dial_plans_finds_none() -> None:
    assert dial_plans_from_cli("configure network\n tls 0\n  name \"x\"\n exit\nexit\n") == ([], False)


def test_write_text_puts_rules_before_deleting_and_creates_the_plan_when_asked() -> None:
    edit = SbcDialPlanEdit(
        plan_name="BYOC", plan_index=2, create_plan=True,
        put=(SbcDialPlanRule(7, "byoc-4155550100", "+141555501xx#", "main"),), delete=(3,),
    )

    text = render_dial_plan_edit(edit)

    assert text == (
        "configure voip\n"
        " sbc dial-plan 2\n"
        '  name "BYOC"\n'
        "  activate\n"
        "  dial-plan-rule 7\n"
        '   name "byoc-4155550100"\n'
        '   prefix "+141555501xx#"\n'
        '   tag "main"\n'
        "   activate\n"
        "  exit\n"
        "  no dial-plan-rule 3\n"
        " exit\n"
        "exit\n"
    )
    assert dial_plans_from_cli(text)[0] == [
        SbcDialPlan(2, "BYOC", (SbcDialPlanRule(7, "byoc-4155550100", "+141555501xx#", "main"),))
    ]


def test_write_text_refuses_values_that_would_break_the_script() -> None:
    edit = SbcDialPlanEdit("BYOC", 0, put=(SbcDialPlanRule(0, 'x"y', "+1#", "t"),))

    with pytest.raises(ValueError, match="cannot be written"):
        render_dial_plan_edit(edit)


@pytest.mark.parametrize(
    ("answer", "problems"),
    [
        ({"description": "Incremental CLI Script file was loaded.", "status": "success",
          "output": "sbc1(config-voip)# sbc dial-plan 0\nsbc1(sbc-dial-plan-0)# exit"}, []),
        ({"description": "loaded", "output": "Error: line 4: 'prefx \"1\"': Invalid command"},
         ["Error: line 4: 'prefx \"1\"': Invalid command"]),
        ({"status": "failure", "output": ""}, ["status is 'failure'"]),
        ({"description": "loaded"}, []),
        ({"description": "Incremental CLI Script file was loaded.",
          "output": "Mediant SW(config-voip)# sbc dial-plan 0\n"
                    "Mediant SW(sbc-dial-plan-0)# prefix \"+1415555[0100-0119]#\"\n"
                    "Mediant SW(sbc-dial-plan-0)# invalid-field 1\n"
                    "Error: line 3: 'invalid-field 1': Invalid command"},
         ["Error: line 3: 'invalid-field 1': Invalid command"]),
        ({"output": "Mediant SW(config-voip)# no dial-plan-rule 4 failed"}, []),
    ],
)
def test_upload_answer_is_checked_beyond_http_200(answer: dict[str, str], problems: list[str]) -> None:
    assert upload_errors(answer) == problems


# --- REST client with a mock transport --------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def sbc_with(handler: Handler, sleeps: list[float] | None = None) -> AudioCodesSbc:
    return AudioCodesSbc(
        "https://sbc.test", "Admin", lambda: "pw", name="sbc1",
        retry=Backoff(attempts=4, base_s=0.5),
        sleep=(sleeps.append if sleeps is not None else lambda _: None),
        transport=httpx.MockTransport(handler),
    )


def test_every_request_carries_basic_auth_and_busy_answers_are_retried_with_backoff() -> None:
    seen: list[str] = []
    answers = iter([409, 503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        status = next(answers)
        return httpx.Response(status, json={"operationalState": "UNLOCKED", "saveNeeded": "true"}
                              if status == 200 else {"description": "HA sync in progress"})

    sleeps: list[float] = []
    status = sbc_with(handler, sleeps).status()

    assert status.save_needed is True and status.operational_state == "UNLOCKED"
    assert sleeps == [0.5, 1.0]
    assert set(seen) == {"Basic QWRtaW46cHc="}


def test_retry_after_is_honoured() -> None:
    answers = iter([httpx.Response(409, headers={"Retry-After": "3"}), httpx.Response(200, json={})])
    sleeps: list[float] = []

    sbc_with(lambda _: next(answers), sleeps).status()

    assert sleeps == [3.0]


def test_busy_past_the_budget_is_an_error_naming_ha_sync() -> None:
    with pytest.raises(SbcBusy, match=r"409 after 4 attempts.*HA sync"):
        sbc_with(lambda _: httpx.Response(409, json={"description": "busy"})).status()


def test_refused_credentials_say_what_to_check() -> None:
    with pytest.raises(SbcAuthFailed, match="BYOC_SBC_USERNAME"):
        sbc_with(lambda _: httpx.Response(401)).status()


def test_lost_answer_to_a_write_is_not_retried() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        raise httpx.ReadTimeout("timed out", request=request)

    with pytest.raises(SbcUnreachable, match="may or may not have been applied"):
        sbc_with(handler).save_configuration()
    assert calls == ["POST"]


def test_save_sends_an_empty_body_with_content_length_zero() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={})

    sbc_with(handler).save_configuration()

    assert seen[0].headers.get("Content-Length") == "0" and seen[0].content == b""


def test_alarms_are_read_page_by_page_until_the_cursor_ends() -> None:
    pages = {
        None: {"alarms": [{"id": 0, "description": "a"}, {"id": 1, "description": "b"}],
               "cursor": {"after": "1", "before": "-1"}},
        "1": {"alarms": [{"id": 2, "description": "c"}], "cursor": {"after": "-1", "before": "0"}},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("after")])

    alarms = sbc_with(handler).active_alarms()

    assert [a.description for a in alarms] == ["a", "b", "c"]


def test_no_active_alarms_is_204() -> None:
    assert sbc_with(lambda _: httpx.Response(204)).active_alarms() == []


class ScriptedSbc:
    """A device answering uploads as told, for the write path."""

    def __init__(self, ini: str, upload_answer: dict[str, str], cli: str = "") -> None:
        self.ini = ini
        self.cli = cli
        self.upload_answer = upload_answer
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/files/ini"):
            return httpx.Response(200, content=self.ini.encode())
        if request.url.path.endswith("/files/cliScript"):
            return httpx.Response(200, content=self.cli.encode())
        if request.url.path.endswith("/incremental"):
            assert b'name="file"' in request.content
            return httpx.Response(200, json=self.upload_answer)
        return httpx.Response(200, json={})


EDIT = SbcDialPlanEdit("BYOC", 0, put=(SbcDialPlanRule(9, "byoc-1", "+1#", "t"),))


def test_failed_script_is_not_saved() -> None:
    device = ScriptedSbc(DEVICE_INI, {"status": "failure", "output": "Error: line 3: x"})

    with pytest.raises(SbcScriptFailed, match=r"NOT saved.*dialect 'nested' .*the other is flat"):
        sbc_with(device).write_dial_plan(EDIT)

    assert device.requests == ["GET /api/v1/files/cliScript",
                               "PUT /api/v1/files/cliScript/incremental"]


def test_write_the_device_did_not_apply_is_detected_after_save() -> None:
    device = ScriptedSbc(DEVICE_INI, {"status": "success", "output": ""})

    with pytest.raises(SbcWriteNotApplied, match=r"rule 9 'byoc-1' \(\+1#\) is missing.*docs/sbc.md"):
        sbc_with(device).write_dial_plan(EDIT)

    assert device.requests == [
        "GET /api/v1/files/cliScript",
        "PUT /api/v1/files/cliScript/incremental",
        "POST /api/v1/actions/saveConfiguration",
        "GET /api/v1/files/ini",
    ]


@pytest.mark.parametrize(("export", "expected"), [
    ('configure voip\n sbc dial-plan 0\n  name "BYOC"\n  dial-plan-rule 4\n   name "a"\n', "nested"),
    ('configure voip\n sbc dial-plan 0\n exit\n sbc dial-plan-rule 0/4\n  name "a"\n', "flat"),
    ("configure voip\n sip-interface 0\n exit\nexit\n", None),
])
def test_the_dial_plan_dialect_is_read_from_the_cli_export(export: str, expected: str | None) -> None:
    assert dial_plan_dialect(export) == expected


def test_writes_follow_the_dialect_of_the_devices_export() -> None:
    flat = 'configure voip\n sbc dial-plan 0\n exit\n sbc dial-plan-rule 0/4\n  name "a"\n exit\n'
    device = ScriptedSbc(DEVICE_INI, {"status": "failure", "output": "Error: line 2: x"}, cli=flat)
    sent: list[bytes] = []

    def recording(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return device(request)

    with pytest.raises(SbcScriptFailed, match="dialect 'flat' \\(read from the CLI export\\)"):
        sbc_with(recording).write_dial_plan(EDIT)

    assert b" sbc dial-plan-rule 0/9\n" in sent[-1]


def test_rules_missing_from_both_exports_are_not_guessed() -> None:
    ini = DEVICE_INI.split("[ DialPlanRule ]")[0]
    device = ScriptedSbc(ini, {}, cli="configure voip\n sip-interface 0\n exit\nexit\n")

    with pytest.raises(SbcConfigUnreadable, match="will not guess"):
        sbc_with(device).read_dial_plans()


def test_rules_are_read_from_the_cli_when_the_ini_leaves_them_out() -> None:
    ini = DEVICE_INI.split("[ DialPlanRule ]")[0]
    device = ScriptedSbc(ini, {}, cli=NESTED_CLI)

    plans = sbc_with(device).read_dial_plans()

    assert plans.source == "cliScript"
    assert [r.name for r in plans.plans[0].rules] == ["empty-tag", "byoc-4155550100"]
    assert device.requests == ["GET /api/v1/status", "GET /api/v1/files/ini",
                               "GET /api/v1/files/cliScript"]


def test_write_format_is_data() -> None:
    assert DIAL_PLAN_WRITE_FORMAT.endpoint == "/files/cliScript/incremental"
    assert json.dumps(DIAL_PLAN_WRITE_FORMAT.rule_fields)


def test_management_url_must_be_https() -> None:
    with pytest.raises(ValueError, match="https"):
        AudioCodesSbc("http://10.0.1.4", "Admin", lambda: "pw")
