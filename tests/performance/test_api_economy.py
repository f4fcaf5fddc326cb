"""Call budgets of a full onboarding, read from the sandbox's request logs (benchmarks/api_economy.py
does the work): numbers are handled as ranges and sets, so the calls do not grow with the numbers
except where an API takes them a chunk at a time, and a converged estate costs no write."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
NUMBERS_PER_IVR_PUT = 50


def api_economy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_economy", ROOT / "benchmarks" / "api_economy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("api_economy", module)
    spec.loader.exec_module(module)
    return module


def onboard(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert api_economy().main([*args, "--baseline-sample", "0"]) == 0
    result: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return result


@pytest.fixture(autouse=True)
def restored_environment() -> Iterator[None]:
    """The benchmark points BYOC_* variables at its own sandbox; put them back afterwards."""
    from byoc.bootstrap import reset_services

    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
    reset_services()


def test_a_contiguous_block_costs_a_few_calls_per_target_and_a_second_pass_writes_nothing(
        capsys: pytest.CaptureFixture[str]) -> None:
    result = onboard(capsys, "--numbers", "200", "--layout", "contiguous")

    assert result["targets_met"]["all_active"]
    assert result["calls"]["genesys"] <= 30
    assert result["sbc_writes_per_sbc"] <= 3
    assert result["twilio_associations"] == 200  # bought in the console: each one associated
    assert result["steady_writes"] == {"twilio": 0, "genesys": 0, "sbc": 0, "nsg": 0}


def test_genesys_calls_grow_only_by_the_ivr_chunks_as_a_block_grows(
        capsys: pytest.CaptureFixture[str]) -> None:
    small = onboard(capsys, "--numbers", "100", "--layout", "contiguous")
    large = onboard(capsys, "--numbers", "400", "--layout", "contiguous")

    extra_chunks = (400 - 100) // NUMBERS_PER_IVR_PUT
    assert large["calls"]["genesys"] - small["calls"]["genesys"] <= extra_chunks
    assert large["writes"]["sbc"] == small["writes"]["sbc"]
    assert large["calls"]["nsg"] == small["calls"]["nsg"]


def test_numbers_bought_through_byoc_need_no_association_call(
        capsys: pytest.CaptureFixture[str]) -> None:
    result = onboard(capsys, "--numbers", "50", "--layout", "scattered", "--bought", "byoc")

    assert result["targets_met"]["all_active"]
    assert result["twilio_associations"] == 0
    assert result["writes"]["twilio"] <= 1  # at most the origination URL the seed lacks
