"""The `byoc` command: the same services the function app runs, from a terminal.

Settings come from the environment, or from `local.settings.json` Values (as `func start` reads
them) when that file is in the current directory or named with `--settings`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from byoc.entrypoints.cli_output import (
    BUSY,
    CONFIGURATION,
    VENDOR,
    ByocGroup,
    confirm,
    err,
    fail,
    one_line,
    out,
    print_json,
    progress,
    remember_json,
)

app = typer.Typer(
    cls=ByocGroup,
    name="byoc",
    help="Control plane for Genesys Cloud BYOC: Twilio numbers, AudioCodes SBCs, Genesys, Azure NSG.",
    epilog="Exit codes: 0 done; 1 something needs you (a failed check, hop or sync) or refused; "
           "2 usage or configuration error; 3 a vendor or Azure call failed; 4 busy (a lease is "
           "held); 130 interrupted. Errors are one 'error:' line (JSON with --json). docs/cli.md",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
jobs_app = typer.Typer(help="The job queue and its poison queue.", no_args_is_help=True)
poison_app = typer.Typer(help="Messages that failed too often, or were malformed.",
                         no_args_is_help=True)
sandbox_app = typer.Typer(help="Local emulators of every vendor API (development).",
                          no_args_is_help=True)
app.add_typer(jobs_app, name="jobs")
jobs_app.add_typer(poison_app, name="poison")
app.add_typer(sandbox_app, name="sandbox")

TargetOption = Annotated[
    str, typer.Option("--target", "-t",
                      help="all, twilio, genesys, sbc (every SBC), sbc:<name>, nsg or nsg:<name>")
]
JsonOption = Annotated[bool, typer.Option("--json", callback=remember_json,
                                          help="Print JSON (data) instead of text.")]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


@app.callback()
def _global(
    settings_file: Annotated[
        Path | None,
        typer.Option("--settings", help="local.settings.json to read Values from."),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log to stderr.")] = False,
) -> None:
    """Load local settings, set up logging."""
    path = settings_file or Path("local.settings.json")
    if path.exists():
        from byoc.entrypoints.devhost import load_local_settings

        load_local_settings(path)
    elif settings_file is not None:
        fail(f"settings file {settings_file} does not exist")
    if verbose:
        from byoc.observability import configure_logging

        configure_logging(os.environ.get("BYOC_LOG_LEVEL", "INFO"))
    else:
        _quiet_logs()


def _quiet_logs() -> None:
    """Without --verbose, log records (vendor retries, a target that could not be planned) stay
    out of the terminal: the command's own lines say what happened."""
    import logging

    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def services() -> Any:
    """The composition root, or a clear configuration error."""
    from byoc.bootstrap import get_services
    from byoc.settings import ConfigurationError

    try:
        built = get_services()
        built.settings  # noqa: B018 - force validation now
    except ConfigurationError as exc:
        fail(str(exc), code=CONFIGURATION, source="settings")
    return built


@app.command()
def plan(target: TargetOption = "all", as_json: JsonOption = False) -> None:
    """Show what `apply` would change, per target. Changes nothing. A target that cannot be read
    shows its own error; the others still show their plans (exit 3 if any could not be read)."""
    result = _dry_run(target)
    if as_json:
        print_json({"plans": [p.to_json() for p in result.plans], "errors": result.errors})
    else:
        if not result.plans and not result.errors:
            out.print("No targets are configured yet: nothing to plan.")
        for item in result.plans:
            out.print(item.render_text(), highlight=False, markup=False)
        _print_plan_errors(result.errors)
    if result.errors:
        raise typer.Exit(VENDOR)


def _dry_run(target: str) -> Any:
    """Plans per target, with progress; each unreadable target is an error entry, not an exit."""
    from byoc.services.reconcile import UnknownTarget

    with progress("loading settings and the targets…"):
        reconcile = services().reconcile
    try:
        return reconcile.dry_run(target, on_target=lambda name: progress(f"reading {name}…"))
    except UnknownTarget as exc:
        fail(str(exc.args[0]) if exc.args else str(exc))


def _print_plan_errors(errors: list[dict[str, str]]) -> None:
    """One `error:` line per target that could not be read."""
    for item in errors:
        err.print(f"error: {item['target']}: {one_line(item['error'])}", highlight=False,
                  markup=False, style="red")


