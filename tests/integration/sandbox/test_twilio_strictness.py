"""The Twilio emulator refuses what Twilio refuses, with Twilio's status and error code."""

from __future__ import annotations

import copy
import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from sandbox.core import ServedApp, build_app
from sandbox.launcher import SEED_DIR
from sandbox.twilio import TwilioEmulator

pytestmark = pytest.mark.integration

SEED: dict[str, Any] = yaml.safe_load((SEED_DIR / "twilio.yaml").read_text())
ACCOUNT_SID = SEED["account"]["sid"]
AUTH_TOKEN = SEED["account"]["auth_token"]
TRUNK_SID = SEED["trunks"][0]["sid"]
OTHER_TRUNK_SID = "TK" + "f" * 32
OFF_TRUNK_NUMBER = "+14155550150"
TRUNKS = f"/trunking/v1/Trunks/{TRUNK_SID}"
NUMBERS = f"/api/2010-04-01/Accounts/{ACCOUNT_SID}/IncomingPhoneNumbers"
ORIGINATION = {
    "Weight": "10", "Priority": "30", "Enabled": "true", "FriendlyName": "sbc3",
    "SipUrl": "sip:sbc3.byoc.example.net:5061;transport=tls",
}


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
    seed = copy.deepcopy(SEED)
    seed["trunks"].append({"sid": OTHER_TRUNK_SID, "friendly_name": "other-trunk",
                           "domain_name": "other.pstn.twilio.com"})
    seed["numbers"].append({"phone_number": "+14155550160", "trunk_sid": OTHER_TRUNK_SID})
    served = ServedApp(build_app(TwilioEmulator(seed))).start()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def sandbox(server: ServedApp) -> Iterator[httpx.Client]:
    """The `/_sandbox` side, and unauthenticated calls."""
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


@pytest.fixture(autouse=True)
def fresh_state(sandbox: httpx.Client) -> None:
    sandbox.post("/_sandbox/reset").raise_for_status()


@pytest.fixture(scope="module")
def api(server: ServedApp) -> Iterator[httpx.Client]:
    """Raw authenticated calls, for requests the SDK would not even send."""
    with httpx.Client(base_url=server.url, auth=(ACCOUNT_SID, AUTH_TOKEN), timeout=10) as http:
        yield http


@pytest.fixture(scope="module")
def client(server: ServedApp) -> Client:
    return sandbox_client(server.url)


def refusal(exc: TwilioException) -> tuple[int, int]:
    """(status, code) of a refusal; list/page calls raise a bare TwilioException with the response."""
    if isinstance(exc, TwilioRestException):
        return exc.status, int(exc.code)
    response = exc.args[1]
    return response.status_code, int(json.loads(response.text)["code"])


def state(sandbox: httpx.Client) -> dict[str, Any]:
    body: dict[str, Any] = sandbox.get("/_sandbox/state").json()
    return body


def number_sid(client: Client, phone_number: str) -> str:
    [number] = client.incoming_phone_numbers.list(phone_number=phone_number)
    return str(number.sid)


def assert_twilio_error(response: httpx.Response, status: int, code: int) -> None:
    body = response.json()
    assert (response.status_code, body["status"], body["code"]) == (status, status, code)
    assert body["more_info"] == f"https://www.twilio.com/docs/errors/{code}"
    assert body["message"]


# --- authentication --------------------------------------------------------------------------


def test_wrong_auth_token_is_401_20003(server: ServedApp, sandbox: httpx.Client) -> None:
    client = sandbox_client(server.url, auth_token="not-the-token")

    with pytest.raises(TwilioRestException) as raised:
        client.trunking.v1.trunks(TRUNK_SID).fetch()

    assert (raised.value.status, raised.value.code) == (401, 20003)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer abc"},
                                     {"Authorization": "Basic !!!"}])
