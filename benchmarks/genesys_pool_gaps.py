"""Benchmark: seconds any managed number spends in no DID pool while a resync changes pool ranges.

A sandbox Genesys org (served over HTTP, reached through byoc's real adapter and the SDK) carries
`--runs` runs of `--size` numbers each, pooled and routed to one IVR by a first sync. Then the
inventory changes and byoc syncs again, which is what is measured:

- runs split: a number in the middle of every other run is released;
- runs shrink: the last two numbers of every third run are released;
- runs merge: the gap between every fourth run and the next is filled with new numbers;
- runs grow: two new numbers right after every fifth run; and one new run far away.

While that resync runs, a watcher inside the emulator checks the org's pools after every pool
create, change and delete, and adds up the time during which any number managed both before and
after the resync is in no active pool (an unpooled number cannot be routed). It is run under each value of
the emulator's `pool_range_change` and `pool_delete_lag` variants (sandbox/README-genesys.md).

    python benchmarks/genesys_pool_gaps.py [--runs 20] [--size 50]

Control, in the same run: one pool holding watched numbers is then deleted and created again the
way byoc changed ranges before (unroute, delete, create, route again), under the same watcher; it
must show a gap, or the watcher's zero would mean nothing.

Prints one line per variant, then as its last line one JSON object:
{"unpooled_s": worst over variants, "unpooled_number_s", "control_unpooled_s", "by_variant": {...},
 "target_s": 0, "met": bool}. Target: 0 seconds (and a control above 0).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, not installed

POLICY = """
version: 1
managed: {all_on_trunk: false, prefixes: ["+1628"]}
rules: []
defaults: {genesys: {ivr: Main IVR}, sbc_tag: main}
"""
VARIANTS = [("pool_range_change", "refuses-stranding"), ("pool_range_change", "accepts"),
            ("pool_range_change", "refuses-any"), ("pool_delete_lag", "lagging")]


class _Lease:
    def check(self) -> None:
        return None


class Watcher:
    """Adds up the time during which any of `watched` is in no active pool: after every pool
    create, change or delete the org makes (its own methods, wrapped), it counts the watched
    numbers no pool covers; a gap lasts from that write to the next write that closes it. Exact
    whatever the machine's load (sampling misses gaps of a few milliseconds)."""

    def __init__(self, emulator: Any, watched: list[str]) -> None:
        self.emulator, self.watched = emulator, watched
        self.unpooled_s = 0.0
        self.number_s = 0.0
        self.worst = 0
        self.writes = 0
        self._since: float | None = None
        self._count = 0
        self._saved: dict[str, Any] = {}

    def _unpooled(self) -> int:
        spans = [(len(p.start), int(p.start[1:]), int(p.end[1:]))
                 for p in self.emulator.org.pools.values() if p.state != "deleted"]
        return sum(1 for n in self.watched
                   if not any(w == len(n) and lo <= int(n[1:]) <= hi for w, lo, hi in spans))

    def _after_write(self) -> None:
        now = time.monotonic()
        if self._since is not None:
            self.unpooled_s += now - self._since
            self.number_s += (now - self._since) * self._count
        self._count = self._unpooled()
        self._since = now if self._count else None
        self.worst = max(self.worst, self._count)
        self.writes += 1

    def __enter__(self) -> Watcher:
        org = self.emulator.org
        for name in ("create_pool", "update_pool", "delete_pool"):
            original = getattr(org, name)
            self._saved[name] = original

            def wrapped(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                result = _original(*args, **kwargs)
                self._after_write()
                return result

            setattr(org, name, wrapped)
        return self

    def __exit__(self, *_: Any) -> None:
        for name, original in self._saved.items():
            setattr(self.emulator.org, name, original)
        if self._since is not None:  # still open at the end: counted up to now
            self.unpooled_s += time.monotonic() - self._since


def estate(runs: int, size: int) -> tuple[list[str], list[str], list[str]]:
    """(before, after, released): numbers of the first sync, of the resync, and those released."""
    gap = 10
    before: list[int] = []
    after: set[int] = set()
    first = 16_285_000_000
    for r in range(runs):
        low = first + r * (size + gap)
        run = list(range(low, low + size))
        before += run
        kept = set(run)
        if r % 2 == 0:
            kept.discard(low + size // 2)
        if r % 3 == 0:
            kept -= {low + size - 1, low + size - 2}
        if r % 4 == 0 and r + 1 < runs:
            kept |= set(range(low + size, low + size + gap))
        if r % 5 == 0:
            kept |= {low + size, low + size + 1}
        after |= kept
    after |= set(range(first + 5_000_000, first + 5_000_000 + size))
    before_text = [f"+{v}" for v in before]
    after_text = [f"+{v}" for v in sorted(after)]
    released = sorted(set(before_text) - set(after_text))
    return before_text, after_text, released


def recreate_one_pool(port: Any, watched: list[str]) -> None:
    """The control: one pool holding watched numbers deleted and created again the way byoc did
    before ranges changed in place (unroute, delete, create, route again); the watcher must see
    that gap, or its zero means nothing."""
    pool = next(p for p in port.list_did_pools()
                if p.state != "deleted" and "managed-by:byoc" in p.description
                and any(p.start <= n <= p.end for n in watched))
    ivr = next(i for i in port.list_ivrs() if i.name == "Main IVR")
    inside = tuple(n for n in ivr.dnis if len(n) == len(pool.start) and pool.start <= n <= pool.end)
    ivr = port.update_ivr_dnis(ivr, remove=inside)
    port.delete_did_pool(pool)
    port.create_did_pool(pool.start, pool.end, name=pool.name, description=pool.description)
    for first in range(0, len(inside), 50):
        ivr = port.update_ivr_dnis(ivr, add=inside[first:first + 50])


def measure(variant: tuple[str, str], runs: int, size: int) -> dict[str, Any]:
    import httpx

    from byoc.adapters.genesys import GenesysAdapter
    from byoc.domain.inventory import NumberRecord, NumberState
    from byoc.domain.policy_file import load_policy
    from byoc.services.genesys_reconciler import GenesysReconciler
    from byoc.services.reconcile import desired_state
    from byoc.settings import load_settings
    from sandbox.core import ServedApp, build_app
    from sandbox.genesys import GenesysEmulator
    from sandbox.launcher import load_seed

    seed = copy.deepcopy(load_seed()["genesys"])
    # an org with no pool of byoc's yet (the seed's one holds numbers this policy leaves alone)
    seed["did_pools"] = [p for p in seed["did_pools"] if "managed-by:byoc" not in p["description"]]
    for ivr in seed["ivrs"]:
        ivr["dnis"] = [n for n in ivr["dnis"] if not n.startswith("+1415555010")]
    for user in seed["users"]:
        user["addresses"] = [a for a in user["addresses"]
                             if not str(a.get("address", "")).startswith("+1415555010")]
    emulator = GenesysEmulator(seed)
    server = ServedApp(build_app(emulator)).start()
    try:
        httpx.post(f"{server.url}/_sandbox/variants", json={variant[0]: variant[1]})
        policy = load_policy(POLICY, "benchmark policy")
        settings = load_settings(
            twilio_account_sid="AC" + "0" * 32, twilio_trunk_sid="TK" + "0" * 32,
            twilio_auth_token="unused", sbc_password="unused",
            storage_connection_string="UseDevelopmentStorage=true",
            policy_path=str(ROOT / "sandbox" / "policy.sandbox.yaml"),
            sbcs=[{"name": "sbc1", "management_url": "https://127.0.0.1:9", "fqdn": "sbc1.x"}],
            genesys_api_base=server.url, genesys_client_id=seed["oauth_client"]["client_id"],
            genesys_client_secret=seed["oauth_client"]["client_secret"])
        port = GenesysAdapter(base_url=server.url, client_id=settings.genesys_client_id,
                              client_secret=lambda: str(seed["oauth_client"]["client_secret"]),
                              requests_per_minute=100_000)

        def sync(present: list[str], releasing: list[str]) -> list[str]:
            records = [NumberRecord(n, NumberState.ACTIVE) for n in present]
            records += [NumberRecord(n, NumberState.RELEASING) for n in releasing]
            reconciler = GenesysReconciler(settings, port)
            wanted = reconciler.desired(desired_state(records, policy))
            reconciler.apply(reconciler.plan(reconciler.read_actual(), wanted), _Lease())
            return reconciler.verify(wanted)

        before, after, released = estate(runs, size)
        first = sync(before, [])
        assert first == [], first
        watched = sorted(set(before) & set(after))
        started = time.monotonic()
        with Watcher(emulator, watched) as watcher:
            problems = sync(after, released)
        took = time.monotonic() - started
        with Watcher(emulator, watched) as control:
            recreate_one_pool(port, watched)
        return {"unpooled_s": round(watcher.unpooled_s, 3),
                "control_unpooled_s": round(control.unpooled_s, 3),
                "unpooled_number_s": round(watcher.number_s, 3),
                "worst_numbers_unpooled": watcher.worst, "pool_writes": watcher.writes,
                "resync_s": round(took, 2), "watched": len(watched),
                "problems": problems[:3]}
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--size", type=int, default=50)
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for variant in VARIANTS:
        found = measure(variant, args.runs, args.size)
        name = f"{variant[0]}={variant[1]}"
        results[name] = found
        print(f"{name}: {found['unpooled_s']} s with a managed number in no pool "
              f"(control, one pool deleted and recreated: {found['control_unpooled_s']} s) "
              f"({found['unpooled_number_s']} number-s, worst {found['worst_numbers_unpooled']} "
              f"at once, {found['pool_writes']} pool writes, resync {found['resync_s']} s, "
              f"{found['watched']} numbers watched); problems: {found['problems'] or 'none'}")
    worst = max(r["unpooled_s"] for r in results.values())
    print(json.dumps({
        "unpooled_s": worst,
        "unpooled_number_s": max(r["unpooled_number_s"] for r in results.values()),
        "control_unpooled_s": min(r["control_unpooled_s"] for r in results.values()),
        "by_variant": {k: {"unpooled_s": v["unpooled_s"], "resync_s": v["resync_s"],
                           "problems": len(v["problems"])} for k, v in results.items()},
        "target_s": 0,
        "met": worst == 0 and min(r["control_unpooled_s"] for r in results.values()) > 0}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
