"""`byoc demo`: the main job, end to end, on the local sandbox and Azurite.

It starts every vendor emulator, points byoc at them, runs the function app under devhost, and then
does what an engineer would: look at the plan, converge the estate, buy a number at (sandbox) Twilio
through byoc, wait for it to be active, trace its path hop by hop (`byoc trace`), rotate the SBC
certificate from Key Vault, show the status, run `byoc doctor`, and end with a test call through
Twilio, the SBC and Genesys (`byoc test-call`). Each step prints what it did.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]


class DemoFailed(Exception):
    """A step did not do what it should; the message says which."""


def _http(method: str, url: str, body: Any = None, verify: Any = True) -> tuple[int, Any]:
    import httpx

    response = httpx.request(method, url, json=body, timeout=60, verify=verify)
    try:
        return response.status_code, response.json() if response.content else None
    except ValueError:
        return response.status_code, response.text


def _azurite_reachable(connection_string: str) -> bool:
    for part in connection_string.split(";"):
        if part.startswith("QueueEndpoint="):
            host, port = part.split("//", 1)[1].split("/", 1)[0].split(":")
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return True
            except OSError:
                return False
    return True


def _fresh_storage_names() -> dict[str, str]:
    """Tables and lock container of this run alone, so earlier runs do not show through."""
    run = uuid.uuid4().hex[:8]
    return {
        "BYOC_INVENTORY_TABLE": f"demo{run}inventory",
        "BYOC_OPERATIONS_TABLE": f"demo{run}operations",
        "BYOC_STATE_TABLE": f"demo{run}state",
        "BYOC_LOCK_CONTAINER": f"demo-{run}-locks",
    }


def run_demo(console: Console, *, keep_running: bool = False) -> int:
    """Run the demo; returns the process exit code."""
    from byoc.bootstrap import get_services, reset_services
    from byoc.entrypoints.devhost import DevHost, import_function_app
    from sandbox.__main__ import AZURITE_DEFAULT, settings_for
    from sandbox.launcher import load_seed, start_sandbox

    azurite = os.environ.get("AzureWebJobsStorage", AZURITE_DEFAULT)  # noqa: SIM112 - host's name
    if not _azurite_reachable(azurite):
        console.print("[red]Azurite is not running.[/] Start it with `make azurite` "
                      "(or run `make demo`, which starts it).")
        return 2
    started = time.monotonic()
    console.rule("1. Start the sandbox: Twilio, Genesys, 2 AudioCodes SBCs, Azure ARM, Key Vault")
    sandbox = start_sandbox(load_seed())
    ports = sandbox.ports()
    console.print(f"emulators up in {time.monotonic() - started:.1f}s on 127.0.0.1; "
                  f"byoc reaches them through the vendors' own SDKs", highlight=False)
    os.environ.update(settings_for(ports, azurite=azurite))
    os.environ.update(_fresh_storage_names())
    reset_services()
    services = get_services()
    services.queue.clear()  # the queue name is fixed; earlier local runs may have left jobs
    host = None
    try:
        console.rule("2. Run the function app under devhost (HTTP, queue worker)")
        host = DevHost(import_function_app().app, host_json=ROOT / "host.json", port=0,
                       timers=False).start()
        base = f"http://127.0.0.1:{host.port}/api"
        code, body = _http("GET", f"{base}/health")
        console.print(f"GET /api/health -> {code} {body}", highlight=False)

        console.rule("3. What would byoc change? POST /api/resync?dry_run=true")
        code, body = _http("POST", f"{base}/resync?dry_run=true")
        if code != 200:
            raise DemoFailed(f"dry run answered {code}: {body}")
        for plan in body["plans"]:
            console.print(_plan_line(plan), highlight=False)
        for error in body.get("errors", []):
            console.print(f"[red]{error['target']}: {error['error']}[/]", highlight=False)

        console.rule("4. Discover the numbers already on the trunk: POST /api/resync?target=twilio")
        since = time.time()
        code, body = _http("POST", f"{base}/resync?target=twilio")
        _wait_synced(console, services, ["twilio"], since, timeout_s=60)
        console.print("  (an empty inventory would make the other targets drop their numbers: the "
                      "mass-deletion guard refuses that, so discovery comes first)", highlight=False)

        console.rule("5. Converge the estate: POST /api/resync (syncs run on the queue)")
        since = time.time()
        code, body = _http("POST", f"{base}/resync")
        console.print(f"-> {code}, correlation id {body.get('correlation_id')}; "
                      f"queued {', '.join(body.get('targets', []))}", highlight=False)
        _wait_synced(console, services, body.get("targets", []), since, timeout_s=120)

        console.rule("6. Buy a number through byoc: POST /api/numbers/purchase")
        code, body = _http("POST", f"{base}/numbers/purchase", {"area_code": "415", "count": 1})
        if code not in (200, 202):
            raise DemoFailed(f"purchase answered {code}: {body}")
        bought = list(body.get("numbers", []))
        console.print(f"bought {', '.join(bought)} at Twilio, on trunk "
                      f"{services.settings.twilio_trunk_sid} in the same call "
                      f"(correlation id {body.get('correlation_id')})", highlight=False)
        waited = _wait_active(console, services, bought, timeout_s=120)
        console.print(f"active on every target {waited:.1f}s after the purchase", highlight=False)

        console.rule("7. The number's path, read live from every vendor: GET /api/numbers/{n}/trace")
        for number in bought:
            _show_trace(console, base, number)

        console.rule("8. Rotate the SBC TLS certificate from Key Vault (byoc cert rotate)")
        report = _rotate(services)
        console.print(f"Key Vault {report['certificate']} version {report['version']}",
                      highlight=False)
        for item in report["sbcs"]:
            console.print(f"  {item['sbc']}: {item['outcome']} — {item.get('detail') or ''}",
                          highlight=False)

        console.rule("9. Status (byoc status / GET /api/status)")
        from byoc.entrypoints.reports import render_status

        code, body = _http("GET", f"{base}/status")
        render_status(body)

        console.rule("10. Ready to go live? (byoc doctor: read-only checklist and vendor variants)")
        from byoc.entrypoints.reports import render_doctor

        doctor = services.doctor().run()
        render_doctor(doctor.to_json())
        if doctor.failed:
            raise DemoFailed(f"byoc doctor found {len(doctor.failed)} problem(s): "
                             + ", ".join(i.key for i in doctor.failed))
        console.rule("11. Does it ring? Apply the rendered SBC configuration, then byoc test-call")
        _apply_sbc_configuration(console, services)
        for number in bought:
            _test_call(console, services, number)
        console.rule(f"done in {time.monotonic() - started:.1f}s")
        if keep_running:
            console.print(f"devhost on {base}; Ctrl-C to stop", highlight=False)
            while True:
                time.sleep(3600)
        return 0
    except DemoFailed as exc:
        console.print(f"[red]demo failed:[/] {exc}", highlight=False)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        if host is not None:
            host.stop()
        sandbox.stop()


def _apply_sbc_configuration(console: Console, services: Any) -> None:
    """What an operator does once per SBC: `byoc sbc render-config`, uploaded incrementally."""
    from byoc.services.sbc_config import build_configuration
    from byoc.services.sbc_config_model import inputs_from_settings
    from byoc.services.sbc_config_render import render_ini
    from sandbox.sip_estate import SIP_SETTINGS

    identifier = next(iter(SIP_SETTINGS["genesys"]["inbound_identifiers"].values()))
    domain = services.twilio.fetch_trunk().domain_name
    for sbc in services.settings.sbcs:
        inputs = inputs_from_settings(services.settings, sbc, services.policy(),
                                      twilio_domain=domain, genesys_identifier=identifier)
        adapter = services.sbc(sbc)
        try:
            adapter.upload_configuration(render_ini(build_configuration(inputs)), "ini")
        finally:
            adapter.close()
        console.print(f"{sbc.name}: byoc sbc render-config uploaded (incremental ini; Genesys "
                      f"identifier {identifier}, Twilio domain {domain})", highlight=False)


def _test_call(console: Console, services: Any, number: str) -> None:
    """`byoc test-call NUMBER --yes`: a call through Twilio, the SBC and Genesys."""
    test_call = services.test_call
    console.print(f"cost: {test_call.check(number, force=False)}", highlight=False)
    result = test_call.run(number)
    for hop in result.hops:
        timing = f" (+{hop.seconds:.2f} s)" if hop.seconds is not None else ""
        console.print(f"  {'✓' if hop.ok else '✗'} {hop.hop}: {hop.detail}{timing}",
                      highlight=False, markup=False)
    if not result.ok:
        raise DemoFailed(f"the test call to {number} failed: {result.reason}")
    console.print(f"{number} rings: answered in Genesys, codec {result.codec}", highlight=False)


def _rotate(services: Any, timeout_s: float = 60) -> dict[str, Any]:
    """Rotate, waiting while a queued sync holds an SBC's lease (a rotation shares it)."""
    from byoc.adapters.lock import LockBusy
    from byoc.domain.jobs import new_correlation_id

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            report = services.certificates.rotate(sbc=None, force=False, dry_run=False,
                                                  correlation_id=new_correlation_id())
            return dict(report.to_json())
        except LockBusy:
            if time.monotonic() > deadline:
                raise DemoFailed("the SBCs stayed busy with syncs; rotation not started") from None
            time.sleep(0.5)


