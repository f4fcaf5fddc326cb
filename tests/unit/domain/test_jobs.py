"""Job messages: versioned, validated; anything else is an InvalidJob with the reason."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from byoc.domain.jobs import (
    InvalidJob,
    NumberEvent,
    RotateCertificate,
    SyncTarget,
    dump_job,
    new_correlation_id,
    parse_job,
)


def test_every_job_type_round_trips() -> None:
    cid = new_correlation_id()
    jobs = [
        NumberEvent(action="purchased", number="+14155550100", sid="PN" + "a" * 32,
                    source="webhook", event_id="evt-1", correlation_id=cid),
        SyncTarget(target="sbc:sbc1", reason="timer", correlation_id=cid),
        SyncTarget(target="twilio", reason="number purchased", correlation_id=cid,
                   numbers=("+14155550100",)),
        RotateCertificate(sbc=None, force=True, correlation_id=cid),
    ]
    for job in jobs:
        assert parse_job(dump_job(job)) == job


# The fields a SyncTarget had before slice syncs; a worker of that version refuses any other.
FIELDS_BEFORE_SLICES = {"schema_version", "correlation_id", "traceparent", "type", "target",
                        "reason", "force"}


def test_a_full_sync_message_is_one_a_worker_from_before_slices_still_reads() -> None:
    cid = new_correlation_id()
    full = json.loads(dump_job(SyncTarget(target="genesys", reason="timer", correlation_id=cid)))
    piece = json.loads(dump_job(SyncTarget(target="genesys", reason="number purchased",
                                           correlation_id=cid, numbers=("+14155550100",))))

    assert set(full) <= FIELDS_BEFORE_SLICES  # a rolling deploy's old worker runs it
    assert set(piece) - FIELDS_BEFORE_SLICES == {"numbers"}  # it needs the new worker


def test_a_bad_field_is_named() -> None:
    body = json.dumps({"schema_version": 1, "type": "number_event", "action": "purchased",
                       "number": "4155550100", "source": "webhook", "event_id": "e",
                       "correlation_id": "abcdefgh"})
    with pytest.raises(InvalidJob, match="number"):
        parse_job(body)


@pytest.mark.parametrize("body,reason", [
    ("not json", "not JSON"),
    ("[1, 2]", "JSON object"),
    ('{"schema_version": 3, "type": "sync_target"}', "schema_version"),
    ('{"schema_version": 1, "type": "launch_rockets", "correlation_id": "abcdefgh"}', "type"),
    ('{"schema_version": 1, "type": "sync_target", "target": "everything", "reason": "x", '
     '"correlation_id": "abcdefgh"}', "target"),
    ('{"schema_version": 1, "type": "sync_target", "target": "all", "reason": "x", '
     '"correlation_id": "abcdefgh", "extra": 1}', "extra"),
    ('{"schema_version": 2, "type": "sync_target", "target": "all", "reason": "x", '
     '"correlation_id": "abcdefgh", "numbers": ["+14155550100"]}', "one target"),
    ('{"schema_version": 2, "type": "sync_target", "target": "twilio", "reason": "x", '
     '"correlation_id": "abcdefgh", "numbers": ["4155550100"]}', "numbers"),
    ('{"schema_version": 2, "type": "sync_target", "target": "twilio", "reason": "x", '
     '"correlation_id": "abcdefgh", "numbers": []}', "numbers"),
])
def test_malformed_messages_are_refused_with_the_reason(body: str, reason: str) -> None:
    with pytest.raises(InvalidJob, match=reason):
        parse_job(body)


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_no_input_makes_the_parser_fail_with_anything_but_invalid_job(raw: bytes | str) -> None:
    with contextlib.suppress(InvalidJob):
        parse_job(raw)
