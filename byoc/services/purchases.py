"""Buying numbers at Twilio onto the trunk, and asking for a number to be released.

`buy` searches available local numbers, keeps those the policy manages, buys each with the trunk's
`TrunkSid` (purchase and association in one call), records it in the inventory as onboarding and
enqueues a `NumberEvent` (source `purchase`) so every target onboards it.

`release` starts the way out: the number becomes `releasing`, every target that carries numbers is
synced to let go of it, and the Twilio reconciler releases it at Twilio only after all the others
have (then the inventory says `released`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from byoc.domain.inventory import NumberState
from byoc.domain.jobs import NumberEvent, new_correlation_id
from byoc.domain.policy import Policy
from byoc.ports import Inventory, JobQueue, TwilioError, TwilioNumberUnavailable, TwilioPort
from byoc.services.numbers import EventOutcome, NumberLifecycle

log = logging.getLogger("byoc.purchases")

SEARCH_FACTOR = 3
"""Candidates asked for per wanted number (some may be unmanaged or taken meanwhile)."""


class PurchaseRefused(ValueError):
    """The purchase request is not acceptable; nothing was bought. The message says why."""


class ReleaseRefused(ValueError):
    """byoc will not release this number; nothing changed. The message says why."""


class PurchaseRequest(BaseModel):
    """`{area_code, count, country?, contains?, dry_run?}` (POST /api/numbers/purchase, `byoc
    numbers buy`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    area_code: str = Field(pattern=r"^[2-9]\d\d$", description="US/Canada area code, e.g. 415.")
    country: str | None = Field(
        default=None, pattern=r"^[A-Za-z]{2}$",
        description="ISO country code to search in (default: the first of "
        "BYOC_TWILIO_PURCHASE_COUNTRIES).",
    )
    count: int = Field(ge=1, description="How many numbers to buy.")
    contains: str | None = Field(
        default=None, pattern=r"^[0-9A-Za-z*]{1,16}$",
        description="Digits (or letters, * = any digit) the number must contain.",
    )
    dry_run: bool = False


def parse_purchase_request(data: Any) -> PurchaseRequest:
    """Validate a request body; PurchaseRefused naming every problem."""
    if not isinstance(data, dict):
        raise PurchaseRefused("the request must be a JSON object {area_code, count, country?, "
                              "contains?, dry_run?}")
    try:
        return PurchaseRequest.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False):
            name = ".".join(str(p) for p in error["loc"]) or "request"
            problems.append(f"{name}: {str(error['msg']).removeprefix('Value error, ')}")
        raise PurchaseRefused("; ".join(problems)) from None


@dataclass
class PurchaseResult:
    """What a purchase bought (or, for a dry run, would buy)."""

    correlation_id: str
    dry_run: bool
    requested: int
    numbers: list[str] = field(default_factory=list)
    sids: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    shortfall: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "correlation_id": self.correlation_id,
            "dry_run": self.dry_run,
            "requested": self.requested,
            "numbers": self.numbers,
            "sids": self.sids,
            "skipped": self.skipped,
            "shortfall": self.shortfall,
        }


class NumberPurchases:
    """Buys numbers onto the trunk and starts releases."""

    def __init__(
        self,
        *,
        twilio: TwilioPort,
        inventory: Inventory,
        queue: JobQueue,
        lifecycle: Callable[[], NumberLifecycle],
        policy: Callable[[], Policy],
        max_purchase: int,
        countries: tuple[str, ...] = ("US", "CA"),
    ) -> None:
        self._countries = countries
        self._twilio = twilio
        self._inventory = inventory
        self._queue = queue
        self._lifecycle = lifecycle
        self._policy = policy
        self._max_purchase = max_purchase

    def buy(self, request: PurchaseRequest) -> PurchaseResult:
        """Buy up to `request.count` managed numbers (none on a dry run)."""
        if request.count > self._max_purchase:
            raise PurchaseRefused(
                f"count {request.count} is above the limit of {self._max_purchase} numbers per "
                "request (BYOC_TWILIO_MAX_PURCHASE)"
            )
        country = (request.country or self._countries[0]).upper()
        if country not in self._countries:
            raise PurchaseRefused(
                f"country {country} is not one byoc buys in ({', '.join(self._countries)}; "
                "BYOC_TWILIO_PURCHASE_COUNTRIES)"
            )
        policy = self._policy()
        result = PurchaseResult(
            correlation_id=new_correlation_id(), dry_run=request.dry_run, requested=request.count
        )
        candidates = self._twilio.search_available(
            country=country, area_code=request.area_code, contains=request.contains,
            limit=min(request.count * SEARCH_FACTOR, 1000),
        )
        managed = [n for n in candidates if policy.is_managed(n)]
        for number in candidates:
            if number not in managed:
                result.skipped[number] = "not managed by the routing policy"
        if not managed:
            where = f"{country} area code {request.area_code}" + (
                f" containing {request.contains}" if request.contains else "")
            raise PurchaseRefused(
                f"Twilio has no available number in {where} that the routing policy manages "
                f"({len(candidates)} found; managed prefixes: "
                f"{', '.join(policy.managed.prefixes) or 'all on the trunk'}); nothing was bought"
            )
        if request.dry_run:
            result.numbers = managed[: request.count]
        else:
            self._buy_each(managed, request.count, result)
        if len(result.numbers) < request.count:
            result.shortfall = (
                f"{'would buy' if request.dry_run else 'bought'} {len(result.numbers)} of "
                f"{request.count}: not enough available managed numbers"
            )
        return result

    def _buy_each(self, candidates: list[str], count: int, result: PurchaseResult) -> None:
        lifecycle = self._lifecycle()
        for number in candidates:
            if len(result.numbers) >= count:
                break
            try:
                bought = self._twilio.purchase_number(number)
            except TwilioNumberUnavailable as exc:
                result.skipped[number] = str(exc)
                continue
            except TwilioError:
                if not result.numbers:
                    raise
                log.exception("purchase stopped after a Twilio error",
                              extra={"event": "purchase.failed", "number": number,
                                     "correlation_id": result.correlation_id})
                result.skipped[number] = "not bought: Twilio error, see the logs"
                break
            event = NumberEvent(
                action="purchased", number=bought.phone_number, sid=bought.sid,
                source="purchase", event_id=f"purchase:{bought.sid}",
                correlation_id=result.correlation_id,
            )
            lifecycle.record_onboarding(event)
            self._queue.send(event)
            result.numbers.append(bought.phone_number)
            result.sids[bought.phone_number] = bought.sid
            log.info("number bought on the trunk",
                     extra={"event": "purchase.bought", "number": bought.phone_number,
                            "correlation_id": result.correlation_id})

    def release(self, number: str) -> EventOutcome:
        """Start releasing `number`: offboard it everywhere, then release it at Twilio."""
        record = self._inventory.get(number)
        if record is None:
            raise ReleaseRefused(
                f"{number} is not in byoc's inventory, so byoc does not manage it; release it in "
                "the Twilio console if that is what you want"
            )
        if record.state is NumberState.RELEASED:
            raise ReleaseRefused(f"{number} is already released")
        correlation_id = new_correlation_id()
        return self._lifecycle().handle(NumberEvent(
            action="released", number=number, sid=record.sid, source="cli",
            event_id=f"release:{number}:{correlation_id}", correlation_id=correlation_id,
        ))
