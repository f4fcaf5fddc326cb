"""Queue, tables and blob leases against Azurite, through the real Azure SDKs."""

from __future__ import annotations

import base64
import json
import threading

import pytest
from azure.storage.queue import QueueClient

from byoc.adapters.lock import LockBusy
from byoc.bootstrap import get_services
from byoc.domain.inventory import NumberState, on_purchased
from byoc.domain.jobs import SyncTarget, dump_job, parse_job

pytestmark = pytest.mark.integration


def test_jobs_are_base64_on_the_wire_as_the_functions_trigger_expects(byoc_env: dict[str, str]) -> None:
    services = get_services()
    job = SyncTarget(target="genesys", reason="test", correlation_id="abcdefgh")
    services.queue.send(job)
    raw = QueueClient.from_connection_string(byoc_env["AzureWebJobsStorage"], "byoc-jobs")
    message = next(iter(raw.peek_messages(max_messages=1)))
    assert json.loads(base64.b64decode(message.content)) == json.loads(dump_job(job))
    received = services.queue.receive(max_messages=1, visibility_timeout_s=5)
    assert parse_job(received[0].body) == job and received[0].dequeue_count == 1


def test_a_dead_lettered_message_keeps_its_body_and_reason(byoc_env: dict[str, str]) -> None:
    services = get_services()
    services.queue.dead_letter("{broken", "invalid job message: not JSON")
    [poison] = services.queue.poison_messages()
    assert poison.body == "{broken" and "not JSON" in poison.reason


def test_inventory_records_round_trip(byoc_env: dict[str, str]) -> None:
    inventory = get_services().inventory
    record = on_purchased(None, "+14155550100", sid="PN" + "a" * 32, source="webhook",
                          correlation_id="c1")
    inventory.put(record)
    assert inventory.get("+14155550100") == record
    assert inventory.get("+14155550199") is None
    many = [on_purchased(None, f"+1415555{i:04d}", sid=None, source="sweep", correlation_id="c")
            for i in range(250)]
    inventory.put_many(many)
    assert len(inventory.all()) == 250
    assert {r.state for r in inventory.all()} == {NumberState.ONBOARDING}


def test_an_event_id_is_claimed_once(byoc_env: dict[str, str]) -> None:
    state = get_services().state
    assert state.claim("event", "evt/1#x") is True
    assert state.claim("event", "evt/1#x") is False
    state.release_claim("event", "evt/1#x")
    assert state.claim("event", "evt/1#x") is True


def test_keys_claimed_together_are_all_recorded_or_none(byoc_env: dict[str, str]) -> None:
    state = get_services().state
    assert state.claim_all("notice", ["a", "b"]) is True
    assert state.claim_all("notice", ["c", "b"]) is False
    assert state.claim("notice", "c") is True  # the refused transaction recorded nothing
    assert state.claim("notice", "a") is False


def test_operations_are_logged_newest_first(byoc_env: dict[str, str]) -> None:
    operations = get_services().operations
    for i in range(3):
        operations.record(target="genesys", operation=f"add did_pool {i}", outcome="applied",
                          correlation_id="c1", numbers=["+14155550100"])
    rows = operations.recent(target="genesys")
    assert [r["operation"] for r in rows] == ["add did_pool 2", "add did_pool 1", "add did_pool 0"]
    assert operations.for_number("+14155550100")


def test_one_target_is_leased_by_one_worker_at_a_time(byoc_env: dict[str, str]) -> None:
    locks = get_services().locks
    entered = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with locks.hold("sbc:sbc1"):
            entered.set()
            release.wait(10)

    worker = threading.Thread(target=hold)
    worker.start()
    assert entered.wait(10)
    with pytest.raises(LockBusy), locks.hold("sbc:sbc1"):
        pass
    with locks.hold("genesys"):
        pass  # another target is free
    release.set()
    worker.join()
    with locks.hold("sbc:sbc1"):
        pass  # released
