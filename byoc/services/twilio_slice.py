"""The Twilio trunk's slice sync: only the numbers a number event names (issue 25).

A full sync lists the trunk's and the account's numbers, so one more number costs more the larger
the estate. A slice reads each of its numbers alone: one look-up by phone number, whose
`trunk_sid` says whether it is on the trunk (the adapter trusts the same field when it recovers an
association). It plans what the full plan would for those numbers: associate the wanted ones,
release the ones every other target let go of, discover managed ones the inventory does not know.
The trunk's settings, origination URLs and termination are the full sync's alone.

Two things a slice leaves to the full reconcile, where the mass-deletion guard weighs them against
the whole trunk: offboarding a number the inventory wants but the account no longer owns, and any
removal nobody asked for. A slice removes only numbers being released, so its guard base (the
slice's numbers on the trunk; Twilio gives no count without listing the trunk) never decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from byoc.domain.plan import Action, Change, Plan, Problem
from byoc.ports import TwilioNumber, TwilioPort
from byoc.services.numbers import OWNER_TARGET as TARGET
from byoc.services.twilio_payloads import AccountNumbers

if TYPE_CHECKING:
    from byoc.services.twilio_model import TwilioDesired

ASSOCIATE_KIND = "trunk-numbers"
RELEASE_KIND = "number-release"
DISCOVER_KIND = "numbers-discovered"


@dataclass(frozen=True)
class TwilioSlice:
    """The slice's numbers as the account shows them (None: the account does not own it)."""

    numbers: dict[str, TwilioNumber | None]

    def on_trunk(self, trunk_sid: str) -> set[str]:
        return {p for p, n in self.numbers.items() if n is not None and n.trunk_sid == trunk_sid}


@dataclass(frozen=True)
class TwilioSliceDesired:
    """What the full sync would want, narrowed to `numbers`."""

    desired: TwilioDesired
    numbers: frozenset[str]


def read_slice(twilio: TwilioPort, numbers: frozenset[str]) -> TwilioSlice:
    """One look-up per number; nothing that grows with the trunk."""
    return TwilioSlice({phone: twilio.find_number(phone) for phone in sorted(numbers)})


def plan_slice(
    actual: TwilioSlice, want: TwilioSliceDesired, managed: Callable[[TwilioNumber], bool]
) -> Plan:
    """The full plan's number changes, for the slice's numbers only (`managed`: whether byoc
    manages a number Twilio reports)."""
    desired = want.desired
    trunk = desired.trunk_sid
    conflicts: list[str] = []
    notes: list[str] = []
    to_associate: list[TwilioNumber] = []
    for phone in sorted(desired.numbers & want.numbers):
        owned = actual.numbers.get(phone)
        if owned is None:
            conflicts.append(f"{phone} is in the inventory but the Twilio account does not own "
                             "it; not associated (the full reconcile offboards it)")
        elif owned.trunk_sid == trunk:
            continue
        elif owned.trunk_sid is not None:
            conflicts.append(f"{phone} is on trunk {owned.trunk_sid}, not {trunk}; byoc does not "
                             "move numbers between trunks (remove it there)")
        else:
            to_associate.append(owned)
    to_release = [n for phone in sorted(set(desired.release) & want.numbers)
                  if (n := actual.numbers.get(phone)) is not None]
    unknown = [n for phone, n in sorted(actual.numbers.items())
               if n is not None and (phone not in desired.records or phone in desired.released)
               and managed(n)]
    changes: list[Change] = []
    if to_associate:
        changes.append(Change(
            target=TARGET, action=Action.ADD, kind=ASSOCIATE_KIND, key=trunk,
            summary=f"associate {_numbers(to_associate)} with the trunk",
            after=AccountNumbers(tuple(to_associate)),
            numbers_added=tuple(n.phone_number for n in to_associate),
        ))
    if to_release:
        changes.append(Change(
            target=TARGET, action=Action.REMOVE, kind=RELEASE_KIND, key=trunk,
            summary=f"release {_numbers(to_release)} at Twilio (every other target let go)",
            before=AccountNumbers(tuple(to_release)),
            numbers_removed=tuple(n.phone_number for n in to_release),
        ))
    if unknown:
        changes.append(Change(
            target=TARGET, action=Action.ADD, kind=DISCOVER_KIND, key=trunk,
            summary=f"onboard {_numbers(unknown)} (the account owns them, the policy manages "
                    "them, the inventory does not know them)",
            after=AccountNumbers(tuple(unknown)),
        ))
    waiting = sorted(desired.waiting & want.numbers)
    if waiting:
        notes.append(f"releasing, until every other target lets go: {', '.join(waiting)}")
    return Plan(target=TARGET, changes=tuple(changes),
                numbers_before=len(actual.on_trunk(trunk)),
                conflicts=tuple(conflicts), notes=tuple(notes))


def verify_slice(actual: TwilioSlice, want: TwilioSliceDesired) -> list[str]:
    """The slice's problems left, from a read after the writes."""
    desired = want.desired
    on_trunk = actual.on_trunk(desired.trunk_sid)
    problems: list[str] = [Problem(f"{phone} is not on trunk {desired.trunk_sid}", [phone])
                           for phone in sorted((desired.numbers & want.numbers) - on_trunk)]
    problems += [Problem(f"{phone} is not yet released at Twilio", [phone])
                 for phone in sorted(set(desired.release) & want.numbers)
                 if actual.numbers.get(phone) is not None]
    return problems


def _numbers(numbers: list[TwilioNumber]) -> str:
    shown = ", ".join(n.phone_number for n in numbers[:5])
    more = f" and {len(numbers) - 5} more" if len(numbers) > 5 else ""
    return f"{len(numbers)} number{'' if len(numbers) == 1 else 's'}: {shown}{more}"
