"""Benchmark: vendor API calls for a full onboarding of N numbers, from the sandbox request logs.

Starts every sandbox emulator, buys the numbers at (sandbox) Twilio, puts them in an in-memory
inventory as `onboarding`, and syncs every target registered in `byoc.bootstrap` (twilio,
sbc:<name>, genesys, nsg:<name>) once, in registry order. Then it reads each emulator's
`/_sandbox/requests` log. A second pass syncs every target again: a converged estate must cost no
write (`steady_writes`; the NSG target in particular writes only on its first sync).

    python benchmarks/api_economy.py --numbers 1000 --layout contiguous|scattered [--bought console|byoc]

Numbers come from the sandbox policy's managed block +1415555 1000-9999 (so N <= 9000):
`contiguous` is one run from +14155551000, `scattered` N random numbers of that block (fixed
seed). `--bought console` (default) buys them in the Twilio console (on no trunk: byoc associates
each); `--bought byoc` buys them through byoc's adapter with the trunk's TrunkSid (already on the
trunk: no association call is needed).

Baseline, measured in the same run on a freshly reset sandbox: a one-number-at-a-time onboarding,
where each number is added alone and every target that carries numbers is synced for it (what a
per-number event handler without batching costs). It is measured on `--baseline-sample` numbers
and extrapolated linearly to N (a lower bound: its reads grow as the estate grows).

After that, one more number is bought and synced on the targets that carry numbers
(`one_more_calls`): what each later purchase costs in an estate of this size.

Prints figures, then as its last line one JSON object:
{"numbers", "layout", "bought", "calls": {"twilio", "genesys", "sbc", "nsg"}, "writes": {...},
 "twilio_associations", "sbc_writes_per_sbc", "steady_writes": {...}, "one_more_calls": {...},
 "calls_per_number",
 "baseline": {"sample", "calls_per_number", "calls": {...}}, "targets_met": {...}}.
Targets for N=1,000 contiguous: Genesys calls <= 30, SBC writes <= 3 per SBC, NSG writes 0 after
the first sync, Twilio association calls <= N (0 when bought through byoc).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

FIRST = 14155551000
SPACE = 9000
VENDORS = ("twilio", "genesys", "sbc", "nsg")


# --- byoc's own storage, in memory (the benchmark counts vendor calls only) ---------------------


class MemoryInventory:
    """The inventory port in memory; safe for syncs running in several threads."""

    def __init__(self) -> None:
        self.records: dict[str, Any] = {}
        self._lock = threading.RLock()

    def get(self, number: str) -> Any:
        return self.records.get(number)

    def get_many(self, numbers: Iterable[str]) -> list[Any]:
        with self._lock:
            return [self.records[n] for n in sorted(set(numbers)) if n in self.records]

    def put(self, record: Any) -> None:
        with self._lock:
            self.records[record.number] = record

    def put_many(self, records: Iterable[Any]) -> None:
        with self._lock:
            for record in records:
                self.put(record)

    def all(self) -> list[Any]:
        with self._lock:
            return list(self.records.values())

    def update(self, number: str, change: Callable[[Any], Any]) -> Any:
        with self._lock:
            current = self.records.get(number)
            new = change(current)
            if new is None or new == current:
                return current
            self.records[number] = new
            return new

    def update_many(self, numbers: Iterable[str], change: Callable[[Any], Any]) -> int:
        written = 0
        with self._lock:
            for number in set(numbers) & set(self.records):
                current = self.records[number]
                new = change(current)
                if new is not None and new != current:
                    self.records[number] = new
                    written += 1
        return written


class MemoryOperations:
    def record(self, **row: Any) -> None:
        del row


class MemoryState:
    def __init__(self) -> None:
        self.data: dict[tuple[str, str], Any] = {}

    def claim(self, namespace: str, key: str) -> bool:
        return self.data.setdefault((namespace, key), True) is True

    def release_claim(self, namespace: str, key: str) -> None:
        self.data.pop((namespace, key), None)

    def get(self, namespace: str, key: str) -> Any:
        return self.data.get((namespace, key))

    def put(self, namespace: str, key: str, value: Any) -> None:
        self.data[(namespace, key)] = value

    def items(self, namespace: str) -> dict[str, Any]:
        return {k: v for (ns, k), v in self.data.items() if ns == namespace}


class MemoryLease:
    def check(self) -> None:
        return None


class MemoryLocks:
    @contextmanager
    def hold(self, target: str) -> Iterator[MemoryLease]:
        del target
        yield MemoryLease()


class MemoryQueue:
    def send(self, job: Any, *, delay_s: int = 0) -> None:
        del job, delay_s

    def dead_letter(self, body: str, reason: str) -> None:
        del body, reason


# --- the run -----------------------------------------------------------------------------------


def choose_numbers(count: int, layout: str) -> list[str]:
    if not 1 <= count <= SPACE:
        raise SystemExit(f"--numbers must be 1..{SPACE} (the sandbox policy's managed block)")
    if layout == "contiguous":
        return [f"+{FIRST + i}" for i in range(count)]
    picked = random.Random(20240601).sample(range(SPACE), count)
    return [f"+{FIRST + i}" for i in sorted(picked)]


@functools.cache
def _trust(ca: str) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=ca)


def sandbox_call(url: str, ca: str, method: str, path: str, body: Any = None) -> Any:
    import httpx

    response = httpx.request(method, url + path, json=body, verify=_trust(ca), timeout=60)
    response.raise_for_status()
    return response.json() if response.content else None


def bench_seed() -> dict[str, Any]:
    """The default sandbox seed, with the managed block purchasable through the Twilio API."""
    from sandbox.launcher import load_seed

    seed = load_seed()
    seed["twilio"]["available"] = [
        *seed["twilio"].get("available", []),
        {"range": f"+{FIRST}..+{FIRST + SPACE - 1}", "country": "US", "region": "CA"},
    ]
    return seed


class Bench:
    """byoc pointed at a running sandbox, with its own storage in memory."""

    def __init__(self, sandbox: Any) -> None:
        self.ports = sandbox.ports()
        self.ca = str(sandbox.ca_bundle)
        self.endpoints: dict[str, list[str]] = {
            "twilio": [self.ports["twilio"]], "genesys": [self.ports["genesys"]],
            "sbc": list(self.ports["audiocodes"]), "nsg": [self.ports["arm"]],
        }
        self.services, self.inventory, self.service = self._build()

    def _build(self) -> tuple[Any, MemoryInventory, Any]:
        from byoc.bootstrap import Services
        from byoc.domain.plan import GuardLimits
        from byoc.services.reconcile import ReconcileService
        from byoc.settings import load_settings
        from sandbox.__main__ import settings_for

        for key in [k for k in os.environ if k.startswith("BYOC_")]:
            del os.environ[key]
        os.environ.update(settings_for(self.ports))
        services = Services(load_settings())
        inventory = MemoryInventory()
        storage: dict[str, Any] = {
            "inventory": inventory, "operations": MemoryOperations(), "state": MemoryState(),
            "locks": MemoryLocks(), "queue": MemoryQueue(),
        }
        services.__dict__.update(storage)  # byoc's own storage in memory (cached properties)
        service = ReconcileService(
            registry=services.registry, inventory=inventory, operations=storage["operations"],
            state=storage["state"], locks=storage["locks"], queue=storage["queue"],
            policy=services.policy,
            limits=GuardLimits(max_delete_fraction=1.0, max_delete_count=SPACE + 1000),
        )
        return services, inventory, service

    def reset(self) -> None:
        """Every emulator back to its seed, and a fresh byoc (new tokens, empty inventory)."""
        for urls in self.endpoints.values():
            for url in urls:
                sandbox_call(url, self.ca, "POST", "/_sandbox/reset")
        self.services, self.inventory, self.service = self._build()

    def buy(self, numbers: list[str], bought: str) -> None:
        if bought == "console":
            for number in numbers:
                sandbox_call(self.ports["twilio"], self.ca, "POST", "/_sandbox/twilio/purchase",
                             {"phone_number": number})
        else:
            for number in numbers:
                self.services.twilio.purchase_number(number)

    def clear_logs(self) -> None:
        for urls in self.endpoints.values():
            for url in urls:
                sandbox_call(url, self.ca, "DELETE", "/_sandbox/requests")

    def logs(self) -> dict[str, list[dict[str, Any]]]:
        return {vendor: [sandbox_call(url, self.ca, "GET", "/_sandbox/requests") for url in urls]
                for vendor, urls in self.endpoints.items()}

    def add(self, numbers: list[str]) -> None:
        from byoc.domain.inventory import NumberRecord, NumberState

        self.inventory.put_many(NumberRecord(number=n, state=NumberState.ONBOARDING, source="bench")
                                for n in numbers)

    def sync(self, targets: list[str], *, verbose: bool) -> None:
        for target in targets:
            started = time.perf_counter()
            try:
                outcome = self.service.sync(target, correlation_id="api-economy")
                result = ("converged" if outcome.converged
                          else f"NOT converged: {outcome.problems[:2]}")
                changes = len(outcome.plan.changes)
            except Exception as exc:  # a target failing must not hide the others' figures
                result, changes = f"FAILED {type(exc).__name__}: {exc}"[:300], 0
            if verbose:
                print(f"  {target}: {changes} change(s), {result} "
                      f"({time.perf_counter() - started:.1f} s)")

    def active(self) -> int:
        from byoc.domain.inventory import NumberState

        return sum(1 for r in self.inventory.all() if r.state is NumberState.ACTIVE)


def tally(logs: dict[str, list[dict[str, Any]]]) -> tuple[dict[str, int], dict[str, int], int]:
    """(calls per vendor, writes per vendor, Twilio trunk associations); Genesys OAuth token
    requests are not API calls (the figures exclude them)."""
    calls: dict[str, int] = {}
    writes: dict[str, int] = {}
    for vendor, vendor_logs in logs.items():
        tokens = sum(int(log["counts"].get("POST /oauth/token", 0)) for log in vendor_logs)
        calls[vendor] = sum(int(log["total"]) for log in vendor_logs) - tokens
        writes[vendor] = sum(int(log["writes"]) for log in vendor_logs) - tokens
    associations = sum(
        count for log in logs["twilio"] for route, count in log["counts"].items()
        if route.startswith("POST ") and "/Trunks/" in route and route.endswith("/PhoneNumbers")
    )
    return calls, writes, associations


def baseline(bench: Bench, numbers: list[str], sample: int, bought: str) -> dict[str, Any]:
    """Calls of a one-number-at-a-time onboarding of `sample` numbers, scaled to len(numbers)."""
    bench.reset()
    picked = numbers[:sample]
    bench.buy(picked, bought)
    bench.clear_logs()
    targets = bench.service.number_targets()
    started = time.perf_counter()
    for number in picked:
        bench.add([number])
        bench.sync(targets, verbose=False)
    calls, writes, _ = tally(bench.logs())
    per_number = {v: calls[v] / len(picked) for v in VENDORS}
    print(f"baseline, one number at a time ({len(picked)} numbers, each synced on "
          f"{', '.join(targets)}): {json.dumps(calls)} calls, {json.dumps(writes)} writes, "
          f"{bench.active()} active ({time.perf_counter() - started:.1f} s)")
    return {
        "sample": len(picked),
        "calls_per_number": round(sum(per_number.values()), 2),
        "calls": {v: round(per_number[v] * len(numbers)) for v in VENDORS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=1000)
    parser.add_argument("--layout", choices=["contiguous", "scattered"], default="contiguous")
    parser.add_argument("--bought", choices=["console", "byoc"], default="console",
                        help="console: on no trunk (byoc associates them); byoc: bought onto the "
                             "trunk through byoc's Twilio adapter")
    parser.add_argument("--baseline-sample", type=int, default=10,
                        help="numbers onboarded one at a time for the baseline (0: skip it)")
    args = parser.parse_args(argv)
    numbers = choose_numbers(args.numbers, args.layout)

    from sandbox.launcher import start_sandbox

    sandbox = start_sandbox(bench_seed())
    try:
        bench = Bench(sandbox)
        started = time.perf_counter()
        bench.buy(numbers, args.bought)
        bench.clear_logs()
        print(f"bought {len(numbers)} {args.layout} numbers "
              f"{'in the Twilio console' if args.bought == 'console' else 'through byoc'} "
              f"({time.perf_counter() - started:.1f} s)")

        bench.add(numbers)
        targets = bench.service.registry.targets()
        print(f"registered targets: {', '.join(targets) or 'none'}")
        bench.sync(targets, verbose=True)
        logs = bench.logs()
        calls, writes, associations = tally(logs)
        genesys_tokens = int(logs["genesys"][0]["counts"].get("POST /oauth/token", 0))
        print(f"  genesys: {calls['genesys']} calls (+{genesys_tokens} token request(s)), "
              f"{json.dumps(logs['genesys'][0]['counts'])}")
        for url, log in zip(bench.endpoints["sbc"], logs["sbc"], strict=True):
            print(f"  sbc at {url}: {log['total']} calls, {log['writes']} writes "
                  f"{json.dumps(log['counts'])}")
        print(f"  twilio: {associations} trunk association call(s)")
        active = bench.active()
        print(f"numbers active after one pass: {active} of {len(numbers)}")

        bench.clear_logs()
        bench.sync(targets, verbose=False)
        steady_calls, steady, _ = tally(bench.logs())
        print(f"second pass (converged estate): {json.dumps(steady_calls)} calls, "
              f"{json.dumps(steady)} writes")

        # One more number in the estate just onboarded: what each later purchase costs here.
        taken = set(numbers)
        extra = next(f"+{n}" for n in range(FIRST, FIRST + SPACE) if f"+{n}" not in taken)
        bench.buy([extra], args.bought)
        bench.clear_logs()
        bench.add([extra])
        bench.sync(bench.service.number_targets(), verbose=False)
        one_more, _, _ = tally(bench.logs())
        print(f"one more number ({extra}) in this estate: {json.dumps(one_more)} calls")

        base = (baseline(bench, numbers, min(args.baseline_sample, len(numbers)), args.bought)
                if args.baseline_sample > 0 else None)

        sbcs = max(1, len(bench.endpoints["sbc"]))
        sbc_writes = [int(log["writes"]) for log in logs["sbc"]]
        total = sum(calls.values())
        met = {  # the Genesys budget is for a contiguous block (scattered: a pool per run)
            "genesys_calls_le_30": calls["genesys"] <= 30 if args.layout == "contiguous" else None,
            "sbc_writes_le_3_per_sbc": max(sbc_writes, default=0) <= 3,
            "nsg_writes_0_after_first_sync": steady["nsg"] == 0,
            "twilio_associations_le_n": associations <= len(numbers)
            and (args.bought == "console" or associations == 0),
            "all_active": active == len(numbers),
        }
        print(json.dumps({
            "numbers": len(numbers),
            "layout": args.layout,
            "bought": args.bought,
            "calls": {v: calls[v] for v in VENDORS},
            "writes": {v: writes[v] for v in VENDORS},
            "twilio_associations": associations,
            "sbc_writes_per_sbc": round(sum(sbc_writes) / sbcs, 2),
            "steady_writes": {v: steady[v] for v in VENDORS},
            "one_more_calls": {v: one_more[v] for v in VENDORS},
            "calls_per_number": round(total / len(numbers), 4),
            "baseline": base,
            "targets_met": met,
        }))
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
