"""Single flight per target: writes of two workers to one target never interleave, and a worker
that lost its lease stops before its next write."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeInventory, FakeOperations, FakeQueue, FakeState

from byoc.adapters.lock import LockLost, TargetLease
from byoc.domain.plan import Action, Change, GuardLimits, Plan
from byoc.domain.policy_file import load_policy
from byoc.services.reconcile import DesiredState, ReconcilerRegistry, ReconcileService

ROOT = Path(__file__).resolve().parents[2]
TARGET = "sbc:sbc1"
POLICY = load_policy('version: 1\nmanaged: {prefixes: ["+1415555"]}\nrules: []\n'
                     "defaults: {genesys: none, sbc_tag: main}\n", "test")

# One worker process: syncs the target `rounds` times through ReconcileService and the blob
# lease; each sync writes three times, and every write is a line appended to the shared log.
WORKER = r"""
import os, sys, time
sys.path[:0] = [{root!r}, {tests!r}]
from fakes import FakeInventory, FakeOperations, FakeQueue, FakeState
from byoc.adapters.lock import LockBusy
from byoc.bootstrap import Services
from byoc.domain.plan import GuardLimits
from byoc.services.reconcile import ReconcileService, ReconcilerRegistry
from byoc.settings import load_settings
from test_single_flight import WritingTarget, POLICY

log, rounds = open(sys.argv[1], "a", buffering=1), int(sys.argv[2])
registry = ReconcilerRegistry()
registry.register({target!r}, lambda: WritingTarget(log, f"p{{os.getpid()}}"))
service = ReconcileService(
    registry=registry, inventory=FakeInventory(), operations=FakeOperations(), state=FakeState(),
    locks=Services(load_settings()).locks, queue=FakeQueue(), policy=lambda: POLICY,
    limits=GuardLimits())
done = 0
while done < rounds:
    try:
        service.sync({target!r}, correlation_id="single-flight")
        done += 1
    except LockBusy:
        time.sleep(0.005)
"""


class WritingTarget:
    """A target whose every sync writes three times, logging `<worker> <write>` per write."""

    target = TARGET
    tracks_numbers = False

    def __init__(self, log: Any, worker: str, between: Any = None) -> None:
        self._log = log
        self._worker = worker
        self._between = between or (lambda index: time.sleep(0.01))
        self.lease: Any = None

    def read_actual(self) -> None:
        return None

    def desired(self, state: DesiredState) -> None:
        return None

    def plan(self, actual: None, desired: None) -> Plan:
        return Plan(target=TARGET, changes=tuple(
            Change(target=TARGET, action=Action.UPDATE, kind="rule", key=str(i), summary="write")
            for i in range(3)))

    def apply(self, plan: Plan, lease: Any) -> None:
        self.lease = lease
        for index, _ in enumerate(plan.changes):
            lease.check()
            self._log.write(f"{self._worker} {index}\n")
            self._between(index)

    def verify(self, desired: None) -> list[str]:
        return []


def runs(lines: list[str]) -> list[list[str]]:
    """The write log cut into runs of consecutive writes by one worker."""
    out: list[list[str]] = []
    for line in lines:
        worker, index = line.split()
        if not out or out[-1][0] != worker or index == "0":
            out.append([worker])
        out[-1].append(index)
    return out


@pytest.mark.integration
def test_two_worker_processes_never_interleave_writes_to_one_target(
        byoc_env: dict[str, str], tmp_path: Path) -> None:
    log = tmp_path / "writes.log"
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(root=str(ROOT), tests=str(ROOT / "tests" / "reliability"),
                                    target=TARGET))
    sys_path = f"{ROOT}:{ROOT / 'tests'}:{ROOT / 'tests' / 'reliability'}"
    workers = [subprocess.Popen([sys.executable, str(script), str(log), "8"],
                                env={**byoc_env, "PATH": "/usr/bin:/bin", "PYTHONPATH": sys_path})
               for _ in range(2)]
    for worker in workers:
        assert worker.wait(timeout=120) == 0

    lines = log.read_text().split("\n")[:-1]
    assert len(lines) == 2 * 8 * 3
    assert len({line.split()[0] for line in lines}) == 2  # both workers wrote
    assert all(run[1:] == ["0", "1", "2"] for run in runs(lines)), runs(lines)


@pytest.mark.integration
def test_two_worker_threads_never_interleave_writes_to_one_target(byoc_env: dict[str, str]) -> None:
    from byoc.adapters.lock import LockBusy
    from byoc.bootstrap import Services
    from byoc.settings import load_settings

    class Log:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def write(self, text: str) -> None:
            self.lines.append(text.strip())

    log = Log()
    start = threading.Barrier(3)

    def worker(name: str) -> None:
        service = reconcile_service(Services(load_settings()).locks, WritingTarget(log, name))
        start.wait()
        done = 0
        while done < 8:
            try:
                service.sync(TARGET, correlation_id="single-flight")
                done += 1
            except LockBusy:
                time.sleep(0.005)

    threads = [threading.Thread(target=worker, args=(f"t{i}",)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(log.lines) == 3 * 8 * 3
    assert all(run[1:] == ["0", "1", "2"] for run in runs(log.lines)), runs(log.lines)


@pytest.fixture
def fast_renewal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Leases renewed every 0.1 s (the lease itself stays at 15 s, Azure's minimum)."""
    import byoc.adapters.lock as lock

    real = lock.TargetLease

    def quick(lease: Any, target: str, renew_every_s: float, lease_s: float | None = None) -> Any:
        return real(lease, target, renew_every_s=0.1, lease_s=lease_s)

    monkeypatch.setattr(lock, "TargetLease", quick)
    yield


