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

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from byoc.domain.certs import fingerprint_sha256, parse_pem_certificate
from byoc.ports import GenesysPoolRangeRefused, SbcDialPlanEdit, SbcDialPlanRule
from byoc.services.doctor import DoctorContext, DoctorItem, Mark

if TYPE_CHECKING:
    from byoc.ports import GenesysDidPool
    from byoc.settings import SbcSettings

SCRATCH_NAME = "byoc-doctor"
"""Name of everything `--probe-writes` creates and removes again (15 characters at most: the
longest Dial Plan rule name an SBC takes)."""
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
    """One observation per SBC, merged: the value every SBC that showed one agrees on, else each
    SBC's (`sbc1=included, sbc2=omitted`); None when no SBC showed one."""
    seen = [(sbc.name, look(sbc)) for sbc in context.settings.sbcs]
    evidence = tuple(f"{name}: {line}" for name, o in seen for line in o.evidence)
    fixes = [f"SBC {name}: {o.fix}" for name, o in seen if o.fix]
    values = {o.value for _, o in seen if o.value is not None}
    value = next(iter(values)) if len(values) == 1 else None
    if len(values) > 1:
        value = ", ".join(f"{n}={o.value}" for n, o in seen if o.value is not None)
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
        value = "included" if plans.source == "ini" else "omitted"
        return Observed(value, (firmware, f"Dial Plans read from the {plans.source} export"))

    return _per_sbc(context, look)


def observe_tls_apply(context: DoctorContext) -> Observed:
    """A TLS context holding another certificate than its port presents, with `resetNeeded`,
    shows a pair waiting for a reset; otherwise a read cannot tell."""
    from cryptography import x509


    def look(sbc: SbcSettings) -> Observed:
        if context.tls_context is None:
            return Observed(None, ("the TLS context is not readable here",))
        tls = context.tls_context(sbc)
        try:
            stored = fingerprint_sha256(parse_pem_certificate(tls.read_certificate_pem()))
            reset_needed = tls.status().reset_needed
        finally:
            tls.close()
        try:
            presented = context.presented(sbc)
        except Exception as exc:
            return Observed(None, (f"no handshake with the SIP TLS port: {exc}",))
        served = fingerprint_sha256(x509.load_der_x509_certificate(presented.leaf_der))
        if served != stored and reset_needed:
            return Observed("needs-reset", (
                f"TLS context {sbc.tls_context} holds {stored[:8]}… but the port presents "
                f"{served[:8]}… and the device reports resetNeeded",))
        return Observed(None, (f"the port presents the context's certificate {stored[:8]}… "
                               f"(resetNeeded {str(reset_needed).lower()}): a read cannot tell",))

    return _per_sbc(context, look)


def observe_dialplan_cli(context: DoctorContext) -> Observed:
    """The dial-plan CLI dialect of each SBC's own CLI export."""

    def look(sbc: SbcSettings) -> Observed:
        dialect, error = context.sbc_read(sbc, "dialect", lambda p: p.read_dial_plan_dialect())
        firmware = _firmware(context, sbc)
        if error is not None:
            return Observed(None, (firmware, f"cannot read the CLI export: {error}"))
        if dialect is None:
            return Observed(None, (firmware, "the CLI export holds no Dial Plan rule to tell by"))
        return Observed(dialect, (firmware, f"the CLI export writes Dial Plan rules {dialect}"))

    return _per_sbc(context, look)


def write_scratch_dial_plan_rule(context: DoctorContext) -> Observed:
    """Add a scratch rule to each SBC's Dial Plan with byoc's write format, read it back, remove it."""

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


def write_empty_upload(context: DoctorContext) -> Observed:
    """Upload an incremental CLI script that changes nothing; does the answer carry `status`?"""

    def look(sbc: SbcSettings) -> Observed:
        fields = context.sbc_port(sbc).upload_answer_fields()
        value = "with-status" if "status" in fields else "no-status"
        return Observed(value, (f"an empty incremental CLI upload answered with {', '.join(fields)}",))

    return _per_sbc(context, look)


# --- Twilio --------------------------------------------------------------------------------------


def observe_monitor_event_data(context: DoctorContext) -> Observed:
    """The `event_data` shape of the account's recent `phone-number.*` Monitor events."""

    since = context.clock() - dt.timedelta(days=30)
    keys = context.twilio.number_event_data_keys(since)
    if not keys:
        return Observed(None, ("no phone-number event in Monitor in the last 30 days",))
    shapes = {"resource-properties" if "resource_properties" in k else "flat" if k else "empty"
              for k in keys}
    value = next(iter(shapes)) if len(shapes) == 1 else None
    seen = sorted({", ".join(k) or "(none)" for k in keys})
    return Observed(value, (f"{len(keys)} phone-number event(s) in 30 days; event_data keys: "
                            + "; ".join(seen[:5]),) + (
        () if value else (f"the events differ in shape: {', '.join(sorted(shapes))}",)))


