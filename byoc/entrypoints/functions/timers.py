"""Timer functions (NCRONTAB, six fields, UTC: Flex Consumption has no time zone setting)."""

from __future__ import annotations

import logging
from typing import Any

import azure.functions as func

from byoc.telemetry import bind_correlation, invocation

bp = func.Blueprint()
log = logging.getLogger("byoc.timers")

TWILIO_POLL_SCHEDULE = "0 * * * * *"  # every minute
RECONCILE_SCHEDULE = "0 */15 * * * *"  # every 15 minutes
CERTIFICATE_ROTATION_SCHEDULE = "0 30 3 * * *"  # daily 03:30 UTC
HEALTH_SCHEDULE = "0 */5 * * * *"  # every 5 minutes


@bp.function_name("twilio_poll")
@bp.timer_trigger(arg_name="timer", schedule=TWILIO_POLL_SCHEDULE, run_on_startup=False)
@invocation("timer")
def twilio_poll(timer: func.TimerRequest) -> None:
    """Read Twilio Monitor events (numbers bought or released) since the stored cursor."""
    from byoc import metrics
    from byoc.bootstrap import get_services

    try:
        outcome = get_services().twilio_poller.poll()
    except Exception:
        metrics.poller_ran(ok=False)
        raise
    metrics.poller_ran(ok=True)
    log.info("Twilio polled", extra={"event": "timer.twilio_poll", **outcome.to_json(),
                                     "past_due": timer.past_due})


@bp.function_name("reconcile")
@bp.timer_trigger(arg_name="timer", schedule=RECONCILE_SCHEDULE, run_on_startup=False)
@invocation("timer")
def reconcile(timer: func.TimerRequest) -> None:
    """Queue a sync of every target: repairs whatever an event missed or a person changed
    (a target working a slice backlog is deferred, at most BYOC_FULL_SYNC_MAX_DEFERRAL_MINUTES
    after its last converged full sync)."""
    from byoc.bootstrap import get_services
    from byoc.domain.jobs import new_correlation_id

    correlation_id = new_correlation_id()
    bind_correlation(correlation_id)
    targets, deferred = get_services().reconcile.enqueue_timer(correlation_id=correlation_id)
    log.info("reconcile queued", extra={"event": "timer.reconcile", "targets": targets,
                                        "deferred": [d.to_json() for d in deferred],
                                        "past_due": timer.past_due})


@bp.function_name("certificate_rotation")
@bp.timer_trigger(arg_name="timer", schedule=CERTIFICATE_ROTATION_SCHEDULE, run_on_startup=False)
@invocation("timer")
def certificate_rotation(timer: func.TimerRequest) -> None:
    """Queue a rotation of every SBC's TLS certificate to Key Vault's current version.

    The worker validates it, leaves SBCs already serving it alone, and refreshes each SBC's
    certificate health (days left, warnings at 30, 14 and 7 days).
    """
    from byoc.bootstrap import get_services
    from byoc.domain.jobs import RotateCertificate, new_correlation_id

    services = get_services()
    settings = services.settings
    if not settings.certificate_name and not any(s.certificate_name for s in settings.sbcs):
        log.info("no certificate configured (BYOC_CERTIFICATE_NAME nor an SBC's "
                 "certificate_name); rotation skipped",
                 extra={"event": "timer.skip"})
        return
    job = RotateCertificate(correlation_id=new_correlation_id())
    bind_correlation(job.correlation_id)
    services.queue.send(job)
    log.info("certificate rotation queued",
             extra={"event": "timer.certificate_rotation", "correlation_id": job.correlation_id,
                    "past_due": timer.past_due})


@bp.function_name("health_check")
@bp.timer_trigger(arg_name="timer", schedule=HEALTH_SCHEDULE, run_on_startup=False)
@invocation("timer")
def health_check(timer: func.TimerRequest) -> None:
    """SIP OPTIONS, SBC status and alarms, Genesys trunk status, certificate days left."""
    from byoc.bootstrap import get_services

    services = get_services()
    report = services.health.run()
    log.info("health checked", extra={"event": "timer.health", "status": report.status.value,
                                      "counts": report.counts(), "past_due": timer.past_due})
    record_estate(services)


def record_estate(services: Any) -> None:
    """The estate's gauges (queue, poison, certificates, health, NSG exposure, poller lag) from
    the status report; a failure here is logged, not raised: the health run itself is done."""
    from byoc import metrics
    from byoc.services.status import build_status

    try:
        status = build_status(inventory=services.inventory, state=services.state,
                              queue=services.queue)
        metrics.estate(status.to_json())
    except Exception as exc:
        log.warning("estate metrics not recorded", extra={
            "event": "metrics.estate_failed", "error": f"{type(exc).__name__}: {exc}"[:300]})
