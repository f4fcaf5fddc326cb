"""The Twilio emulator driven by the real twilio SDK, for every operation the byoc adapter uses.

The SDK is pointed at the emulator the way the adapter does it (sandbox/README-twilio.md): per-domain
`base_url`, with `edge` and `region` cleared.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from twilio.rest import Client

from sandbox.core import ServedApp, build_app
from sandbox.launcher import SEED_DIR
from sandbox.twilio import TwilioEmulator

pytestmark = pytest.mark.integration

SEED: dict[str, Any] = yaml.safe_load((SEED_DIR / "twilio.yaml").read_text())
ACCOUNT_SID = SEED["account"]["sid"]
AUTH_TOKEN = SEED["account"]["auth_token"]
TRUNK_SID = SEED["trunks"][0]["sid"]
TRUNK_NUMBERS = [f"+141555501{n:02d}" for n in range(20)]
OFF_TRUNK_NUMBER = "+14155550150"


def sandbox_client(base_url: str, account_sid: str = ACCOUNT_SID,
                   auth_token: str = AUTH_TOKEN) -> Client:
    """A real twilio Client whose three domains point at the emulator (the adapter's recipe)."""
    client = Client(account_sid, auth_token)
    client.edge = None
    client.region = None
    client.trunking.base_url = f"{base_url}/trunking"
    client.api.base_url = f"{base_url}/api"
    client.monitor.base_url = f"{base_url}/monitor"
    return client


@pytest.fixture(scope="module")
def server() -> Iterator[ServedApp]:
    served = ServedApp(build_app(TwilioEmulator(copy.deepcopy(SEED)))).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def sandbox(server: ServedApp) -> Iterator[httpx.Client]:
    """The `/_sandbox` side of the emulator."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


@pytest.fixture(autouse=True)
def fresh_state(sandbox: httpx.Client) -> None:
    sandbox.post("/_sandbox/reset").raise_for_status()


@pytest.fixture(scope="module")
def client(server: ServedApp) -> Client:
    return sandbox_client(server.url)


def number_sid(client: Client, phone_number: str) -> str:
    [number] = client.incoming_phone_numbers.list(phone_number=phone_number)
    return str(number.sid)


# --- trunks ----------------------------------------------------------------------------------


def test_trunk_fetch_shows_seeded_trunk(client: Client) -> None:
    trunk = client.trunking.v1.trunks(TRUNK_SID).fetch()

    assert trunk.friendly_name == "byoc-trunk"
    assert trunk.domain_name == "byoc-sandbox.pstn.twilio.com"
    assert trunk.secure is True
    assert trunk.recording == {"mode": "do-not-record", "trim": "do-not-trim"}
    assert isinstance(trunk.date_created, datetime)
    assert trunk.links is not None and trunk.links["phone_numbers"].endswith("/PhoneNumbers")


def test_trunk_list_contains_the_trunk(client: Client) -> None:
    trunks = client.trunking.v1.trunks.list()

    assert [t.sid for t in trunks] == [TRUNK_SID]


def test_trunk_update_secure_and_transfer_mode_persist(
    client: Client, sandbox: httpx.Client
) -> None:
    updated = client.trunking.v1.trunks(TRUNK_SID).update(secure=False, transfer_mode="sip-only")

    assert updated.secure is False
    assert client.trunking.v1.trunks(TRUNK_SID).fetch().transfer_mode == "sip-only"
    assert sandbox.get("/_sandbox/state").json()["trunks"][0]["secure"] is False


def test_trunk_recording_singleton_updates(client: Client) -> None:
    recording = client.trunking.v1.trunks(TRUNK_SID).recordings().update(
        mode="record-from-answer", trim="trim-silence"
    )

    assert (recording.mode, recording.trim) == ("record-from-answer", "trim-silence")
    assert client.trunking.v1.trunks(TRUNK_SID).fetch().recording == {
        "mode": "record-from-answer", "trim": "trim-silence"
    }


# --- origination URLs ------------------------------------------------------------------------


def test_origination_urls_list_in_failover_order(client: Client) -> None:
    urls = client.trunking.v1.trunks(TRUNK_SID).origination_urls.list()

    assert [(u.friendly_name, u.priority, u.weight, u.enabled) for u in urls] == [
        ("sbc1", 10, 10, True), ("sbc2", 20, 10, True)
    ]


def test_origination_url_create_fetch_update_delete(client: Client) -> None:
    urls = client.trunking.v1.trunks(TRUNK_SID).origination_urls
    created = urls.create(weight=5, priority=30, enabled=True, friendly_name="sbc3",
                          sip_url="sip:sbc3.byoc.example.net:5061;transport=tls")
    assert created.sid is not None and created.sid.startswith("OU") and len(created.sid) == 34

    updated = urls(created.sid).update(enabled=False, priority=40)
    fetched = urls(created.sid).fetch()
    deleted = urls(created.sid).delete_with_http_info()

    assert (updated.enabled, updated.priority) == (False, 40)
    assert (fetched.weight, fetched.sip_url) == (5, "sip:sbc3.byoc.example.net:5061;transport=tls")
    assert deleted.status_code == 204
    assert [u.friendly_name for u in urls.list()] == ["sbc1", "sbc2"]


# --- trunk phone numbers ---------------------------------------------------------------------


def test_trunk_phone_numbers_list_follows_every_page(
    client: Client, sandbox: httpx.Client
) -> None:
    numbers = client.trunking.v1.trunks(TRUNK_SID).phone_numbers.list(page_size=7)

    assert [n.phone_number for n in numbers] == TRUNK_NUMBERS
    assert {n.trunk_sid for n in numbers} == {TRUNK_SID}
    counts = sandbox.get("/_sandbox/requests").json()["counts"]
    assert counts["GET /trunking/v1/Trunks/{trunk_sid}/PhoneNumbers"] == 3


def test_trunk_phone_numbers_page_links_point_at_the_emulator(
    client: Client, server: ServedApp
) -> None:
    page = client.trunking.v1.trunks(TRUNK_SID).phone_numbers.page(page_size=15)

    assert page.next_page_url is not None
    assert page.next_page_url.startswith(f"{server.url}/trunking/v1/Trunks/{TRUNK_SID}/")
    second = page.next_page()
    assert second is not None and second.next_page_url is None
    assert len(list(second)) == 5


def test_associate_and_disassociate_a_number(client: Client) -> None:
    sid = number_sid(client, OFF_TRUNK_NUMBER)
    phone_numbers = client.trunking.v1.trunks(TRUNK_SID).phone_numbers

    created = phone_numbers.create_with_http_info(phone_number_sid=sid)
    assert created.status_code == 201
    assert created.data.trunk_sid == TRUNK_SID
    assert client.incoming_phone_numbers(sid).fetch().trunk_sid == TRUNK_SID
    assert phone_numbers(sid).fetch().phone_number == OFF_TRUNK_NUMBER

    deleted = phone_numbers(sid).delete_with_http_info()
    assert deleted.status_code == 204
    assert client.incoming_phone_numbers(sid).fetch().trunk_sid is None


# --- IncomingPhoneNumbers --------------------------------------------------------------------


def test_incoming_numbers_filter_by_phone_number(client: Client) -> None:
    exact = client.incoming_phone_numbers.list(phone_number=OFF_TRUNK_NUMBER)
    wildcard = client.incoming_phone_numbers.list(phone_number="+1415555011*")

    assert [n.phone_number for n in exact] == [OFF_TRUNK_NUMBER]
    assert [n.phone_number for n in wildcard] == TRUNK_NUMBERS[10:]
    assert isinstance(exact[0].date_created, datetime)


def test_incoming_numbers_filter_by_friendly_name(client: Client) -> None:
    sid = number_sid(client, TRUNK_NUMBERS[7])
    client.incoming_phone_numbers(sid).update(friendly_name="reception")

    found = client.incoming_phone_numbers.list(friendly_name="reception")

    assert [n.sid for n in found] == [sid]


def test_incoming_numbers_paging_reads_every_number_once(client: Client) -> None:
    numbers = client.incoming_phone_numbers.list(page_size=4)

    assert [n.phone_number for n in numbers] == [*TRUNK_NUMBERS, OFF_TRUNK_NUMBER]


def test_incoming_number_page_uses_next_page_uri(client: Client) -> None:
    page = client.incoming_phone_numbers.page(page_size=20)

    assert page._payload["next_page_uri"].startswith(
        f"/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers.json?"
    )
    second = page.next_page()
    assert second is not None
    assert [n.phone_number for n in second] == [OFF_TRUNK_NUMBER]


def test_incoming_number_update_with_trunk_sid_associates_it(client: Client) -> None:
    sid = number_sid(client, OFF_TRUNK_NUMBER)

    updated = client.incoming_phone_numbers(sid).update(trunk_sid=TRUNK_SID)

    assert updated.trunk_sid == TRUNK_SID
    listed = client.trunking.v1.trunks(TRUNK_SID).phone_numbers.list()
    assert OFF_TRUNK_NUMBER in [n.phone_number for n in listed]


def test_empty_trunk_sid_removes_the_association(client: Client) -> None:
    sid = number_sid(client, TRUNK_NUMBERS[1])

    updated = client.incoming_phone_numbers(sid).update(trunk_sid="")

    assert updated.trunk_sid is None
    listed = client.trunking.v1.trunks(TRUNK_SID).phone_numbers.list()
    assert TRUNK_NUMBERS[1] not in [n.phone_number for n in listed]


def test_trunk_sid_and_voice_application_clear_each_other(client: Client) -> None:
    sid = number_sid(client, TRUNK_NUMBERS[0])
    application = "AP" + "a" * 32

    on_app = client.incoming_phone_numbers(sid).update(voice_application_sid=application)
    on_trunk = client.incoming_phone_numbers(sid).update(trunk_sid=TRUNK_SID)

    assert (on_app.voice_application_sid, on_app.trunk_sid) == (application, None)
    assert (on_trunk.voice_application_sid, on_trunk.trunk_sid) == (None, TRUNK_SID)


def test_purchase_with_trunk_sid_buys_and_associates(
    client: Client, sandbox: httpx.Client
) -> None:
    before = sandbox.get("/_sandbox/state").json()["available_count"]

    bought = client.incoming_phone_numbers.create(phone_number="+16285550105", trunk_sid=TRUNK_SID)

    assert bought.sid is not None and bought.sid.startswith("PN")
    assert bought.trunk_sid == TRUNK_SID
    assert sandbox.get("/_sandbox/state").json()["available_count"] == before - 1
    search = client.available_phone_numbers("US").local.list(contains="6285550105")
    assert search == []
    on_trunk = client.trunking.v1.trunks(TRUNK_SID).phone_numbers.list()
    assert "+16285550105" in [n.phone_number for n in on_trunk]


def test_purchase_by_area_code_takes_an_available_number(client: Client) -> None:
    bought = client.incoming_phone_numbers.create(area_code="628")

    assert bought.phone_number is not None and bought.phone_number.startswith("+1628")
    assert bought.trunk_sid is None


def test_release_removes_the_number_and_its_trunk_association(client: Client) -> None:
    sid = number_sid(client, TRUNK_NUMBERS[3])

    released = client.incoming_phone_numbers(sid).delete_with_http_info()

    assert released.status_code == 204
    assert client.incoming_phone_numbers.list(phone_number=TRUNK_NUMBERS[3]) == []
    on_trunk = client.trunking.v1.trunks(TRUNK_SID).phone_numbers.list()
    assert TRUNK_NUMBERS[3] not in [n.phone_number for n in on_trunk]


# --- AvailablePhoneNumbers -------------------------------------------------------------------


def test_available_search_by_area_code_with_limit(client: Client) -> None:
    found = client.available_phone_numbers("US").local.list(area_code=415, limit=5)

    assert [a.phone_number for a in found] == [f"+141555501{n}" for n in range(20, 25)]
    assert found[0].iso_country == "US" and found[0].region == "CA"
    assert found[0].friendly_name == "(415) 555-0120"


def test_available_search_contains_pattern(client: Client) -> None:
    found = client.available_phone_numbers("US").local.list(contains="55509**", page_size=3)

    assert [a.phone_number for a in found] == ["+14155550900", "+14155550901", "+14155550902"]


def test_available_search_leaves_out_owned_numbers(client: Client) -> None:
    found = client.available_phone_numbers("US").local.list(contains="555015*")

    assert OFF_TRUNK_NUMBER not in [a.phone_number for a in found]
    assert len(found) == 9


# --- Monitor events --------------------------------------------------------------------------


def test_api_purchase_update_release_appear_as_monitor_events(client: Client) -> None:
    bought = client.incoming_phone_numbers.create(phone_number="+14155550777")
    assert bought.sid is not None
    client.incoming_phone_numbers(bought.sid).update(friendly_name="lobby")
    client.incoming_phone_numbers(bought.sid).delete()

    events = client.monitor.v1.events.list(resource_sid=bought.sid)

    assert [e.event_type for e in events] == [
        "phone-number.deleted", "phone-number.updated", "phone-number.created"
    ]
    created = events[-1]
    assert created.sid is not None and created.sid.startswith("AE") and len(created.sid) == 34
    assert created.resource_type == "phone-number"
    assert (created.source, created.actor_type, created.actor_sid) == (
        "api", "account", ACCOUNT_SID
    )
    assert isinstance(created.event_date, datetime)
    assert events[1].event_data == {
        "resource_properties": {"friendly_name": {"previous": "(415) 555-0777",
                                                  "updated": "lobby"}}
    }


def test_monitor_events_filter_by_type_and_dates(client: Client) -> None:
    client.incoming_phone_numbers.create(phone_number="+14155550701")
    client.incoming_phone_numbers.create(phone_number="+14155550702")
    now = datetime.now(UTC)

    created = client.monitor.v1.events.list(
        event_type="phone-number.created",
        start_date=now - timedelta(hours=1), end_date=now + timedelta(hours=1),
    )
    future = client.monitor.v1.events.list(start_date=now + timedelta(hours=1))

    assert len(created) == 2
    assert future == []


def test_monitor_events_page_through_newest_first(client: Client) -> None:
    for n in range(7):
        client.incoming_phone_numbers.create(phone_number=f"+1415555071{n}")

    events = client.monitor.v1.events.list(page_size=3)
    page = client.monitor.v1.events.page(page_size=3)

    assert len(events) == 7
    assert len({e.sid for e in events}) == 7
    dates = [e.event_date for e in events]
    assert dates == sorted(dates, reverse=True)
    assert page.next_page_url is not None and "/monitor/v1/Events?" in page.next_page_url


def test_out_of_band_purchase_creates_number_and_event_but_no_association(
    client: Client, sandbox: httpx.Client
) -> None:
    response = sandbox.post("/_sandbox/twilio/purchase", json={"phone_number": "+14155550321"})
    assert response.status_code == 201
    sid = response.json()["sid"]

    number = client.incoming_phone_numbers(sid).fetch()
    [event] = client.monitor.v1.events.list(event_type="phone-number.created")

    assert number.trunk_sid is None
    assert (event.resource_sid, event.source, event.actor_type) == (sid, "web", "user")
    trunk_numbers = client.trunking.v1.trunks(TRUNK_SID).phone_numbers.list()
    assert "+14155550321" not in [n.phone_number for n in trunk_numbers]
    assert client.available_phone_numbers("US").local.list(contains="4155550321") == []


def test_out_of_band_release_logs_deleted_event(client: Client, sandbox: httpx.Client) -> None:
    sid = number_sid(client, TRUNK_NUMBERS[5])

    sandbox.post("/_sandbox/twilio/release", json={"phone_number": TRUNK_NUMBERS[5]})

    [event] = client.monitor.v1.events.list(event_type="phone-number.deleted")
    assert event.resource_sid == sid
    assert event.event_data == {
        "resource_properties": {
            "phone_number": {"previous": TRUNK_NUMBERS[5], "updated": None},
            "trunk_sid": {"previous": TRUNK_SID, "updated": None},
        }
    }


def test_events_older_than_retention_window_are_gone(
    client: Client, sandbox: httpx.Client
) -> None:
    client.incoming_phone_numbers.create(phone_number="+14155550888")
    sandbox.post("/_sandbox/twilio/clock", json={"advance_s": 29 * 86400})
    assert len(client.monitor.v1.events.list()) == 1

    sandbox.post("/_sandbox/twilio/clock", json={"advance_s": 2 * 86400})

    assert client.monitor.v1.events.list() == []


# --- pointing the SDK ------------------------------------------------------------------------


def test_redirect_survives_twilio_edge_and_region_in_environment(
    server: ServedApp, sandbox: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TWILIO_EDGE", "dublin")
    monkeypatch.setenv("TWILIO_REGION", "ie1")

    trunk = sandbox_client(server.url).trunking.v1.trunks(TRUNK_SID).fetch()

    assert trunk.sid == TRUNK_SID


def test_termination_acls_and_credential_lists_through_the_sdk(client: Client,
                                                               sandbox: httpx.Client) -> None:
    acl = client.sip.ip_access_control_lists.create(friendly_name="byoc-sbcs")
    address = client.sip.ip_access_control_lists(acl.sid).ip_addresses.create(
        friendly_name="sbc1", ip_address="20.1.2.3")
    client.sip.ip_access_control_lists(acl.sid).ip_addresses(address.sid).update(
        ip_address="20.1.2.4")
    creds = client.sip.credential_lists.create(friendly_name="byoc-sbc-auth")
    credential = client.sip.credential_lists(creds.sid).credentials.create(
        username="sbc", password="Sbc-Passw0rd-2026")
    trunk = client.trunking.v1.trunks(TRUNK_SID)
    trunk.ip_access_control_lists.create(ip_access_control_list_sid=acl.sid)
    trunk.credentials_lists.create(credential_list_sid=creds.sid)  # the SDK spells it so

    linked = trunk.ip_access_control_lists.list()
    fetched = trunk.fetch()
    listed = client.sip.ip_access_control_lists(acl.sid).ip_addresses.list()

    assert acl.sid.startswith("AL") and creds.sid.startswith("CL")
    assert credential.username == "sbc" and not hasattr(credential, "password")
    assert [(a.sid, a.trunk_sid, a.friendly_name) for a in linked] == \
        [(acl.sid, TRUNK_SID, "byoc-sbcs")]
    assert [(a.ip_address, a.cidr_prefix_length) for a in listed] == [("20.1.2.4", 32)]
    assert sorted(fetched.auth_type.split(",")) == ["CREDENTIAL_LIST", "IP_ACL"]
    assert [c.sid for c in trunk.credentials_lists.list()] == [creds.sid]
    trunk.ip_access_control_lists(acl.sid).delete()
    assert trunk.ip_access_control_lists.list() == []


@pytest.mark.parametrize(("call", "code"), [
    (lambda c: c.sip.ip_access_control_lists.create(friendly_name="x").ip_addresses.create(
        friendly_name="v6", ip_address="2001:db8::1"), 400),
    (lambda c: c.sip.credential_lists.create(friendly_name="y").credentials.create(
        username="sbc", password="short"), 400),
    (lambda c: c.trunking.v1.trunks(TRUNK_SID).ip_access_control_lists.create(
        ip_access_control_list_sid="AL" + "0" * 32), 404),
])
def test_termination_resources_refuse_what_twilio_refuses(client: Client, call: Any,
                                                         code: int) -> None:
    from twilio.base.exceptions import TwilioRestException

    with pytest.raises(TwilioRestException) as refused:
        call(client)
    assert refused.value.status == code
