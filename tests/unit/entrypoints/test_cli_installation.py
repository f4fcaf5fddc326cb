"""The CLI installed without the checkout's sandbox says where the demo runs, in one error line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WITHOUT_SANDBOX = (
    "import sys\n"
    "sys.modules['sandbox'] = None  # as in `pip install .[cli]`: the sandbox is not shipped\n"
    "from byoc.entrypoints.cli import main\n"
    "sys.argv = ['byoc', *sys.argv[1:]]\n"
    "main()\n"
)


def test_sandbox_commands_without_the_sandbox_name_the_checkout(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_SANDBOX, "sandbox", "env", "--ports-file",
         str(tmp_path / "ports.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert "from a checkout" in lines[0] and "make demo" in lines[0]


def test_the_console_script_without_the_cli_extra_says_what_to_install(tmp_path: Path) -> None:
    script = ("import sys\n"
              "sys.modules['typer'] = None  # as in `pip install .` without the cli extra\n"
              "from byoc.entrypoints.console import main\n"
              "main()\n")
    done = subprocess.run([sys.executable, "-c", script, "--help"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "error: the byoc command needs the `cli` extra (typer is missing): pip install 'byoc[cli]'"]
