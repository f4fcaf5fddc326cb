"""Benchmark: verifying one SBC's Dial Plan after a sync, for 1,000 to 100,000 managed numbers.

The estate is plan_scale's (numbers in blocks of 100 at random gaps in +1415 55…, five SBC tags).
The device holds exactly byoc's desired rules (a converged Dial Plan) and a foreign catch-all `*`,
so verify finds nothing wrong; every managed number is still resolved with the AudioCodes matching
rules (most specific, then lowest index), and every owned rule is checked for numbers outside the
inventory. Every sync of every SBC runs this. What is timed is `verify()` alone (the device read is
answered from memory); median of `--runs`. A conflict scan (`plan()` with foreign exact and open
rules in the way of a few managed numbers) is timed at the largest size too.

Baseline, measured in the same run: the same verify for a tenth of the numbers (10,000).

    python benchmarks/sbc_verify.py [--numbers 100000] [--runs 3]

Prints a line per size (1,000, 10,000, --numbers), then as its last line one JSON object:
{"numbers": 100000, "verify_s", "rules", "plan_with_foreign_s", "per_size_s": {...},
 "baseline": {"numbers": 10000, "verify_s"}}. Target: verify_s < 1.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))  # run from a checkout, not installed
sys.path.insert(0, str(ROOT))

from plan_scale import build_estate  # noqa: E402

from byoc.ports import SbcDialPlan, SbcDialPlanRule, SbcDialPlans  # noqa: E402
from byoc.services.reconcile import desired_state  # noqa: E402
from byoc.services.sbc_model import SbcDesired  # noqa: E402
from byoc.services.sbc_reconciler import SbcDialPlanReconciler  # noqa: E402


class MemorySbc:
    """Answers the reconciler's read from memory."""

    def __init__(self, plans: SbcDialPlans) -> None:
        self.plans = plans

    def read_dial_plans(self) -> SbcDialPlans:
        return self.plans


def converged(desired: SbcDesired, foreign: list[str]) -> SbcDialPlans:
    """byoc's rules as a sync writes them, then the foreign prefixes, then a catch-all."""
    rules = [SbcDialPlanRule(i + 1, r.name, r.prefix, r.tag) for i, r in enumerate(desired.rules)]
    rules += [SbcDialPlanRule(len(rules) + 1 + i, f"hq-{i}", p, "hq") for i, p in enumerate(foreign)]
    rules.append(SbcDialPlanRule(len(rules) + 1, "fallback", "*", "pstn"))
    return SbcDialPlans((SbcDialPlan(index=0, name="BYOC", rules=tuple(rules)),))


def measure(count: int, runs: int) -> dict[str, Any]:
    estate = build_estate(count)
    state = desired_state(estate.records, estate.policy)
    sbc = estate.settings.sbcs[0]
    desired = SbcDialPlanReconciler(sbc, MemorySbc(SbcDialPlans(()))).desired(state)
    reconciler = SbcDialPlanReconciler(sbc, MemorySbc(converged(desired, [])))
    timings: list[float] = []
    problems: list[str] = []
    for _ in range(runs):
        reconciler.read_actual()
        gc.collect()
        started = time.perf_counter()
        problems = reconciler.verify(desired)
        timings.append(time.perf_counter() - started)
    if problems:
        raise SystemExit(f"a converged Dial Plan should verify clean: {problems[:2]}")
    return {"numbers": count, "verify_s": statistics.median(timings), "rules": len(desired.rules),
            "estate": estate, "desired": desired}


def plan_with_foreign(result: dict[str, Any], runs: int) -> tuple[float, int]:
    """plan() with foreign rules over a few managed numbers: an exact block, an open prefix."""
    numbers: list[str] = result["estate"].numbers
    desired: SbcDesired = result["desired"]
    middle = numbers[len(numbers) // 2]
    foreign = [middle[:-2] + "xx#", numbers[-1][:-1], "+1415550[0-4]"]
    actual = converged(desired, foreign)
    reconciler = SbcDialPlanReconciler(result["estate"].settings.sbcs[0], MemorySbc(actual))
    timings: list[float] = []
    conflicts = 0
    for _ in range(runs):
        gc.collect()
        started = time.perf_counter()
        conflicts = len(reconciler.plan(actual, desired).conflicts)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings), conflicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    tenth = max(1, args.numbers // 10)
    sizes = sorted({max(1, args.numbers // 100), tenth, args.numbers})
    print(f"verify of a converged Dial Plan (median of {args.runs}):")
    results = {}
    for count in sizes:
        results[count] = measure(count, args.runs)
        print(f"  {count} managed numbers, {results[count]['rules']} owned rules: "
              f"{results[count]['verify_s']:.3f} s")
    full, small = results[args.numbers], results[tenth]
    foreign_s, conflicts = plan_with_foreign(full, args.runs)
    print(f"  plan() with 3 foreign rules in the way ({args.numbers} numbers): {foreign_s:.3f} s, "
          f"{conflicts} conflict(s) reported")
    print(f"baseline: {tenth} numbers verify in {small['verify_s']:.3f} s "
          f"({full['verify_s'] / max(small['verify_s'], 1e-9):.1f}x for 10x the numbers)")
    print(json.dumps({
        "numbers": args.numbers,
        "verify_s": round(full["verify_s"], 3),
        "rules": full["rules"],
        "plan_with_foreign_s": round(foreign_s, 3),
        "per_size_s": {str(n): round(r["verify_s"], 3) for n, r in results.items()},
        "baseline": {"numbers": tenth, "verify_s": round(small["verify_s"], 3)},
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
