"""Benchmark: vendor API calls for a full onboarding of N numbers, from the sandbox request logs.

Starts every sandbox emulator, buys the numbers in the (sandbox) Twilio console, puts them in an
in-memory inventory as `onboarding`, and syncs every target registered in `byoc.bootstrap`
(twilio, sbc:<name>, genesys, nsg:<name> as they land) once, in registry order. Then it reads each
emulator's `/_sandbox/requests` log. Targets not registered yet cost 0 calls.

    python benchmarks/api_economy.py --numbers 1000 --layout contiguous|scattered

Numbers come from the sandbox policy's managed block +1415555 1000-9999 (so N <= 9000):
`contiguous` is one run from +14155551000, `scattered` N random numbers of that block (fixed
seed). Prints figures, then as its last line one JSON object:
{"numbers", "layout", "calls": {"twilio", "genesys", "sbc", "nsg"}, "writes": {...},
 "calls_per_number"}.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, not installed

FIRST = 14155551000
SPACE = 9000
VENDORS = ("twilio", "genesys", "sbc", "nsg")


# --- byoc's own storage, in memory (the benchmark counts vendor calls only) ---------------------


class MemoryInventory:
    def __init__(self) -> None:
        self.records: dict[str, Any] = {}

    def get(self, number: str) -> Any:
        return self.records.get(number)

    def put(self, record: Any) -> None:
        self.records[record.number] = record

    def put_many(self, records: Iterable[Any]) -> None:
        for record in records:
            self.put(record)

    def all(self) -> list[Any]:
        return list(self.records.values())


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


def sandbox_call(url: str, ca: str, method: str, path: str, body: Any = None) -> Any:
    import httpx

    response = httpx.request(method, url + path, json=body, verify=ca, timeout=60)
    response.raise_for_status()
    return response.json() if response.content else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=1000)
    parser.add_argument("--layout", choices=["contiguous", "scattered"], default="contiguous")
    args = parser.parse_args(argv)
    numbers = choose_numbers(args.numbers, args.layout)

    from byoc.bootstrap import Services
    from byoc.domain.inventory import NumberRecord, NumberState
    from byoc.domain.plan import GuardLimits
    from byoc.settings import load_settings
    from sandbox.__main__ import settings_for
    from sandbox.launcher import load_seed, start_sandbox

    sandbox = start_sandbox(load_seed())
    try:
        ports = sandbox.ports()
        ca = str(sandbox.ca_bundle)
        for key in [k for k in os.environ if k.startswith("BYOC_")]:
            del os.environ[key]
        os.environ.update(settings_for(ports))
        services = Services(load_settings())
        inventory = MemoryInventory()
        storage: dict[str, Any] = {
            "inventory": inventory, "operations": MemoryOperations(), "state": MemoryState(),
            "locks": MemoryLocks(), "queue": MemoryQueue(),
        }
        services.__dict__.update(storage)  # byoc's own storage in memory (cached properties)

        endpoints: dict[str, list[str]] = {
            "twilio": [ports["twilio"]], "genesys": [ports["genesys"]],
            "sbc": list(ports["audiocodes"]), "nsg": [ports["arm"]],
        }
        started = time.perf_counter()
        for number in numbers:
            sandbox_call(ports["twilio"], ca, "POST", "/_sandbox/twilio/purchase",
                         {"phone_number": number})
        for urls in endpoints.values():
            for url in urls:
                sandbox_call(url, ca, "DELETE", "/_sandbox/requests")
        print(f"bought {len(numbers)} {args.layout} numbers in the sandbox Twilio console "
              f"({time.perf_counter() - started:.1f} s)")

        from byoc.services.reconcile import ReconcileService

        inventory.put_many(NumberRecord(number=n, state=NumberState.ONBOARDING, source="bench")
                           for n in numbers)
        service = ReconcileService(
            registry=services.registry, inventory=inventory, operations=storage["operations"],
            state=storage["state"], locks=storage["locks"], queue=storage["queue"],
            policy=services.policy,
            limits=GuardLimits(max_delete_fraction=1.0, max_delete_count=len(numbers) + 1),
        )
        targets = services.registry.targets()
        print(f"registered targets: {', '.join(targets) or 'none'}")
        for target in targets:
            started = time.perf_counter()
            try:
                outcome = service.sync(target, correlation_id="api-economy")
                result = "converged" if outcome.converged else f"NOT converged: {outcome.problems[:2]}"
                changes = len(outcome.plan.changes)
            except Exception as exc:  # a target failing must not hide the others' figures
                result, changes = f"FAILED {type(exc).__name__}: {exc}"[:300], 0
            print(f"  {target}: {changes} change(s), {result} ({time.perf_counter() - started:.1f} s)")

        calls: dict[str, int] = {}
        writes: dict[str, int] = {}
        for vendor, urls in endpoints.items():
            logs = [sandbox_call(url, ca, "GET", "/_sandbox/requests") for url in urls]
            # Genesys OAuth token requests are not API calls (the figure excludes them).
            tokens = sum(int(log["counts"].get("POST /oauth/token", 0)) for log in logs)
            calls[vendor] = sum(int(log["total"]) for log in logs) - tokens
            writes[vendor] = sum(int(log["writes"]) for log in logs) - tokens
            if vendor == "genesys":
                print(f"  genesys: {calls[vendor]} calls (+{tokens} token request(s)), "
                      f"{json.dumps(logs[0]['counts'])}")
            if vendor == "sbc":
                for url, log in zip(urls, logs, strict=True):
                    print(f"  sbc at {url}: {log['total']} calls, {log['writes']} writes "
                          f"{json.dumps(log['counts'])}")
        active = sum(1 for r in inventory.all() if r.state is NumberState.ACTIVE)
        print(f"numbers active after one pass: {active} of {len(numbers)}")
        total = sum(calls.values())
        print(json.dumps({
            "numbers": len(numbers),
            "layout": args.layout,
            "calls": {v: calls[v] for v in VENDORS},
            "writes": {v: writes[v] for v in VENDORS},
            "calls_per_number": round(total / len(numbers), 4),
        }))
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
