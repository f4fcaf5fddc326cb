"""The Twilio poller and adapter through byoc's own wiring against the sandbox, under each value of
the Twilio variants no public source settles: the `event_data` shape of Monitor `phone-number.*`
events, and whether a 20429 carries Retry-After."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.integration


def _control(ports: dict[str, Any], path: str, body: Any = None, method: str = "POST") -> Any:
    trust = ssl.create_default_context(cafile=ports["ca_bundle"])
    response = httpx.request(method, f"{ports['twilio']}{path}", json=body, verify=trust)
    response.raise_for_status()
    return response.json()


def _handle_number_events() -> list[str]:
    """Record the queued number events in the inventory (the syncs are not run here)."""
    from byoc.bootstrap import get_services
    from byoc.domain.jobs import NumberEvent, parse_job

    services = get_services()
    seen: list[str] = []
    while messages := services.queue.receive(max_messages=32, visibility_timeout_s=30):
        for message in messages:
            job = parse_job(message.body)
            if isinstance(job, NumberEvent):
                services.numbers.handle(job)
                seen.append(f"{job.action} {job.number}")
            services.queue.delete(message)
    return seen


@pytest.mark.sandbox_variants("twilio.monitor_event_data")
def test_the_poller_follows_console_purchases_and_releases_whatever_the_event_data_shape(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    from byoc.bootstrap import get_services

    poller = get_services().twilio_poller
    assert poller.poll().mode == "sweep"
    _handle_number_events()
    _control(sandbox_env, "/_sandbox/twilio/purchase", {"phone_number": "+14155550470"})
    _control(sandbox_env, "/_sandbox/twilio/release", {"phone_number": "+14155550101"})

    outcome = poller.poll()
    handled = _handle_number_events()

    assert outcome.mode == "events", sandbox_variant
    assert "purchased +14155550470" in handled and "released +14155550101" in handled
    inventory = get_services().inventory
    assert inventory.get("+14155550470") is not None
    assert inventory.get("+14155550101").state.value == "releasing"  # type: ignore[union-attr]


@pytest.mark.sandbox_variants("twilio.rate_limit_retry_after")
def test_the_adapter_rides_out_20429_with_or_without_retry_after(
        sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]) -> None:
    from byoc.bootstrap import get_services
    from byoc.ports import TwilioNumber

    twilio = get_services().twilio
    number = twilio.find_number("+14155550150")
    assert number is not None
    rejected = _control(sandbox_env, "/_sandbox/state", method="GET")["limits"]["rejected"]
    _control(sandbox_env, "/_sandbox/faults", {"kind": "rate_limit", "count": 2,
                                                "route": "/PhoneNumbers$", "method": "POST"})

    failures = twilio.associate_numbers(
        [TwilioNumber(sid=number.sid, phone_number=number.phone_number)], lambda: None)

    state = _control(sandbox_env, "/_sandbox/state", method="GET")
    assert failures == {}, sandbox_variant
    assert state["limits"]["rejected"] - rejected == 2  # (the count lives as long as the emulator)
    trunk = state["trunks"][0]
    assert "+14155550150" in trunk["phone_numbers"]