# --- Genesys -------------------------------------------------------------------------------------


SCRATCH_POOL = ("+12025550190", "+12025550199")
"""The scratch DID pool's range: NANP 555-0100..0199 numbers are reserved for fictitious use."""
SCRATCH_POOL_NARROWED = "+12025550194"


def observe_dids_number_match(context: DoctorContext) -> Observed:
    """Look up a pool's first number whole, without its last digit and without its first: what
    comes back tells exact, prefix or substring; the whole number must be found."""
    genesys = context.genesys
    pool = next((p for p in genesys.list_did_pools() if p.state != "deleted"), None)
    if pool is None:
        return Observed(None, ("no DID pool to look a number up in",))
    number = pool.start
    whole = genesys.match_pool_numbers(number)
    evidence = [f"numberMatch={number}: {len(whole)} number(s)"]
    if number not in whole:
        return Observed(None, tuple(evidence), (
            f"looking up {number} (the first number of DID pool {pool.name!r}) by numberMatch "
            "did not find it, so slice syncs would miss the pools numbers are in: report it "
            "(docs/verify-on-a-real-tenant.md, genesys.dids_number_match)"))
    start = genesys.match_pool_numbers(number[:-1])
    inner = genesys.match_pool_numbers(number[2:])
    evidence += [f"numberMatch={number[:-1]}: {len(start)}", f"numberMatch={number[2:]}: {len(inner)}"]
    value = ("exact" if number not in start else "substring" if number in inner else "prefix")
    return Observed(value, tuple(evidence))


def _scratch_pool(context: DoctorContext) -> GenesysDidPool | Observed:
    start, end = SCRATCH_POOL
    genesys = context.genesys
    if any(p.start <= end and start <= p.end and p.state != "deleted"
           for p in genesys.list_did_pools()):
        return Observed(None, (f"the scratch range {start}-{end} is in use; probe skipped",))
    return genesys.create_did_pool(start, end, name=SCRATCH_NAME, description=(
        "byoc doctor --probe-writes scratch pool; safe to delete"))


def _drop_scratch_pool(context: DoctorContext, pool: GenesysDidPool) -> str | None:
    """Delete the scratch pool; the manual step when that failed."""
    try:
        context.genesys.delete_did_pool(pool)
    except Exception as exc:
        return (f"the scratch DID pool {SCRATCH_NAME!r} ({pool.start}-{pool.end}) could not be "
                f"deleted ({exc}): delete it in Genesys Admin > Telephony > DID Numbers")
    return None


def write_scratch_pool_delete(context: DoctorContext) -> Observed:
    """Create a scratch DID pool, delete it, and look whether the next listing still shows it."""
    pool = _scratch_pool(context)
    if isinstance(pool, Observed):
        return pool
    left = _drop_scratch_pool(context, pool)
    if left is not None:
        return Observed(None, (f"scratch pool {pool.id} created",), left)
    state = context.genesys.read_did_pool_state(pool.id)
    return Observed("lagging" if state == "active" else "immediate", (
        f"scratch pool {pool.id} created and deleted; read at once it is "
        f"{state or 'not found'}",))


def write_scratch_pool_range(context: DoctorContext) -> Observed:
    """Create a scratch DID pool, narrow its range in place (PUT), delete it."""

    pool = _scratch_pool(context)
    if isinstance(pool, Observed):
        return pool
    try:
        context.genesys.resize_did_pool(pool, pool.start, SCRATCH_POOL_NARROWED,
                                        name=SCRATCH_NAME)
        seen = Observed(None, (
            f"scratch pool {pool.id}: the range change was accepted; whether Genesys refuses a "
            "change that leaves an assigned number outside every pool needs an assigned number",))
    except GenesysPoolRangeRefused as exc:
        seen = Observed("refuses-any", (f"scratch pool {pool.id}: range change refused: {exc}",))
    left = _drop_scratch_pool(context, pool)
    return Observed(seen.value, seen.evidence, left)


# --- the table -----------------------------------------------------------------------------------

