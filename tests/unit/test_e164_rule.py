"""One E.164 rule: a number it refuses is refused at every door byoc has (the Twilio webhook, a
queue message, the policy, the CLI, settings), and a number one door takes the next one takes too.

The rule (`byoc.domain.numbers.E164_RULE`): '+', 6 to 15 digits, the first not 0. Fifteen is
ITU-T E.164's maximum; six is the shortest number libphonenumber's metadata holds valid.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import phonenumbers
import pytest
from fakes import FakeQueue, FakeState
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneMetadata
from twilio.request_validator import RequestValidator
from typer.testing import CliRunner

from byoc.domain.jobs import InvalidJob, NumberEvent, parse_job
from byoc.domain.numbers import E164_MAX_DIGITS, E164_MIN_DIGITS, is_e164, parse_number
from byoc.domain.policy_file import load_policy
from byoc.services.webhooks import TwilioNumberWebhook, WebhookRequest
from byoc.settings import ConfigurationError, load_settings

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-twilio-auth-token"
PUBLIC_URL = "https://byoc.example.com/api/twilio/numbers"
POLICY = """
version: 1
managed: {all_on_trunk: true}
defaults: {genesys: none, sbc_tag: main}
"""

REFUSED = [
    "+14155",              # 5 digits: shorter than any assigned number
    "+1415555010012345",   # 16 digits: longer than E.164 allows
    "+810037612345678901",  # 18 digits: valid in Japan's plan, not dialable from abroad
    "+04155550100",        # no country code starts with 0
    "14155550100",         # no '+'
    "+1415555O100",        # a letter O
]
SHORTEST = "+431110"  # 6 digits: a valid Austrian number (libphonenumber metadata)
LONGEST = "+498001234567890"  # 15 digits: a German freephone number


def _webhook(queue: FakeQueue) -> TwilioNumberWebhook:
    return TwilioNumberWebhook(public_url=PUBLIC_URL, auth_token=lambda: TOKEN, queue=queue,
                               state=FakeState())


def _notice(number: str) -> WebhookRequest:
    params = {"EventId": "e-1", "Action": "purchased", "PhoneNumber": number}
    return WebhookRequest(
        body=urlencode(params).encode(), query="",
        content_type="application/x-www-form-urlencoded",
        signature=RequestValidator(TOKEN).compute_signature(PUBLIC_URL, params))


def _message(number: str) -> str:
    return json.dumps({"schema_version": 2, "type": "number_event", "action": "purchased",
                       "number": number, "source": "webhook", "event_id": "e-1",
                       "correlation_id": "c0ffee00"})


def _slice_message(number: str) -> str:
    return json.dumps({"schema_version": 2, "type": "sync_target", "target": "twilio",
                       "reason": "number event", "numbers": [number],
                       "correlation_id": "c0ffee00"})


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    from byoc.bootstrap import reset_services

    for key in list(os.environ):
        if key.startswith("BYOC_"):
            monkeypatch.delenv(key)
    (tmp_path / "policy.yaml").write_text(POLICY)
    for key, value in {
        "AzureWebJobsStorage": "UseDevelopmentStorage=true",
        "BYOC_TWILIO_ACCOUNT_SID": "AC" + "0" * 32, "BYOC_TWILIO_TRUNK_SID": "TK" + "0" * 32,
        "BYOC_TWILIO_AUTH_TOKEN": "t", "BYOC_GENESYS_CLIENT_ID": "c",
        "BYOC_GENESYS_CLIENT_SECRET": "s", "BYOC_SBC_PASSWORD": "p",
        "BYOC_POLICY_PATH": str(tmp_path / "policy.yaml"),
        "BYOC_SBCS": json.dumps([{"name": "sbc1", "management_url": "https://10.0.1.4",
                                  "fqdn": "sbc1.example.com"}]),
    }.items():
        monkeypatch.setenv(key, value)
    reset_services()
    yield
    reset_services()


@pytest.mark.parametrize("number", REFUSED)
def test_a_number_the_rule_refuses_is_refused_at_every_door(
    number: str, cli_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from byoc.entrypoints.cli import app

    queue = FakeQueue()
    answer = _webhook(queue).accept(_notice(number))
    assert answer.status == 400 and number in json.dumps(answer.body)
    assert queue.sent == []

    for message in (_message(number), _slice_message(number)):
        with pytest.raises(InvalidJob, match=r"expected E\.164"):
            parse_job(message)

    policy = load_policy(POLICY, "policy.yaml")
    with pytest.raises(ValueError, match=r"expected E\.164"):
        policy.routes_for(["+14155550100", number])
    with pytest.raises(ValueError, match=r"expected E\.164"):
        policy.is_managed(number)

    result = CliRunner().invoke(app, ["trace", number])
    assert result.exit_code != 0
    assert "error:" in result.output and number in result.output

    monkeypatch.setenv("BYOC_TEST_CALL_FROM", number)
    with pytest.raises(ConfigurationError, match="BYOC_TEST_CALL_FROM"):
        load_settings()


@pytest.mark.parametrize("number", [SHORTEST, LONGEST, "+14155550100"])
def test_a_number_at_either_end_of_the_rule_passes_every_door(number: str) -> None:
    queue = FakeQueue()
    answer = _webhook(queue).accept(_notice(number))
    assert answer.status == 202, answer.body
    [(job, _)] = queue.sent
    assert isinstance(job, NumberEvent) and job.number == number
    assert parse_job(_message(number)) == parse_job(_message(number))
    parse_job(_slice_message(number))
    assert load_policy(POLICY, "policy.yaml").routes_for([number]).keys() == {number}


def test_the_bounds_are_e164s_maximum_and_the_shortest_number_the_metadata_holds() -> None:
    shortest = min(
        len(str(meta.country_code)) + min(n for n in meta.general_desc.possible_length if n > 0)
        for meta in map(PhoneMetadata.metadata_for_region, phonenumbers.SUPPORTED_REGIONS)
    )
    assert (shortest, 15) == (E164_MIN_DIGITS, E164_MAX_DIGITS)
    assert parse_number(SHORTEST) == SHORTEST  # the bound is reached, not only possible


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text("+0123456789", max_size=18) | st.from_regex(r"\+[1-9][0-9]{3,16}", fullmatch=True))
def test_the_queue_and_the_policy_take_exactly_what_the_rule_takes(text: str) -> None:
    policy = load_policy(POLICY, "policy.yaml")
    try:
        parse_job(_message(text))
        queued = True
    except InvalidJob:
        queued = False
    try:
        policy.routes_for([text])
        routed = True
    except ValueError:
        routed = False
    assert queued is routed is is_e164(text)
    try:
        dialable = parse_number(text)
    except ValueError:
        return
    assert is_e164(dialable)  # what the webhook and the CLI take, the queue takes
