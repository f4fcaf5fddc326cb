"""The go-live checklist of `byoc doctor`, one function per item, each reading through the adapters.

Every function takes the `DoctorContext` and returns its items; a read that fails makes the item
`?` (cannot tell) unless the failure itself shows calls cannot flow.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from byoc.services.doctor import (
    TWILIO_CODECS,
    DoctorContext,
    DoctorItem,
    Mark,
    codec_names,
    presented_certificate_item,
    run_probe,
)
from byoc.services.health_report import HealthStatus
from byoc.services.health_sip import evaluate_probe, sbc_probe_targets
from byoc.services.twilio_model import origination_sip_url, sip_host

if TYPE_CHECKING:
    from byoc.ports import (
        GenesysTrunkStatus,
        SbcCoderGroups,
        TwilioOriginationUrl,
        TwilioTrunk,
    )


def check_certificates(context: DoctorContext) -> list[DoctorItem]:
    """TLS certificates installed and verified, per SBC, as the carriers handshake."""
    return [presented_certificate_item(context, sbc) for sbc in context.settings.sbcs]


def check_twilio_origination(context: DoctorContext) -> list[DoctorItem]:
    """Twilio sends calls to the SBCs: one enabled origination URL per SBC, and none elsewhere."""

    key, title = "twilio-origination", "Twilio origination points at the SBCs"
    settings = context.settings
    trunk, trunk_error = context.reads.get("twilio:trunk", context.twilio.fetch_trunk)
    urls, error = context.reads.get("twilio:origination", context.twilio.list_origination_urls)
    if urls is None or trunk is None:
        problem = error or trunk_error
        return [DoctorItem(key, title, Mark.UNKNOWN,
                           (f"cannot read trunk {settings.twilio_trunk_sid}: {problem}",),
                           "check BYOC_TWILIO_ACCOUNT_SID, BYOC_TWILIO_TRUNK_SID and the auth token")]
    evidence = [f"trunk {trunk.sid} secure={trunk.secure}"] + [
        f"{u.friendly_name}: {u.sip_url} priority {u.priority} weight {u.weight}"
        f"{'' if u.enabled else ' (disabled)'}" for u in urls]
    fixes: list[str] = []
    fqdns = {sbc.fqdn.rstrip(".").lower(): sbc for sbc in settings.sbcs}
    for url in urls:
        if url.enabled and sip_host(url.sip_url) not in fqdns:
            fixes.append(f"origination URL {url.friendly_name!r} sends calls to {url.sip_url}, which "
                         "is not a configured SBC: delete or disable it (Twilio Console > Elastic SIP "
                         "Trunking > the trunk > Origination), or add that SBC to BYOC_SBCS")
    for sbc in settings.sbcs:
        wanted = origination_sip_url(sbc, secure=settings.twilio_trunk_secure)
        mine = [u for u in urls if sip_host(u.sip_url) == sbc.fqdn.rstrip(".").lower()]
        if wanted is None:
            fixes.append(f"SBC {sbc.name} offers no port for the trunk's transport: set its sip_ports")
        elif not any(u.enabled and u.sip_url == wanted for u in mine):
            found = ", ".join(u.sip_url + ("" if u.enabled else " (disabled)") for u in mine)
            fixes.append(f"SBC {sbc.name} needs an enabled origination URL {wanted}"
                         f"{f' (found {found})' if found else ''}: `byoc apply -t twilio` sets it")
    if settings.twilio_trunk_secure and not trunk.secure:
        fixes.append("the trunk is not secure (TLS/SRTP) while BYOC_TWILIO_TRUNK_SECURE is true: "
                     "`byoc apply -t twilio` sets it")
    return [_item(key, title, evidence, fixes)]


def check_twilio_termination(context: DoctorContext) -> list[DoctorItem]:
    """Twilio admits calls from the SBCs: a termination URI, and each SBC's public address in an
    IP ACL on the trunk (or a credential list on it)."""
    key, title = "twilio-termination", "Twilio termination admits the SBCs"
    settings = context.settings
    trunk, trunk_error = context.reads.get("twilio:trunk", context.twilio.fetch_trunk)
    term, error = context.reads.get("twilio:termination", lambda: context.twilio.read_termination(
        settings.twilio_termination_acl_name, settings.twilio_credential_list_name))
    if trunk is None or term is None:
        return [DoctorItem(key, title, Mark.UNKNOWN,
                           (f"cannot read the trunk's termination: {error or trunk_error}",),
                           "Twilio Console > Elastic SIP Trunking > the trunk > Termination: the "
                           "SIP URI is set and an IP access control list holds each SBC's public "
                           "address")]
    on_trunk = {address for acl in term.acls if acl.sid in term.trunk_acl_sids
                for address in acl.addresses}
    lists = [c.friendly_name for c in term.credential_lists
             if c.sid in term.trunk_credential_list_sids]
    evidence = [f"termination SIP URI {_trunk_domain(trunk)}, auth {trunk.auth_type or 'none'}",
                f"addresses on the trunk's IP ACLs: {', '.join(sorted(on_trunk)) or 'none'}"]
    if lists:
        evidence.append(f"credential lists on the trunk: {', '.join(lists)}")
    fixes: list[str] = []
    if not trunk.domain_name:
        fixes.append("the trunk has no termination SIP URI: set one (Twilio Console > Elastic SIP "
                     "Trunking > the trunk > Termination)")
    missing = [f"{sbc.name} {ip}" for sbc in settings.sbcs for ip in sbc.public_ips
               if ip not in on_trunk]
    if missing:
        fixes.append(f"public address(es) {', '.join(missing)} are in no IP ACL on the trunk, so "
                     "Twilio refuses their calls: `byoc apply -t twilio` adds them to "
                     f"{settings.twilio_termination_acl_name!r}")
    if fixes:
        return [DoctorItem(key, title, Mark.FAIL, tuple(evidence), "; ".join(fixes))]
    if not any(sbc.public_ips for sbc in settings.sbcs) and not lists:
        return [DoctorItem(key, title, Mark.UNKNOWN, (*evidence,
                           "no SBC has public_ips in BYOC_SBCS, so byoc cannot tell whether "
                           "Twilio admits them"),
                           "set sbcs[].public_ips (the addresses the SBCs send SIP to Twilio "
                           "from) and `byoc apply -t twilio`; or check the trunk's Termination "
                           "> Authentication in the Twilio Console")]
    return [DoctorItem(key, title, Mark.PASS, tuple(evidence))]


def _trunk_domain(trunk: TwilioTrunk | None) -> str:
    return (trunk.domain_name if trunk is not None else None) or "not read"


def check_genesys_trunk(context: DoctorContext) -> list[DoctorItem]:
    """The Genesys BYOC trunk exists, is enabled, in service and connected."""
    key, title = "genesys-trunk", "Genesys BYOC trunk exists and is in service"
    base = context.settings.genesys_trunk_base_name
    trunks, error = context.trunks()
    if trunks is None:
        return [DoctorItem(key, title, Mark.UNKNOWN, (f"cannot read the trunks: {error}",),
                           "check the Genesys OAuth client has telephony:plugin:all and "
                           "BYOC_GENESYS_TRUNK_BASE_NAME names the trunk base settings")]
    if not trunks:
        scope = f"of trunk base {base!r}" if base else "(external trunks)"
        return [DoctorItem(key, title, Mark.FAIL, (f"Genesys lists no trunk {scope}",),
                           "assign the BYOC trunk base settings to the BYOC Cloud edge group of the "
                           "site (Telephony > Trunks, then Sites > the site > Edge group)")]
    evidence = [f"{t.name}: in service={t.in_service}, enabled={t.enabled}, connected={t.connected}"
                for t in trunks]
    fixes = [f"trunk {t.name} is {_trunk_faults(t)}: put it in service (Telephony > Trunks > "
             "External Trunks > the trunk > State: In Service), then check the SBCs answer its "
             "OPTIONS" for t in trunks if not (t.enabled and t.in_service and t.connected)]
    if base is None:
        evidence.append("BYOC_GENESYS_TRUNK_BASE_NAME is not set: every external trunk was checked")
    return [_item(key, title, evidence, fixes)]


def _trunk_faults(trunk: GenesysTrunkStatus) -> str:
    faults = (("disabled", not trunk.enabled), ("out of service", not trunk.in_service),
              ("not connected", not trunk.connected))
    return ", ".join(word for word, bad in faults if bad)


def check_codecs(context: DoctorContext) -> list[DoctorItem]:
    """A codec common to the Twilio trunk, every SBC's coder group and the Genesys trunk."""
    key, title = "codecs", "Codecs agree across Twilio, the SBC coder group and Genesys"
    evidence = [f"Twilio Elastic SIP Trunking: {', '.join(TWILIO_CODECS)} (fixed by Twilio)"]
    common = set(TWILIO_CODECS)
    unknowns: list[str] = []
    fixes: list[str] = []
    for sbc in context.settings.sbcs:
        groups, error = context.sbc_read(sbc, "coders", lambda p: p.read_coder_groups())
        if groups is None:
            unknowns.append(f"SBC {sbc.name}: cannot read its coder groups ({error})")
            continue
        names, strange = _sbc_coders(groups)
        if not names and not strange:
            unknowns.append(f"SBC {sbc.name}: the ini export shows no audio coder group")
            continue
        used = ", ".join(groups.in_use or [g for g, _ in groups.groups])
        evidence.append(f"SBC {sbc.name} coder group(s) {used}: {', '.join(names + strange)}")
        if strange:
            unknowns.append(f"SBC {sbc.name}: coder(s) {', '.join(strange)} not recognised")
        if not set(names) & set(TWILIO_CODECS):
            fixes.append(f"SBC {sbc.name}'s coder group offers none of Twilio's "
                         f"{'/'.join(TWILIO_CODECS)}: add g711Ulaw64k and g711Alaw64k to it "
                         "(`byoc sbc render-config` writes the group)")
        common &= set(names)
    base = context.settings.genesys_trunk_base_name
    if base is None:
        unknowns.append("BYOC_GENESYS_TRUNK_BASE_NAME is not set: the Genesys trunk's codecs were "
                        "not read")
    else:
        raw, error = context.reads.get("genesys:codecs",
                                       lambda: context.genesys.read_trunk_base_codecs(base))
        if error is not None:
            unknowns.append(f"Genesys trunk base {base!r}: {error}")
        elif raw is None:
            unknowns.append(f"Genesys trunk base {base!r} has no trunk_media_codec value")
        else:
            names, strange = codec_names(raw, "genesys")
            evidence.append(f"Genesys trunk base {base!r}: {', '.join(raw)}")
            if not set(names) & set(TWILIO_CODECS):
                fixes.append(f"the Genesys trunk base {base!r} offers none of "
                             f"{'/'.join(TWILIO_CODECS)}: add audio/pcmu and audio/pcma to its "
                             "Media > Preferred Codec List (Telephony > Trunks > the trunk)")
            common &= set(names)
    if not fixes and not unknowns and not common:
        fixes.append("no codec is offered on every leg, so each call needs transcoding on the "
                     "SBC: offer PCMU and PCMA on the SBC coder group and the Genesys trunk")
    if fixes:
        return [DoctorItem(key, title, Mark.FAIL, tuple(evidence + unknowns), "; ".join(fixes))]
    if unknowns:
        return [DoctorItem(key, title, Mark.UNKNOWN, tuple(evidence + unknowns),
                           "compare by hand: SBC Web > Coders & Profiles > Coder Groups, and the "
                           "Genesys trunk's Media > Preferred Codec List, with Twilio's PCMU/PCMA")]
    evidence.append(f"common to every leg: {', '.join(c for c in TWILIO_CODECS if c in common)}")
    return [DoctorItem(key, title, Mark.PASS, tuple(evidence))]


