"""Benchmark: plan computation for 100,000 managed numbers against targets that differ by 1%.

The estate: 100,000 numbers in 1,000 blocks of 100 at random gaps in +1415 55…, routed by policy to
three IVRs (by exchange), 20 users (exact numbers) and "none" (one block), each with its SBC tag.
Every target's actual state is built in memory from the same numbers with 1% changed: 500 managed
numbers missing and 500 stale numbers (not in the inventory) present. Targets: twilio (trunk and
account numbers), sbc:sbc1 (byoc's Dial Plan rules, plus a foreign catch-all), genesys (byoc's DID
pools per contiguous run, IVR dnis, users' WORK phones, the outbound route), nsg:sbc1.

What is timed is what `byoc plan` computes once the targets are read: the desired state from the
inventory and policy, then each reconciler's `desired()` and `plan()` (reads a plan makes on demand,
such as the holders of a pool that must go, are answered from memory). Median of `--runs`.
`peak_mb` is the largest memory the planning allocates on top of the inputs (tracemalloc, measured
in a separate pass); `rss_mb` is the process's peak resident size.

Baseline, measured in the same run: the same computation for a tenth of the numbers (10,000), which
shows how the cost grows.

    python benchmarks/plan_scale.py [--numbers 100000] [--runs 3]

Prints a line per target, then as its last line one JSON object:
{"numbers": 100000, "plan_s", "peak_mb", "rss_mb", "per_target_s": {...}, "changes": {...},
 "baseline": {"numbers": 10000, "plan_s"}}. Target: plan_s < 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, not installed

from byoc.domain.inventory import NumberRecord, NumberState  # noqa: E402
from byoc.domain.numbers import NumberSet  # noqa: E402
from byoc.domain.policy import Policy  # noqa: E402
from byoc.domain.policy_file import load_policy  # noqa: E402
from byoc.ports import (  # noqa: E402
    GenesysContact,
    GenesysDid,
    GenesysDidPool,
    GenesysIvr,
    GenesysOutboundRoute,
    GenesysRef,
    GenesysUser,
    SbcDialPlan,
    SbcDialPlanRule,
    SbcDialPlans,
    TwilioNumber,
    TwilioOriginationUrl,
    TwilioTrunk,
)
from byoc.services.genesys_model import (  # noqa: E402
    MARKER,
    ROUTE_DESCRIPTION,
    GenesysState,
    OutboundState,
    PoolDids,
    UserDirectory,
)
from byoc.services.genesys_reconciler import GenesysReconciler  # noqa: E402
from byoc.services.nsg_reconciler import NsgReconciler  # noqa: E402
from byoc.services.nsg_rule import NsgState  # noqa: E402
from byoc.services.reconcile import desired_state  # noqa: E402
from byoc.services.sbc_model import desired_rules  # noqa: E402
from byoc.services.sbc_reconciler import SbcDialPlanReconciler  # noqa: E402
from byoc.services.twilio_model import (  # noqa: E402
    OWNED_URL_PREFIX,
    TwilioActual,
    origination_sip_url,
)
from byoc.services.twilio_reconciler import TwilioTrunkReconciler  # noqa: E402
from byoc.settings import Settings, load_settings  # noqa: E402

BASE = 14155500000  # +1 415 550 0000
BLOCK_SIZE = 100
USERS = 20
DIFFERENCE = 0.01
TRUNK = "TK" + "0" * 32
SITE = GenesysRef("site-1", "Azure-BYOC")
TRUNK_BASE = GenesysRef("tb-1", "Twilio-BYOC")

POLICY = """
version: 1
managed: {prefixes: ["+1415"]}
rules:
  - {name: east, match: "+141555", genesys: {ivr: Main IVR}, sbc_tag: main}
  - {name: west, match: "+141556", genesys: {ivr: Sales IVR}, sbc_tag: sales}
%(users)s
  - {name: parked, match: "%(parked)s", genesys: none, sbc_tag: parked}