def test_missing_or_malformed_authorization_is_401(
    sandbox: httpx.Client, headers: dict[str, str]
) -> None:
    response = sandbox.get(f"{NUMBERS}.json", headers=headers)

    assert_twilio_error(response, 401, 20003)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_other_account_in_path_is_refused(api: httpx.Client) -> None:
    other = "AC" + "e" * 32

    response = api.get(f"/api/2010-04-01/Accounts/{other}/IncomingPhoneNumbers.json")

    assert_twilio_error(response, 401, 20003)


# --- SIDs and paths --------------------------------------------------------------------------


@pytest.mark.parametrize("trunk_sid", ["TK123", "TK" + "0" * 32, "PN0123456789abcdef0123456789abcdef"])
def test_malformed_or_unknown_trunk_sid_is_404(client: Client, trunk_sid: str) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.trunking.v1.trunks(trunk_sid).fetch()

    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_unknown_incoming_number_is_404(client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.incoming_phone_numbers("PN" + "0" * 32).fetch()

    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_unknown_path_is_a_twilio_404(api: httpx.Client) -> None:
    assert_twilio_error(api.get("/trunking/v1/Nonsense"), 404, 20404)


def test_wrong_method_is_405_20004(api: httpx.Client) -> None:
    assert_twilio_error(api.delete(f"{TRUNKS}/PhoneNumbers"), 405, 20004)


# --- trunk phone numbers ---------------------------------------------------------------------


@pytest.mark.parametrize("sid", ["PN123", "pn0123456789abcdef0123456789abcdef", "+14155550150"])
def test_phone_number_sid_must_match_pattern(api: httpx.Client, sid: str) -> None:
    response = api.post(f"{TRUNKS}/PhoneNumbers", data={"PhoneNumberSid": sid})

    assert_twilio_error(response, 400, 20001)


def test_phone_number_sid_is_required(api: httpx.Client) -> None:
    assert_twilio_error(api.post(f"{TRUNKS}/PhoneNumbers", data={}), 400, 20001)


def test_unknown_phone_number_sid_is_404(client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.trunking.v1.trunks(TRUNK_SID).phone_numbers.create(
            phone_number_sid="PN" + "0" * 32
        )

    assert (raised.value.status, raised.value.code) == (404, 20404)


def test_number_on_another_trunk_is_refused_and_stays_there(
    client: Client, sandbox: httpx.Client
) -> None:
    sid = number_sid(client, "+14155550160")

    with pytest.raises(TwilioRestException) as raised:
        client.trunking.v1.trunks(TRUNK_SID).phone_numbers.create(phone_number_sid=sid)

    assert (raised.value.status, raised.value.code) == (409, 21245)
    assert client.incoming_phone_numbers(sid).fetch().trunk_sid == OTHER_TRUNK_SID
    assert "+14155550160" not in state(sandbox)["trunks"][0]["phone_numbers"]


def test_number_already_on_this_trunk_is_a_conflict(client: Client) -> None:
    sid = number_sid(client, "+14155550100")

    with pytest.raises(TwilioRestException) as raised:
        client.trunking.v1.trunks(TRUNK_SID).phone_numbers.create(phone_number_sid=sid)

    assert (raised.value.status, raised.value.code) == (409, 20409)


def test_disassociating_a_number_of_another_trunk_is_404(client: Client) -> None:
    sid = number_sid(client, "+14155550160")

    with pytest.raises(TwilioRestException) as raised:
        client.trunking.v1.trunks(TRUNK_SID).phone_numbers(sid).delete()

    assert raised.value.status == 404
    assert client.incoming_phone_numbers(sid).fetch().trunk_sid == OTHER_TRUNK_SID


# --- origination URLs ------------------------------------------------------------------------


@pytest.mark.parametrize("missing", sorted(ORIGINATION))
def test_origination_url_create_requires_all_five_fields(
    api: httpx.Client, sandbox: httpx.Client, missing: str
) -> None:
    form = {k: v for k, v in ORIGINATION.items() if k != missing}

    response = api.post(f"{TRUNKS}/OriginationUrls", data=form)

    assert_twilio_error(response, 400, 20001)
    assert missing in response.json()["message"]
    assert len(state(sandbox)["trunks"][0]["origination_urls"]) == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Priority", "-1"), ("Priority", "65536"), ("Priority", "high"),
        ("Weight", "0"), ("Weight", "65536"),
        ("Enabled", "maybe"),
        ("SipUrl", "sips:sbc3.byoc.example.net"), ("SipUrl", "sbc3.byoc.example.net"),
        ("SipUrl", "http://sbc3.byoc.example.net"), ("SipUrl", "sip:"),
        ("FriendlyName", ""), ("FriendlyName", "x" * 65),
    ],
)
def test_origination_url_values_are_validated(
    api: httpx.Client, field: str, value: str
) -> None:
    response = api.post(f"{TRUNKS}/OriginationUrls", data={**ORIGINATION, field: value})

    assert_twilio_error(response, 400, 20001)


