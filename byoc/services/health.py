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
| `nsg-exposure:<sbc>` | who the SBC's NSG lets reach its SIP and RTP ports beyond the carriers |
| `genesys-signaling:<sbc>` | Genesys regions of the SBC with no signaling addresses in settings |

Probes and reads run concurrently, each bounded in time; results are stored in the state table
(namespace `health`) and logged as structured events (`event: health.check`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from byoc.adapters.sip import ProbeResult, ProbeTarget, Transport
from byoc.domain.certs import expiry_warning_level
from byoc.domain.inventory import NumberRecord, NumberState

if TYPE_CHECKING:
    from byoc.ports import (
        GenesysTrunkStatus,
        Inventory,
        NsgPort,
        QueueMetrics,
        SbcAlarm,
        SbcMonitorPort,
        SbcStatus,
        SipProber,
        StateStore,
        TrunkStatusPort,
    )
    from byoc.settings import SbcSettings, Settings

log = logging.getLogger("byoc.health")

HEALTH_NAMESPACE = "health"
"""State-table namespace of the per-component results (`GET /api/status` reads it)."""
HEALTH_RUN_NAMESPACE = "health-run"
HEALTH_RUN_KEY = "last"
"""Where the summary of the last run is kept: when, how long, what was skipped."""

SYNC_STALE_AFTER = dt.timedelta(hours=1)
"""A target whose last recorded sync is older than this is degraded (reconcile runs every 15 min)."""
NUMBER_STUCK_AFTER = dt.timedelta(minutes=30)
"""A number onboarding or releasing for longer than this is reported as stuck."""
MAX_LISTED = 10
"""How many alarms, numbers or problems a stored result lists (the figures keep the counts)."""


class HealthStatus(StrEnum):
    """How a component is doing, best first."""

    OK = "ok"
    DEGRADED = "degraded"
    DOWN = "down"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {HealthStatus.OK: 0, HealthStatus.DEGRADED: 1, HealthStatus.DOWN: 2}


@dataclass(frozen=True)
class CheckResult:
    """One component's health at `checked_at`."""

    component: str
    status: HealthStatus
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)
    checked_at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status.value,
            "reason": self.reason,
            "figures": self.figures,
            "checked_at": self.checked_at,
        }


@dataclass(frozen=True)
class SkippedCheck:
    """A check that did not run, and why (not configured, adapter not available)."""

    check: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"check": self.check, "reason": self.reason}


@dataclass
class HealthReport:
    """Every result of one run, and the checks that were skipped."""

    results: list[CheckResult]
    skipped: list[SkippedCheck]
    started_at: str
    duration_ms: float
    stored: bool = False

    @property
    def status(self) -> HealthStatus:
        """The worst status of any component (ok when there is none)."""
        return max((r.status for r in self.results), key=lambda s: s.rank, default=HealthStatus.OK)

    @property
    def down(self) -> list[CheckResult]:
        return [r for r in self.results if r.status is HealthStatus.DOWN]

    def counts(self) -> dict[str, int]:
        found = Counter(r.status.value for r in self.results)
        return {s.value: found.get(s.value, 0) for s in HealthStatus}

    def summary(self) -> dict[str, Any]:
        """What is kept about the run itself (namespace `health-run`)."""
        return {
            "at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "status": self.status.value,
            "counts": self.counts(),
            "skipped": [s.to_json() for s in self.skipped],
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.summary(),
            "components": {r.component: r.to_json() for r in self.results},
        }


# --- probe targets -------------------------------------------------------------------------------

