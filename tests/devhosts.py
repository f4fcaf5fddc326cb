"""devhost for tests: the app with the repository's host.json, some queue settings changed."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from byoc.entrypoints.devhost import DevHost

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def running_devhost(tmp_path: Path, **queues: Any) -> Iterator[DevHost]:
    """devhost on a free port, timers off, with `queues` over host.json's queue settings."""
    import function_app

    host_json = json.loads((ROOT / "host.json").read_text())
    host_json["extensions"]["queues"].update(queues)
    path = tmp_path / "host.json"
    path.write_text(json.dumps(host_json))
    running = DevHost(function_app.app, host_json=path, port=0, timers=False).start()
    try:
        yield running
    finally:
        running.stop()


def wait_for(condition: Callable[[], Any], timeout_s: float = 20.0) -> None:
    """Poll `condition` until it holds; fail the test if it does not within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")
