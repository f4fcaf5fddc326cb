"""Benchmark: vendor calls per target for one more purchase, in estates of 1,000 to 100,000 numbers.

A number event syncs only the slice of each target its number touches (issue 25); this measures
what that costs as the estate grows. For each estate size and layout, the sandbox starts with the
estate already in place, seeded directly (not onboarded through byoc, which would take hours at
100,000 numbers): the numbers owned at Twilio and on the trunk, byoc's DID pools in Genesys (one
per run of consecutive numbers) and the numbers in the routed IVR and its shards, byoc's Dial Plan
rules on each SBC (the rules byoc computes for them), and the inventory holding every number
active. Then one more number is bought in the Twilio console, its purchase event is handled by
byoc's number lifecycle, and the slice syncs it queues run; each emulator's request log gives the
calls per target.

    python benchmarks/marginal_cost.py [--contiguous 1000,10000,100000] [--scattered 1000,10000]

Numbers lie in +16285xxxxxx, which the benchmark's policy manages (default route: IVR "Sales IVR",
SBC tag "default"): `contiguous` is one run, `scattered` N numbers drawn at random from 2N
(fixed seed), so runs are short and Genesys holds about N/4 pools. A scattered estate needs more
Dial Plan rules than a real SBC holds (about 5,000); the emulated SBCs and byoc's setting are
raised to hold it, which changes nothing of what one more number costs.

Prints figures, then as its last line one JSON object:
{"estates": [{"numbers", "layout", "calls": {target: n}, "seconds": {target: s},
 "converged": bool}], "max_calls_per_target", "targets_met": {"le_10_calls_per_target": bool}}.
Target: at most 10 vendor calls per target whatever the estate's size.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from api_economy import Bench, MemoryQueue, sandbox_call, tally  # noqa: E402

BASE = 16285000000
TRUNK = "TK0123456789abcdef0123456789abcdef"
IVR = "Sales IVR"
POLICY = """version: 1
managed: {all_on_trunk: false, prefixes: ["+16285"]}
rules: []
defaults: {genesys: {ivr: Sales IVR}, sbc_tag: default}
"""
DEVICE_RULES = 1_000_000


def estate(size: int, layout: str) -> list[int]:
    """The estate's numbers (as integers, sorted)."""
    if layout == "contiguous":
        return list(range(BASE, BASE + size))
    return sorted(BASE + i for i in random.Random(20261207).sample(range(2 * size), size))


def runs(values: list[int]) -> list[tuple[int, int]]:
    """Maximal runs of consecutive values."""
    found: list[tuple[int, int]] = []
    for value in values:
        if found and found[-1][1] == value - 1:
            found[-1] = (found[-1][0], value)
        else:
            found.append((value, value))
    return found


def seed_for(values: list[int]) -> dict[str, Any]:
    """The default sandbox seed with the estate in place at every vendor."""
    from byoc.services.sbc_model import desired_rules
    from sandbox.launcher import load_seed

    numbers = [f"+{v}" for v in values]
    spans = runs(values)
    seed = load_seed()
    seed["twilio"]["numbers"] = [
        *seed["twilio"].get("numbers", []),
        *({"range": f"+{lo}..+{hi}", "trunk_sid": TRUNK} if hi > lo
          else {"phone_number": f"+{lo}", "trunk_sid": TRUNK} for lo, hi in spans),
    ]
    seed_genesys(seed["genesys"], values)
    rules = desired_rules(dict.fromkeys(numbers, "default"))
    for device in seed["audiocodes"]["sbcs"]:
        device["max_dial_plan_rules"] = DEVICE_RULES
        plan = next(p for p in device["dial_plans"] if p["name"] == "BYOC")
        foreign = plan["rules"]
        plan["rules"] = [*foreign[:-1], *({"name": r.name, "prefix": r.prefix, "tag": r.tag}
                                          for r in rules), foreign[-1]]  # the catch-all last
    return seed


def seed_genesys(genesys: dict[str, Any], values: list[int]) -> None:
    """Put byoc's pools (one per run) and the IVR's numbers (over its shards) into a Genesys seed."""
    from byoc.services.genesys_model import POOL_DESCRIPTION
    from byoc.services.genesys_shards import SURE_FIT, shard_description, shard_name
    from sandbox.genesys_wire import stable_id

    numbers = [f"+{v}" for v in values]
    # The seed creates each IVR in one write; the org's per-write limit would refuse that (byoc's
    # own writes add one number here, far below it).
    genesys["max_dnis_added_per_write"] = len(numbers) + 100
    genesys["did_pools"] = [*genesys.get("did_pools", []), *(
        {"start": f"+{lo}", "end": f"+{hi}", "name": f"byoc +{lo}-+{hi}",
         "description": POOL_DESCRIPTION} for lo, hi in runs(values))]
    ivr = next(i for i in genesys["ivrs"] if i["name"] == IVR)
    fit = SURE_FIT - len(ivr.get("dnis") or [])
    ivr["dnis"] = [*(ivr.get("dnis") or []), *numbers[:fit]]
    original = SimpleNamespace(name=IVR, id=ivr.get("id") or stable_id("ivr", IVR))
    for index, start in enumerate(range(fit, len(numbers), SURE_FIT), start=2):
        genesys["ivrs"].append({
            "name": shard_name(IVR, index), "description": shard_description(original),  # type: ignore[arg-type]
            "dnis": numbers[start:start + SURE_FIT],
            "open_hours_flow": ivr.get("open_hours_flow"),
            "closed_hours_flow": ivr.get("closed_hours_flow"),
            "holiday_hours_flow": ivr.get("holiday_hours_flow"),
            "schedule_group": ivr.get("schedule_group"),
        })


