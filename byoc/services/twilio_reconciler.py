"""The Twilio Elastic SIP trunk: managed numbers on it, one origination URL per SBC, `secure` as set.

Target `twilio`. Desired state, from the inventory and settings:

- every managed number byoc wants present is associated with the trunk (numbers byoc does not
  manage, and numbers on another trunk, are never touched);
- a releasing number is released at Twilio (which also takes it off the trunk) only once every
  other target that carries numbers has let go of it; until then it stays as it is;
- one origination URL per configured SBC, `sip:<fqdn>:<tls port>;transport=tls` on a secure trunk,
  with the SBC's priority and weight (the lowest priority is tried first, so a second SBC with a
  higher number is the failover path). URLs whose host is a configured SBC, or whose name starts
  with `byoc-`, are byoc's; any other URL is left alone and noted;
- the trunk's `secure` flag as `BYOC_TWILIO_TRUNK_SECURE` says;
- termination: an IP access control list with every SBC's public address (and optionally a
  credential list) on the trunk, so the SBCs' outbound calls are admitted
  (services/twilio_termination.py).

Every sync also sweeps: numbers the account owns that the policy manages but the inventory does not
know become `NumberEvent`s (source `sweep`), and so do inventory numbers Twilio no longer owns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.jobs import NumberEvent, new_correlation_id
from byoc.domain.plan import Action, Change, Plan, Problem, Takes, unfit
from byoc.domain.policy import Policy
from byoc.ports import (
    HeldLease,
    JobQueue,
    TwilioNumber,
    TwilioOriginationUrl,
    TwilioPort,
)
from byoc.services.reconciler import ReportingReconciler, SliceReconciler
from byoc.services.twilio_model import (
    OFFBOARD_KIND,
    OWNED_URL_PREFIX,
    TARGET,
    TRUNK_KIND,
    URL_KIND,
    TwilioActual,
    TwilioApplyFailed,
    TwilioDesired,
    gone_event,
    inventory_findings,
    managed_at_twilio,
    origination_sip_url,
    sweep_events,
)
from byoc.services.twilio_payloads import (
    AccountNumbers,
    GoneNumbers,
    OriginationUrl,
    TrunkSecurity,
)
from byoc.services.twilio_slice import (
    ASSOCIATE_KIND,
    DISCOVER_KIND,
    RELEASE_KIND,
    TwilioSlice,
    TwilioSliceDesired,
    plan_slice,
    read_slice,
    verify_slice,
)
from byoc.services.twilio_termination import (
    KINDS as TERMINATION_KINDS,
)
from byoc.services.twilio_termination import (
    TAKES as TERMINATION_TAKES,
)
from byoc.services.twilio_termination import (
    TerminationDesired,
    apply_termination,
    plan_termination,
    verify_termination,
)
from byoc.services.twilio_urls import same_url, url_changes

if TYPE_CHECKING:
    from byoc.services.reconciler import DesiredState
    from byoc.settings import SbcSettings

log = logging.getLogger("byoc.twilio")

_TAKES: dict[str, Takes] = {
    TRUNK_KIND: Takes(TrunkSecurity, TrunkSecurity), URL_KIND: Takes(OriginationUrl, OriginationUrl),
    ASSOCIATE_KIND: Takes(after=AccountNumbers), RELEASE_KIND: Takes(before=AccountNumbers),
    OFFBOARD_KIND: Takes(before=GoneNumbers), DISCOVER_KIND: Takes(after=AccountNumbers),
    **TERMINATION_TAKES,
}
"""change kind -> the payloads its write takes (checked for the whole plan before any write)."""

class TwilioTrunkReconciler(
    SliceReconciler[TwilioActual, TwilioDesired, TwilioSlice, TwilioSliceDesired],
    ReportingReconciler,
):
    """Converges the Twilio trunk (target `twilio`)."""

    target = TARGET
    tracks_numbers = True

    def __init__(
        self,
        *,
        twilio: TwilioPort,
        trunk_sid: str,
        secure: bool,
        sbcs: list[SbcSettings],
        policy: Callable[[], Policy],
        queue: JobQueue,
        number_targets: Callable[[], list[str]],
        termination: TerminationDesired | None = None,
    ) -> None:
        self._twilio = twilio
        self._termination = termination or TerminationDesired(
            acl_name="byoc-sbcs",
            addresses={ip: sbc.name for sbc in sbcs for ip in sbc.public_ips})
        self._trunk_sid = trunk_sid
        self._secure = secure
        self._sbcs = sbcs
        self._policy = policy
        self._queue = queue
        self._number_targets = number_targets
        self._last_actual: TwilioActual | None = None
        self._last_desired: TwilioDesired | None = None
        self._last_slice: TwilioSlice | None = None
        self._wrote = False
        self._released: list[NumberEvent] = []
        """Numbers to release that the last verify read found gone at Twilio (`report` sends)."""
        self._discovered: list[NumberEvent] = []
        """Managed numbers the last verify read found unknown to the inventory (`report` sends)."""
        self._onboarded: set[str] = set()
        """Ids of the sweep events apply sent (the plan's discoveries): `report` skips them."""
        self._writers: dict[str, Callable[[Change, HeldLease], dict[str, str]]] = {
            TRUNK_KIND: self._write_trunk, URL_KIND: self._write_url,
            ASSOCIATE_KIND: self._associate, RELEASE_KIND: self._release,
            OFFBOARD_KIND: self._write_offboard, DISCOVER_KIND: self._discover,
            **{kind: self._write_termination for kind in TERMINATION_KINDS},
        }
        """change kind -> the write that makes it (returns the numbers it could not change)."""

    # --- read ---------------------------------------------------------------------------------

    def read_actual(self) -> TwilioActual:
        trunk = self._twilio.fetch_trunk()
        actual = TwilioActual(
            trunk=trunk,
            origination_urls=tuple(self._twilio.list_origination_urls()),
            trunk_numbers={n.phone_number: n for n in self._twilio.list_trunk_numbers()},
            account_numbers={n.phone_number: n for n in self._twilio.list_account_numbers()},
            termination=self._twilio.read_termination(
                self._termination.acl_name, self._termination.credential_list),
        )
        self._last_actual = actual
        return actual

    def desired(self, state: DesiredState) -> TwilioDesired:
        self._last_desired = self._desired(state)
        return self._last_desired

    def _desired(self, state: DesiredState) -> TwilioDesired:
        others = [t for t in self._number_targets() if t != TARGET]
        release: dict[str, str] = {}
        waiting: set[str] = set()
        for number in sorted(state.releasing):
            record = state.records[number]
            if all(t in record.converged for t in others):
                release[number] = record.correlation_id or ""
            else:
                waiting.add(number)
        urls: list[TwilioOriginationUrl] = []
        problems: list[str] = []
        for sbc in self._sbcs:
            sip_url = origination_sip_url(sbc, secure=self._secure)
            if sip_url is None:
                problems.append(
                    f"SBC {sbc.name} offers no {'TLS' if self._secure else 'UDP or TCP'} SIP "
                    "port, so it gets no origination URL; set its sip_ports"
                    + (" or BYOC_TWILIO_TRUNK_SECURE=false" if self._secure else "")
                )
                continue
            urls.append(TwilioOriginationUrl(
                friendly_name=f"{OWNED_URL_PREFIX}{sbc.name}", sip_url=sip_url,
                priority=sbc.twilio_priority, weight=sbc.twilio_weight, enabled=True,
            ))
        return TwilioDesired(
            trunk_sid=self._trunk_sid,
            secure=self._secure,
            origination_urls=tuple(urls),
            numbers=frozenset(state.present),
            release=release,
            waiting=frozenset(waiting),
            records=state.records,
            wanted=state.wanted,
            released=state.released,
            problems=tuple(problems),
        )

    # --- slice (a number event's sync: services/twilio_slice.py) -------------------------------

    def read_slice(self, numbers: frozenset[str]) -> TwilioSlice:
        self._last_slice = read_slice(self._twilio, numbers)
        return self._last_slice

    def desired_slice(self, state: DesiredState, numbers: frozenset[str]) -> TwilioSliceDesired:
        self._last_desired = self._desired(state)
        return TwilioSliceDesired(self._last_desired, numbers)

    def plan_slice(self, actual: TwilioSlice, desired: TwilioSliceDesired) -> Plan:
        policy = self._policy()
        return plan_slice(actual, desired,
                          lambda n: managed_at_twilio(policy, n, self._trunk_sid))

    def verify_slice(self, desired: TwilioSliceDesired) -> list[str]:
        actual = self._last_slice
        if self._wrote or actual is None:
            actual = read_slice(self._twilio, desired.numbers)
        self._released = self._release_hints(actual.numbers, desired.desired)
        self._discovered = []
        return verify_slice(actual, desired)

    # --- plan ---------------------------------------------------------------------------------

    def plan(self, actual: TwilioActual, desired: TwilioDesired) -> Plan:
        conflicts: list[str] = list(desired.problems)
        notes: list[str] = []
        trunk_change = self._trunk_change(actual, desired)
        url_upserts, url_removals, foreign = url_changes(actual, desired)
        notes += [f"origination URL {u.friendly_name!r} ({u.sip_url}) is not a configured SBC; "
                  "left alone" for u in foreign]
        termination, termination_notes = plan_termination(
            actual.trunk, actual.termination, self._termination)
        notes += termination_notes

        to_associate: list[TwilioNumber] = []
        for phone in sorted(desired.numbers.difference(actual.trunk_numbers)):
            owned = actual.owned(phone)
            if owned is None:
                conflicts.append(f"{phone} is in the inventory but the Twilio account does not own "
                                 "it; not associated (the sweep offboards it)")
            elif owned.trunk_sid not in (None, desired.trunk_sid):
                conflicts.append(f"{phone} is on trunk {owned.trunk_sid}, not {desired.trunk_sid}; "
                                 "byoc does not move numbers between trunks (remove it there)")
            else:
                to_associate.append(owned)
        to_release = [n for phone in sorted(desired.release) if (n := actual.owned(phone))]

        changes: list[Change] = []
        enabling_security = trunk_change is not None and desired.secure
        if trunk_change is not None and not enabling_security:
            changes.append(trunk_change)
        changes += url_upserts
        if trunk_change is not None and enabling_security:
            changes.append(trunk_change)  # TLS URLs first, then a secure trunk
        changes += termination
        if to_associate:
            changes.append(Change(
                target=TARGET, action=Action.ADD, kind=ASSOCIATE_KIND, key=desired.trunk_sid,
                summary=f"associate {_count(to_associate)} with the trunk: "
                        f"{_preview([n.phone_number for n in to_associate])}",
                after=AccountNumbers(tuple(to_associate)),
                numbers_added=tuple(n.phone_number for n in to_associate),
            ))
        changes += url_removals
        if to_release:
            changes.append(Change(
                target=TARGET, action=Action.REMOVE, kind=RELEASE_KIND, key=desired.trunk_sid,
                summary=f"release {_count(to_release)} at Twilio (every other target let go): "
                        f"{_preview([n.phone_number for n in to_release])}",
                before=AccountNumbers(tuple(to_release)),
                numbers_removed=tuple(n.phone_number for n in to_release),
            ))
        unknown, lost = inventory_findings(
            actual, desired.records, desired.wanted, desired.released, self._policy())
        if lost:
            changes.append(Change(
                target=TARGET, action=Action.REMOVE, kind=OFFBOARD_KIND, key=desired.trunk_sid,
                summary=f"offboard {_count(lost)} the Twilio account no longer owns (every "
                        f"target lets go of them): {_preview([r.number for r in lost])}",
                before=GoneNumbers(tuple((r.number, r.sid) for r in lost)),
                numbers_removed=tuple(r.number for r in lost),
            ))
        if unknown:
            changes.append(Change(
                target=TARGET, action=Action.ADD, kind=DISCOVER_KIND, key=desired.trunk_sid,
                summary=f"onboard {_count(unknown)} the sweep discovered (the account owns "
                        "them, the policy manages them, the inventory does not know them): "
                        f"{_preview([n.phone_number for n in unknown])}",
                after=AccountNumbers(tuple(unknown)),
            ))
        if desired.waiting:
            notes.append(f"{len(desired.waiting)} releasing number(s) stay until every other "
                         f"target lets go: {_preview(sorted(desired.waiting))}")
        return Plan(
            target=TARGET,
            changes=tuple(changes),
            # The base of the mass-deletion guard: what the trunk carries, or what byoc wants on
            # it when a listing comes back short (an empty one then counts as losing everything).
            numbers_before=max(len(actual.trunk_numbers), len(desired.wanted)),
            conflicts=tuple(conflicts),
            notes=tuple(notes),
        )

    @staticmethod
    def _trunk_change(actual: TwilioActual, desired: TwilioDesired) -> Change | None:
        if actual.trunk.secure == desired.secure:
            return None
        return Change(
            target=TARGET, action=Action.UPDATE, kind=TRUNK_KIND, key=actual.trunk.sid,
            summary=f"secure {str(actual.trunk.secure).lower()} -> {str(desired.secure).lower()}",
            before=TrunkSecurity(actual.trunk.secure), after=TrunkSecurity(desired.secure),
        )
    # --- apply and verify ---------------------------------------------------------------------

    def apply(self, plan: Plan, lease: HeldLease) -> None:
        failures: dict[str, str] = {}
        unknown = sorted({c.kind for c in plan.changes if c.kind not in self._writers}) \
            or unfit(plan, _TAKES)
        if unknown:
            raise TwilioApplyFailed(f"unknown change kind(s) {', '.join(unknown)}; not applied")
        for change in plan.changes:
            self._wrote = True
            failures.update(self._writers[change.kind](change, lease))
        if failures:
            detail = "; ".join(f"{number}: {reason}" for number, reason in sorted(failures.items()))
            raise TwilioApplyFailed(f"{len(failures)} number(s) not changed at Twilio: {detail}")

    def _write_trunk(self, change: Change, lease: HeldLease) -> dict[str, str]:
        lease.check()
        self._twilio.set_trunk_secure(change.after_as(TrunkSecurity).secure)
        return {}

    def _write_url(self, change: Change, lease: HeldLease) -> dict[str, str]:
        lease.check()
        self._apply_url(change)
        return {}

    def _associate(self, change: Change, lease: HeldLease) -> dict[str, str]:
        numbers = list(change.after_as(AccountNumbers).numbers)
        return self._twilio.associate_numbers(numbers, lease.check)

    def _release(self, change: Change, lease: HeldLease) -> dict[str, str]:
        numbers = list(change.before_as(AccountNumbers).numbers)
        failures = self._twilio.release_numbers(numbers, lease.check)
        for phone in sorted({n.phone_number for n in numbers} - set(failures)):
            log.info("number released at Twilio",
                     extra={"event": "twilio.released", "target": TARGET, "number": phone})
        return failures

    def _write_offboard(self, change: Change, lease: HeldLease) -> dict[str, str]:
        lease.check()
        self._offboard(change.before_as(GoneNumbers).numbers)
        return {}

    def _discover(self, change: Change, lease: HeldLease) -> dict[str, str]:
        correlation_id = new_correlation_id()
        found = change.after_as(AccountNumbers).numbers
        for phone, sid in sorted((n.phone_number, n.sid) for n in found):
            self._queue.send(NumberEvent(
                action="purchased", number=phone, sid=sid, source="sweep",
                event_id=f"sweep:{sid}", correlation_id=correlation_id))
            self._onboarded.add(f"sweep:{sid}")
        return {}

    def _write_termination(self, change: Change, lease: HeldLease) -> dict[str, str]:
        lease.check()
        apply_termination(self._twilio, change, self._termination)
        return {}

    def _offboard(self, numbers: list[str]) -> None:
        """Report numbers Twilio no longer owns as gone, so every target lets go of them."""
        correlation_id = new_correlation_id()
        records = self._last_desired.records if self._last_desired else {}
        for phone in numbers:
            record = records.get(phone) or NumberRecord(number=phone, state=NumberState.ACTIVE)
            self._queue.send(gone_event(record, correlation_id))
        log.info("numbers no longer owned at Twilio are offboarded",
                 extra={"event": "twilio.sweep_gone", "target": TARGET, "numbers": numbers})

    def _apply_url(self, change: Change) -> None:
        if change.action is Action.ADD:
            self._twilio.create_origination_url(change.after_as(OriginationUrl).url)
        elif change.action is Action.UPDATE:
            self._twilio.update_origination_url(change.after_as(OriginationUrl).url)
        else:
            sid = change.before_as(OriginationUrl).url.sid
            if sid:
                self._twilio.delete_origination_url(sid)

    def verify(self, desired: TwilioDesired) -> list[str]:
        actual = self.read_actual() if self._wrote or self._last_actual is None else \
            self._last_actual
        problems = list(desired.problems)
        if actual.trunk.secure != desired.secure:
            problems.append(f"trunk {actual.trunk.sid} secure is {actual.trunk.secure}, "
                            f"not {desired.secure}")
        for want in desired.origination_urls:
            if not any(same_url(u, want) for u in actual.origination_urls):
                problems.append(f"origination URL {want.sip_url} (priority {want.priority}, "
                                f"weight {want.weight}) is missing or different")
        missing = sorted(desired.numbers - set(actual.trunk_numbers))
        if missing:
            problems.append(Problem(f"{len(missing)} number(s) not on trunk "
                                    f"{desired.trunk_sid}: {_preview(missing)}", missing))
        problems += verify_termination(actual.termination, self._termination)
        still_owned = sorted(p for p in desired.release if actual.owned(p))
        if still_owned:
            problems.append(Problem(f"{len(still_owned)} number(s) not yet released at "
                                    f"Twilio: {_preview(still_owned)}", still_owned))
        self._released = self._release_hints(
            {phone: actual.owned(phone) for phone in desired.release}, desired)
        self._discovered = sweep_events(
            actual, desired.records, self._policy(), new_correlation_id())
        return problems

    def report(self) -> None:
        """Tell the number lifecycle what the last verify read showed: released and unknown
        numbers (sent once; verify itself only reads)."""
        released, discovered = self._released, self._discovered
        self._released, self._discovered = [], []
        for event in [*released, *discovered]:
            if event.event_id not in self._onboarded:  # apply sent the plan's discoveries
                self._queue.send(event)
        if discovered:
            log.info("sweep found numbers the inventory does not match",
                     extra={"event": "twilio.sweep", "target": TARGET,
                            "numbers": [e.number for e in discovered]})

    @staticmethod
    def _release_hints(
        owned: dict[str, TwilioNumber | None], desired: TwilioDesired
    ) -> list[NumberEvent]:
        """The numbers to release that Twilio no longer owns (`owned`: as read), as events."""
        events: list[NumberEvent] = []
        for phone, correlation_id in sorted(desired.release.items()):
            if phone in owned and owned[phone] is None:
                record = desired.records.get(phone)
                # A new id each time: if a target took the number up again before this report
                # was handled, the report must be able to come again (an id already handled
                # would be ignored, and the number would stay releasing for good).
                events.append(NumberEvent(
                    action="released", number=phone, sid=record.sid if record else None,
                    source="sweep", event_id=f"twilio-released:{phone}:{new_correlation_id()}",
                    correlation_id=correlation_id or new_correlation_id(),
                ))
        return events



def _count(items: list[Any]) -> str:
    return f"{len(items)} number" + ("" if len(items) == 1 else "s")


def _preview(numbers: list[str], limit: int = 5) -> str:
    shown = ", ".join(numbers[:limit])
    return shown + (f" and {len(numbers) - limit} more" if len(numbers) > limit else "")
