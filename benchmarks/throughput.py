"""Benchmark: full onboarding of N scattered numbers at the vendors' rate limits.

The sandbox is set the way the vendors limit byoc: Genesys allows `--genesys-per-minute` (300)
requests a minute per token (a fixed one-minute window), Twilio refuses calls past
`--twilio-limit` (8) in flight on the account, and every vendor call takes `--latency-ms` (150 ms;
at Twilio inside the concurrency count). byoc runs with its defaults (Genesys paced to
BYOC_GENESYS_REQUESTS_PER_MINUTE=300, BYOC_TWILIO_CONCURRENCY=4 Twilio writes in flight) and syncs
every target at once, one thread per target, as the queue host does with a batch of jobs; a target
that has not converged is synced again. The numbers are bought in the Twilio console (so byoc
associates each with the trunk), scattered over the sandbox policy's block (so Genesys needs about
one DID pool per number).

    python benchmarks/throughput.py --numbers 1000 [--time-scale 0.1] [--no-baseline]

`--time-scale s` runs the vendors' clocks faster: latencies are multiplied by s, and the Genesys
emulator's clock and byoc's Genesys and Twilio clocks and sleeps run 1/s times as fast, so a
one-minute rate-limit window lasts 60*s real seconds. Every time printed is in vendor time (real
seconds / s); byoc's own CPU time is not scaled, so a scaled run is, if anything, pessimistic. With
s < 1 the Genesys emulator sends no Retry-After (the SDK would sleep it unscaled inside urllib3);
byoc then waits for `inin-ratelimit-reset`, through its own (scaled) sleep.

`bound_s` is the time the rate limits alone make unavoidable for the calls byoc made: at Genesys,
G calls in windows of A need floor((G-1)/A) whole windows plus one call's latency; at Twilio, T
calls C at a time need ceil(T/C) latencies; the bound is the larger. `efficiency` = bound_s /
wall_s; `rate_limited_ratio` = 429 answers / vendor calls (every vendor).

Baseline, measured in the same run on a reset sandbox: byoc without client-side pacing (no
Genesys budget, the `inin-ratelimit-*` headers of successful calls ignored), as the SDK alone
would behave: only 429s, retried after their Retry-After or reset, slow it down.

Prints figures, then as its last line one JSON object:
{"numbers", "wall_s", "bound_s", "efficiency", "rate_limited_ratio", "bound_by", "time_scale",
 "calls": {...}, "rate_limited": {...}, "rounds", "active", "baseline": {...}}.
Targets: efficiency >= 0.9, rate_limited_ratio <= 0.01.
"""

from __future__ import annotations

import argparse
import json
import math
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[1])]

from api_economy import VENDORS, Bench, choose_numbers, sandbox_call  # noqa: E402

MAX_ROUNDS = 4
UNPACED = 1_000_000


@dataclass(frozen=True)
class VendorTime:
    """Clocks and sleep that run 1/scale times as fast as real time."""

    scale: float
    wall_start: float
    mono_start: float

    @classmethod
    def start(cls, scale: float) -> VendorTime:
        return cls(scale, time.time(), time.monotonic())

    def wall(self) -> float:
        return self.wall_start + (time.time() - self.wall_start) / self.scale

    def monotonic(self) -> float:
        return self.mono_start + (time.monotonic() - self.mono_start) / self.scale

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) * self.scale)


@dataclass
class Limits:
    genesys_per_minute: int
    twilio_limit: int
    latency_ms: float
    scale: float

    @property
    def scaled_latency_ms(self) -> int:
        return max(1, round(self.latency_ms * self.scale)) if self.latency_ms else 0


class RemoteSandbox:
    """The emulators in a process of their own (as the vendors are: byoc's threads must not share
    an interpreter lock with them), the Genesys clock running at the vendor time scale."""

    def __init__(self, scale: float) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="byoc-throughput-")
        ports_file = Path(self._dir.name) / "ports.json"
        self._process = subprocess.Popen(
            [sys.executable, __file__, "--serve-sandbox", str(ports_file), "--time-scale",
             str(scale)])
        deadline = time.monotonic() + 60
        while not ports_file.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the sandbox did not start")
            time.sleep(0.1)
        self._ports = json.loads(ports_file.read_text())
        self.ca_bundle = Path(self._ports["ca_bundle"])

    def ports(self) -> dict[str, Any]:
        return dict(self._ports)

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._dir.cleanup()


