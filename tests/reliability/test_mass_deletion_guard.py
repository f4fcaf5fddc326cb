"""The mass-deletion guard against a source that looks wrong, on the whole sandbox estate: no target
loses a number, the refusal shows in the status report and the log, and only `--force` gets past."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from estate import Vendors, converge, drain, managed_numbers
from typer.testing import CliRunner

from byoc.domain.inventory import NumberState
from byoc.domain.jobs import NumberEvent, parse_job

pytestmark = pytest.mark.integration
OTHER_ACCOUNT = "AC" + "f" * 32


class Records(logging.Handler):
    """byoc's log records (the `byoc` logger may not propagate to the root)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def events(self, name: str) -> list[dict[str, Any]]:
        return [vars(r) for r in self.records if getattr(r, "event", None) == name]


@pytest.fixture
def log() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("byoc")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


@pytest.fixture
def estate(sandbox_env: dict[str, Any]) -> Iterator[tuple[Any, Vendors, list[str]]]:
    from byoc.bootstrap import get_services

    services = get_services()
    vendors = Vendors(sandbox_env)
    converge(services)
    yield services, vendors, managed_numbers(vendors, services.policy())
    vendors.close()


def twilio_listing(vendors: Vendors, path: str, key: str, **record_changes: Any) -> dict[str, Any]:
    """The emulator's real answer to a listing, with each record changed (or the list emptied)."""
    seed = vendors.state("twilio")
    account = seed["account"]["sid"]
    response = httpx.get(vendors.ports["twilio"] + path.format(account=account,
                                                               trunk=seed["trunks"][0]["sid"]),
                         auth=(account, "sandbox-twilio-auth-token"),
                         params={"PageSize": 1000}, timeout=10)
    response.raise_for_status()
    page = response.json()
    page[key] = [{**r, **record_changes} for r in page[key]] if record_changes else []
    return page


ACCOUNT_LIST = ("/api/2010-04-01/Accounts/{account}/IncomingPhoneNumbers.json",
                "incoming_phone_numbers", r"/IncomingPhoneNumbers\.json$")
TRUNK_LIST = ("/trunking/v1/Trunks/{trunk}/PhoneNumbers", "phone_numbers",
              r"/Trunks/[^/]+/PhoneNumbers$")


def fake_listings(vendors: Vendors, **record_changes: Any) -> None:
    for path, key, route in (ACCOUNT_LIST, TRUNK_LIST):
        body = twilio_listing(vendors, path, key, **record_changes)
        vendors.fault("twilio", {"route": route, "method": "GET", "status": 200, "body": body})


def status_of(services: Any) -> dict[str, Any]:
    from byoc.services.status import build_status

    return build_status(inventory=services.inventory, state=services.state,
                        queue=services.queue).to_json()


def resync(services: Any) -> None:
    from byoc.domain.jobs import new_correlation_id

    services.reconcile.enqueue("all", reason="test", correlation_id=new_correlation_id())
    drain(services)


def test_an_empty_twilio_listing_takes_no_number_from_any_target(
        estate: tuple[Any, Vendors, list[str]], log: Records) -> None:
    services, vendors, numbers = estate
    before = vendors.estate(numbers)
    fake_listings(vendors)  # both listings answer 200 with no numbers

    resync(services)

    assert vendors.estate(numbers) == before
    assert {r.state for r in services.inventory.all()} == {NumberState.ACTIVE}
    report = status_of(services)
    assert not report["ok"]
    assert "removes 21 of 21 numbers" in report["targets"]["twilio"]["refused"]
    [refused] = log.events("sync.refused")
    assert refused["target"] == "twilio"

    result = CliRunner().invoke(_cli(), ["apply", "--target", "twilio", "--force", "--yes"])

    assert "numbers-gone" in result.output + str(result.exception)
    gone = queued_number_events(services)
    assert {e.number for e in gone if e.action == "released"} == set(numbers)


def test_a_listing_of_another_account_changes_nothing(
        estate: tuple[Any, Vendors, list[str]], log: Records) -> None:
    from byoc.adapters.twilio import TwilioListingMismatch

    services, vendors, numbers = estate
    before = vendors.estate(numbers)
    fake_listings(vendors, account_sid=OTHER_ACCOUNT)

    with pytest.raises(TwilioListingMismatch, match=OTHER_ACCOUNT):
        services.reconcile.sync("twilio", correlation_id="other-account")

    assert vendors.estate(numbers) == before
    assert queued_number_events(services) == []
    assert OTHER_ACCOUNT in status_of(services)["targets"]["twilio"]["error"]
    assert log.events("sync.failed")[0]["target"] == "twilio"


def test_a_policy_that_suddenly_manages_nothing_takes_no_number_from_any_target(
        estate: tuple[Any, Vendors, list[str]], log: Records, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.bootstrap import get_services, reset_services

    services, vendors, numbers = estate
    before = vendors.estate(numbers)
    policy = tmp_path / "policy.yaml"
    policy.write_text('version: 1\nmanaged: {prefixes: ["+1999"]}\nrules: []\n'
                      "defaults: {genesys: none, sbc_tag: default}\n")
    monkeypatch.setenv("BYOC_POLICY_PATH", str(policy))
    reset_services()
    services = get_services()

    resync(services)

    assert vendors.estate(numbers) == before
    refused = {e["target"] for e in log.events("sync.refused")}
    assert {"sbc:sbc1", "sbc:sbc2", "genesys"} <= refused
    report = status_of(services)
    assert not report["ok"]
    assert all(report["targets"][t]["refused"] for t in ("sbc:sbc1", "sbc:sbc2", "genesys"))

    result = CliRunner().invoke(_cli(), ["apply", "--target", "sbc:sbc1", "--force", "--yes"])

    assert result.exit_code == 0, result.output
    routes = vendors.sbc_routes(numbers)
    assert not any(str(rule).startswith("byoc-") for rule, _ in (r[0] for r in routes.values()))
    assert all(str(r[1][0]).startswith("byoc-") for r in routes.values())  # sbc2 untouched


def queued_number_events(services: Any) -> list[NumberEvent]:
    from azure.storage.queue import QueueClient

    from byoc.names import QUEUE_NAME

    client = QueueClient.from_connection_string(
        services.settings.storage_connection_string.get_secret_value(), QUEUE_NAME)
    events = []
    for message in client.peek_messages(max_messages=32):
        job = parse_job(base64.b64decode(message.content))
        if isinstance(job, NumberEvent):
            events.append(job)
    return events


def _cli() -> Any:
    from byoc.entrypoints.cli import app

    return app

