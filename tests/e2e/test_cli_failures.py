"""The `byoc` command in the situations that matter: a vendor down, bad settings, piped output,
`--json` with prompts, target families. Each failure is one `error:` line with a documented code."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.e2e
CLOSED = "https://127.0.0.1:9"  # nothing listens on the discard port


def cli(*args: str, answer: str | None = None) -> Any:
    from byoc.bootstrap import reset_services
    from byoc.entrypoints.cli import app

    reset_services()
    return CliRunner().invoke(app, list(args), input=answer)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def no_traceback(result: Any) -> None:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception


def _break_sbc(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    sbcs = json.loads(os.environ["BYOC_SBCS"])
    for sbc in sbcs:
        if sbc["name"] == name:
            sbc["management_url"] = CLOSED
    monkeypatch.setenv("BYOC_SBCS", json.dumps(sbcs))
    monkeypatch.setenv("BYOC_SBC_TIMEOUT_S", "2")


def test_one_unreachable_sbc_does_not_hide_the_other_targets_plans(
    sandbox_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    _break_sbc(monkeypatch, "sbc2")

    result = cli("plan")

    assert result.exit_code == 3, result.output
    no_traceback(result)
    [line] = error_lines(result.stderr)
    assert line.startswith("error: sbc:sbc2:") and "sbc2" in line
    for target in ("twilio", "sbc:sbc1", "genesys", "nsg:sbc1", "nsg:sbc2"):
        assert target in result.stdout, target
    assert "reading twilio" in result.stderr  # progress, on stderr

    as_json = cli("plan", "--json")
    assert as_json.exit_code == 3
    data = json.loads(as_json.stdout)  # progress never lands in the JSON
    assert {p["target"] for p in data["plans"]} >= {"twilio", "sbc:sbc1", "genesys"}
    assert [e["target"] for e in data["errors"]] == ["sbc:sbc2"]

    status = cli("sbc", "status", "--json")  # the reachable SBC is still shown
    assert status.exit_code == 3
    rows = {row["sbc"]: row for row in json.loads(status.stdout)["sbcs"]}
    assert "error" in rows["sbc2"] and rows["sbc1"]["operational_state"]


def test_a_vendor_error_is_one_line_with_exit_3_and_json_with_json(
    sandbox_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BYOC_TWILIO_API_BASE", CLOSED)
    monkeypatch.setenv("BYOC_TWILIO_TIMEOUT_S", "2")

    result = cli("numbers", "buy", "--area-code", "415", "--dry-run")

    assert result.exit_code == 3, result.output
    no_traceback(result)
    [line] = error_lines(result.output)
    assert line.startswith("error: Twilio:") or line.startswith("error: network:"), line
    assert result.stdout == ""

    as_json = cli("numbers", "buy", "--area-code", "415", "--dry-run", "--json")
    assert as_json.exit_code == 3
    data = json.loads(as_json.stdout)
    assert data["exit_code"] == 3 and data["error"]
    assert len(as_json.stdout.strip().splitlines()) == 1


def test_bad_settings_are_one_line_with_exit_2(byoc_env: dict[str, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYOC_SBCS", "[{not json")

    result = cli("status")

    assert result.exit_code == 2, result.output
    no_traceback(result)
    assert len(error_lines(result.output)) == 1
    assert "BYOC_SBCS" in result.output


def test_json_with_a_prompt_needs_yes_and_prompts_go_to_stderr(
    sandbox_env: dict[str, Any]
) -> None:
    refused = cli("apply", "--target", "twilio", "--json")
    assert refused.exit_code == 2
    assert "--yes" in json.loads(refused.stdout)["error"]

    declined = cli("apply", "--target", "nsg", answer="n\n")
    assert declined.exit_code == 1
    assert "Apply changes" in declined.stderr and "Apply changes" not in declined.stdout

    for command in (["numbers", "release", "+14155550100", "--json"],
                    ["jobs", "poison", "purge", "--json"]):
        result = cli(*command)
        assert result.exit_code == 2, command
        assert "--yes" in json.loads(result.stdout)["error"]


def test_release_and_purge_print_json(sandbox_env: dict[str, Any]) -> None:
    purged = cli("jobs", "poison", "purge", "--yes", "--json")
    assert purged.exit_code == 0, purged.output
    assert json.loads(purged.stdout) == {"purged": 0}

    refused = cli("numbers", "release", "+14155550199", "--yes", "--json")
    assert refused.exit_code == 1
    assert "inventory" in json.loads(refused.stdout)["error"]


def test_target_accepts_families(sandbox_env: dict[str, Any]) -> None:
    nsg = json.loads(cli("plan", "--target", "nsg", "--json").stdout)
    assert [p["target"] for p in nsg["plans"]] == ["nsg:sbc1", "nsg:sbc2"]
    sbc = json.loads(cli("plan", "--target", "sbc", "--json").stdout)
    assert [p["target"] for p in sbc["plans"]] == ["sbc:sbc1", "sbc:sbc2"]

    unknown = cli("plan", "--target", "sbc:ghost")
    assert unknown.exit_code == 1
    [line] = error_lines(unknown.output)
    assert "sbc:ghost" in line and "sbc:sbc1" in line


def test_tables_are_not_cut_when_piped(byoc_env: dict[str, str]) -> None:
    result = cli("nsg", "ranges")

    assert result.exit_code == 0, result.output
    assert "…" not in result.stdout
    rows = [line for line in result.stdout.splitlines() if "168.86." in line]
    assert rows, result.stdout[:500]
    assert all("twilio" in row.lower() and "sbc1" in row for row in rows)


def test_a_held_lease_is_busy_exit_4(sandbox_env: dict[str, Any]) -> None:
    from byoc.bootstrap import get_services

    with get_services().locks.hold("sbc:sbc1"):
        result = cli("cert", "rotate", "--sbc", "sbc1")

    assert result.exit_code == 4, result.output
    no_traceback(result)
    [line] = error_lines(result.output)
    assert "sbc:sbc1" in line or "lease" in line


def test_the_trace_endpoint_refuses_a_number_that_is_not_e164(byoc_env: dict[str, str]) -> None:
    import azure.functions as func

    from byoc.entrypoints.functions.http import number_trace

    response = number_trace(func.HttpRequest("GET", "http://h/api/numbers/12ab/trace", body=b"",
                                             route_params={"number": "12ab"}))

    assert response.status_code == 400
    assert "12ab" in json.loads(response.get_body())["error"]
