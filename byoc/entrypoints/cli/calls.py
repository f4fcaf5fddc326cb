"""Will a number ring: `byoc trace` reads its path hop by hop, `byoc test-call` places a real call."""

from __future__ import annotations

from typing import Annotated

import typer

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


def trace(
    number: Annotated[str, typer.Argument(help="The number, E.164 (e.g. +14155550100).")],
    as_json: JsonOption = False,
) -> None:
    """Why does NUMBER (not) ring? Its path hop by hop, read live from Twilio, the NSGs, each SBC
    and Genesys: ✓ with the evidence, ✗ with the fix. Exit 1 if any hop fails."""
    built = services()
    phone = e164(number, built.settings.default_region)
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
    phone = e164(number, built.settings.default_region)
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
