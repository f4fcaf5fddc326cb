"""The reconcile targets byoc registers, each reconciler built from `Services` on first use."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Protocol

from byoc.domain.targets import nsg_target, sbc_target
from byoc.services.genesys_model import TARGET as GENESYS_TARGET
from byoc.services.genesys_reconciler import GenesysReconciler
from byoc.services.nsg_reconciler import NsgReconciler
from byoc.services.sbc_reconciler import SbcDialPlanReconciler
from byoc.services.twilio_model import TARGET as TWILIO_TARGET
from byoc.services.twilio_reconciler import TwilioTrunkReconciler
from byoc.services.twilio_termination import TerminationDesired

if TYPE_CHECKING:
    from byoc.domain.policy import Policy
    from byoc.ports import (
        GenesysPort,
        Inventory,
        JobQueue,
        NsgPort,
        SbcDialPlanPort,
        TwilioPort,
    )
    from byoc.services.reconcile import ReconcilerRegistry, ReconcileService
    from byoc.settings import SbcSettings, Settings


class Services(Protocol):
    """What the targets take from `byoc.bootstrap.Services` (named here, so the two modules do
    not import each other)."""

    settings: Settings

    @property
    def twilio(self) -> TwilioPort: ...

    @property
    def genesys(self) -> GenesysPort: ...

    @property
    def queue(self) -> JobQueue: ...

    @property
    def inventory(self) -> Inventory: ...

    @property
    def reconcile(self) -> ReconcileService: ...

    def policy(self) -> Policy: ...

    def secret(self, field: str) -> str: ...

    def sbc(self, sbc: SbcSettings) -> SbcDialPlanPort: ...

    def nsg(self, sbc: SbcSettings) -> NsgPort: ...


def register_targets(services: Services, registry: ReconcilerRegistry) -> None:
    """Every target byoc reconciles, in the order a full sync should visit them."""
    register_twilio_target(services, registry)  # twilio: the trunk and its numbers
    register_sbc_targets(services, registry)  # sbc:<name> for each configured SBC
    register_genesys_target(services, registry)  # genesys: DID pools, routing, outbound route
    register_nsg_targets(services, registry)  # nsg:<sbc> for each SBC with an nsg_resource_id


def register_twilio_target(services: Services, registry: ReconcilerRegistry) -> None:
    """Register target `twilio` (always: the trunk is required configuration)."""
    registry.register(TWILIO_TARGET, partial(twilio_reconciler, services))


def register_sbc_targets(services: Services, registry: ReconcilerRegistry) -> None:
    """Register `sbc:<name>` for every configured SBC."""
    for sbc in services.settings.sbcs:
        registry.register(sbc_target(sbc.name), partial(sbc_reconciler, services, sbc))


def register_genesys_target(services: Services, registry: ReconcilerRegistry) -> None:
    """Register `genesys` (the SDK is imported only when a sync first calls Genesys)."""
    registry.register(GENESYS_TARGET, partial(genesys_reconciler, services))


def register_nsg_targets(services: Services, registry: ReconcilerRegistry) -> None:
    """Register `nsg:<sbc>` for every SBC with an NSG resource id."""
    for sbc in services.settings.sbcs:
        if sbc.nsg_resource_id:
            registry.register(nsg_target(sbc.name), partial(nsg_reconciler, services, sbc))


def twilio_reconciler(services: Services) -> TwilioTrunkReconciler:
    """The Twilio trunk reconciler over the process's Twilio adapter."""
    settings = services.settings
    return TwilioTrunkReconciler(
        twilio=services.twilio,
        trunk_sid=settings.twilio_trunk_sid,
        secure=settings.twilio_trunk_secure,
        sbcs=list(settings.sbcs),
        policy=services.policy,
        queue=services.queue,
        number_targets=lambda: services.reconcile.number_targets(),
        termination=TerminationDesired(
            acl_name=settings.twilio_termination_acl_name,
            addresses={ip: sbc.name for sbc in settings.sbcs for ip in sbc.public_ips},
            credential_list=settings.twilio_credential_list_name,
            username=settings.twilio_credential_username,
            password=(lambda: services.secret("twilio_credential_password"))
            if settings.twilio_credential_list_name else None,
        ),
    )


def sbc_reconciler(services: Services, sbc: SbcSettings) -> SbcDialPlanReconciler:
    """The dial-plan reconciler of one SBC."""
    return SbcDialPlanReconciler(sbc, services.sbc(sbc))


def genesys_reconciler(services: Services) -> GenesysReconciler:
    """The Genesys reconciler over the process's one Genesys adapter (its token is reused)."""
    return GenesysReconciler(services.settings, services.genesys, lambda: services.inventory)


def nsg_reconciler(services: Services, sbc: SbcSettings) -> NsgReconciler:
    """The NSG reconciler of one SBC (the Azure adapter is built on its first call)."""
    return NsgReconciler(services.settings, sbc, services.nsg(sbc))
