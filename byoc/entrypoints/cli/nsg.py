"""`byoc nsg`: the carrier ranges each SBC admits, and who its NSG lets in."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from byoc.entrypoints.cli.context import (
    JsonOption,
    chosen_sbcs,
    services,
)
from byoc.entrypoints.cli_output import (
    err,
    fail,
    out,
    print_json,
)

nsg_app = typer.Typer(help="Azure NSG rules in front of each SBC.", no_args_is_help=True)


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
        chosen_sbcs(settings, sbc)
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
