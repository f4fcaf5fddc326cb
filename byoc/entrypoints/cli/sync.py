"""`byoc plan` and `byoc apply`: what would change on each target, and converging them."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from byoc.entrypoints.cli.context import (
    JsonOption,
    TargetOption,
    YesOption,
    services,
)
from byoc.entrypoints.cli_output import (
    CONFIGURATION,
    VENDOR,
    confirm,
    describe_failure,
    err,
    fail,
    one_line,
    out,
    print_json,
    progress,
)


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
    from byoc.services.reconciler import UnknownTarget

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
    first = built.reconcile.unrecorded(result.plans)
    if not as_json:
        for item in pending:
            out.print(item.render_text(), highlight=False, markup=False)
        _print_plan_errors(result.errors)
        if first:
            err.print("Nothing to change on " + ", ".join(p.target for p in first)
                      + "; recording a first full sync of each.", highlight=False, markup=False)
    if not pending and not first:
        if as_json:
            print_json({"outcomes": [], "errors": result.errors})
        else:
            out.print("Nothing to change." if not result.errors else
                      "Nothing to change on the targets that could be read.")
        if result.errors:
            raise typer.Exit(VENDOR)
        return
    if pending:
        confirm(f"Apply changes to {len(pending)} target(s)?", yes=yes)
    correlation_id = new_correlation_id()
    outcomes = []
    failed = False
    work = pending + first
    for index, item in enumerate(work, 1):
        doing = "applying" if index <= len(pending) else "syncing (no changes)"
        try:
            with progress(f"[{index}/{len(work)}] {item.target}: {doing}…"):
                outcome = built.reconcile.sync(item.target, correlation_id=correlation_id,
                                               force=force)
        except Exception as exc:
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
