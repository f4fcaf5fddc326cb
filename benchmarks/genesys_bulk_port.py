"""Benchmark: Genesys calls for a bulk port of K scattered numbers into an estate of N, synced as
production syncs a burst, against what a perfect client must write (issue 25's 1.1x bound).

The estate is seeded straight into an in-process Genesys emulator (byoc's pools, one per run of
consecutive numbers, and the numbers in the routed IVR and its shards) and the inventory; the
ported numbers are then drawn at random from the same block (fixed seed). The port arrives as a
burst, the production way: one number event per ported number, in random order, each noting its
number through `SyncRequests.request` (as `NumberService` does for the webhook and the sweep), all
before the first sync starts; the first event queues a slice job, the others ride on it. The worker
loop then works the queue through `ReconcileService.sync`: each slice takes the lowest 100
(`MAX_SLICE_NUMBERS`) noted numbers and queues the follow-on for the rest, until the backlog is
drained.
Calls are counted from the emulator's request log (token requests excluded); the rate limit is
lifted so the run is fast, and the time the real limit (300 calls a minute) imposes is computed
from them.

A perfect client must make: one pool write per run of ported numbers (a create, or a range change
of the pool right next to it; one range change grows an estate pool on both sides, so k runs
joined by such pools take ceil(k / 2) writes) and one IVR write per 50 numbers added (Genesys's
per-write limit), and no read. Bound: byoc's calls <= 1.1 x those writes.

    python benchmarks/genesys_bulk_port.py [--estate 100000] [--port 10000]
        [--cold] [--timeline rate|wall] [--timer 15] [--max-deferral 60]

Every queued job runs through `ReconcileService.sync` (in-memory inventory, state, queue and
lease: tests/fakes.py). The reconcile timer runs on the same timeline, between jobs, every
`--timer` minutes (its real schedule, 15, by default; 0 leaves it out) through
`ReconcileService.enqueue_timer`: a full sync of the target, unless the target is working a slice
backlog and its last converged full sync is less than `--max-deferral` minutes old (the default of
BYOC_FULL_SYNC_MAX_DEFERRAL_MINUTES; 0: never deferred). Its full syncs' calls count in the ratio.

Warm (default): the timer's full sync ran just before the port (it listed the pools, and its next
run comes `--timer` minutes in); `--cold`: no full sync on record and no view, so the first slice
lists every pool once and the timer never defers.
`--timeline rate` (default): the pool view, the timer and the deferral bound age as the port
would at the rate limit (each call made so far counts 60/300 s), so whether the view outlives the
port (`VIEW_TTL_S`) and when the timer runs do not depend on how fast this machine runs the
lifted-limit run; `wall`: they age in real time.

Prints figures, then as its last line one JSON object:
{"estate", "ported", "slice", "view", "timeline", "timer_minutes", "max_deferral_minutes",
 "timer_full_syncs", "timer_calls", "timer_deferred", "slice_jobs", "largest_slice", "pending_after",
 "calls", "reads", "writes", "perfect_writes", "ratio", "minutes_at_300", "converged",
 "targets_met": {"within_1_1x": bool}}.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sys
import time
from itertools import pairwise
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1]),
                str(Path(__file__).resolve().parents[1] / "tests")]

from marginal_cost import runs, seed_genesys  # noqa: E402

BASE = 16285000000
POLICY = """version: 1
managed: {all_on_trunk: false, prefixes: ["+16285"]}
rules: []
defaults: {genesys: {ivr: Sales IVR}, sbc_tag: default}
"""
PER_WRITE = 50
RATE_LIMIT = 300
"""Genesys calls a minute per token (the default BYOC_GENESYS_REQUESTS_PER_MINUTE)."""


def _timer_minutes() -> float:
    """The reconcile timer's interval, from its NCRONTAB schedule ("0 */15 * * * *")."""
    from byoc.entrypoints.functions.timers import RECONCILE_SCHEDULE

    return float(RECONCILE_SCHEDULE.split()[1].removeprefix("*/"))


TIMER_MINUTES = _timer_minutes()


def _max_deferral_minutes() -> float:
    """BYOC_FULL_SYNC_MAX_DEFERRAL_MINUTES's default."""
    from byoc.settings import Settings

    return float(Settings.model_fields["full_sync_max_deferral_minutes"].default)


MAX_DEFERRAL_MINUTES = _max_deferral_minutes()


def seed_for(values: list[int]) -> dict[str, Any]:
    from sandbox.launcher import load_seed

    genesys = load_seed()["genesys"]
    seed_genesys(genesys, sorted(values))
    return genesys