def _sbc_coders(groups: SbcCoderGroups) -> tuple[list[str], list[str]]:
    chosen = list(groups.in_use) or [name for name, _ in groups.groups]
    raw = tuple(c for g in chosen for c in groups.coders(g))
    return codec_names(raw, "audiocodes")


def check_sip_options(context: DoctorContext) -> list[DoctorItem]:
    """SIP OPTIONS answered on every leg: byoc to each SBC, and Genesys to each SBC."""

    items: list[DoctorItem] = []
    probes = [p for sbc in context.settings.sbcs for p in sbc_probe_targets(sbc)]
    results = run_probe(context, probes) if probes else []
    for probe, result in zip(probes, results, strict=True):
        checked = evaluate_probe(probe, result,
                                 probe_sources_set=bool(context.settings.probe_source_cidrs))
        mark = (Mark.PASS if checked.status is HealthStatus.OK
                else Mark.UNKNOWN if checked.figures.get("probe_source") == "unset" else Mark.FAIL)
        items.append(DoctorItem(f"options:{probe.component.removeprefix('sip:')}",
                                f"SIP OPTIONS to {probe.label} over {probe.target.transport.upper()}",
                                mark, (checked.reason,), None if mark is Mark.PASS else checked.reason))
    trunks, error = context.trunks()
    key, title = "options:genesys", "Genesys trunk's SIP OPTIONS to every SBC"
    if trunks is None:
        items.append(DoctorItem(key, title, Mark.UNKNOWN, (f"cannot read the trunks: {error}",),
                                "Genesys Admin > Telephony > Trunks > External Trunks: each proxy's "
                                "OPTIONS status"))
        return items
    evidence: list[str] = []
    fixes: list[str] = []
    for sbc in context.settings.sbcs:
        fqdn = sbc.fqdn.rstrip(".").lower()
        seen = [(t, o) for t in trunks for o in t.options if o.proxy_address.rstrip(".").lower() == fqdn]
        if not seen:
            fixes.append(f"no Genesys trunk sends to SBC {sbc.name} ({sbc.fqdn}): add it to the trunk "
                         "base's SIP Servers or Proxies (External Trunk > Protocol)")
        for trunk, option in seen:
            evidence.append(f"{trunk.name} -> {option.proxy_address}: "
                            f"{'answered' if option.ok else 'no answer'}"
                            f"{f' ({option.error})' if option.error else ''}")
            if not option.ok:
                fixes.append(f"Genesys gets no answer to OPTIONS from {option.proxy_address}: check "
                             "the SBC's Genesys IP group answers OPTIONS and the NSG admits Genesys' "
                             "signalling addresses (`byoc apply -t nsg:" + sbc.name + "`)")
    items.append(_item(key, title, evidence, fixes))
    return items


