"""Runs `byoc doctor`: the checklist (`doctor_checks`), then the variant probes (`doctor_probes`),
into one report (`doctor`)."""

from __future__ import annotations

from byoc.services.doctor import DoctorContext, DoctorReport
from byoc.services.doctor_checks import CHECKS
from byoc.services.doctor_probes import run_probes


class Doctor:
    """Runs the checklist and the variant probes (`probe_writes`: also the reversible writes)."""

    def __init__(self, context: DoctorContext) -> None:
        self._context = context

    def run(self, *, probe_writes: bool = False) -> DoctorReport:
        context = self._context
        report = DoctorReport(probe_writes=probe_writes)
        try:
            for check in CHECKS:
                report.items.extend(check(context))
            report.items.extend(run_probes(context, probe_writes=probe_writes))
        finally:
            context.close()
        return report
