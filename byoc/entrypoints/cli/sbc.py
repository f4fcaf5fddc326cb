"""`byoc sbc`: the generated SBC configuration, each SBC's REST status, and dial-plan lookups."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from byoc.entrypoints.cli.context import (
    JsonOption,
    chosen_sbcs,
    services,
)
from byoc.entrypoints.cli_output import (
    VENDOR,
    err,
    fail,
    out,
    print_json,
    progress,
)

sbc_app = typer.Typer(help="AudioCodes SBCs: generated configuration, REST status, dial-plan lookups.",
                      no_args_is_help=True)


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
    chosen = chosen_sbcs(built.settings, sbc_name)
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
    from byoc.ports import SbcError

    built = services()
    rows: list[dict[str, Any]] = []
    for sbc in chosen_sbcs(built.settings, sbc_name):
        adapter = built.sbc(sbc)
        try:
            with progress(f"reading SBC {sbc.name}'s status and alarms…"):
                state = adapter.status()
                alarms = adapter.active_alarms(details=True)
        except (SbcError, LookupError) as exc:
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
    from byoc.domain.dialplan import best_rule
    from byoc.ports import SbcError
    from byoc.services.sbc_model import is_owned

    built = services()
    rows: list[dict[str, Any]] = []
    for sbc in chosen_sbcs(built.settings, sbc_name):
        adapter = built.sbc(sbc)
        try:
            with progress(f"reading SBC {sbc.name}'s Dial Plans…"):
                plan = adapter.read_dial_plans().named(sbc.dial_plan)
        except (SbcError, LookupError) as exc:
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