@app.command()
def apply(
    target: TargetOption = "all",
    yes: YesOption = False,
    force: Annotated[
        bool, typer.Option("--force", help="Apply even what the mass-deletion guard refuses.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Converge targets now (plan, guard, apply, verify), one at a time, showing progress.
    Targets that cannot be read are reported and skipped; the others are applied."""
    from byoc.domain.jobs import new_correlation_id

    if as_json and not yes:
        fail("--json cannot ask for confirmation: add --yes", CONFIGURATION)
    built = services()
    result = _dry_run(target)
    pending = [p for p in result.plans if not p.is_empty]
    if not as_json:
        for item in pending:
            out.print(item.render_text(), highlight=False, markup=False)
        _print_plan_errors(result.errors)
    if not pending:
        if as_json:
            print_json({"outcomes": [], "errors": result.errors})
        else:
            out.print("Nothing to change." if not result.errors else
                      "Nothing to change on the targets that could be read.")
        if result.errors:
            raise typer.Exit(VENDOR)
        return
    confirm(f"Apply changes to {len(pending)} target(s)?", yes=yes)
    correlation_id = new_correlation_id()
    outcomes = []
    failed = False
    for index, item in enumerate(pending, 1):
        try:
            with progress(f"[{index}/{len(pending)}] {item.target}: applying…"):
                outcome = built.reconcile.sync(item.target, correlation_id=correlation_id,
                                               force=force)
        except Exception as exc:
            from byoc.entrypoints.cli_output import describe_failure

            failed = True
            message = one_line(describe_failure(exc)[1])
            outcomes.append({"target": item.target, "error": message})
            if not as_json:
                err.print(f"  {item.target}: failed: {message}", highlight=False, markup=False)
            continue
        outcomes.append(outcome.to_json())
        failed = failed or bool(outcome.refused) or not outcome.converged
        if not as_json:
            state = "refused: " + outcome.refused if outcome.refused else (
                "converged" if outcome.converged else "not converged: " + "; ".join(outcome.problems))
            err.print(f"  {item.target}: {state}", highlight=False, markup=False)
    if as_json:
        print_json({"correlation_id": correlation_id, "outcomes": outcomes,
                    "errors": result.errors})
    if failed:
        raise typer.Exit(1)
    if result.errors:
        raise typer.Exit(VENDOR)


@app.command()
def trace(
    number: Annotated[str, typer.Argument(help="The number, E.164 (e.g. +14155550100).")],
    as_json: JsonOption = False,
) -> None:
    """Why does NUMBER (not) ring? Its path hop by hop, read live from Twilio, the NSGs, each SBC
    and Genesys: ✓ with the evidence, ✗ with the fix. Exit 1 if any hop fails."""
    built = services()
    phone = _e164(number, built.settings.default_region)
    with progress(f"tracing {phone} through Twilio, the NSGs, the SBCs and Genesys…"):
        result = built.trace.trace(phone)
    if as_json:
        print_json(result.to_json())
    else:
        for line in result.render_lines():
            style = "red" if "✗" in line or line.startswith("path BROKEN") else (
                "yellow" if line.lstrip().startswith("fix:") else None)
            out.print(line, highlight=False, markup=False, style=style)
    if not result.ok:
        raise typer.Exit(1)


@app.command("test-call")
def test_call(
    number: Annotated[str, typer.Argument(help="The number, E.164 (e.g. +14155550100).")],
    yes: YesOption = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Call a number byoc does not manage.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Place a short real call to NUMBER through Twilio (a tone, then hang up) and confirm it
    arrived in Genesys: each hop's timing and the negotiated codec. Costs money (asks first;
    `--json` needs `--yes`). Exit 1 if the call did not reach Genesys."""
    from byoc.services.test_call import TestCallRefused

    built = services()
    phone = _e164(number, built.settings.default_region)
    try:
        warning = built.test_call.check(phone, force=force)
    except TestCallRefused as exc:
        fail(str(exc), CONFIGURATION)
    err.print(f"cost: {warning}", highlight=False, markup=False, style="yellow")
    confirm(f"Place a test call to {phone}?", yes=yes)
    with progress(f"calling {phone} through Twilio, then looking for it in Genesys…"):
        result = built.test_call.run(phone)
    if as_json:
        print_json(result.to_json())
    else:
        for hop in result.hops:
            mark = "✓" if hop.ok else "✗"
            timing = f" (+{hop.seconds:.2f} s)" if hop.seconds is not None else ""
            out.print(f"{mark} {hop.hop}: {hop.detail}{timing}", highlight=False, markup=False,
                      style=None if hop.ok else "red")
        if result.ok:
            out.print(f"{phone} rings: answered in Genesys, codec {result.codec or 'unknown'}",
                      highlight=False)
        else:
            out.print(result.reason, highlight=False, style="red")
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def status(as_json: JsonOption = False) -> None:
    """Inventory, per-target convergence, health and poison depth. Exit 1 if anything needs you."""
    from byoc.services.status import build_status

    built = services()
    with progress("reading the inventory, the last syncs and health…"):
        report = build_status(inventory=built.inventory, state=built.state, queue=built.queue)
    if as_json:
        print_json(report.to_json())
    else:
        render_status(report.to_json())
    if not report.ok:
        raise typer.Exit(1)


def render_status(data: dict[str, Any]) -> None:
    """The status report as tables."""
    inventory = Table(title="Numbers", show_edge=False)
    for state in data["inventory"]:
        inventory.add_column(state)
    inventory.add_row(*(str(v) for v in data["inventory"].values()))
    out.print(inventory)
    targets = Table(title="Targets", show_edge=False)
    for column in ("target", "last sync", "converged", "changes", "problem"):
        targets.add_column(column)
    for name, sync in sorted(data["targets"].items()):
        problem = sync.get("refused") or "; ".join(sync.get("problems") or []) or ""
        targets.add_row(name, str(sync.get("at", "")), str(sync.get("converged")),
                        str(sync.get("changes", "")), problem)
    if not data["targets"]:
        targets.add_row("(no sync yet)", "", "", "", "")
    out.print(targets)
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


@poison_app.command("list")
def poison_list(as_json: JsonOption = False) -> None:
    """Show poison messages (up to 32) and why each is there."""
    from byoc.services.poison import PoisonQueue

    messages = PoisonQueue(services().queue).list()
    if as_json:
        print_json({"messages": [m.to_json() for m in messages]})
        return
    if not messages:
        out.print("The poison queue is empty.")
    for message in messages:
        out.print(f"{message.id}  {message.inserted_on}  {message.reason}\n    {message.body[:200]}",
                  highlight=False)


@poison_app.command("replay")
def poison_replay(as_json: JsonOption = False) -> None:
    """Put valid poison messages back on the job queue; malformed ones stay, with the reason."""
    from byoc.services.poison import PoisonQueue

    result = PoisonQueue(services().queue).replay()
    if as_json:
        print_json({"replayed": result.replayed, "still_invalid": result.still_invalid})
        return
    out.print(f"Replayed {result.replayed} message(s).")
    for item in result.still_invalid:
        out.print(f"kept {item['id']}: {item['problem']}", highlight=False)


@poison_app.command("purge")
def poison_purge(yes: YesOption = False, as_json: JsonOption = False) -> None:
    """Delete every poison message (asks first; `--json` needs `--yes`)."""
    from byoc.services.poison import PoisonQueue

    if as_json and not yes:
        fail("--json cannot ask for confirmation: add --yes", CONFIGURATION)
    poison = PoisonQueue(services().queue)
    count = len(poison.list())
    if count == 0:
        if as_json:
            print_json({"purged": 0})
        else:
            out.print("The poison queue is empty.")
        return
    confirm(f"Delete {count}+ poison message(s) for good?", yes=yes)
    purged = poison.purge()
    if as_json:
        print_json({"purged": purged})
    else:
        out.print(f"Purged {purged} message(s).")


@app.command()
def devhost(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 7071,
    no_queue: Annotated[bool, typer.Option("--no-queue", help="Do not poll the queue.")] = False,
    no_timers: Annotated[bool, typer.Option("--no-timers", help="Do not fire timers.")] = False,
) -> None:
    """Run the function app locally (HTTP routes, queue polling, timers) like `func start`."""
    from byoc.entrypoints.devhost import main as devhost_main

    args = ["--port", str(port)] + (["--no-queue"] if no_queue else [])
    args += ["--no-timers"] if no_timers else []
    raise typer.Exit(devhost_main(args))


@app.command()
def demo(
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the sandbox and devhost up at the end.")
    ] = False,
) -> None:
    """Run the main job end to end on the local sandbox and Azurite, and print what it did."""
    from rich.console import Console

    from byoc.entrypoints.demo import run_demo

    raise typer.Exit(run_demo(Console(), keep_running=keep_running))


@sandbox_app.command("up")
def sandbox_up(
    seed: Annotated[Path | None, typer.Option(help="Seed YAML overriding the default.")] = None,
    ports_file: Annotated[Path | None, typer.Option(help="Write the endpoints here.")] = None,
) -> None:
    """Start every emulator on 127.0.0.1 until interrupted."""
    from sandbox.__main__ import main as sandbox_main

    args = (["--seed", str(seed)] if seed else []) + (
        ["--ports-file", str(ports_file)] if ports_file else [])
    raise typer.Exit(sandbox_main(args))


@sandbox_app.command("env")
def sandbox_env(
    ports_file: Annotated[Path, typer.Option(help="The ports file `sandbox up` wrote.")],
    fmt: Annotated[str, typer.Option("--format", help="sh or json")] = "sh",
) -> None:
    """Print the settings that point byoc at a running sandbox and a local Azurite."""
    from sandbox.__main__ import main as sandbox_main

    raise typer.Exit(sandbox_main(["env", "--ports-file", str(ports_file), "--format", fmt]))


nsg_app = typer.Typer(help="Azure NSG rules in front of each SBC.", no_args_is_help=True)
app.add_typer(nsg_app, name="nsg")


@nsg_app.command("ranges")
def nsg_ranges(as_json: JsonOption = False) -> None:
    """The carrier ranges each SBC admits, with the source and date of each."""
    from byoc.domain.carriers import CarrierRangeError
    from byoc.services.nsg_ranges import effective_ranges_report, ranges_warnings

    try:
        settings = services().settings
        rows = effective_ranges_report(settings)
        warnings = ranges_warnings(settings)
    except CarrierRangeError as exc:
        fail(str(exc))
    if as_json:
        print_json({"ranges": rows, "warnings": warnings})
        return
    for warning in warnings:
        err.print(f"warning: {warning}", markup=False, highlight=False)
    table = Table(show_edge=False)
    for column in ("sbc", "cidr", "carrier", "purpose", "protocol", "ports", "source", "checked"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row.get(c) or "") for c in
                        ("sbc", "cidr", "carrier", "purpose", "protocol", "ports", "source",
                         "checked")))
    out.print(table)


