"""The status, health and doctor reports as terminal tables (the CLI and the demo print them)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from byoc.entrypoints.cli_output import out
from byoc.services.status import deferred, last_slice, last_sync


def render_status(data: dict[str, Any]) -> None:
    """The status report as tables."""
    inventory = Table(title="Numbers", show_edge=False)
    for state in data["inventory"]:
        inventory.add_column(state)
    inventory.add_row(*(str(v) for v in data["inventory"].values()))
    out.print(inventory)
    targets = Table(title="Targets", show_edge=False)
    for column in ("target", "last full sync", "converged", "changes", "problem",
                   "last slice sync"):
        targets.add_column(column, overflow="fold")
    for name, sync in sorted(data["targets"].items()):
        problem = (sync.get("refused") or sync.get("error")
                   or "; ".join(sync.get("problems") or []) or "")
        targets.add_row(name, last_sync(sync), str(sync.get("converged", "")),
                        str(sync.get("changes", "")), problem, last_slice(sync))
    if not data["targets"]:
        targets.add_row("(no sync yet)", "", "", "", "", "")
    out.print(targets)
    for name, sync in sorted(data["targets"].items()):
        if deferred(sync):
            out.print(f"{name}: {deferred(sync)}", highlight=False)
    if data["health"]:
        health = Table(title="Health", show_edge=False)
        for column in ("component", "status", "checked", "reason"):
            health.add_column(column)
        for name, item in sorted(data["health"].items()):
            health.add_row(name, str(item.get("status")), str(item.get("checked_at", "")),
                           str(item.get("reason", "")))
        out.print(health)
    for name, cert in sorted((data.get("certificates") or {}).items()):
        out.print(f"{name}: {cert['days_left']} days left (until {cert['not_after']})",
                  highlight=False)
    if data.get("health_run"):
        run = data["health_run"]
        out.print(f"health last checked {run.get('at')}: {run.get('status')}", highlight=False)
    for stuck in data["stuck"]:
        out.print(f"[yellow]stuck[/] {stuck['number']} ({stuck['state']}): {stuck['errors']}",
                  highlight=False)
    poller = data.get("twilio_poller")
    if poller:
        failing = f", FAILING ({poller.get('failures')} in a row): {poller.get('last_error')}" \
            if poller.get("failures") else ""
        out.print(f"twilio poller: last success {poller.get('last_success_at')} "
                  f"(lag {poller.get('lag_s')} s){failing}", highlight=False)
    out.print(f"queue depth: {data['queue_depth']}   poison: {data['poison_depth']}",
              highlight=False)


_STATUS_STYLE = {"ok": "green", "degraded": "yellow", "down": "bold red"}


def render_health(data: dict[str, Any]) -> None:
    """A health report as a table, with the checks that did not run."""
    table = Table(title=f"Health ({data['at']}, {data['duration_ms']:.0f} ms)", show_edge=False)
    for column in ("component", "status", "figure", "reason"):
        table.add_column(column, overflow="fold")
    for name, item in data["components"].items():
        status = item["status"]
        table.add_row(name, f"[{_STATUS_STYLE.get(status, '')}]{status}[/]",
                      _key_figure(item.get("figures") or {}), item["reason"])
    if not data["components"]:
        table.add_row("(nothing checked)", "", "", "")
    out.print(table)
    for skipped in data["skipped"]:
        out.print(f"[dim]skipped {skipped['check']}: {skipped['reason']}[/]", highlight=False)
    counts = ", ".join(f"{n} {s}" for s, n in data["counts"].items())
    out.print(f"overall: {data['status']} ({counts})", highlight=False)


def _key_figure(figures: dict[str, Any]) -> str:
    """The one figure worth a column: RTT, days left, alarms, drift or poison depth."""
    if figures.get("rtt_ms") is not None:
        return f"{figures['rtt_ms']:.0f} ms"
    for key, label in (("days_left", "days left"), ("active", "alarms"), ("drift", "drift"),
                       ("poison_depth", "poison"), ("proxies_failing", "proxies failing")):
        if figures.get(key) is not None:
            return f"{figures[key]} {label}"
    return ""


_MARK_STYLE = {"pass": "green", "fail": "bold red", "unknown": "yellow"}


def render_doctor(data: dict[str, Any]) -> None:
    """A doctor report: each item's mark, title, evidence and fix, checklist first."""
    titles = {"checklist": "Go-live checklist", "variants": "Unverified vendor behaviour"}
    for section in ("checklist", "variants"):
        out.rule(titles[section])
        for item in (i for i in data["items"] if i["section"] == section):
            style = _MARK_STYLE[item["status"]]
            seen = f" [bold]{item['variant']}[/]" if item.get("variant") else ""
            out.print(f"[{style}]{item['mark']}[/] {item['title']}{seen} [dim]({item['key']})[/]",
                      highlight=False)
            for line in item["evidence"]:
                out.print(f"    {line}", highlight=False, markup=False)
            if item["fix"]:
                label = "fix" if item["status"] == "fail" else "to tell"
                out.print(f"    [{style}]{label}:[/] {item['fix']}", highlight=False)
    counts = data["counts"]
    out.print(f"{counts['pass']} ✓, {counts['fail']} ✗, {counts['unknown']} ?"
              + ("" if data["ok"] else " — fix every ✗ before going live"), highlight=False)
