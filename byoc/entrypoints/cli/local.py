"""Running byoc on this machine: `byoc devhost`, `byoc demo` and `byoc sandbox`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

sandbox_app = typer.Typer(help="Local emulators of every vendor API (development).",
                          no_args_is_help=True)


def devhost(
    port: Annotated[int, typer.Option(help="HTTP port.")] = 7071,
    no_queue: Annotated[bool, typer.Option("--no-queue", help="Do not poll the queue.")] = False,
    no_timers: Annotated[bool, typer.Option("--no-timers", help="Do not fire timers.")] = False,
) -> None:
    """Run the function app locally (HTTP routes, queue polling, timers) like `func start`."""
    from byoc.entrypoints.devhost import main as devhost_main

    args = ["--port", str(port)] + (["--no-queue"] if no_queue else [])
    args += ["--no-timers"] if no_timers else []
    raise typer.Exit(devhost_main(args))


def demo(
    keep_running: Annotated[
        bool, typer.Option("--keep-running", help="Leave the sandbox and devhost up at the end.")
    ] = False,
) -> None:
    """Run the main job end to end on the local sandbox and Azurite, and print what it did."""
    from rich.console import Console

    from byoc.entrypoints.demo import run_demo

    raise typer.Exit(run_demo(Console(), keep_running=keep_running))


@sandbox_app.command("up")
def sandbox_up(
    seed: Annotated[Path | None, typer.Option(help="Seed YAML overriding the default.")] = None,
    ports_file: Annotated[Path | None, typer.Option(help="Write the endpoints here.")] = None,
) -> None:
    """Start every emulator on 127.0.0.1 until interrupted."""
    from sandbox.__main__ import main as sandbox_main

    args = (["--seed", str(seed)] if seed else []) + (
        ["--ports-file", str(ports_file)] if ports_file else [])
    raise typer.Exit(sandbox_main(args))


@sandbox_app.command("env")
def sandbox_env(
    ports_file: Annotated[Path, typer.Option(help="The ports file `sandbox up` wrote.")],
    fmt: Annotated[str, typer.Option("--format", help="sh or json")] = "sh",
) -> None:
    """Print the settings that point byoc at a running sandbox and a local Azurite."""
    from sandbox.__main__ import main as sandbox_main

    raise typer.Exit(sandbox_main(["env", "--ports-file", str(ports_file), "--format", fmt]))