PROBES: tuple[VariantProbe, ...] = (
    VariantProbe(
        "audiocodes.ini_dialplan_rules",
        "Does the SBC's ini export carry the [ DialPlanRule ] table?",
        "GET /api/v1/files/ini on each SBC: look for a [ DialPlanRule ] section",
        observe=observe_ini_dialplan_rules,
    ),
    VariantProbe(
        "audiocodes.upload_answer",
        "Does the answer to an incremental upload carry a `status` field?",
        "PUT /api/v1/files/cliScript/incremental with a script of `configure voip` and `exit` "
        "and look for \"status\" in the JSON answer (byoc checks `output` either way), or run "
        "`byoc doctor --probe-writes`",
        write=write_empty_upload,
    ),
    VariantProbe(
        "audiocodes.dialplan_cli",
        "Where does the SBC's CLI put Dial Plan rules: nested in their plan, or flat at voip "
        "level?",
        "GET /api/v1/files/cliScript on an SBC with at least one Dial Plan rule: `dial-plan-rule "
        "<j>` inside `sbc dial-plan <i>` is nested, `sbc dial-plan-rule <i>/<j>` is flat (byoc "
        "writes in the dialect the export shows)",
        observe=observe_dialplan_cli,
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
        "Does a new TLS key and certificate go live without a device reset?",
        "after the next `byoc cert rotate`, GET /api/v1/status on the SBC: resetNeeded \"true\" "
        "while the SIP TLS port still presents the old certificate (`byoc cert status`) means "
        "needs-reset; the new certificate presented at once means applies-live",
        observe=observe_tls_apply,
    ),
    VariantProbe(
        "genesys.pool_delete_lag",
        "Does a deleted DID pool still show (and block an overlapping create) for a while?",
        "delete an unused DID pool and list GET /api/v2/telephony/providers/edges/didpools at "
        "once, or run `byoc doctor --probe-writes` (creates and deletes one scratch pool)",
        write=write_scratch_pool_delete,
    ),
    VariantProbe(
        "genesys.pool_range_change",
        "Does Genesys change a DID pool's range in place (PUT), and refuse one that strands an "
        "assigned number?",
        "in a lab org: PUT /api/v2/telephony/providers/edges/didpools/{id} with a narrower range "
        "on a pool with a number assigned at its end; 409 naming the number = refuses-stranding, "
        "200 = accepts, 400 on any range change = refuses-any (`byoc doctor --probe-writes` tells "
        "refuses-any on an empty scratch pool)",
        write=write_scratch_pool_range,
    ),
    VariantProbe(
        "genesys.dids_number_match",
        "Does `numberMatch` of GET /didpools/dids match a whole number, its start, or any part?",
        "in API Explorer: GET /api/v2/telephony/providers/edges/didpools/dids?type="
        "ASSIGNED_AND_UNASSIGNED with numberMatch set to a pool number, to it without its last "
        "digit, and to it without '+1': only the first answers = exact, the first two = prefix, "
        "all three = substring (byoc keeps only the exact number under each)",
        observe=observe_dids_number_match,
    ),
    VariantProbe(
        "genesys.conflict_text",
        "Does a 409 for a stale version say so in its message?",
        "PUT an IVR (API Explorer, PUT /api/v2/architect/ivrs/{id}) with its previous version: "
        "the 409's message names the version (names-version) or not (bare); byoc treats every "
        "409 on a versioned write as a version conflict either way",
    ),
    VariantProbe(
        "genesys.trigger_envelope",
        "Does a Process Automation trigger hand the workflow the event body or the whole "
        "notification?",
        "in Genesys Admin > Architect, open the byoc workflow's last execution (Performance > "
        "Workflow executions) and look at its jsonData input: a topicName/eventBody wrapper is "
        "notification, the bare event is event-body; byoc reads both",
    ),
    VariantProbe(
        "twilio.rate_limit_retry_after",
        "Does Twilio send Retry-After with 429/20429?",
        "read the headers of a 429 in the function app's logs (event twilio.retry) after a bulk "
        "purchase; byoc backs off either way",
    ),
    VariantProbe(
        "twilio.monitor_event_data",
        "Which event_data shape do Monitor phone-number.* events carry?",
        "after a console purchase, list its Monitor events (`twilio api:monitor:v1:events:list "
        "--resource-sid PN...`) and compare event_data with resource-properties "
        "({resource_properties: {name: {previous, updated}}}), flat ({name: value}) or empty; "
        "byoc's poller reads each",
        observe=observe_monitor_event_data,
    ),
    VariantProbe(
        "arm.if_match",
        "Does ARM enforce If-Match on NSG security rules?",
        "PUT a security rule with a stale If-Match ETag on a scratch NSG (`az network nsg rule "
        "update` with --if-match): 412 means enforced, 200 ignored",
    ),
    VariantProbe(
        "arm.another_operation",
        "What does an NSG write get while another operation holds the NSG?",
        "in the function app's logs, look for the ARM answer of a write that met a concurrent "
        "change (event nsg.retry): its status and code (429 or 409 "
        "AnotherOperationInProgress, 429 RetryableError, or a failed long-running operation)",
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