def test_origination_url_bounds_are_accepted(api: httpx.Client) -> None:
    low = api.post(f"{TRUNKS}/OriginationUrls",
                   data={**ORIGINATION, "Priority": "0", "Weight": "1"})
    high = api.post(f"{TRUNKS}/OriginationUrls",
                    data={**ORIGINATION, "Priority": "65535", "Weight": "65535"})

    assert (low.status_code, high.status_code) == (201, 201)


def test_origination_url_update_is_validated(client: Client) -> None:
    [first, _] = client.trunking.v1.trunks(TRUNK_SID).origination_urls.list()
    assert first.sid is not None

    with pytest.raises(TwilioRestException) as raised:
        client.trunking.v1.trunks(TRUNK_SID).origination_urls(first.sid).update(weight=0)

    assert raised.value.status == 400
    assert client.trunking.v1.trunks(TRUNK_SID).origination_urls(first.sid).fetch().weight == 10


# --- trunk fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("DomainName", "byoc.example.com"), ("DomainName", "bad_name.pstn.twilio.com"),
        ("TransferMode", "enable-some"), ("TransferCallerId", "from-nobody"),
        ("Secure", "yes-please"), ("DisasterRecoveryMethod", "FETCH"),
    ],
)
def test_trunk_update_values_are_validated(
    api: httpx.Client, sandbox: httpx.Client, field: str, value: str
) -> None:
    response = api.post(TRUNKS, data={field: value, "Secure": "false"} if field != "Secure"
                        else {field: value})

    assert_twilio_error(response, 400, 20001)
    assert state(sandbox)["trunks"][0]["secure"] is True


def test_trunk_domain_of_another_trunk_is_taken(api: httpx.Client) -> None:
    response = api.post(TRUNKS, data={"DomainName": "other.pstn.twilio.com"})

    assert_twilio_error(response, 400, 21248)


def test_trunk_recording_is_read_only_on_the_trunk(api: httpx.Client, client: Client) -> None:
    api.post(TRUNKS, data={"Recording": "record-from-answer"}).raise_for_status()

    assert client.trunking.v1.trunks(TRUNK_SID).fetch().recording == {
        "mode": "do-not-record", "trim": "do-not-trim"
    }


def test_recording_mode_and_trim_are_enums(api: httpx.Client) -> None:
    assert_twilio_error(api.post(f"{TRUNKS}/Recording", data={"Mode": "record-all"}), 400, 20001)
    assert_twilio_error(api.post(f"{TRUNKS}/Recording", data={"Trim": "trim"}), 400, 20001)


# --- purchase, update, release ---------------------------------------------------------------


@pytest.mark.parametrize("phone_number", [OFF_TRUNK_NUMBER, "+14155551234", "+12125550100"])
def test_buying_an_unavailable_number_is_21422(
    client: Client, sandbox: httpx.Client, phone_number: str
) -> None:
    before = state(sandbox)

    with pytest.raises(TwilioRestException) as raised:
        client.incoming_phone_numbers.create(phone_number=phone_number)

    assert (raised.value.status, raised.value.code) == (400, 21422)
    after = state(sandbox)
    assert (after["numbers"], after["events"]) == (before["numbers"], before["events"])


