"""Health from SIP: which OPTIONS probes an SBC gets (one per SIP port, at `probe_host` when set),
extra targets (`BYOC_HEALTH_PROBE_URIS`), and what a probe's answer and the certificate its TLS
port presented mean (`sip:<sbc>:<transport>`, `sip-target:…`, `tls-certificate:<sbc>`)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from byoc.domain.carriers import Transport
from byoc.domain.cert_checks import expiry_warning_level
from byoc.ports import ProbeResult, ProbeTarget
from byoc.services.health_report import MAX_LISTED, CheckResult, HealthStatus

if TYPE_CHECKING:
    from byoc.settings import SbcSettings

# --- probe targets -------------------------------------------------------------------------------

_HOST_PORT_RE = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]+))(?::(?P<port>[0-9]{1,5}))?$")
_SIP_URI_RE = re.compile(
    r"^(?P<scheme>sips?):(?:(?P<user>[^@;]+)@)?(?P<hostport>\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?|[^;@]+)"
    r"(?P<params>(?:;[^;]*)*)$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class NamedProbe:
    """A probe target and the component its result is stored under."""

    component: str
    target: ProbeTarget
    label: str
    sbc: str | None = None


def split_probe_host(value: str) -> tuple[str, int | None]:
    """`host`, `host:port`, `[v6]` or `[v6]:port` -> (host, port or None)."""
    match = _HOST_PORT_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"probe_host {value!r} is not 'host' or 'host:port'")
    port = int(match["port"]) if match["port"] else None
    return match["v6"] or match["host"], port


def sbc_probe_targets(sbc: SbcSettings) -> list[NamedProbe]:
    """The SBC's public SIP interfaces: UDP and TCP on `sip_ports`, TLS on its port.

    Probes go to `probe_host` when set (a port there replaces the TLS port only), else to the FQDN;
    the FQDN is always the Request-URI host and the TLS server name. A port of 0 is not offered.
    """
    host, tls_port = (sbc.fqdn, None) if not sbc.probe_host else split_probe_host(sbc.probe_host)
    ports: dict[Transport, int] = {
        "udp": sbc.sip_ports.udp,
        "tcp": sbc.sip_ports.tcp,
        "tls": sbc.sip_ports.tls if tls_port is None or sbc.sip_ports.tls == 0 else tls_port,
    }
    probes = []
    for transport, port in ports.items():
        if port == 0:
            continue
        target = ProbeTarget(host, port, transport, server_name=sbc.fqdn.rstrip("."))
        probes.append(NamedProbe(f"sip:{sbc.name}:{transport}", target, f"SBC {sbc.name}", sbc.name))
    return probes


def parse_probe_uri(uri: str) -> NamedProbe:
    """`sip:host[:port][;transport=udp|tcp|tls]` or `sips:host[:port]` as an extra probe target.

    Defaults: UDP on 5060 for `sip:`, TLS on 5061 for `sips:` (RFC 3261 §19.1.2).
    """
    match = _SIP_URI_RE.fullmatch(uri.strip())
    if match is None:
        raise ValueError(f"{uri!r} is not a SIP URI like sip:host:5060;transport=tcp or sips:host:5061")
    secure = match["scheme"].lower() == "sips"
    params = {
        name.strip().lower(): value.strip().lower()
        for name, _, value in (p.partition("=") for p in match["params"].split(";")[1:])
    }
    transport = params.get("transport", "tls" if secure else "udp")
    if transport not in ("udp", "tcp", "tls"):
        raise ValueError(f"{uri!r}: transport {transport!r} is not udp, tcp or tls")
    if secure and transport != "tls":
        raise ValueError(f"{uri!r}: a sips: URI is always probed over TLS")
    host, port = split_probe_host(match["hostport"])
    chosen: Transport = "udp" if transport == "udp" else "tcp" if transport == "tcp" else "tls"
    target = ProbeTarget(
        host, port or (5061 if chosen == "tls" else 5060), chosen, user=match["user"] or None
    )
    component = f"sip-target:{chosen}:{host}:{target.port}"
    return NamedProbe(component, target, f"{host}:{target.port}")




PROBE_SOURCE_UNSET = (
    "BYOC_PROBE_SOURCE_CIDRS is not set, so the SBC configuration byoc renders does not classify "
    "this probe's source, and such an SBC answers unclassified requests with silence "
    "(ClassificationFailureResponseType 0): the silence does not show the SBC down. Set "
    "BYOC_PROBE_SOURCE_CIDRS to where the probe comes from (the app subnet when probe_host is the "
    "SBC's private IP, else the function app's outbound IPs), then apply `byoc sbc render-config` "
    "to the SBC and `byoc apply --target nsg:<sbc>`"
)


def evaluate_probe(probe: NamedProbe, result: ProbeResult, *,
                   probe_sources_set: bool = True) -> CheckResult:
    """A SIP OPTIONS outcome as a component status, with the reason a telephony engineer needs.

    A silent SBC while `probe_sources_set` is false is degraded, not down: the SBC byoc
    configured ignores a probe it was never told about."""
    target = probe.target
    where = f"{probe.label} ({target.transport.upper()} {target.host}:{target.port})"
    figures: dict[str, Any] = {
        "target": str(target),
        "transport": target.transport,
        "status_code": result.status_code,
        "rtt_ms": result.rtt_ms,
        "remote_address": result.remote_address,
        "transmissions": result.transmissions,
    }
    if result.server or result.user_agent:
        figures["server"] = result.server or result.user_agent
    if result.failure is not None:
        figures["failure"] = result.failure
        if result.failure == "timeout" and probe.sbc is not None and not probe_sources_set:
            figures["probe_source"] = "unset"
            return CheckResult(
                probe.component, HealthStatus.DEGRADED,
                f"no answer to OPTIONS from {where}, and the SBC's state is unknown: "
                f"{PROBE_SOURCE_UNSET}", figures)
        return CheckResult(probe.component, HealthStatus.DOWN, _failure_reason(where, target, result),
                           figures)
    code, text = result.status_code or 0, (result.reason or "").strip()
    answer = f"{code} {text}".strip()
    if 200 <= code < 300:
        return CheckResult(probe.component, HealthStatus.OK,
                           f"{where} answered OPTIONS with {answer} in {result.rtt_ms:.0f} ms", figures)
    if code == 408 or code >= 500:
        return CheckResult(
            probe.component, HealthStatus.DOWN,
            f"{where} answered OPTIONS with {answer}: it is reachable but refuses service "
            "(overloaded, out of service, or no route); look at its active alarms and logs",
            figures,
        )
    return CheckResult(
        probe.component, HealthStatus.DEGRADED,
        f"{where} is reachable but answered OPTIONS with {answer}: it rejects requests from this "
        "address; if carriers get the same answer, check its classification (IP group, proxy set) "
        "and message conditions",
        figures,
    )


def _failure_reason(where: str, target: ProbeTarget, result: ProbeResult) -> str:
    detail = result.detail or result.failure or "no detail"
    port = f"{target.transport.upper()} {target.port}"
    match result.failure:
        case "timeout":
            return (f"no answer to OPTIONS from {where}: {detail}. Check that the SBC is running, that "
                    f"the NSG admits {port} from here, and that the SBC answers OPTIONS from this address")
        case "refused":
            return (f"{where} refused or dropped the connection: {detail}. Nothing accepts {port} there: "
                    "check the SBC's SIP interface and the NSG")
        case "tls_error":
            return (f"TLS with {where} failed: {detail}. Carriers' TLS connections fail the same way: "
                    "check the certificate on the SBC's TLS context and its chain")
        case "malformed_reply":
            return f"{where} did not answer in SIP: {detail}. Is something else listening on {port}?"
        case "dns_error":
            return f"{detail}. Carriers resolve the same name: check its DNS record"
    return f"{where}: {detail}"


def evaluate_certificate(sbc: str, result: ProbeResult, now: dt.datetime) -> CheckResult:
    """Days left on the certificate the SBC's SIP TLS port presented: degraded at 30, 14 and 7 days
    (as the certificate rotation's own `certificate:<sbc>` record), down once expired or rejected."""
    component = f"tls-certificate:{sbc}"
    cert = result.certificate
    if cert is None:
        if result.failure == "tls_error":
            return CheckResult(
                component, HealthStatus.DOWN,
                f"SBC {sbc} presents no certificate a carrier would accept: {result.detail}",
                {"failure": result.failure},
            )
        why = (f"no TLS handshake completed ({result.failure}; see sip:{sbc}:tls)" if result.failure
               else "the TLS handshake gave no peer certificate")
        return CheckResult(component, HealthStatus.DEGRADED,
                           f"certificate of SBC {sbc} not checked: {why}", {"failure": result.failure})
    days = (cert.not_after - now) // dt.timedelta(days=1)
    level = expiry_warning_level(days)
    until = cert.not_after.strftime("%Y-%m-%d %H:%M UTC")
    names = ", ".join(cert.dns_names[:4]) or cert.subject
    figures = {
        "days_left": days,
        "not_after": cert.not_after.isoformat(),
        "warning_level": level,
        "subject": cert.subject,
        "issuer": cert.issuer,
        "dns_names": list(cert.dns_names[:MAX_LISTED]),
        "sha256_fingerprint": cert.sha256_fingerprint,
        "tls_version": cert.tls_version,
    }
    if days < 0:
        return CheckResult(component, HealthStatus.DOWN,
                           f"SBC {sbc}'s TLS certificate ({names}) expired on {until}: TLS calls fail; "
                           "rotate it now (`byoc cert rotate`)", figures)
    if level is None:
        return CheckResult(component, HealthStatus.OK,
                           f"SBC {sbc} serves a certificate for {names} valid until {until} "
                           f"({days} days left)", figures)
    urgency = "urgent: " if level == 7 else ""
    return CheckResult(component, HealthStatus.DEGRADED,
                       f"{urgency}SBC {sbc}'s TLS certificate ({names}) expires in {days} days ({until}; "
                       f"{level}-day warning): TLS calls fail after that; `byoc cert status` shows what "
                       "Key Vault holds, `byoc cert rotate` installs its current version", figures)
