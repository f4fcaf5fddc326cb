"""The poison queue from the command line: a malformed message lands there once with its reason;
`byoc jobs poison list|replay|purge` show, put back and delete (purge asks first)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.integration

MALFORMED = '{"schema_version": 1, "type": "sync_target", "target": "sbc:NOT VALID"}'
VALID = ('{"schema_version": 1, "type": "sync_target", "target": "sbc:ghost", '
         '"reason": "test", "correlation_id": "poison-test-1"}')


def cli(*args: str, answer: str = "") -> Any:
    from byoc.entrypoints.cli import app

    return CliRunner().invoke(app, list(args), input=answer)


def deliver(body: str, dequeue_count: int = 1) -> None:
    """What the host does with one queue message: call the queue function once."""
    from azure.functions.queue import QueueMessage

    from byoc.entrypoints.functions.queue import byoc_jobs

    byoc_jobs(QueueMessage(id="m1", body=body.encode(),  # type: ignore[no-untyped-call]
                           dequeue_count=dequeue_count))


def test_a_malformed_message_lands_in_poison_once_with_its_reason(
        byoc_env: dict[str, str]) -> None:
    from byoc.bootstrap import get_services

    deliver(MALFORMED)  # returns: the host deletes it, nothing is retried

    listed = json.loads(cli("jobs", "poison", "list", "--json").output)["messages"]
    assert len(listed) == 1
    assert listed[0]["body"] == MALFORMED
    assert "target" in listed[0]["reason"] and "invalid job message" in listed[0]["reason"]
    assert get_services().queue.depth() == 0


def test_replay_puts_valid_jobs_back_and_keeps_malformed_ones_with_their_reason(
        byoc_env: dict[str, str]) -> None:
    from byoc.bootstrap import get_services

    queue = get_services().queue
    deliver(MALFORMED)
    queue.dead_letter(VALID, "failed 5 times (maxDequeueCount reached)")

    replayed = json.loads(cli("jobs", "poison", "replay", "--json").output)

    assert replayed["replayed"] == 1
    [kept] = replayed["still_invalid"]
    assert "target" in kept["problem"]
    [back] = queue.receive(max_messages=5, visibility_timeout_s=30)
    assert json.loads(back.body)["target"] == "sbc:ghost"
    assert [m.body for m in queue.poison_messages()] == [MALFORMED]


def test_purge_asks_first_and_deletes_only_when_told_yes(byoc_env: dict[str, str]) -> None:
    from byoc.bootstrap import get_services

    queue = get_services().queue
    deliver(MALFORMED)
    queue.dead_letter(VALID, "failed 5 times")

    refused = cli("jobs", "poison", "purge", answer="n\n")
    assert refused.exit_code == 1 and "Delete" in refused.output
    assert len(queue.poison_messages()) == 2

    done = cli("jobs", "poison", "purge", answer="y\n")
    assert done.exit_code == 0 and "Purged 2" in done.output
    assert queue.poison_messages() == []
    assert "empty" in cli("jobs", "poison", "list").output


def test_a_poisoned_queue_shows_in_the_status_report(byoc_env: dict[str, str]) -> None:
    deliver(MALFORMED)

    result = cli("status", "--json")

    assert result.exit_code == 1
    assert json.loads(result.output)["poison_depth"] == 1


def test_a_slice_message_an_older_worker_dead_lettered_replays_as_a_slice_sync(
        sandbox_env: dict[str, Any]) -> None:
    """During a rolling deploy a worker from before slice syncs refuses a message that names
    `numbers`; once every worker is new, `byoc jobs poison replay` runs it as the slice it was."""
    from estate import Vendors

    from byoc.bootstrap import get_services
    from byoc.domain.inventory import NumberState, on_purchased
    from byoc.domain.jobs import SyncTarget, dump_job

    services = get_services()
    number = "+14155550150"  # the Twilio sandbox owns it, on no trunk
    services.inventory.put(on_purchased(None, number, sid=None, source="cli",
                                        correlation_id="rolling-1"))
    body = dump_job(SyncTarget(target="twilio", reason=f"purchased {number}",
                               correlation_id="rolling-1", numbers=(number,)))
    # What the older worker did with it: its schema had no `numbers` and refuses what it lacks.
    services.queue.dead_letter(body, "invalid job message: numbers: Extra inputs are not "
                                     "permitted")
    listed = json.loads(cli("jobs", "poison", "list", "--json").output)["messages"]
    assert "numbers" in listed[0]["reason"]

    replayed = json.loads(cli("jobs", "poison", "replay", "--json").output)
    assert replayed == {"replayed": 1, "still_invalid": []}
    [back] = services.queue.receive(max_messages=5, visibility_timeout_s=30)
    deliver(back.body)  # the new worker

    vendors = Vendors(sandbox_env)
    try:
        assert number in vendors.on_trunk()
    finally:
        vendors.close()
    assert services.queue.poison_messages() == []
    assert services.state.get("sync-last-slice", "twilio")["slice"] == [number]
    record = services.inventory.get(number)
    assert record is not None and "twilio" in record.converged
    assert record.state is not NumberState.FAILED
