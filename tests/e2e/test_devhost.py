"""devhost runs the function app like the host: HTTP, queue with poison semantics, timers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from devhosts import ROOT, running_devhost, wait_for

from byoc.entrypoints.devhost import DevHost, QueueOptions, parse_timespan

pytestmark = pytest.mark.e2e


@pytest.fixture
def host(byoc_env: dict[str, str], tmp_path: Path) -> Iterator[DevHost]:
    with running_devhost(tmp_path, maxDequeueCount=2, visibilityTimeout="00:00:00",
                         maxPollingInterval="00:00:01") as running:
        yield running


def test_host_json_settings_are_read() -> None:
    options = QueueOptions.from_host_json(ROOT / "host.json")
    assert options.max_dequeue_count == 5 and options.batch_size == 8
    assert parse_timespan("00:01:30.5") == 90.5


def test_http_routes_are_served_under_api(host: DevHost) -> None:
    response = httpx.get(f"http://127.0.0.1:{host.port}/api/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    assert httpx.get(f"http://127.0.0.1:{host.port}/api/nowhere").status_code == 404
    assert httpx.get(f"http://127.0.0.1:{host.port}/api/resync").status_code == 405


def test_a_malformed_message_is_dead_lettered_at_once_with_its_reason(host: DevHost) -> None:
    from byoc.bootstrap import get_services

    queue = get_services().queue
    queue.send_text('{"schema_version": 1, "type": "nonsense"}')
    wait_for(lambda: queue.poison_messages())
    [poison] = queue.poison_messages()
    assert "invalid job message" in poison.reason and "nonsense" in poison.body
    assert host.invocations["byoc_jobs"] == 1


def test_a_failing_job_moves_to_poison_after_max_dequeue_count(host: DevHost) -> None:
    from byoc.bootstrap import get_services

    queue = get_services().queue
    # A valid job for a target that is not configured fails every time it runs.
    queue.send_text('{"schema_version": 1, "type": "sync_target", "target": "sbc:ghost", '
                    '"reason": "test", "correlation_id": "abcdefgh"}')
    wait_for(lambda: queue.poison_messages())
    [poison] = queue.poison_messages()
    assert "sbc:ghost" in poison.body and "maxDequeueCount" in poison.reason
    assert host.invocations["byoc_jobs"] == 2
    assert queue.depth() == 0


def test_a_timer_runs_on_demand_through_the_admin_route(host: DevHost) -> None:
    response = httpx.post(f"http://127.0.0.1:{host.port}/admin/functions/reconcile", json={})
    assert response.status_code == 202
    assert host.invocations["reconcile"] == 1
    assert httpx.post(f"http://127.0.0.1:{host.port}/admin/functions/nope").status_code == 404
