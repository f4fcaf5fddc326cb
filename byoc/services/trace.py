"""`byoc trace NUMBER`: the number's call path, hop by hop, read live from every vendor.

    Twilio (owns it, on the trunk) -> origination URLs -> NSG admits Twilio's edges -> each SBC
    (TLS certificate, Dial Plan rule -> tag -> IP-to-IP route -> Genesys IP Group) -> Genesys
    (one DID pool, routed as the policy says, trunk in service)

Every hop reads through the adapters (never the inventory alone): ✓ with the evidence, ✗ with the
evidence and the fix. A hop that cannot be read is ✗ too (the path is not known to work). Numbers
byoc does not manage are traced as they are, against no policy route.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Protocol

from byoc.domain.dialplan import best_rule
from byoc.domain.nsg_exposure import DEFAULT_INBOUND_RULES, deciding_rule
from byoc.domain.policy import UnmanagedNumberError
from byoc.domain.targets import nsg_target, sbc_target
from byoc.services.nsg_ranges import sbc_effective_ranges
from byoc.services.nsg_rule import NsgRule
from byoc.services.sbc_model import is_owned
from byoc.services.twilio_model import origination_sip_url, sip_host
from byoc.telemetry import ContextThreadPool

if TYPE_CHECKING:
    from byoc.domain.policy import Policy, Route
    from byoc.ports import GenesysPort, Inventory, SbcDialPlans, SbcIpToIpRoute, TwilioPort
    from byoc.services.certificate_report import SbcCertificateStatus
    from byoc.settings import SbcSettings, Settings

Status = Literal["ok", "fail", "skip"]
MARK = {"ok": "✓", "fail": "✗", "skip": "–"}
GENESYS_IP_GROUP = "IPG_Genesys"
"""The IP Group of the Genesys leg, as `byoc sbc render-config` names it."""


@dataclass(frozen=True)
class Hop:
    """One step of the path: what was checked, what the vendor showed, and the fix if it fails."""

    hop: str
    status: Status
    evidence: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"hop": self.hop, "status": self.status, "ok": self.status != "fail",
                "evidence": self.evidence, "fix": self.fix}


@dataclass
class Trace:
    """Every hop of one number's path."""

    number: str
    managed: bool
    inventory_state: str | None
    route: dict[str, Any] | None
    hops: list[Hop] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(h.status != "fail" for h in self.hops)

    @property
    def failed(self) -> list[Hop]:
        return [h for h in self.hops if h.status == "fail"]

    def to_json(self) -> dict[str, Any]:
        return {"number": self.number, "ok": self.ok, "managed": self.managed,
                "inventory_state": self.inventory_state, "route": self.route,
                "hops": [h.to_json() for h in self.hops]}

    def render_lines(self) -> list[str]:
        """The trace as text (see `trace_lines`)."""
        return trace_lines(self.to_json())


def trace_lines(data: dict[str, Any]) -> list[str]:
    """A trace's JSON as text lines: a header, `✓ hop: evidence` per hop, `fix:` under each ✗."""
    head = f"{data['number']}: " + ("byoc manages it" if data["managed"] else
                                    "byoc does not manage it (the policy does not cover it)")
    route = data.get("route")
    if route:
        head += f"; policy: Genesys {route['genesys']}, SBC tag {route['sbc_tag']!r}"
    lines = [head]
    for hop in data["hops"]:
        lines.append(f"  {MARK.get(hop['status'], '?')} {hop['hop']}: {hop['evidence']}")
        if hop["status"] == "fail" and hop.get("fix"):
            lines.append(f"      fix: {hop['fix']}")
    failed = [h["hop"] for h in data["hops"] if h["status"] == "fail"]
    lines.append("path OK: every hop checks out" if not failed else
                 f"path BROKEN at {len(failed)} hop(s): {', '.join(failed)}")
    return lines


class SbcReader(Protocol):
    """What the trace reads from one SBC (`AudioCodesSbc` fits)."""

    def read_dial_plans(self) -> SbcDialPlans: ...

    def read_ip_to_ip_routes(self) -> tuple[SbcIpToIpRoute, ...] | None: ...

    def close(self) -> None: ...


