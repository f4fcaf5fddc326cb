"""`byoc doctor`: the go-live checklist against the live systems, and which variant each vendor shows.

Two parts, one report:

1. The checklist, item by item, through byoc's adapters: the TLS certificate each SBC presents (as
   Genesys and Twilio would handshake), Twilio origination and termination, the Genesys BYOC trunk,
   codecs across Twilio, the SBC coder group and the Genesys trunk, SIP OPTIONS on every leg,
   monitoring, and a failover path.
2. For every unverified vendor behaviour (docs/verify-on-a-real-tenant.md), the variant the vendor
   exhibits where a read shows it, or the manual step that tells (`byoc.services.doctor_probes`).

Each item is ✓ (pass), ✗ (fail: calls will not flow, with the fix) or ? (cannot be told from here,
with the manual step). Nothing is written unless `probe_writes` is set, and then only the reversible
probes of `doctor_probes`, each removed again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from cryptography import x509

from byoc.domain.cert_checks import days_left
from byoc.domain.certs import GENESYS_KEY_REQUIREMENT, RSA_KEY_TYPES, key_type_name, san_dns_names
from byoc.ports import TlsHandshakeFailed
from byoc.services.certificate_inspection import sip_tls_address

if TYPE_CHECKING:
    from byoc.ports import (
        GenesysPort,
        GenesysTrunkStatus,
        PresentedCertificate,
        SbcConfigReadPort,
        SbcTlsContextPort,
        SipProber,
        TlsHandshakePort,
        TwilioPort,
    )
    from byoc.settings import SbcSettings, Settings

T = TypeVar("T")

TWILIO_CODECS: tuple[str, ...] = ("PCMU", "PCMA")
"""What Twilio Elastic SIP Trunking carries without a Limited Availability request, in the order it
offers them (https://www.twilio.com/docs/sip-trunking/codecs); the trunk API has no codec field."""

_AUDIOCODES_CODERS = {
    "g711ulaw64k": "PCMU", "g711alaw64k": "PCMA", "g729": "G729", "opus": "OPUS",
    "g722": "G722", "amr": "AMR", "silk": "SILK",
}
_GENESYS_CODECS = {"audio/pcmu": "PCMU", "audio/pcma": "PCMA", "audio/g729": "G729",
                   "audio/opus": "OPUS", "audio/g722": "G722", "audio/amr": "AMR"}


class Mark(StrEnum):
    """One checklist item's outcome."""

    PASS = "✓"  # noqa: S105 - a check mark, not a password
    FAIL = "✗"
    UNKNOWN = "?"


@dataclass(frozen=True)
class DoctorItem:
    """One line of the report: what was checked, the outcome, what shows it, and what to do."""

    key: str
    title: str
    mark: Mark
    evidence: tuple[str, ...] = ()
    fix: str | None = None
    section: str = "checklist"
    variant: str | None = None
    """Variant probes: the value observed (None: not observable without a write)."""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "key": self.key, "title": self.title, "section": self.section,
            "status": {Mark.PASS: "pass", Mark.FAIL: "fail", Mark.UNKNOWN: "unknown"}[self.mark],
            "mark": self.mark.value, "evidence": list(self.evidence), "fix": self.fix,
        }
        if self.section == "variants":
            data["variant"] = self.variant
        return data


@dataclass
class DoctorReport:
    """Every item of one run."""

    items: list[DoctorItem] = field(default_factory=list)
    probe_writes: bool = False

    @property
    def failed(self) -> list[DoctorItem]:
        return [i for i in self.items if i.mark is Mark.FAIL]

    def item(self, key: str) -> DoctorItem:
        """The item `key` (KeyError when the run has none)."""
        for item in self.items:
            if item.key == key:
                return item
        raise KeyError(key)

    def counts(self) -> dict[str, int]:
        return {m.name.lower(): sum(1 for i in self.items if i.mark is m) for m in Mark}

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": not self.failed,
            "counts": self.counts(),
            "probe_writes": self.probe_writes,
            "items": [i.to_json() for i in self.items],
        }


class Reads:
    """Each vendor read done at most once per run; a failed read is kept as its error text."""

    def __init__(self) -> None:
        self._done: dict[str, tuple[Any, str | None]] = {}

    def get(self, key: str, read: Callable[[], T]) -> tuple[T | None, str | None]:
        if key not in self._done:
            try:
                self._done[key] = (read(), None)
            except Exception as exc:  # every failure is reported on the item that needed it
                self._done[key] = (None, f"{type(exc).__name__}: {exc}")
        value, error = self._done[key]
        return value, error