def perfect_writes(estate: set[int], ported: list[int]) -> int:
    """One pool write per run of ported numbers (numbers next to each other share it), except
    that one range change grows an estate pool on both sides: runs joined by such pools form a
    chain of k runs written in ceil(k / 2) writes. Plus one IVR write per 50 added numbers."""
    pools = dict(runs(sorted(estate)))  # first number -> last number of each estate pool
    ported_runs = runs(sorted(ported))
    writes, chain = 0, 1
    for (_, last), (first, _) in pairwise(ported_runs):
        if pools.get(last + 1) == first - 1:
            chain += 1
            continue
        writes += -(-chain // 2)
        chain = 1
    writes += -(-chain // 2) if ported_runs else 0
    return writes + -(-len(ported) // PER_WRITE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estate", type=int, default=100_000)
    parser.add_argument("--port", type=int, default=10_000)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--timeline", choices=("rate", "wall"), default="rate")
    parser.add_argument("--timer", type=float, default=TIMER_MINUTES,
                        help="minutes between the reconcile timer's runs (0: leave it out)")
    parser.add_argument("--max-deferral", type=float, default=MAX_DEFERRAL_MINUTES,
                        help="BYOC_FULL_SYNC_MAX_DEFERRAL_MINUTES (0: the timer never defers)")
    args = parser.parse_args()

    import httpx
    from fakes import FakeInventory, FakeLocks, FakeOperations, FakeQueue, FakeState

    from byoc.adapters.genesys import GenesysAdapter
    from byoc.domain.inventory import NumberRecord, NumberState
    from byoc.domain.jobs import MAX_SLICE_NUMBERS, SyncTarget
    from byoc.domain.plan import GuardLimits
    from byoc.domain.policy_file import load_policy
    from byoc.services.genesys_pool_view import pool_view
    from byoc.services.genesys_reconciler import GenesysReconciler
    from byoc.services.reconcile import ReconcilerRegistry, ReconcileService
    from byoc.services.sync_requests import SyncRequests
    from byoc.settings import load_settings
    from sandbox.core import ServedApp, build_app
    from sandbox.genesys import GenesysEmulator

    rng = random.Random(20261207)
    space = rng.sample(range(2 * (args.estate + args.port)), args.estate + args.port)
    estate = sorted(BASE + i for i in space[:args.estate])
    ported = [BASE + i for i in space[args.estate:]]
    seed = seed_for(estate)
    started = time.monotonic()
    emulator = GenesysEmulator(seed)
    server = ServedApp(build_app(emulator)).start()
    print(f"seeded {args.estate:,} numbers in {len(runs(sorted(estate))):,} pools "
          f"({time.monotonic() - started:.0f} s)")
    try:
        httpx.post(f"{server.url}/_sandbox/genesys/limits",
                   json={"rate_limit_per_minute": 10_000_000}).raise_for_status()
        policy_file = Path(server.url.split("//")[1].replace(":", "_") + ".policy.yaml")
        tmp = Path("/tmp") / policy_file
        tmp.write_text(POLICY)
        settings = load_settings(
            twilio_account_sid="AC" + "0" * 32, twilio_trunk_sid="TK" + "0" * 32,
            twilio_auth_token="t", genesys_client_id="c", genesys_client_secret="s",
            sbc_password="p", storage_connection_string="UseDevelopmentStorage=true",
            policy_path=str(tmp), genesys_requests_per_minute=10_000_000,
            sbcs=[{"name": "sbc1", "management_url": "https://10.0.1.4",
                   "fqdn": "sbc1.example.net"}])
        policy = load_policy(POLICY, "bench policy")
        oauth = seed["oauth_client"]
        port = GenesysAdapter(base_url=server.url, client_id=oauth["client_id"],
                              client_secret=lambda: oauth["client_secret"],
                              requests_per_minute=10_000_000, sleep=lambda _: None)
        inventory = FakeInventory(NumberRecord(f"+{v}", NumberState.ACTIVE) for v in estate)
        records = inventory.records
        def clock_s() -> float:
            """Seconds into the run: on the rate timeline, what the Genesys calls made so far
            take at 300 a minute; otherwise the wall clock."""
            if args.timeline == "wall":
                return time.monotonic() - began
            return genesys_calls() * 60 / RATE_LIMIT

        def genesys_calls() -> int:
            return sum(1 for r in emulator.log.entries() if r.path.startswith("/api/v2/"))

        began = time.monotonic()
        epoch = dt.datetime.now(dt.UTC)
        pool_view(port)._clock = clock_s  # the view's own clock, set for this run
        state, queue = FakeState(), FakeQueue()
        registry = ReconcilerRegistry()
        registry.register("genesys", lambda: GenesysReconciler(settings, port, lambda: inventory))
        service = ReconcileService(
            registry=registry, inventory=inventory, operations=FakeOperations(), state=state,
            locks=FakeLocks(), queue=queue, policy=lambda: policy, limits=GuardLimits(),
            full_sync_max_deferral_s=60.0 * args.max_deferral,
            clock=lambda: epoch + dt.timedelta(seconds=clock_s()))
        syncs = SyncRequests(queue=queue, state=state)  # what number events queue slices through
        problems: list[str] = []
        timer_calls = timer_runs = 0
        deferrals: list[str] = []

        slices: list[int] = []

        def work(job: SyncTarget) -> None:
            nonlocal timer_calls, timer_runs
            calls_before = genesys_calls()
            outcome = service.sync(job.target, correlation_id=job.correlation_id,
                                   numbers=job.numbers)
            problems.extend(outcome.problems)
            if outcome.slice is None:
                timer_runs += 1
                timer_calls += genesys_calls() - calls_before
            else:
                slices.append(len(outcome.slice))

        if not args.cold:
            # the timer's last full sync, just before the port: it listed the pools (warm view)
            syncs.request("genesys", reason="reconcile timer", correlation_id="timer-start")
            while queue.sent:
                job, _ = queue.sent.pop(0)
                assert isinstance(job, SyncTarget)
                work(job)
            problems.clear()
            timer_runs = timer_calls = 0
        before = len(httpx.get(f"{server.url}/_sandbox/requests").json()["requests"])
        base_s = clock_s()
        next_timer = base_s + 60.0 * args.timer if args.timer else float("inf")
        started = time.monotonic()
        # The burst: every ported number's event arrives before the first sync starts.
        for index, value in enumerate(ported):
            number = f"+{value}"
            records[number] = NumberRecord(number, NumberState.ACTIVE)
            syncs.request("genesys", reason=f"number purchased: {number}",
                          correlation_id=f"port-{index:06d}", numbers=[number])
        # The worker loop: one job at a time, the timer firing between jobs on the timeline.
        while queue.sent:
            job, _ = queue.sent.pop(0)
            assert isinstance(job, SyncTarget)
            work(job)
            if clock_s() >= next_timer:
                next_timer += 60.0 * args.timer
                _, deferred = service.enqueue_timer(correlation_id=f"timer-{len(slices):06d}")
                deferrals += [f"{(clock_s() - base_s) / 60:.1f} min: {d.text}" for d in deferred]
        left = syncs.pending("genesys")
        seconds = time.monotonic() - started
        log = httpx.get(f"{server.url}/_sandbox/requests").json()["requests"][before:]
        calls = [r for r in log if r["path"].startswith("/api/v2/")]
        writes = sum(1 for r in calls if r["method"] != "GET")
        perfect = perfect_writes(set(estate), ported)
        ratio = len(calls) / perfect
        print(f"ported {len(ported):,} scattered numbers as a burst, drained in {len(slices)} "
              f"slice jobs of at most {max(slices, default=0)} "
              f"({'cold' if args.cold else 'warm'} pool view, aged on the {args.timeline} "
              f"timeline): {len(calls):,} Genesys calls "
              f"({len(calls) - writes:,} reads, {writes:,} writes) in {seconds:.0f} s")
        print(f"a perfect client writes {perfect:,} times: byoc makes {ratio:.3f}x its calls; "
              f"at {RATE_LIMIT} calls a minute {len(calls) / RATE_LIMIT:.1f} min against "
              f"{perfect / RATE_LIMIT:.1f} min")
        timer = (f"every {args.timer:g} min, deferred up to {args.max_deferral:g} min"
                 if args.timer else "left out")
        print(f"reconcile timer ({timer}): {timer_runs} full sync(s) during the port, "
              f"{timer_calls:,} of the calls; {len(deferrals)} deferred")
        for line in deferrals:
            print(f"  {line}")
        if problems:
            print(f"verify: {len(problems)} problem(s), e.g. {problems[:3]}")
        print(json.dumps({
            "estate": args.estate, "ported": len(ported), "slice": MAX_SLICE_NUMBERS,
            "view": "cold" if args.cold else "warm", "timeline": args.timeline,
            "timer_minutes": args.timer, "max_deferral_minutes": args.max_deferral,
            "timer_full_syncs": timer_runs, "timer_calls": timer_calls,
            "timer_deferred": len(deferrals), "slice_jobs": len(slices),
            "largest_slice": max(slices, default=0), "pending_after": left, "calls": len(calls),
            "reads": len(calls) - writes, "writes": writes, "perfect_writes": perfect,
            "ratio": round(ratio, 4), "minutes_at_300": round(len(calls) / RATE_LIMIT, 2),
            "converged": not problems and not left, "targets_met": {"within_1_1x": ratio <= 1.1},
        }))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