def _plan_line(plan: dict[str, Any]) -> str:
    counts = plan["counts"]
    text = (f"  {plan['target']:<9} +{counts['add']} ~{counts['update']} -{counts['remove']}"
            f"  (+{plan['numbers_added']} / -{plan['numbers_removed']} numbers)")
    if plan["conflicts"]:
        text += f"  {len(plan['conflicts'])} conflict(s) reported, not changed"
    return text


def _wait_synced(console: Console, services: Any, targets: list[str], since: float,
                 *, timeout_s: float) -> None:
    import datetime as dt

    deadline = time.monotonic() + timeout_s
    pending = set(targets)
    while pending and time.monotonic() < deadline:
        syncs = services.state.items("sync")
        for target in list(pending):
            sync = syncs.get(target) or {}
            at = sync.get("at")
            if at and dt.datetime.fromisoformat(at).timestamp() >= int(since):
                pending.discard(target)
                state = "converged" if sync.get("converged") else (
                    "refused: " + str(sync.get("refused")) if sync.get("refused")
                    else "not converged: " + "; ".join(sync.get("problems") or []))
                console.print(f"  {target:<9} {state} ({sync.get('changes')} change(s))",
                              highlight=False)
        time.sleep(0.5)
    if pending:
        raise DemoFailed(f"not synced within {timeout_s:.0f}s: {sorted(pending)}")


