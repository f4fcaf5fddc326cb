"""The composition root: builds byoc's services from settings, each dependency once and lazily.

Entrypoints (function blueprints, the CLI, devhost) ask `Services` for what they need, and import
this module only when called, so importing `function_app` stays light. Nothing is built until first
used; the vendor adapters (Twilio, Genesys, AudioCodes, Azure NSG: OpenTelemetry and the SDK clients
behind them) and the services that load `cryptography` (certificates, health, doctor) or OpenTelemetry
(reconcile, worker, test-call) are imported in the property that builds them, so a process pays only
for what it uses.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from byoc.adapters.identity import build_credential
from byoc.adapters.keyvault import KeyVaultSecrets
from byoc.adapters.lock import BlobLeaseLocks
from byoc.adapters.policy_source import read_policy_text
from byoc.adapters.queue import StorageJobQueue
from byoc.adapters.storage import StorageAccess
from byoc.adapters.tables import TableInventory, TableOperationsLog, TableStateStore
from byoc.bootstrap.targets import register_targets
from byoc.domain.plan import GuardLimits
from byoc.domain.policy import Policy
from byoc.domain.policy_file import load_policy
from byoc.observability import register_secret
from byoc.services.genesys_events import CachedSecret, GenesysEvents
from byoc.services.notices import NoticeConfirmation
from byoc.services.numbers import NumberLifecycle
from byoc.services.poison import PoisonQueue
from byoc.services.purchases import NumberPurchases
from byoc.services.trace import NumberTrace
from byoc.services.twilio_poller import TwilioEventPoller
from byoc.settings import Settings, cached_settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from byoc.adapters.audiocodes import AudioCodesSbc
    from byoc.adapters.twilio import TwilioAdapter
    from byoc.ports import GenesysPort, NsgPort, SbcMonitorPort
    from byoc.services.certificates import CertificateRotation
    from byoc.services.doctor_run import Doctor
    from byoc.services.health import HealthService
    from byoc.services.reconcile import ReconcilerRegistry, ReconcileService
    from byoc.services.test_call import TestCall
    from byoc.services.webhooks import TwilioNumberWebhook
    from byoc.services.worker import Worker
    from byoc.settings import SbcSettings

class Services:
    """Every service and adapter byoc uses, built on first use from one `Settings`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._policy_lock = threading.Lock()
        self._policy: tuple[str, Policy] | None = None

    # --- Azure identity, storage, Key Vault -------------------------------------------------

    @cached_property
    def credential(self) -> TokenCredential:
        return build_credential(self.settings)

    @cached_property
    def storage(self) -> StorageAccess:
        connection = self.settings.storage_connection_string
        for part in (connection.get_secret_value() if connection else "").split(";"):
            if part.startswith("AccountKey="):
                register_secret(part.removeprefix("AccountKey="))
        if self.settings.azure_static_token is not None:
            register_secret(self.settings.azure_static_token.get_secret_value())
        needs_identity = self.settings.storage_connection_string is None
        return StorageAccess.from_settings(
            self.settings, self.credential if needs_identity else None
        )

    @cached_property
    def queue(self) -> StorageJobQueue:
        return StorageJobQueue(self.storage)

    @cached_property
    def poison(self) -> PoisonQueue:
        """`byoc jobs poison`: the messages that failed too often, or were malformed."""
        return PoisonQueue(self.queue)

    @cached_property
    def inventory(self) -> TableInventory:
        return TableInventory(self.storage, self.settings.inventory_table)

    @cached_property
    def operations(self) -> TableOperationsLog:
        return TableOperationsLog(self.storage, self.settings.operations_table)

    @cached_property
    def state(self) -> TableStateStore:
        return TableStateStore(self.storage, self.settings.state_table)

    @cached_property
    def locks(self) -> BlobLeaseLocks:
        return BlobLeaseLocks(
            self.storage, self.settings.lock_container, lease_s=self.settings.lock_lease_s
        )

    @cached_property
    def keyvault(self) -> KeyVaultSecrets:
        if not self.settings.keyvault_url:
            raise LookupError("BYOC_KEYVAULT_URL is not set")
        return KeyVaultSecrets(
            self.settings.keyvault_url,
            self.credential,
            verify_challenge_resource=self.settings.keyvault_verify_challenge_resource,
            ca_bundle=self.settings.ca_bundle,
        )

    def secret(self, field: str) -> str:
        """A secret setting's value: the local plain value, or the named Key Vault secret."""

        plain = getattr(self.settings, field)
        if plain is not None:
            value = str(plain.get_secret_value())
        else:
            name = getattr(self.settings, f"{field}_secret_name")
            if name is None:
                raise LookupError(f"BYOC_{field.upper()}_SECRET_NAME is not set")
            value = self.keyvault.get_secret(name).value
        register_secret(value)
        return value

    # --- policy -------------------------------------------------------------------------------

    def policy(self) -> Policy:
        """The routing policy, re-read when its file or blob changes."""

        text, version = read_policy_text(
            self.settings.policy_path,
            credential=self.credential if self.settings.policy_path.startswith("https") else None,
            ca_bundle=self.settings.ca_bundle,
        )
        with self._policy_lock:
            if self._policy is None or self._policy[0] != version:
                self._policy = (version, load_policy(text, self.settings.policy_path))
            return self._policy[1]

    # --- vendor adapters --------------------------------------------------------------------

    @cached_property
    def genesys(self) -> GenesysPort:
        """The process's one Genesys adapter, so its token is reused across syncs."""
        from byoc.adapters.genesys import GenesysAdapter  # the Genesys SDK: only when first used

        return GenesysAdapter.from_settings(
            self.settings, lambda: self.secret("genesys_client_secret"))

    def sbc(self, sbc: SbcSettings) -> AudioCodesSbc:
        """An AudioCodes REST client for one SBC."""
        from byoc.adapters.audiocodes import AudioCodesSbc

        return AudioCodesSbc.from_settings(self.settings, sbc, lambda: self.secret("sbc_password"))

    def azure_nsg(self, sbc: SbcSettings) -> NsgPort:
        """The Azure NSG of `sbc`, built now (a malformed resource id raises here)."""
        from byoc.adapters.nsg import AzureNsg  # azure-mgmt-network: only when first used

        assert sbc.nsg_resource_id is not None
        return AzureNsg.from_settings(self.settings, sbc.nsg_resource_id, credential=self.credential)

    def nsg(self, sbc: SbcSettings) -> NsgPort:
        """The Azure NSG of `sbc`, built on its first call: listing targets costs nothing, and a
        malformed NSG resource id fails this target's sync only."""
        return _NsgOnFirstUse(lambda: self.azure_nsg(sbc))

    @cached_property
    def genesys_events(self) -> GenesysEvents:
        """Relayed Genesys notifications; the events secret is read from Key Vault at most every
        few minutes."""

        return GenesysEvents(
            secret=CachedSecret(lambda: self.secret("genesys_events_secret")),
            state=self.state,
            queue=self.queue,
            own_client_id=self.settings.genesys_client_id,
        )

    # --- services -----------------------------------------------------------------------------

    @cached_property
    def registry(self) -> ReconcilerRegistry:
        from byoc.services.reconciler import ReconcilerRegistry

        registry = ReconcilerRegistry()
        register_targets(self, registry)
        return registry

    @cached_property
    def reconcile(self) -> ReconcileService:
        from byoc.services.reconcile import ReconcileService

        return ReconcileService(
            registry=self.registry,
            inventory=self.inventory,
            operations=self.operations,
            state=self.state,
            locks=self.locks,
            queue=self.queue,
            policy=self.policy,
            full_sync_max_deferral_s=60.0 * self.settings.full_sync_max_deferral_minutes,
            limits=GuardLimits(
                max_delete_fraction=self.settings.max_delete_fraction,
                max_delete_count=self.settings.max_delete_count,
            ),
        )

    @cached_property
    def numbers(self) -> NumberLifecycle:
        return NumberLifecycle(
            inventory=self.inventory,
            state=self.state,
            queue=self.queue,
            policy=self.policy,
            number_targets=lambda: self.reconcile.number_targets(),
        )

    @cached_property
    def worker(self) -> Worker:
        from byoc.services.worker import Worker

        return Worker(
            queue=self.queue,
            numbers=lambda: self.numbers,
            reconcile=lambda: self.reconcile,
            rotate_certificate=lambda job: self.certificates.run_job(job),
            notices=lambda: self.notices,
        )

    @cached_property
    def notices(self) -> NoticeConfirmation:
        return NoticeConfirmation(
            twilio=self.twilio, inventory=self.inventory, policy=self.policy,
            trunk_sid=self.settings.twilio_trunk_sid,
        )

    # --- certificates -------------------------------------------------------------------------

    @cached_property
    def certificates(self) -> CertificateRotation:
        """TLS certificate rotation from Key Vault to the SBCs (byoc/services/certificates.py)."""
        from byoc.adapters.audiocodes_tls import AudioCodesTlsContext, SipTlsHandshake
        from byoc.services.certificate_sources import load_trust_roots, trust_bundle_path
        from byoc.services.certificates import CertificateRotation

        settings = self.settings
        trust_file = trust_bundle_path(settings.cert_trust_bundle)
        return CertificateRotation(
            settings=settings,
            secrets=self.keyvault,
            sbc_tls=lambda sbc: AudioCodesTlsContext.for_sbc(
                settings, sbc, lambda: self.secret("sbc_password")
            ),
            handshake=SipTlsHandshake(
                trust_file=trust_file, timeout_s=settings.health_probe_timeout_s,
                genesys_suites=not settings.cert_allow_ec,
            ),
            trust_roots=functools.cache(lambda: load_trust_roots(trust_file)),
            operations=self.operations,
            state=self.state,
            locks=self.locks,
            queue=self.queue,
        )

    # --- Twilio -------------------------------------------------------------------------------

    @cached_property
    def twilio(self) -> TwilioAdapter:
        from byoc.adapters.twilio import TwilioAdapter

        return TwilioAdapter(
            account_sid=self.settings.twilio_account_sid,
            trunk_sid=self.settings.twilio_trunk_sid,
            auth_token=lambda: self.secret("twilio_auth_token"),
            api_base=self.settings.twilio_api_base,
            concurrency=self.settings.twilio_concurrency,
            timeout_s=self.settings.twilio_timeout_s,
        )

    @cached_property
    def twilio_webhook(self) -> TwilioNumberWebhook:
        from byoc.services.webhooks import TwilioNumberWebhook

        return TwilioNumberWebhook(
            public_url=self.settings.twilio_webhook_url,
            auth_token=lambda: self.secret("twilio_auth_token"),
            queue=self.queue,
            state=self.state,
            notice_secret=self._notice_secret,
            rate_per_minute=self.settings.twilio_notice_rate_per_minute,
        )

    def _notice_secret(self) -> str | None:
        """The notice signing key(s), or None when no notice secret is configured."""
        settings = self.settings
        if settings.twilio_notice_secret is None and not settings.twilio_notice_secret_secret_name:
            return None
        return self.secret("twilio_notice_secret")

    @cached_property
    def purchases(self) -> NumberPurchases:
        return NumberPurchases(
            twilio=self.twilio,
            inventory=self.inventory,
            queue=self.queue,
            lifecycle=lambda: self.numbers,
            policy=self.policy,
            max_purchase=self.settings.twilio_max_purchase,
            countries=tuple(self.settings.twilio_purchase_countries),
        )

    @cached_property
    def twilio_poller(self) -> TwilioEventPoller:
        return TwilioEventPoller(
            twilio=self.twilio,
            inventory=self.inventory,
            queue=self.queue,
            state=self.state,
            policy=self.policy,
            trunk_sid=self.settings.twilio_trunk_sid,
            retention_days=self.settings.twilio_poll_retention_days,
        )

    @cached_property
    def trace(self) -> NumberTrace:
        """`byoc trace NUMBER`: the number's path read live from every vendor."""

        return NumberTrace(
            settings=self.settings,
            policy=self.policy,
            inventory=self.inventory,
            twilio=lambda: self.twilio,
            genesys=lambda: self.genesys,
            sbc=self.sbc,
            nsg_rules=lambda sbc: self.nsg(sbc).read_rules(),
            certificates=lambda: self.certificates.status(record_health=False),
        )

    @cached_property
    def test_call(self) -> TestCall:
        """`byoc test-call NUMBER`: a real call through the estate, seen arriving in Genesys."""
        from byoc.ports import GenesysCallPort
        from byoc.services.test_call import TestCall

        def is_managed(number: str) -> bool:
            return self.policy().is_managed(number) and self.inventory.get(number) is not None

        def conversations() -> GenesysCallPort:
            # the adapter behind the port (the reconciler's GenesysPort does not read calls)
            return cast("GenesysCallPort", self.genesys)

        return TestCall(twilio=self.twilio, genesys=conversations,
                        caller_id=self.settings.test_call_from, is_managed=is_managed)

    @cached_property
    def health(self) -> HealthService:
        from byoc.adapters.sip_probe import probe
        from byoc.services.health import HealthService

        def sbc_monitor(sbc: SbcSettings) -> SbcMonitorPort:
            return self.sbc(sbc)

        return HealthService(
            settings=self.settings,
            inventory=self.inventory,
            state=self.state,
            queue=self.queue,
            prober=probe,
            targets=lambda: self.registry.targets(),
            sbc_monitor=sbc_monitor,
            trunk_status=lambda: self.genesys,
            nsg=self.azure_nsg,
        )

    def doctor(self) -> Doctor:
        """`byoc doctor`: the go-live checklist and the variant probes, through the adapters."""

        from byoc.adapters.audiocodes_tls import AudioCodesTlsContext, SipTlsHandshake
        from byoc.adapters.sip_probe import probe
        from byoc.services.certificate_sources import trust_bundle_path
        from byoc.services.doctor import DoctorContext
        from byoc.services.doctor_run import Doctor

        settings = self.settings
        return Doctor(DoctorContext(
            settings=settings,
            twilio=self.twilio,
            genesys=self.genesys,
            sbc=self.sbc,
            handshake=SipTlsHandshake(trust_file=trust_bundle_path(settings.cert_trust_bundle),
                                      timeout_s=settings.health_probe_timeout_s,
                                      genesys_suites=not settings.cert_allow_ec),
            prober=probe,
            environment=dict(os.environ),
            tls_context=lambda sbc: AudioCodesTlsContext.for_sbc(
                settings, sbc, lambda: self.secret("sbc_password")),
        ))


_services: Services | None = None
_services_lock = threading.Lock()


def get_services() -> Services:
    """The process-wide services, built from the environment's settings on first use."""
    global _services
    with _services_lock:
        if _services is None:
            _services = Services(cached_settings())
        return _services


def reset_services() -> None:
    """Forget the process-wide services (settings changed: tests, devhost reload)."""
    global _services
    with _services_lock:
        _services = None
    cached_settings.cache_clear()


class _NsgOnFirstUse:
    """An `NsgPort` whose adapter is built on its first call."""

    def __init__(self, build: Callable[[], NsgPort]) -> None:
        self._build = build
        self._port: NsgPort | None = None

    def _get(self) -> NsgPort:
        if self._port is None:
            self._port = self._build()
        return self._port

    def read_rules(self) -> list[dict[str, Any]]:
        return self._get().read_rules()

    def put_rule(self, name: str, properties: dict[str, Any], *, etag: str | None) -> dict[str, Any]:
        return self._get().put_rule(name, properties, etag=etag)

    def delete_rule(self, name: str, *, etag: str | None) -> None:
        self._get().delete_rule(name, etag=etag)
