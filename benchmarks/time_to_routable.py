"""Benchmark: time from a purchase to "active" on every target, through devhost.

What a user feels after buying a number. The function app runs under devhost with the real
`host.json` (queue polling, batch size) and its timers on their real schedules (the Twilio Monitor
poll every minute); storage is a local Azurite on free ports; the sandbox runs in its own process
with `--latency-ms` (150 ms) added to every vendor call. The estate is converged first (a resync
and a first poll). Then, one purchase at a time, the number's inventory record is read every 0.1 s
until it is `active` (on Twilio, both SBCs and Genesys):

- `webhook`: bought in the Twilio console, then a signed `POST /api/twilio/numbers` says so;
- `purchase`: bought through byoc, `POST /api/numbers/purchase {"area_code": "415", "count": 1}`;
- `poll`: bought in the console with no webhook; the Monitor Events poll finds it. These purchases
  are spread over `--poll-spread-s` so they meet the minute timer at different points.
- `purchase_to_call`: for each `purchase` sample, from the purchase until the first successful
  `byoc test-call` returns (a real SIP call through the Twilio, SBC and Genesys emulators, tried
  every 0.5 s from the moment the number is active; the call itself holds the line about 1 s). The
  SBCs first get `byoc sbc render-config` uploaded once, as an operator does.

Baseline, measured in the same run: the webhook path with no added latency (what queue polling and
byoc itself cost).

    python benchmarks/time_to_routable.py [-n 10] [--poll-n 8] [--latency-ms 150]

Prints per path one JSON object {"path", "p50_s", "p95_s", "max_s", "n"}; the last line is the
webhook path's, with the baseline and the purchase-to-call figures. Targets: p95 < 15 s
(webhook, purchase), < 90 s (poll).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(Path(__file__).resolve().parent), str(ROOT), str(ROOT / "tests")]

from api_economy import sandbox_call  # noqa: E402
from throughput import Limits, RemoteSandbox, set_limits  # noqa: E402

TIMEOUT_S = 180.0
FIRST_NUMBER = 14155552000  # console purchases: the managed block, away from the seed's numbers


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def summary(path: str, times: list[float], **extra: Any) -> dict[str, Any]:
    return {"path": path, "p50_s": round(percentile(times, 0.5), 2),
            "p95_s": round(percentile(times, 0.95), 2), "max_s": round(max(times), 2),
            "n": len(times), **extra}


class Estate:
    """devhost on Azurite against the sandbox, and the calls a user (or Twilio) makes."""

    def __init__(self, sandbox: RemoteSandbox, azurite_connection: str) -> None:
        from byoc.bootstrap import get_services, reset_services
        from byoc.entrypoints.devhost import DevHost
        from sandbox.__main__ import settings_for

        self.ports = sandbox.ports()
        self.ca = str(sandbox.ca_bundle)
        for key in [k for k in os.environ if k.startswith("BYOC_")]:
            del os.environ[key]
        os.environ.update(settings_for(self.ports, azurite=azurite_connection))
        reset_services()
        import function_app

        self.services = get_services()
        self.host = DevHost(function_app.app, host_json=ROOT / "host.json", port=0,
                            timers=True).start()
        self.base = f"http://127.0.0.1:{self.host.port}"
        self._numbers = iter(range(FIRST_NUMBER, FIRST_NUMBER + 5000))
        self.call_times: list[float] = []
        self.test_calls = False

    def apply_sbc_configuration(self) -> None:
        """What an operator does once per SBC: `byoc sbc render-config`, uploaded."""
        from rich.console import Console

        from byoc.entrypoints.demo import _apply_sbc_configuration

        _apply_sbc_configuration(Console(file=sys.stderr), self.services)

    def first_successful_call(self, number: str, started: float) -> float:
        test_call = self.services.test_call
        test_call.genesys_wait_s = 2.0
        while time.monotonic() - started < TIMEOUT_S:
            if test_call.run(number).ok:
                return time.monotonic() - started
            time.sleep(0.5)
        raise SystemExit(f"no successful test call to {number} in {TIMEOUT_S:.0f} s")

    def stop(self) -> None:
        self.host.stop()

    def http(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        response = httpx.request(method, self.base + path, timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def state(self, number: str) -> str | None:
        record = self.services.inventory.get(number)
        return record.state.value if record else None

    def wait_active(self, number: str, started: float) -> float:
        while time.monotonic() - started < TIMEOUT_S:
            if self.state(number) == "active":
                return time.monotonic() - started
            time.sleep(0.1)
        raise SystemExit(f"{number} not active after {TIMEOUT_S:.0f} s (state {self.state(number)})")

    def settle(self, timeout_s: float = TIMEOUT_S) -> None:
        """Wait until the queue is empty and nothing is onboarding or releasing."""
        deadline = time.monotonic() + timeout_s
        quiet_since: float | None = None
        while time.monotonic() < deadline:
            busy = self.services.queue.depth() > 0 or any(
                r.state.value in ("onboarding", "releasing") for r in self.services.inventory.all())
            if busy:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 3:
                return
            time.sleep(0.5)
        raise SystemExit("the estate did not settle (queue or onboarding numbers left)")

    def console_purchase(self) -> tuple[str, str]:
        number = f"+{next(self._numbers)}"
        bought = sandbox_call(self.ports["twilio"], self.ca, "POST", "/_sandbox/twilio/purchase",
                              {"phone_number": number})
        return number, str(bought["sid"])

    def signed_webhook(self, number: str, sid: str) -> None:
        from twilio.request_validator import RequestValidator

        params = {"EventId": f"bench-{sid}", "Action": "purchased", "PhoneNumber": number,
                  "PhoneNumberSid": sid}
        token = self.services.secret("twilio_auth_token")
        signature = RequestValidator(token).compute_signature(
            self.services.settings.twilio_webhook_url, params)
        self.http("POST", "/api/twilio/numbers", content=urlencode(params).encode(),
                  headers={"Content-Type": "application/x-www-form-urlencoded",
                           "X-Twilio-Signature": signature})


def webhook_sample(estate: Estate) -> float:
    number, sid = estate.console_purchase()
    started = time.monotonic()
    estate.signed_webhook(number, sid)
    return estate.wait_active(number, started)


def purchase_sample(estate: Estate) -> float:
    started = time.monotonic()
    bought = estate.http("POST", "/api/numbers/purchase", json={"area_code": "415", "count": 1})
    active = estate.wait_active(bought["numbers"][0], started)
    if estate.test_calls:
        estate.call_times.append(estate.first_successful_call(bought["numbers"][0], started))
    return active


def sequential(label: str, sample: Callable[[Estate], float], estate: Estate, n: int) -> list[float]:
    times = []
    for _ in range(n):
        times.append(sample(estate))
        time.sleep(1.0)
    print(f"{label}: {', '.join(f'{t:.1f}' for t in times)} s")
    return times


def poll_samples(estate: Estate, n: int, spread_s: float) -> list[float]:
    """Console purchases spread over `spread_s`, each timed until active, all in flight at once."""
    times: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one(number: str, started: float) -> None:
        try:
            elapsed = estate.wait_active(number, started)
        except SystemExit as exc:
            with lock:
                errors.append(str(exc))
            return
        with lock:
            times.append(elapsed)

    threads = []
    for i in range(n):
        number, _ = estate.console_purchase()
        thread = threading.Thread(target=one, args=(number, time.monotonic()), daemon=True)
        thread.start()
        threads.append(thread)
        if i < n - 1:
            time.sleep(spread_s / n)
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit("; ".join(errors))
    print(f"poll: {', '.join(f'{t:.1f}' for t in sorted(times))} s")
    return times


def set_latency(estate: Estate, latency_ms: float) -> None:
    for url in [estate.ports["twilio"], estate.ports["genesys"], estate.ports["arm"],
                estate.ports["keyvault"], *estate.ports["audiocodes"]]:
        sandbox_call(url, estate.ca, "DELETE", "/_sandbox/faults")
    set_limits_for(estate, latency_ms)


def set_limits_for(estate: Estate, latency_ms: float) -> None:
    class _Ports:
        ports, ca = estate.ports, estate.ca

    set_limits(_Ports, Limits(genesys_per_minute=300, twilio_limit=100,  # type: ignore[arg-type]
                              latency_ms=latency_ms, scale=1.0))


def azurite_running() -> Iterator[Any]:
    from azurite import start_azurite

    azurite = start_azurite()
    try:
        yield azurite
    finally:
        azurite.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="samples per webhook/purchase path")
    parser.add_argument("--poll-n", type=int, default=8, help="samples of the poll path")
    parser.add_argument("--poll-spread-s", type=float, default=60.0)
    parser.add_argument("--latency-ms", type=float, default=150.0)
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--no-test-call", action="store_true",
                        help="skip the purchase-to-first-successful-call figures")
    args = parser.parse_args(argv)

    import logging

    logging.basicConfig(level=logging.ERROR)
    azurite_gen = azurite_running()
    azurite = next(azurite_gen)
    sandbox = RemoteSandbox(1.0)
    estate: Estate | None = None
    try:
        estate = Estate(sandbox, azurite.connection_string)
        set_limits_for(estate, args.latency_ms)
        started = time.monotonic()
        estate.http("POST", "/admin/functions/twilio_poll", json={})  # first poll: the cursor
        estate.http("POST", "/api/resync")
        estate.settle()
        print(f"estate converged in {time.monotonic() - started:.1f} s; "
              f"{len(estate.services.inventory.all())} numbers in the inventory")
        if not args.no_test_call:
            estate.apply_sbc_configuration()
            estate.test_calls = True

        results = []
        if args.poll_n:
            results.append(summary("poll", poll_samples(estate, args.poll_n, args.poll_spread_s),
                                   target_p95_s=90))
            estate.settle()
        purchase = sequential("purchase", purchase_sample, estate, args.n)
        results.append(summary("purchase", purchase, target_p95_s=15))
        calls = None
        if estate.call_times:
            print(f"purchase to first successful test call: "
                  f"{', '.join(f'{t:.1f}' for t in estate.call_times)} s")
            calls = summary("purchase_to_call", estate.call_times)
            results.append(calls)
            estate.test_calls = False
        webhook = sequential("webhook", webhook_sample, estate, args.n)
        baseline = None
        if not args.no_baseline:
            estate.settle()
            set_latency(estate, 0)
            quick = sequential("webhook, no vendor latency (baseline)", webhook_sample, estate,
                               args.n)
            baseline = {"latency_ms": 0, "p50_s": round(percentile(quick, 0.5), 2),
                        "p95_s": round(percentile(quick, 0.95), 2)}
        results.append(summary("webhook", webhook, target_p95_s=15,
                               latency_ms=args.latency_ms, baseline=baseline,
                               purchase_to_call=calls))
        for result in results:
            print(json.dumps(result))
    finally:
        if estate is not None:
            estate.stop()
        sandbox.stop()
        next(azurite_gen, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