@pytest.mark.integration
def test_a_worker_whose_lease_is_taken_stops_before_its_next_write(
        byoc_env: dict[str, str], fast_renewal: None) -> None:
    from azure.storage.blob import BlobClient, BlobLeaseClient

    from byoc.bootstrap import Services
    from byoc.settings import load_settings

    services = Services(load_settings())
    blob = BlobClient.from_connection_string(
        byoc_env["AzureWebJobsStorage"], byoc_env["BYOC_LOCK_CONTAINER"], TARGET.replace(":", "-"))
    written: list[str] = []

    def taken_after_first_write(index: int) -> None:
        if index == 0:  # another worker breaks the lease and takes the target
            BlobLeaseClient(blob).break_lease(lease_break_period=0)
            blob.acquire_lease(lease_duration=15)
            wait_until_renewal_fails(target.lease)

    class Log:
        def write(self, text: str) -> None:
            written.append(text.strip())

    target = WritingTarget(Log(), "w", taken_after_first_write)
    service = reconcile_service(services.locks, target)
    operations: FakeOperations = service._operations  # type: ignore[assignment]

    with pytest.raises(LockLost):
        service.sync(TARGET, correlation_id="lost-lease")

    assert written == ["w 0"]
    assert {row["outcome"] for row in operations.rows} == {"failed"}


def wait_until_renewal_fails(lease: Any, within_s: float = 20.0) -> None:
    """Wait for the renewal thread's next try (every 0.1 s, slower on a loaded machine) to find
    the lease taken; the worker's next check must then stop it."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            lease.check()
        except LockLost:
            return
        time.sleep(0.05)
    raise AssertionError(f"the lease renewal did not notice the takeover within {within_s:.0f} s")


def test_a_lease_whose_renewal_hangs_is_not_trusted_past_its_time() -> None:
    class HangingLease:
        def renew(self) -> None:
            threading.Event().wait(30)

    now = [0.0]
    lease = TargetLease(HangingLease(), TARGET, renew_every_s=5.0, lease_s=15.0,  # type: ignore[arg-type]
                        clock=lambda: now[0])
    lease.check()  # fresh
    now[0] = 9.9
    lease.check()  # renewal is late, but the lease still has time left
    now[0] = 10.1
    with pytest.raises(LockLost, match="may have expired"):
        lease.check()


def reconcile_service(locks: Any, target: WritingTarget) -> ReconcileService:
    registry = ReconcilerRegistry()
    registry.register(TARGET, lambda: target)
    return ReconcileService(
        registry=registry, inventory=FakeInventory(), operations=FakeOperations(),
        state=FakeState(), locks=locks, queue=FakeQueue(), policy=lambda: POLICY,
        limits=GuardLimits())
