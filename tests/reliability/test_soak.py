"""The chaos soak's CI variant: benchmarks/soak.py --quick (20 events, two devhost worker
processes, vendor faults at the issue's rates, three worker kills mid-sync)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.soak, pytest.mark.integration]
ROOT = Path(__file__).resolve().parents[2]


def test_the_estate_converges_under_faults_duplicates_reordering_and_killed_workers(
        tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "soak.py"), "--quick", "--keep", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])

    assert figures["converged"], run.stdout[-3000:]
    assert (figures["lost"], figures["duplicates"], figures["poison"]) == (0, 0, 0)
    assert figures["worker_kills"] == 3 and figures["faults_injected"] > 0
    assert figures["write_calls"] <= 1.3 * figures["min_write_calls"], run.stdout[-3000:]
