"""The SBC dial-plan reconciler and the AudioCodes adapter against the sandbox SBC emulators
(HTTPS with the sandbox CA, Basic auth): routing checked with the emulator's own matcher."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fakes import FakeInventory, FakeLocks, FakeOperations, FakeQueue, FakeState

from byoc.adapters.audiocodes import AudioCodesSbc
from byoc.adapters.audiocodes_errors import SbcWriteNotApplied
from byoc.adapters.retry import Backoff
from byoc.domain.inventory import NumberRecord, NumberState
from byoc.domain.plan import GuardLimits
from byoc.domain.policy_file import load_policy
from byoc.ports import SbcBusy
from byoc.services.reconcile import ReconcilerRegistry, ReconcileService, SyncOutcome
from byoc.services.sbc_reconciler import SbcDialPlanReconciler
from byoc.settings import SbcSettings
from sandbox.audiocodes import AudioCodesEmulator
from sandbox.core import ServedApp, build_app
from sandbox.launcher import issue_seed_certificates, load_seed
from sandbox.pki import SandboxPki

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
POLICY = load_policy((ROOT / "sandbox" / "policy.sandbox.yaml").read_text(), "policy.sandbox.yaml")


@dataclass
class SandboxSbc:
    name: str
    url: str
    ca: str
    credentials: tuple[str, str]

    def sandbox(self, method: str, path: str, body: Any = None) -> Any:
        response = httpx.request(method, self.url + path, json=body, verify=self.ca, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None

    def tag_of(self, number: str, plan: str = "BYOC") -> str | None:
        match = self.sandbox("GET", f"/_sandbox/dialplan/match?plan={plan}&number={number}")
        return match["tag"] if match["matched"] else None

    def tags_of(self, numbers: list[str], plan: str = "BYOC") -> dict[str, str | None]:
        results = self.sandbox("POST", "/_sandbox/dialplan/match", {"plan": plan, "numbers": numbers})
        return {r["number"]: r["tag"] for r in results["results"]}

    def rules(self, *, saved: bool = False) -> list[dict[str, Any]]:
        state = self.sandbox("GET", "/_sandbox/state")
        plans = state["saved_dial_plans" if saved else "dial_plans"]
        return next(p for p in plans if p["name"] == "BYOC")["rules"]

    def foreign(self) -> list[dict[str, Any]]:
        return [r for r in self.rules() if not r["name"].startswith("byoc-")]

    def requests(self) -> dict[str, Any]:
        result: dict[str, Any] = self.sandbox("GET", "/_sandbox/requests")
        return result

    def adapter(self) -> AudioCodesSbc:
        user, password = self.credentials
        return AudioCodesSbc(self.url, user, lambda: password, name=self.name, ca_bundle=self.ca,
                             retry=Backoff(base_s=0.01, cap_s=0.05))

    def settings(self) -> SbcSettings:
        return SbcSettings(name=self.name, management_url=self.url, fqdn=f"{self.name}.example.net")


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, SandboxSbc]]:
    seed = load_seed()
    pki = SandboxPki()
    certificates = issue_seed_certificates(pki, seed["certificates"])
    workdir = tmp_path_factory.mktemp("sbc")
    https = pki.write_server_files(workdir, "https")
    ca = str(pki.write_ca_bundle(workdir / "ca.pem"))
    credentials = seed["audiocodes"]["credentials"]
    servers: list[ServedApp] = []
    sbcs: dict[str, SandboxSbc] = {}
    try:
        for entry in seed["audiocodes"]["sbcs"]:
            emulator = AudioCodesEmulator({**entry, "credentials": credentials}, pki=pki,
                                          certificates=certificates)
            server = ServedApp(build_app(emulator), tls=https).start()
            servers.append(server)
            sbcs[entry["name"]] = SandboxSbc(entry["name"], server.url, ca,
                                             (credentials["username"], credentials["password"]))
        yield sbcs
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def sbcs(estate: dict[str, SandboxSbc]) -> dict[str, SandboxSbc]:
    for sbc in estate.values():
        sbc.sandbox("POST", "/_sandbox/reset")
    return estate


class Estate:
    """An inventory and a reconcile service over the sandbox SBCs."""

    def __init__(self, sbcs: dict[str, SandboxSbc]) -> None:
        self.inventory = FakeInventory()
        registry = ReconcilerRegistry()
        for sbc in sbcs.values():
            registry.register(f"sbc:{sbc.name}", _factory(sbc))
        self.service = ReconcileService(
            registry=registry, inventory=self.inventory, operations=FakeOperations(),
            state=FakeState(), locks=FakeLocks(), queue=FakeQueue(), policy=lambda: POLICY,
            limits=GuardLimits(max_delete_fraction=1.0, max_delete_count=10_000),
        )

    def set(self, numbers: list[str], state: NumberState = NumberState.ONBOARDING) -> None:
        self.inventory.put_many(NumberRecord(number=n, state=state) for n in numbers)

    def sync(self, target: str) -> SyncOutcome:
        return self.service.sync(target, correlation_id="it")


def _factory(sbc: SandboxSbc) -> Any:
    return lambda: SbcDialPlanReconciler(sbc.settings(), sbc.adapter())


def block(first: int, count: int) -> list[str]:
    return [f"+{first + i}" for i in range(count)]


def test_onboarded_numbers_resolve_to_their_tags_on_both_sbcs(sbcs: dict[str, SandboxSbc]) -> None:
    estate = Estate(sbcs)
    numbers = [*block(14155550100, 20), "+14155550150", *block(14155551000, 1000)]
    estate.set(numbers)

    for name, sbc in sbcs.items():
        foreign = sbc.foreign()
        outcome = estate.sync(f"sbc:{name}")

        assert outcome.converged, outcome.problems
        tags = sbc.tags_of(numbers)
        assert tags["+14155550100"] == "main" and tags["+14155550119"] == "main"
        assert tags["+14155550150"] == "direct"
        assert {tags[n] for n in block(14155551000, 1000)} == {"default"}
        assert sbc.tag_of("+14155552000") == "pstn"  # not managed: the foreign catch-all
        assert sbc.foreign() == foreign
        assert sbc.rules(saved=True) == sbc.rules()  # saved, not only running
    assert all(set(r.converged) == {"sbc:sbc1", "sbc:sbc2"} for r in estate.inventory.all())


def test_a_contiguous_block_of_1000_numbers_costs_two_writes_per_sbc(
    sbcs: dict[str, SandboxSbc],
) -> None:
    estate = Estate(sbcs)
    estate.set(block(14155551000, 1000))

    for name, sbc in sbcs.items():
        estate.sync(f"sbc:{name}")
        log = sbc.requests()

        assert log["writes"] == 2
        assert log["counts"]["PUT /api/v1/files/cliScript/incremental"] == 1
        assert log["counts"]["POST /api/v1/actions/saveConfiguration"] == 1


def test_offboarded_numbers_fall_back_to_the_foreign_rules(sbcs: dict[str, SandboxSbc]) -> None:
    estate = Estate(sbcs)
    numbers = block(14155551000, 40)
    estate.set(numbers)
    estate.sync("sbc:sbc1")

    estate.set(numbers[20:], NumberState.RELEASING)
    outcome = estate.sync("sbc:sbc1")

    assert outcome.converged, outcome.problems
    tags = sbcs["sbc1"].tags_of(numbers)
    assert {tags[n] for n in numbers[:20]} == {"default"}
    assert {tags[n] for n in numbers[20:]} == {"pstn"}


def test_foreign_rules_and_plans_are_left_alone(sbcs: dict[str, SandboxSbc]) -> None:
    estate = Estate(sbcs)
    sbc = sbcs["sbc1"]
    before = sbc.sandbox("GET", "/_sandbox/state")
    estate.set(block(14155550900, 2))  # inside the foreign hq-pool +141555509xx#

    outcome = estate.sync("sbc:sbc1")

    after = sbc.sandbox("GET", "/_sandbox/state")
    assert [p for p in after["dial_plans"] if p["name"] != "BYOC"] == [
        p for p in before["dial_plans"] if p["name"] != "BYOC"]
    assert sbc.foreign() == [r for r in before["dial_plans"][0]["rules"]]
    assert any("hq-operator" in c and "wins over byoc's rules" in c for c in outcome.plan.conflicts)
    assert any("hq-pool" in c and "take 1 number(s)" in c for c in outcome.plan.conflicts)
    assert not outcome.converged  # +14155550900 still goes to the foreign hq-operator rule
    assert sbc.tag_of("+14155550901") == "main"


def test_ha_sync_409s_are_survived(sbcs: dict[str, SandboxSbc]) -> None:
    estate = Estate(sbcs)
    sbc = sbcs["sbc2"]
    sbc.sandbox("POST", "/_sandbox/faults", {"kind": "ha_sync", "count": 3})
    estate.set(block(14155551000, 10))

    outcome = estate.sync("sbc:sbc2")

    assert outcome.converged, outcome.problems
    assert sbc.requests()["statuses"].get("409") == 3
    assert sbc.tag_of("+14155551005") == "default"


def test_ha_sync_that_does_not_end_is_reported_as_busy(sbcs: dict[str, SandboxSbc]) -> None:
    estate = Estate(sbcs)
    sbcs["sbc1"].sandbox("POST", "/_sandbox/faults", {"kind": "ha_sync"})
    estate.set(block(14155551000, 10))

    with pytest.raises(SbcBusy, match="HA sync"):
        estate.sync("sbc:sbc1")

    assert all("sbc:sbc1" in r.errors for r in estate.inventory.all())


def test_a_write_the_device_ignored_is_detected(sbcs: dict[str, SandboxSbc]) -> None:
    estate = Estate(sbcs)
    sbc = sbcs["sbc1"]
    sbc.sandbox("POST", "/_sandbox/faults", {"kind": "ignore_write", "count": 1})
    estate.set(block(14155551000, 10))

    with pytest.raises(SbcWriteNotApplied, match="is missing"):
        estate.sync("sbc:sbc1")

    assert sbc.tag_of("+14155551005") == "pstn"
    assert estate.sync("sbc:sbc1").converged  # the next sync repairs it
    assert sbc.tag_of("+14155551005") == "default"


def test_sbc2_ini_without_rules_is_read_through_the_cli_export(sbcs: dict[str, SandboxSbc]) -> None:
    sbc = sbcs["sbc2"]
    ini = httpx.get(sbc.url + "/api/v1/files/ini", auth=sbc.credentials, verify=sbc.ca).text
    assert "[ DialPlan ]" in ini and "DialPlanRule" not in ini

    plans = sbc.adapter().read_dial_plans()

    assert plans.source == "cliScript"
    byoc = plans.named("BYOC")
    assert byoc is not None
    assert [(r.name, r.prefix, r.tag) for r in byoc.rules] == [
        (r["name"], r["prefix"], r["tag"]) for r in sbc.rules()]

    estate = Estate(sbcs)
    estate.set(block(14155551000, 10))
    outcome = estate.sync("sbc:sbc2")
    assert outcome.converged, outcome.problems
    assert "Dial Plan read from the cliScript export" in outcome.plan.notes


def test_status_and_paged_alarms_are_read(sbcs: dict[str, SandboxSbc]) -> None:
    adapter = sbcs["sbc1"].adapter()

    status = adapter.status()
    alarms = adapter.active_alarms(details=True, page_size=2)

    assert status.operational_state == "UNLOCKED" and status.save_needed is False
    assert [a.id for a in alarms] == ["0", "1", "2"]
    assert alarms[0].severity == "major"
    assert sbcs["sbc2"].adapter().active_alarms() == []


def test_a_device_that_takes_only_part_of_a_write_is_left_running_its_saved_plan(
        tmp_path: Path) -> None:
    """The device holds fewer rules than byoc was told (max_dial_plan_rules): the upload stops
    part way, byoc puts the rules back and saves, and the device neither runs nor saved half."""
    import random

    seed = load_seed()
    pki = SandboxPki()
    certificates = issue_seed_certificates(pki, seed["certificates"])
    https = pki.write_server_files(tmp_path, "https")
    ca = str(pki.write_ca_bundle(tmp_path / "ca.pem"))
    credentials = seed["audiocodes"]["credentials"]
    entry = {**seed["audiocodes"]["sbcs"][0], "credentials": credentials, "max_dial_plan_rules": 12}
    emulator = AudioCodesEmulator(entry, pki=pki, certificates=certificates)
    server = ServedApp(build_app(emulator), tls=https).start()
    try:
        sbc = SandboxSbc(entry["name"], server.url, ca,
                         (credentials["username"], credentials["password"]))
        before = sbc.rules()
        estate = Estate({sbc.name: sbc})
        rng = random.Random(3)
        estate.set(sorted({f"+1415555{rng.randint(1000, 8999):04d}" for _ in range(300)}))

        with pytest.raises(Exception, match="runs its previous Dial Plan"):
            estate.sync(f"sbc:{sbc.name}")

        assert sbc.rules() == before
        assert sbc.rules(saved=True) == before
        assert sbc.sandbox("GET", "/_sandbox/state")["save_needed"] is False
    finally:
        server.stop()
