"""One Azure network security group's security rules, through `azure-mgmt-network`.

Rules cross this boundary as ARM JSON (`{"name", "etag", "properties": {...}}`, the shape the REST
API documents), so the reconciler and its fakes never see SDK models. Every write is a long-running
operation awaited to its end; "another operation is in progress", 429 and 5xx answers are retried
with bounded exponential backoff that honours `Retry-After`.

Optimistic concurrency (ETag) lives in `_conditional_write`, the one place that relies on ARM
enforcing `If-Match` / `If-None-Match` on security rules — unverified on a real tenant.
"""

from __future__ import annotations

import email.utils
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from byoc import metrics
from byoc.adapters.identity import build_credential

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.network import NetworkManagementClient

    from byoc.settings import Settings

log = logging.getLogger("byoc.nsg")

T = TypeVar("T")

_RESOURCE_ID = re.compile(
    r"^/subscriptions/(?P<subscription>[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{12})"
    r"/resourceGroups/(?P<group>[-\w._()]{1,90})"
    r"/providers/Microsoft\.Network/networkSecurityGroups/(?P<name>[A-Za-z0-9][\w.-]{0,79})$",
    re.IGNORECASE,
)
_RETRYABLE_CODES = frozenset(
    {
        "anotheroperationinprogress",
        "operationpreempted",
        "canceled",
        "retryableerror",
        "toomanyrequests",
        "internalservererror",
    }
)
_RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


class NsgError(Exception):
    """Base of every NSG adapter error."""


class InvalidNsgResourceId(NsgError, ValueError):
    """The configured NSG resource id is not one."""


class NsgConfigurationError(NsgError):
    """Settings that make the NSG unreachable safely (e.g. a plain-http ARM endpoint)."""


class NsgNotFound(NsgError):
    """The NSG does not exist (or the identity cannot see it)."""


class NsgAccessDenied(NsgError):
    """The identity lacks the NSG permissions byoc needs."""


class NsgRuleConflict(NsgError):
    """The rule changed (or appeared) since it was read: its ETag no longer matches."""


class NsgBusy(NsgError):
    """ARM kept answering busy (another operation, throttling, 5xx) past the retry budget."""


class NsgRequestRefused(NsgError):
    """ARM refused a request for a reason retrying will not fix (validation, limits...)."""


@dataclass(frozen=True)
class NsgResourceId:
    """Where an NSG lives: subscription, resource group, name."""

    subscription_id: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, text: str) -> NsgResourceId:
        """Parse `/subscriptions/<guid>/resourceGroups/<rg>/providers/Microsoft.Network/...`."""
        match = _RESOURCE_ID.match(text.strip().rstrip("/")) if isinstance(text, str) else None
        if match is None:
            raise InvalidNsgResourceId(
                f"{text!r} is not an NSG resource id; expected /subscriptions/<subscription "
                "guid>/resourceGroups/<group>/providers/Microsoft.Network/"
                "networkSecurityGroups/<name> (copy it from the NSG's 'JSON view' in the "
                "portal, or `az network nsg show --query id`)"
            )
        return cls(match["subscription"], match["group"], match["name"])

    def __str__(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Network/networkSecurityGroups/{self.name}"
        )


