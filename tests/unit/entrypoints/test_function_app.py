"""The function app indexes exactly the architecture's triggers, with their routes and auth."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def indexed() -> dict[str, dict[str, object]]:
    import function_app
    from byoc.entrypoints.devhost import index_functions

    return {entry.name: entry.trigger for entry in index_functions(function_app.app)}


def test_every_trigger_of_the_architecture_is_indexed() -> None:
    functions = indexed()
    http = {name: (b["route"], tuple(b["methods"]), b["authLevel"])
            for name, b in functions.items() if b["type"] == "httpTrigger"}
    assert http == {
        "twilio_numbers_webhook": ("twilio/numbers", ("POST",), "ANONYMOUS"),
        "numbers_purchase": ("numbers/purchase", ("POST",), "FUNCTION"),
        "resync": ("resync", ("POST",), "FUNCTION"),
        "genesys_events": ("genesys/events", ("POST",), "FUNCTION"),
        "status": ("status", ("GET",), "FUNCTION"),
        "number_trace": ("numbers/{number}/trace", ("GET",), "FUNCTION"),
        "dashboard": ("dashboard", ("GET",), "FUNCTION"),
        "health": ("health", ("GET",), "ANONYMOUS"),
    }
    timers = {name: b["schedule"] for name, b in functions.items() if b["type"] == "timerTrigger"}
    assert timers == {
        "twilio_poll": "0 * * * * *",
        "reconcile": "0 */15 * * * *",
        "certificate_rotation": "0 30 3 * * *",
        "health_check": "0 */5 * * * *",
    }
    queue = functions["byoc_jobs"]
    assert (queue["type"], queue["queueName"], queue["connection"]) == (
        "queueTrigger", "byoc-jobs", "AzureWebJobsStorage")
    assert functions["keyvault_certificate_events"]["type"] == "eventGridTrigger"
    assert len(functions) == 14


def test_importing_the_app_does_not_import_the_genesys_sdk_or_read_settings() -> None:
    # cold start: the SDKs, OpenTelemetry and pydantic (settings, jobs, policy) load on first use
    heavy = ("PureCloudPlatformClientV2", "twilio", "opentelemetry", "azure.mgmt.network", "pydantic")
    code = f"import sys, function_app; print(*[m in sys.modules for m in {heavy!r}])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                            text=True, env={"PATH": "/usr/bin:/bin"}, check=True)
    assert result.stdout.split() == ["False"] * len(heavy)