defaults: {genesys: {ivr: Support IVR}, sbc_tag: support}
"""


# --- the estate ----------------------------------------------------------------------------------


def build_numbers(count: int, seed: int = 20240601) -> list[str]:
    """`count` numbers in blocks of 100 at random gaps (one gap in ten is zero)."""
    rng = random.Random(seed)
    numbers: list[str] = []
    offset = 0
    while len(numbers) < count:
        offset += 0 if rng.random() < 0.1 else rng.randint(1, 700)
        numbers.extend(f"+{BASE + offset + i}" for i in range(BLOCK_SIZE))
        offset += BLOCK_SIZE
    return numbers[:count]


def build_policy(numbers: list[str]) -> tuple[Policy, list[str]]:
    """The policy, and the numbers routed to users."""
    rng = random.Random(7)
    users = sorted(rng.sample(numbers, USERS))
    parked = numbers[len(numbers) // 2][:-2]  # one block of 100 (or its 10-wide neighbours)
    lines = "\n".join(
        f'  - {{match: "{n}", genesys: {{user: user{i}@example.com}}, sbc_tag: direct}}'
        for i, n in enumerate(users)
    )
    text = POLICY % {"users": lines, "parked": parked}
    return load_policy(text, "plan_scale"), users


def build_settings() -> Settings:
    return load_settings(
        twilio_account_sid="AC" + "0" * 32,
        twilio_trunk_sid=TRUNK,
        twilio_auth_token="bench",
        genesys_client_id="bench",
        genesys_client_secret="bench",
        sbc_password="bench",
        storage_connection_string="UseDevelopmentStorage=true",
        policy_path=str(ROOT / "policy.example.yaml"),
        sbcs=[{
            "name": "sbc1", "management_url": "https://10.0.1.4", "fqdn": "sbc1.example.net",
            "nsg_resource_id": "/subscriptions/00000000-0000-0000-0000-000000000000/"
            "resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups/nsg-sbc1",
            "nsg_destination": "10.0.1.4",
        }],
        genesys_signaling_cidrs={"us-east-1": ["203.0.113.0/28"]},
        genesys_site_name=SITE.name,
        genesys_trunk_base_name=TRUNK_BASE.name,
    )


@dataclass
class Estate:
    """The inventory, the policy, and what each target holds (1% off)."""

    numbers: list[str]
    records: list[NumberRecord]
    policy: Policy
    actual: list[str]
    """What the targets carry: the numbers minus the missing, plus the stale."""
    settings: Settings


def build_estate(count: int) -> Estate:
    numbers = build_numbers(count)
    policy, _ = build_policy(numbers)
    rng = random.Random(11)
    changed = max(1, round(count * DIFFERENCE / 2))
    missing = set(rng.sample(numbers, changed))
    present = set(numbers)
    stale: set[str] = set()
    last = int(numbers[-1][1:])
    while len(stale) < changed:
        candidate = f"+{rng.randint(BASE, last)}"
        if candidate not in present:
            stale.add(candidate)
    actual = sorted((present - missing) | stale)
    records = [NumberRecord(number=n, state=NumberState.ACTIVE, sid=f"PN{int(n[1:]):032x}")
               for n in numbers]
    return Estate(numbers, records, policy, actual, build_settings())


# --- in-memory actual state per target -------------------------------------------------------


def twilio_actual(estate: Estate) -> TwilioActual:
    def number(phone: str, trunk: str | None) -> TwilioNumber:
        return TwilioNumber(sid=f"PN{int(phone[1:]):032x}", phone_number=phone, trunk_sid=trunk)

    on_trunk = {n: number(n, TRUNK) for n in estate.actual}
    owned = {n: number(n, None) for n in estate.numbers if n not in on_trunk}
    urls = tuple(
        TwilioOriginationUrl(friendly_name=f"{OWNED_URL_PREFIX}{sbc.name}",
                             sip_url=origination_sip_url(sbc, secure=True) or "", priority=10,
                             weight=10, enabled=True, sid=f"OU{i:032x}")
        for i, sbc in enumerate(estate.settings.sbcs)
    )
    return TwilioActual(trunk=TwilioTrunk(sid=TRUNK, secure=True), origination_urls=urls,
                        trunk_numbers=on_trunk, account_numbers={**owned, **on_trunk})


def sbc_actual(estate: Estate) -> SbcDialPlans:
    tags = {n: estate.policy.route_for(n).sbc_tag for n in estate.actual}
    rules = [SbcDialPlanRule(index=i + 1, name=r.name, prefix=r.prefix, tag=r.tag)
             for i, r in enumerate(desired_rules(tags))]
    rules.append(SbcDialPlanRule(index=len(rules) + 1, name="fallback", prefix="*", tag="pstn"))
    return SbcDialPlans((SbcDialPlan(index=0, name="BYOC", rules=tuple(rules)),))


class MemoryGenesys:
    """What a Genesys plan may read on demand (users, holders of a pool's numbers), from memory."""

    def __init__(self, users: list[GenesysUser], holders: dict[str, tuple[str, str, str]]) -> None:
        self.users = {u.id: u for u in users}
        self.by_email = {u.email: u for u in users}
        self.holders = holders
        self.reads = 0

    def find_users(self, emails: Iterable[str]) -> list[GenesysUser]:
        self.reads += 1
        return [u for e in emails if (u := self.by_email.get(e)) is not None]

    def get_user(self, user_id: str) -> GenesysUser:
        self.reads += 1
        return self.users[user_id]

    def list_pool_dids(self, pool: GenesysDidPool) -> list[GenesysDid]:
        self.reads += 1
        first, last, width = int(pool.start[1:]), int(pool.end[1:]), len(pool.start)
        return [GenesysDid(f"+{v:0{width - 1}d}", *self.holders[f"+{v:0{width - 1}d}"])
                for v in range(first, last + 1) if f"+{v:0{width - 1}d}" in self.holders]

    def find_site(self, name: str) -> GenesysRef | None:
        return SITE

    def find_trunk_base(self, name: str) -> GenesysRef | None:
        return TRUNK_BASE


def genesys_actual(estate: Estate) -> tuple[GenesysState, MemoryGenesys]:
    run_set = NumberSet.from_e164(estate.actual)
    pools = tuple(GenesysDidPool(f"pool-{i}", a, b, f"byoc {a}-{b}", f"byoc {MARKER}")
                  for i, (a, b) in enumerate(run_set.contiguous_runs()))
    ivr_numbers: dict[str, list[str]] = {}
    user_numbers: dict[str, str] = {}
    for number in estate.actual:
        route = estate.policy.route_for(number)
        if route.genesys_kind == "ivr" and route.genesys_name:
            ivr_numbers.setdefault(route.genesys_name, []).append(number)
        elif route.genesys_kind == "user" and route.genesys_name:
            user_numbers[route.genesys_name] = number
    ivrs = tuple(GenesysIvr(f"ivr-{name}", name, 3, tuple(dnis))
                 for name, dnis in sorted(ivr_numbers.items()))
    for name in ("Main IVR", "Sales IVR", "Support IVR"):
        if name not in ivr_numbers:
            ivrs += (GenesysIvr(f"ivr-{name}", name, 1, ()),)
    emails = sorted({r.genesys_name for n in estate.numbers
                     if (r := estate.policy.route_for(n)).genesys_kind == "user" and r.genesys_name})
    users = [
        GenesysUser(f"user-{i}", email, email.split("@")[0], 2, (
            GenesysContact("EMAIL", "WORK", email),
            *((GenesysContact("PHONE", "WORK", user_numbers[email]),)
              if email in user_numbers else ()),
        ))
        for i, email in enumerate(emails)
    ]
    holders = {n: ("IVR_CONFIG", ivr.id, ivr.name) for ivr in ivrs for n in ivr.dnis}
    holders.update({p.address or "": ("USER", u.id, u.name) for u in users
                    for p in u.addresses if p.media_type == "PHONE"})
    port = MemoryGenesys(users, holders)
    route = GenesysOutboundRoute(
        "route-1", estate.settings.genesys_outbound_route_name, 1,
        tuple(estate.settings.genesys_outbound_classifications), (TRUNK_BASE,), True, "SEQUENTIAL",
        ROUTE_DESCRIPTION, site=SITE)
    state = GenesysState(
        pools=pools, ivrs=ivrs, users=UserDirectory(port),  # type: ignore[arg-type]
        dids=PoolDids(port),  # type: ignore[arg-type]
        outbound=OutboundState(port, SITE.name, TRUNK_BASE.name, [route]),  # type: ignore[arg-type]
    )
    return state, port


# --- timing ------------------------------------------------------------------------------------


class _Unused:
    """A port a plan must not call."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"plan() called the vendor ({name}); planning must use what was read")


class _NoQueue:
    def send(self, job: Any, *, delay_s: int = 0) -> None:
        raise AssertionError("planning must not enqueue")


Step = tuple[str, Callable[[], Any], Callable[[Any], Any]]
"""(target, build a fresh actual state (untimed), its reconciler's desired+plan given it)."""


def steps(estate: Estate) -> tuple[Callable[[], Any], list[Step]]:
    settings = estate.settings
    sbc = settings.sbcs[0]
    targets = ["twilio", "sbc:sbc1", "genesys"]
    twilio = TwilioTrunkReconciler(
        twilio=_Unused(), trunk_sid=TRUNK, secure=True, sbcs=list(settings.sbcs),  # type: ignore[arg-type]
        policy=lambda: estate.policy, queue=_NoQueue(), number_targets=lambda: targets)
    sbc_reconciler = SbcDialPlanReconciler(sbc, _Unused())  # type: ignore[arg-type]
    genesys = GenesysReconciler(settings, _Unused())  # type: ignore[arg-type]
    nsg = NsgReconciler(settings, sbc, _Unused())  # type: ignore[arg-type]
    nsg_rules = nsg.desired().rules(NsgState(owned={}, foreign=()))
    state_box: dict[str, Any] = {}

    def state() -> Any:
        state_box["state"] = desired_state(estate.records, estate.policy)
        return state_box["state"]

    def run(reconciler: Any) -> Callable[[Any], Any]:
        return lambda actual: reconciler.plan(actual, reconciler.desired(state_box["state"]))

    return state, [
        ("twilio", lambda: twilio_actual(estate), run(twilio)),
        ("sbc:sbc1", lambda: sbc_actual(estate), run(sbc_reconciler)),
        ("genesys", lambda: genesys_actual(estate)[0], run(genesys)),
        ("nsg:sbc1", lambda: NsgState(owned={r.name: r for r in nsg_rules}, foreign=()), run(nsg)),
    ]


def measure(count: int, runs: int, *, verbose: bool) -> dict[str, Any]:
    estate = build_estate(count)
    state, targets = steps(estate)
    totals: list[float] = []
    per_target: dict[str, list[float]] = {name: [] for name, _, _ in targets}
    changes: dict[str, int] = {}
    numbers_changed: dict[str, int] = {}
    for _ in range(runs):
        actuals = [build() for _, build, _ in targets]  # fresh: on-demand caches start empty
        gc.collect()
        started = time.perf_counter()
        state()
        total = time.perf_counter() - started
        for (name, _, plan), actual in zip(targets, actuals, strict=True):
            began = time.perf_counter()
            result = plan(actual)
            elapsed = time.perf_counter() - began
            total += elapsed
            per_target[name].append(elapsed)
            changes[name] = len(result.changes)
            numbers_changed[name] = sum(len(c.numbers_added) + len(c.numbers_removed)
                                        for c in result.changes)
        totals.append(total)
    if verbose:
        for name, timings in per_target.items():
            print(f"  {name}: {statistics.median(timings):.3f} s, {changes[name]} change(s) "
                  f"touching {numbers_changed[name]} number(s)")
    return {
        "estate": estate, "plan_s": statistics.median(totals),
        "per_target_s": {n: round(statistics.median(t), 3) for n, t in per_target.items()},
        "changes": changes,
    }


def peak_planning_mb(count: int) -> float:
    """The largest memory one planning pass allocates beyond its inputs."""
    estate = build_estate(count)
    state, targets = steps(estate)
    actuals = [build() for _, build, _ in targets]
    gc.collect()
    tracemalloc.start()
    state()
    for (_, _, plan), actual in zip(targets, actuals, strict=True):
        plan(actual)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    print(f"{args.numbers} managed numbers, targets 1% off (median of {args.runs}):")
    full = measure(args.numbers, args.runs, verbose=True)
    estate: Estate = full["estate"]
    print(f"  desired state + every plan: {full['plan_s']:.3f} s "
          f"({len(estate.actual)} numbers on the targets)")
    peak = peak_planning_mb(args.numbers)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  planning allocates at most {peak:.0f} MB; process peak RSS {rss_mb:.0f} MB")
    tenth = max(1, args.numbers // 10)
    small = measure(tenth, args.runs, verbose=False)
    print(f"baseline: {tenth} numbers plan in {small['plan_s']:.3f} s "
          f"({full['plan_s'] / max(small['plan_s'], 1e-9):.1f}x for 10x the numbers)")
    print(json.dumps({
        "numbers": args.numbers,
        "plan_s": round(full["plan_s"], 3),
        "peak_mb": round(peak, 1),
        "rss_mb": round(rss_mb, 1),
        "per_target_s": full["per_target_s"],
        "changes": full["changes"],
        "baseline": {"numbers": tenth, "plan_s": round(small["plan_s"], 3)},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
