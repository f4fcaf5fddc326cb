"""The `byoc` console script: the CLI, or one clear line when its extra is not installed."""

from __future__ import annotations

import sys

CLI_PACKAGES = frozenset({"typer", "rich", "croniter"})


def main() -> None:
    """Run the CLI; without the `cli` extra say how to install it instead of a traceback."""
    try:
        from byoc.entrypoints.cli import main as cli_main
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in CLI_PACKAGES:
            raise
        sys.exit(f"error: the byoc command needs the `cli` extra ({exc.name} is missing): "
                 "pip install 'byoc[cli]'")
    cli_main()
