"""Timer functions (NCRONTAB, six fields, UTC: Flex Consumption has no time zone setting)."""

from __future__ import annotations

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("byoc.timers")

TWILIO_POLL_SCHEDULE = "0 * * * * *"  # every minute
RECONCILE_SCHEDULE = "0 */15 * * * *"  # every 15 minutes
CERTIFICATE_ROTATION_SCHEDULE = "0 30 3 * * *"  # daily 03:30 UTC
HEALTH_SCHEDULE = "0 */5 * * * *"  # every 5 minutes


@bp.function_name("twilio_poll")
@bp.timer_trigger(arg_name="timer", schedule=TWILIO_POLL_SCHEDULE, run_on_startup=False)
def twilio_poll(timer: func.TimerRequest) -> None:
    """Read Twilio Monitor events (numbers bought or released) since the stored cursor."""
    from byoc.bootstrap import get_services

    outcome = get_services().twilio_poller.poll()
    log.info("Twilio polled", extra={"event": "timer.twilio_poll", **outcome.to_json(),
                                     "past_due": timer.past_due})


@bp.function_name("reconcile")
@bp.timer_trigger(arg_name="timer", schedule=RECONCILE_SCHEDULE, run_on_startup=False)
def reconcile(timer: func.TimerRequest) -> None:
    """Queue a sync of every target: repairs whatever an event missed or a person changed."""
    from byoc.bootstrap import get_services
    from byoc.domain.jobs import new_correlation_id

    targets = get_services().reconcile.enqueue(
        "all", reason="reconcile timer", correlation_id=new_correlation_id()
    )
    log.info("reconcile queued", extra={"event": "timer.reconcile", "targets": targets,
                                        "past_due": timer.past_due})


@bp.function_name("certificate_rotation")
@bp.timer_trigger(arg_name="timer", schedule=CERTIFICATE_ROTATION_SCHEDULE, run_on_startup=False)
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
    services.queue.send(job)
    log.info("certificate rotation queued",
             extra={"event": "timer.certificate_rotation", "correlation_id": job.correlation_id,
                    "past_due": timer.past_due})


@bp.function_name("health_check")
@bp.timer_trigger(arg_name="timer", schedule=HEALTH_SCHEDULE, run_on_startup=False)
def health_check(timer: func.TimerRequest) -> None:
    """SIP OPTIONS, SBC status and alarms, Genesys trunk status, certificate days left."""
    from byoc.bootstrap import get_services

    report = get_services().health.run()
    log.info("health checked", extra={"event": "timer.health", "status": report.status.value,
                                      "counts": report.counts(), "past_due": timer.past_due})
