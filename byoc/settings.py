"""Every byoc setting, read from the environment (app settings / `local.settings.json` Values).

Names are `BYOC_<FIELD>` in upper case, except the storage connection, which byoc shares with the
Functions host (`AzureWebJobsStorage`, or its identity-based `AzureWebJobsStorage__*` form).

Secrets are never settings values in Azure: for each secret `X` there is `BYOC_X_SECRET_NAME`, the
name of a Key Vault secret resolved at run time. For local runs the plain value may be given as
`BYOC_X` instead. A bad configuration fails with one `ConfigurationError` that lists every missing
or invalid setting.
"""

from __future__ import annotations

import ipaddress
import json
import re
from contextvars import ContextVar
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from byoc.domain.numbers import parse_number
from byoc.settings_sbc import SbcSettings as SbcSettings

SECRET_FIELDS = (
    "twilio_auth_token",
    "genesys_client_secret",
    "sbc_password",
    "genesys_events_secret",
    "twilio_notice_secret",
    "twilio_credential_password",
)
OPTIONAL_SECRETS = frozenset(
    {"genesys_events_secret", "twilio_notice_secret", "twilio_credential_password"}
)


FUNCTION_TIMEOUT_S = 600.0
"""The Functions host's `functionTimeout` in host.json (00:10:00): no vendor call may outlast it."""

_PENDING_PROBLEMS: ContextVar[tuple[str, ...]] = ContextVar("byoc_settings_problems", default=())


