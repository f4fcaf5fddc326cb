"""Health of an SBC read from outside SIP: its REST status (`sbc:<sbc>`), its active alarms
(`sbc-alarms:<sbc>`) and who its NSG lets reach its SIP and RTP ports (`nsg-exposure:<sbc>`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from byoc.services.health_report import MAX_LISTED, CheckResult, HealthStatus, int_or_none

if TYPE_CHECKING:
    from byoc.ports import SbcAlarm, SbcStatus


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
        "uptime_s": int_or_none(status.raw.get("systemUpTime")),
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
