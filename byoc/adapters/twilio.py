"""Twilio through its own SDK (`twilio` 9.x): the trunk, its numbers, purchases, Monitor events.

The SDK is imported on first use. With `BYOC_TWILIO_API_BASE` set (the sandbox) every domain's
`base_url` points there and `edge`/`region` are cleared, so `TWILIO_EDGE`/`TWILIO_REGION` in the
environment cannot rewrite the host (docs/vendors/twilio.md §3, sandbox/README-twilio.md).

The SDK never retries a 429/20429 on a POST (and on GET only with `Retry-After`): every call here
backs off and retries itself. A retried create first re-reads the object by its natural key (the
phone number, the origination URL, the trunk association) so a call that did land is not repeated.
"""

from __future__ import annotations

from byoc.adapters.twilio_client import (
    BACKOFF,
    NUMBER_EVENT_PREFIX,
    PAGE_SIZE,
    REQUEST_TIMEOUT_S,
    TwilioClient,
    TwilioListingMismatch,
    build_twilio_client,
)
from byoc.adapters.twilio_numbers import Numbers
from byoc.adapters.twilio_trunk import TrunkSide

__all__ = [
    "BACKOFF",
    "NUMBER_EVENT_PREFIX",
    "PAGE_SIZE",
    "REQUEST_TIMEOUT_S",
    "TwilioAdapter",
    "TwilioClient",
    "TwilioListingMismatch",
    "build_twilio_client",
]


class TwilioAdapter(TrunkSide, Numbers):
    """The `TwilioPort` of one account and one trunk."""
