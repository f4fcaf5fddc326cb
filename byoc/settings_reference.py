"""Every setting described: environment name, default, whether required or secret, what it does and
an example (`docs/configuration.md` and `local.settings.sample.json` are checked against it)."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices

from byoc.settings import FUNCTION_TIMEOUT_S, SECRET_FIELDS, Settings

_DESCRIPTIONS: dict[str, str] = {
    "twilio_account_sid": "Twilio account SID (AC...) that owns the numbers.",
    "twilio_trunk_sid": "Elastic SIP Trunk SID (TK...) the numbers are associated with.",
    "twilio_auth_token": "Local runs only: the Twilio auth token itself.",
    "twilio_auth_token_secret_name": "Key Vault secret holding the Twilio auth token.",
    "twilio_trunk_secure": "Trunk 'secure' (TLS + SRTP); origination URLs use sips/5061 when true.",
    "twilio_max_purchase": "Most numbers one purchase request may buy.",
    "twilio_concurrency": "Concurrent Twilio API calls (Twilio limits concurrency per account).",
    "twilio_poll_retention_days": "Monitor Events retention; an older cursor falls back to a sweep.",
    "twilio_timeout_s": "Timeout of one Twilio REST call (connect and each read), seconds; "
    f"at most {FUNCTION_TIMEOUT_S:g} (host.json functionTimeout).",
    "twilio_notice_secret": "Local runs only: the notice signing secret itself.",
    "twilio_notice_secret_secret_name": "Key Vault secret holding the key(s) senders sign "
    "notices with (X-Byoc-Signature, HMAC-SHA256); several keys separated by white space "
    "while a rotation overlaps.",
    "twilio_notice_rate_per_minute": "Notices one sender (client address) may post per minute "
    "on /api/twilio/numbers.",
    "twilio_purchase_countries": "Countries numbers are bought in (ISO codes, first is the "
    "default; the search of `numbers buy` takes --country).",
    "twilio_termination_acl_name": "Friendly name of the IP access control list byoc keeps "
    "with every SBC's public_ips and associates with the trunk (termination).",
    "twilio_credential_list_name": "Credential list byoc keeps and associates with the trunk "
    "(optional; the SBC then authenticates its INVITEs with digest).",
    "twilio_credential_username": "User name of the credential in that list.",
    "twilio_credential_password": "Local runs only: that credential's password itself.",
    "twilio_credential_password_secret_name": "Key Vault secret holding that credential's "
    "password (Twilio: 12+ characters, a digit, upper and lower case).",
    "genesys_client_id": "Genesys OAuth client (client credentials) id.",
    "genesys_client_secret": "Local runs only: the Genesys OAuth client secret itself.",
    "genesys_client_secret_secret_name": "Key Vault secret holding the Genesys client secret.",
    "genesys_events_secret": "Local runs only: shared secret of /api/genesys/events.",
    "genesys_events_secret_secret_name": "Key Vault secret holding the Genesys events secret.",
    "genesys_site_name": "Genesys site whose outbound route sends calls to the BYOC trunk.",
    "genesys_trunk_base_name": "Genesys BYOC external trunk (trunk base settings) name.",
    "genesys_outbound_route_name": "Outbound route byoc owns on the site.",
    "genesys_outbound_classifications": "Number classifications the outbound route carries.",
    "genesys_numbers_per_ivr_put": "Numbers added to an IVR per PUT (Genesys Terraform uses 50).",
    "genesys_ivr_shards": "Spread the numbers of an IVR one request cannot carry (512,000 bytes, "
    "about 31,000 numbers) over more IVRs byoc creates and names after it; false: report them.",
    "genesys_requests_per_minute": "Genesys API rate limit per token.",
    "genesys_signaling_cidrs": "JSON {region: [CIDR]}: Genesys BYOC signaling addresses "
    "(Resource Center article; no API publishes them). A region of an SBC left without them is "
    "a health problem: the NSG blocks SIP from Genesys.",
    "genesys_connect_timeout_s": "Timeout of connecting to the Genesys API, seconds; "
    f"at most {FUNCTION_TIMEOUT_S:g} (host.json functionTimeout).",
    "genesys_read_timeout_s": "Timeout of waiting for a Genesys API answer, seconds; "
    f"at most {FUNCTION_TIMEOUT_S:g} (host.json functionTimeout).",
    "sbcs": "JSON list of SBCs: name, management_url, fqdn, tls_context, certificate_name (its own "
    "Key Vault certificate; default BYOC_CERTIFICATE_NAME), dial_plan, max_dial_plan_rules, "
    "sip_ports, rtp_ports, probe_host, nsg_resource_id, nsg_destination, twilio_priority, "
    "twilio_weight, twilio_edges, public_ips, genesys_regions.",
    "sbc_username": "AudioCodes REST API user.",
    "sbc_password": "Local runs only: the AudioCodes REST API password itself.",
    "sbc_password_secret_name": "Key Vault secret holding the AudioCodes REST API password.",
    "sbc_timeout_s": "Timeout of one AudioCodes REST call, seconds; "
    f"at most {FUNCTION_TIMEOUT_S:g} (host.json functionTimeout).",
    "azure_credential": "default (DefaultAzureCredential), managed-identity, or static-token "
    "(local sandbox only).",
    "arm_endpoint": "Azure Resource Manager endpoint.",
    "keyvault_url": "Key Vault URL (https://<name>.vault.azure.net).",
    "keyvault_verify_challenge_resource": "Key Vault SDK challenge-resource check; only the "
    "local sandbox turns it off.",
    "storage_connection_string": "Storage connection string (Azurite locally); in Azure use the "
    "identity-based AzureWebJobsStorage__* settings instead.",
    "storage_queue_uri": "Identity-based storage: queue service URI.",
    "storage_table_uri": "Identity-based storage: table service URI.",
    "storage_blob_uri": "Identity-based storage: blob service URI.",
    "inventory_table": "Table of managed numbers.",
    "operations_table": "Table of applied changes (audit trail).",
    "state_table": "Table of byoc's small records (event ids, cursors, health, sync status).",
    "lock_container": "Blob container holding one lease blob per target.",
    "max_delete_fraction": "Largest share of a target's numbers one plan may remove unforced.",
    "max_delete_count": "Most numbers one plan may remove unforced.",
    "nsg_rule_prefix": "Name prefix of the NSG rules byoc owns.",
    "nsg_priority_low": "Lowest priority number byoc may use for its NSG rules.",
    "nsg_priority_high": "Highest priority number byoc may use for its NSG rules.",
    "nsg_max_port_span": "Widest destination port range byoc will open.",
    "nsg_extra_cidrs": "Extra carrier CIDRs to allow (comma-separated or JSON list).",
    "nsg_exclude_cidrs": "Published CIDRs to leave out (comma-separated or JSON list).",
    "cert_min_days_left": "A certificate with fewer days left is not uploaded.",
    "cert_allow_ec": "Accept EC P-256/P-384 SBC certificates. Genesys BYOC Cloud accepts RSA only: "
    "set it only where no Genesys leg uses TLS.",
    "sbc_trusted_roots": "PEM file of the CA roots byoc adds to (and keeps in) each SBC's "
    "trusted-root store, e.g. those Twilio and Genesys chain to; nothing else is added.",
    "sip_timer_scale": "Scale of the SIP T1/T2 timers for OPTIONS probes (1 = RFC 3261).",
    "health_probe_timeout_s": "Timeout of one health probe, seconds; "
    f"at most {FUNCTION_TIMEOUT_S:g} (host.json functionTimeout).",
    "health_probe_uris": "Extra SIP OPTIONS health probes besides the SBCs (carrier or Genesys "
    "endpoints): SIP URIs, comma-separated or JSON list, e.g. sip:host:5060;transport=tcp, "
    "sips:host:5061.",
    "lock_lease_s": "Target lease length, seconds (15-60; renewed while a sync runs).",
    "probe_source_cidrs": "Where byoc's SIP OPTIONS health probes come from, as the SBC sees "
    "them (IPv4 addresses or CIDRs, /22 or narrower, comma-separated or JSON list): the app "
    "subnet when probe_host is the SBC's private IP, else the function app's outbound IPs. "
    "`byoc sbc render-config` classifies them (OPTIONS answered, nothing else routed) and byoc's "
    "NSG rules admit the public ones on the SIP ports. Empty: the SBC ignores the probes.",
    "log_level": "DEBUG, INFO, WARNING or ERROR, any case: the level of byoc's logger in the "
    "function app, the CLI's --verbose output and devhost. Another value is a configuration error "
    "(the CLI and devhost stop with it; the function app logs a warning and stays at INFO).",
}


def settings_reference() -> list[dict[str, Any]]:
    """Every setting: environment name, default, required or secret, description and an example."""
    rows = []
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        env = (
            str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"BYOC_{name.upper()}"
        )
        default = None if field.is_required() else field.get_default(call_default_factory=True)
        rows.append({
            "env": env,
            "required": field.is_required(),
            "secret": name in SECRET_FIELDS or name == "storage_connection_string",
            "default": default,
            "description": field.description or _DESCRIPTIONS.get(name, ""),
            "example": field.examples[0] if field.examples else None,
        })
    return rows
