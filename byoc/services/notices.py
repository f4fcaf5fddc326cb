"""Number notices are hints: before one is recorded, Twilio says what is true.

A notice from `POST /api/twilio/numbers` (source `webhook`) comes from the customer's own tools, not
from Twilio, and may be wrong, stale or forged by whoever holds a signing key. So the worker reads
the number at Twilio first and turns the notice into what Twilio shows, whatever the notice's
action said (ARCHITECTURE.md principle 7):

- the account owns it, and it is on the trunk or the policy says to put it there: onboard it;
- Twilio no longer has it and the inventory still wants it: offboard it (every target lets go; a
  number Twilio already dropped is never released at Twilio by byoc);
- anything else (another account's number, a number on another trunk, a SID that names another
  number, a `released` notice for a number the account still owns): nothing is written.

A notice never releases a number at Twilio; that is an operator action (`byoc numbers release`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from byoc.domain.inventory import PRESENT_STATES
from byoc.domain.jobs import NumberEvent
from byoc.domain.policy import Policy
from byoc.ports import Inventory, TwilioNumber, TwilioPort
from byoc.services.twilio_model import managed_at_twilio

log = logging.getLogger("byoc.notices")

NOTICE_SOURCE = "webhook"


class NoticeConfirmation:
    """Turns a notice into the event Twilio's own state calls for (or into nothing)."""

    def __init__(
        self,
        *,
        twilio: TwilioPort,
        inventory: Inventory,
        policy: Callable[[], Policy],
        trunk_sid: str,
    ) -> None:
        self._twilio = twilio
        self._inventory = inventory
        self._policy = policy
        self._trunk_sid = trunk_sid

    def confirm(self, notice: NumberEvent) -> NumberEvent | None:
        """The event to handle instead of `notice`; None when Twilio's state calls for nothing."""
        consistent, found = self._read(notice)
        if not consistent:
            return None
        record = self._inventory.get(notice.number)
        if found is None:
            if record is None or record.state not in PRESENT_STATES:
                self._note(notice, "number.notice_unowned",
                           "notice names a number the Twilio account does not own; ignored")
                return None
            self._note(notice, "number.notice_gone",
                       "Twilio no longer has the number: it is offboarded")
            return notice.model_copy(update={"action": "released", "sid": record.sid})
        if not managed_at_twilio(self._policy(), found, self._trunk_sid):
            self._note(notice, "number.notice_unmanaged",
                       "number is on another trunk or not managed by the policy; ignored")
            return None
        if notice.action == "released":
            log.warning(
                "a notice says the number was released but Twilio still has it on this account; "
                "nothing is released (use `byoc numbers release` to release a number)",
                extra={"event": "number.notice_release_refused", "number": notice.number,
                       "event_id": notice.event_id, "correlation_id": notice.correlation_id})
        if record is not None and record.state in PRESENT_STATES and record.sid == found.sid:
            return None  # already known as Twilio shows it
        return notice.model_copy(update={"action": "purchased", "sid": found.sid,
                                         "number": found.phone_number})

    def _read(self, notice: NumberEvent) -> tuple[bool, TwilioNumber | None]:
        """(False when the notice's SID names another number at Twilio, the number as Twilio
        shows it or None when the account does not own it)."""
        by_number = self._twilio.find_number(notice.number)
        if notice.sid and (by_number is None or by_number.sid != notice.sid):
            by_sid = self._twilio.fetch_number(notice.sid)
            if by_sid is not None or by_number is not None:
                shown = by_sid.phone_number if by_sid is not None else "no number"
                log.warning(
                    "notice refused: its PhoneNumberSid and number do not match at Twilio",
                    extra={"event": "number.notice_mismatch", "number": notice.number,
                           "sid": notice.sid, "sid_names": shown,
                           "event_id": notice.event_id, "correlation_id": notice.correlation_id})
                return False, None
        return True, by_number

    @staticmethod
    def _note(notice: NumberEvent, event: str, message: str) -> None:
        log.info(message, extra={"event": event, "number": notice.number,
                                 "event_id": notice.event_id,
                                 "correlation_id": notice.correlation_id})
