"""Numbers in, end to end on Azurite and the Twilio emulator, through the function entrypoints and
the CLI: a signed webhook, a console purchase seen by the poller, and `byoc numbers buy` each end
with the number on the trunk and in the inventory.

Queue messages are worked off here the way the queue trigger does it (the worker), for the number
events and the `twilio` syncs; the other targets (SBCs, Genesys) are not part of these tests. The
emulator's estate is the default seed with fewer numbers (+14155550100..102 on the trunk,
+14155550150 off it), which keeps the sweep short.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import azure.functions as func
import httpx
import pytest
from azure.functions.timer import TimerRequest
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

import function_app  # noqa: F401 - registers the blueprints
from byoc.entrypoints.functions import http, timers
from sandbox.core import ServedApp, build_app
from sandbox.launcher import load_seed
from sandbox.twilio import TwilioEmulator

pytestmark = pytest.mark.e2e

SEED = load_seed()["twilio"]
TOKEN = SEED["account"]["auth_token"]
TRUNK = SEED["trunks"][0]["sid"]
PUBLIC_URL = "https://byoc.example.com/api/twilio/numbers"


def small_seed() -> dict[str, Any]:
    seed = load_seed()["twilio"]
    seed["numbers"] = [{"range": "+14155550100..+14155550102", "trunk_sid": TRUNK},
                       {"phone_number": "+14155550150"}]
    return seed


@pytest.fixture(scope="module")
def emulator() -> Iterator[ServedApp]:
    served = ServedApp(build_app(TwilioEmulator(small_seed()))).start()
    yield served
    served.stop()


@pytest.fixture
def sandbox(emulator: ServedApp) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=10) as client:
        client.post("/_sandbox/reset").raise_for_status()
        yield client


@pytest.fixture
def env(byoc_env: dict[str, str], emulator: ServedApp, sandbox: httpx.Client,
        monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from byoc.bootstrap import reset_services

    settings = {"BYOC_TWILIO_API_BASE": emulator.url, "BYOC_TWILIO_AUTH_TOKEN": TOKEN,
                "BYOC_TWILIO_WEBHOOK_URL": PUBLIC_URL}
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    reset_services()
    return {**byoc_env, **settings}


def work_off_queue(dropped: list[str] | None = None) -> list[str]:
    """Run queued number events and twilio syncs (as the queue trigger would); drop the rest
    (named in `dropped`)."""
    from byoc.bootstrap import get_services
    from byoc.domain.jobs import NumberEvent, SyncTarget, parse_job

    services = get_services()
    done: list[str] = []
    for _ in range(20):
        messages = services.queue.receive(max_messages=32, visibility_timeout_s=30)
        if not messages:
            return done
        for message in messages:
            job = parse_job(message.body)
            if isinstance(job, NumberEvent) or (isinstance(job, SyncTarget)
                                                 and job.target == "twilio"):
                services.worker.handle(message.body, message_id=message.id)
                done.append(job.type + (f":{job.target}" if isinstance(job, SyncTarget) else ""))
            elif dropped is not None:
                dropped.append(job.type + (f":{job.target}" if isinstance(job, SyncTarget) else ""))
            services.queue.delete(message)
    raise AssertionError("the queue did not drain")


def on_trunk(sandbox: httpx.Client) -> set[str]:
    trunk = next(t for t in sandbox.get("/_sandbox/state").json()["trunks"] if t["sid"] == TRUNK)
    return {n if isinstance(n, str) else n["phone_number"] for n in trunk["phone_numbers"]}


def record(number: str) -> Any:
    from byoc.bootstrap import get_services

    return get_services().inventory.get(number)


def webhook_request(body: bytes, query: str, content_type: str, signature: str) -> func.HttpRequest:
    # What the app sees behind a TLS-terminating proxy: another scheme, host and port.
    return func.HttpRequest("POST", f"http://10.1.2.3:8080/api/twilio/numbers?{query}".rstrip("?"),
                            headers={"Content-Type": content_type, "X-Twilio-Signature": signature},
                            params={}, body=body)


def test_a_signed_webhook_ends_with_the_number_on_the_trunk_and_in_the_inventory(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    bought = sandbox.post("/_sandbox/twilio/purchase",
                          json={"phone_number": "+14155550400"}).json()
    params = {"EventId": "portal-0001", "Action": "purchased", "PhoneNumber": "+14155550400",
              "PhoneNumberSid": bought["sid"]}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, params)

    response = http.twilio_numbers_webhook(webhook_request(
        urlencode(params).encode(), "", "application/x-www-form-urlencoded", signature))
    replay = http.twilio_numbers_webhook(webhook_request(
        urlencode(params).encode(), "", "application/x-www-form-urlencoded", signature))
    work_off_queue()

    assert response.status_code == 202 and replay.status_code == 200
    correlation_id = json.loads(response.get_body())["correlation_id"]
    assert "+14155550400" in on_trunk(sandbox)
    saved = record("+14155550400")
    assert saved.sid == bought["sid"] and saved.source == "webhook"
    assert saved.correlation_id == correlation_id  # the replay was not processed again
    assert "twilio" in saved.converged


def test_a_signed_json_webhook_with_body_sha256_is_accepted_and_a_forged_one_is_not(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    from byoc.bootstrap import get_services

    raw = json.dumps({"event_id": "portal-0002", "action": "purchased",
                      "phone_number": "+14155550401"})
    query = f"bodySHA256={hashlib.sha256(raw.encode()).hexdigest()}"
    signature = RequestValidator(TOKEN).compute_signature(f"{PUBLIC_URL}?{query}", {})
    forged = raw.replace("0401", "0402")

    refused = http.twilio_numbers_webhook(webhook_request(forged.encode(), query,
                                                          "application/json", signature))
    assert refused.status_code == 403 and get_services().queue.depth() == 0
    accepted = http.twilio_numbers_webhook(webhook_request(raw.encode(), query,
                                                           "application/json", signature))
    assert accepted.status_code == 202 and get_services().queue.depth() == 1


def test_an_unsigned_webhook_is_403_and_queues_nothing(env: dict[str, str]) -> None:
    from byoc.bootstrap import get_services

    response = http.twilio_numbers_webhook(func.HttpRequest(
        "POST", "http://localhost/api/twilio/numbers", params={},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=b"EventId=x&Action=purchased&PhoneNumber=%2B14155550400"))

    assert response.status_code == 403 and get_services().queue.depth() == 0


def test_a_console_purchase_is_seen_by_the_poller_and_put_on_the_trunk(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    first = timers.twilio_poll(TimerRequest(past_due=False))  # no cursor yet: a sweep
    work_off_queue()
    sandbox.post("/_sandbox/twilio/purchase",
                 json={"phone_number": "+14155550410"}).raise_for_status()
    assert "+14155550410" not in on_trunk(sandbox)

    timers.twilio_poll(TimerRequest(past_due=False))
    jobs = work_off_queue()

    assert first is None and "number_event" in jobs and "sync_target:twilio" in jobs
    assert "+14155550410" in on_trunk(sandbox)
    saved = record("+14155550410")
    assert saved.source == "poller" and "twilio" in saved.converged


def test_the_first_poll_sweeps_in_the_managed_numbers_already_on_the_account(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    timers.twilio_poll(TimerRequest(past_due=False))
    work_off_queue()

    # The account owns +14155550100..102 on the trunk and +14155550150 off it; the policy manages
    # +1415555: all are now known, and +14155550150 is on the trunk.
    assert record("+14155550150").source == "sweep"
    assert "+14155550150" in on_trunk(sandbox)
    assert all(record(f"+141555501{i:02d}") is not None for i in range(3))


def test_byoc_numbers_buy_puts_the_numbers_on_the_trunk_and_in_the_inventory(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    from byoc.entrypoints.cli import app

    runner = CliRunner()
    dry = runner.invoke(app, ["numbers", "buy", "--area-code", "628", "--count", "2",
                              "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["numbers"] == ["+16285550100", "+16285550101"]
    assert not on_trunk(sandbox) & {"+16285550100", "+16285550101"}

    result = runner.invoke(app, ["numbers", "buy", "--area-code", "628", "--count", "2",
                                 "--json"])
    work_off_queue()

    assert result.exit_code == 0, result.output
    bought = json.loads(result.output)["numbers"]
    assert bought == ["+16285550100", "+16285550101"]
    assert set(bought) <= on_trunk(sandbox)
    for number in bought:
        saved = record(number)
        assert saved.source == "purchase" and "twilio" in saved.converged
    shown = runner.invoke(app, ["numbers", "show", bought[0], "--json"])
    assert json.loads(shown.output)["record"]["state"] in ("onboarding", "active")
    listed = runner.invoke(app, ["numbers", "list", "--json"])
    assert {n["number"] for n in json.loads(listed.output)["numbers"]} >= set(bought)


def test_the_purchase_endpoint_buys_and_refuses_over_the_cap(
        env: dict[str, str], sandbox: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.bootstrap import reset_services

    monkeypatch.setenv("BYOC_TWILIO_MAX_PURCHASE", "2")
    reset_services()

    def purchase(body: object) -> func.HttpResponse:
        return http.numbers_purchase(func.HttpRequest(
            "POST", "http://localhost/api/numbers/purchase", params={},
            body=json.dumps(body).encode()))

    over = purchase({"area_code": "415", "count": 3})
    bad = purchase({"area_code": "4150", "count": 1})
    good = purchase({"area_code": "415", "count": 1, "contains": "0120"})

    assert over.status_code == 400 and "BYOC_TWILIO_MAX_PURCHASE" in json.loads(over.get_body())[
        "error"]
    assert bad.status_code == 400 and "area_code" in json.loads(bad.get_body())["error"]
    assert good.status_code == 202
    [number] = json.loads(good.get_body())["numbers"]
    assert number == "+14155550120" and number in on_trunk(sandbox)


def test_byoc_numbers_release_takes_the_number_off_twilio(
        env: dict[str, str], sandbox: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the twilio target here, so Twilio is the last (and only) target to let go; the wait
    # for the other targets is covered by the unit tests.
    import byoc.bootstrap
    from byoc.bootstrap.targets import register_twilio_target
    from byoc.entrypoints.cli import app

    monkeypatch.setattr(byoc.bootstrap, "register_targets", register_twilio_target)
    # One release among this trunk's 5 numbers is above the default guard share (10%).
    monkeypatch.setenv("BYOC_MAX_DELETE_FRACTION", "0.5")
    byoc.bootstrap.reset_services()
    runner = CliRunner()
    runner.invoke(app, ["numbers", "buy", "--area-code", "628", "--count", "1"])
    work_off_queue()
    assert record("+16285550100").state.value == "active"

    refused = runner.invoke(app, ["numbers", "release", "+16285550199", "--yes"])
    result = runner.invoke(app, ["numbers", "release", "+16285550100", "--yes"])
    work_off_queue()

    assert refused.exit_code == 1 and "not in byoc's inventory" in refused.output
    assert result.exit_code == 0, result.output
    owned = {n["phone_number"] for n in sandbox.get("/_sandbox/state").json()["numbers"]}
    assert "+16285550100" not in owned
    assert record("+16285550100").state.value == "released"
    shown = json.loads(runner.invoke(app, ["numbers", "show", "+16285550100", "--json"]).output)
    assert any(op["operation"].startswith("remove number-release") for op in shown["operations"])


def signed_form(params: dict[str, str]) -> func.HttpRequest:
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, params)
    return webhook_request(urlencode(params).encode(), "", "application/x-www-form-urlencoded",
                           signature)


def test_a_signed_notice_for_a_number_the_account_does_not_own_reaches_no_target(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    # +14155550999 is managed by the policy's prefix, but the Twilio account does not own it.
    params = {"EventId": "portal-foreign", "Action": "purchased", "PhoneNumber": "+14155550999"}

    response = http.twilio_numbers_webhook(signed_form(params))
    dropped: list[str] = []
    done = work_off_queue(dropped)

    assert response.status_code == 202
    assert done == ["number_event"] and dropped == []  # no sync of any target was asked for
    assert record("+14155550999") is None
    assert "+14155550999" not in on_trunk(sandbox)


def test_a_notice_whose_sid_names_another_number_is_refused(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    other = sandbox.post("/_sandbox/twilio/purchase",
                         json={"phone_number": "+14155550420"}).json()
    params = {"EventId": "portal-mismatch", "Action": "purchased",
              "PhoneNumber": "+14155550421", "PhoneNumberSid": other["sid"]}

    http.twilio_numbers_webhook(signed_form(params))
    dropped: list[str] = []
    work_off_queue(dropped)

    assert dropped == [] and record("+14155550421") is None and record("+14155550420") is None


def only_the_twilio_target(monkeypatch: pytest.MonkeyPatch) -> None:
    """Twilio the only target: a release request would reach Twilio at once."""
    import byoc.bootstrap
    from byoc.bootstrap.targets import register_twilio_target

    monkeypatch.setattr(byoc.bootstrap, "register_targets", register_twilio_target)
    monkeypatch.setenv("BYOC_MAX_DELETE_FRACTION", "0.5")
    byoc.bootstrap.reset_services()


def test_a_signed_released_notice_never_releases_the_number_at_twilio(
        env: dict[str, str], sandbox: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    only_the_twilio_target(monkeypatch)
    bought = sandbox.post("/_sandbox/twilio/purchase",
                          json={"phone_number": "+14155550430"}).json()
    http.twilio_numbers_webhook(signed_form({
        "EventId": "portal-buy", "Action": "purchased", "PhoneNumber": "+14155550430",
        "PhoneNumberSid": bought["sid"]}))
    work_off_queue()
    assert record("+14155550430").state.value == "active"

    response = http.twilio_numbers_webhook(signed_form({
        "EventId": "portal-release", "Action": "released", "PhoneNumber": "+14155550430",
        "PhoneNumberSid": bought["sid"]}))
    dropped: list[str] = []
    work_off_queue(dropped)

    assert response.status_code == 202
    owned = {n["phone_number"] for n in sandbox.get("/_sandbox/state").json()["numbers"]}
    assert "+14155550430" in owned and "+14155550430" in on_trunk(sandbox)
    assert record("+14155550430").state.value == "active" and dropped == []


def test_a_released_notice_offboards_a_number_twilio_no_longer_has(
        env: dict[str, str], sandbox: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    only_the_twilio_target(monkeypatch)
    bought = sandbox.post("/_sandbox/twilio/purchase",
                          json={"phone_number": "+14155550440"}).json()
    http.twilio_numbers_webhook(signed_form({
        "EventId": "portal-buy-2", "Action": "purchased", "PhoneNumber": "+14155550440",
        "PhoneNumberSid": bought["sid"]}))
    work_off_queue()
    sandbox.post("/_sandbox/twilio/release",
                 json={"phone_number": "+14155550440"}).raise_for_status()

    http.twilio_numbers_webhook(signed_form({
        "EventId": "portal-release-2", "Action": "released", "PhoneNumber": "+14155550440"}))
    work_off_queue()

    assert record("+14155550440").state.value == "released"


def test_a_notice_replayed_under_a_new_event_id_is_not_processed_again(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    from byoc.bootstrap import get_services

    bought = sandbox.post("/_sandbox/twilio/purchase",
                          json={"phone_number": "+14155550450"}).json()
    original = {"EventId": "portal-9", "Action": "purchased", "PhoneNumber": "+14155550450",
                "PhoneNumberSid": bought["sid"], "Note": "urgent"}
    signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL, original)
    recut = {**original, "EventId": "portal-9Noteurgent"}
    del recut["Note"]
    first = http.twilio_numbers_webhook(signed_form(original))
    replay = http.twilio_numbers_webhook(webhook_request(
        urlencode(recut).encode(), "", "application/x-www-form-urlencoded", signature))

    assert first.status_code == 202 and replay.status_code == 200
    assert json.loads(replay.get_body())["duplicate"] is True
    assert get_services().queue.depth() == 1


def test_a_600_event_burst_leaves_the_poller_working_and_a_later_purchase_onboarded(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    from byoc.bootstrap import get_services
    from byoc.services.status import build_status

    timers.twilio_poll(TimerRequest(past_due=False))  # the first poll sweeps and starts a cursor
    work_off_queue()
    for index in range(600):  # numbers the policy does not manage: events, and nothing to do
        sandbox.post("/_sandbox/twilio/purchase",
                     json={"phone_number": f"+1212555{index:04d}"}).raise_for_status()

    burst = get_services().twilio_poller.poll()
    after = get_services().twilio_poller.poll()
    sandbox.post("/_sandbox/twilio/purchase",
                 json={"phone_number": "+14155550460"}).raise_for_status()
    timers.twilio_poll(TimerRequest(past_due=False))
    work_off_queue()

    assert burst.mode == "events" and burst.events_read >= 600
    assert after.mode == "events"
    assert "+14155550460" in on_trunk(sandbox) and record("+14155550460").source == "poller"
    services = get_services()
    status = build_status(inventory=services.inventory, state=services.state,
                          queue=services.queue).to_json()
    assert status["twilio_poller"]["failures"] == 0 and status["twilio_poller"]["mode"] == "events"


def test_an_outbound_capable_trunk_is_converged_and_drift_in_its_acl_repaired(
        env: dict[str, str], sandbox: httpx.Client, emulator: ServedApp,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.bootstrap import get_services, reset_services
    from byoc.domain.jobs import new_correlation_id

    sbcs = [{"name": "sbc1", "management_url": "https://127.0.0.1:9",
             "fqdn": "sbc1.byoc.example.net", "public_ips": ["20.30.40.50"]},
            {"name": "sbc2", "management_url": "https://127.0.0.1:9",
             "fqdn": "sbc2.byoc.example.net", "public_ips": ["20.30.40.51"],
             "twilio_priority": 20}]
    monkeypatch.setenv("BYOC_SBCS", json.dumps(sbcs))
    monkeypatch.setenv("BYOC_TWILIO_CREDENTIAL_LIST_NAME", "byoc-sbc-auth")
    monkeypatch.setenv("BYOC_TWILIO_CREDENTIAL_USERNAME", "byoc-sbc")
    monkeypatch.setenv("BYOC_TWILIO_CREDENTIAL_PASSWORD", "Sbc-Digest-Passw0rd")
    reset_services()

    def sync() -> Any:
        return get_services().reconcile.sync("twilio", correlation_id=new_correlation_id())

    def termination() -> tuple[dict[str, list[str]], list[str], list[str]]:
        state = sandbox.get("/_sandbox/state").json()
        acls = {a["friendly_name"]: sorted(i["ip_address"] for i in a["ip_addresses"])
                for a in state["ip_access_control_lists"]}
        return (acls, state["trunk_ip_access_control_lists"].get(TRUNK, []),
                state["trunk_credential_lists"].get(TRUNK, []))

    first = sync()
    acls, linked, credential_lists = termination()
    assert first.converged, first.problems
    assert acls == {"byoc-sbcs": ["20.30.40.50", "20.30.40.51"]}
    assert len(linked) == 1 and len(credential_lists) == 1

    # Drift by hand in the console: one SBC address gone, a stray one added, the list unlinked.
    from twilio.rest import Client
    client = Client(SEED["account"]["sid"], TOKEN)
    client.edge = client.region = None
    client.api.base_url = f"{emulator.url}/api"
    client.trunking.base_url = f"{emulator.url}/trunking"
    [acl] = client.sip.ip_access_control_lists.list()
    for address in client.sip.ip_access_control_lists(acl.sid).ip_addresses.list():
        if address.ip_address == "20.30.40.51":
            client.sip.ip_access_control_lists(acl.sid).ip_addresses(address.sid).delete()
    client.sip.ip_access_control_lists(acl.sid).ip_addresses.create(
        friendly_name="stray", ip_address="198.51.100.99")
    client.trunking.v1.trunks(TRUNK).ip_access_control_lists(acl.sid).delete()
    drifted = get_services().reconcile.dry_run("twilio").to_json()
    planned = {(c["kind"], c["action"], c["key"]) for p in drifted["plans"] for c in p["changes"]}

    repaired = sync()
    acls, linked, _ = termination()

    assert planned >= {("termination-acl-address", "add", "byoc-sbcs:20.30.40.51"),
                       ("termination-acl-address", "remove", "byoc-sbcs:198.51.100.99"),
                       ("termination-acl-link", "add", "byoc-sbcs")}
    assert repaired.converged, repaired.problems
    assert acls == {"byoc-sbcs": ["20.30.40.50", "20.30.40.51"]} and linked == [acl.sid]
    assert not [c for c in sync().plan.changes if c.kind.startswith("termination")]


def test_apply_on_the_twilio_target_runs_the_sweep_and_says_what_it_discovered(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    from byoc.entrypoints.cli import app

    # A fresh install: the account already owns +14155550100..102 (on the trunk) and +14155550150.
    result = CliRunner().invoke(app, ["apply", "--target", "twilio", "--yes"])
    work_off_queue()

    assert result.exit_code == 0, result.output
    assert "Nothing to change" not in result.output
    assert "discovered" in result.output and "+14155550150" in result.output
    assert record("+14155550150") is not None and "+14155550150" in on_trunk(sandbox)


def test_apply_records_a_first_full_sync_of_a_target_with_nothing_to_change(
        env: dict[str, str], sandbox: httpx.Client) -> None:
    from byoc.bootstrap import get_services
    from byoc.entrypoints.cli import app
    from byoc.services.status import status_namespace

    state = get_services().state
    assert CliRunner().invoke(app, ["apply", "--target", "twilio", "--yes"]).exit_code == 0
    work_off_queue()
    CliRunner().invoke(app, ["apply", "--target", "twilio", "--yes"])
    # As after a first run whose numbers all came in by slice syncs: no full sync on record.
    state.put(status_namespace(slice_sync=False), "twilio", None)

    first = CliRunner().invoke(app, ["apply", "--target", "twilio", "--yes"])
    recorded = state.get(status_namespace(slice_sync=False), "twilio")
    again = CliRunner().invoke(app, ["apply", "--target", "twilio", "--yes"])

    assert first.exit_code == 0, first.output
    assert "recording a first full sync" in first.output
    assert isinstance(recorded, dict) and recorded["converged"] and recorded["changes"] == 0
    assert again.exit_code == 0 and "Nothing to change." in again.output
