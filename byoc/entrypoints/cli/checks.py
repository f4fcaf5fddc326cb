"""`byoc status`, `byoc health` and `byoc doctor`: how the estate is doing, and whether it is ready."""

from __future__ import annotations

from typing import Annotated

import typer

from byoc.entrypoints.cli.context import (
    JsonOption,
    services,
)
from byoc.entrypoints.cli_output import (
    err,
    print_json,
    progress,
)
from byoc.entrypoints.reports import render_doctor, render_health, render_status


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