@pytest.mark.parametrize("number", ["4155550123", "+04155550100", "+1415555010012345"])
def test_buying_an_invalid_number_is_21421(client: Client, number: str) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.incoming_phone_numbers.create(phone_number=number)

    assert (raised.value.status, raised.value.code) == (400, 21421)


def test_a_short_number_twilio_format_allows_is_only_unavailable(client: Client) -> None:
    # Twilio publishes a 15-digit maximum and no minimum: a 6-digit Austrian number is E.164.
    with pytest.raises(TwilioRestException) as raised:
        client.incoming_phone_numbers.create(phone_number="+431110")

    assert (raised.value.status, raised.value.code) == (400, 21422)


def test_area_code_without_numbers_is_21452(client: Client) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.incoming_phone_numbers.create(area_code="907")

    assert (raised.value.status, raised.value.code) == (400, 21452)


def test_purchase_needs_a_number_or_area_code(api: httpx.Client) -> None:
    assert_twilio_error(api.post(f"{NUMBERS}.json", data={"FriendlyName": "x"}), 400, 20001)


def test_purchase_onto_an_unknown_trunk_buys_nothing(
    client: Client, sandbox: httpx.Client
) -> None:
    with pytest.raises(TwilioRestException) as raised:
        client.incoming_phone_numbers.create(phone_number="+14155550400",
                                             trunk_sid="TK" + "1" * 32)

    assert raised.value.status == 400
    assert "+14155550400" not in [n["phone_number"] for n in state(sandbox)["numbers"]]


def test_a_released_number_cannot_be_bought_back_at_once(client: Client) -> None:
    sid = number_sid(client, "+14155550101")
    client.incoming_phone_numbers(sid).delete()

    with pytest.raises(TwilioRestException) as raised:
        client.incoming_phone_numbers.create(phone_number="+14155550101")

    assert raised.value.code == 21422


def test_trunk_sid_and_voice_application_sid_together_are_refused(
    client: Client, sandbox: httpx.Client
) -> None:
    sid = number_sid(client, OFF_TRUNK_NUMBER)

    with pytest.raises(TwilioRestException) as raised:
        client.incoming_phone_numbers(sid).update(trunk_sid=TRUNK_SID,
                                                  voice_application_sid="AP" + "a" * 32)

    assert raised.value.status == 400
    assert client.incoming_phone_numbers(sid).fetch().trunk_sid is None


def test_transfer_to_an_unrelated_account_is_21473(api: httpx.Client, client: Client) -> None:
    sid = number_sid(client, OFF_TRUNK_NUMBER)

    response = api.post(f"{NUMBERS}/{sid}.json", data={"AccountSid": "AC" + "9" * 32})

    assert_twilio_error(response, 400, 21473)


def test_invalid_voice_url_is_21402(client: Client) -> None:
    sid = number_sid(client, OFF_TRUNK_NUMBER)

    with pytest.raises(TwilioRestException) as raised:
        client.incoming_phone_numbers(sid).update(voice_url="ftp://example.com/twiml")

    assert (raised.value.status, raised.value.code) == (400, 21402)


def test_incoming_numbers_have_no_trunk_filter(api: httpx.Client) -> None:
    body = api.get(f"{NUMBERS}.json", params={"TrunkSid": OTHER_TRUNK_SID}).json()

    assert len(body["incoming_phone_numbers"]) == 22  # the unknown parameter is ignored


def test_incoming_number_origin_filter_is_an_enum(api: httpx.Client) -> None:
    assert_twilio_error(api.get(f"{NUMBERS}.json", params={"Origin": "ported"}), 400, 20001)


# --- available numbers -----------------------------------------------------------------------


def test_available_search_with_bad_area_code_is_21451(client: Client) -> None:
    with pytest.raises(TwilioException) as raised:
        client.available_phone_numbers("US").local.list(area_code=41)

    assert refusal(raised.value) == (400, 21451)


