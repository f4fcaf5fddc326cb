"""Ports: the Protocols services use to reach every external system.

Adapters implement them (Azure Storage, Key Vault, the vendor SDKs); unit tests use in-memory fakes.
Vendor ports sit next to the reconciler that uses them, in the section for that system below.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from byoc.domain.inventory import NumberRecord
from byoc.domain.jobs import Job

if TYPE_CHECKING:
    from byoc.adapters.sip import ProbeResult, ProbeTarget

# --- byoc's own storage -------------------------------------------------------------------------


class JobQueue(Protocol):
    """The `byoc-jobs` queue."""

    def send(self, job: Job, *, delay_s: int = 0) -> None: ...

    def dead_letter(self, body: str, reason: str) -> None: ...


class QueueMetrics(Protocol):
    """How deep the job queue and its poison queue are."""

    def depth(self, *, poison: bool = False) -> int: ...


class Inventory(Protocol):
    """The `inventory` table."""

    def get(self, number: str) -> NumberRecord | None: ...

    def put(self, record: NumberRecord) -> None: ...

    def put_many(self, records: Iterable[NumberRecord]) -> None: ...

    def all(self) -> list[NumberRecord]: ...

    def update(
        self, number: str, change: Callable[[NumberRecord | None], NumberRecord | None]
    ) -> NumberRecord | None:
        """Read, change and write one record as one step: `change` gets the record as stored now
        (None: absent) and returns what to store (None: leave it); it runs again if another
        worker wrote the record in between. Returns the record as stored."""
        ...

    def update_many(
        self, numbers: Iterable[str], change: Callable[[NumberRecord], NumberRecord | None]
    ) -> int:
        """`update` for the existing records among `numbers`, batched; how many were written."""
        ...


class OperationsLog(Protocol):
    """The `operations` table: every applied change."""

    def record(
        self,
        *,
        target: str,
        operation: str,
        outcome: str,
        correlation_id: str,
        numbers: list[str] | None = None,
        before: Any = None,
        after: Any = None,
        detail: str = "",
    ) -> None: ...


class StateStore(Protocol):
    """Small records: processed event ids, cursors, health results, sync status."""

    def claim(self, namespace: str, key: str) -> bool: ...

    def claim_all(self, namespace: str, keys: list[str]) -> bool:
        """Record every key at once, or none (False: one of them was recorded before)."""
        ...

    def release_claim(self, namespace: str, key: str) -> None: ...

    def get(self, namespace: str, key: str) -> Any: ...

    def put(self, namespace: str, key: str, value: Any) -> None: ...

    def items(self, namespace: str) -> dict[str, Any]: ...


class HeldLease(Protocol):
    """A lease on one target; `check()` raises once it is lost."""

    def check(self) -> None: ...


class TargetLocks(Protocol):
    """Single-flight per target."""

    def hold(self, target: str) -> AbstractContextManager[HeldLease]: ...


# --- Azure NSG ----------------------------------------------------------------------------------


class NsgPort(Protocol):
    """One Azure network security group's security rules, as ARM JSON.

    A rule is `{"name": ..., "etag": ..., "properties": {"priority": ..., "direction": ...,
    "access": ..., "protocol": ..., "sourceAddressPrefix(es)": ..., ...}}` (the REST API's shape).
    """

    def read_rules(self) -> list[dict[str, Any]]:
        """Every user-defined rule with its ETag (Azure's default rules left out); one read."""
        ...

    def put_rule(
        self, name: str, properties: dict[str, Any], *, etag: str | None
    ) -> dict[str, Any]:
        """Create the rule (`etag` None: only if absent) or replace it (only if unchanged)."""
        ...

    def delete_rule(self, name: str, *, etag: str | None) -> None:
        """Delete the rule (only if unchanged, when `etag` is given); absent is fine."""
        ...


# --- AudioCodes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SbcDialPlanRule:
    """One Dial Plan Rule as the SBC holds it (`index` is its RuleIndex within the plan)."""

    index: int
    name: str
    prefix: str
    tag: str = ""


@dataclass(frozen=True)
class SbcDialPlan:
    """One SBC Dial Plan and its rules."""

    index: int
    name: str
    rules: tuple[SbcDialPlanRule, ...] = ()


@dataclass(frozen=True)
class SbcDialPlans:
    """Every Dial Plan of one SBC, and the export it was read from (`ini` or `cliScript`)."""

    plans: tuple[SbcDialPlan, ...] = ()
    source: str = "ini"
    save_needed: bool = False
    """The device runs changes it has not saved (lost on its next reset)."""

    def named(self, name: str) -> SbcDialPlan | None:
        """The plan called `name` (the device compares names case-insensitively)."""
        wanted = name.casefold()
        return next((p for p in self.plans if p.name.casefold() == wanted), None)


@dataclass(frozen=True)
class SbcIpToIpRoute:
    """One row of the SBC's IP-to-IP Routing table (`IP2IPRouting`), columns as exported."""

    index: int
    name: str
    source_ip_group: str
    request_type: str
    dest_type: str
    dest_ip_group: str
    dest_tags: str
    internal_action: str = ""


@dataclass(frozen=True)
class SbcDialPlanEdit:
    """Rule changes to one Dial Plan, written to the SBC in one incremental upload."""

    plan_name: str
    plan_index: int
    create_plan: bool = False
    put: tuple[SbcDialPlanRule, ...] = ()
    """Rules written at their index (added, or replacing the rule there)."""
    delete: tuple[int, ...] = ()
    """Rule indexes removed."""


@dataclass(frozen=True)
class SbcStatus:
    """`GET /api/v1/status`, with the flags the device sends as strings turned into booleans."""

    operational_state: str
    high_availability: str
    version: str
    save_needed: bool
    reset_needed: bool
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SbcAlarm:
    """One active alarm (`severity`, `source` and `date` only when details were read)."""

    id: str
    description: str
    severity: str | None = None
    source: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class SbcCoderGroups:
    """The SBC's audio coder groups (coder names as exported, in order) and the groups its IP
    Profiles name (empty: no IP Profile names one)."""

    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    in_use: tuple[str, ...] = ()

    def coders(self, group: str) -> tuple[str, ...]:
        """The coders of `group` (names compared case-insensitively); empty when absent."""
        wanted = group.casefold()
        return next((c for name, c in self.groups if name.casefold() == wanted), ())


class SbcWriteIncomplete(Exception):
    """An upload reached the SBC but the device refused part of it: what it accepted runs,
    unsaved (raised by `SbcDialPlanPort.write_dial_plan`)."""


class SbcDialPlanPort(Protocol):
    """The Dial Plans of one AudioCodes SBC (REST API `/api/v1`)."""

    def read_dial_plans(self) -> SbcDialPlans:
        """Every plan and rule, from the ini export or, when it lacks the rules, the CLI one."""
        ...

    def write_dial_plan(self, edit: SbcDialPlanEdit) -> SbcDialPlans:
        """One incremental upload, its answer checked, save, then the plans read back; raises
        unless the read-back shows exactly the edit's rules."""
        ...

    def save_configuration(self) -> None:
        """Save the running configuration (what an earlier write left unsaved)."""
        ...


class SbcMonitorPort(Protocol):
    """What the health check reads from an SBC."""

    def status(self) -> SbcStatus: ...

    def active_alarms(self, *, details: bool = False) -> list[SbcAlarm]: ...


class SbcConfigReadPort(Protocol):
    """What `byoc doctor` reads from an SBC without writing: status, exports, coder groups."""

    def status(self) -> SbcStatus: ...

    def read_export(self, kind: str) -> str:
        """The configuration export as text: `ini` or `cliScript`."""
        ...

    def read_coder_groups(self) -> SbcCoderGroups: ...

    def read_dial_plan_dialect(self) -> str | None:
        """`nested` or `flat`: where the CLI export writes Dial Plan rules (None: no rule)."""
        ...

    def read_dial_plans(self) -> SbcDialPlans: ...

    def write_dial_plan(self, edit: SbcDialPlanEdit) -> SbcDialPlans: ...

    def upload_answer_fields(self) -> tuple[str, ...]:
        """The field names of the answer to an incremental upload that changes nothing."""
        ...

    def close(self) -> None: ...


# --- Twilio -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwilioNumber:
    """A number the Twilio account owns (`trunk_sid` None: on no trunk)."""

    sid: str
    phone_number: str
    trunk_sid: str | None = None
    account_sid: str | None = None
    """The account Twilio says owns it (None: not reported)."""


@dataclass(frozen=True)
class TwilioTrunk:
    """The Elastic SIP trunk's settings byoc manages."""

    sid: str
    secure: bool
    domain_name: str | None = None
    friendly_name: str | None = None
    auth_type: str = ""
    """What admits termination traffic: `IP_ACL` and/or `CREDENTIAL_LIST`, comma-delimited;
    empty: the termination domain receives no traffic."""
    disaster_recovery_url: str | None = None


@dataclass(frozen=True)
class TwilioOriginationUrl:
    """One origination URL of the trunk (`sid` None: not created yet)."""

    friendly_name: str
    sip_url: str
    priority: int
    weight: int
    enabled: bool = True
    sid: str | None = None


@dataclass(frozen=True)
class TwilioNumberAuditEvent:
    """One Monitor `phone-number.*` event, as far as byoc reads it.

    `phone_number` and `trunk_sid` come from the event's `resource_properties`; None when the event
    does not say (their keys are unverified on a real account). `changed` names the properties an
    update changed (None: unknown).
    """

    sid: str
    event_type: str
    event_date: dt.datetime
    resource_sid: str | None
    phone_number: str | None = None
    trunk_sid: tuple[str | None, str | None] | None = None
    changed: frozenset[str] | None = None


@dataclass(frozen=True)
class TwilioIpAcl:
    """An IP access control list of the account: its addresses, address -> address SID."""

    sid: str
    friendly_name: str
    addresses: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TwilioCredentialList:
    """A credential list of the account: its user names, user name -> credential SID."""

    sid: str
    friendly_name: str
    usernames: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TwilioTermination:
    """What admits the SBCs' calls to the trunk: the lists byoc looks at, and the trunk's links."""

    acls: tuple[TwilioIpAcl, ...] = ()
    trunk_acl_sids: frozenset[str] = frozenset()
    credential_lists: tuple[TwilioCredentialList, ...] = ()
    trunk_credential_list_sids: frozenset[str] = frozenset()


class TwilioError(Exception):
    """Twilio refused a call; the message says what, and what to look at."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TwilioRateLimited(TwilioError):
    """Twilio kept answering 429/20429 (too many concurrent requests) after every retry."""


class TwilioNumberUnavailable(TwilioError):
    """The number cannot be bought (taken meanwhile, or not in Twilio's inventory)."""


class TwilioPort(Protocol):
    """One Twilio account and its Elastic SIP trunk (REST: Trunking v1, API 2010, Monitor v1).

    Reads follow every page. Writes retry 429/20429 with backoff and never create duplicates.
    Batch writes run with bounded concurrency, call `before_each()` (the lease check) before every
    write, and return the numbers that failed with the reason instead of stopping at the first.
    """

    def fetch_trunk(self) -> TwilioTrunk: ...

    def set_trunk_secure(self, secure: bool) -> TwilioTrunk: ...

    def list_origination_urls(self) -> list[TwilioOriginationUrl]: ...

    def create_origination_url(self, url: TwilioOriginationUrl) -> TwilioOriginationUrl: ...

    def update_origination_url(self, url: TwilioOriginationUrl) -> TwilioOriginationUrl: ...

    def delete_origination_url(self, sid: str) -> None: ...

    def list_trunk_numbers(self) -> list[TwilioNumber]: ...

    def list_account_numbers(self) -> list[TwilioNumber]: ...

    def fetch_number(self, sid: str) -> TwilioNumber | None: ...

    def find_number(self, phone_number: str) -> TwilioNumber | None: ...

    def associate_numbers(
        self, numbers: list[TwilioNumber], before_each: Callable[[], None]
    ) -> dict[str, str]: ...

    def release_numbers(
        self, numbers: list[TwilioNumber], before_each: Callable[[], None]
    ) -> dict[str, str]: ...

    def search_available(
        self, *, country: str, area_code: str, contains: str | None, limit: int
    ) -> list[str]: ...

    def purchase_number(self, phone_number: str) -> TwilioNumber: ...

    def list_number_events(self, since: dt.datetime) -> list[TwilioNumberAuditEvent]: ...

    def number_event_data_keys(self, since: dt.datetime) -> list[tuple[str, ...]]:
        """The top-level `event_data` keys of each `phone-number.*` Monitor event since `since`."""
        ...

    def read_termination(
        self, acl_name: str, credential_list_name: str | None
    ) -> TwilioTermination:
        """The account's ACLs (addresses of the one named `acl_name` and of those on the trunk),
        its credential lists (user names of the named one), and the trunk's links to both."""
        ...

    def create_ip_acl(self, friendly_name: str) -> TwilioIpAcl: ...

    def add_acl_address(self, acl_sid: str, ip_address: str, friendly_name: str) -> None: ...

    def remove_acl_address(self, acl_sid: str, address_sid: str) -> None: ...

    def associate_ip_acl(self, acl_sid: str) -> None: ...

    def create_credential_list(self, friendly_name: str) -> TwilioCredentialList: ...

    def add_credential(self, list_sid: str, username: str, password: str) -> None: ...

    def associate_credential_list(self, list_sid: str) -> None: ...


# --- Genesys ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenesysDidPool:
    """One DID pool: an inclusive E.164 range (`state` "deleted" pools read back after a delete)."""

    id: str
    start: str
    end: str
    name: str = ""
    description: str = ""
    state: str = "active"


@dataclass(frozen=True)
class GenesysDid:
    """An assigned pool number and what holds it (`owner_type` IVR_CONFIG, USER, PHONE, GROUP)."""

    number: str
    owner_type: str
    owner_id: str
    owner_name: str = ""


@dataclass(frozen=True)
class GenesysIvr:
    """One Architect IVR ("call route"); `handle` is the adapter's model, kept for the next PUT."""

    id: str
    name: str
    version: int
    dnis: tuple[str, ...] = ()
    handle: Any = field(default=None, compare=False, repr=False)
    description: str = ""
    routing: tuple[str, ...] = ()
    """Ids of its open, closed and holiday hours flows and schedule group ("" where none)."""


@dataclass(frozen=True)
class GenesysContact:
    """One user address (`media_type` PHONE, EMAIL or SMS; `type` WORK, WORK2, MOBILE, ...), with
    every field the SDK's `Contact` carries: a write sends them all back."""

    media_type: str
    type: str | None = None
    address: str | None = None
    extension: str | None = None
    display: str | None = None
    country_code: str | None = None
    integration: str | None = None


@dataclass(frozen=True)
class GenesysUser:
    """A user as far as byoc routes numbers to them."""

    id: str
    email: str
    name: str
    version: int
    addresses: tuple[GenesysContact, ...] = ()

    def phones(self) -> list[str]:
        """Every phone number among the user's addresses."""
        return [a.address for a in self.addresses if a.media_type == "PHONE" and a.address]


@dataclass(frozen=True)
class GenesysRef:
    """A named Genesys object (site, trunk base settings)."""

    id: str
    name: str


@dataclass(frozen=True)
class GenesysOutboundRoute:
    """One outbound route of a site."""

    id: str
    name: str
    version: int
    classification_types: tuple[str, ...]
    trunk_bases: tuple[GenesysRef, ...]
    enabled: bool
    distribution: str = "SEQUENTIAL"
    description: str = ""
    site: GenesysRef | None = None


@dataclass(frozen=True)
class GenesysOutboundRouteSpec:
    """What an outbound route byoc writes must hold."""

    name: str
    classification_types: tuple[str, ...]
    trunk_base: GenesysRef
    description: str
    enabled: bool = True
    distribution: str = "SEQUENTIAL"


@dataclass(frozen=True)
class GenesysProxyStatus:
    """The last SIP OPTIONS ping of one proxy of a trunk."""

    proxy_address: str
    ok: bool
    since: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class GenesysTrunkStatus:
    """A BYOC trunk's state: connected, in service, and SIP OPTIONS per proxy."""

    id: str
    name: str
    trunk_base: str
    in_service: bool
    enabled: bool
    connected: bool
    connected_since: str | None = None
    options: tuple[GenesysProxyStatus, ...] = ()


class GenesysError(Exception):
    """Genesys Cloud refused a call; the message says what and what to look at."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class GenesysNumberInUse(GenesysError):
    """A number cannot be routed: something else (a phone, a group, another user) holds it."""

    def __init__(self, message: str, *, number: str, status: int | None = None,
                 code: str | None = None) -> None:
        super().__init__(message, status=status, code=code)
        self.number = number


class GenesysPoolRangeRefused(GenesysError):
    """Genesys refused to change a DID pool's range in place (whether it ever does for a shrink
    past an assigned number is unverified: docs/verify-on-a-real-tenant.md)."""


class GenesysPort(Protocol):
    """One Genesys Cloud org (Platform API v2) as byoc's Genesys reconciler uses it.

    Reads follow every page. Writes carry the entity's current `version`; a version conflict is
    re-read and re-applied, and a number of a pool created moments ago is retried while the pool
    settles. A create that may have landed before an error is found again by its range instead of
    being created twice.
    """

    def list_did_pools(self) -> list[GenesysDidPool]: ...

    def create_did_pool(
        self, start: str, end: str, *, name: str, description: str
    ) -> GenesysDidPool: ...

    def resize_did_pool(
        self, pool: GenesysDidPool, start: str, end: str, *, name: str
    ) -> GenesysDidPool:
        """Change the pool's range in place (PUT): `GenesysPoolRangeRefused` when Genesys will
        not, `GenesysNotFound`-like 404 `GenesysError` when the pool is gone."""
        ...

    def delete_did_pool(self, pool: GenesysDidPool) -> None: ...

    def read_did_pool_state(self, pool_id: str) -> str | None:
        """The pool's state as Genesys reports it now (None: not found), uncorrected."""
        ...

    def list_pool_dids(self, pool: GenesysDidPool) -> list[GenesysDid]:
        """The pool's assigned numbers and their owners (unassigned numbers are not DIDs)."""
        ...

    def list_ivrs(self) -> list[GenesysIvr]: ...

    def get_ivr(self, ivr_id: str) -> GenesysIvr: ...

    def update_ivr_dnis(
        self, ivr: GenesysIvr, *, add: tuple[str, ...] = (), remove: tuple[str, ...] = ()
    ) -> GenesysIvr:
        """Add and remove numbers of the IVR's `dnis` in one PUT; returns the IVR as saved."""
        ...

    def create_ivr(self, like: GenesysIvr, *, name: str, description: str) -> GenesysIvr:
        """A new IVR with no numbers and the flows and schedule group of `like`."""
        ...

    def update_ivr_routing(self, ivr: GenesysIvr, like: GenesysIvr) -> GenesysIvr:
        """Give `ivr` the flows and schedule group of `like` (its numbers stay)."""
        ...

    def delete_ivr(self, ivr: GenesysIvr) -> None: ...

    def find_users(self, emails: Iterable[str]) -> list[GenesysUser]: ...

    def get_user(self, user_id: str) -> GenesysUser: ...

    def update_user_phones(
        self, user: GenesysUser, *, remove: tuple[str, ...] = (), work: str | None = None
    ) -> GenesysUser:
        """Drop the phone addresses `remove`; set the WORK phone to `work` (None: leave it)."""
        ...

    def find_site(self, name: str) -> GenesysRef | None: ...

    def find_trunk_base(self, name: str) -> GenesysRef | None: ...

    def list_outbound_routes(self) -> list[GenesysOutboundRoute]:
        """Every outbound route of every site, each with its site."""
        ...

    def create_outbound_route(
        self, site: GenesysRef, spec: GenesysOutboundRouteSpec
    ) -> GenesysOutboundRoute: ...

    def update_outbound_route(
        self, site: GenesysRef, route: GenesysOutboundRoute, spec: GenesysOutboundRouteSpec
    ) -> GenesysOutboundRoute: ...

    def delete_outbound_route(self, site: GenesysRef, route: GenesysOutboundRoute) -> None: ...

    def read_trunk_status(self, trunk_base_name: str | None = None) -> list[GenesysTrunkStatus]:
        """The BYOC (external) trunks, or only those of the named trunk base settings."""
        ...

    def read_trunk_base_codecs(self, trunk_base_name: str) -> tuple[str, ...] | None:
        """The trunk base's `trunk_media_codec` list (`audio/pcmu`, ...) in order; None: not set."""
        ...


# --- Health -------------------------------------------------------------------------------------


class SipProber(Protocol):
    """One SIP OPTIONS transaction; never raises for network conditions (`byoc.adapters.sip.probe`)."""

    async def __call__(
        self,
        target: ProbeTarget,
        *,
        timeout_s: float,
        timer_scale: float = 1.0,
        ca_bundle: str | None = None,
    ) -> ProbeResult: ...


class TrunkStatusPort(Protocol):
    """The part of `GenesysPort` the health check reads: the BYOC trunks and their live status."""

    def read_trunk_status(self, trunk_base_name: str | None = None) -> list[GenesysTrunkStatus]: ...


# --- Certificates -------------------------------------------------------------------------------


class TlsHandshakeFailed(Exception):
    """No TLS handshake with an SBC's SIP TLS port.

    `reached` is False when nothing answered (refused, timeout, DNS): the port may be fine and only
    the path from byoc blocked. True when the port accepted the connection and the handshake broke
    off, which is what peers see too.
    """

    def __init__(self, message: str, *, reached: bool) -> None:
        super().__init__(message)
        self.reached = reached


@dataclass(frozen=True)
class PresentedCertificate:
    """What a live TLS handshake with an SBC's SIP TLS port showed.

    `chain_verified`: the chain reached the configured trust roots and the leaf covers the SNI
    name; `verify_error` says why not otherwise.
    """

    leaf_der: bytes
    chain_verified: bool
    verify_error: str | None = None
    tls_version: str | None = None


class CertificateSecret(Protocol):
    """One version of a Key Vault certificate's secret (value: base64 PFX or PEM text)."""

    @property
    def value(self) -> str: ...

    @property
    def content_type(self) -> str | None: ...

    @property
    def version(self) -> str: ...


class CertificateSecretVersion(Protocol):
    """One version of a certificate's secret, without its value."""

    @property
    def version(self) -> str: ...

    @property
    def enabled(self) -> bool: ...


class CertificateSecrets(Protocol):
    """Key Vault, as certificate rotation reads it (`KeyVaultSecrets` fits)."""

    def get_secret(self, name: str, version: str | None = None) -> CertificateSecret: ...

    def list_versions(self, name: str) -> Iterable[CertificateSecretVersion]:
        """Every version, oldest first."""
        ...


class TlsHandshakePort(Protocol):
    """Live handshakes with SIP TLS ports."""

    def presented_certificate(self, host: str, port: int, server_name: str) -> PresentedCertificate:
        """The leaf presented to a client sending SNI `server_name`; TlsHandshakeFailed if none."""
        ...


class SbcTlsContextPort(Protocol):
    """One TLS context of one AudioCodes SBC (REST `/files/tls/<ctx>/...`)."""

    def read_certificate_pem(self) -> str: ...

    def private_key_valid(self) -> bool | None: ...

    def upload_private_key(self, pem: str, *, once: bool = False) -> None: ...

    def upload_certificate(self, pem: str) -> None: ...

    def read_trusted_roots_pem(self) -> str: ...

    def add_trusted_root(self, pem: str) -> None: ...

    def replace_trusted_roots(self, pem: str) -> None: ...

    def save_configuration(self) -> None: ...

    def status(self) -> SbcStatus: ...

    def close(self) -> None: ...