@dataclass
class DoctorContext:
    """What the checks and the variant probes read through."""

    settings: Settings
    twilio: TwilioPort
    genesys: GenesysPort
    sbc: Callable[[SbcSettings], SbcConfigReadPort]
    handshake: TlsHandshakePort
    prober: SipProber
    environment: Mapping[str, str]
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    reads: Reads = field(default_factory=Reads)
    tls_context: Callable[[SbcSettings], SbcTlsContextPort] | None = None
    _sbcs: dict[str, SbcConfigReadPort] = field(default_factory=dict)
    _presented: dict[str, PresentedCertificate | Exception] = field(default_factory=dict)

    def sbc_port(self, sbc: SbcSettings) -> SbcConfigReadPort:
        if sbc.name not in self._sbcs:
            self._sbcs[sbc.name] = self.sbc(sbc)
        return self._sbcs[sbc.name]

    def sbc_read(self, sbc: SbcSettings, what: str,
                 read: Callable[[SbcConfigReadPort], T]) -> tuple[T | None, str | None]:
        return self.reads.get(f"sbc:{sbc.name}:{what}", lambda: read(self.sbc_port(sbc)))

    def presented(self, sbc: SbcSettings) -> PresentedCertificate:
        """The certificate the SBC's SIP TLS port presents (one handshake per run; raises
        `TlsHandshakeFailed`, or LookupError when the SBC has no SIP TLS port)."""

        if sbc.name not in self._presented:
            address = sip_tls_address(sbc)
            try:
                if address is None:
                    raise LookupError(f"SBC {sbc.name} offers no SIP TLS port")
                self._presented[sbc.name] = self.handshake.presented_certificate(
                    *address, sbc.fqdn.rstrip("."))
            except (TlsHandshakeFailed, LookupError) as exc:
                self._presented[sbc.name] = exc
        found = self._presented[sbc.name]
        if isinstance(found, Exception):
            raise found
        return found

    def trunks(self) -> tuple[list[GenesysTrunkStatus] | None, str | None]:
        base = self.settings.genesys_trunk_base_name
        return self.reads.get("genesys:trunks", lambda: self.genesys.read_trunk_status(base))

    def close(self) -> None:
        for port in self._sbcs.values():
            port.close()
        self._sbcs.clear()


# --- facts the checks share ----------------------------------------------------------------------


def codec_names(raw: tuple[str, ...], vendor: str) -> tuple[list[str], list[str]]:
    """Vendor codec names as `PCMU`, `PCMA`, ... in order, and the names not recognised."""
    table = _AUDIOCODES_CODERS if vendor == "audiocodes" else _GENESYS_CODECS
    known: list[str] = []
    unknown: list[str] = []
    for name in raw:
        mapped = table.get(name.strip().casefold())
        if mapped is None:
            unknown.append(name)
        elif mapped not in known:
            known.append(mapped)
    return known, unknown


def presented_certificate_item(context: DoctorContext, sbc: SbcSettings) -> DoctorItem:
    """The certificate the SBC's SIP TLS port presents, judged as Genesys and Twilio would."""

    key, title = f"tls:{sbc.name}", f"TLS certificate of SBC {sbc.name} ({sbc.fqdn})"
    address = sip_tls_address(sbc)
    if address is None:
        return DoctorItem(key, title, Mark.FAIL, ("the SBC offers no SIP TLS port",),
                          "Genesys BYOC and a secure Twilio trunk reach the SBC over TLS: set "
                          "sip_ports.tls of this SBC in BYOC_SBCS and enable TLS on its SIP interface")
    try:
        presented = context.presented(sbc)
    except TlsHandshakeFailed as exc:
        if not exc.reached:
            return DoctorItem(key, title, Mark.UNKNOWN, (str(exc),),
                              "run byoc doctor from a host that reaches the SBC's SIP TLS port, or "
                              "check the NSG admits TLS from here")
        return DoctorItem(key, title, Mark.FAIL, (str(exc),),
                          "install a matching key and certificate on the SBC's TLS context: "
                          "`byoc cert rotate --sbc " + sbc.name + "`")
    leaf = x509.load_der_x509_certificate(presented.leaf_der)
    now = context.clock()
    left = days_left(leaf, now)
    key_type = key_type_name(leaf.public_key())
    names = ", ".join(san_dns_names(leaf)) or "no DNS names"
    evidence = (f"presents {leaf.subject.rfc4514_string()} for {names}, issued by "
                f"{leaf.issuer.rfc4514_string()}",
                f"{key_type} key, {left} day(s) left, {presented.tls_version or 'TLS version unknown'}",
                "chain and name verified against the trust roots" if presented.chain_verified
                else f"chain or name rejected: {presented.verify_error}")
    fixes: list[str] = []
    rsa_needed = not context.settings.cert_allow_ec
    if rsa_needed and key_type not in RSA_KEY_TYPES:
        fixes.append(f"the certificate has an {key_type} key: {GENESYS_KEY_REQUIREMENT}; reissue "
                     "it with an RSA key (2048 bits or more) and run `byoc cert rotate`")
    elif not presented.chain_verified and "cipher suites" in (presented.verify_error or ""):
        fixes.append(f"{presented.verify_error}: let TLS context {sbc.tls_context} speak TLS 1.2 "
                     "with RSA suites (SBC Web > Setup > IP Network > Security > TLS Contexts: "
                     "TLS Version, Cipher Server)")
    elif not presented.chain_verified:
        fixes.append("Genesys and Twilio verify the chain to a public CA and the name "
                     f"{sbc.fqdn}: install a publicly trusted certificate covering it, with its "
                     "intermediates (`byoc cert rotate` adds them)")
    if left < 0:
        fixes.append("the certificate has expired: renew it in Key Vault and run `byoc cert rotate`")
    if fixes:
        return DoctorItem(key, title, Mark.FAIL, evidence, "; ".join(fixes))
    return DoctorItem(key, title, Mark.PASS, evidence)


def run_probe(context: DoctorContext, probes: list[Any]) -> list[Any]:
    """SIP OPTIONS to each probe target, concurrently; the results in order."""
    settings = context.settings

    async def all_of() -> list[Any]:
        return list(await asyncio.gather(*(
            context.prober(p.target, timeout_s=settings.health_probe_timeout_s,
                           timer_scale=settings.sip_timer_scale, ca_bundle=settings.ca_bundle)
            for p in probes)))

    return asyncio.run(all_of())
