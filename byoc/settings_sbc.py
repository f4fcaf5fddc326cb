"""One AudioCodes SBC's settings (an entry of `BYOC_SBCS`): how byoc manages it, and what the
carriers see of it. `byoc.settings` validates the list and re-exports these types."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from byoc.domain.carriers import packaged_carrier_data
from byoc.domain.targets import check_sbc_name


class PortRange(BaseModel):
    """An inclusive UDP port range."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    low: int = Field(ge=1024, le=65535)
    high: int = Field(ge=1024, le=65535)

    @model_validator(mode="after")
    def _ordered(self) -> PortRange:
        if self.low > self.high:
            raise ValueError(f"low port {self.low} is above high port {self.high}")
        return self


class SipPorts(BaseModel):
    """The SBC's SIP listening ports per transport (0 = transport not offered)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    udp: int = Field(default=5060, ge=0, le=65535)
    tcp: int = Field(default=5060, ge=0, le=65535)
    tls: int = Field(default=5061, ge=0, le=65535)


def _all_twilio_edges() -> list[str]:
    """Every Twilio edge in the carrier data: Twilio fails calls over between them."""

    return list(packaged_carrier_data().scopes("twilio"))


class SbcSettings(BaseModel):
    """One AudioCodes SBC: how byoc manages it, and what the carriers see of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(description="Short name, lower case, used in targets (sbc:<name>) and logs.")
    management_url: str = Field(description="REST API base, e.g. https://10.0.1.4 (no /api/v1).")
    fqdn: str = Field(description="Public FQDN the carriers use; must be covered by the TLS cert.")
    tls_context: int = Field(default=0, ge=0, description="TLS context index serving SIP TLS.")
    certificate_name: str | None = Field(
        default=None, pattern=r"^[0-9A-Za-z-]{1,127}$",
        description="Key Vault certificate of this SBC (None: BYOC_CERTIFICATE_NAME).",
    )
    dial_plan: str = Field(default="BYOC", max_length=32, description="Dial plan byoc manages.")
    max_dial_plan_rules: int = Field(
        default=5000, ge=1, le=1_000_000,
        description="Dial Plan Rule rows the device holds (all plans). No public source gives the "
        "Mediant VE limit: set your firmware's figure (docs/sbc.md, 'Dial-plan capacity').",
    )
    sip_ports: SipPorts = SipPorts()
    rtp_ports: PortRange = PortRange(low=6000, high=49999)
    probe_host: str | None = Field(
        default=None, description="Where SIP probes go if not the FQDN (host or host:tlsport)."
    )
    nsg_resource_id: str | None = Field(
        default=None, description="Resource id of the NSG in front of this SBC (None: unmanaged)."
    )
    nsg_destination: str = Field(
        default="*", description="Destination prefix in NSG rules: the SBC's private IP."
    )
    twilio_priority: int = Field(default=10, ge=0, le=65535)
    twilio_weight: int = Field(default=10, ge=1, le=65535)
    twilio_edges: list[str] = Field(
        default_factory=_all_twilio_edges,
        description="Twilio edges whose signaling ranges the NSG admits (default: every edge, as "
        "Twilio asks; the first two are the SBC's outbound proxies).",
    )
    public_ips: list[str] = Field(
        default_factory=list,
        description="Public IPv4 addresses the SBC sends SIP to Twilio from (termination ACL).",
    )
    genesys_regions: list[str] = Field(default_factory=lambda: ["us-east-1"])

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_sbc_name(value)

    @field_validator("public_ips")
    @classmethod
    def _public_ipv4(cls, value: list[str]) -> list[str]:
        for text in value:
            try:
                address = ipaddress.IPv4Address(text)
            except ValueError:
                raise ValueError(f"{text!r} is not an IPv4 address (Twilio IP ACLs hold IPv4 "
                                 "addresses)") from None
            if not address.is_global:
                raise ValueError(f"{text} is not a public address; Twilio sees the SBC's "
                                 "public (NAT) address")
        return value

    @field_validator("management_url")
    @classmethod
    def _https(cls, value: str) -> str:
        if not value.startswith("https://"):
            raise ValueError(f"{value!r} must be an https:// URL (the SBC REST API needs TLS)")
        return value.rstrip("/")