class MarginalBench(Bench):
    """byoc on the seeded sandbox: the benchmark's policy, SBCs that hold the estate's rules."""

    def __init__(self, sandbox: Any, policy_path: str) -> None:
        self._policy_path = policy_path
        super().__init__(sandbox)

    def _build(self) -> tuple[Any, Any, Any]:
        from sandbox import __main__ as sandbox_main

        settings_for = sandbox_main.settings_for

        def with_policy(ports: dict[str, Any], **kwargs: Any) -> dict[str, str]:
            env = settings_for(ports, **kwargs)
            env["BYOC_POLICY_PATH"] = self._policy_path
            sbcs = json.loads(env["BYOC_SBCS"])
            for sbc in sbcs:
                sbc["max_dial_plan_rules"] = DEVICE_RULES
            env["BYOC_SBCS"] = json.dumps(sbcs)
            return env

        sandbox_main.settings_for = with_policy  # type: ignore[assignment]
        try:
            return super()._build()
        finally:
            sandbox_main.settings_for = settings_for  # type: ignore[assignment]


class Jobs(MemoryQueue):
    """The job queue: keeps the sync jobs the lifecycle asks for."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def send(self, job: Any, *, delay_s: int = 0) -> None:
        del delay_s
        self.sent.append(job)


def active_records(values: list[int], targets: list[str]) -> list[Any]:
    from byoc.domain.inventory import NumberRecord, NumberState, now_iso

    at = now_iso()
    return [NumberRecord(number=f"+{v}", state=NumberState.ACTIVE, genesys_target=f"ivr:{IVR}",
                         sbc_tag="default", converged=dict.fromkeys(targets, at), source="bench")
            for v in values]


def one_more(size: int, layout: str, policy_path: str) -> dict[str, Any]:
    """Seed the estate, buy one more number, run its slice syncs; calls per target."""
    from byoc.domain.jobs import NumberEvent, SyncTarget, new_correlation_id
    from byoc.services.numbers import NumberLifecycle
    from sandbox.launcher import start_sandbox

    values = estate(size, layout)
    started = time.perf_counter()
    sandbox = start_sandbox(seed_for(values))
    try:
        bench = MarginalBench(sandbox, policy_path)
        targets = bench.service.number_targets()
        bench.inventory.put_many(active_records(values, targets))
        taken = set(values)
        extra = (values[-1] + 1 if layout == "contiguous"
                 else next(v for v in range(BASE + size, BASE + 2 * size) if v not in taken))
        number = f"+{extra}"
        print(f"{layout} estate of {size:,} numbers seeded ({time.perf_counter() - started:.1f} s)"
              f"; one more: {number}")
        sid = sandbox_call(bench.ports["twilio"], bench.ca, "POST", "/_sandbox/twilio/purchase",
                           {"phone_number": number})["sid"]
        jobs = Jobs()
        lifecycle = NumberLifecycle(inventory=bench.inventory, state=bench.service._state,
                                    queue=jobs, policy=bench.services.policy,
                                    number_targets=bench.service.number_targets)
        lifecycle.handle(NumberEvent(action="purchased", number=number, sid=sid,
                                     source="webhook", event_id=f"bench-{number}",
                                     correlation_id=new_correlation_id()))
        calls: dict[str, int] = {}
        seconds: dict[str, float] = {}
        for job in [j for j in jobs.sent if isinstance(j, SyncTarget)]:
            bench.clear_logs()
            began = time.perf_counter()
            outcome = bench.service.sync(job.target, correlation_id=job.correlation_id,
                                         numbers=job.numbers)
            seconds[job.target] = round(time.perf_counter() - began, 2)
            logs = bench.logs()
            vendor = "sbc" if job.target.startswith("sbc:") else job.target
            if vendor == "sbc":  # this SBC's own log
                index = int(job.target.removeprefix("sbc:sbc")) - 1
                logs = {"sbc": [logs["sbc"][index]], "twilio": [], "genesys": [], "nsg": []}
            counted, _, _ = tally(logs)
            calls[job.target] = counted[vendor]
            state = "converged" if outcome.converged else f"NOT converged {outcome.problems[:2]}"
            kind = "slice" if outcome.slice is not None else "FULL"
            print(f"  {job.target}: {calls[job.target]} calls ({kind} sync, {state}, "
                  f"{seconds[job.target]} s)")
        record = bench.inventory.get(number)
        converged = record is not None and record.state.value == "active"
        return {"numbers": size, "layout": layout, "calls": calls, "seconds": seconds,
                "converged": converged}
    finally:
        sandbox.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contiguous", default="1000,10000,100000",
                        help="sizes of the contiguous estates (comma-separated; empty: none)")
    parser.add_argument("--scattered", default="1000,10000",
                        help="sizes of the scattered estates (100,000 takes minutes to seed)")
    args = parser.parse_args(argv)
    runs_wanted = [(int(size), layout) for layout in ("contiguous", "scattered")
                   for size in getattr(args, layout).split(",") if size.strip()]
    if any(not 1 <= size <= 500_000 for size, _ in runs_wanted):
        raise SystemExit("--contiguous, --scattered: sizes of 1..500000")
    with tempfile.TemporaryDirectory() as workdir:
        policy_path = os.path.join(workdir, "policy.yaml")
        Path(policy_path).write_text(POLICY)
        estates = [one_more(size, layout, policy_path) for size, layout in runs_wanted]
    worst = max((n for e in estates for n in e["calls"].values()), default=0)
    print(json.dumps({
        "estates": estates,
        "max_calls_per_target": worst,
        "targets_met": {"le_10_calls_per_target": worst <= 10
                        and all(e["converged"] for e in estates)},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
