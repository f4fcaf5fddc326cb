"""`byoc cert`: SBC TLS certificates, from Key Vault to each SBC's TLS context."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from byoc.entrypoints.cli.context import (
    JsonOption,
    services,
)
from byoc.entrypoints.cli_output import (
    BUSY,
    fail,
    out,
    print_json,
    progress,
)

cert_app = typer.Typer(help="SBC TLS certificates: Key Vault to each SBC's TLS context.",
                       no_args_is_help=True)


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
