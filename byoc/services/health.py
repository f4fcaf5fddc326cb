"""Health: the go-live checklist as a running check, one component per thing that can break.

Each check yields a `CheckResult`: a component name, a status (ok / degraded / down), a reason a
person can act on, and figures. `down` means calls are (or will be) failing or byoc cannot do its
job without a person; `degraded` means something needs attention but calls still flow.

Components:

| component | from |
|---|---|
| `sip:<sbc>:<udp/tcp/tls>` | SIP OPTIONS to the SBC's public interface (RTT, status code) |
| `tls-certificate:<sbc>` | the certificate the SBC's SIP TLS port presented (days left) |
| `sip-target:<transport>:<host>:<port>` | SIP OPTIONS to an extra target (`BYOC_HEALTH_PROBE_URIS`) |
| `sbc:<sbc>` | the SBC's REST status (operational state, HA, save/reset needed) |
| `sbc-alarms:<sbc>` | the SBC's active alarms |
| `genesys-trunk:<id>` | Genesys BYOC trunk: in service, connected, OPTIONS per proxy |
| `byoc-sync:<target>` | the last sync of each target: converged, drift, last success |
| `byoc-queue` | the job queue and its poison queue |
| `byoc-numbers` | numbers stuck in onboarding or releasing, or failed |
| `twilio-poller` | the Twilio poll's last success and failures |
| `nsg-exposure:<sbc>` | who the SBC's NSG lets reach its SIP and RTP ports beyond the carriers |
| `genesys-signaling:<sbc>` | Genesys regions of the SBC with no signaling addresses in settings |

Each kind of check is evaluated in its own module (`health_sip`, `health_sbc`, `health_genesys`,
`health_byoc`); this one runs them. Probes and reads run concurrently, each bounded in time;
results are stored in the state table (namespace `health`) and logged as structured events
(`event: health.check`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from byoc.ports import ProbeResult
from byoc.services.health_byoc import evaluate_numbers, evaluate_poller, evaluate_queue, evaluate_sync
from byoc.services.health_genesys import evaluate_genesys_signaling, evaluate_trunk
from byoc.services.health_report import (
    HEALTH_NAMESPACE,
    HEALTH_RUN_KEY,
    HEALTH_RUN_NAMESPACE,
    CheckResult,
    HealthReport,
    HealthStatus,
    SkippedCheck,
)
from byoc.services.health_sbc import evaluate_alarms, evaluate_nsg_exposure, evaluate_sbc_status
from byoc.services.health_sip import (
    NamedProbe,
    evaluate_certificate,
    evaluate_probe,
    parse_probe_uri,
    sbc_probe_targets,
)
from byoc.services.nsg_ranges import nsg_exposure
from byoc.services.status import full_sync, target_syncs
from byoc.telemetry import ContextThreadPool

if TYPE_CHECKING:
    from byoc.ports import (
        Inventory,
        NsgPort,
        QueueMetrics,
        SbcMonitorPort,
        SipProber,
        StateStore,
        TrunkStatusPort,
    )
    from byoc.settings import SbcSettings, Settings

log = logging.getLogger("byoc.health")


class HealthService:
    """Runs every check concurrently within bounded time, stores and logs the results."""

    def __init__(
        self,
        *,
        settings: Settings,
        inventory: Inventory,
        state: StateStore,
        queue: QueueMetrics,
        prober: SipProber,
        targets: Callable[[], list[str]],
        sbc_monitor: Callable[[SbcSettings], SbcMonitorPort] | None = None,
        trunk_status: Callable[[], TrunkStatusPort] | None = None,
        nsg: Callable[[SbcSettings], NsgPort] | None = None,
        read_timeout_s: float | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._settings = settings
        self._inventory = inventory
        self._state = state
        self._queue = queue
        self._prober = prober
        self._targets = targets
        self._sbc_monitor = sbc_monitor
        self._trunk_status = trunk_status
        self._nsg = nsg
        self._probe_timeout_s = settings.health_probe_timeout_s
        self._read_timeout_s = read_timeout_s or settings.sbc_timeout_s
        self._clock = clock

    # --- entry points ---------------------------------------------------------------------------

    def run(self) -> HealthReport:
        """Check everything now, store and log the results (timer and `byoc health`).

        Call it from synchronous code only (it runs its own event loop).
        """
        report = asyncio.run(self.check())
        self.record(report)
        return report

    async def check(self) -> HealthReport:
        """Every check, concurrently; nothing is stored."""
        started = self._clock()
        begun = time.monotonic()
        skipped: list[SkippedCheck] = []
        executor = ContextThreadPool(max_workers=8, thread_name_prefix="byoc-health")
        try:
            jobs = self._probe_jobs(skipped)
            jobs += self._read_jobs(executor, skipped)
            batches = await asyncio.gather(*jobs)
        finally:
            executor.shutdown(wait=False, cancel_futures=True)
        stamp = started.isoformat(timespec="seconds")
        results = [
            CheckResult(r.component, r.status, r.reason, r.figures, r.checked_at or stamp)
            for batch in batches
            for r in batch
        ]
        results.sort(key=lambda r: r.component)
        return HealthReport(results, skipped, stamp, (time.monotonic() - begun) * 1000)

    def record(self, report: HealthReport) -> None:
        """Store each result (namespace `health`) and the run's summary; log every result."""
        for result in report.results:
            level = {HealthStatus.OK: logging.INFO, HealthStatus.DEGRADED: logging.WARNING,
                     HealthStatus.DOWN: logging.ERROR}[result.status]
            log.log(level, result.reason, extra={
                "event": "health.check", "component": result.component,
                "status": result.status.value, "figures": result.figures,
            })
        for skip in report.skipped:
            log.info(f"health check skipped: {skip.reason}",
                     extra={"event": "health.skip", "check": skip.check})
        try:
            for result in report.results:
                self._state.put(HEALTH_NAMESPACE, result.component, result.to_json())
            self._state.put(HEALTH_RUN_NAMESPACE, HEALTH_RUN_KEY, report.summary())
            report.stored = True
        except Exception as exc:  # the checks' outcome is still logged and returned
            log.error(f"health results could not be stored: {type(exc).__name__}: {exc}",
                      extra={"event": "health.store_failed"})
        log.info(
            f"health: {report.status.value}",
            extra={"event": "health.run", "status": report.status.value, "counts": report.counts(),
                   "duration_ms": round(report.duration_ms, 1),
                   "skipped": [s.check for s in report.skipped]},
        )

    # --- SIP probes -----------------------------------------------------------------------------

    def _probe_jobs(self, skipped: list[SkippedCheck]) -> list[Any]:
        jobs: list[Any] = []
        for sbc in self._settings.sbcs:
            try:
                probes = sbc_probe_targets(sbc)
            except ValueError as exc:
                jobs.append(_ready([CheckResult(f"sip:{sbc.name}", HealthStatus.DOWN,
                                                f"SBC {sbc.name}: {exc}; fix BYOC_SBCS")]))
                continue
            if not probes:
                skipped.append(SkippedCheck(f"sip:{sbc.name}",
                                            f"SBC {sbc.name} offers no SIP port (all sip_ports are 0)"))
            for probe in probes:
                jobs.append(self._probe(probe))
        for uri in self._settings.health_probe_uris:
            try:
                probe = parse_probe_uri(uri)
            except ValueError as exc:
                jobs.append(_ready([CheckResult(f"sip-target:{uri}", HealthStatus.DOWN,
                                                f"BYOC_HEALTH_PROBE_URIS: {exc}")]))
                continue
            jobs.append(self._probe(probe))
        return jobs

    async def _probe(self, probe: NamedProbe) -> list[CheckResult]:
        timeout_s = self._probe_timeout_s
        try:
            async with asyncio.timeout(timeout_s + 2):  # the probe bounds itself; this is a backstop
                result = await self._prober(
                    probe.target,
                    timeout_s=timeout_s,
                    timer_scale=self._settings.sip_timer_scale,
                    ca_bundle=self._settings.ca_bundle,
                )
        except TimeoutError:
            result = ProbeResult(target=probe.target, failure="timeout",
                                 detail=f"the probe did not finish within {timeout_s + 2:g} s")
        results = [evaluate_probe(probe, result,
                                  probe_sources_set=bool(self._settings.probe_source_cidrs))]
        if probe.sbc is not None and probe.target.transport == "tls":
            results.append(evaluate_certificate(probe.sbc, result, self._clock()))
        return results

    # --- blocking reads -------------------------------------------------------------------------

    def _read_jobs(self, executor: ThreadPoolExecutor, skipped: list[SkippedCheck]) -> list[Any]:
        jobs: list[Any] = []
        if self._sbc_monitor is None:
            skipped.append(SkippedCheck("sbc", "SBC status and alarms: no AudioCodes adapter is wired"))
        else:
            for sbc in self._settings.sbcs:
                jobs.append(self._in_thread(
                    executor, partial(self._check_sbc, sbc),
                    components=(f"sbc:{sbc.name}", f"sbc-alarms:{sbc.name}"),
                    what=f"the REST API of SBC {sbc.name}",
                ))
        if self._trunk_status is None:
            skipped.append(SkippedCheck("genesys-trunk",
                                        "Genesys trunk status: no Genesys adapter is wired"))
        else:
            jobs.append(self._in_thread(executor, self._check_trunks, components=("genesys-trunks",),
                                        what="Genesys (trunk status)"))
        jobs.append(self._in_thread(executor, self._check_byoc, components=("byoc-store",),
                                    what="byoc's tables and queues"))
        for sbc in self._settings.sbcs:
            jobs.append(_ready([evaluate_genesys_signaling(self._settings, sbc)]))
            if sbc.nsg_resource_id is None:
                continue
            if self._nsg is None:
                skipped.append(SkippedCheck(f"nsg-exposure:{sbc.name}",
                                            "NSG exposure: no Azure NSG adapter is wired"))
                continue
            jobs.append(self._in_thread(
                executor, partial(self._check_nsg, sbc), components=(f"nsg-exposure:{sbc.name}",),
                what=f"the NSG of SBC {sbc.name}",
            ))
        return jobs

    async def _in_thread(
        self,
        executor: ThreadPoolExecutor,
        work: Callable[[], list[CheckResult]],
        *,
        components: Sequence[str],
        what: str,
    ) -> list[CheckResult]:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.run_in_executor(executor, work), self._read_timeout_s)
        except TimeoutError:
            reason = f"no answer from {what} within {self._read_timeout_s:g} s"
        except Exception as exc:
            reason = f"cannot read {what}: {type(exc).__name__}: {exc}"
        return [CheckResult(c, HealthStatus.DEGRADED, reason) for c in components]

    def _check_sbc(self, sbc: SbcSettings) -> list[CheckResult]:
        assert self._sbc_monitor is not None
        monitor = self._sbc_monitor(sbc)
        results = []
        try:
            try:
                results.append(evaluate_sbc_status(sbc.name, monitor.status()))
            except Exception as exc:
                results.append(CheckResult(
                    f"sbc:{sbc.name}", HealthStatus.DEGRADED,
                    f"cannot read SBC {sbc.name}'s REST status ({sbc.management_url}): "
                    f"{type(exc).__name__}: {exc}. The SIP probes show whether it carries calls",
                ))
            try:
                results.append(evaluate_alarms(sbc.name, monitor.active_alarms(details=True)))
            except Exception as exc:
                results.append(CheckResult(
                    f"sbc-alarms:{sbc.name}", HealthStatus.DEGRADED,
                    f"cannot read SBC {sbc.name}'s active alarms: {type(exc).__name__}: {exc}",
                ))
        finally:
            close = getattr(monitor, "close", None)
            if callable(close):
                close()
        return results

    def _check_nsg(self, sbc: SbcSettings) -> list[CheckResult]:
        assert self._nsg is not None
        report = nsg_exposure(self._settings, sbc, self._nsg(sbc).read_rules())
        return [evaluate_nsg_exposure(sbc.name, report.problems(), len(report.ports))]

    def _check_trunks(self) -> list[CheckResult]:
        assert self._trunk_status is not None
        base = self._settings.genesys_trunk_base_name
        trunks = self._trunk_status().read_trunk_status(base)
        if not trunks:
            scope = f"of trunk base {base!r}" if base else "(external trunks)"
            return [CheckResult("genesys-trunks", HealthStatus.DOWN,
                                f"Genesys lists no BYOC trunk {scope}: calls cannot reach the SBCs; "
                                "check the trunk base is assigned to the BYOC Cloud edge group")]
        return [evaluate_trunk(t) for t in trunks]

    def _check_byoc(self) -> list[CheckResult]:
        now = self._clock()
        previous = self._state.items(HEALTH_NAMESPACE)
        syncs = target_syncs(self._state)
        results = [
            evaluate_sync(target, full_sync(syncs.get(target)), previous.get(f"byoc-sync:{target}"),
                          now, last_slice=(syncs.get(target) or {}).get("last_slice"))
            for target in self._targets()
        ]
        try:
            depth: int | None = self._queue.depth()
            poison: int | None = self._queue.depth(poison=True)
            results.append(evaluate_queue(depth, poison))
        except Exception as exc:
            results.append(evaluate_queue(None, None, f"{type(exc).__name__}: {exc}"))
        results.append(evaluate_numbers(self._inventory.all(), now))
        try:
            poller = self._state.get("poller", "twilio")
        except ValueError:
            poller = {"failures": 1, "last_error": "the poller's status record is unreadable"}
        results.append(evaluate_poller(poller, now))
        return results


async def _ready(results: list[CheckResult]) -> list[CheckResult]:
    return results

