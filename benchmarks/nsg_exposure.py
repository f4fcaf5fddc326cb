"""Benchmark: the NSG exposure evaluation and the NSG plan at Azure's limit of 1,000 rules.

The NSG holds byoc's rules for one SBC (every Twilio edge, Genesys media and signaling) and foreign
rules up to exactly 1,000: a third on ports the SBC does not serve, a third on its SIP ports, a
third inside its RTP range, with a mix of CIDRs, service tags and Deny rules at spread priorities.
Both run on every sync of every NSG (the plan's conflicts) and every health run. What is timed is
`nsg_exposure()` and `plan()` alone (the rules are answered from memory); median of `--runs`.

Baseline, measured in the same run: the same NSG with byoc's rules only.

    python benchmarks/nsg_exposure.py [--runs 5]

Prints one line per case, then as its last line one JSON object:
{"rules": 1000, "exposure_s", "plan_s", "exposures", "baseline": {"rules", "exposure_s", "plan_s"}}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))  # run from a checkout, not installed

from byoc.services.nsg_payloads import WantedRule  # noqa: E402
from byoc.services.nsg_ranges import nsg_exposure  # noqa: E402
from byoc.services.nsg_reconciler import NsgReconciler  # noqa: E402
from byoc.settings import Settings, load_settings  # noqa: E402

NSG_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
    "/providers/Microsoft.Network/networkSecurityGroups/nsg-sbc1"
)


def settings() -> Settings:
    return load_settings(
        twilio_account_sid="AC" + "0" * 32, twilio_trunk_sid="TK" + "0" * 32,
        twilio_auth_token="t", genesys_client_id="c", genesys_client_secret="s",
        sbc_password="p", storage_connection_string="UseDevelopmentStorage=true",
        policy_path=str(ROOT.parent / "policy.example.yaml"),
        sbcs=[{"name": "sbc1", "management_url": "https://10.0.1.4", "fqdn": "sbc1.example.net",
               "nsg_resource_id": NSG_ID, "nsg_destination": "10.0.1.4"}],
        genesys_signaling_cidrs={"us-east-1": ["203.0.113.0/28"]},
    )


class MemoryNsg:
    def __init__(self, rules: list[dict[str, Any]]) -> None:
        self.rules = rules

    def read_rules(self) -> list[dict[str, Any]]:
        return self.rules

    def put_rule(self, name: str, properties: dict[str, Any], *, etag: str | None) -> dict[str, Any]:
        raise AssertionError("not written")

    def delete_rule(self, name: str, *, etag: str | None) -> None:
        raise AssertionError("not written")


def byoc_rules(config: Settings) -> list[dict[str, Any]]:
    target = NsgReconciler(config, config.sbcs[0], MemoryNsg([]))
    desired = target.desired(None)
    plan = target.plan(target.read_actual(), desired)
    return [
        {"name": c.key, "etag": "x",
         "properties": c.after_as(WantedRule).rule.to_arm_properties()}
        for c in plan.changes
    ]


def foreign_rules(count: int) -> list[dict[str, Any]]:
    ports = ["8443", "5060", "5061", "5000-5100", "12000-12999", "*"]
    sources = ["198.51.100.0/24", "AzureCloud", "Internet", "8.8.{n}.0/24", "VirtualNetwork",
               "54.172.60.0/31"]
    rules = []
    for n in range(count):
        source = sources[n % len(sources)].format(n=n % 256)
        rules.append({
            "name": f"corp-{n:04d}", "etag": "x",
            "properties": {
                "priority": 1200 + n * 2, "direction": "Inbound",
                "access": "Deny" if n % 7 == 0 else "Allow",
                "protocol": ("Tcp", "Udp", "*")[n % 3], "sourceAddressPrefix": source,
                "sourcePortRange": "*", "destinationAddressPrefix": "*",
                "destinationPortRange": ports[(n // 3) % len(ports)],
            },
        })
    return rules


def timed(runs: int, work: Any) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def measure(config: Settings, rules: list[dict[str, Any]], runs: int) -> dict[str, Any]:
    sbc = config.sbcs[0]
    exposure_s = timed(runs, lambda: nsg_exposure(config, sbc, rules))
    target = NsgReconciler(config, sbc, MemoryNsg(rules))
    desired = target.desired(None)
    actual = target.read_actual()
    plan_s = timed(runs, lambda: target.plan(actual, desired))
    exposures = len(nsg_exposure(config, sbc, rules).problems())
    return {"rules": len(rules), "exposure_s": round(exposure_s, 4), "plan_s": round(plan_s, 4),
            "exposures": exposures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    config = settings()
    own = byoc_rules(config)
    baseline = measure(config, own, args.runs)
    print(f"byoc rules only: {baseline}")
    full = measure(config, own + foreign_rules(1000 - len(own)), args.runs)
    print(f"1,000 rules: {full}")
    print(json.dumps({**full, "baseline": baseline}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
