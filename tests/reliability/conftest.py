"""Reliability tests share helpers (estate.py) kept beside them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from estate import Vendors  # noqa: E402


@pytest.fixture
def vendors(sandbox_env: dict[str, Any]) -> Iterator[Vendors]:
    """The sandbox's vendors, their injected faults cleared afterwards."""
    found = Vendors(sandbox_env)
    yield found
    found.clear_faults()
    found.close()