def _wait_active(console: Console, services: Any, numbers: list[str], *, timeout_s: float) -> float:
    from byoc.domain.inventory import NumberState

    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout_s:
        records = {n: services.inventory.get(n) for n in numbers}
        line = ", ".join(f"{n}: {r.state.value if r else 'unknown'} "
                         f"(converged on {sorted(r.converged) if r else []})"
                         for n, r in records.items())
        if line != last:
            console.print(f"  {line}", highlight=False)
            last = line
        if all(r is not None and r.state is NumberState.ACTIVE for r in records.values()):
            return time.monotonic() - started
        time.sleep(0.3)
    raise DemoFailed(f"{numbers} not active within {timeout_s:.0f}s; see `byoc status`")


def _show_trace(console: Console, base: str, number: str) -> None:
    """`byoc trace NUMBER` through the function app: every hop as the vendors hold it now."""
    from byoc.services.trace import trace_lines

    code, body = _http("GET", f"{base}/numbers/{number}/trace")
    if code != 200:
        raise DemoFailed(f"trace of {number} answered {code}: {body}")
    for line in trace_lines(body):
        console.print(line, highlight=False, markup=False, soft_wrap=True)
    if not body["ok"]:
        raise DemoFailed(f"the path of {number} is broken; see the ✗ hops above")