_HOST_PORT_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>[0-9]{1,5}))?$")
_SIP_URI_RE = re.compile(
    r"^(?P<scheme>sips?):(?:(?P<user>[^@;]+)@)?(?P<hostport>\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?|[^;@]+)"
    r"(?P<params>(?:;[^;]*)*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NamedProbe:
    """A probe target and the component its result is stored under."""

    component: str
    target: ProbeTarget
    label: str
    sbc: str | None = None


def split_probe_host(value: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> (host, port or None)."""
    match = _HOST_PORT_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"probe_host {value!r} is not 'host' or 'host:port'")
    port = int(match["port"]) if match["port"] else None
    return match["v6"] or match["host"], port


def sbc_probe_targets(sbc: SbcSettings) -> list[NamedProbe]:
    """The SBC's public SIP interfaces: UDP and TCP on `sip_ports`, TLS on its port.

    Probes go to `probe_host` when set (a port there replaces the TLS port only), else to the FQDN;
    the FQDN is always the Request-URI host and the TLS server name. A port of 0 is not offered.
    """
    host, tls_port = (sbc.fqdn, None) if not sbc.probe_host else split_probe_host(sbc.probe_host)
    ports: dict[Transport, int] = {
        "udp": sbc.sip_ports.udp,
        "tcp": sbc.sip_ports.tcp,
        "tls": sbc.sip_ports.tls if tls_port is None or sbc.sip_ports.tls == 0 else tls_port,
    }
    probes = []
    for transport, port in ports.items():
        if port == 0:
            continue
        target = ProbeTarget(host, port, transport, server_name=sbc.fqdn.rstrip("."))
        probes.append(NamedProbe(f"sip:{sbc.name}:{transport}", target, f"SBC {sbc.name}", sbc.name))
    return probes


def parse_probe_uri(uri: str) -> NamedProbe:
    """`sip:host[:port][;transport=udp|tcp|tls]` or `sips:host[:port]` as an extra probe target.

    Defaults: UDP on 5060 for `sip:`, TLS on 5061 for `sips:` (RFC 3261 §19.1.2).
    """
    match = _SIP_URI_RE.fullmatch(uri.strip())
    if match is None:
        raise ValueError(f"{uri!r} is not a SIP URI like sip:host:5060;transport=tcp or sips:host:5061")
    secure = match["scheme"].lower() == "sips"
    params = {
        name.strip().lower(): value.strip().lower()
        for name, _, value in (p.partition("=") for p in match["params"].split(";")[1:])
    }
    transport = params.get("transport", "tls" if secure else "udp")
    if transport not in ("udp", "tcp", "tls"):
        raise ValueError(f"{uri!r}: transport {transport!r} is not udp, tcp or tls")
    if secure and transport != "tls":
        raise ValueError(f"{uri!r}: a sips: URI is always probed over TLS")
    host, port = split_probe_host(match["hostport"])
    chosen: Transport = "udp" if transport == "udp" else "tcp" if transport == "tcp" else "tls"
    target = ProbeTarget(
        host, port or (5061 if chosen == "tls" else 5060), chosen, user=match["user"] or None
    )
    component = f"sip-target:{chosen}:{host}:{target.port}"
    return NamedProbe(component, target, f"{host}:{target.port}")


# --- evaluation: SIP and certificates ------------------------------------------------------------


def evaluate_probe(probe: NamedProbe, result: ProbeResult) -> CheckResult:
    """A SIP OPTIONS outcome as a component status, with the reason a telephony engineer needs."""
    target = probe.target
    where = f"{probe.label} ({target.transport.upper()} {target.host}:{target.port})"
    figures: dict[str, Any] = {
        "target": str(target),
        "transport": target.transport,
        "status_code": result.status_code,
        "rtt_ms": result.rtt_ms,
        "remote_address": result.remote_address,
        "transmissions": result.transmissions,
    }
    if result.server or result.user_agent:
        figures["server"] = result.server or result.user_agent
    if result.failure is not None:
        figures["failure"] = result.failure
        return CheckResult(probe.component, HealthStatus.DOWN, _failure_reason(where, target, result),
                           figures)
    code, text = result.status_code or 0, (result.reason or "").strip()
    answer = f"{code} {text}".strip()
    if 200 <= code < 300:
        return CheckResult(probe.component, HealthStatus.OK,
                           f"{where} answered OPTIONS with {answer} in {result.rtt_ms:.0f} ms", figures)
    if code == 408 or code >= 500:
        return CheckResult(
            probe.component, HealthStatus.DOWN,
            f"{where} answered OPTIONS with {answer}: it is reachable but refuses service "
            "(overloaded, out of service, or no route); look at its active alarms and logs",
            figures,
        )
    return CheckResult(
        probe.component, HealthStatus.DEGRADED,
        f"{where} is reachable but answered OPTIONS with {answer}: it rejects requests from this "
        "address; if carriers get the same answer, check its classification (IP group, proxy set) "
        "and message conditions",
        figures,
    )


def _failure_reason(where: str, target: ProbeTarget, result: ProbeResult) -> str:
    detail = result.detail or result.failure or "no detail"
    port = f"{target.transport.upper()} {target.port}"
    match result.failure:
        case "timeout":
            return (f"no answer to OPTIONS from {where}: {detail}. Check that the SBC is running, that "
                    f"the NSG admits {port} from here, and that the SBC answers OPTIONS from this address")
        case "refused":
            return (f"{where} refused or dropped the connection: {detail}. Nothing accepts {port} there: "
                    "check the SBC's SIP interface and the NSG")
        case "tls_error":
            return (f"TLS with {where} failed: {detail}. Carriers' TLS connections fail the same way: "
                    "check the certificate on the SBC's TLS context and its chain")
        case "malformed_reply":
            return f"{where} did not answer in SIP: {detail}. Is something else listening on {port}?"
        case "dns_error":
            return f"{detail}. Carriers resolve the same name: check its DNS record"
    return f"{where}: {detail}"


def evaluate_certificate(sbc: str, result: ProbeResult, now: dt.datetime) -> CheckResult:
    """Days left on the certificate the SBC's SIP TLS port presented: degraded at 30, 14 and 7 days
    (as the certificate rotation's own `certificate:<sbc>` record), down once expired or rejected."""
    component = f"tls-certificate:{sbc}"
    cert = result.certificate
    if cert is None:
        if result.failure == "tls_error":
            return CheckResult(
                component, HealthStatus.DOWN,
                f"SBC {sbc} presents no certificate a carrier would accept: {result.detail}",
                {"failure": result.failure},
            )
        why = (f"no TLS handshake completed ({result.failure}; see sip:{sbc}:tls)" if result.failure
               else "the TLS handshake gave no peer certificate")
        return CheckResult(component, HealthStatus.DEGRADED,
                           f"certificate of SBC {sbc} not checked: {why}", {"failure": result.failure})
    days = (cert.not_after - now) // dt.timedelta(days=1)
    level = expiry_warning_level(days)
    until = cert.not_after.strftime("%Y-%m-%d %H:%M UTC")
    names = ", ".join(cert.dns_names[:4]) or cert.subject
    figures = {
        "days_left": days,
        "not_after": cert.not_after.isoformat(),
        "warning_level": level,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "dns_names": list(cert.dns_names[:MAX_LISTED]),
        "sha256_fingerprint": cert.sha256_fingerprint,
        "tls_version": cert.tls_version,
    }
    if days < 0:
        return CheckResult(component, HealthStatus.DOWN,
                           f"SBC {sbc}'s TLS certificate ({names}) expired on {until}: TLS calls fail; "
                           "rotate it now (`byoc cert rotate`)", figures)
    if level is None:
        return CheckResult(component, HealthStatus.OK,
                           f"SBC {sbc} serves a certificate for {names} valid until {until} "
                           f"({days} days left)", figures)
    urgency = "urgent: " if level == 7 else ""
    return CheckResult(component, HealthStatus.DEGRADED,
                       f"{urgency}SBC {sbc}'s TLS certificate ({names}) expires in {days} days ({until}; "
                       f"{level}-day warning): TLS calls fail after that; `byoc cert status` shows what "
                       "Key Vault holds, `byoc cert rotate` installs its current version", figures)


# --- evaluation: SBC REST status and alarms ------------------------------------------------------

_DOWN_SEVERITIES = frozenset({"critical"})
_DEGRADED_SEVERITIES = frozenset({"major"})
_QUIET_SEVERITIES = frozenset({"minor", "warning", "indeterminate", "info", "cleared"})


def evaluate_sbc_status(sbc: str, status: SbcStatus) -> CheckResult:
    """Operational state, HA state, and whether a save or reset is pending."""
    component = f"sbc:{sbc}"
    figures = {
        "operational_state": status.operational_state,
        "high_availability": status.high_availability,
        "save_needed": status.save_needed,
        "reset_needed": status.reset_needed,
        "version": status.version,
        "uptime_s": _int_or_none(status.raw.get("systemUpTime")),
    }
    if status.operational_state.strip().upper() != "UNLOCKED":
        return CheckResult(
            component, HealthStatus.DOWN,
            f"SBC {sbc} is {status.operational_state or 'in an unknown operational state'} "
            "(not UNLOCKED): it accepts no new calls; unlock it once maintenance is over",
            figures,
        )
    problems = []
    if status.save_needed:
        problems.append("its running configuration has unsaved changes, lost at the next reset: "
                        "save the configuration (Web UI, or POST /api/v1/actions/saveConfiguration)")
    if status.reset_needed:
        problems.append("a configuration change waits for a device reset to take effect: plan one "
                        "in a maintenance window")
    if problems:
        return CheckResult(component, HealthStatus.DEGRADED, f"SBC {sbc}: " + "; ".join(problems),
                           figures)
    return CheckResult(
        component, HealthStatus.OK,
        f"SBC {sbc} is UNLOCKED, HA {status.high_availability or 'unknown'}, version "
        f"{status.version or 'unknown'}, configuration saved",
        figures,
    )


def evaluate_alarms(sbc: str, alarms: Sequence[SbcAlarm]) -> CheckResult:
    """Critical alarms make the SBC down, major (or of unknown severity) degraded."""
    component = f"sbc-alarms:{sbc}"
    severities = Counter((a.severity or "unknown").strip().lower() for a in alarms)
    ranked = sorted(alarms, key=lambda a: -_alarm_rank(a))
    figures = {
        "active": len(alarms),
        "by_severity": dict(severities),
        "alarms": [
            {"id": a.id, "severity": a.severity, "source": a.source, "description": a.description,
             "date": a.date}
            for a in ranked[:MAX_LISTED]
        ],
    }
    if not alarms:
        return CheckResult(component, HealthStatus.OK, f"SBC {sbc} has no active alarms", figures)
    listed = "; ".join(f"{a.severity or 'severity unknown'}: {a.description}" for a in ranked[:3])
    more = f" (and {len(alarms) - 3} more)" if len(alarms) > 3 else ""
    worst = _alarm_rank(ranked[0])
    status = HealthStatus.DOWN if worst == 2 else HealthStatus.DEGRADED if worst == 1 else HealthStatus.OK
    return CheckResult(component, status, f"SBC {sbc} has {len(alarms)} active alarm(s): {listed}{more}",
                       figures)


def _alarm_rank(alarm: SbcAlarm) -> int:
    severity = (alarm.severity or "").strip().lower()
    if severity in _DOWN_SEVERITIES:
        return 2
    if severity in _QUIET_SEVERITIES:
        return 0
    return 1  # major, or a severity the device did not say (details not read)


# --- evaluation: Genesys trunks -----------------------------------------------------------------


def evaluate_trunk(trunk: GenesysTrunkStatus) -> CheckResult:
    """A BYOC trunk as Genesys sees it: in service, connected, and OPTIONS to each proxy."""
    component = f"genesys-trunk:{trunk.id}"
    failing = [p for p in trunk.options if not p.ok]
    figures = {
        "name": trunk.name,
        "trunk_base": trunk.trunk_base,
        "in_service": trunk.in_service,
        "enabled": trunk.enabled,
        "connected": trunk.connected,
        "connected_since": trunk.connected_since,
        "proxies": len(trunk.options),
        "proxies_failing": len(failing),
        "options": [{"proxy": p.proxy_address, "ok": p.ok, "since": p.since, "error": p.error}
                    for p in trunk.options[:MAX_LISTED]],
        "source": "health-check",  # genesys_events writes the same record from trunk events
    }
    name = f"Genesys trunk {trunk.name!r}"
    if not trunk.in_service or not trunk.enabled:
        return CheckResult(
            component, HealthStatus.DOWN,
            f"{name} is out of service (in service: {trunk.in_service}, edge enabled: {trunk.enabled}):"
            f" check that trunk base {trunk.trunk_base!r} is enabled and assigned to the BYOC Cloud edge",
            figures,
        )
    if not trunk.connected:
        since = f" since {trunk.connected_since}" if trunk.connected_since else ""
        return CheckResult(
            component, HealthStatus.DOWN,
            f"{name} is disconnected{since}: calls to and from Genesys fail. "
            + _proxy_text(failing or list(trunk.options)),
            figures,
        )
    if failing and len(failing) == len(trunk.options):
        return CheckResult(component, HealthStatus.DOWN,
                           f"{name}: SIP OPTIONS fail to every SBC: {_proxy_text(failing)}", figures)
    if failing:
        return CheckResult(component, HealthStatus.DEGRADED,
                           f"{name}: SIP OPTIONS fail to {len(failing)} of {len(trunk.options)} "
                           f"SBC(s), calls use the others: {_proxy_text(failing)}", figures)
    return CheckResult(
        component, HealthStatus.OK,
        f"{name} is connected; SIP OPTIONS answered by {len(trunk.options)} SBC(s)", figures,
    )


def _proxy_text(proxies: Iterable[Any]) -> str:
    parts = [f"{p.proxy_address}: {p.error or ('OPTIONS ok' if p.ok else 'no OPTIONS answer')}"
             for p in proxies]
    return "; ".join(parts[:5]) if parts else "Genesys reports no proxy status"


# --- evaluation: byoc itself ---------------------------------------------------------------------


def evaluate_sync(
    target: str,
    sync: dict[str, Any] | None,
    previous: dict[str, Any] | None,
    now: dt.datetime,
    stale_after: dt.timedelta = SYNC_STALE_AFTER,
) -> CheckResult:
    """The last recorded sync of `target`, and when it last converged.

    `previous` is this component's earlier health record: it remembers the last successful sync
    while later syncs fail. A sync that raised leaves no record, so its target grows stale.
    """
    component = f"byoc-sync:{target}"
    earlier = (previous or {}).get("figures") or {}
    if not sync:
        return CheckResult(
            component, HealthStatus.DEGRADED,
            f"no sync of {target} is recorded yet: the reconcile timer queues one every 15 minutes; "
            f"`byoc apply -t {target}` converges it now",
            {"last_sync_at": None, "last_converged_at": earlier.get("last_converged_at")},
        )
    at = str(sync.get("at") or "")
    converged = bool(sync.get("converged"))
    last_converged = at if converged else earlier.get("last_converged_at")
    problems = [str(p) for p in sync.get("problems") or []]
    conflicts = [str(c) for c in sync.get("conflicts") or []]
    figures = {
        "last_sync_at": at,
        "last_converged_at": last_converged,
        "converged": converged,
        "drift": int(sync.get("changes") or 0),
        "refused": sync.get("refused"),
        "problems": len(problems),
        "conflicts": len(conflicts),
        "correlation_id": sync.get("correlation_id"),
    }
    if sync.get("refused"):
        return CheckResult(
            component, HealthStatus.DOWN,
            f"the last sync of {target} ({at}) was refused by the mass-deletion guard: "
            f"{sync['refused']}. Review `byoc plan -t {target}`; if the removals are intended, "
            f"`byoc apply -t {target} --force`",
            figures,
        )
    when = _parse_time(at)
    if when is None or now - when > stale_after:
        age = f"{_duration(now - when)} ago" if when is not None else "at an unreadable time"
        return CheckResult(
            component, HealthStatus.DEGRADED,
            f"the last sync of {target} was {age} ({at or 'no time'}): is the reconcile timer "
            "running and the job queue draining? A sync that fails with an error leaves no record: "
            f"look for sync errors in the logs, or run `byoc apply -t {target}`",
            figures,
        )
    if not converged:
        since = f"; last converged {last_converged}" if last_converged else "; never converged"
        return CheckResult(
            component, HealthStatus.DEGRADED,
            f"{target} did not converge on its last sync ({at}): {'; '.join(problems[:3]) or 'no detail'}"
            f"{since}",
            figures,
        )
    if conflicts:
        return CheckResult(
            component, HealthStatus.DEGRADED,
            f"{target} converged ({at}) but foreign objects are in the way: {'; '.join(conflicts[:3])}",
            figures,
        )
    drift = figures["drift"]
    changed = f"; that sync changed {drift} thing(s)" if drift else "; no drift"
    return CheckResult(component, HealthStatus.OK, f"{target} converged at {at}{changed}", figures)


def evaluate_nsg_exposure(sbc: str, problems: Sequence[str], ports: int) -> CheckResult:
    """The NSG in front of SBC `sbc`: down when anything wider than the carriers reaches it."""
    component = f"nsg-exposure:{sbc}"
    figures = {"ports": ports, "exposures": len(problems), "listed": list(problems[:MAX_LISTED])}
    if problems:
        return CheckResult(
            component, HealthStatus.DOWN,
            f"the NSG of SBC {sbc} lets in more than the carrier ranges ({len(problems)} "
            f"rule(s)): {' | '.join(problems[:3])}. `byoc nsg exposure` lists every opening",
            figures,
        )
    return CheckResult(
        component, HealthStatus.OK,
        f"the NSG of SBC {sbc} lets only carrier ranges (and the virtual network) reach its "
        f"{ports} served port range(s)",
        figures,
    )


def evaluate_genesys_signaling(settings: Settings, sbc: SbcSettings) -> CheckResult:
    """Genesys signaling addresses for every Genesys region of SBC `sbc` (settings only)."""
    from byoc.services.nsg_reconciler import genesys_signaling_gaps

    component = f"genesys-signaling:{sbc.name}"
    gaps = genesys_signaling_gaps(settings, sbc)
    figures = {"regions": list(sbc.genesys_regions), "missing": len(gaps)}
    if gaps:
        status = HealthStatus.DOWN if sbc.nsg_resource_id else HealthStatus.DEGRADED
        return CheckResult(component, status, "; ".join(gaps), figures)
    return CheckResult(
        component, HealthStatus.OK,
        f"Genesys signaling addresses are set for SBC {sbc.name}'s region(s) "
        f"{', '.join(sbc.genesys_regions) or '(none)'}",
        figures,
    )


def evaluate_queue(depth: int | None, poison: int | None, error: str | None = None) -> CheckResult:
    """The job queue's depth and, above all, its poison queue."""
    figures = {"queue_depth": depth, "poison_depth": poison}
    if error is not None:
        return CheckResult("byoc-queue", HealthStatus.DEGRADED,
                           f"cannot read the job queues: {error}", figures)
    if poison:
        return CheckResult(
            "byoc-queue", HealthStatus.DEGRADED,
            f"{poison} job(s) in the poison queue failed too often or were malformed: "
            "`byoc jobs poison list` shows why; `byoc jobs poison replay` retries them",
            figures,
        )
    return CheckResult("byoc-queue", HealthStatus.OK,
                       f"poison queue empty; {depth} job(s) waiting", figures)


POLLER_LATE_AFTER = dt.timedelta(minutes=10)
"""The Twilio poll runs every minute: no success for this long means numbers bought in the console
are not being picked up."""


def evaluate_poller(record: Any, now: dt.datetime) -> CheckResult:
    """The Twilio Monitor poller: its last success, its failures, its lag."""
    component = "twilio-poller"
    if not isinstance(record, dict):
        return CheckResult(component, HealthStatus.OK, "the Twilio poller has not run yet")
    success = _parse_time(str(record.get("last_success_at") or ""))
    lag = now - success if success else None
    figures = {"last_success_at": record.get("last_success_at"),
               "lag_s": round(lag.total_seconds()) if lag else None,
               "failures": record.get("failures") or 0, "mode": record.get("mode")}
    failures = _int_or_none(record.get("failures")) or 0
    if failures:
        since = f"last success {_duration(lag)} ago" if lag else "it never succeeded"
        status = HealthStatus.DOWN if lag is None or lag > POLLER_LATE_AFTER \
            else HealthStatus.DEGRADED
        return CheckResult(component, status, f"the Twilio poller failed {failures} time(s) in a "
                           f"row ({since}): {record.get('last_error')}", figures)
    if lag is not None and lag > POLLER_LATE_AFTER:
        return CheckResult(component, HealthStatus.DEGRADED,
                           f"the Twilio poller last ran {_duration(lag)} ago; is the twilio_poll "
                           "timer running?", figures)
    return CheckResult(component, HealthStatus.OK,
                       f"the Twilio poller ran {record.get('mode')} at {record.get('last_success_at')}",
                       figures)


def evaluate_numbers(
    records: Iterable[NumberRecord], now: dt.datetime, stuck_after: dt.timedelta = NUMBER_STUCK_AFTER
) -> CheckResult:
    """Numbers that failed, or sit in onboarding/releasing for too long or with errors."""
    counts: Counter[str] = Counter()
    failed: list[NumberRecord] = []
    stuck: list[NumberRecord] = []
    for record in records:
        counts[record.state.value] += 1
        if record.state is NumberState.FAILED:
            failed.append(record)
        elif record.state in (NumberState.ONBOARDING, NumberState.RELEASING):
            updated = _parse_time(record.updated or "")
            if record.errors or updated is None or now - updated > stuck_after:
                stuck.append(record)
    figures: dict[str, Any] = {
        "by_state": {s.value: counts.get(s.value, 0) for s in NumberState},
        "failed": len(failed),
        "stuck": len(stuck),
        "numbers": [
            {"number": r.number, "state": r.state.value, "updated": r.updated, "errors": r.errors}
            for r in (failed + stuck)[:MAX_LISTED]
        ],
    }
    if not failed and not stuck:
        active = counts.get(NumberState.ACTIVE.value, 0)
        return CheckResult("byoc-numbers", HealthStatus.OK,
                           f"{active} number(s) active; none stuck or failed", figures)
    parts = []
    for record in (failed + stuck)[:3]:
        error = "; ".join(f"{t}: {e}" for t, e in record.errors.items()) or (
            f"{record.state.value} since {record.updated}")
        parts.append(f"{record.number} ({record.state.value}): {error}")
    return CheckResult(
        "byoc-numbers", HealthStatus.DEGRADED,
        f"{len(failed)} failed and {len(stuck)} stuck number(s) (onboarding or releasing for more than "
        f"{_duration(stuck_after)} or with errors): " + " | ".join(parts)
        + ". Fix the cause, then `byoc apply` (or a new event) retries them",
        figures,
    )


# --- the service ---------------------------------------------------------------------------------


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
        executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="byoc-health")
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
        results = [evaluate_probe(probe, result)]
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
        from byoc.services.nsg_reconciler import nsg_exposure

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
        syncs = self._state.items("sync")
        results = [
            evaluate_sync(target, syncs.get(target), previous.get(f"byoc-sync:{target}"), now)
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


def _parse_time(text: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def _duration(span: dt.timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    hours = minutes // 60
    return f"{hours} h" if hours < 48 else f"{hours // 24} days"


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None