def test_available_search_in_a_country_without_inventory_is_404(client: Client) -> None:
    with pytest.raises(TwilioException) as raised:
        client.available_phone_numbers("ZZ").local.list()

    assert refusal(raised.value) == (404, 20404)


def test_list_calls_raise_a_bare_twilio_exception_carrying_the_response(
    server: ServedApp,
) -> None:
    with pytest.raises(TwilioException) as raised:
        sandbox_client(server.url, auth_token="wrong").trunking.v1.trunks.list()

    assert not isinstance(raised.value, TwilioRestException)
    assert refusal(raised.value) == (401, 20003)


# --- monitor events --------------------------------------------------------------------------


def test_monitor_allows_one_filter_besides_the_dates(api: httpx.Client) -> None:
    response = api.get("/monitor/v1/Events", params={
        "EventType": "phone-number.created", "ResourceSid": "PN" + "0" * 32,
    })

    assert_twilio_error(response, 400, 20001)


@pytest.mark.parametrize("params", [{"StartDate": "yesterday"},
                                    {"StartDate": "2030-01-02", "EndDate": "2030-01-01"}])
def test_monitor_dates_are_validated(api: httpx.Client, params: dict[str, str]) -> None:
    assert_twilio_error(api.get("/monitor/v1/Events", params=params), 400, 20001)


# --- paging ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "code"), [("0", 20001), ("abc", 20001), ("1001", 20007)])
def test_page_size_out_of_range_is_refused(api: httpx.Client, size: str, code: int) -> None:
    assert_twilio_error(api.get(f"{TRUNKS}/PhoneNumbers", params={"PageSize": size}), 400, code)


def test_forged_page_token_is_21481(api: httpx.Client) -> None:
    response = api.get(f"{NUMBERS}.json", params={"PageSize": "5", "PageToken": "PAnot-a-token"})

    assert_twilio_error(response, 400, 21481)


def test_next_page_neither_repeats_nor_skips_after_a_change(
    client: Client, api: httpx.Client
) -> None:
    first = client.trunking.v1.trunks(TRUNK_SID).phone_numbers.page(page_size=5)
    seen = [n.phone_number for n in first]
    sid = number_sid(client, "+14155550102")
    client.trunking.v1.trunks(TRUNK_SID).phone_numbers(sid).delete()  # a number already read

    rest: list[str] = []
    page = first.next_page()
    while page is not None:
        rest += [n.phone_number for n in page]
        page = page.next_page()

    assert seen[-1] == "+14155550104"
    assert rest == [f"+141555501{n:02d}" for n in range(5, 20)]


def test_last_page_has_no_next_page(api: httpx.Client) -> None:
    body = api.get(f"{TRUNKS}/PhoneNumbers", params={"PageSize": "20"}).json()

    assert len(body["phone_numbers"]) == 20
    assert body["meta"]["next_page_url"] is None
    assert body["meta"]["key"] == "phone_numbers"


# --- concurrency limit and injected faults ---------------------------------------------------


