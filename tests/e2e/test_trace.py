"""`byoc trace NUMBER` on the sandbox estate: every hop ✓ for an onboarded number, and the broken
hop named, with its fix, for each way the path breaks. Each break is made through the vendor's own
API (or a /_sandbox helper), never through byoc."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.reliability.estate import Vendors, converge

pytestmark = pytest.mark.e2e
NUMBER = "+14155550105"  # on the trunk; policy: IVR 'Main IVR', SBC tag 'main'


@pytest.fixture
def estate(sandbox_env: dict[str, Any]) -> Iterator[Vendors]:
    from byoc.bootstrap import get_services

    vendors = Vendors(sandbox_env)
    converge(get_services())
    yield vendors
    vendors.close()


def trace(number: str = NUMBER) -> tuple[int, dict[str, Any]]:
    from byoc.bootstrap import reset_services
    from byoc.entrypoints.cli import app

    reset_services()
    result = CliRunner().invoke(app, ["trace", number, "--json"])
    return result.exit_code, json.loads(result.stdout)


def failed(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {h["hop"]: h for h in data["hops"] if h["status"] == "fail"}


@pytest.mark.sandbox_variants("audiocodes.ini_dialplan_rules")
def test_an_onboarded_number_is_all_green(estate: Vendors) -> None:
    code, data = trace()
    assert code == 0, failed(data)
    assert data["managed"] and data["ok"]
    hops = {h["hop"]: h for h in data["hops"]}
    assert set(hops) >= {
        "twilio: number", "twilio: origination to sbc1", "twilio: origination to sbc2",
        "nsg:sbc1: admits Twilio", "nsg:sbc2: admits Twilio", "tls:sbc1: certificate",
        "sbc:sbc1: dial plan", "sbc:sbc1: IP-to-IP route", "sbc:sbc2: dial plan",
        "sbc:sbc2: IP-to-IP route", "genesys: DID pool", "genesys: routing", "genesys: trunk"}
    assert all(h["status"] == "ok" for h in data["hops"]), data
    assert "tag 'main'" in hops["sbc:sbc1: dial plan"]["evidence"]
    assert "IPG_Genesys" in hops["sbc:sbc1: IP-to-IP route"]["evidence"]
    assert "IVR 'Main IVR'" in hops["genesys: routing"]["evidence"]


# --- each way the path breaks, made through the vendor's API --------------------------------------


def _services() -> Any:
    from byoc.bootstrap import get_services, reset_services

    reset_services()
    return get_services()


def off_the_trunk(vendors: Vendors) -> None:
    ports, creds = vendors.ports, vendors.ports["credentials"]["twilio"]
    trunk = vendors.ports["estate"]["twilio_trunk_sid"]
    sid = next(n["sid"] for n in vendors.state("twilio")["numbers"] if n["phone_number"] == NUMBER)
    vendors.http.delete(f"{ports['twilio']}/trunking/v1/Trunks/{trunk}/PhoneNumbers/{sid}",
                        auth=(creds["account_sid"], creds["auth_token"])).raise_for_status()


def _sbc1_rules() -> tuple[Any, Any, Any]:
    from byoc.adapters.audiocodes import AudioCodesSbc
    from byoc.domain.dialplan import best_rule

    services = _services()
    sbc = services.settings.sbc("sbc1")
    device = AudioCodesSbc.from_settings(services.settings, sbc,
                                         lambda: services.secret("sbc_password"))
    plan = device.read_dial_plans().named("BYOC")
    return device, plan, best_rule(plan.rules, NUMBER)


def missing_dial_plan_rule(vendors: Vendors) -> None:
    from byoc.ports import SbcDialPlanEdit

    device, plan, rule = _sbc1_rules()
    device.write_dial_plan(SbcDialPlanEdit(plan.name, plan.index, delete=(rule.index,)))
    device.close()


def wrong_tag(vendors: Vendors) -> None:
    from dataclasses import replace

    from byoc.ports import SbcDialPlanEdit

    device, plan, rule = _sbc1_rules()
    device.write_dial_plan(SbcDialPlanEdit(plan.name, plan.index, put=(replace(rule, tag="sales"),)))
    device.close()


def missing_pool(vendors: Vendors) -> None:

    genesys = _services().genesys
    [pool] = [p for p in genesys.list_did_pools()
              if p.state == "active" and p.start <= NUMBER <= p.end]
    for ivr in genesys.list_ivrs():  # Genesys refuses to delete a pool whose numbers are assigned
        held = tuple(n for n in ivr.dnis if pool.start <= n <= pool.end)
        if held:
            genesys.update_ivr_dnis(genesys.get_ivr(ivr.id), remove=held)
    genesys.delete_did_pool(pool)


def wrong_ivr(vendors: Vendors) -> None:

    genesys = _services().genesys
    ivrs = {i.name: i for i in genesys.list_ivrs()}
    genesys.update_ivr_dnis(ivrs["Main IVR"], remove=(NUMBER,))
    genesys.update_ivr_dnis(genesys.get_ivr(ivrs["Sales IVR"].id), add=(NUMBER,))


def nsg_shut(vendors: Vendors) -> None:
    nsg = vendors.ports["estate"]["sbcs"][0]["nsg_resource_id"]
    rules = next(n for i, n in vendors.state("arm")["network_security_groups"].items()
                 if i.lower() == nsg.lower())["security_rules"]
    for rule in rules:
        if rule["name"].startswith("byoc-signaling"):
            vendors.call(vendors.ports["arm"], "POST", "/_sandbox/arm/edit-rule",
                         {"nsg": nsg, "rule": rule["name"], "delete": True})


def expired_certificate(vendors: Vendors) -> None:
    import datetime as dt

    from cryptography.hazmat.primitives import serialization

    from byoc.adapters.audiocodes_tls import AudioCodesTlsContext
    from tests.certfactory import make_leaf

    services = _services()
    sbc = services.settings.sbc("sbc1")
    now = dt.datetime.now(dt.UTC)
    leaf = make_leaf(None, sans=(sbc.fqdn,), not_before=now - dt.timedelta(days=400),
                     not_after=now - dt.timedelta(days=2))
    context = AudioCodesTlsContext.for_sbc(services.settings, sbc,
                                           lambda: services.secret("sbc_password"))
    context.upload_private_key(leaf.key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode())
    context.upload_certificate(leaf.cert_pem)
    context.close()


BREAKS = [
    # (what, break it, the hop that must fail, words its evidence holds, the fix it names)
    ("number off the trunk", off_the_trunk, "twilio: number", "not on trunk",
     "byoc apply --target twilio"),
    ("missing dial-plan rule", missing_dial_plan_rule, "sbc:sbc1: dial plan",
     "no byoc rule matches it", "byoc apply --target sbc:sbc1"),
    ("wrong tag", wrong_tag, "sbc:sbc1: dial plan", "gives tag 'sales'; the policy says 'main'",
     "byoc apply --target sbc:sbc1"),
    ("missing pool", missing_pool, "genesys: DID pool", "no DID pool holds it",
     "byoc apply --target genesys"),
    ("wrong IVR", wrong_ivr, "genesys: routing", "routed to IVR 'Sales IVR'",
     "byoc apply --target genesys"),
    ("NSG not admitting Twilio", nsg_shut, "nsg:sbc1: admits Twilio", "DenyAllInBound",
     "byoc apply --target nsg:sbc1"),
    ("expired certificate", expired_certificate, "tls:sbc1: certificate", "expired on",
     "byoc cert rotate --sbc sbc1"),
]


def run_fix(fix: str) -> None:
    """Run the command the trace named (its first sentence), as the operator would."""
    from byoc.bootstrap import reset_services
    from byoc.entrypoints.cli import app

    words = fix.split(" (")[0].split()
    assert words[0] == "byoc", fix
    extra = ["--yes"] if words[1] == "apply" else []
    reset_services()
    result = CliRunner().invoke(app, words[1:] + extra)
    assert result.exit_code == 0, result.output


def test_each_break_names_its_hop_and_the_fix_that_mends_it(estate: Vendors) -> None:
    """One estate, broken one way at a time: the trace names the hop and the fix, and running that
    fix makes the whole path green again (each vendor left as the fix made it)."""
    for what, break_it, hop, evidence, fix in BREAKS:
        break_it(estate)
        code, data = trace()
        broken = failed(data)
        assert code == 1, what
        assert hop in broken, (what, broken)
        assert evidence in broken[hop]["evidence"], (what, broken[hop])
        assert broken[hop]["fix"].startswith(fix), (what, broken[hop])
        run_fix(broken[hop]["fix"])
        code, data = trace()
        assert code == 0, (what, "still broken after the fix", failed(data))


def test_a_number_byoc_does_not_manage_is_traced_and_says_so(estate: Vendors) -> None:
    from byoc.bootstrap import reset_services
    from byoc.entrypoints.cli import app

    reset_services()
    result = CliRunner().invoke(app, ["trace", "+16285550005"])  # outside the managed prefixes

    assert result.exit_code == 1
    assert "byoc does not manage it" in result.stdout
    assert "✗ twilio: number: the Twilio account does not own it" in result.stdout
    assert "foreign rule" in result.stdout and "gives tag 'pstn'" in result.stdout
    assert "✗ genesys: DID pool: no DID pool holds it" in result.stdout
