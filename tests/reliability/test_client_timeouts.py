"""A vendor that stops answering: the sync gives up after the configured client timeout and says
so, instead of holding the target's lease until the Functions host ends the invocation."""

from __future__ import annotations

from typing import Any

import pytest
from estate import Vendors

pytestmark = pytest.mark.integration



def test_a_twilio_sync_against_a_hanging_twilio_fails_naming_the_timeout_setting(
        sandbox_env: dict[str, Any], vendors: Vendors, monkeypatch: pytest.MonkeyPatch) -> None:
    from byoc.adapters.retry import Backoff
    from byoc.bootstrap import get_services, reset_services
    from byoc.ports import TwilioError

    monkeypatch.setenv("BYOC_TWILIO_TIMEOUT_S", "1")
    reset_services()
    services = get_services()
    # Fewer, shorter retries than production's six, to keep the test short; the timeout is the
    # one the settings gave the production-built adapter.
    services.twilio._retry = Backoff(attempts=2, base_s=0.01)
    vendors.fault("twilio", {"hang": True, "hang_s": 3})

    with pytest.raises(TwilioError) as caught:
        services.reconcile.sync("twilio", correlation_id="hanging-twilio")

    message = str(caught.value)
    assert "did not answer" in message and "within 1 s" in message
    assert "BYOC_TWILIO_TIMEOUT_S" in message
    status = services.state.get("sync", "twilio")
    assert status is not None and "BYOC_TWILIO_TIMEOUT_S" in status["error"]
