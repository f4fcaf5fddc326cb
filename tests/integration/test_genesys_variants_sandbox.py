"""The Genesys target under every reading of what no Genesys source settles (sandbox variants):
a pool range change accepted or refused, a deletion that shows late, a 409 that does not say
"version". Under each, pools change without any managed number leaving every pool, and byoc
either converges or says what Genesys refused."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import FakeLease

from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.policy_file import load_policy

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy((ROOT / "sandbox" / "policy.sandbox.yaml").read_text(), "sandbox policy")


def numbers(first: int, last: int) -> list[str]:
    return [f"+141555501{i:02d}" for i in range(first, last + 1)]


class Genesys:
    """byoc's Genesys target as the function app builds it, and the org's state."""

    def __init__(self, ports: dict[str, Any]) -> None:
        from byoc.bootstrap import get_services

        self.url = ports["genesys"]
        self.verify = ssl.create_default_context(cafile=ports["ca_bundle"])
        self.services = get_services()
        self.port = self.services.genesys

    def sync(self, present: list[str], releasing: list[str] = ()) -> list[str]:  # type: ignore[assignment]
        from byoc.services.genesys_reconciler import GenesysReconciler
        from byoc.services.reconcile import desired_state

        records = [NumberRecord(n, NumberState.ACTIVE) for n in present]
        records += [NumberRecord(n, NumberState.RELEASING) for n in releasing]
        reconciler = GenesysReconciler(self.services.settings, self.port)
        wanted = reconciler.desired(desired_state(records, POLICY))
        reconciler.apply(reconciler.plan(reconciler.read_actual(), wanted), FakeLease())
        return reconciler.verify(wanted)

    def state(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/_sandbox/state", verify=self.verify).json())

    def fault(self, **spec: Any) -> None:
        httpx.post(f"{self.url}/_sandbox/faults", json=spec, verify=self.verify).raise_for_status()

    def unpooled(self, present: list[str]) -> list[str]:
        pools = [(p["startPhoneNumber"], p["endPhoneNumber"]) for p in self.state()["did_pools"]
                 if p["state"] != "deleted"]
        return [n for n in present if not any(a <= n <= b and len(a) == len(n) for a, b in pools)]

    def routed(self) -> list[str]:
        return sorted(next(i for i in self.state()["ivrs"] if i["name"] == "Main IVR")["dnis"])


def settled(problems: list[str], variant: tuple[str, str] | None) -> bool:
    """Converged, or (where Genesys refuses range changes) stopped saying so."""
    if variant == ("genesys.pool_range_change", "refuses-any"):
        return all("Genesys refused" in p and "in place" in p for p in problems)
    return problems == []


@pytest.mark.sandbox_variants("genesys.pool_range_change", "genesys.pool_delete_lag",
                              "genesys.conflict_text")
def test_pools_grow_shrink_go_and_come_back_with_every_managed_number_pooled_and_routed(
    sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str],
) -> None:
    genesys = Genesys(sandbox_env)
    steps: list[tuple[list[str], list[str]]] = [
        (numbers(0, 19), []),  # the seeded pool of byoc's (..09) grows over 10..19
        ([*numbers(0, 4), *numbers(6, 17), *numbers(20, 24), *numbers(40, 41)],
         [*numbers(5, 5), *numbers(18, 19)]),  # a gap, a shrinking end, growth, a new pool
        ([*numbers(0, 4), *numbers(6, 17), *numbers(20, 24)], numbers(40, 41)),  # a pool goes
        ([*numbers(0, 4), *numbers(6, 17), *numbers(20, 24), *numbers(38, 45)], []),  # and back
    ]
    for present, releasing in steps:
        if sandbox_variant == ("genesys.conflict_text", "bare"):
            genesys.fault(kind="version_conflict", count=1)

        problems = genesys.sync(present, releasing)

        assert settled(problems, sandbox_variant), problems
        assert genesys.unpooled(present) == []
        assert genesys.routed() == sorted(present)