class NumberTrace:
    """Reads one number's path from every vendor."""

    def __init__(
        self,
        *,
        settings: Settings,
        policy: Callable[[], Policy],
        inventory: Inventory,
        twilio: Callable[[], TwilioPort],
        genesys: Callable[[], GenesysPort],
        sbc: Callable[[SbcSettings], SbcReader],
        nsg_rules: Callable[[SbcSettings], list[dict[str, Any]]],
        certificates: Callable[[], list[SbcCertificateStatus]],
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._inventory = inventory
        self._twilio = twilio
        self._genesys = genesys
        self._sbc = sbc
        self._nsg_rules = nsg_rules
        self._certificates = certificates

    def trace(self, number: str) -> Trace:
        """Every hop of `number`'s path (E.164), read now."""

        policy = self._policy()
        try:
            route: Route | None = policy.route_for(number)
        except UnmanagedNumberError:
            route = None
        record = self._inventory.get(number)
        trace = Trace(number=number, managed=route is not None,
                      inventory_state=record.state.value if record else None,
                      route=None if route is None else {
                          "genesys": _holder_text(route.genesys_kind, route.genesys_name),
                          "sbc_tag": route.sbc_tag, "policy_rule": route.matched})
        trace.hops.append(_inventory_hop(trace, record))
        # The vendors are read at the same time; the hops are listed in path order.
        with ContextThreadPool(max_workers=8, thread_name_prefix="trace") as pool:
            twilio = pool.submit(_guarded, "Twilio", lambda: self._twilio_hops(number, route))
            certificates = pool.submit(_read, self._certificates)
            per_sbc = [(
                sbc,
                pool.submit(_guarded, nsg_target(sbc.name), partial(self._nsg_hops, sbc)),
                pool.submit(_guarded, sbc_target(sbc.name),
                            partial(self._sbc_hops, sbc, number, route)),
            ) for sbc in self._settings.sbcs]
            genesys = pool.submit(_guarded, "Genesys", lambda: self._genesys_hops(number, route))
            trace.hops += twilio.result()
            for sbc, nsg, device in per_sbc:
                trace.hops += nsg.result()
                trace.hops.append(_certificate_hop(sbc, certificates.result()))
                trace.hops += device.result()
            trace.hops += genesys.result()
        return trace

    # --- Twilio ---------------------------------------------------------------------------------

    def _twilio_hops(self, number: str, route: Route | None) -> list[Hop]:
        twilio = self._twilio()
        trunk_sid = self._settings.twilio_trunk_sid
        fix = ("byoc apply --target twilio" if route else
               f"put it on trunk {trunk_sid} in the Twilio console (byoc does not manage it)")
        on_trunk = next((n for n in twilio.list_trunk_numbers() if n.phone_number == number), None)
        if on_trunk is not None:
            owner = Hop("twilio: number", "ok", f"owned by the account ({on_trunk.sid}), on trunk "
                        f"{trunk_sid}")
        else:
            owned = next((n for n in twilio.list_account_numbers() if n.phone_number == number), None)
            if owned is None:
                owner = Hop("twilio: number", "fail", "the Twilio account does not own it",
                            "buy it (byoc numbers buy) or port it in; a number the account does "
                            "not own never reaches the trunk")
            else:
                owner = Hop("twilio: number", "fail", f"owned ({owned.sid}) but on "
                            f"{'trunk ' + owned.trunk_sid if owned.trunk_sid else 'no trunk'}, not "
                            f"on trunk {trunk_sid}", fix)
        trunk = twilio.fetch_trunk()
        urls = twilio.list_origination_urls()
        hops = [owner]
        for sbc in self._settings.sbcs:
            wanted = origination_sip_url(sbc, secure=trunk.secure)
            found = [u for u in urls if sip_host(u.sip_url) == sbc.fqdn.lower()]
            live = [u for u in found if u.enabled and (wanted is None or u.sip_url == wanted)]
            name = f"twilio: origination to {sbc.name}"
            if live:
                u = live[0]
                hops.append(Hop(name, "ok", f"{u.sip_url} (priority {u.priority}, weight "
                                f"{u.weight}, trunk secure={trunk.secure})"))
            else:
                seen = "; ".join(f"{u.sip_url} enabled={u.enabled}" for u in found) or "none"
                hops.append(Hop(name, "fail", f"no enabled origination URL {wanted} on trunk "
                                f"{trunk_sid} (for this host: {seen})", "byoc apply --target twilio"))
        return hops

    # --- NSG ------------------------------------------------------------------------------------

    def _nsg_hops(self, sbc: SbcSettings) -> list[Hop]:
        name = f"nsg:{sbc.name}: admits Twilio"
        if not sbc.nsg_resource_id:
            return [Hop(name, "skip", "no nsg_resource_id for this SBC: byoc does not read its "
                        "NSG; check it admits Twilio's signaling ranges (byoc nsg ranges)")]
        port, protocol = _sip_port(sbc)
        sources = [r.cidr for r in sbc_effective_ranges(self._settings, sbc)
                   if r.carrier == "twilio" and r.purpose == "signaling" and r.protocol == protocol]
        rules = [NsgRule.from_arm(raw) for raw in self._nsg_rules(sbc)]
        defaults = {r.name for r in DEFAULT_INBOUND_RULES}
        wire = "udp" if protocol == "udp" else "tcp"
        refused = []
        admitted_by: set[str] = set()
        for cidr in sources:
            verdict = deciding_rule(rules, cidr, port, wire, destination=sbc.nsg_destination)
            if verdict is None or verdict.access.lower() != "allow":
                why = ("an unreadable range" if verdict is None
                       else f"no rule admits it: Azure's default {verdict.name}"
                       if verdict.name in defaults else f"denied by {verdict.name}")
                refused.append(f"{cidr} ({why})")
            else:
                admitted_by.add(verdict.name)
        if not sources:
            return [Hop(name, "fail", f"no Twilio signaling range over {protocol.upper()} for "
                        f"edges {list(sbc.twilio_edges)}", "set the SBC's twilio_edges")]
        if refused:
            shown = ", ".join(refused[:3]) + (f", +{len(refused) - 3} more" if len(refused) > 3
                                              else "")
            return [Hop(name, "fail", f"{len(refused)} of {len(sources)} Twilio signaling "
                        f"range(s) cannot reach {protocol.upper()} {port}: {shown}",
                        f"byoc apply --target nsg:{sbc.name}")]
        return [Hop(name, "ok", f"all {len(sources)} Twilio signaling range(s) reach "
                    f"{protocol.upper()} {port} (rules {', '.join(sorted(admitted_by))})")]

    # --- SBC ------------------------------------------------------------------------------------

    def _sbc_hops(self, sbc: SbcSettings, number: str, route: Route | None) -> list[Hop]:
        reader = self._sbc(sbc)
        try:
            plans = reader.read_dial_plans()
            routes = reader.read_ip_to_ip_routes()
        finally:
            reader.close()
        target = sbc_target(sbc.name)
        plan = plans.named(sbc.dial_plan)
        if plan is None:
            return [Hop(f"{target}: dial plan", "fail", f"the SBC has no Dial Plan "
                        f"{sbc.dial_plan!r}", f"byoc apply --target {target}")]
        rule = best_rule(plan.rules, number)
        want = route.sbc_tag if route else None
        hops: list[Hop] = []
        name = f"{target}: dial plan"
        apply = f"byoc apply --target {target}"
        if rule is None:
            hops.append(Hop(name, "fail", f"no rule of Dial Plan {plan.name} matches it",
                            apply if route else "add a Dial Plan rule for it on the SBC (byoc "
                            "does not manage it)"))
            return hops
        seen = (f"{'byoc' if is_owned(rule.name) else 'foreign'} rule {rule.index} "
                f"{rule.name!r} ({rule.prefix}) gives tag {rule.tag!r}")
        if want is not None and rule.tag.casefold() != want.casefold():
            mine = best_rule([r for r in plan.rules if is_owned(r.name)], number)
            if is_owned(rule.name) or mine is None:
                missing = "" if is_owned(rule.name) else "; no byoc rule matches it"
                hops.append(Hop(name, "fail", f"{seen}; the policy says {want!r}{missing}", apply))
            else:
                hops.append(Hop(name, "fail", f"{seen}, winning over byoc's rule {mine.name!r} "
                                f"({mine.prefix}, tag {mine.tag!r}); the policy says {want!r}",
                                f"change or remove the foreign rule {rule.name!r} on the SBC by "
                                "hand (byoc never writes foreign rules)"))
        else:
            hops.append(Hop(name, "ok", seen))
        hops.append(_ip_to_ip_hop(target, sbc, rule.tag, routes))
        return hops

    # --- Genesys --------------------------------------------------------------------------------

    def _genesys_hops(self, number: str, route: Route | None) -> list[Hop]:
        genesys = self._genesys()
        pools = [p for p in genesys.list_did_pools() if p.state == "active"
                 and len(p.start) == len(number) and p.start <= number <= p.end]
        fix = "byoc apply --target genesys" if route else (
            "add a DID pool for it in Genesys (byoc does not manage it)")
        if len(pools) == 1:
            pool = pools[0]
            hops = [Hop("genesys: DID pool", "ok", f"in pool {pool.name or pool.id} "
                        f"({pool.start}..{pool.end})")]
        elif not pools:
            hops = [Hop("genesys: DID pool", "fail", "no DID pool holds it: Genesys rejects the "
                        "call", fix)]
        else:
            hops = [Hop("genesys: DID pool", "fail", f"{len(pools)} pools hold it: "
                        + ", ".join(f"{p.name or p.id} ({p.start}..{p.end})" for p in pools),
                        "remove the overlapping pool (Genesys Admin > Telephony > DID Numbers)")]
        hops.append(self._routing_hop(genesys, number, route))
        hops.append(self._trunk_hop(genesys))
        return hops

    def _routing_hop(self, genesys: GenesysPort, number: str, route: Route | None) -> Hop:
        ivrs = [i.name for i in genesys.list_ivrs() if number in i.dnis]
        holders = [f"IVR {n!r}" for n in ivrs]
        kind, name = (route.genesys_kind, route.genesys_name) if route else (None, None)
        if kind == "user" and name:
            users = genesys.find_users([name])
            holders += [f"user {u.email}" for u in users if number in u.phones()]
        shown = ", ".join(holders) or "nothing"
        if route is None:
            return Hop("genesys: routing", "ok" if holders else "skip",
                       f"routed to {shown} (no policy route to compare with)")
        want = _holder_text(route.genesys_kind, route.genesys_name)
        right = (want in holders and len(holders) == 1) if kind != "none" else not holders
        if right:
            return Hop("genesys: routing", "ok", f"routed to {shown}, as the policy says")
        return Hop("genesys: routing", "fail", f"routed to {shown}; the policy says {want}",
                   "byoc apply --target genesys")

    def _trunk_hop(self, genesys: GenesysPort) -> Hop:
        base = self._settings.genesys_trunk_base_name
        if not base:
            return Hop("genesys: trunk", "skip", "BYOC_GENESYS_TRUNK_BASE_NAME is not set: the "
                       "BYOC trunk is not checked")
        trunks = genesys.read_trunk_status(base)
        good = [t for t in trunks if t.in_service and t.connected and t.enabled]
        if good:
            return Hop("genesys: trunk", "ok", ", ".join(
                f"{t.name} in service, connected" for t in good))
        shown = "; ".join(f"{t.name}: in service={t.in_service}, connected={t.connected}, "
                          f"enabled={t.enabled}" for t in trunks) or "no trunk of it"
        return Hop("genesys: trunk", "fail", f"trunk base {base!r}: {shown}",
                   "check the BYOC Cloud trunk in Genesys Admin > Telephony > Trunks (enabled, "
                   "SIP OPTIONS answered by the SBCs); byoc health shows the probes")


# --- single hops ---------------------------------------------------------------------------------


def _inventory_hop(trace: Trace, record: Any) -> Hop:
    if not trace.managed:
        return Hop("byoc: inventory", "skip", "not managed: the hops below are read as the vendors "
                   "hold them, with no policy route to compare")
    if record is None:
        return Hop("byoc: inventory", "fail", "managed by the policy but not in the inventory",
                   "byoc apply --target twilio (discovers the trunk's numbers), or byoc numbers "
                   "buy")
    errors = "; ".join(f"{t}: {e}" for t, e in sorted(record.errors.items()))
    status: Status = "ok" if record.state.value == "active" and not errors else "fail"
    return Hop("byoc: inventory", status, f"{record.state.value}, converged on "
               f"{', '.join(sorted(record.converged)) or 'nothing yet'}"
               + (f"; errors: {errors}" if errors else ""),
               None if status == "ok" else "byoc status shows why; byoc apply --target all")


def _ip_to_ip_hop(target: str, sbc: SbcSettings, tag: str,
                  routes: tuple[SbcIpToIpRoute, ...] | None) -> Hop:
    name = f"{target}: IP-to-IP route"
    if routes is None:
        return Hop(name, "fail", "the SBC's ini export has no [ IP2IPRouting ] table, so the route "
                   f"for tag {tag!r} cannot be read", f"byoc sbc render-config --sbc {sbc.name} "
                   "shows the routes the SBC needs (upload them as an incremental ini)")
    chosen = _first_route(routes, tag)
    if chosen is None:
        return Hop(name, "fail", f"no IP-to-IP route takes tag {tag!r}", "add the route (byoc sbc "
                   f"render-config --sbc {sbc.name} lists one per policy tag)")
    if chosen.dest_type == "0" and chosen.dest_ip_group.casefold() == GENESYS_IP_GROUP.casefold():
        return Hop(name, "ok", f"tag {tag!r} -> route {chosen.index} {chosen.name!r} -> IP Group "
                   f"{chosen.dest_ip_group}")
    where = (f"IP Group {chosen.dest_ip_group}" if chosen.dest_type == "0"
             else f"destination type {chosen.dest_type} {chosen.internal_action}".strip())
    return Hop(name, "fail", f"tag {tag!r} -> route {chosen.index} {chosen.name!r} -> {where}, "
               f"not {GENESYS_IP_GROUP}", f"fix the Dial Plan tag (byoc apply --target {target}) "
               "or the route's DestIPGroupName on the SBC")


def _first_route(routes: Iterable[SbcIpToIpRoute], tag: str) -> SbcIpToIpRoute | None:
    """The row the SBC uses for an INVITE from Twilio with `tag`: the first, top down, whose source
    is Any or a Twilio group, whose request type takes INVITEs, and whose tags are empty or it."""
    for route in routes:
        source = route.source_ip_group.casefold()
        if source not in ("any", "") and not source.startswith("ipg_twilio"):
            continue
        if route.request_type not in ("0", "1", ""):  # 0 all, 1 INVITE (6: OPTIONS)
            continue
        if route.dest_tags and route.dest_tags.casefold() != tag.casefold():
            continue
        return route
    return None


def _certificate_hop(sbc: SbcSettings, statuses: list[SbcCertificateStatus] | Exception) -> Hop:
    name = f"tls:{sbc.name}: certificate"
    fix = (f"byoc cert rotate --sbc {sbc.name} (after renewing the certificate in Key Vault if "
           "it is the one expiring)")
    if isinstance(statuses, Exception):
        return Hop(name, "fail", f"could not read: {statuses}", fix)
    status = next((s for s in statuses if s.sbc == sbc.name), None)
    if status is None:
        return Hop(name, "fail", "not read", fix)
    if status.handshake_error and not status.handshake_reached:
        return Hop(name, "fail", f"no TLS handshake with {sbc.fqdn}: {status.handshake_error}", fix)
    where = f"{status.serves or 'certificate'} on {sbc.fqdn} (the Twilio and Genesys legs)"
    if status.days_left is None:
        return Hop(name, "fail", f"{where}: no certificate read; "
                   + "; ".join(status.problems or []), fix)
    if status.days_left < 0:
        return Hop(name, "fail", f"{where} expired on {status.not_after}", fix)
    if status.chain_verified is False:
        return Hop(name, "fail", f"{where} does not verify: {status.handshake_error or 'chain'}",
                   fix)
    return Hop(name, "ok", f"{where} valid until {status.not_after} ({status.days_left} days)")


# --- helpers -------------------------------------------------------------------------------------


def _guarded(what: str, read: Callable[[], list[Hop]]) -> list[Hop]:
    """The hops `read` returns, or one ✗ hop saying the vendor could not be read."""
    try:
        return read()
    except Exception as exc:
        text = " ".join(f"{type(exc).__name__}: {exc}".split())
        return [Hop(f"{what}: read", "fail",
                    f"could not read {what}: {text[:300]}",
                    "check the vendor's reachability and byoc's credentials (byoc health)")]


def _read(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except Exception as exc:
        return exc


def _holder_text(kind: str, name: str | None) -> str:
    return {"ivr": f"IVR {name!r}", "user": f"user {name}"}.get(kind, "nothing (pool only)")


def _sip_port(sbc: SbcSettings) -> tuple[int, str]:
    ports = sbc.sip_ports
    for protocol in ("tls", "tcp", "udp"):
        if getattr(ports, protocol):
            return int(getattr(ports, protocol)), protocol
    return 0, "tls"
