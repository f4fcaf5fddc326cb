"""One target-name rule: an SBC name, and the target names built from it, are taken or refused
alike by settings, queue messages and the HTTP API."""

from __future__ import annotations

import json

import azure.functions as func
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from byoc.domain.jobs import InvalidJob, parse_job
from byoc.domain.targets import is_sbc_name, nsg_target, sbc_target
from byoc.entrypoints.functions import http
from byoc.settings import SbcSettings

BAD_NAMES = ["", "SBC1", "1sbc", "sbc_1", "sbc 1", "s" * 32, "sbc:1", "ſbc"]
GOOD_NAMES = ["s", "sbc1", "eu-west-sbc-2", "s" + "0" * 30]


def _sync(target: str) -> str:
    return json.dumps({"schema_version": 2, "type": "sync_target", "target": target,
                       "reason": "test", "correlation_id": "c0ffee00"})


def _rotate(sbc: str) -> str:
    return json.dumps({"schema_version": 2, "type": "rotate_certificate", "sbc": sbc,
                       "correlation_id": "c0ffee00"})


def _settings_take(name: str) -> bool:
    try:
        SbcSettings(name=name, management_url="https://10.0.1.4", fqdn="sbc1.example.com")
    except ValueError:
        return False
    return True


def _queue_takes(message: str) -> bool:
    try:
        parse_job(message)
    except InvalidJob:
        return False
    return True


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_bad_sbc_name_is_refused_everywhere(name: str) -> None:
    assert not _settings_take(name)
    assert not _queue_takes(_rotate(name))
    for target in (sbc_target(name), nsg_target(name)):
        assert not _queue_takes(_sync(target))
        response = http.resync(func.HttpRequest("POST", "http://localhost/api/resync",
                                                params={"target": target}, body=b""))
        assert response.status_code == 400
        assert "'sbc:<name>'" in response.get_body().decode()


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_a_good_sbc_name_is_taken_everywhere(name: str) -> None:
    assert _settings_take(name)
    assert _queue_takes(_rotate(name))
    for target in (sbc_target(name), nsg_target(name)):
        assert _queue_takes(_sync(target))
        # Past the target check: the next parameter is the one refused.
        response = http.resync(func.HttpRequest("POST", "http://localhost/api/resync",
                                                params={"target": target, "dry_run": "maybe"},
                                                body=b""))
        assert "dry_run" in response.get_body().decode()


@pytest.mark.parametrize("target", ["all", "twilio", "genesys"])
def test_the_single_targets_and_all_are_taken_by_the_queue(target: str) -> None:
    assert _queue_takes(_sync(target))


@pytest.mark.parametrize("family", ["sbc", "nsg"])
def test_a_family_is_a_selection_for_the_api_not_a_job(family: str) -> None:
    assert not _queue_takes(_sync(family))
    response = http.resync(func.HttpRequest("POST", "http://localhost/api/resync",
                                            params={"target": family, "dry_run": "maybe"},
                                            body=b""))
    assert "dry_run" in response.get_body().decode()


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(st.sampled_from("abz09-_A:ſ "), max_size=33))
def test_settings_and_the_queue_agree_with_the_rule(name: str) -> None:
    assert _settings_take(name) is _queue_takes(_rotate(name)) is is_sbc_name(name)
    assert _queue_takes(_sync(sbc_target(name))) is is_sbc_name(name)