def test_concurrency_limit_answers_20429_and_changes_nothing(
    server: ServedApp, sandbox: httpx.Client, client: Client
) -> None:
    sids = [number_sid(client, f"+141555501{n:02d}") for n in range(6)]
    sandbox.post("/_sandbox/twilio/limits", json={"concurrency": 2, "retry_after_s": 1})
    sandbox.post("/_sandbox/faults", json={"kind": "slow", "latency_ms": 1500,
                                           "route": "IncomingPhoneNumbers/PN"})
    barrier = threading.Barrier(len(sids))
    outcomes: dict[str, TwilioRestException | None] = {}

    def rename(sid: str) -> None:
        own_client = sandbox_client(server.url)
        barrier.wait()
        try:
            own_client.incoming_phone_numbers(sid).update(friendly_name="renamed")
            outcomes[sid] = None
        except TwilioRestException as exc:
            outcomes[sid] = exc

    threads = [threading.Thread(target=rename, args=(sid,)) for sid in sids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    refused = {sid: exc for sid, exc in outcomes.items() if exc is not None}
    assert refused, "no call was refused although six slow calls met a limit of two"
    assert {(exc.status, exc.code) for exc in refused.values()} == {(429, 20429)}
    names = {n["sid"]: n["friendly_name"] for n in state(sandbox)["numbers"]}
    assert {sid for sid in sids if names[sid] == "renamed"} == set(sids) - set(refused)
    limits = state(sandbox)["limits"]
    assert limits["max_in_flight"] <= 2
    assert limits["rejected"] == len(refused)


@pytest.mark.parametrize("retry_after_s", [None, 2])
def test_20429_carries_concurrency_header_and_optional_retry_after(
    sandbox: httpx.Client, api: httpx.Client, retry_after_s: int | None
) -> None:
    sandbox.post("/_sandbox/twilio/limits",
                 json={"concurrency": 1, "retry_after_s": retry_after_s})
    sandbox.post("/_sandbox/variants", json={
        "rate_limit_retry_after": "absent" if retry_after_s is None else "present"})
    sandbox.post("/_sandbox/faults", json={"kind": "slow", "latency_ms": 1500,
                                           "route": "/trunking/v1/Trunks$"})
    slow = threading.Thread(target=api.get, args=("/trunking/v1/Trunks",))
    slow.start()
    response = httpx.Response(200)
    for _ in range(100):  # wait until the slow call holds the only slot
        if state(sandbox)["limits"]["in_flight"] == 1:
            response = api.get(f"{TRUNKS}/PhoneNumbers")
            break
        threading.Event().wait(0.01)
    slow.join()

    assert_twilio_error(response, 429, 20429)
    assert response.headers["Twilio-Concurrent-Requests"] == "1"
    if retry_after_s is None:
        assert "Retry-After" not in response.headers
    else:
        assert response.headers["Retry-After"] == str(retry_after_s)


def test_generic_fault_429_with_retry_after_for_next_two_calls(
    sandbox: httpx.Client, client: Client
) -> None:
    sandbox.post("/_sandbox/faults", json={
        "route": "/PhoneNumbers", "status": 429, "count": 2,
        "headers": {"Retry-After": "1", "Twilio-Concurrent-Requests": "100"},
        "body": {"code": 20429, "message": "Too Many Requests", "status": 429,
                 "more_info": "https://www.twilio.com/docs/errors/20429"},
    })
    trunk = client.trunking.v1.trunks(TRUNK_SID)

    refusals = []
    for _ in range(2):
        with pytest.raises(TwilioException) as raised:
            trunk.phone_numbers.list()
        refusals.append(refusal(raised.value))
    numbers = trunk.phone_numbers.list()

    assert refusals == [(429, 20429), (429, 20429)]
    assert len(numbers) == 20
    log = sandbox.get("/_sandbox/requests").json()
    route = "GET /trunking/v1/Trunks/{trunk_sid}/PhoneNumbers"
    assert log["counts"][route] == 3
    assert [r["status"] for r in log["requests"] if r["route"].endswith("/PhoneNumbers")] == [
        429, 429, 200
    ]


def test_request_log_counts_calls_per_route(sandbox: httpx.Client, client: Client) -> None:
    client.trunking.v1.trunks(TRUNK_SID).fetch()
    client.trunking.v1.trunks(TRUNK_SID).update(secure=True)
    client.incoming_phone_numbers.list(page_size=10)  # 22 numbers: three pages

    counts = sandbox.get("/_sandbox/requests").json()["counts"]

    assert counts == {
        "GET /trunking/v1/Trunks/{trunk_sid}": 1,
        "POST /trunking/v1/Trunks/{trunk_sid}": 1,
        "GET /api/2010-04-01/Accounts/{account_sid}/IncomingPhoneNumbers.json": 3,
    }
