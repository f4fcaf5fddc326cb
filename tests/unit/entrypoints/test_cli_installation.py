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
