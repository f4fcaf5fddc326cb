"""Event Grid: Key Vault certificate events start a rotation right away."""

from __future__ import annotations

import logging
import re

import azure.functions as func

from byoc.telemetry import bind_correlation, invocation

bp = func.Blueprint()
log = logging.getLogger("byoc.events")

CERTIFICATE_EVENT_TYPES = (
    "Microsoft.KeyVault.CertificateNewVersionCreated",
    "Microsoft.KeyVault.CertificateNearExpiry",
)
_VERSION = re.compile(r"[0-9A-Za-z]{1,64}")


@bp.function_name("keyvault_certificate_events")
@bp.event_grid_trigger(arg_name="event")
@invocation("eventGrid")
def keyvault_certificate_events(event: func.EventGridEvent) -> None:
    """A new certificate version, or one near expiry: rotate."""
    if event.event_type not in CERTIFICATE_EVENT_TYPES:
        log.info("Key Vault event ignored", extra={"event": "keyvault.ignored",
                                                   "event_type": event.event_type})
        return
    from byoc.bootstrap import get_services
    from byoc.domain.jobs import RotateCertificate, new_correlation_id

    data = event.get_json()
    data = data if isinstance(data, dict) else {}
    name = str(data.get("ObjectName") or data.get("objectName") or event.subject or "")
    services = get_services()
    settings = services.settings
    configured = sorted({n for n in [settings.certificate_name,
                                     *(s.certificate_name for s in settings.sbcs)] if n})
    if name.lower() not in {n.lower() for n in configured}:
        log.info("Key Vault event for another certificate ignored",
                 extra={"event": "keyvault.ignored", "event_type": event.event_type,
                        "certificate": name, "configured": configured})
        return
    version = str(data.get("Version") or data.get("version") or "")
    new_version = event.event_type.endswith("CertificateNewVersionCreated")
    # NearExpiry names the expiring version: rotate to the current one (maybe already renewed).
    job = RotateCertificate(
        correlation_id=new_correlation_id(),
        certificate_version=version if new_version and _VERSION.fullmatch(version) else None,
        certificate=name,
    )
    bind_correlation(job.correlation_id)
    services.queue.send(job)
    log.info("certificate rotation queued",
             extra={"event": "keyvault.rotation_queued", "event_type": event.event_type,
                    "certificate": name, "version": job.certificate_version,
                    "event_id": event.id, "correlation_id": job.correlation_id})
