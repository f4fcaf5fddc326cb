"""Chaos soak: number events through signed webhooks into two devhost workers, under vendor faults
and worker kills; at the end every target must equal the desired state.

    python benchmarks/soak.py            # full run: 1,000 events (about 25 minutes on two cores)
    python benchmarks/soak.py --quick    # the CI variant, 16 events (tests/reliability/test_soak.py)

What one run does (docs/reliability.md has the details and the figures):

1. Starts Azurite (fresh, in memory), every sandbox emulator (`python -m sandbox`, own process) and
   `--workers` devhost processes (queue worker + HTTP, no timers) on free loopback ports.
2. Writes an event script: purchases (a number bought in the Twilio console, then a signed
   `purchased` notice) and releases (a number bought earlier released in the Twilio console, then
   a signed `released` notice: a notice is a hint, it never releases at Twilio itself), 10% of the
   notices sent twice (the copy up to 60 notices later), 5% delivered late
   (up to 10 notices later; never past the same number's other event). Notices go out in waves.
3. Injects faults in every emulator: 10% 5xx, 5% 429 with Retry-After (not at the SBCs, which do
   not send 429), 2% hangs past the client timeout (half holding only the answer of a call that
   landed; not at ARM), SBC HA-sync 409s and Genesys IVR version conflicts; and kills a worker
   process as it is about to write to a vendor `--kills` times (restarting it).
4. After the last wave, fires the reconcile timer (as Azure would every 15 minutes) until the
   estate settles, replays the poison queue, and checks every target against the script's end state
   through the emulators' own state (not byoc's view): Twilio trunk, both SBC dial plans (the
   device's matcher, saved), Genesys DID pools and routing, and the inventory.

Before the chaos run the same script runs once without faults or kills: its vendor write calls are
`min_write_calls`. `write_calls` counts the chaos run's write calls that reached the vendor (the
attempts an injected fault turned away are printed beside it). Prints figures, then as its last
line one JSON object:
{"events", "faults_injected", "worker_kills", "converged", "lost", "duplicates", "poison",
 "write_calls", "min_write_calls", "wall_s"}.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, not installed
sys.path.insert(0, str(ROOT / "tests"))

PUBLIC_URL = "https://soak.byoc.example.net/api/twilio/numbers"
AUTH_TOKEN = "sandbox-twilio-auth-token"  # the sandbox account's token (sandbox/seeds/twilio.yaml)
FIRST_NUMBER = 14155551000
NUMBER_SPACE = 2000
"""Purchases come from +14155551000..+14155552999 (managed by the sandbox policy, default route)."""
SEEDED = [f"+1415555{n:04d}" for n in range(100, 120)] + ["+14155550150"]
"""Managed numbers the Twilio seed already owns: the first syncs onboard them too."""
LATE_MAX = 10
"""A late notice arrives up to this many notices after its place."""
COPY_MAX = 60
"""A copy of a notice arrives up to this many notices after the original."""
VENDORS = ("twilio", "genesys", "sbc", "nsg")
QUICK = {"events": 16, "wave": 8, "wave_pause": 3.0, "message_visibility": 8.0,
         "reconcile_every": 4.0, "kill_spacing": 2.0, "settle": 120.0}
"""`--quick`: the CI variant (tests/reliability/test_soak.py), about a minute on two cores."""


# --- the event script ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Notice:
    """One event of the script: a purchase or a release request of one number."""

    index: int
    action: str  # purchased | released
    number: str
    event_id: str


@dataclass
class Script:
    """What is sent, in delivery order, and the end state it asks for."""

    events: list[Notice]
    deliveries: list[Notice]
    duplicated: int
    late: int

    @property
    def purchased(self) -> list[str]:
        return [e.number for e in self.events if e.action == "purchased"]

    @property
    def released(self) -> set[str]:
        return {e.number for e in self.events if e.action == "released"}

    def present(self) -> set[str]:
        return (set(SEEDED) | set(self.purchased)) - self.released


def write_script(count: int, seed: int, *, release_share: float = 0.3, dup_share: float = 0.1,
                 late_share: float = 0.05) -> Script:
    rng = random.Random(seed)
    # A release request comes this many events after its number's purchase, or later: more than
    # LATE_MAX, so a late notice never overtakes the other event of its number.
    release_gap = max(LATE_MAX + 2, min(40, count // 4))
    pool = [f"+{FIRST_NUMBER + i}" for i in rng.sample(range(NUMBER_SPACE), NUMBER_SPACE)]
    events: list[Notice] = []
    bought: list[tuple[int, str]] = []
    for index in range(count):
        releasable = [b for b in bought if b[0] <= index - release_gap]
        if releasable and rng.random() < release_share:
            at, number = releasable[rng.randrange(len(releasable))]
            bought.remove((at, number))
            events.append(Notice(index, "released", number, f"soak-{seed}-{index}-rel"))
        else:
            number = pool.pop()
            bought.append((index, number))
            events.append(Notice(index, "purchased", number, f"soak-{seed}-{index}-buy"))
    # Late delivery: an event moves back by up to LATE_MAX places. Copies: the same notice again,
    # up to COPY_MAX later (a copy of a purchase may come after the number's release).
    slots: list[tuple[float, Notice]] = [(float(e.index), e) for e in events]
    late = rng.sample(range(count), max(1, round(late_share * count)))
    for position in late:
        slots[position] = (position + rng.randint(1, LATE_MAX) + 0.5, events[position])
    copied = rng.sample(range(count), max(1, round(dup_share * count)))
    for position in copied:
        slots.append((position + rng.randint(1, COPY_MAX) + 0.25, events[position]))
    deliveries = [e for _, e in sorted(slots, key=lambda s: s[0])]
    return Script(events=events, deliveries=deliveries, duplicated=len(copied), late=len(late))


# --- processes ------------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Sandbox:
    """Every emulator in its own process (`python -m sandbox`), and a client for /_sandbox."""

    def __init__(self, workdir: Path) -> None:
        ports_file = workdir / "ports.json"
        self.log = (workdir / "sandbox.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sandbox", "--ports-file", str(ports_file)],
            cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while not ports_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the sandbox did not start (see {workdir / 'sandbox.log'})")
            time.sleep(0.1)
        time.sleep(0.1)
        self.ports: dict[str, Any] = json.loads(ports_file.read_text())
        import httpx

        self.http = httpx.Client(verify=self.ports["ca_bundle"], timeout=60)

    def urls(self, vendor: str) -> list[str]:
        if vendor == "sbc":
            return list(self.ports["audiocodes"])
        if vendor == "nsg":
            return [self.ports["arm"]]
        return [self.ports[vendor]]

    def call(self, url: str, method: str, path: str, body: Any = None) -> Any:
        import httpx

        for attempt in range(3):
            try:
                response = self.http.request(method, url + path, json=body)
                break
            except (httpx.RemoteProtocolError, httpx.ConnectError):
                # The server closed an idle keep-alive connection as this call reused it.
                if attempt == 2:
                    raise
        response.raise_for_status()
        return response.json() if response.content else None

    def reset(self) -> None:
        for url in [*self.urls("twilio"), *self.urls("genesys"), *self.urls("sbc"),
                    *self.urls("nsg"), self.ports["keyvault"]]:
            self.call(url, "POST", "/_sandbox/reset")

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@dataclass
class WorkerProcess:
    """One devhost process (HTTP + queue worker), restartable."""

    name: str
    env: dict[str, str]
    workdir: Path
    run: str = "run"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def marks(self) -> Path:
        return self.workdir / f"{self.run}-{self.name}.writes"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.port = free_port()
        self.starts += 1
        self.marks.write_text("")
        log = (self.workdir / f"{self.run}-{self.name}.{self.starts}.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", "--port", str(self.port),
             "--marks", str(self.marks)],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        import httpx

        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/health", timeout=1).status_code == 200:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {self.name} did not start (see {self.workdir})")
            time.sleep(0.1)

    def writes_seen(self) -> int:
        try:
            return self.marks.stat().st_size
        except FileNotFoundError:
            return 0

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# --- faults ----------------------------------------------------------------------------------------


def fault_plan(vendor: str, client_timeout_s: float, scale: float) -> list[dict[str, Any]]:
    """The faults one emulator gets: generic ones first come first served, then vendor kinds."""
    hang_s = client_timeout_s + 1.5
    vendor_routes = {"twilio": r"^/(trunking|api)/", "genesys": r"^/api/v2/",
                     "sbc": r"^/api/v1/", "nsg": r"^/subscriptions/", "keyvault": r"^/secrets/"}
    route = vendor_routes[vendor]
    p5xx, p429, phang = 0.10 * scale, 0.05 * scale, 0.02 * scale
    faults: list[dict[str, Any]] = []
    if vendor != "nsg":
        # Half the hangs hold the call before the emulator (nothing lands), half hold only the
        # answer (the write lands, the client times out): both look the same to the client.
        faults.append({"route": route, "hang": True, "hang_s": hang_s, "probability": phang / 2})
        faults.append({"route": route, "hang": True, "after": True, "hang_s": hang_s,
                       "probability": phang / 2 / (1 - phang / 2)})
    if vendor == "twilio":
        faults.append({"route": route, "status": 429, "headers": {"Retry-After": "1"},
                       "body": {"code": 20429, "message": "Too Many Requests", "status": 429},
                       "probability": p429 / (1 - phang)})
    elif vendor in ("genesys", "nsg"):
        faults.append({"route": route, "status": 429, "headers": {"Retry-After": "1"},
                       "body": {"message": "Rate limit exceeded the maximum", "code": "too.many.requests",
                                "status": 429}, "probability": p429 / (1 - phang)})
    remaining = 1 - phang - (0 if vendor in ("sbc", "keyvault") else p429)
    for status, share in ((500, 0.4), (503, 0.6)):
        faults.append({"route": route, "status": status, "probability": p5xx * share / remaining,
                       "body": {"message": "injected by the soak", "status": status}})
        remaining -= p5xx * share
    if vendor == "sbc":
        faults.append({"kind": "ha_sync", "probability": 0.10 * scale})
    if vendor == "genesys":
        faults.append({"kind": "version_conflict", "probability": 0.10 * scale})
    return [f for f in faults if f.get("probability", 1) > 0]


def inject_faults(sandbox: Sandbox, client_timeout_s: float, scale: float) -> None:
    for vendor in VENDORS:
        for url in sandbox.urls(vendor):
            sandbox.call(url, "POST", "/_sandbox/faults", fault_plan(vendor, client_timeout_s, scale))


def faults_injected(sandbox: Sandbox) -> int:
    total = 0
    for vendor in VENDORS:
        for url in sandbox.urls(vendor):
            total += sum(f["fired"] for f in sandbox.call(url, "GET", "/_sandbox/faults")["faults"])
    return total


def clear_faults(sandbox: Sandbox) -> None:
    for vendor in VENDORS:
        for url in sandbox.urls(vendor):
            sandbox.call(url, "DELETE", "/_sandbox/faults")


def write_calls(sandbox: Sandbox) -> tuple[dict[str, int], int]:
    """Vendor write calls per vendor that reached the vendor, and write attempts an injected
    fault turned away before it (answered by the fault, or held until the client gave up).
    Genesys token requests and searches (POSTs that change nothing) are not write calls."""
    writes: dict[str, int] = {}
    turned_away = 0
    for vendor in VENDORS:
        count = 0
        for url in sandbox.urls(vendor):
            log = sandbox.call(url, "GET", "/_sandbox/requests")
            for request in log["requests"]:
                if request["method"] in ("GET", "HEAD", "OPTIONS") or request["path"] == \
                        "/oauth/token" or request["path"].endswith("/search"):
                    continue
                if request.get("fault") in ("answered", "held"):
                    turned_away += 1
                else:
                    count += 1
        writes[vendor] = count
    return writes, turned_away


# --- one run ---------------------------------------------------------------------------------------


@dataclass
class RunResult:
    converged: bool
    lost: int
    leftover: int
    duplicates: int
    poison_before_replay: int
    poison: int
    writes: dict[str, int]
    turned_away: int
    faults: int
    kills: int
    wall_s: float
    settle_s: float
    problems: list[str] = field(default_factory=list)

    @property
    def write_calls(self) -> int:
        return sum(self.writes.values())


class Run:
    """One pass of the script against a fresh Azurite and a reset sandbox."""

    def __init__(self, sandbox: Sandbox, script: Script, args: argparse.Namespace, workdir: Path,
                 *, chaos: bool) -> None:
        self.sandbox = sandbox
        self.script = script
        self.args = args
        self.workdir = workdir
        self.chaos = chaos
        self.kills = 0
        self.t0 = time.monotonic()
        self._stop = threading.Event()
        self._killer_thread = threading.Thread()
        self.wave = 0
        self.workers: list[WorkerProcess] = []
        self.env: dict[str, str] = {}
        self.sids: dict[str, str] = {}
        self.console_released: set[str] = set()

    # --- setup ---

    def environment(self, connection_string: str) -> dict[str, str]:
        from sandbox.__main__ import settings_for

        env = {k: v for k, v in os.environ.items() if not k.startswith("BYOC_")}
        suffix = uuid.uuid4().hex[:10]
        env.update(settings_for(self.sandbox.ports, azurite=connection_string))
        env.update({
            "BYOC_TWILIO_WEBHOOK_URL": PUBLIC_URL,
            "BYOC_INVENTORY_TABLE": f"inv{suffix}",
            "BYOC_OPERATIONS_TABLE": f"ops{suffix}",
            "BYOC_STATE_TABLE": f"st{suffix}",
            "BYOC_LOCK_CONTAINER": f"locks-{suffix}",
            "BYOC_LOCK_LEASE_S": "15",
            "BYOC_SBC_TIMEOUT_S": str(self.args.client_timeout),
            "BYOC_TWILIO_TIMEOUT_S": str(self.args.client_timeout),
            "BYOC_GENESYS_CONNECT_TIMEOUT_S": str(self.args.client_timeout),
            "BYOC_GENESYS_READ_TIMEOUT_S": str(self.args.client_timeout),
            "BYOC_GENESYS_REQUESTS_PER_MINUTE": "6000",
            "BYOC_LOG_LEVEL": "INFO",
            "SOAK_MESSAGE_VISIBILITY_S": str(self.args.message_visibility),
            "PYTHONUNBUFFERED": "1",
        })
        return env

    def execute(self) -> RunResult:
        from azurite import start_azurite

        started = self.t0 = time.monotonic()
        self.sandbox.reset()
        self.sandbox.call(self.sandbox.ports["genesys"], "POST", "/_sandbox/genesys/limits",
                          {"rate_limit_per_minute": 6000})
        azurite = start_azurite()
        try:
            self.env = self.environment(azurite.connection_string)
            run = "chaos" if self.chaos else "baseline"
            self.workers = [WorkerProcess(f"w{i + 1}", self.env, self.workdir, run)
                            for i in range(self.args.workers)]
            starting = [threading.Thread(target=w.start) for w in self.workers]
            for thread in starting:
                thread.start()
            for thread in starting:
                thread.join()
            if not all(w.process and w.process.poll() is None for w in self.workers):
                raise RuntimeError(f"a worker did not start (see {self.workdir})")
            if self.chaos:
                inject_faults(self.sandbox, self.args.client_timeout, self.args.fault_scale)
            self._killer_thread = threading.Thread(target=self._killer, daemon=True)
            if self.chaos:
                self._killer_thread.start()
            self._deliver()
            settle_started = time.monotonic()
            self._settle()
            settle_s = time.monotonic() - settle_started
            self._stop.set()
            if self._killer_thread.is_alive():
                self._killer_thread.join()
            faults = faults_injected(self.sandbox) if self.chaos else 0
            clear_faults(self.sandbox)
            poison_before, poison = self._replay_poison()
            writes, turned_away = write_calls(self.sandbox)
            check = self._check()
            return RunResult(
                converged=check.converged, lost=check.lost, leftover=check.leftover,
                duplicates=check.duplicates, poison_before_replay=poison_before, poison=poison,
                writes=writes, turned_away=turned_away, faults=faults, kills=self.kills,
                wall_s=time.monotonic() - started, settle_s=settle_s, problems=check.problems,
            )
        finally:
            for worker in self.workers:
                worker.stop()
            azurite.stop()

    # --- delivery ---

    def _deliver(self) -> None:
        wave = self.args.wave
        deliveries = self.script.deliveries
        for start in range(0, len(deliveries), wave):
            print(f"  wave {start // wave + 1}: notices {start + 1}-"
                  f"{min(start + wave, len(deliveries))} at {time.monotonic() - self.t0:.1f}s",
                  flush=True)
            self.wave = start // wave
            for notice in deliveries[start:start + wave]:
                if notice.action == "purchased" and notice.number not in self.sids:
                    self.sids[notice.number] = self.sandbox.call(
                        self.sandbox.ports["twilio"], "POST", "/_sandbox/twilio/purchase",
                        {"phone_number": notice.number})["sid"]
                if notice.action == "released" and notice.number not in self.console_released:
                    # A notice never releases at Twilio (it is a hint byoc confirms there): the
                    # number is released in the console, and the notice tells byoc to look.
                    self.console_released.add(notice.number)
                    self.sandbox.call(self.sandbox.ports["twilio"], "POST",
                                      "/_sandbox/twilio/release", {"phone_number": notice.number})
                self._send(notice)
            self._wait_idle(self.args.wave_pause)

    def _send(self, notice: Notice) -> None:
        import httpx
        from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

        params = {"EventId": notice.event_id, "Action": notice.action,
                  "PhoneNumber": notice.number}
        if notice.action == "purchased":
            params["PhoneNumberSid"] = self.sids[notice.number]
        signature = RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_URL, params)
        body = urlencode(params)
        headers = {"X-Twilio-Signature": signature,
                   "Content-Type": "application/x-www-form-urlencoded"}
        for attempt in range(60):  # a killed worker answers nothing: the sender tries another
            worker = self.workers[(notice.index + attempt) % len(self.workers)]
            try:
                response = httpx.post(f"{worker.url}/api/twilio/numbers", content=body,
                                      headers=headers, timeout=10)
            except httpx.HTTPError:
                time.sleep(0.2)
                continue
            if response.status_code in (200, 202):  # 200: a copy, answered as a duplicate
                return
            if response.status_code == 429:  # the sender's rate: wait as told
                time.sleep(float(response.headers.get("Retry-After", "1")))
                continue
            if response.status_code < 500:
                raise RuntimeError(f"notice refused: {response.status_code} {response.text}")
            time.sleep(0.2)
        raise RuntimeError(f"notice {notice.event_id} could not be delivered")

    def _queue_depths(self) -> tuple[int, int]:
        from azure.storage.queue import QueueClient

        from byoc.names import POISON_QUEUE_NAME, QUEUE_NAME

        out = []
        for name in (QUEUE_NAME, POISON_QUEUE_NAME):
            client = QueueClient.from_connection_string(self.env["AzureWebJobsStorage"], name)
            try:
                out.append(int(client.get_queue_properties().approximate_message_count or 0))
            except Exception:
                out.append(0)
        return out[0], out[1]

    def _wait_idle(self, pause_s: float) -> None:
        """Until the job queue is empty (visible and hidden messages) or `pause_s` passed."""
        deadline = time.monotonic() + pause_s
        while time.monotonic() < deadline:
            if self._queue_depths()[0] == 0:
                return
            time.sleep(0.25)

    # --- kills ---

    def _killer(self) -> None:
        """Kill a worker right as it is about to write to a vendor, `--kills` times (during the
        waves and, if need be, while the estate settles); give up after 30 s without a write."""
        spacing = max(1.0, self.args.kill_spacing)
        self._stop.wait(spacing)
        waves = -(-len(self.script.deliveries) // self.args.wave)
        while self.kills < self.args.kills and not self._stop.is_set():
            # Spread over the first waves: kill k comes no earlier than wave k * waves / (kills + 2).
            due = (self.kills + 1) * waves // (self.args.kills + 2)
            while self.wave < due and not self._stop.is_set():
                time.sleep(0.1)
            seen = [w.writes_seen() for w in self.workers]
            deadline = time.monotonic() + 30
            victim = None
            while victim is None and time.monotonic() < deadline:
                if self._stop.is_set():
                    return
                victim = next((w for w, before in zip(self.workers, seen, strict=True)
                               if w.writes_seen() != before), None)
                time.sleep(0.01)
            if victim is None:
                print("  no write to interrupt for 30 s; no more kills", flush=True)
                return
            victim.kill()
            self.kills += 1
            print(f"  killed worker {victim.name} mid-sync ({self.kills}/{self.args.kills}) at "
                  f"{time.monotonic() - self.t0:.1f}s", flush=True)
            victim.start()
            self._stop.wait(spacing)

    # --- settling ---

    def _fire_reconcile(self) -> None:
        import httpx

        for worker in self.workers:
            with contextlib.suppress(httpx.HTTPError):
                httpx.post(f"{worker.url}/admin/functions/reconcile", json={}, timeout=10)
                return

    def _settle(self) -> None:
        """Fire the reconcile timer (as Azure does every 15 minutes, here every
        `--reconcile-every` seconds) until the estate equals the end state, or `--settle` runs out."""
        deadline = time.monotonic() + self.args.settle
        fired = 0.0
        passes = 0
        while time.monotonic() < deadline:
            if time.monotonic() - fired >= self.args.reconcile_every:
                self._fire_reconcile()
                fired = time.monotonic()
                passes += 1
            time.sleep(1.5)
            check = self._check(quick=True)
            if check.converged and not self._killer_thread.is_alive():
                print(f"  settled at {time.monotonic() - self.t0:.1f}s after {passes} reconcile "
                      "timer run(s)", flush=True)
                return
        print(f"  not settled after {self.args.settle:.0f}s: {'; '.join(check.problems)[:400]}",
              flush=True)

    def _replay_poison(self) -> tuple[int, int]:
        _, before = self._queue_depths()
        if before:
            services = self._services()
            from byoc.services.poison import PoisonQueue

            PoisonQueue(services.queue).replay()
            self._wait_idle(self.args.wave_pause)
            self._settle()
        return before, self._queue_depths()[1]

    def _services(self) -> Any:
        from byoc.bootstrap import Services
        from byoc.settings import load_settings

        saved = dict(os.environ)
        try:
            os.environ.clear()
            os.environ.update(self.env)
            return Services(load_settings())
        finally:
            os.environ.clear()
            os.environ.update(saved)

    # --- the end state ---

    def _check(self, quick: bool = False) -> Check:
        return check_estate(self.sandbox, self.script, self._services(), quick=quick)


@dataclass
class Check:
    converged: bool
    lost: int
    leftover: int
    duplicates: int
    problems: list[str]


def check_estate(sandbox: Sandbox, script: Script, services: Any, *, quick: bool) -> Check:
    """Every target against the script's end state, read from the emulators' own state."""
    from byoc.domain.inventory import NumberState

    present = script.present()
    gone = script.released
    policy = services.policy()
    problems: list[str] = []
    missing: set[str] = set()
    leftover: set[str] = set()
    duplicates = 0

    twilio = sandbox.call(sandbox.ports["twilio"], "GET", "/_sandbox/state")
    trunk = twilio["trunks"][0]
    on_trunk = set(trunk["phone_numbers"])
    owned = {n["phone_number"] for n in twilio["numbers"]}
    missing |= present - on_trunk
    leftover |= gone & owned
    hosts = Counter(u["sip_url"].split(":")[1].split(";")[0] for u in trunk["origination_urls"])
    duplicates += sum(c - 1 for c in hosts.values() if c > 1)

    wanted = sorted(present)
    for url in sandbox.urls("sbc"):
        device = sandbox.call(url, "GET", "/_sandbox/state")
        if device["save_needed"] or device["saved_dial_plans"] != device["dial_plans"]:
            problems.append(f"{device['name']}: the running dial plan is not saved")
        if device["reset_count"]:
            problems.append(f"{device['name']}: reset {device['reset_count']} time(s)")
        numbers = sorted(present | gone)
        results = sandbox.call(url, "POST", "/_sandbox/dialplan/match",
                               {"plan": "BYOC", "numbers": numbers})["results"]
        for result in results:
            number = result["number"]
            rule = result["rule"] or {}
            ours = str(rule.get("name", "")).startswith("byoc-")
            if number in present:
                tag = policy.route_for(number).sbc_tag
                if not ours or result["tag"] != tag:
                    missing.add(number)
            elif ours:
                leftover.add(number)
            owned_matches = [c for c in result["candidates"] if c["name"].startswith("byoc-")]
            duplicates += max(0, len(owned_matches) - 1)

    genesys = sandbox.call(sandbox.ports["genesys"], "GET", "/_sandbox/state")
    pools = [p for p in genesys["did_pools"] if p.get("state") != "deleted"]
    owners = {d["number"]: d for d in genesys["dids"]}
    for number in wanted + sorted(gone):
        covering = [p for p in pools
                    if len(p["startPhoneNumber"]) == len(number)
                    and p["startPhoneNumber"] <= number <= p["endPhoneNumber"]]
        duplicates += max(0, len(covering) - 1)
        route = policy.route_for(number)
        holder = owners.get(number)
        if number in present:
            if not covering:
                missing.add(number)
            if route.genesys_name and (
                holder is None or str(holder.get("ownerName", "")).casefold()
                not in (route.genesys_name.casefold(),)
            ) and not _user_holds(genesys, number, route.genesys_name):
                missing.add(number)
        else:
            if any("managed-by:byoc" in (p.get("description") or "") for p in covering):
                leftover.add(number)
            if holder is not None:
                leftover.add(number)
    held = Counter(n for ivr in genesys["ivrs"] for n in ivr.get("dnis", []))
    duplicates += sum(c - 1 for c in held.values() if c > 1)

    records = {r.number: r for r in services.inventory.all()}
    for number in wanted:
        record = records.get(number)
        if record is None or record.state is not NumberState.ACTIVE:
            problems.append(f"inventory: {number} is "
                            f"{record.state.value if record else 'absent'}, not active")
    for number in sorted(gone):
        record = records.get(number)
        if record is not None and record.state is not NumberState.RELEASED:
            problems.append(f"inventory: {number} is {record.state.value}, not released")
    syncs = services.state.items("sync")
    for target in services.registry.targets():
        sync = syncs.get(target) or {}
        if not sync.get("converged") or sync.get("refused") or sync.get("error"):
            problems.append(f"{target}: last sync "
                            f"{sync.get('refused') or sync.get('error') or 'not converged'}"[:200])
    for plan in [] if quick else services.reconcile.plan("all"):
        if not plan.is_empty:
            problems.append(f"byoc still plans changes for {plan.target}: "
                            f"{plan.render_text()[:300]}")
    if missing:
        problems.append(f"{len(missing)} number(s) not where they should be: "
                        f"{sorted(missing)[:8]}")
    if leftover:
        problems.append(f"{len(leftover)} released number(s) still somewhere: "
                        f"{sorted(leftover)[:8]}")
    converged = not missing and not leftover and not duplicates and not problems
    return Check(converged=converged, lost=len(missing), leftover=len(leftover),
                 duplicates=duplicates, problems=problems)


def _user_holds(genesys: dict[str, Any], number: str, email: str) -> bool:
    for user in genesys["users"]:
        if str(user.get("email", "")).casefold() != email.casefold():
            continue
        for address in user.get("addresses", []):
            if address.get("address") == number or address.get("display") == number:
                return True
    return False


# --- the worker process ------------------------------------------------------------------------------


def run_worker(port: int, marks: Path) -> int:
    """A devhost worker for the soak: short message visibility, every vendor write marked.

    The marks tell the soak when this process is about to write (`TargetLease.check()` runs before
    every vendor write), so a kill lands mid-sync. The short client timeouts that make injected
    hangs cost seconds come from the worker's environment (`BYOC_*_TIMEOUT_S`, see `environment`).
    """
    visibility_s = int(float(os.environ["SOAK_MESSAGE_VISIBILITY_S"]))

    from byoc.adapters.lock import TargetLease
    from byoc.adapters.queue import StorageJobQueue

    marks_lock = threading.Lock()
    check = TargetLease.check

    def marked_check(self: TargetLease) -> None:
        check(self)
        with marks_lock, marks.open("a") as out:
            out.write("w")

    TargetLease.check = marked_check  # type: ignore[method-assign]
    receive = StorageJobQueue.receive

    def short_receive(self: StorageJobQueue, *, max_messages: int,
                      visibility_timeout_s: int) -> Any:
        return receive(self, max_messages=max_messages,
                       visibility_timeout_s=min(visibility_timeout_s, visibility_s))

    StorageJobQueue.receive = short_receive  # type: ignore[method-assign]

    from byoc.entrypoints.devhost import DevHost
    from byoc.observability import configure_logging

    configure_logging(os.environ.get("BYOC_LOG_LEVEL", "INFO"))
    import function_app

    host = DevHost(function_app.app, host_json=ROOT / "host.json", port=port, timers=False).start()
    print(f"soak worker on {host.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    host.stop()
    return 0


# --- main ----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--wave", type=int, default=50, help="notices sent per wave")
    parser.add_argument("--wave-pause", type=float, default=20.0,
                        help="at most this long for the queue to drain between waves, seconds")
    parser.add_argument("--kill-spacing", type=float, default=8.0)
    parser.add_argument("--fault-scale", type=float, default=1.0,
                        help="multiplies every fault probability (1.0: the issue's rates)")
    parser.add_argument("--client-timeout", type=float, default=3.0,
                        help="vendor client read timeout in the workers, seconds")
    parser.add_argument("--message-visibility", type=float, default=30.0,
                        help="how long a received job stays hidden (the host uses 10 minutes)")
    parser.add_argument("--settle", type=float, default=600.0,
                        help="at most this long for the estate to settle after the last wave, s")
    parser.add_argument("--reconcile-every", type=float, default=20.0,
                        help="how often the reconcile timer fires while settling, seconds")
    parser.add_argument("--quick", action="store_true",
                        help="the CI variant: 20 events in waves of 10, short pauses and timers "
                             "(explicit options still win)")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the fault-free run (min_write_calls is then 0)")
    parser.add_argument("--keep", type=Path, help="keep logs in this directory")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--marks", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        given = {a.split("=")[0] for a in (argv if argv is not None else sys.argv[1:])}
        for option, value in QUICK.items():
            if f"--{option.replace('_', '-')}" not in given:
                setattr(args, option, value)
    if args.worker:
        return run_worker(args.port, args.marks)

    started = time.monotonic()
    script = write_script(args.events, args.seed)
    print(f"script: {len(script.events)} events ({len(script.purchased)} purchases, "
          f"{len(script.released)} releases), {len(script.deliveries)} notices sent "
          f"({script.duplicated} copies, {script.late} late); end state: "
          f"{len(script.present())} numbers present", flush=True)
    with tempfile.TemporaryDirectory(prefix="byoc-soak-") as tmp:
        workdir = Path(tmp) if args.keep is None else args.keep
        workdir.mkdir(parents=True, exist_ok=True)
        sandbox = Sandbox(workdir)
        try:
            baseline = None
            if not args.no_baseline:
                baseline = Run(sandbox, script, args, workdir, chaos=False).execute()
                report("baseline (no faults, no kills)", baseline)
            chaos = Run(sandbox, script, args, workdir, chaos=True).execute()
            report("chaos", chaos)
        except BaseException:
            print(f"soak failed; logs were in {workdir}", flush=True)
            raise
        finally:
            sandbox.stop()
    print(json.dumps({
        "events": len(script.events),
        "faults_injected": chaos.faults,
        "worker_kills": chaos.kills,
        "converged": chaos.converged,
        "lost": chaos.lost,
        "duplicates": chaos.duplicates,
        "poison": chaos.poison,
        "write_calls": chaos.write_calls,
        "min_write_calls": baseline.write_calls if baseline else 0,
        "wall_s": round(time.monotonic() - started, 1),
    }), flush=True)
    return 0


def report(name: str, result: RunResult) -> None:
    print(f"{name}: converged={result.converged} lost={result.lost} leftover={result.leftover} "
          f"duplicates={result.duplicates} poison={result.poison_before_replay}->{result.poison} "
          f"writes={result.write_calls} {json.dumps(result.writes)} (+{result.turned_away} "
          f"turned away by injected faults) faults={result.faults} "
          f"kills={result.kills} run={result.wall_s:.1f}s settle={result.settle_s:.1f}s",
          flush=True)
    for problem in result.problems[:10]:
        print(f"  ! {problem}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