def serve_sandbox(ports_file: Path, scale: float) -> int:
    """The sandbox process: every emulator, the Genesys clock scaled, until terminated."""
    from sandbox.launcher import load_seed, start_sandbox, write_ports_file

    sandbox = start_sandbox(load_seed())
    sandbox.emulators["genesys"].clock = VendorTime.start(scale).wall
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    write_ports_file(sandbox, ports_file)
    try:
        stop.wait()
    finally:
        sandbox.stop()
    return 0


def set_limits(bench: Bench, limits: Limits) -> None:
    """Rate limits, concurrency limit, and latency on every vendor."""
    ports, ca = bench.ports, bench.ca
    sandbox_call(ports["genesys"], ca, "POST", "/_sandbox/genesys/limits", {
        "rate_limit_per_minute": limits.genesys_per_minute,
        "rate_limit_retry_after": limits.scale == 1.0,
    })
    sandbox_call(ports["twilio"], ca, "POST", "/_sandbox/twilio/limits",
                 {"concurrency": limits.twilio_limit})
    latency = limits.scaled_latency_ms
    if not latency:
        return
    sandbox_call(ports["twilio"], ca, "POST", "/_sandbox/faults",
                 {"kind": "slow", "latency_ms": latency})
    for url in [ports["genesys"], ports["arm"], ports["keyvault"], *ports["audiocodes"]]:
        sandbox_call(url, ca, "POST", "/_sandbox/faults", {"latency_ms": latency})


def use_vendor_time(bench: Bench, clock: VendorTime, *, paced: bool) -> None:
    """byoc's Genesys and Twilio adapters on the scaled clock; unpaced: no Genesys budget and
    the `inin-ratelimit-*` headers of successful calls ignored (only 429s slow it down)."""
    from byoc.adapters.genesys import GenesysAdapter
    from byoc.adapters.twilio import TwilioAdapter

    services = bench.services
    settings = services.settings
    genesys = GenesysAdapter(
        base_url=settings.genesys_base_url, client_id=settings.genesys_client_id,
        client_secret=lambda: services.secret("genesys_client_secret"),
        requests_per_minute=settings.genesys_requests_per_minute if paced else UNPACED,
        clock=clock.monotonic, sleep=clock.sleep,
    )
    if not paced:
        genesys.pacer.observe = lambda headers: None  # type: ignore[method-assign]
    services.__dict__["genesys"] = genesys  # the process's Genesys adapter (a cached property)
    services.__dict__["twilio"] = TwilioAdapter(
        account_sid=settings.twilio_account_sid, trunk_sid=settings.twilio_trunk_sid,
        auth_token=lambda: services.secret("twilio_auth_token"),
        api_base=settings.twilio_api_base, concurrency=settings.twilio_concurrency,
        sleep=clock.sleep,
    )


def onboard(
    bench: Bench, numbers: list[str], clock: VendorTime, durations: dict[str, float]
) -> tuple[float, int, list[str]]:
    """Sync every target at once until all converge; (vendor seconds, rounds, problems).
    `durations` gets each target's sync time."""
    bench.add(numbers)
    targets = bench.service.registry.targets()
    problems: dict[str, str] = {}
    lock = threading.Lock()

    def sync(target: str) -> bool:
        began = clock.monotonic()
        try:
            outcome = bench.service.sync(target, correlation_id="throughput")
        except Exception as exc:  # reported, and synced again next round
            with lock:
                problems[target] = f"{type(exc).__name__}: {exc}"[:200]
            return False
        finally:
            with lock:
                durations[target] = round(durations.get(target, 0.0) + clock.monotonic() - began, 1)
        if not outcome.converged:
            with lock:
                problems[target] = "; ".join(outcome.problems[:2])[:200]
        return outcome.converged

    started = clock.monotonic()
    rounds = 0
    pending = list(targets)
    while pending and rounds < MAX_ROUNDS:
        rounds += 1
        problems.clear()
        with ThreadPoolExecutor(max_workers=len(pending)) as pool:
            done = dict(zip(pending, pool.map(sync, pending), strict=True))
        pending = [t for t, ok in done.items() if not ok]
    elapsed = clock.monotonic() - started
    return elapsed, rounds, [f"{t}: {p}" for t, p in sorted(problems.items())]


