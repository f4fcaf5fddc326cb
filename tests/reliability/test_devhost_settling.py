"""A queue message that cannot be settled (its visibility ran out and another worker took it, or
storage did not answer) does not stop the worker: devhost logs it and keeps taking jobs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from devhosts import running_devhost, wait_for

from byoc.entrypoints.devhost import DevHost

pytestmark = pytest.mark.e2e


@pytest.fixture
def host(byoc_env: dict[str, str], tmp_path: Path) -> Iterator[DevHost]:
    with running_devhost(tmp_path, maxPollingInterval="00:00:01") as running:
        yield running


def test_a_message_that_cannot_be_deleted_does_not_stop_the_queue_loop(
        host: DevHost, monkeypatch: pytest.MonkeyPatch) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    from byoc.adapters.queue import StorageJobQueue
    from byoc.bootstrap import get_services

    queue = get_services().queue
    delete = StorageJobQueue.delete
    failures = [ResourceNotFoundError("The specified message does not exist.")]

    def delete_once_gone(self: StorageJobQueue, message: Any) -> None:
        if failures:
            raise failures.pop()
        delete(self, message)

    monkeypatch.setattr(StorageJobQueue, "delete", delete_once_gone)

    queue.send_text('{"schema_version": 1, "type": "first"}')
    wait_for(lambda: len(queue.poison_messages()) == 1 and not failures)
    queue.send_text('{"schema_version": 1, "type": "second"}')

    wait_for(lambda: len(queue.poison_messages()) == 2)
    assert host.invocations["byoc_jobs"] == 2
