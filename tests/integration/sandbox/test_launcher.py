"""`python -m sandbox` starts every emulator, writes the ports file, and `env` points byoc at it."""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from byoc.settings import load_settings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


def test_the_sandbox_starts_and_its_env_is_a_valid_byoc_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ports_file = tmp_path / "ports.json"
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, "-m", "sandbox", "--ports-file", str(ports_file)],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while not ports_file.exists():
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else ""
            assert time.monotonic() - started < 60, "the sandbox did not start"
            time.sleep(0.05)
        print(f"sandbox ready in {time.monotonic() - started:.2f}s (process start included)")
        ports = json.loads(ports_file.read_text())
        assert len(ports["audiocodes"]) == len(ports["audiocodes_tls"]) == 2
        for url in (ports["twilio"], ports["genesys"]):
            assert httpx.get(f"{url}/_sandbox/state").status_code == 200
        trust = ssl.create_default_context(cafile=ports["ca_bundle"])
        for url in (ports["arm"], ports["keyvault"], *ports["audiocodes"]):
            assert httpx.get(f"{url}/_sandbox/state", verify=trust).status_code == 200

        env = subprocess.run([sys.executable, "-m", "sandbox", "env", "--ports-file",
                              str(ports_file), "--format", "json"], cwd=ROOT, check=True,
                             capture_output=True, text=True)
        values = json.loads(env.stdout)["Values"]
        for key in list(os.environ):
            if key.startswith("BYOC_"):
                monkeypatch.delenv(key)
        for key, value in values.items():
            monkeypatch.setenv(key, value)
        settings = load_settings()
        assert [s.name for s in settings.sbcs] == ["sbc1", "sbc2"]
        assert settings.keyvault_verify_challenge_resource is False
        assert settings.twilio_auth_token is None  # secrets come from the sandbox Key Vault
    finally:
        process.terminate()
        process.wait(timeout=15)
