"""The `byoc` command: the same services the function app runs, from a terminal.

Settings come from the environment, or from `local.settings.json` Values (as `func start` reads
them) when that file is in the current directory or named with `--settings`. One module per
command group; this one builds the command tree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from byoc.entrypoints.cli import calls, cert, checks, jobs, local, nsg, numbers, sbc, sync
from byoc.entrypoints.cli_output import CONFIGURATION, ByocGroup, fail

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

app.add_typer(jobs.jobs_app, name="jobs")
app.add_typer(local.sandbox_app, name="sandbox")
app.command()(sync.plan)
app.command()(sync.apply)
app.command()(calls.trace)
app.command("test-call")(calls.test_call)
app.command()(checks.status)
app.command()(local.devhost)
app.command()(local.demo)
app.add_typer(nsg.nsg_app, name="nsg")
app.add_typer(sbc.sbc_app, name="sbc")
app.add_typer(cert.cert_app, name="cert")
app.add_typer(numbers.numbers_app, name="numbers")
app.command()(checks.health)
app.command()(checks.doctor)


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
        from byoc.observability import configure_logging, log_level_from

        try:
            configure_logging(log_level_from(os.environ.get("BYOC_LOG_LEVEL")))
        except ValueError as exc:
            fail(str(exc), CONFIGURATION)
    else:
        _quiet_logs()


def _quiet_logs() -> None:
    """Without --verbose, log records (vendor retries, a target that could not be planned) stay
    out of the terminal: the command's own lines say what happened."""
    import logging

    root = logging.getLogger()
    if not any(isinstance(h, logging.NullHandler) for h in root.handlers):
        root.addHandler(logging.NullHandler())


def main() -> None:
    """Console-script entry point."""
    app()
