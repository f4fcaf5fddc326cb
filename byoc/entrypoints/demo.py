"""`byoc demo`: the main job, end to end, on the local sandbox and Azurite.

It starts every vendor emulator, points byoc at them, runs the function app under devhost, and then
does what an engineer would: look at the plan, buy a number at (sandbox) Twilio through byoc, wait for
it to converge on every target, and show the status. Each step prints what it did.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from rich.console import Console

ROOT = Path(__file__).resolve().parents[2]


def _http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    import httpx

    response = httpx.request(method, url, json=body, timeout=60)
    try:
        return response.status_code, response.json() if response.content else None
    except ValueError:
        return response.status_code, response.text


def _azurite_reachable(connection_string: str) -> bool:
    for part in connection_string.split(";"):
        if part.startswith("QueueEndpoint="):
            host_port = part.split("//", 1)[1].split("/", 1)[0]
            host, port = host_port.split(":")
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                return True
            except OSError:
                return False
    return True


def run_demo(console: Console, *, keep_running: bool = False) -> int:
    """Run the demo; returns the process exit code."""
    from byoc.bootstrap import get_services, reset_services
    from byoc.entrypoints.devhost import DevHost
    from sandbox.__main__ import AZURITE_DEFAULT, settings_for
    from sandbox.launcher import load_seed, start_sandbox

    azurite = os.environ.get("AzureWebJobsStorage", AZURITE_DEFAULT)  # noqa: SIM112 - host's name
    if not _azurite_reachable(azurite):
        console.print("[red]Azurite is not running.[/] Start it with `make azurite` "
                      "(or run `make demo`, which starts it).")
        return 2
    started = time.monotonic()
    console.rule("1. Start the sandbox (Twilio, Genesys, 2 AudioCodes SBCs, ARM, Key Vault)")
    sandbox = start_sandbox(load_seed())
    ports = sandbox.ports()
    console.print(f"emulators up in {time.monotonic() - started:.1f}s: twilio {ports['twilio']}, "
                  f"genesys {ports['genesys']}, sbcs {ports['audiocodes']}", highlight=False)
    os.environ.update(settings_for(ports, azurite=azurite))
    reset_services()
    host = None
    try:
        console.rule("2. Run the function app under devhost")
        import function_app

        host = DevHost(function_app.app, host_json=ROOT / "host.json", port=0,
                       timers=False).start()
        base = f"http://127.0.0.1:{host.port}/api"
        code, body = _http("GET", f"{base}/health")
        console.print(f"GET /api/health -> {code} {body}", highlight=False)

        console.rule("3. What would byoc change? (POST /api/resync?dry_run=true)")
        code, body = _http("POST", f"{base}/resync?dry_run=true")
        if code != 200:
            console.print(f"[red]dry run failed[/] ({code}): {body}", highlight=False)
            return 1
        plans = body["plans"]
        if not plans:
            console.print("No reconcilers are registered yet: the plan is empty.")
        for plan in plans:
            counts = plan["counts"]
            console.print(f"{plan['target']}: +{counts['add']} ~{counts['update']} "
                          f"-{counts['remove']}", highlight=False)

        console.rule("4. Buy a number at Twilio through byoc (POST /api/numbers/purchase)")
        code, body = _http("POST", f"{base}/numbers/purchase",
                           {"area_code": "415", "count": 1})
        bought: list[str] = []
        if code == 501:
            console.print(f"not available yet: {body.get('error')}", highlight=False)
        elif code not in (200, 202):
            console.print(f"[red]purchase failed[/] ({code}): {body}", highlight=False)
            return 1
        else:
            bought = list(body.get("numbers", []))
            console.print(f"bought {bought} (correlation id {body.get('correlation_id')})",
                          highlight=False)

        console.rule("5. Converge every target")
        code, body = _http("POST", f"{base}/resync")
        console.print(f"POST /api/resync -> {code} {body}", highlight=False)
        if bought:
            _wait_active(console, get_services(), bought, timeout_s=90)

        console.rule("6. Status (GET /api/status)")
        code, body = _http("GET", f"{base}/status")
        console.print(json.dumps(body, indent=2), highlight=False)
        console.rule(f"done in {time.monotonic() - started:.1f}s")
        if keep_running:
            console.print(f"devhost on {base}; Ctrl-C to stop")
            while True:
                time.sleep(3600)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        if host is not None:
            host.stop()
        sandbox.stop()


def _wait_active(console: Console, services: Any, numbers: list[str], *, timeout_s: float) -> None:
    from byoc.domain.inventory import NumberState

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        records = {n: services.inventory.get(n) for n in numbers}
        states = {n: (r.state.value if r else "unknown") for n, r in records.items()}
        console.print(f"  {states}", highlight=False)
        if all(r is not None and r.state is NumberState.ACTIVE for r in records.values()):
            for number, record in records.items():
                console.print(f"  {number} active on {sorted(record.converged)}", highlight=False)
            return
        time.sleep(2)
    console.print("[yellow]not every number is active yet; see `byoc status`[/]")
