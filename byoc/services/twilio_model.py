"""Twilio read model and wanted state: the trunk as read, as wanted, and the sweep's findings
(`twilio_reconciler`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from byoc.domain.inventory import PRESENT_STATES, NumberRecord, NumberState
from byoc.domain.jobs import NumberEvent
from byoc.domain.policy import Policy
from byoc.domain.targets import TWILIO
from byoc.ports import TwilioNumber, TwilioOriginationUrl, TwilioTermination, TwilioTrunk

if TYPE_CHECKING:
    from byoc.settings import SbcSettings

TARGET = TWILIO
TRUNK_KIND = "trunk"
URL_KIND = "origination-url"
OFFBOARD_KIND = "numbers-gone"
OWNED_URL_PREFIX = "byoc-"


class TwilioApplyFailed(Exception):
    """Some numbers could not be changed at Twilio; the others were."""


@dataclass(frozen=True)
class TwilioActual:
    """The trunk, its origination URLs, its numbers and the account's numbers, as read."""

    trunk: TwilioTrunk
    origination_urls: tuple[TwilioOriginationUrl, ...]
    trunk_numbers: dict[str, TwilioNumber]
    account_numbers: dict[str, TwilioNumber]
    termination: TwilioTermination = field(default_factory=TwilioTermination)

    def owned(self, number: str) -> TwilioNumber | None:
        return self.account_numbers.get(number) or self.trunk_numbers.get(number)


@dataclass(frozen=True)
class TwilioDesired:
    """What the trunk should look like, and the inventory it was computed from."""

    trunk_sid: str
    secure: bool
    origination_urls: tuple[TwilioOriginationUrl, ...]
    numbers: frozenset[str]
    release: dict[str, str]
    """Releasing numbers every other target has let go of: number -> release correlation id."""
    waiting: frozenset[str]
    """Releasing numbers another target still carries."""
    records: dict[str, NumberRecord] = field(default_factory=dict)
    wanted: frozenset[str] = frozenset()
    """Every number the inventory wants on the targets."""
    released: frozenset[str] = frozenset()
    problems: tuple[str, ...] = ()


def origination_sip_url(sbc: SbcSettings, *, secure: bool) -> str | None:
    """The SIP URI Twilio sends calls to for `sbc` (None: the SBC offers no fitting transport)."""
    ports = sbc.sip_ports
    if secure:
        return f"sip:{sbc.fqdn}:{ports.tls};transport=tls" if ports.tls else None
    if ports.udp:
        return f"sip:{sbc.fqdn}:{ports.udp}"
    return f"sip:{sbc.fqdn}:{ports.tcp};transport=tcp" if ports.tcp else None


def sip_host(sip_url: str) -> str:
    """`sbc1.example.net` of `sip:sbc1.example.net:5061;transport=tls` (lower case)."""
    rest = sip_url.split(":", 1)[1] if ":" in sip_url else sip_url
    rest = rest.rsplit("@", 1)[-1]
    for stop in (";", ":", "?"):
        rest = rest.split(stop, 1)[0]
    return rest.lower()


def managed_at_twilio(policy: Policy, number: TwilioNumber, trunk_sid: str) -> bool:
    """Whether byoc manages a number Twilio reports, given the trunk it is on."""
    if number.trunk_sid not in (None, trunk_sid):
        return False  # another trunk's number
    if policy.managed.all_on_trunk:
        return number.trunk_sid == trunk_sid
    try:
        return policy.is_managed(number.phone_number)
    except ValueError:
        return False


def sweep_findings(
    actual: TwilioActual, records: dict[str, NumberRecord], policy: Policy
) -> tuple[list[TwilioNumber], list[NumberRecord]]:
    """(managed numbers Twilio owns that the inventory does not know, or knows as released;
    inventory numbers wanted on the targets that Twilio no longer owns)."""
    wanted = frozenset(n for n, r in records.items() if r.state in PRESENT_STATES)
    released = frozenset(n for n, r in records.items() if r.state is NumberState.RELEASED)
    return inventory_findings(actual, records, wanted, released, policy)


def inventory_findings(
    actual: TwilioActual,
    records: dict[str, NumberRecord],
    wanted: frozenset[str],
    released: frozenset[str],
    policy: Policy,
) -> tuple[list[TwilioNumber], list[NumberRecord]]:
    """`sweep_findings` from the inventory's numbers already sorted by state (set operations;
    only the findings are sorted, by number)."""
    owned = {**actual.account_numbers, **actual.trunk_numbers}
    candidates = (owned.keys() - records.keys()) | (released & owned.keys())
    unknown = [owned[phone] for phone in sorted(candidates)
               if managed_at_twilio(policy, owned[phone], actual.trunk.sid)]
    lost = [records[number] for number in sorted(wanted.difference(owned))]
    return unknown, lost


def sweep_events(
    actual: TwilioActual, records: dict[str, NumberRecord], policy: Policy, correlation_id: str
) -> list[NumberEvent]:
    """Managed numbers Twilio owns that the inventory does not know, as purchase events (source
    `sweep`, idempotent by event id).

    Numbers the other way round (in the inventory, no longer at Twilio) are not reported here:
    offboarding them is a change of the `twilio` plan, where the mass-deletion guard sees it, so
    a listing that comes back empty or short cannot send every number away.
    """
    unknown, _ = sweep_findings(actual, records, policy)
    return [
        NumberEvent(action="purchased", number=n.phone_number, sid=n.sid, source="sweep",
                    event_id=f"sweep:{n.sid}", correlation_id=correlation_id)
        for n in unknown
    ]


def gone_event(record: NumberRecord, correlation_id: str) -> NumberEvent:
    """The sweep's report that Twilio no longer owns `record`'s number."""
    return NumberEvent(action="released", number=record.number, sid=record.sid, source="sweep",
                       event_id=f"sweep-gone:{record.number}:{record.correlation_id or 'none'}",
                       correlation_id=correlation_id)
