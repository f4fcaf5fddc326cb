"""One Azure network security group's security rules, through `azure-mgmt-network`.

Rules cross this boundary as ARM JSON (`{"name", "etag", "properties": {...}}`, the shape the REST
API documents), so the reconciler and its fakes never see SDK models. Every write is a long-running
operation awaited to its end; "another operation is in progress", 429 and 5xx answers are retried
with bounded exponential backoff that honours `Retry-After`.

Optimistic concurrency (ETag) lives in `_conditional_write`, the one place that relies on ARM
enforcing `If-Match` / `If-None-Match` on security rules — unverified on a real tenant.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from byoc import metrics
from byoc.adapters.arm_errors import arm_error_code, is_busy
from byoc.adapters.identity import build_credential
from byoc.adapters.retry import Backoff, retrying

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


BACKOFF = Backoff(attempts=6, base_s=1.0, cap_s=30.0, retry_after_cap_s=120.0)
"""A busy ARM (another operation, throttling, 5xx): six attempts, ARM's `Retry-After` (at most
two minutes) or 1 s doubling to 30 s."""


class AzureNsg:
    """Reads and writes the security rules of one NSG with `NetworkManagementClient`."""

    def __init__(
        self,
        resource_id: str,
        credential: TokenCredential,
        *,
        arm_endpoint: str = "https://management.azure.com",
        ca_bundle: str | None = None,
        retry: Backoff = BACKOFF,
        polling_interval_s: float = 2.0,
        sleep: Callable[[float], None] | None = None,
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

            from byoc.adapters.arm_retry import ArmRetryPolicy

            kwargs: dict[str, Any] = {
                "base_url": self._endpoint,
                "credential_scopes": [self.credential_scope],
                "polling_interval": self._polling_interval_s,
                "retry_policy": ArmRetryPolicy(
                    self._retry, sleep=self._sleep, what=self.resource_id.name),
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
        """Run one operation. Busy answers are retried inside the SDK's pipeline
        (`ArmRetryPolicy`); an accepted write whose operation ended in a busy code is sent again
        here, with the same backoff. What is still busy after every attempt is `NsgBusy`."""
        from azure.core.exceptions import (
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )

        def ended_busy(exc: BaseException) -> bool:
            # an operation's end is read from a 200 poll: a refusal (>= 400) was retried already
            return (isinstance(exc, HttpResponseError) and (exc.status_code or 0) < 400
                    and is_busy(None, _error_code(exc)))

        def told(retry: int, exc: BaseException, delay: float) -> None:
            metrics.vendor_retry("arm", "busy")
            log.warning("NSG busy, retrying", extra={
                "event": "nsg.retry", "nsg": self.resource_id.name, "operation": what,
                "reason": "operation ended busy", "attempt": retry,
                "delay_s": delay})

        loop = retrying(self._retry, retry_if=ended_busy, sleep=self._sleep, before_sleep=told)
        try:
            for attempt in loop:
                with attempt:
                    metrics.vendor_call("arm")
                    return call()
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise self._busy(what, f"connection failed: {exc}") from exc
        except HttpResponseError as exc:
            code = _error_code(exc)
            if not is_busy(exc.status_code, code):
                raise self._translated(exc, code, what) from exc
            if exc.status_code == 429:
                metrics.rate_limited("arm")
            raise self._busy(what, f"{exc.status_code} {code or ''}".strip()) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _busy(self, what: str, reason: str) -> NsgBusy:
        return NsgBusy(
            f"{what} in NSG {self.resource_id.name}: still failing after "
            f"{self._retry.attempts} attempts ({reason}); another deployment or operation may be "
            "changing the NSG. Nothing more was written; the next sync retries"
        )

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
    return arm_error_code(_error_body(exc))


def _error_message(exc: HttpResponseError) -> str:
    body = _error_body(exc)
    inner = body.get("error")
    if isinstance(inner, dict) and isinstance(inner.get("message"), str):
        return str(inner["message"])
    return str(exc.message or exc.reason or "no detail")