@nsg_app.command("exposure")
def nsg_exposure(
    sbc: Annotated[str | None, typer.Option("--sbc", help="Only this SBC.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Per port the SBC serves: who the NSG lets in and which rule does. Exit 1 if anything wider
    than the carrier ranges can reach it."""
    from byoc.domain.carriers import CarrierRangeError
    from byoc.services.nsg_ranges import exposure_report

    built = services()
    settings = built.settings
    if sbc is not None:
        _chosen_sbcs(settings, sbc)
    try:
        rows = exposure_report(settings, built.azure_nsg, sbc)
    except CarrierRangeError as exc:
        fail(str(exc))
    except Exception as exc:  # ARM errors carry their own explanation
        fail(f"cannot read the NSG: {exc}")
    if as_json:
        print_json({"exposure": rows, "exposed": any(r["exposed"] for r in rows)})
    else:
        if not rows:
            out.print("No SBC has an nsg_resource_id: byoc manages no NSG.")
        for row in rows:
            table = Table(title=f"SBC {row['sbc']}", show_edge=False)
            for column in ("service", "ports", "open to", "kind", "rule", "priority", "origin"):
                table.add_column(column)
            for port in row["ports"]:
                for opening in port["openings"]:
                    table.add_row(
                        port["service"], f"{port['protocol']} {opening['ports']}",
                        ", ".join(opening["sources"]), opening["kind"], opening["rule"],
                        str(opening["priority"]), opening["origin"],
                    )
            out.print(table)
            for problem in row["problems"]:
                err.print(f"exposed: {problem}", markup=False, highlight=False)
    if any(r["exposed"] for r in rows):
        raise typer.Exit(1)


sbc_app = typer.Typer(help="AudioCodes SBCs: generated configuration, REST status, dial-plan lookups.",
                      no_args_is_help=True)
app.add_typer(sbc_app, name="sbc")


def _chosen_sbcs(settings: Any, name: str | None) -> list[Any]:
    if name is None:
        return list(settings.sbcs)
    try:
        return [settings.sbc(name)]
    except KeyError as exc:
        fail(str(exc.args[0]))
    raise AssertionError("unreachable")


@sbc_app.command("render-config")
def sbc_render_config(
    genesys_identifier: Annotated[str, typer.Option(
        "--genesys-identifier", envvar="BYOC_GENESYS_INBOUND_IDENTIFIER",
        help="The Genesys BYOC Cloud trunk's Inbound SIP Termination Identifier (Genesys: "
             "Telephony > Trunks > External Trunks > Inbound).")],
    twilio_domain: Annotated[str | None, typer.Option(
        "--twilio-domain", envvar="BYOC_TWILIO_TERMINATION_DOMAIN",
        help="The trunk's Termination SIP URI host, <name>.pstn.twilio.com (default: read "
             "from the Twilio trunk).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="ini or cli.")] = "ini",
    sbc_name: Annotated[str | None, typer.Option("--sbc", help="One SBC (default: every SBC).")] = None,
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write here (with several SBCs: <stem>-<sbc><suffix>).")] = None,
    carrier_interface: Annotated[str, typer.Option(
        help="Network interface of the carrier side (Mediant VE default: O+M+C).")] = "O+M+C",
    genesys_interface: Annotated[str | None, typer.Option(
        help="Network interface of the Genesys side, if not the carrier one.")] = None,
    public_ip: Annotated[str | None, typer.Option(
        help="Azure public IP of the SBC (adds NAT translation).")] = None,
    opus: Annotated[bool, typer.Option("--opus", help="Offer Opus after G.711.")] = False,
    g729: Annotated[bool, typer.Option("--g729", help="Offer G.729 (only if licensed).")] = False,
) -> None:
    """Write the complete SBC configuration for the BYOC topology (see docs/sbc.md)."""
    from byoc.domain.policy import PolicyError
    from byoc.services.sbc_config import build_configuration
    from byoc.services.sbc_config_model import SbcConfigError, inputs_from_settings
    from byoc.services.sbc_config_render import render_cli, render_ini

    if fmt not in ("ini", "cli"):
        fail(f"--format must be ini or cli, not {fmt!r}")
    built = services()
    chosen = _chosen_sbcs(built.settings, sbc_name)
    try:
        policy = built.policy()
    except PolicyError as exc:
        fail(str(exc))
    render = render_ini if fmt == "ini" else render_cli
    if twilio_domain is None:
        from byoc.ports import TwilioError

        try:
            trunk = built.twilio.fetch_trunk()
        except (TwilioError, LookupError) as exc:
            fail(f"cannot read the Twilio trunk's domain name ({exc}); give --twilio-domain")
        if not trunk.domain_name:
            fail(f"the Twilio trunk {trunk.sid} has no domain name (Termination SIP URI): set it "
                 "in the Twilio console (Elastic SIP Trunking > Trunk > Termination), or give "
                 "--twilio-domain")
        twilio_domain = str(trunk.domain_name)
        err.print(f"Twilio domain {twilio_domain}: the domain name of Twilio trunk {trunk.sid}",
                  highlight=False)
    else:
        err.print(f"Twilio domain {twilio_domain}: given (--twilio-domain or "
                  "BYOC_TWILIO_TERMINATION_DOMAIN)", highlight=False)
    err.print(f"Genesys identifier {genesys_identifier}: given (--genesys-identifier or "
              "BYOC_GENESYS_INBOUND_IDENTIFIER); byoc does not read it from Genesys: the trunk-base "
              "property holding it is not documented (docs/sbc.md)",
              highlight=False)
    texts: list[tuple[str, str]] = []
    for sbc in chosen:
        try:
            inputs = inputs_from_settings(
                built.settings, sbc, policy, twilio_domain=twilio_domain,
                genesys_identifier=genesys_identifier, carrier_interface=carrier_interface,
                genesys_interface=genesys_interface, public_ip=public_ip, opus=opus, g729=g729,
            )
            texts.append((sbc.name, render(build_configuration(inputs))))
        except SbcConfigError as exc:
            fail(f"SBC {sbc.name}: {exc}")
    if output is None:
        sys.stdout.write("\n".join(text for _, text in texts))
        return
    for name, text in texts:
        path = output if len(texts) == 1 else output.with_name(
            f"{output.stem}-{name}{output.suffix}")
        path.write_bytes(text.encode())
        err.print(f"wrote {path} ({fmt}, SBC {name})", highlight=False)


@sbc_app.command("status")
def sbc_status(
    sbc_name: Annotated[str | None, typer.Option("--sbc", help="One SBC (default: every SBC).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Each SBC's REST status and active alarms. Exit 3 if one cannot be read (the others are
    still shown)."""
    from byoc.adapters.audiocodes import AudioCodesError, AudioCodesSbc

    built = services()
    rows: list[dict[str, Any]] = []
    for sbc in _chosen_sbcs(built.settings, sbc_name):
        adapter = AudioCodesSbc.from_settings(
            built.settings, sbc, lambda: built.secret("sbc_password"))
        try:
            with progress(f"reading SBC {sbc.name}'s status and alarms…"):
                state = adapter.status()
                alarms = adapter.active_alarms(details=True)
        except (AudioCodesError, LookupError) as exc:
            rows.append({"sbc": sbc.name, "error": f"{type(exc).__name__}: {exc}"})
            continue
        finally:
            adapter.close()
        rows.append({
            "sbc": sbc.name, "operational_state": state.operational_state,
            "high_availability": state.high_availability, "version": state.version,
            "save_needed": state.save_needed, "reset_needed": state.reset_needed,
            "alarms": [a.__dict__ for a in alarms],
        })
    if as_json:
        print_json({"sbcs": rows})
    else:
        table = Table(show_edge=False)
        for column in ("sbc", "state", "HA", "version", "save needed", "reset needed", "alarms"):
            table.add_column(column, overflow="fold")
        for row in rows:
            if "error" in row:
                table.add_row(row["sbc"], "[red]unreachable[/]", "", "", "", "", row["error"])
                continue
            table.add_row(row["sbc"], row["operational_state"], row["high_availability"],
                          row["version"], str(row["save_needed"]), str(row["reset_needed"]),
                          str(len(row["alarms"])))
        out.print(table)
        for row in rows:
            for alarm in row.get("alarms", []):
                out.print(f"{row['sbc']}: [{alarm['severity'] or '?'}] {alarm['description']} "
                          f"({alarm['source'] or '-'})", highlight=False, markup=False)
    if any("error" in row for row in rows):
        raise typer.Exit(VENDOR)


@sbc_app.command("resolve")
def sbc_resolve(
    number: Annotated[str, typer.Argument(help="E.164 number, e.g. +14155550100.")],
    sbc_name: Annotated[str | None, typer.Option("--sbc", help="One SBC (default: every SBC).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Which Dial Plan rule and tag each SBC picks for NUMBER (most specific rule wins)."""
    from byoc.adapters.audiocodes import AudioCodesError, AudioCodesSbc
    from byoc.domain.dialplan import best_rule
    from byoc.services.sbc_reconciler import is_owned

    built = services()
    rows: list[dict[str, Any]] = []
    for sbc in _chosen_sbcs(built.settings, sbc_name):
        adapter = AudioCodesSbc.from_settings(
            built.settings, sbc, lambda: built.secret("sbc_password"))
        try:
            with progress(f"reading SBC {sbc.name}'s Dial Plans…"):
                plan = adapter.read_dial_plans().named(sbc.dial_plan)
        except (AudioCodesError, LookupError) as exc:
            fail(f"SBC {sbc.name}: {exc}", VENDOR, source="AudioCodes SBC")
        finally:
            adapter.close()
        rule = best_rule(plan.rules, number) if plan else None
        rows.append({
            "sbc": sbc.name, "dial_plan": sbc.dial_plan, "number": number,
            "rule": None if rule is None else {"index": rule.index, "name": rule.name,
                                               "prefix": rule.prefix, "owned": is_owned(rule.name)},
            "tag": rule.tag if rule else None,
        })
    if as_json:
        print_json({"results": rows})
        return
    for row in rows:
        rule = row["rule"]
        where = ("no rule matches" if rule is None else
                 f"rule {rule['index']} {rule['name']} ({rule['prefix']}"
                 f"{', byoc' if rule['owned'] else ', foreign'})")
        out.print(f"{row['sbc']} {row['dial_plan']}: {number} -> tag {row['tag']!r}, {where}",
                  highlight=False, markup=False)


cert_app = typer.Typer(help="SBC TLS certificates: Key Vault to each SBC's TLS context.",
                       no_args_is_help=True)
app.add_typer(cert_app, name="cert")

_OUTCOME_STYLE = {"rotated": "green", "unchanged": "green", "would_rotate": "cyan",
                  "rolled_back": "yellow", "refused": "yellow", "unreachable": "yellow",
                  "not_reached": "dim", "failed": "red", "rollback_failed": "bold red",
                  "old_certificate_served": "yellow"}


@cert_app.command("rotate")
def cert_rotate(
    sbc: Annotated[str | None, typer.Option("--sbc", help="Only this SBC (default: all).")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and compare; change nothing.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option("--force", help="Upload even to SBCs already serving it, or with no "
                     "Key Vault version to roll back to."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Install Key Vault's current certificate on the SBCs, one at a time, each verified by a live
    TLS handshake and rolled back on failure. Exit 1 unless every SBC ends up serving it."""
    from byoc.adapters.lock import LockBusy
    from byoc.domain.jobs import new_correlation_id
    from byoc.services.certificate_report import CertificateRotationError

    built = services()
    try:
        with progress("rotating: each SBC in turn, verified by a live TLS handshake…"):
            report = built.certificates.rotate(
                sbc=sbc, force=force, dry_run=dry_run, correlation_id=new_correlation_id()
            )
    except LockBusy as exc:
        fail(str(exc), BUSY, source="lease")
    except CertificateRotationError as exc:
        fail(str(exc))
    data = report.to_json()
    if as_json:
        print_json(data)
    else:
        render_rotation(data)
    if not report.ok:
        raise typer.Exit(1)


def render_rotation(data: dict[str, Any]) -> None:
    """A rotation report: the certificate, then one line per SBC with what happened."""
    what = "Dry run: " if data["dry_run"] else ""
    version = f" version {data['version']}" if data["version"] else ""
    out.print(f"{what}Key Vault certificate {data['certificate']}{version}"
              f"{': ' + data['label'] if data['label'] else ''}", highlight=False)
    for note in data["notes"]:
        out.print(f"  note: {note}", highlight=False)
    if data["refused"]:
        out.print(f"[red]refused:[/] {data['refused']}", highlight=False)
        for problem in data["problems"][1:]:
            out.print(f"  also: {problem}", highlight=False)
    several = len({item.get("certificate") for item in data["sbcs"]}) > 1
    for item in data["sbcs"]:
        style = _OUTCOME_STYLE.get(item["outcome"], "")
        version = f" {item['version']}" if item.get("version") else ""
        which = f" ({item['certificate']}{version})" if several else ""
        out.print(f"  {item['sbc']}{which}: [{style}]{item['outcome']}[/] {item['detail']}",
                  highlight=False)
        if item["steps"]:
            out.print(f"    [dim]{' → '.join(item['steps'])}[/]", highlight=False)
    out.print(f"correlation id: {data['correlation_id']}", highlight=False)


@cert_app.command("status")
def cert_status(as_json: JsonOption = False) -> None:
    """Per SBC: the certificate it serves, fingerprint, days left, its Key Vault version and
    whether that is the current one. Exit 1 unless every SBC serves Key Vault's current one."""
    from byoc.services.certificate_report import CertificateRotationError

    built = services()
    try:
        with progress("reading each SBC's certificate (REST and a live TLS handshake)…"):
            statuses = built.certificates.status()
    except CertificateRotationError as exc:
        fail(str(exc))
    rows = [s.to_json() for s in statuses]
    if as_json:
        print_json({"sbcs": rows})
    else:
        table = Table(show_edge=False)
        for column in ("sbc", "certificate", "serves", "fingerprint", "days left",
                       "key vault version", "current", "problems"):
            table.add_column(column, overflow="fold")
        for row in rows:
            current = "yes" if row["matches_current"] else f"no ({row['current_version']})"
            table.add_row(row["sbc"], str(row["certificate"] or "-"), str(row["serves"] or "-"),
                          str(row["fingerprint"] or "-")[:16],
                          "-" if row["days_left"] is None else str(row["days_left"]),
                          str(row["key_vault_version"] or "not in Key Vault"), current,
                          "; ".join(row["problems"]))
        out.print(table)
        for row in rows:
            if row["trusted_roots"] is None:
                continue
            owned = row["byoc_trusted_roots"]
            listed = ", ".join(entry["label"] for entry in owned) or "none"
            out.print(f"{row['sbc']} trusted-root store: {row['trusted_roots']} certificate(s); "
                      f"added by byoc: {listed}", highlight=False, markup=False)
    if not all(s.matches_current and not s.problems for s in statuses):
        raise typer.Exit(1)


numbers_app = typer.Typer(help="Numbers: buy at Twilio onto the trunk, release, list, show.",
                          no_args_is_help=True)
app.add_typer(numbers_app, name="numbers")


@numbers_app.command("buy")
def numbers_buy(
    area_code: Annotated[str, typer.Option("--area-code", help="US/Canada area code, e.g. 415.")],
    count: Annotated[int, typer.Option("--count", help="How many numbers to buy.")] = 1,
    country: Annotated[
        str | None, typer.Option("--country", help="ISO country code, e.g. US or CA "
                                 "(default: the first of BYOC_TWILIO_PURCHASE_COUNTRIES).")
    ] = None,
    contains: Annotated[
        str | None, typer.Option("--contains", help="Digits the number must contain.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be bought; buy nothing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Buy managed numbers at Twilio onto the trunk and onboard them. Exit 1 on a shortfall."""
    from byoc.services.purchases import PurchaseRefused, parse_purchase_request

    built = services()
    try:
        request = parse_purchase_request({"area_code": area_code, "count": count,
                                          "country": country, "contains": contains,
                                          "dry_run": dry_run})
        with progress(f"searching and buying at Twilio (area code {area_code})…"):
            result = built.purchases.buy(request)
    except PurchaseRefused as exc:
        fail(str(exc))
    if as_json:
        print_json(result.to_json())
    else:
        verb = "Would buy" if result.dry_run else "Bought"
        out.print(f"{verb} {len(result.numbers)} number(s) on the trunk"
                  f"{':' if result.numbers else '.'}", highlight=False)
        for number in result.numbers:
            out.print(f"  {number}  {result.sids.get(number, '')}", highlight=False)
        if not result.dry_run and result.numbers:
            out.print(f"Onboarding queued (correlation id {result.correlation_id}); follow it "
                      "with `byoc numbers show NUMBER` or `byoc status`.", highlight=False)
        if result.shortfall:
            err.print(f"[yellow]warning:[/] {result.shortfall}", highlight=False)
    if result.shortfall:
        raise typer.Exit(1)


@numbers_app.command("release")
def numbers_release(
    number: Annotated[str, typer.Argument(help="The number, E.164 (e.g. +14155550100).")],
    yes: YesOption = False,
    as_json: JsonOption = False,
) -> None:
    """Offboard a number from every target, then release it at Twilio (it is gone for good)."""
    from byoc.services.purchases import ReleaseRefused

    if as_json and not yes:
        fail("--json cannot ask for confirmation: add --yes", CONFIGURATION)
    built = services()
    phone = _e164(number, built.settings.default_region)
    confirm(f"Release {phone}? byoc removes it from every target, then releases it at Twilio.",
            yes=yes)
    try:
        outcome = built.purchases.release(phone)
    except ReleaseRefused as exc:
        fail(str(exc))
    state = outcome.state.value if outcome.state else None
    if as_json:
        print_json({"number": phone, "state": state, "targets": list(outcome.targets)})
        return
    out.print(f"{phone} is {state or 'unchanged'}; syncs queued "
              f"for {', '.join(outcome.targets) or 'no target'}. byoc releases it at Twilio once "
              "every other target has let go; `byoc numbers show` follows it.", highlight=False)


@numbers_app.command("list")
def numbers_list(as_json: JsonOption = False) -> None:
    """Every number in the inventory, with its state and where it has converged."""
    records = sorted(services().inventory.all(), key=lambda r: r.number)
    if as_json:
        print_json({"numbers": [_record_json(r) for r in records]})
        return
    table = Table(title=f"Numbers ({len(records)})", show_edge=False)
    for column in ("number", "state", "genesys", "sbc tag", "converged on", "errors"):
        table.add_column(column, overflow="fold")
    for record in records:
        table.add_row(record.number, record.state.value, record.genesys_target or "",
                      record.sbc_tag or "", ", ".join(sorted(record.converged)),
                      "; ".join(f"{t}: {e}" for t, e in sorted(record.errors.items())))
    out.print(table)


@numbers_app.command("show")
def numbers_show(
    number: Annotated[str, typer.Argument(help="The number, E.164 (e.g. +14155550100).")],
    as_json: JsonOption = False,
) -> None:
    """One number: its inventory record and what byoc did to it (operations log, newest first)."""
    built = services()
    phone = _e164(number, built.settings.default_region)
    record = built.inventory.get(phone)
    operations = built.operations.for_number(phone)
    if record is None and not operations:
        fail(f"{phone} is not in the inventory and no operation mentions it")
    if as_json:
        print_json({"number": phone, "record": _record_json(record) if record else None,
                    "operations": operations})
        return
    if record is None:
        out.print(f"{phone}: not in the inventory", highlight=False)
    else:
        for key, value in _record_json(record).items():
            out.print(f"{key:>15}: {value}", highlight=False)
    table = Table(title="Operations", show_edge=False)
    for column in ("at", "target", "operation", "outcome", "correlation id"):
        table.add_column(column, overflow="fold")
    for row in operations:
        table.add_row(str(row.get("at", "")), str(row.get("target", "")),
                      str(row.get("operation", "")), str(row.get("outcome", "")),
                      str(row.get("correlation_id", "")))
    out.print(table)


def _e164(text: str, default_region: str | None) -> str:
    from byoc.domain.numbers import InvalidNumber, parse_number

    try:
        return parse_number(text, default_region)
    except (InvalidNumber, ValueError) as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def _record_json(record: Any) -> dict[str, Any]:
    import dataclasses

    data = dataclasses.asdict(record)
    data["state"] = record.state.value
    return data


_STATUS_STYLE = {"ok": "green", "degraded": "yellow", "down": "bold red"}


@app.command()
def health(as_json: JsonOption = False) -> None:
    """Run every health check now (SIP OPTIONS, SBC status and alarms, Genesys trunks,
    certificates, byoc itself), store the results, and show them. Exit 1 if anything is down."""
    built = services()
    with progress("running every health check (SIP OPTIONS, SBCs, Genesys trunks, certificates)…"):
        report = built.health.run()
    if as_json:
        print_json(report.to_json())
    else:
        render_health(report.to_json())
        if not report.stored:
            err.print("[yellow]warning:[/] the results could not be stored (see the log)")
    if report.down:
        raise typer.Exit(1)


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


@app.command()
def doctor(
    probe_writes: Annotated[bool, typer.Option(
        "--probe-writes",
        help="Also run the reversible write probes (per SBC a scratch Dial Plan rule and an "
             "incremental upload that changes nothing; a scratch Genesys DID pool), each removed "
             "again; docs/doctor.md lists them. Never by default.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Check the estate against the go-live checklist and show which variant each vendor exhibits
    for every unverified behaviour. Read-only unless --probe-writes. Exit 1 on any ✗."""
    built = services()
    with progress("checking the estate against the go-live checklist…"):
        report = built.doctor().run(probe_writes=probe_writes)
    if as_json:
        print_json(report.to_json())
    else:
        render_doctor(report.to_json())
    if report.failed:
        raise typer.Exit(1)


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


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