def check_monitoring(context: DoctorContext) -> list[DoctorItem]:
    """Telemetry reaches Application Insights; alerts exist (not readable from byoc: manual)."""
    telemetry = bool(context.environment.get("APPLICATIONINSIGHTS_CONNECTION_STRING"))
    items = [DoctorItem(
        "monitoring:telemetry", "Telemetry goes to Application Insights",
        Mark.PASS if telemetry else Mark.UNKNOWN,
        ("APPLICATIONINSIGHTS_CONNECTION_STRING is set" if telemetry
         else "APPLICATIONINSIGHTS_CONNECTION_STRING is not set here",),
        None if telemetry else "in Azure: the function app's settings hold "
        "APPLICATIONINSIGHTS_CONNECTION_STRING (the Bicep deployment sets it); locally it is optional",
    )]
    items.append(DoctorItem(
        "monitoring:alerts", "Alerts reach the on-call", Mark.UNKNOWN,
        ("byoc cannot read Azure Monitor alert rules",),
        "Azure portal > Monitor > Alerts > Alert rules: the rules of docs/health.md exist for this "
        "deployment and their action group notifies the on-call; fire a test notification",
    ))
    return items


def check_failover(context: DoctorContext) -> list[DoctorItem]:
    """A second path: two SBCs, Twilio sends to both, Genesys reaches both."""
    key, title = "failover", "A failover path exists (second SBC, alternative routes)"
    settings = context.settings
    fqdns = {sbc.fqdn.rstrip(".").lower() for sbc in settings.sbcs}
    evidence = [f"{len(settings.sbcs)} SBC(s) configured"]
    fixes: list[str] = []
    if len(settings.sbcs) < 2:
        fixes.append("one SBC is a single point of failure: deploy a second SBC (or an HA pair) "
                     "and add it to BYOC_SBCS")
    urls, _ = context.reads.get("twilio:origination", context.twilio.list_origination_urls)
    if urls is not None:
        reached = _origination_targets(urls, fqdns)
        evidence.append(f"Twilio sends to {len(reached)} SBC(s)")
        if len(settings.sbcs) >= 2 and len(reached) < 2:
            fixes.append("Twilio's origination reaches one SBC only: `byoc apply -t twilio` adds "
                         "a URL per SBC")
    trunks, _ = context.trunks()
    if trunks is not None:
        proxies = {o.proxy_address.rstrip(".").lower() for t in trunks for o in t.options} & fqdns
        evidence.append(f"Genesys reaches {len(proxies)} SBC(s) over {len(trunks)} trunk(s)")
        if len(settings.sbcs) >= 2 and len(proxies) < 2:
            fixes.append("the Genesys trunk reaches one SBC only: list every SBC among the trunk "
                         "base's SIP servers or proxies")
    return [_item(key, title, evidence, fixes)]


def _origination_targets(urls: list[TwilioOriginationUrl], fqdns: set[str]) -> set[str]:
    return {sip_host(u.sip_url) for u in urls if u.enabled} & fqdns


def _item(key: str, title: str, evidence: list[str], fixes: list[str]) -> DoctorItem:
    if fixes:
        return DoctorItem(key, title, Mark.FAIL, tuple(evidence), "; ".join(fixes))
    return DoctorItem(key, title, Mark.PASS, tuple(evidence))


CHECKS: tuple[Callable[[DoctorContext], list[DoctorItem]], ...] = (
    check_certificates,
    check_twilio_origination,
    check_twilio_termination,
    check_genesys_trunk,
    check_codecs,
    check_sip_options,
    check_monitoring,
    check_failover,
)
"""The go-live checklist, in the order the report lists it."""
