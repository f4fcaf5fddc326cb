"""How the `byoc` command talks: one `error:` line per failure, exit codes, progress, tables.

Exit codes (docs/cli.md):

    0  done
    1  done, and something needs you (a check failed, a target did not converge, a trace hop
       failed), or the command refused (bad value, guard, declined prompt)
    2  usage or configuration error (options, settings, policy)
    3  a vendor or Azure call failed (unreachable, refused, bad credentials); the line names it
    4  busy: another sync holds the target's lease; try again shortly
  130  interrupted

With `--json` an error is one JSON object on stdout, `{"error": ..., "exit_code": ..., "source": ...}`,
and nothing else is printed there; progress and prompts always go to stderr.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from typer._click.core import Context as _ClickContext  # the click typer vendors
from typer.core import TyperGroup
from typer.exceptions import TyperException

OK, NEEDS_YOU, CONFIGURATION, VENDOR, BUSY, INTERRUPTED = 0, 1, 2, 3, 4, 130
_MAX_LINE = 600

class _Console(Console):
    """A console whose rules stay 100 columns wide when piped (its width then is unbounded)."""

    def rule(self, *args: Any, **kwargs: Any) -> None:
        if self.is_terminal:
            super().rule(*args, **kwargs)
            return
        from rich.rule import Rule

        self.print(Rule(*args, **kwargs), width=100)


out = _Console()
err = _Console(stderr=True)
log = logging.getLogger("byoc.cli")


class _Mode:
    """What the running command asked for (set while its options are parsed)."""

    json = False


mode = _Mode()


def remember_json(value: bool) -> bool:
    """Option callback of `--json`: errors of this command are printed as JSON."""
    mode.json = mode.json or bool(value)
    return value


def one_line(text: str) -> str:
    """`text` on one line (vendor messages span several), cut at a readable length."""
    flat = "; ".join(part.strip() for part in str(text).splitlines() if part.strip())
    return flat if len(flat) <= _MAX_LINE else flat[: _MAX_LINE - 1] + "…"


def fail(message: str, code: int = NEEDS_YOU, *, source: str | None = None) -> NoReturn:
    """Print one error line a person can act on (or one JSON object with `--json`) and exit."""
    message = one_line(message)
    if mode.json:
        sys.stdout.write(json.dumps({"error": message, "exit_code": code, "source": source}) + "\n")
    else:
        err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def describe_failure(exc: BaseException) -> tuple[int, str, str | None]:
    """Exit code, message and source (the vendor or system) of an exception a command let out."""
    from byoc.adapters.lock import LockBusy
    from byoc.adapters.nsg import NsgError
    from byoc.adapters.policy_source import PolicyUnavailable
    from byoc.domain.policy import PolicyError
    from byoc.ports import GenesysError, SbcError, TwilioError
    from byoc.settings import ConfigurationError

    kinds: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], int, str], ...] = (
        (ConfigurationError, CONFIGURATION, "settings"),
        ((PolicyError, PolicyUnavailable), CONFIGURATION, "policy"),
        (LockBusy, BUSY, "lease"),
        (TwilioError, VENDOR, "Twilio"),
        (GenesysError, VENDOR, "Genesys Cloud"),
        (SbcError, VENDOR, "AudioCodes SBC"),
        (NsgError, VENDOR, "Azure NSG"),
    )
    for kind, code, source in kinds:
        if isinstance(exc, kind):
            return code, f"{source}: {exc}", source
    azure = _azure_error(exc)
    if azure is not None:
        return VENDOR, f"Azure: {azure}", "Azure"
    if _is_network_error(exc):
        return VENDOR, f"network: {type(exc).__name__}: {exc}", "network"
    if isinstance(exc, LookupError) and "SECRET_NAME" in str(exc):
        return CONFIGURATION, str(exc), "settings"
    if isinstance(exc, ModuleNotFoundError):
        return CONFIGURATION, _missing_module(exc.name or ""), "installation"
    return NEEDS_YOU, (f"unexpected {type(exc).__name__}: {exc} (run with --verbose for the "
                       "traceback)"), None


def _missing_module(name: str) -> str:
    if name.split(".")[0] in {"sandbox", "starlette", "uvicorn"}:
        return ("the sandbox emulators are not part of the installed byoc package: run `byoc demo` "
                "and `byoc sandbox` from a checkout (`make venv`, then `make demo`)")
    return (f"the Python package {name!r} is not installed: `pip install 'byoc[cli]'` for the CLI, "
            "`make venv` in a checkout for everything")


def _azure_error(exc: BaseException) -> str | None:
    try:
        from azure.core.exceptions import AzureError
    except ImportError:  # pragma: no cover - azure-core is a runtime dependency
        return None
    if not isinstance(exc, AzureError):
        return None
    message = getattr(exc, "message", None) or str(exc)
    return f"{type(exc).__name__}: {message}"


def _is_network_error(exc: BaseException) -> bool:
    import httpx

    return isinstance(exc, (httpx.HTTPError, ConnectionError, TimeoutError))


class ByocGroup(TyperGroup):
    """The root command: a failure any subcommand lets out becomes one `error:` line."""

    def invoke(self, ctx: _ClickContext) -> Any:
        mode.json = False
        for console in (out, err):
            if not console.is_terminal:
                console.width = 10_000  # piped: whole lines and table columns (`| grep` finds them)
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, TyperException):
            raise
        except KeyboardInterrupt:
            fail("interrupted", INTERRUPTED)
        except Exception as exc:
            code, message, source = describe_failure(exc)
            log.debug("command failed", exc_info=True)
            fail(message, code, source=source)


@contextmanager
def progress(message: str) -> Iterator[None]:
    """A spinner on stderr while slow work runs (a terminal); one line otherwise, none with
    `--json` on a pipe."""
    if err.is_terminal:
        with err.status(escape(message)):
            yield
        return
    if not mode.json:
        err.print(escape(message), highlight=False)
    yield


def confirm(question: str, *, yes: bool) -> None:
    """Ask on stderr unless `--yes`; exit 1 on no. `--json` without `--yes` is refused, so the
    question never lands in the JSON."""
    if yes:
        return
    if mode.json:
        fail("--json cannot ask for confirmation: add --yes", CONFIGURATION)
    if not typer.confirm(question, err=True):
        err.print("Nothing changed.")
        raise typer.Exit(NEEDS_YOU)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
