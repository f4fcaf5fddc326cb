"""The NSG target through byoc's own wiring (settings, azure-mgmt-network, the sync flow) against
the sandbox's ARM emulator, under each value of its variants: whether ARM enforces `If-Match`, and
what a write meets while another operation holds the NSG."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
from fakes_nsg import FakeLease

from byoc.adapters.nsg import AzureNsg, NsgRuleConflict
from byoc.services.nsg_reconciler import NsgReconciler

pytestmark = pytest.mark.integration

TARGET = "nsg:sbc1"


def _control(ports: dict[str, Any], path: str, body: Any = None, method: str = "POST") -> Any:
    trust = ssl.create_default_context(cafile=ports["ca_bundle"])
    response = httpx.request(method, f"{ports['arm']}{path}", json=body, verify=trust)
    response.raise_for_status()
    return response.json()


def _nsg_id(ports: dict[str, Any]) -> str:
    return str(next(s for s in ports["estate"]["sbcs"] if s["name"] == "sbc1")["nsg_resource_id"])


def _rules(ports: dict[str, Any]) -> dict[str, dict[str, Any]]:
    state = _control(ports, "/_sandbox/state", method="GET")
    nsg = state["network_security_groups"][_nsg_id(ports)]
    return {r["name"]: r for r in nsg["security_rules"]}


def _writes(ports: dict[str, Any]) -> list[tuple[str, int]]:
    log = _control(ports, "/_sandbox/requests", method="GET")
    return [(r["method"], r["status"]) for r in log["requests"] if r["method"] in ("PUT", "DELETE")]


def _sync() -> Any:
    from byoc.bootstrap import get_services

    return get_services().reconcile.sync(TARGET, correlation_id="nsg-variants")


@pytest.mark.sandbox_variants("arm.if_match")
def test_a_rule_edited_between_read_and_write_under_each_if_match_answer(
    sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]
) -> None:
    from byoc.bootstrap import get_services

    ports = sandbox_env
    assert _sync().converged
    services = get_services()
    settings = services.settings.model_copy(update={"nsg_exclude_cidrs": ["54.244.51.0/30"]})
    sbc = settings.sbc("sbc1")
    target = NsgReconciler(
        settings, sbc, AzureNsg.from_settings(settings, _nsg_id(ports), services.credential)
    )
    plan = target.plan(target.read_actual(), target.desired(None))
    first = plan.changes[0].key
    _control(ports, "/_sandbox/arm/edit-rule", {
        "nsg": _nsg_id(ports), "rule": first, "properties": {"description": "edited in the portal"},
    })

    if sandbox_variant[1] == "enforced":
        with pytest.raises(NsgRuleConflict, match=first):
            target.apply(plan, FakeLease())
        assert _rules(ports)[first]["properties"]["description"] == "edited in the portal"
        assert ("PUT", 412) in _writes(ports)
    else:
        # ARM ignores the ETag: byoc's write wins over the edit of its own rule (the lease keeps
        # byoc's writers apart; a foreign rule is never written, so it cannot be clobbered)
        target.apply(plan, FakeLease())
        assert _rules(ports)[first]["properties"]["description"] != "edited in the portal"
        assert ("PUT", 412) not in _writes(ports)
    desired = target.desired(None)  # the next sync re-plans from a fresh read and converges
    target.apply(target.plan(target.read_actual(), desired), FakeLease())
    assert target.verify(desired) == []


@pytest.mark.sandbox_variants("arm.another_operation")
def test_a_busy_nsg_is_waited_for_under_each_answer_arm_may_give(
    sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]
) -> None:
    ports = sandbox_env
    _control(ports, "/_sandbox/faults", {
        "kind": "another_operation", "method": "PUT", "count": 2, "headers": {"Retry-After": "0"},
    })

    outcome = _sync()

    assert outcome.converged, outcome.problems
    added = {c.key for c in outcome.plan.changes}
    assert added and added == {n for n in _rules(ports) if n.startswith("byoc-")}
    writes = _writes(ports)
    if sandbox_variant[1] == "failed-operation":
        assert writes.count(("PUT", 201)) == len(outcome.plan.changes) + 2  # two accepted, failed
    else:
        refused = {"409-AnotherOperationInProgress": 409}.get(sandbox_variant[1], 429)
        assert writes.count(("PUT", refused)) == 2


class _Lease:
    def check(self) -> None:
        return None
