"""local.settings.sample.json is generated from Settings and stays current."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from byoc.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "settings_sample.py"


def test_the_committed_sample_is_what_settings_describes() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT), "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_sample_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    values = json.loads((ROOT / "local.settings.sample.json").read_text())["Values"]
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.sbcs[0].name == "sbc1"
    assert settings.twilio_purchase_countries == ["US", "CA"]
