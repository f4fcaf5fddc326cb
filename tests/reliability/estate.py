"""The sandbox estate for reliability tests: work the job queue off in this process (as the queue
trigger would), converge every target, and read what each vendor emulator holds."""

from __future__ import annotations

import ssl
from collections import Counter
from typing import Any

import httpx

from byoc.domain.jobs import new_correlation_id
from byoc.domain.policy import Policy


class Vendors:
    """The sandbox emulators' own view (`/_sandbox/*`), independent of byoc's reading of them."""

    def __init__(self, ports: dict[str, Any]) -> None:
        self.ports = ports
        self.http = httpx.Client(verify=ssl.create_default_context(cafile=ports["ca_bundle"]),
                                 timeout=30)

    def call(self, url: str, method: str, path: str, body: Any = None) -> Any:
        response = self.http.request(method, url + path, json=body)
        response.raise_for_status()
        return response.json() if response.content else None

    def state(self, vendor: str) -> Any:
        return self.call(self.ports[vendor], "GET", "/_sandbox/state")

    def fault(self, vendor: str, fault: dict[str, Any] | list[dict[str, Any]]) -> None:
        for url in self.urls(vendor):
            self.call(url, "POST", "/_sandbox/faults", fault)

    def clear_faults(self) -> None:
        for vendor in ("twilio", "genesys", "audiocodes", "arm"):
            for url in self.urls(vendor):
                self.call(url, "DELETE", "/_sandbox/faults")

    def urls(self, vendor: str) -> list[str]:
        found = self.ports[vendor]
        return list(found) if isinstance(found, list) else [found]

    def writes(self) -> Counter[str]:
        """Vendor write calls so far, as `METHOD path` (Genesys token requests and searches,
        which are POSTs that change nothing, are left out)."""
        found: Counter[str] = Counter()
        for vendor in ("twilio", "genesys", "audiocodes", "arm"):
            for url in self.urls(vendor):
                log = self.call(url, "GET", "/_sandbox/requests")
                found.update(f"{r['method']} {r['path']}" for r in log["requests"]
                             if r["method"] not in ("GET", "HEAD", "OPTIONS")
                             and r["path"] != "/oauth/token" and not r["path"].endswith("/search"))
        return found

    # --- where each number is -----------------------------------------------------------------

    def on_trunk(self) -> set[str]:
        return set(self.state("twilio")["trunks"][0]["phone_numbers"])

    def sbc_routes(self, numbers: list[str]) -> dict[str, list[tuple[str | None, str | None]]]:
        """Per number, per SBC: (rule name, tag) the device's own matcher picks in Dial Plan BYOC."""
        out: dict[str, list[tuple[str | None, str | None]]] = {n: [] for n in numbers}
        for url in self.urls("audiocodes"):
            results = self.call(url, "POST", "/_sandbox/dialplan/match",
                                {"plan": "BYOC", "numbers": numbers})["results"]
            for result in results:
                rule = result["rule"] or {}
                out[result["number"]].append((rule.get("name"), result["tag"]))
        return out

    def genesys_pools(self) -> list[dict[str, Any]]:
        return [p for p in self.state("genesys")["did_pools"] if p.get("state") != "deleted"]

    def estate(self, numbers: list[str]) -> dict[str, Any]:
        """A comparable snapshot of every target's hold on `numbers`."""
        genesys = self.state("genesys")
        pools = sorted((p["startPhoneNumber"], p["endPhoneNumber"], p.get("description"))
                       for p in genesys["did_pools"] if p.get("state") != "deleted")
        return {
            "trunk": sorted(self.on_trunk()),
            "urls": sorted((u["sip_url"], u["priority"], u["weight"])
                           for u in self.state("twilio")["trunks"][0]["origination_urls"]),
            "sbc": self.sbc_routes(numbers),
            "pools": pools,
            "dids": sorted((d["number"], d["ownerType"], d["ownerName"]) for d in genesys["dids"]),
        }

    def close(self) -> None:
        self.http.close()


def drain(services: Any, *, rounds: int = 60) -> int:
    """Handle queued jobs until the queue is empty; how many were handled."""
    handled = 0
    for _ in range(rounds):
        messages = services.queue.receive(max_messages=32, visibility_timeout_s=120)
        if not messages:
            return handled
        for message in messages:
            services.worker.handle(message.body, message_id=message.id,
                                   dequeue_count=message.dequeue_count)
            services.queue.delete(message)
            handled += 1
    raise AssertionError("the job queue did not drain")


def converge(services: Any, *, passes: int = 4) -> dict[str, Any]:
    """Resync every target and work the queue off until a pass leaves nothing to change."""
    left: list[str] = []
    for _ in range(passes):
        services.reconcile.enqueue("all", reason="test", correlation_id=new_correlation_id())
        drain(services)
        syncs = services.state.items("sync")
        left = [f"{name}: {sync}" for name, sync in syncs.items()
                if not sync.get("converged") or sync.get("refused")]
        left += [plan.render_text() for plan in services.reconcile.plan("all")
                 if not plan.is_empty]
        if not left:
            return syncs
    raise AssertionError("the estate did not converge:\n" + "\n".join(left))


def managed_numbers(vendors: Vendors, policy: Policy) -> list[str]:
    """The numbers the Twilio account owns that the policy manages."""
    return sorted(n["phone_number"] for n in vendors.state("twilio")["numbers"]
                  if policy.is_managed(n["phone_number"]))
