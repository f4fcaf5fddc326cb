"""What every command shares: the services it runs (or one clear configuration error), the
common options, and reading a number or an SBC name from the command line."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from byoc.entrypoints.cli_output import CONFIGURATION, fail, remember_json

TargetOption = Annotated[
    str, typer.Option("--target", "-t",
                      help="all, twilio, genesys, sbc (every SBC), sbc:<name>, nsg or nsg:<name>")
]


JsonOption = Annotated[bool, typer.Option("--json", callback=remember_json,
                                          help="Print JSON (data) instead of text.")]


YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


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


def e164(text: str, default_region: str | None) -> str:
    from byoc.domain.numbers import InvalidNumber, parse_number

    try:
        return parse_number(text, default_region)
    except (InvalidNumber, ValueError) as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def chosen_sbcs(settings: Any, name: str | None) -> list[Any]:
    if name is None:
        return list(settings.sbcs)
    try:
        return [settings.sbc(name)]
    except KeyError as exc:
        fail(str(exc.args[0]))
    raise AssertionError("unreachable")
