"""The Twilio trunk reconciler with an in-memory Twilio: numbers, origination URLs, secure, releases."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from fakes import FakeInventory, FakeLocks, FakeOperations, FakeQueue, FakeState
from test_twilio_fakes import OTHER_TRUNK, TRUNK, FakeTwilio, pn_sid

from byoc.adapters.lock import LockLost
from byoc.domain.inventory import NumberRecord, NumberState, on_purchased, on_released
from byoc.domain.jobs import NumberEvent, SyncTarget
from byoc.domain.plan import GuardLimits, Plan
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.ports import TwilioOriginationUrl
from byoc.services.numbers import NumberLifecycle
from byoc.services.reconcile import DesiredState, ReconcilerRegistry, ReconcileService
from byoc.services.twilio_model import TwilioApplyFailed, origination_sip_url
from byoc.services.twilio_reconciler import TwilioTrunkReconciler
from byoc.settings import SbcSettings

POLICY = """
version: 1
managed: {prefixes: ["+1415555"]}
rules: []
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
"""
SBC1 = SbcSettings(name="sbc1", management_url="https://10.0.0.4", fqdn="sbc1.example.net",
                   twilio_priority=10, twilio_weight=10)
SBC2 = SbcSettings(name="sbc2", management_url="https://10.0.0.5", fqdn="sbc2.example.net",
                   twilio_priority=20, twilio_weight=5)


def url(sbc: SbcSettings, **changes: Any) -> TwilioOriginationUrl:
    base = TwilioOriginationUrl(friendly_name=sbc.name, sip_url=origination_sip_url(sbc, secure=True)
                                or "", priority=sbc.twilio_priority, weight=sbc.twilio_weight)
    return replace(base, **changes)


class OtherTarget:
    """Another number-carrying target (an SBC, Genesys) that holds numbers until told otherwise."""

    tracks_numbers = True

    def __init__(self, target: str) -> None:
        self.target = target
        self.numbers: set[str] = set()

    def read_actual(self) -> set[str]:
        return set(self.numbers)

    def desired(self, state: DesiredState) -> set[str]:
        return set(state.numbers)

    def plan(self, actual: set[str], desired: set[str]) -> Plan:
        return Plan(target=self.target)

    def apply(self, plan: Plan, lease: Any) -> None:
        pass

    def verify(self, desired: set[str]) -> list[str]:
        self.numbers = set(desired)
        return []


class Estate:
    """A reconcile service with the twilio target (and optionally another), on fakes."""

    def __init__(self, twilio: FakeTwilio, records: list[NumberRecord] = (),  # type: ignore[assignment]
                 *, sbcs: list[SbcSettings] | None = None, secure: bool = True,
                 others: list[str] = (), limits: GuardLimits | None = None) -> None:  # type: ignore[assignment]
        self.twilio = twilio
        self.inventory = FakeInventory(records)
        self.queue = FakeQueue()
        self.state = FakeState()
        self.locks = FakeLocks()
        self.operations = FakeOperations()
        self.policy: Policy = load_policy(POLICY, "test")
        self.registry = ReconcilerRegistry()
        self.others = {name: OtherTarget(name) for name in others}
        self.registry.register("twilio", lambda: TwilioTrunkReconciler(
            twilio=twilio, trunk_sid=TRUNK, secure=secure, sbcs=sbcs or [SBC1, SBC2],
            policy=lambda: self.policy, queue=self.queue,
            number_targets=lambda: self.service.number_targets(),
        ))
        for name, target in self.others.items():
            self.registry.register(name, lambda t=target: t)
        self.service = ReconcileService(
            registry=self.registry, inventory=self.inventory, operations=self.operations,
            state=self.state, locks=self.locks, queue=self.queue, policy=lambda: self.policy,
            limits=limits or GuardLimits(max_delete_fraction=1.0, max_delete_count=100),
        )
        self.lifecycle = NumberLifecycle(
            inventory=self.inventory, state=self.state, queue=self.queue,
            policy=lambda: self.policy, number_targets=self.service.number_targets,
        )

    def sync(self, target: str = "twilio") -> Any:
        return self.service.sync(target, correlation_id="corr-test-1")

    def plan(self) -> Plan:
        [plan] = self.service.plan("twilio")
        return plan

    def drain_number_events(self) -> list[Any]:
        """Handle the NumberEvents the syncs enqueued (what the worker does)."""
        events = [job for job, _ in self.queue.sent if isinstance(job, NumberEvent)]
        self.queue.sent = [(j, d) for j, d in self.queue.sent if not isinstance(j, NumberEvent)]
        return [self.lifecycle.handle(e) for e in events]


def onboarding(*numbers: str) -> list[NumberRecord]:
    return [on_purchased(None, n, sid=pn_sid(n), source="cli", correlation_id="c0000001")
            for n in numbers]


def test_managed_numbers_are_associated_with_the_trunk_and_become_active() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], off_trunk=["+14155550100", "+14155550101"])
    estate = Estate(twilio, onboarding("+14155550100", "+14155550101"))

    outcome = estate.sync()

    assert outcome.converged and twilio.on_trunk() == {"+14155550100", "+14155550101"}
    assert {r.state for r in estate.inventory.all()} == {NumberState.ACTIVE}
    assert estate.operations.rows[0]["operation"].startswith("add trunk-numbers")


def test_a_converged_trunk_plans_nothing_and_a_second_sync_writes_nothing() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_trunk=["+14155550100"])
    estate = Estate(twilio, onboarding("+14155550100"))

    assert estate.plan().is_empty
    estate.sync()

    assert twilio.writes == []


def test_numbers_byoc_does_not_manage_stay_on_the_trunk() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)],
                        on_trunk=["+14155550100", "+12125550100", "+14155550199"])
    # +14155550199 is managed by prefix but unknown: the sweep onboards it; nothing is removed.
    estate = Estate(twilio, onboarding("+14155550100"))

    estate.sync()

    assert twilio.on_trunk() == {"+14155550100", "+12125550100", "+14155550199"}
    assert not [w for w in twilio.writes if not w.startswith("associate")]


def test_a_number_on_another_trunk_is_reported_and_not_moved() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_other_trunk=["+14155550100"])
    estate = Estate(twilio, onboarding("+14155550100"))

    plan = estate.plan()
    outcome = estate.sync()

    assert any(OTHER_TRUNK in c and "+14155550100" in c for c in plan.conflicts)
    assert twilio.numbers["+14155550100"].trunk_sid == OTHER_TRUNK
    assert not outcome.converged
    assert "twilio" in estate.inventory.get("+14155550100").errors  # type: ignore[union-attr]


def test_each_sbc_gets_one_tls_origination_url_with_its_priority_and_weight() -> None:
    twilio = FakeTwilio()
    estate = Estate(twilio)

    estate.sync()

    urls = sorted(twilio.urls.values(), key=lambda u: u.priority)
    assert [(u.sip_url, u.priority, u.weight, u.enabled) for u in urls] == [
        ("sip:sbc1.example.net:5061;transport=tls", 10, 10, True),
        ("sip:sbc2.example.net:5061;transport=tls", 20, 5, True),
    ]


def test_origination_urls_are_corrected_and_duplicates_and_stale_byoc_urls_removed() -> None:
    twilio = FakeTwilio(urls=[
        url(SBC1, priority=30),                                              # wrong priority
        url(SBC2), url(SBC2, friendly_name="sbc2-copy"),                      # duplicate
        TwilioOriginationUrl("byoc-old", "sip:old.example.net:5061;transport=tls", 10, 10),
        TwilioOriginationUrl("dr-site", "sip:dr.example.org:5061;transport=tls", 50, 10),
    ])
    estate = Estate(twilio)

    plan = estate.plan()
    estate.sync()

    hosts = sorted(u.sip_url for u in twilio.urls.values())
    assert hosts == ["sip:dr.example.org:5061;transport=tls",
                     "sip:sbc1.example.net:5061;transport=tls",
                     "sip:sbc2.example.net:5061;transport=tls"]
    assert next(u for u in twilio.urls.values() if "sbc1" in u.sip_url).priority == 10
    assert any("dr-site" in note and "left alone" in note for note in plan.notes)
    first_delete = next(i for i, w in enumerate(twilio.writes) if w.startswith("delete"))
    assert all(not w.startswith(("create", "update")) for w in twilio.writes[first_delete:])


def test_an_insecure_trunk_uses_plain_sip_urls_and_the_secure_flag_follows_settings() -> None:
    twilio = FakeTwilio(secure=True)
    estate = Estate(twilio, secure=False)

    estate.sync()

    assert twilio.trunk.secure is False
    assert sorted(u.sip_url for u in twilio.urls.values()) == [
        "sip:sbc1.example.net:5060", "sip:sbc2.example.net:5060"]


def test_a_dry_run_changes_nothing_at_twilio() -> None:
    twilio = FakeTwilio(off_trunk=["+14155550100"], secure=False)
    estate = Estate(twilio, onboarding("+14155550100"))

    plan = estate.plan()

    assert {c.kind for c in plan.changes} == {"trunk", "origination-url", "trunk-numbers"}
    assert twilio.writes == [] and estate.queue.sent == []


def test_every_write_checks_the_lease_first_and_a_lost_lease_stops_the_writes() -> None:
    twilio = FakeTwilio(off_trunk=[f"+141555501{i:02d}" for i in range(5)])
    estate = Estate(twilio, onboarding(*[f"+141555501{i:02d}" for i in range(5)]))
    estate.sync()
    writes = len(twilio.writes)
    assert estate.locks.lease.checks >= writes

    lost = FakeTwilio(off_trunk=["+14155550100"])
    stopped = Estate(lost, onboarding("+14155550100"))
    stopped.locks.lease.lost = True
    with pytest.raises(LockLost):
        stopped.sync()
    assert lost.writes == []


def test_a_releasing_number_stays_until_every_other_target_let_go() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_trunk=["+14155550100"])
    [record] = onboarding("+14155550100")
    releasing = on_released(record, record.number, correlation_id="rel00001")
    estate = Estate(twilio, [releasing], others=["sbc:sbc1"])

    plan = estate.plan()
    estate.sync()

    assert "+14155550100" in twilio.numbers
    assert any("stay until every other target" in n for n in plan.notes)


def test_a_releasing_number_is_released_at_twilio_after_the_others_then_marked_released() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_trunk=["+14155550100", "+14155550101"])
    estate = Estate(twilio, onboarding("+14155550100", "+14155550101"), others=["sbc:sbc1"])
    estate.sync()
    estate.sync("sbc:sbc1")
    estate.lifecycle.handle(NumberEvent(action="released", number="+14155550100", source="cli",
                                        event_id="release-1", correlation_id="rel00001"))

    estate.sync("sbc:sbc1")  # the other target lets go first
    estate.sync()
    estate.drain_number_events()

    assert "+14155550100" not in twilio.numbers and "+14155550101" in twilio.numbers
    assert estate.inventory.get("+14155550100").state is NumberState.RELEASED  # type: ignore[union-attr]
    assert estate.inventory.get("+14155550101").state is NumberState.ACTIVE  # type: ignore[union-attr]


def test_a_number_gone_at_twilio_is_reported_once_by_the_sync_and_never_by_verify() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_trunk=["+14155550100"],
                        off_trunk=["+14155550150"])
    records = [on_released(r, r.number, correlation_id="rel00001")
               for r in onboarding("+14155550100")]
    estate = Estate(twilio, records)
    twilio.numbers.pop("+14155550100")  # released at Twilio by hand, before byoc got to it
    reconciler = estate.registry.build("twilio")
    desired = reconciler.desired(estate.service.desired_state())

    reconciler.verify(desired)
    reconciler.verify(desired)
    assert estate.queue.sent == []  # verify only reads back

    estate.sync()

    sent = sorted((j.action, j.number) for j, _ in estate.queue.sent if isinstance(j, NumberEvent))
    assert sent == [("purchased", "+14155550150"), ("released", "+14155550100")]


def test_releasing_more_numbers_at_once_than_the_cap_is_refused_by_the_guard() -> None:
    numbers = [f"+141555501{i:02d}" for i in range(10)]
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_trunk=numbers)
    records = [on_released(r, r.number, correlation_id="rel00001") for r in onboarding(*numbers[:5])]
    estate = Estate(twilio, records + onboarding(*numbers[5:]),
                    limits=GuardLimits(max_delete_fraction=0.2, max_delete_count=4))

    outcome = estate.sync()

    assert outcome.refused and len(twilio.numbers) == 10


def test_the_sweep_turns_unknown_managed_numbers_and_lost_numbers_into_events() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_trunk=["+14155550100"],
                        off_trunk=["+14155550150", "+12125550100"],
                        on_other_trunk=["+14155550170"])
    estate = Estate(twilio, onboarding("+14155550100", "+14155550199"))

    estate.sync()

    events = {(j.action, j.number, j.source) for j, _ in estate.queue.sent
              if isinstance(j, NumberEvent)}
    assert events == {("purchased", "+14155550150", "sweep"), ("released", "+14155550199", "sweep")}
    estate.drain_number_events()
    estate.sync()
    assert "+14155550150" in twilio.on_trunk()


def test_a_number_that_failed_at_twilio_keeps_its_error_and_the_job_fails() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], off_trunk=["+14155550100", "+14155550101"])
    twilio.fail_numbers["+14155550101"] = "Twilio said no"
    estate = Estate(twilio, onboarding("+14155550100", "+14155550101"))

    with pytest.raises(Exception, match=r"\+14155550101: Twilio said no"):
        estate.sync()

    assert "+14155550100" in twilio.on_trunk()
    assert "twilio" in estate.inventory.get("+14155550101").errors  # type: ignore[union-attr]


# --- slices (issue 25): a number event touches only its own number at Twilio ---

ESTATE = [f"+1415555{i:04d}" for i in range(200)]


def slice_jobs(queue: FakeQueue, target: str) -> list[SyncTarget]:
    return [j for j, _ in queue.sent if isinstance(j, SyncTarget) and j.target == target]


def run_queued(estate: Estate, target: str = "twilio") -> None:
    """Run the queued syncs of `target`, as the worker would."""
    jobs = slice_jobs(estate.queue, target)
    estate.queue.sent = [(j, d) for j, d in estate.queue.sent if j not in jobs]
    for job in jobs:
        estate.service.sync(target, correlation_id=job.correlation_id, numbers=job.numbers)


def test_a_purchase_is_associated_by_reading_only_that_number() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_trunk=ESTATE,
                        off_trunk=["+14155559000"])
    estate = Estate(twilio, onboarding(*ESTATE))
    estate.sync()
    twilio.calls.clear()
    estate.lifecycle.handle(NumberEvent(action="purchased", number="+14155559000",
                                        sid=twilio.numbers["+14155559000"].sid, source="webhook",
                                        event_id="buy-1", correlation_id="corr-buy-1"))
    run_queued(estate)
    assert twilio.on_trunk() >= {"+14155559000"}
    assert estate.inventory.get("+14155559000").state is NumberState.ACTIVE  # type: ignore[union-attr]
    # One look-up, one association, one read back: nothing listed, whatever the estate's size.
    assert dict(twilio.calls) == {"find_number": 2, "associate": 1}


def test_a_release_lets_go_at_twilio_once_the_others_did_in_their_slices() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_trunk=ESTATE[:3])
    estate = Estate(twilio, onboarding(*ESTATE[:3]), others=["sbc:sbc1"])
    estate.sync()
    estate.sync("sbc:sbc1")
    estate.queue.sent.clear()
    estate.lifecycle.handle(NumberEvent(action="released", number=ESTATE[0], source="cli",
                                        event_id="release-1", correlation_id="rel00001"))
    run_queued(estate)  # twilio first: the other target still carries it, so it waits
    assert ESTATE[0] in twilio.numbers
    run_queued(estate, "sbc:sbc1")  # the other lets go, which asks twilio for the number again
    assert slice_jobs(estate.queue, "twilio")[0].numbers == (ESTATE[0],)
    run_queued(estate)
    estate.drain_number_events()
    assert ESTATE[0] not in twilio.numbers and ESTATE[1] in twilio.numbers
    assert estate.inventory.get(ESTATE[0]).state is NumberState.RELEASED  # type: ignore[union-attr]


def test_a_number_the_account_does_not_own_is_left_to_the_full_reconcile() -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], on_trunk=ESTATE[:3])
    estate = Estate(twilio, onboarding(*ESTATE[:3], "+14155559999"))
    outcome = estate.service.sync("twilio", correlation_id="corr-test-1",
                                  numbers=["+14155559999"])
    assert not outcome.converged and not outcome.plan.changes
    assert any("does not own" in c for c in outcome.plan.conflicts)
    record = estate.inventory.get("+14155559999")
    assert record is not None and "twilio" in record.errors


def test_a_plan_with_a_change_kind_twilio_does_not_know_is_refused_before_any_write() -> None:
    twilio = FakeTwilio(off_trunk=["+14155550100"], secure=False)
    estate = Estate(twilio, onboarding("+14155550100"))
    plan = estate.plan()
    unknown = replace(plan.changes[0], kind="sip-domain")
    reconciler = estate.registry.build("twilio")

    with pytest.raises(TwilioApplyFailed, match=r"unknown change kind.*sip-domain"):
        reconciler.apply(replace(plan, changes=(*plan.changes, unknown)), estate.locks.lease)
    assert twilio.writes == []


@pytest.mark.parametrize("as_slice", [False, True], ids=["full", "slice"])
def test_a_number_verify_names_fails_alone_and_the_others_become_active(as_slice: bool) -> None:
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], off_trunk=["+14155550100"],
                        on_other_trunk=["+14155550101"])
    estate = Estate(twilio, onboarding("+14155550100", "+14155550101"))

    outcome = estate.service.sync("twilio", correlation_id="corr-test-1", numbers=[
        "+14155550100", "+14155550101"] if as_slice else None)

    assert not outcome.converged and any("+14155550101" in p for p in outcome.problems)
    fine, stuck = (estate.inventory.get(n) for n in ("+14155550100", "+14155550101"))
    assert fine is not None and fine.state is NumberState.ACTIVE and not fine.errors
    assert stuck is not None and stuck.state is not NumberState.ACTIVE
    assert "+14155550101" in stuck.errors["twilio"]


def test_a_trunk_wide_problem_still_fails_every_number() -> None:
    # The trunk should be secure, but Twilio keeps it plain: every number's calls are concerned.
    twilio = FakeTwilio(urls=[url(SBC1), url(SBC2)], off_trunk=["+14155550100"], secure=False)
    estate = Estate(twilio, onboarding("+14155550100"))
    twilio.set_trunk_secure = lambda secure: twilio.trunk  # type: ignore[method-assign]

    outcome = estate.sync()

    assert any("secure" in p for p in outcome.problems)
    record = estate.inventory.get("+14155550100")
    assert record is not None and record.state is not NumberState.ACTIVE
    assert "secure" in record.errors["twilio"]
