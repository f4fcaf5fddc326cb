"""`byoc numbers`: buy at Twilio onto the trunk, release, list and show numbers."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from byoc.entrypoints.cli.context import (
    JsonOption,
    YesOption,
    e164,
    services,
)
from byoc.entrypoints.cli_output import (
    CONFIGURATION,
    confirm,
    err,
    fail,
    out,
    print_json,
    progress,
)

numbers_app = typer.Typer(help="Numbers: buy at Twilio onto the trunk, release, list, show.",
                          no_args_is_help=True)


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
    phone = e164(number, built.settings.default_region)
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
    phone = e164(number, built.settings.default_region)
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


def _record_json(record: Any) -> dict[str, Any]:
    import dataclasses

    data = dataclasses.asdict(record)
    data["state"] = record.state.value
    return data
