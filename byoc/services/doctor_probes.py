"""Which variant each vendor exhibits, for every unverified behaviour (docs/verify-on-a-real-tenant.md).

`PROBES` is a table: one `VariantProbe` per behaviour the sandbox offers in several plausible forms
(the emulators' `VARIANTS` tables name them `<vendor>.<name>` the same way). A probe has

- `observe`: a read that shows the variant (None: only a write or live traffic can tell),
- `write`: a reversible write that shows it, run only with `byoc doctor --probe-writes`, which
  removes what it made before it returns,
- `manual`: the exact step that tells, for the operator when neither ran.

A probe answers `Observed(value, evidence)`; `fix` set means byoc cannot work with what it saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from byoc.services.doctor import DoctorContext, DoctorItem, Mark

if TYPE_CHECKING:
    from byoc.settings import SbcSettings

SCRATCH_NAME = "byoc-doctor-probe"
"""Name of everything `--probe-writes` creates (and removes again)."""
SCRATCH_PREFIX = "+19999999999#"
"""A Dial Plan prefix no real number matches (NANP 999 is not an assignable area code)."""


@dataclass(frozen=True)
class Observed:
    """What a probe saw: the variant (None: not told), the evidence, and a fix when byoc cannot
    work with it."""

    value: str | None
    evidence: tuple[str, ...] = ()
    fix: str | None = None


@dataclass(frozen=True)
class VariantProbe:
    """How `byoc doctor` tells one unverified vendor behaviour."""

    variant: str
    question: str
    manual: str
    observe: Callable[[DoctorContext], Observed] | None = None
    write: Callable[[DoctorContext], Observed] | None = None


# --- AudioCodes ----------------------------------------------------------------------------------


def _per_sbc(context: DoctorContext, look: Callable[[SbcSettings], Observed]) -> Observed:
    """One observation per SBC, merged: the value when every SBC agrees, else None (evidence says)."""
    seen = [(sbc.name, look(sbc)) for sbc in context.settings.sbcs]
    evidence = tuple(f"{name}: {line}" for name, o in seen for line in o.evidence)
    fixes = [f"SBC {name}: {o.fix}" for name, o in seen if o.fix]
    values = {o.value for _, o in seen}
    value = values.pop() if len(values) == 1 else None
    if value is None and len({v for _, o in seen if (v := o.value) is not None}) > 1:
        evidence += ("the SBCs differ: " + ", ".join(f"{n}={o.value}" for n, o in seen),)
    return Observed(value, evidence, "; ".join(fixes) or None)


def _firmware(context: DoctorContext, sbc: SbcSettings) -> str:
    status, error = context.sbc_read(sbc, "status", lambda p: p.status())
    return f"firmware {status.version}" if status is not None else f"status unreadable ({error})"


def observe_ini_dialplan_rules(context: DoctorContext) -> Observed:
    """Whether the ini export carries `[ DialPlanRule ]` (else byoc reads the CLI export)."""

    def look(sbc: SbcSettings) -> Observed:
        plans, error = context.sbc_read(sbc, "plans", lambda p: p.read_dial_plans())
        firmware = _firmware(context, sbc)
        if plans is None:
            if error and "without a [ DialPlanRule ] table" in error:
                return Observed("omitted", (firmware, error), "byoc cannot read this SBC's rules: "
                                "send GET /api/v1/files/cliScript to AudioCodes support with the "
                                "firmware version")
            return Observed(None, (firmware, f"cannot read the Dial Plans: {error}"))
        value = "exported" if plans.source == "ini" else "omitted"
        return Observed(value, (firmware, f"Dial Plans read from the {plans.source} export"))

    return _per_sbc(context, look)


def write_scratch_dial_plan_rule(context: DoctorContext) -> Observed:
    """Add a scratch rule to each SBC's Dial Plan with byoc's write format, read it back, remove it."""
    from byoc.ports import SbcDialPlanEdit, SbcDialPlanRule

    def look(sbc: SbcSettings) -> Observed:
        port = context.sbc_port(sbc)
        plans = port.read_dial_plans()
        plan = plans.named(sbc.dial_plan)
        if plan is None:
            return Observed(None, (f"Dial Plan {sbc.dial_plan!r} does not exist yet; "
                                   "`byoc apply` creates it, then run the probe again",))
        index = max((r.index for r in plan.rules), default=-1) + 1
        rule = SbcDialPlanRule(index, SCRATCH_NAME, SCRATCH_PREFIX, "byoc-doctor")
        try:
            port.write_dial_plan(SbcDialPlanEdit(plan.name, plan.index, put=(rule,)))
        except Exception as exc:
            return Observed("refused", (f"scratch rule {index} not written: {exc}",),
                            "byoc's Dial Plan write format does not work on this firmware: see "
                            "docs/sbc.md, 'Confirm the write format on a lab SBC'")
        try:
            port.write_dial_plan(SbcDialPlanEdit(plan.name, plan.index, delete=(index,)))
        except Exception as exc:
            return Observed("accepted", (f"scratch rule {index} written and read back",),
                            f"the scratch rule {SCRATCH_NAME!r} (index {index}) could not be "
                            f"removed ({exc}): delete it on the SBC (Dial Plan {plan.name})")
        return Observed("accepted", (f"scratch rule {index} written, read back and removed",))

    return _per_sbc(context, look)


# --- Genesys -------------------------------------------------------------------------------------


def write_scratch_pool(context: DoctorContext) -> Observed:
    """Create a scratch DID pool on an unused range, delete it, and look whether it still lists."""
    genesys = context.genesys
    start, end = "+19999990000", "+19999990009"
    pools = genesys.list_did_pools()
    if any(p.start <= end and start <= p.end and p.state != "deleted" for p in pools):
        return Observed(None, (f"the scratch range {start}-{end} is in use; probe skipped",))
    pool = genesys.create_did_pool(start, end, name=SCRATCH_NAME,
                                   description="byoc doctor --probe-writes scratch pool; safe to delete")
    try:
        genesys.delete_did_pool(pool)
    except Exception as exc:
        return Observed(None, (f"scratch pool {pool.id} created, delete failed: {exc}",),
                        f"delete the DID pool {SCRATCH_NAME!r} ({start}-{end}) in Genesys Admin > "
                        "Telephony > DID Numbers")
    after = [p for p in genesys.list_did_pools() if p.id == pool.id and p.state != "deleted"]
    value = "lag" if after else "immediate"
    return Observed(value, (f"scratch pool {pool.id} created and deleted; "
                            f"{'still listed' if after else 'gone'} on the next read",))


# --- the table -----------------------------------------------------------------------------------

PROBES: tuple[VariantProbe, ...] = (
    VariantProbe(
        "audiocodes.ini_dialplan_rules",
        "Does the SBC's ini export carry the [ DialPlanRule ] table?",
        "GET /api/v1/files/ini on each SBC: look for a [ DialPlanRule ] section",
        observe=observe_ini_dialplan_rules,
    ),
    VariantProbe(
        "audiocodes.dialplan_write",
        "Does the SBC accept byoc's incremental CLI for Dial Plan rules?",
        "on a lab SBC, follow docs/sbc.md 'Confirm the write format on a lab SBC', or run "
        "`byoc doctor --probe-writes` (adds and removes one scratch rule per SBC)",
        write=write_scratch_dial_plan_rule,
    ),
    VariantProbe(
        "audiocodes.tls_apply",
        "Does a new certificate on a TLS context go live without a reset?",
        "after the next `byoc cert rotate`, GET /api/v1/status on the SBC: resetNeeded true means "
        "the context needs a reset before it serves the new certificate (byoc cert status shows "
        "which certificate the port presents)",
    ),
    VariantProbe(
        "genesys.pool_delete_lag",
        "Does a deleted DID pool still list for a while?",
        "delete an unused DID pool and list /api/v2/telephony/providers/edges/didpools at once, "
        "or run `byoc doctor --probe-writes` (creates and deletes one scratch pool)",
        write=write_scratch_pool,
    ),
    VariantProbe(
        "twilio.retry_after",
        "Does Twilio send Retry-After with 429/20429?",
        "read the headers of a 429 in the function app's logs (event twilio.retry) after a bulk "
        "purchase; byoc backs off either way",
    ),
    VariantProbe(
        "arm.if_match",
        "Does ARM enforce If-Match on NSG security rules?",
        "PUT a security rule with a stale If-Match ETag on a scratch NSG (`az network nsg rule "
        "update` with --if-match): 412 means enforced",
    ),
)
"""Every variant probe, in report order; vendor helpers add theirs as their emulators offer them."""


def run_probes(context: DoctorContext, *, probe_writes: bool) -> list[DoctorItem]:
    """Each probe's item: observed (✓), unworkable (✗), or not told (? with the manual step)."""
    items = []
    for probe in PROBES:
        observed = Observed(None)
        runs = [probe.observe] + ([probe.write] if probe_writes else [])
        for run in runs:
            if run is None or observed.value is not None or observed.fix:
                continue
            try:
                seen = run(context)
            except Exception as exc:
                seen = Observed(None, (f"probe failed: {type(exc).__name__}: {exc}",))
            observed = Observed(seen.value, observed.evidence + seen.evidence, seen.fix)
        if observed.fix:
            mark, fix = Mark.FAIL, observed.fix
        elif observed.value is not None:
            mark, fix = Mark.PASS, None
        else:
            mark, fix = Mark.UNKNOWN, probe.manual
        evidence = observed.evidence or ("not observable with a read",)
        items.append(DoctorItem(f"variant:{probe.variant}", probe.question, mark, evidence, fix,
                                section="variants", variant=observed.value))
    return items