@dataclass(frozen=True)
class RetryBudget:
    """How long to keep retrying a busy ARM: attempts, and the backoff between them."""

    attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 30.0
    max_retry_after_s: float = 120.0

    def delay(self, attempt: int, retry_after_s: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1` (ARM's Retry-After wins when given)."""
        if retry_after_s is not None:
            return min(max(retry_after_s, 0.0), self.max_retry_after_s)
        return float(min(self.base_delay_s * (2**attempt), self.max_delay_s))


class AzureNsg:
    """Reads and writes the security rules of one NSG with `NetworkManagementClient`."""

    def __init__(
        self,
        resource_id: str,
        credential: TokenCredential,
        *,
        arm_endpoint: str = "https://management.azure.com",
        ca_bundle: str | None = None,
        retry: RetryBudget = RetryBudget(),
        polling_interval_s: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.resource_id = NsgResourceId.parse(resource_id)
        endpoint = arm_endpoint.strip().rstrip("/")
        if not endpoint.lower().startswith("https://"):
            raise NsgConfigurationError(
                f"BYOC_ARM_ENDPOINT {arm_endpoint!r} must be an https:// URL; byoc sends its "
                "Azure token only over TLS (for a local emulator, serve HTTPS and set "
                "BYOC_CA_BUNDLE)"
            )
        self._endpoint = endpoint
        self._credential = credential
        self._ca_bundle = ca_bundle
        self._retry = retry
        self._polling_interval_s = polling_interval_s
        self._sleep = sleep
        self._client: NetworkManagementClient | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, resource_id: str, credential: TokenCredential | None = None
    ) -> AzureNsg:
        """The NSG `resource_id`, reached as the settings say (endpoint, CA, identity)."""
        if credential is None:
            credential = build_credential(settings)
        return cls(
            resource_id,
            credential,
            arm_endpoint=settings.arm_endpoint,
            ca_bundle=settings.ca_bundle,
        )

    @property
    def credential_scope(self) -> str:
        """The token scope for this ARM endpoint (`https://management.azure.com/.default`)."""
        return f"{self._endpoint}/.default"

    def _get_client(self) -> NetworkManagementClient:
        if self._client is None:
            from azure.mgmt.network import NetworkManagementClient

            kwargs: dict[str, Any] = {
                "base_url": self._endpoint,
                "credential_scopes": [self.credential_scope],
                "polling_interval": self._polling_interval_s,
                # Retries are ours (bounded, Retry-After aware, counted once per attempt).
                "retry_total": 0,
            }
            if self._ca_bundle:
                kwargs["connection_verify"] = self._ca_bundle
            self._client = NetworkManagementClient(
                self._credential, self.resource_id.subscription_id, **kwargs
            )
        return self._client

    # --- operations -------------------------------------------------------------------------

    def read_rules(self) -> list[dict[str, Any]]:
        """Every user-defined rule of the NSG as ARM JSON, with its ETag; one GET of the NSG.

        Azure's default rules (AllowVnetInBound, DenyAllInBound, ...) are not included.
        """
        rid = self.resource_id

        def call() -> list[dict[str, Any]]:
            group = self._get_client().network_security_groups.get(rid.resource_group, rid.name)
            return [rule.as_dict() for rule in (group.security_rules or [])]

        return self._with_retries(call, f"read NSG {rid.name}")

    def put_rule(self, name: str, properties: dict[str, Any], *, etag: str | None) -> dict[str, Any]:
        """Create the rule (`etag` None: only if absent) or replace it (only if unchanged)."""
        from azure.mgmt.network.models import SecurityRule

        rid = self.resource_id
        body = SecurityRule({"properties": properties})

        def call(headers: dict[str, str]) -> dict[str, Any]:
            poller = self._get_client().security_rules.begin_create_or_update(
                rid.resource_group, rid.name, name, body, headers=headers
            )
            return poller.result().as_dict()

        return self._with_retries(lambda: _conditional_write(call, etag, name), f"write rule {name}")

    def delete_rule(self, name: str, *, etag: str | None) -> None:
        """Delete the rule (only if unchanged, when `etag` is given); absent is fine."""
        from azure.core.exceptions import ResourceNotFoundError

        rid = self.resource_id

        def call(headers: dict[str, str]) -> None:
            try:
                poller = self._get_client().security_rules.begin_delete(
                    rid.resource_group, rid.name, name, headers=headers
                )
                poller.result()
            except ResourceNotFoundError:
                return

        self._with_retries(lambda: _conditional_write(call, etag, name), f"delete rule {name}")

    # --- errors and retries -----------------------------------------------------------------

    def _with_retries(self, call: Callable[[], T], what: str) -> T:
        from azure.core.exceptions import (
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        attempt = 0
        while True:
            metrics.vendor_call("arm")
            try:
                return call()
            except (ServiceRequestError, ServiceResponseError) as exc:
                reason, retry_after, kind = f"connection failed: {exc}", None, "no_answer"
            except HttpResponseError as exc:
                code = _error_code(exc)
                if not _is_retryable(exc.status_code, code):
                    raise self._translated(exc, code, what) from exc
                reason = f"{exc.status_code} {code or ''}".strip()
                retry_after = _retry_after_s(exc)
                kind = "rate_limited" if exc.status_code == 429 else "busy"
            attempt += 1
            if kind == "rate_limited" and attempt >= self._retry.attempts:
                metrics.rate_limited("arm")
            if attempt >= self._retry.attempts:
                raise NsgBusy(
                    f"{what} in NSG {self.resource_id.name}: still failing after "
                    f"{attempt} attempts ({reason}); another deployment or operation may be "
                    "changing the NSG. Nothing more was written; the next sync retries"
                )
            delay = self._retry.delay(attempt - 1, retry_after)
            metrics.vendor_retry("arm", kind, rate_limited=kind == "rate_limited")
            log.warning(
                "NSG busy, retrying",
                extra={
                    "event": "nsg.retry",
                    "nsg": self.resource_id.name,
                    "operation": what,
                    "reason": reason,
                    "attempt": attempt,
                    "delay_s": delay,
                },
            )
            self._sleep(delay)

    def _translated(self, exc: HttpResponseError, code: str | None, what: str) -> NsgError:
        rid = self.resource_id
        message = _error_message(exc)
        status = exc.status_code
        if status == 404:
            return NsgNotFound(
                f"NSG {rid.name} was not found in resource group {rid.resource_group} "
                f"(subscription {rid.subscription_id}); check BYOC_SBCS[].nsg_resource_id"
            )
        if status in (401, 403):
            return NsgAccessDenied(
                f"{what} in NSG {rid.name} was refused ({status} {code or ''}): the byoc "
                "identity needs Network Contributor on the NSG, or a role with "
                "Microsoft.Network/networkSecurityGroups/read and .../securityRules/read, "
                "write and delete"
            )
        return NsgRequestRefused(
            f"{what} in NSG {rid.name} was refused by Azure ({status} {code or 'error'}): {message}"
        )


def _conditional_write(call: Callable[[dict[str, str]], T], etag: str | None, rule: str) -> T:
    """Run a rule write guarded by its ETag; a precondition failure becomes `NsgRuleConflict`.

    A create sends `If-None-Match: *`, a replace or delete `If-Match: <etag>`. That ARM's Network
    resource provider enforces these on security rules is UNVERIFIED (docs/nsg.md, "Verify on a
    real tenant"); byoc also serialises NSG writes under the target's lease.
    """
    from azure.core.exceptions import HttpResponseError

    headers = {"If-None-Match": "*"} if etag is None else {"If-Match": etag}
    try:
        return call(headers)
    except HttpResponseError as exc:
        if exc.status_code == 412 or (_error_code(exc) or "").lower() == "preconditionfailed":
            state = "appeared" if etag is None else "changed"
            raise NsgRuleConflict(
                f"rule {rule} {state} since byoc read the NSG (ETag mismatch); nothing was "
                "overwritten. The next sync re-reads the NSG and plans again"
            ) from exc
        raise


def _is_retryable(status: int | None, code: str | None) -> bool:
    if (code or "").lower() in _RETRYABLE_CODES:
        return True
    return status in _RETRYABLE_STATUSES


def _error_body(exc: HttpResponseError) -> dict[str, Any]:
    response: Any = exc.response
    if response is None:
        return {}
    try:
        body = response.json()
    except Exception:  # not JSON: no structured error to read
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(exc: HttpResponseError) -> str | None:
    """The ARM error code (`AnotherOperationInProgress`, `PreconditionFailed`, ...), if any."""
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if isinstance(code, str) and code:
        return code
    body = _error_body(exc)
    inner = body.get("error")
    if isinstance(inner, dict) and isinstance(inner.get("code"), str):
        return str(inner["code"])
    return str(body["code"]) if isinstance(body.get("code"), str) else None


def _error_message(exc: HttpResponseError) -> str:
    body = _error_body(exc)
    inner = body.get("error")
    if isinstance(inner, dict) and isinstance(inner.get("message"), str):
        return str(inner["message"])
    return str(exc.message or exc.reason or "no detail")


def _retry_after_s(exc: HttpResponseError) -> float | None:
    """Seconds ARM asked us to wait (`Retry-After` seconds or date, or `retry-after-ms`)."""
    response: Any = exc.response
    if response is None:
        return None
    headers = response.headers
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        value = headers.get(name)
        if value:
            try:
                return float(value) / 1000.0
            except ValueError:
                pass
    value = headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)