class ConfigurationError(Exception):
    """The configuration is missing or invalid; the message lists every problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"byoc configuration is invalid ({len(problems)} problem(s)):\n{lines}")


class Settings(BaseSettings):
    """The whole configuration. Build it with `load_settings()`."""

    model_config = SettingsConfigDict(
        env_prefix="BYOC_",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
        env_ignore_empty=True,
    )

    # Twilio
    twilio_account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$", examples=["AC" + "0" * 32])
    twilio_trunk_sid: str = Field(pattern=r"^TK[0-9a-fA-F]{32}$", examples=["TK" + "0" * 32])
    twilio_auth_token: SecretStr | None = None
    twilio_auth_token_secret_name: str | None = Field(default=None, examples=["twilio-auth-token"])
    twilio_api_base: str | None = Field(
        default=None, description="Override of every Twilio API host (sandbox); None: Twilio's."
    )
    twilio_webhook_url: str | None = Field(
        default=None, description="Public URL Twilio-signed senders post to (signature check).",
        examples=["https://<app>.azurewebsites.net/api/twilio/numbers"],
    )
    twilio_trunk_secure: bool = True
    test_call_from: str | None = Field(
        default=None, description="Caller ID of `byoc test-call` (E.164): a number the Twilio "
        "account owns or a verified caller ID; the calls are billed to the account.")
    twilio_max_purchase: int = Field(default=20, ge=1, le=500)
    twilio_concurrency: int = Field(default=4, ge=1, le=100)
    twilio_poll_retention_days: int = Field(default=30, ge=1)
    twilio_timeout_s: float = 30.0
    twilio_notice_secret: SecretStr | None = None
    twilio_notice_secret_secret_name: str | None = None
    twilio_notice_rate_per_minute: int = Field(default=120, ge=1, le=10_000)
    twilio_purchase_countries: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["US", "CA"]
    )
    twilio_termination_acl_name: str = Field(default="byoc-sbcs", min_length=1, max_length=64)
    twilio_credential_list_name: str | None = Field(default=None, max_length=64)
    twilio_credential_username: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_.@-]{1,32}$"
    )
    twilio_credential_password: SecretStr | None = None
    twilio_credential_password_secret_name: str | None = None

    # Genesys Cloud
    genesys_region: str = Field(default="mypurecloud.com", description="Org region domain.")
    genesys_api_base: str | None = Field(
        default=None, description="Override of the API base URL (sandbox); None: from region."
    )
    genesys_client_id: str = Field(examples=["<genesys oauth client id>"])
    genesys_client_secret: SecretStr | None = None
    genesys_client_secret_secret_name: str | None = Field(default=None, examples=["genesys-client-secret"])
    genesys_events_secret: SecretStr | None = None
    genesys_events_secret_secret_name: str | None = Field(default=None, examples=["genesys-events-secret"])
    genesys_site_name: str | None = Field(default=None, examples=["Azure-BYOC"])
    genesys_trunk_base_name: str | None = Field(default=None, examples=["Twilio-BYOC"])
    genesys_outbound_route_name: str = "byoc-outbound"
    genesys_outbound_classifications: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["National", "International"]
    )
    genesys_numbers_per_ivr_put: int = Field(default=50, ge=1, le=500)
    genesys_ivr_shards: bool = True
    genesys_requests_per_minute: int = Field(default=300, ge=1)
    genesys_signaling_cidrs: dict[str, list[str]] = Field(
        default_factory=dict,
        examples=[{"us-east-1": ["<CIDR from the Genesys Resource Center article>"]}],
    )
    genesys_connect_timeout_s: float = 10.0
    genesys_read_timeout_s: float = 60.0

    # AudioCodes SBCs
    sbcs: list[SbcSettings] = Field(min_length=1, examples=[[{
        "name": "sbc1", "management_url": "https://10.0.1.4", "fqdn": "sbc1.example.com",
        "nsg_resource_id": "/subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Network/"
        "networkSecurityGroups/<nsg>",
        "nsg_destination": "10.0.1.4",
    }]])
    sbc_username: str = "Admin"
    sbc_password: SecretStr | None = None
    sbc_password_secret_name: str | None = Field(default=None, examples=["sbc-password"])
    sbc_timeout_s: float = 15.0

    # Azure: identity, Key Vault, Resource Manager
    azure_credential: Literal["default", "managed-identity", "static-token"] = "default"
    azure_client_id: str | None = Field(default=None, description="User-assigned identity.")
    azure_static_token: SecretStr | None = Field(
        default=None, description="Bearer token for static-token credential (local runs only)."
    )
    arm_endpoint: str = "https://management.azure.com"
    keyvault_url: str | None = Field(default=None, examples=["https://<vault>.vault.azure.net"])
    keyvault_verify_challenge_resource: bool = True
    ca_bundle: str | None = Field(
        default=None, description="Extra CA bundle (PEM) trusted for HTTPS to SBCs, KV and ARM."
    )

    # Storage (shared with the Functions host)
    storage_connection_string: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("AzureWebJobsStorage", "BYOC_STORAGE_CONNECTION_STRING"),
        examples=["UseDevelopmentStorage=true"],
    )
    storage_queue_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("AzureWebJobsStorage__queueServiceUri")
    )
    storage_table_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("AzureWebJobsStorage__tableServiceUri")
    )
    storage_blob_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("AzureWebJobsStorage__blobServiceUri")
    )
    storage_api_version: str | None = Field(
        default=None, description="Pin the storage API version (Azurite); None: SDK default."
    )
    inventory_table: str = Field(default="inventory", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    operations_table: str = Field(default="operations", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    state_table: str = Field(default="byocstate", pattern=r"^[A-Za-z][A-Za-z0-9]{2,62}$")
    lock_container: str = Field(default="byoc-locks", pattern=r"^[a-z0-9][a-z0-9-]{2,62}$")

    # Policy and safety
    policy_path: str = Field(
        description="Path or blob URL of the routing policy YAML.", examples=["policy.example.yaml"]
    )
    default_region: str | None = Field(
        default=None, description="ISO region for national-format numbers (e.g. US); None: E.164."
    )
    max_delete_fraction: float = Field(default=0.1, ge=0.0, le=1.0)
    max_delete_count: int = Field(default=100, ge=0)
    full_sync_max_deferral_minutes: int = Field(
        default=60, ge=0, le=1440,
        description="Longest the reconcile timer puts off a target's full sync, after its last "
                    "converged one, while a slice backlog is worked; 0: never deferred.")

    # NSG
    nsg_rule_prefix: str = Field(default="byoc", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,20}$")
    nsg_priority_low: int = Field(default=1000, ge=100, le=4096)
    nsg_priority_high: int = Field(default=1199, ge=100, le=4096)
    nsg_max_port_span: int = Field(default=45000, ge=1, le=65535)
    nsg_extra_cidrs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    nsg_exclude_cidrs: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Certificates
    certificate_name: str | None = Field(
        default=None, pattern=r"^[0-9A-Za-z-]{1,127}$", description="Key Vault certificate name.",
        examples=["sbc-tls"],
    )
    cert_min_days_left: int = Field(default=14, ge=0)
    cert_trust_bundle: str | None = Field(
        default=None, description="PEM roots the certificate chain must reach; None: certifi."
    )
    cert_allow_ec: bool = False
    sbc_trusted_roots: str | None = None

    # Health and runtime
    sip_timer_scale: float = Field(default=1.0, gt=0, le=10)
    health_probe_timeout_s: float = 8.0
    health_probe_uris: Annotated[list[str], NoDecode] = Field(default_factory=list)
    probe_source_cidrs: Annotated[list[str], NoDecode] = Field(default_factory=list)
    lock_lease_s: int = Field(default=30, ge=15, le=60)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @field_validator(
        "genesys_outbound_classifications", "nsg_extra_cidrs", "nsg_exclude_cidrs",
        "health_probe_uris", "twilio_purchase_countries", "probe_source_cidrs", mode="before"
    )
    @classmethod
    def _csv_or_json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator(
        "twilio_timeout_s", "genesys_connect_timeout_s", "genesys_read_timeout_s",
        "sbc_timeout_s", "health_probe_timeout_s",
    )
    @classmethod
    def _client_timeout(cls, value: float) -> float:
        if not value > 0:
            raise ValueError(f"must be a number of seconds above 0, not {value:g}")
        if value > FUNCTION_TIMEOUT_S:
            raise ValueError(
                f"{value:g} s is longer than the Functions host's functionTimeout "
                f"({FUNCTION_TIMEOUT_S:g} s in host.json): the host ends the invocation before "
                "such a timeout could fire; use a value well below it"
            )
        return value

    @field_validator("test_call_from")
    @classmethod
    def _test_call_from(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not str(value).startswith("+"):
            raise ValueError(f"{value!r} must be E.164, e.g. +14155550150")
        return parse_number(str(value))

    @field_validator("twilio_purchase_countries")
    @classmethod
    def _countries(cls, value: list[str]) -> list[str]:
        codes = [code.strip().upper() for code in value]
        for code in codes:
            if not re.fullmatch(r"[A-Z]{2}", code):
                raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code (US, CA)")
        if not codes:
            raise ValueError("name at least one country, e.g. US,CA")
        return codes

    @field_validator("health_probe_uris")
    @classmethod
    def _sip_uris(cls, value: list[str]) -> list[str]:
        for uri in value:
            if not re.fullmatch(r"(?i)sips?:[^\s;]+(;[^\s;]+)*", uri.strip()):
                raise ValueError(f"{uri!r} is not a SIP URI like sip:host:5060;transport=tcp")
        return [uri.strip() for uri in value]

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        return str(value).strip().upper() if isinstance(value, str) else value

    @field_validator("probe_source_cidrs")
    @classmethod
    def _probe_sources(cls, value: list[str]) -> list[str]:
        return [probe_source_network(text) for text in value]

    @model_validator(mode="before")
    @classmethod
    def _presence_checks(cls, data: Any) -> Any:
        # Runs before field validation so its findings join the field errors in one report.
        if isinstance(data, dict):
            _PENDING_PROBLEMS.set(tuple(presence_problems(data)))
        return data

    @model_validator(mode="after")
    def _cross_checks(self) -> Settings:
        problems = list(_PENDING_PROBLEMS.get())
        _PENDING_PROBLEMS.set(())
        if self.azure_credential == "static-token" and self.azure_static_token is None:
            problems.append(
                "BYOC_AZURE_STATIC_TOKEN is required with BYOC_AZURE_CREDENTIAL=static-token"
            )
        if self.nsg_priority_low > self.nsg_priority_high:
            problems.append("BYOC_NSG_PRIORITY_LOW must not be above BYOC_NSG_PRIORITY_HIGH")
        if self.twilio_credential_list_name and not self.twilio_credential_username:
            problems.append("BYOC_TWILIO_CREDENTIAL_USERNAME is required with "
                            "BYOC_TWILIO_CREDENTIAL_LIST_NAME")
        if self.twilio_credential_list_name and self.twilio_credential_password is None \
                and not self.twilio_credential_password_secret_name:
            problems.append("BYOC_TWILIO_CREDENTIAL_PASSWORD_SECRET_NAME is required with "
                            "BYOC_TWILIO_CREDENTIAL_LIST_NAME")
        names = [s.name for s in self.sbcs]
        if len(set(names)) != len(names):
            problems.append(f"BYOC_SBCS: SBC names must be unique, got {names}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def genesys_base_url(self) -> str:
        """The Genesys API base URL (override, or `https://api.<region>`)."""
        return (self.genesys_api_base or f"https://api.{self.genesys_region}").rstrip("/")

    def sbc(self, name: str) -> SbcSettings:
        """The SBC called `name`; KeyError with the known names otherwise."""
        for sbc in self.sbcs:
            if sbc.name == name:
                return sbc
        raise KeyError(f"no SBC named {name!r}; configured: {[s.name for s in self.sbcs]}")


PROBE_SOURCE_MIN_PREFIX = 22
"""The widest probe source: an app subnet or a few outbound addresses, never a whole network."""


def probe_source_network(text: str) -> str:
    """One address the health probe comes from, as the SBC sees it: an IPv4 address or CIDR (an
    address is a /32), no host bits, /22 or narrower; ValueError saying why otherwise."""
    value = str(text).strip()
    try:
        network = ipaddress.ip_network(value if "/" in value else f"{value}/32", strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not an IPv4 address or CIDR without host bits ({exc})"
        ) from None
    if not isinstance(network, ipaddress.IPv4Network):
        raise ValueError(f"{value!r} is IPv6; SBC classification matches IPv4 sources only")
    if network.prefixlen < PROBE_SOURCE_MIN_PREFIX:
        raise ValueError(
            f"{value!r} is wider than /{PROBE_SOURCE_MIN_PREFIX}: name the app subnet or the "
            "function app's outbound addresses, not a whole network"
        )
    if network.is_unspecified or network.is_multicast or network.network_address.is_unspecified:
        raise ValueError(f"{value!r} is not an address anything sends from")
    return str(network)


def presence_problems(data: dict[str, Any]) -> list[str]:
    """Settings that are required together or in one of two forms (value or Key Vault name)."""

    def given(*keys: str) -> bool:
        return any(data.get(k) not in (None, "") for k in keys)

    problems: list[str] = []
    for name in SECRET_FIELDS:
        if name in OPTIONAL_SECRETS:
            continue
        if not given(name, f"{name}_secret_name"):
            problems.append(
                f"BYOC_{name.upper()}_SECRET_NAME (Key Vault secret name) is required "
                f"(or BYOC_{name.upper()} for a local run)"
            )
    uses_vault = any(given(f"{n}_secret_name") for n in SECRET_FIELDS)
    if (uses_vault or given("certificate_name")) and not given("keyvault_url"):
        problems.append("BYOC_KEYVAULT_URL is required when secrets come from Key Vault")
    if not given(
        "storage_connection_string", "AzureWebJobsStorage", "BYOC_STORAGE_CONNECTION_STRING",
        "storage_queue_uri", "AzureWebJobsStorage__queueServiceUri",
    ):
        problems.append(
            "AzureWebJobsStorage (connection string) or "
            "AzureWebJobsStorage__queueServiceUri (identity-based) is required"
        )
    return problems


def _env_name(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "configuration"
    head = str(loc[0])
    if head in {"AzureWebJobsStorage", "AzureWebJobsStorage__queueServiceUri"}:
        return head
    rest = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc[1:])
    return f"BYOC_{head.upper()}{rest}"


def describe_validation_error(error: ValidationError) -> list[str]:
    """One line per problem, naming the environment variable and never echoing secret values."""
    problems: list[str] = []
    for item in error.errors(include_input=False):
        msg = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "missing":
            problems.append(f"{_env_name(item['loc'])} is required")
        elif not item["loc"]:
            problems.extend(part.strip() for part in msg.split("; "))
        else:
            problems.append(f"{_env_name(item['loc'])}: {msg}")
    return problems


def load_settings(**overrides: Any) -> Settings:
    """Read and validate the settings; raise ConfigurationError listing every problem."""

    _PENDING_PROBLEMS.set(())
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = describe_validation_error(exc)
        for extra in _PENDING_PROBLEMS.get():
            if extra not in problems:
                problems.append(extra)
        raise ConfigurationError(problems) from None
    except SettingsError as exc:
        # A JSON-valued setting (BYOC_SBCS, ...) that is not JSON fails before validation.
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else ""
        name = _env_name((field,)) if field else "a JSON-valued setting"
        raise ConfigurationError([f"{name}: not valid JSON ({exc.__cause__ or exc})"]) from None
    finally:
        _PENDING_PROBLEMS.set(())


@lru_cache(maxsize=1)
def cached_settings() -> Settings:
    """Settings read once per process (function invocations share them)."""
    return load_settings()
