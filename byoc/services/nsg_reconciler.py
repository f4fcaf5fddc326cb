"""The Azure NSG in front of each SBC: byoc's inbound rules let exactly the carrier ranges in.

Target `nsg:<sbc>`. A rule whose name starts with `<BYOC_NSG_RULE_PREFIX>-` is owned by byoc and
made to match the desired rules exactly (added, updated, removed). Every other rule is foreign: it
is never written, its priorities are avoided, and one that shadows or contradicts an owned rule is
reported in the plan's conflicts.

A sync reads the NSG once. Writes are ordered so no wanted traffic is ever cut off: new and
widened rules first, then narrowed ones, then removals. Each write carries the rule's ETag.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from byoc.domain.carriers import NSG_MAX_PREFIXES, NSG_MAX_RULES, CarrierData
from byoc.domain.plan import Action, Change, Plan, Takes, unfit
from byoc.domain.targets import nsg_target
from byoc.services.nsg_payloads import ListedRule, WantedRule
from byoc.services.nsg_plan import (
    NsgDesired,
    conflicts,
    difference,
    only_widens,
    plan_notes,
    refuse_unsafe,
    removals_first,
    with_stable_priorities,
    within_limits,
)
from byoc.services.nsg_ranges import sbc_effective_ranges, sip_ports
from byoc.services.nsg_rule import NsgRule, NsgState
from byoc.services.reconciler import Reconciler

if TYPE_CHECKING:
    from byoc.ports import HeldLease, NsgPort
    from byoc.services.reconciler import DesiredState
    from byoc.settings import SbcSettings, Settings

RULE_KIND = "nsg-rule"


class ForeignNsgRuleError(Exception):
    """A plan would write or delete a rule byoc does not own; refused."""



class NsgReconciler(Reconciler[NsgState, NsgDesired]):
    """Keeps byoc's rules in one SBC's NSG equal to the carrier ranges, and nothing wider."""

    tracks_numbers = False

    def __init__(
        self,
        settings: Settings,
        sbc: SbcSettings,
        port: NsgPort,
        *,
        carrier_data: CarrierData | None = None,
    ) -> None:
        self.target = nsg_target(sbc.name)
        self._settings = settings
        self._sbc = sbc
        self._port = port
        self._carrier_data = carrier_data
        self._prefix = settings.nsg_rule_prefix
        self._snapshot: NsgState | None = None
        self._wrote = False

    def read_actual(self) -> NsgState:
        """The NSG's rules, split into owned and foreign (one read)."""
        owned: dict[str, NsgRule] = {}
        foreign: list[NsgRule] = []
        for raw in self._port.read_rules():
            rule = NsgRule.from_arm(raw)
            if self._owns(rule.name):
                owned[rule.name] = rule
            else:
                foreign.append(rule)
        state = NsgState(owned=owned, foreign=tuple(sorted(foreign, key=lambda r: r.priority)))
        self._snapshot = state
        self._wrote = False
        return state

    def desired(self, state: DesiredState | None = None) -> NsgDesired:
        """The carrier ranges this SBC must let in; unsafe ranges are refused here."""
        del state  # the NSG does not depend on the numbers
        settings, sbc = self._settings, self._sbc
        ranges = sbc_effective_ranges(settings, sbc, self._carrier_data)
        desired = NsgDesired(
            ranges=tuple(ranges),
            sip_ports=sip_ports(sbc),
            rtp_ports=(sbc.rtp_ports.low, sbc.rtp_ports.high),
            name_prefix=self._prefix,
            priority_band=(settings.nsg_priority_low, settings.nsg_priority_high),
            max_port_span=settings.nsg_max_port_span,
            destination=sbc.nsg_destination,
        )
        desired.rules(NsgState(owned={}, foreign=()))  # refuse bad parameters before any read
        return desired

    def plan(self, actual: NsgState, desired: NsgDesired) -> Plan:
        """Owned-rule changes in a safe order, plus foreign rules that get in their way."""
        wanted, late = with_stable_priorities(desired.rules(actual), actual, desired)
        now: list[Change] = []
        narrowing: list[Change] = []
        after_removals: list[Change] = []
        for rule in wanted:
            current = actual.owned.get(rule.name)
            if current == rule:
                continue
            change = self._change(current, rule)
            if rule.name in late:
                after_removals.append(change)
            elif current is None or only_widens(current, rule):
                now.append(change)
            else:
                narrowing.append(change)
        wanted_names = {r.name for r in wanted}
        removals = [
            self._change(rule, None)
            for name, rule in sorted(actual.owned.items())
            if name not in wanted_names
        ]
        notes = plan_notes(actual, desired, late)
        changes = [*now, *narrowing, *removals, *after_removals]
        if not within_limits(actual, changes):
            changes = removals_first(changes)
            notes.append(
                f"the NSG would pass Azure's limit of {NSG_MAX_RULES} rules or {NSG_MAX_PREFIXES} "
                "source or destination prefixes if byoc added before it removed: removals and "
                "narrowing updates are written first (traffic they stop is cut off until the "
                "additions follow in the same sync)"
            )
        return Plan(
            target=self.target,
            changes=tuple(changes),
            conflicts=(*conflicts(actual.foreign, wanted), *desired.exposure(actual, wanted)),
            notes=tuple(notes),
        )

    def apply(self, plan: Plan, lease: HeldLease) -> None:
        """Write the plan's changes in order, checking the lease before each write (and, before
        any write, that byoc may make every change of the plan)."""
        for change in plan.changes:
            self._check_change(plan, change)
        unfit(plan, {RULE_KIND: Takes(ListedRule, WantedRule)})
        for change in plan.changes:
            lease.check()
            before_etag = (None if change.before is None
                           else change.before_as(ListedRule).rule.etag)
            self._wrote = True
            if change.action is Action.REMOVE:
                self._port.delete_rule(change.key, etag=before_etag)
                continue
            rule = change.after_as(WantedRule).rule
            refuse_unsafe(rule)
            self._port.put_rule(rule.name, rule.to_arm_properties(), etag=before_etag)

    def verify(self, desired: NsgDesired) -> list[str]:
        """What still differs; re-reads only if this sync wrote (a no-op sync reads once)."""
        actual = self._snapshot
        if actual is None or self._wrote:
            actual = self.read_actual()
        plan = self.plan(actual, desired)
        return [f"{c.kind} {c.key} still differs: {c.summary}" for c in plan.changes]

    # --- internals ---------------------------------------------------------------------------

    def _owns(self, name: str) -> bool:
        return name.casefold().startswith(f"{self._prefix}-".casefold())

    def _change(self, before: NsgRule | None, after: NsgRule | None) -> Change:
        if before is None:
            assert after is not None
            return Change(
                target=self.target,
                action=Action.ADD,
                kind=RULE_KIND,
                key=after.name,
                summary=f"add: {after.describe()}",
                after=WantedRule(after),
            )
        if after is None:
            return Change(
                target=self.target,
                action=Action.REMOVE,
                kind=RULE_KIND,
                key=before.name,
                summary=f"no longer wanted: {before.describe()}",
                before=ListedRule(before),
            )
        return Change(
            target=self.target,
            action=Action.UPDATE,
            kind=RULE_KIND,
            key=after.name,
            summary=difference(before, after),
            before=ListedRule(before),
            after=WantedRule(after),
        )

    def _check_change(self, plan: Plan, change: Change) -> None:
        if change.target != self.target or plan.target != self.target:
            raise ForeignNsgRuleError(
                f"plan for {plan.target} given to the reconciler of {self.target}; not applied"
            )
        if change.kind != RULE_KIND or not self._owns(change.key):
            raise ForeignNsgRuleError(
                f"{change.kind} {change.key!r} is not a byoc rule (name prefix "
                f"{self._prefix!r}-); byoc never writes or deletes other rules"
            )

