"""`byoc status` shows each target's last full sync and, beside it, its last slice sync."""

from __future__ import annotations

import pytest

from byoc.entrypoints import cli_output
from byoc.entrypoints.reports import render_status


def test_the_status_table_shows_the_last_full_sync_and_the_last_slice_sync(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rich.console import Console

    console = Console(record=True, width=250)
    monkeypatch.setattr(cli_output.out, "print", console.print)
    render_status({
        "inventory": {"active": 3}, "health": {}, "stuck": [], "queue_depth": 0,
        "poison_depth": 0,
        "targets": {"genesys": {
            "at": "2026-01-01T00:00:00+00:00", "converged": False, "changes": 7,
            "problems": ["pool +14155550100-+14155550120 still differs"], "slice": None,
            "last_slice": {"at": "2026-01-01T00:09:00+00:00", "converged": True, "changes": 2,
                           "problems": [], "slice": ["+14155550130"], "slice_size": 1}}},
    })
    text = console.export_text()
    assert "last full sync" in text and "last slice sync" in text
    row = next(line for line in text.splitlines() if line.strip().startswith("genesys"))
    assert "2026-01-01T00:00:00+00:00" in row and " 7 " in row and "still differs" in row
    assert "2026-01-01T00:09:00+00:00: converged, 1 number(s), 2 change(s)" in row
