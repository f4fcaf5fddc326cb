"""azure-core's `RetryPolicy` for ARM, extended for "another operation is in progress".

azure-core already retries 408, 429 and 5xx answers and connections that failed, honouring
`Retry-After`. ARM also refuses a write while another operation holds the resource with a 409 (or
429) whose error code says so (`AnotherOperationInProgress`, `RetryableError`, ...): that 409 is
retried here too. Waits follow byoc's `Backoff` and its `Retry-After` reader, through the sleep the
adapter was given, and each retry is counted and logged (event `nsg.retry`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from azure.core.exceptions import AzureError
from azure.core.pipeline import PipelineResponse
from azure.core.pipeline.policies import RetryPolicy

from byoc import metrics
from byoc.adapters.arm_errors import arm_error_code, is_busy
from byoc.adapters.retry import Backoff, retry_after_s, waiter

log = logging.getLogger("byoc.nsg")

class ArmRetryPolicy(RetryPolicy[Any, Any]):
    """azure-core's retries with ARM's busy 409s retried too; `backoff.attempts` attempts in all."""

    def __init__(
        self,
        backoff: Backoff,
        *,
        sleep: Callable[[float], None] | None = None,
        what: str = "arm",
    ) -> None:
        retries = max(0, backoff.attempts - 1)
        super().__init__(
            retry_total=retries,
            retry_connect=retries,
            retry_read=retries,
            retry_status=retries,
            retry_backoff_factor=backoff.base_s,
            retry_backoff_max=backoff.cap_s,
        )
        self.backoff = backoff
        self._sleep = waiter(sleep)
        self._what = what

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        """azure-core's rule, plus an answer whose ARM error code says "busy" (a 409)."""
        answer = response.http_response
        if answer.status_code >= 400 and settings["total"] > 0 and is_busy(None, _code(answer)):
            return True
        return bool(super().is_retry(settings, response))

    def sleep(
        self,
        settings: dict[str, Any],
        transport: Any,
        response: PipelineResponse[Any, Any] | None = None,
    ) -> None:
        """Wait ARM's `Retry-After` (capped) or the backoff, through the adapter's sleep."""
        retry = max(1, len(settings["history"]))
        answer = response.http_response if response is not None else None
        hint = retry_after_s(answer.headers) if answer is not None else None
        delay = self.backoff.delay(retry, hint)
        if answer is None:
            kind, reason = "no_answer", "connection failed"
        else:
            kind = "rate_limited" if answer.status_code == 429 else "busy"
            reason = f"{answer.status_code} {_code(answer) or ''}".strip()
        metrics.vendor_retry("arm", kind, rate_limited=kind == "rate_limited")
        metrics.vendor_call("arm")
        request = response.http_request if response is not None else None
        log.warning(
            "NSG busy, retrying",
            extra={
                "event": "nsg.retry",
                "nsg": self._what,
                "operation": f"{request.method} {request.url.split('?', 1)[0]}" if request else "",
                "reason": reason,
                "attempt": retry,
                "delay_s": delay,
            },
        )
        self._sleep(delay)


def _code(answer: Any) -> str | None:
    """The ARM error code of a refusal; its body is read here, before the SDK would."""
    try:
        answer.read()
        return arm_error_code(json.loads(answer.text() or "null"))
    except (AzureError, ValueError, TypeError, AttributeError):
        return None
