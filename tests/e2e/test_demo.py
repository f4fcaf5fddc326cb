"""`byoc demo` (what `make demo` runs) goes from an empty estate to a purchased number on every target."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from azurite import Azurite

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_runs_to_the_end_and_shows_the_number_everywhere(azurite: Azurite) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BYOC_")}
    env["AzureWebJobsStorage"] = azurite.connection_string
    env["COLUMNS"] = "200"
    result = subprocess.run([sys.executable, "-m", "byoc.entrypoints.cli", "demo"], cwd=ROOT,
                            env=env, capture_output=True, text=True, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "active on every target" in output
    path = output.split("7. The number's path")[1].split("8. Rotate")[0]
    assert "path OK: every hop checks out" in path and "✗" not in path
    assert "✓ twilio: number: owned by the account" in path and "on trunk TK" in path
    assert path.count(": dial plan: byoc rule ") == 2 and path.count("-> IP Group IPG_Genesys") == 2
    assert "✓ genesys: routing: routed to IVR 'Main IVR'" in path
    assert "sbc1: rotated" in output and "sbc2: rotated" in output
    assert "refused" not in output.split("5. Converge")[1].split("6. Buy")[0]
    call = output.split("11. Does it ring?")[1]
    assert "sbc1: byoc sbc render-config uploaded" in call
    assert "✓ twilio: call CA" in call and "completed" in call
    assert "✓ genesys: conversation" in call and "Main IVR" in call
    assert "rings: answered in Genesys, codec audio/pcmu" in call
