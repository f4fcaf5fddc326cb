"""The alerts deployed with the app: each one documented in deploy.md with a runbook section that
exists, on the metric names byoc emits, sent to an action group built from the parameters; and the
app configured for OpenTelemetry as the Functions documentation asks."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ALERTS = (ROOT / "infra" / "bicep" / "modules" / "alerts.bicep").read_text()
WANTED = {"byoc-health-down", "byoc-health-silent", "byoc-poison", "byoc-poller-failing",
          "byoc-poller-lagging", "byoc-certificate-expiring", "byoc-sync-refused",
          "byoc-sync-failing"}


def slug(heading: str) -> str:
    """A GitHub heading anchor."""
    return re.sub(r"[^a-z0-9 -]", "", heading.lower()).replace(" ", "-")


def test_every_alert_the_issue_asks_for_exists_documented_with_a_runbook_section() -> None:
    names = set(re.findall(r"name: '(byoc-[a-z-]+)'", ALERTS))
    anchors = re.findall(r"runbook: '#([a-z0-9-]+)'", ALERTS)
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    runbook = (ROOT / "docs" / "runbook.md").read_text()
    sections = {slug(h) for h in re.findall(r"^## (.+)$", runbook, re.MULTILINE)}

    assert names == WANTED and len(anchors) == len(WANTED)
    assert [n for n in sorted(names) if f"| `{n}` |" not in deploy] == []
    assert [a for a in anchors if a not in sections] == []
    assert [a for a in anchors if f"runbook.md#{a}" not in deploy] == []


def test_the_alert_queries_use_metrics_byoc_emits() -> None:
    from byoc import metrics

    emitted = {v._name for v in vars(metrics).values() if hasattr(v, "_name")}
    queried = set(re.findall(r'name == \\?"(byoc\.[a-z_.]+)\\?"', ALERTS))
    assert queried and queried <= emitted


def test_the_action_group_mails_and_calls_what_the_parameters_say() -> None:
    main = (ROOT / "infra" / "bicep" / "main.bicep").read_text()
    assert "emailReceivers: [for (address, i) in alertEmailAddresses" in ALERTS
    secure = ALERTS.index("@secure()")
    assert secure < ALERTS.index("param alertWebhookUrl") < secure + 300
    assert "module alerts 'modules/alerts.bicep'" in main
    assert "actionGroups: [\n        actionGroup.id" in ALERTS


def test_host_and_worker_are_set_up_for_opentelemetry() -> None:
    host = json.loads((ROOT / "host.json").read_text())
    app = (ROOT / "infra" / "bicep" / "modules" / "function-app.bicep").read_text()
    assert host["telemetryMode"] == "OpenTelemetry"
    assert host["logging"]["logLevel"]["Host.Results"] == "Information"
    assert "PYTHON_ENABLE_OPENTELEMETRY: 'true'" in app