def figures(bench: Bench, limits: Limits, wall_s: float) -> dict[str, Any]:
    logs = bench.logs()
    calls: dict[str, int] = {}
    limited: dict[str, int] = {}
    for vendor, vendor_logs in logs.items():
        tokens = sum(int(log["counts"].get("POST /oauth/token", 0)) for log in vendor_logs)
        calls[vendor] = sum(int(log["total"]) for log in vendor_logs) - tokens
        limited[vendor] = sum(int(log["statuses"].get("429", 0)) for log in vendor_logs)
    latency_s = limits.latency_ms / 1000
    served_genesys = calls["genesys"] - limited["genesys"]
    served_twilio = calls["twilio"] - limited["twilio"]
    bounds = {
        "genesys": (math.floor((served_genesys - 1) / limits.genesys_per_minute) * 60.0
                    + latency_s) if served_genesys > 0 else 0.0,
        "twilio": math.ceil(served_twilio / limits.twilio_limit) * latency_s,
    }
    bound_by = max(bounds, key=lambda v: bounds[v])
    total = sum(calls.values())
    return {
        "wall_s": round(wall_s, 2),
        "bound_s": round(bounds[bound_by], 2),
        "efficiency": round(bounds[bound_by] / wall_s, 3) if wall_s > 0 else 0.0,
        "rate_limited_ratio": round(sum(limited.values()) / total, 4) if total else 0.0,
        "bound_by": bound_by,
        "bounds": {v: round(b, 2) for v, b in bounds.items()},
        "calls": {v: calls[v] for v in VENDORS},
        "rate_limited": {v: limited[v] for v in VENDORS},
    }


def warm_up() -> None:
    """Import the vendor SDKs before the clock starts: a one-off cost of the first sync in a
    process (about 1.5 s for Genesys's), not of throughput, and ten times larger in vendor time
    at --time-scale 0.1."""
    import azure.mgmt.network  # noqa: F401
    import PureCloudPlatformClientV2  # noqa: F401
    import twilio.rest  # noqa: F401


def run(bench: Bench, numbers: list[str], limits: Limits, *, paced: bool,
        label: str) -> dict[str, Any]:
    bench.buy(numbers, "console")
    warm_up()
    clock = VendorTime.start(limits.scale)
    set_limits(bench, limits)
    use_vendor_time(bench, clock, paced=paced)
    bench.clear_logs()
    durations: dict[str, float] = {}
    wall_s, rounds, problems = onboard(bench, numbers, clock, durations)
    result = figures(bench, limits, wall_s)

    pacer = getattr(bench.services.genesys, "pacer", None)
    result["genesys_paced_s"] = round(pacer.waited_s, 1) if pacer else 0.0
    active = bench.active()
    print(f"{label}: {active} of {len(numbers)} active in {wall_s:.1f} s vendor time "
          f"({rounds} round(s)); bound {result['bound_s']} s by {result['bound_by']} "
          f"{result['bounds']}; calls {json.dumps(result['calls'])}, "
          f"429s {json.dumps(result['rate_limited'])}")
    print(f"  byoc's Genesys pacing waited {result['genesys_paced_s']} s; target syncs: "
          f"{json.dumps(durations)}")
    for problem in problems:
        print(f"  not converged: {problem}")
    return {**result, "rounds": rounds, "active": active}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--numbers", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="vendor time runs 1/s times as fast (CI: 0.1)")
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--genesys-per-minute", type=int, default=300)
    parser.add_argument("--twilio-limit", type=int, default=8,
                        help="Twilio calls in flight before 429/20429")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--serve-sandbox", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 0.01 <= args.time_scale <= 1.0:
        raise SystemExit("--time-scale must be between 0.01 and 1")
    if args.serve_sandbox:
        return serve_sandbox(args.serve_sandbox, args.time_scale)
    numbers = choose_numbers(args.numbers, "scattered")
    limits = Limits(args.genesys_per_minute, args.twilio_limit, args.latency_ms, args.time_scale)

    sandbox = RemoteSandbox(args.time_scale)
    try:
        bench = Bench(sandbox)
        started = time.perf_counter()
        paced = run(bench, numbers, limits, label="byoc (paced)", paced=True)
        real_s = time.perf_counter() - started
        baseline = None
        if not args.no_baseline:
            bench.reset()
            unpaced = run(bench, numbers, limits, paced=False,
                          label="baseline (no pacing: only 429s slow byoc down)")
            baseline = {k: unpaced[k] for k in ("wall_s", "bound_s", "efficiency",
                                                 "rate_limited_ratio", "active")}
        print(json.dumps({
            "numbers": len(numbers),
            "wall_s": paced["wall_s"],
            "bound_s": paced["bound_s"],
            "efficiency": paced["efficiency"],
            "rate_limited_ratio": paced["rate_limited_ratio"],
            "bound_by": paced["bound_by"],
            "time_scale": args.time_scale,
            "real_s": round(real_s, 1),
            "calls": paced["calls"],
            "rate_limited": paced["rate_limited"],
            "rounds": paced["rounds"],
            "active": paced["active"],
            "baseline": baseline,
        }))
    finally:
        sandbox.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
