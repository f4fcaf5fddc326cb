"""Benchmark: how long an SBC refuses TLS handshakes while its certificate rotates under 503/409.

The Key Vault and AudioCodes emulators run in-process (loopback HTTPS, the sandbox CA given to byoc
as its trust anchor through settings). A prober thread makes TLS handshakes with the SBC's SIP TLS
port without pause, as Genesys BYOC Cloud would (TLS 1.2, its cipher suites, the sandbox CA
trusted). Each rotation installs Key Vault's current RSA certificate on sbc1 with byoc's real
service and adapters, while the certificate PUT is answered 503 (generic fault) or 409 (HA sync)
the first one or two times. The emulator fails new handshakes while key and certificate disagree
(`mismatch_window: fail_handshakes`, sandbox/README-audiocodes.md), which is what the vendor notes
say may happen [U].

Per rotation: the handshakes refused, and the longest window of consecutive refused handshakes
(from the first one's start to the last one's end; 0 when none was refused); byoc's own figure
(key accepted → certificate or old key accepted) is printed too. Baseline, measured in the same
run unless `--no-baseline`: the previous behaviour, the certificate PUT retried inside the window
by the REST client's backoff (0.5, 1, 2, 4, 8 s).

    python benchmarks/rotation_outage.py [--rotations 3] [--step-retry-s 2.0] [--no-baseline]

Last line, one JSON object: {"rotations", "scenarios": {name: {"refused": [..], "window_s": [..]}},
"max_window_s", "max_refused", "target_s": 2.0, "met", "baseline": {...} | null}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import httpx  # noqa: E402
import yaml  # noqa: E402
from fakes import FakeLocks, FakeOperations, FakeState  # noqa: E402

from byoc.adapters.audiocodes_tls import (  # noqa: E402
    AudioCodesTlsContext,
    SipTlsHandshake,
    genesys_client_context,
)
from byoc.adapters.identity import StaticTokenCredential  # noqa: E402
from byoc.adapters.keyvault import KeyVaultSecrets  # noqa: E402
from byoc.services.certificate_sources import load_trust_roots  # noqa: E402
from byoc.services.certificates import CertificateRotation  # noqa: E402
from byoc.settings import Settings, load_settings  # noqa: E402
from sandbox.audiocodes import AudioCodesEmulator  # noqa: E402
from sandbox.core import ServedApp, build_app  # noqa: E402
from sandbox.keyvault import KeyVaultEmulator  # noqa: E402
from sandbox.launcher import issue_seed_certificates  # noqa: E402
from sandbox.pki import SandboxPki  # noqa: E402

SEEDS = ROOT / "sandbox" / "seeds"
TARGET_S = 2.0
CERT_PUT = {"route": "/files/tls/0/certificate$", "method": "PUT"}
SCENARIOS: dict[str, list[dict[str, Any]]] = {
    "503x1": [{**CERT_PUT, "status": 503, "count": 1}],
    "409x1": [{**CERT_PUT, "kind": "ha_sync", "count": 1}],
    "503x2": [{**CERT_PUT, "status": 503, "count": 2}],
    "409x3": [{**CERT_PUT, "kind": "ha_sync", "count": 3}],
}


def probe(host: str, port: int, fqdn: str, ca_file: str, stop: Any, ready: Any,
          conn: Any) -> None:
    """In its own process (no GIL shared with the emulators or byoc): handshakes as Genesys makes
    them, one after the other; sends back (start, end, ok) per handshake, monotonic clock."""
    context = genesys_client_context(ca_file)
    results: list[tuple[float, float, bool]] = []
    while not stop.is_set():
        started = time.monotonic()
        ok = True
        try:
            with socket.create_connection((host, port), timeout=2) as raw, \
                    context.wrap_socket(raw, server_hostname=fqdn):
                pass
        except (OSError, ssl.SSLError):
            ok = False
        results.append((started, time.monotonic(), ok))
        ready.set()
    conn.send(results)


class Prober:
    """The probing process, started once; results are sliced by each rotation's start and end."""

    def __init__(self, host: str, port: int, fqdn: str, ca_file: str) -> None:
        spawn = multiprocessing.get_context("spawn")
        self._stop, self.ready = spawn.Event(), spawn.Event()
        self._receive, send = spawn.Pipe(duplex=False)
        self._process = spawn.Process(target=probe, args=(host, port, fqdn, ca_file, self._stop,
                                                          self.ready, send), daemon=True)
        self._process.start()
        self.results: list[tuple[float, float, bool]] = []

    def stop(self) -> list[tuple[float, float, bool]]:
        self._stop.set()
        self.results = self._receive.recv()
        self._process.join(timeout=10)
        return self.results


class LegacyTlsContext(AudioCodesTlsContext):
    """The previous behaviour: the certificate PUT retried by the REST client inside the window."""

    def upload_certificate(self, pem: str) -> None:
        self._upload(f"{self._files}/certificate", "certificate.pem", pem)


def start_estate(workdir: Path) -> dict[str, Any]:
    pki = SandboxPki()
    certificates = issue_seed_certificates(
        pki, yaml.safe_load((SEEDS / "certificates.yaml").read_text()))
    https = pki.write_server_files(workdir, "https")
    ca_file = str(pki.write_ca_bundle(workdir / "ca.pem"))
    vault = ServedApp(build_app(KeyVaultEmulator(
        yaml.safe_load((SEEDS / "keyvault.yaml").read_text()), certificates=certificates, pki=pki,
    )), tls=https).start()
    seed = yaml.safe_load((SEEDS / "audiocodes.yaml").read_text())
    entry = seed["sbcs"][0]
    emulator = AudioCodesEmulator({**entry, "credentials": seed["credentials"]}, pki=pki,
                                  certificates=certificates)
    server = ServedApp(build_app(emulator), tls=https).start()
    return {"ca_file": ca_file, "vault": vault, "emulator": emulator, "server": server,
            "sip_tls": emulator.start_tls_listener(), "fqdn": entry["fqdn"],
            "name": entry["name"], "password": seed["credentials"]["password"],
            "username": seed["credentials"]["username"],
            "token": yaml.safe_load((SEEDS / "keyvault.yaml").read_text())["token"]}


def settings_for(estate: dict[str, Any]) -> Settings:
    return load_settings(
        twilio_account_sid="AC" + "0" * 32, twilio_trunk_sid="TK" + "0" * 32,
        twilio_auth_token="unused", genesys_client_id="unused", genesys_client_secret="unused",
        sbc_password=estate["password"], sbc_username=estate["username"],
        storage_connection_string="UseDevelopmentStorage=true",
        policy_path=str(ROOT / "policy.example.yaml"),
        sbcs=[{"name": estate["name"], "management_url": estate["server"].url,
               "fqdn": estate["fqdn"], "probe_host": estate["sip_tls"]}],
        keyvault_url=estate["vault"].url, keyvault_verify_challenge_resource=False,
        azure_credential="static-token", azure_static_token=estate["token"],
        ca_bundle=estate["ca_file"], cert_trust_bundle=estate["ca_file"],
        certificate_name="sbc-tls",
    )


def rotate_once(estate: dict[str, Any], faults: list[dict[str, Any]], *, legacy: bool,
                step_retry_s: float) -> dict[str, Any]:
    trust = ssl.create_default_context(cafile=estate["ca_file"])
    for url in (estate["vault"].url, estate["server"].url):
        httpx.post(f"{url}/_sandbox/reset", verify=trust).raise_for_status()
        httpx.delete(f"{url}/_sandbox/faults", verify=trust).raise_for_status()
    for fault in faults:
        httpx.post(f"{estate['server'].url}/_sandbox/faults", json=fault,
                   verify=trust).raise_for_status()
    settings = settings_for(estate)
    context_class = LegacyTlsContext if legacy else AudioCodesTlsContext
    service = CertificateRotation(
        settings=settings,
        secrets=KeyVaultSecrets(str(settings.keyvault_url), StaticTokenCredential(estate["token"]),
                                verify_challenge_resource=False, ca_bundle=settings.ca_bundle),
        sbc_tls=lambda sbc: context_class(
            sbc.management_url, settings.sbc_username, lambda: estate["password"],
            context=sbc.tls_context, name=sbc.name, ca_bundle=settings.ca_bundle),
        handshake=SipTlsHandshake(trust_file=settings.cert_trust_bundle, timeout_s=5),
        trust_roots=lambda: load_trust_roots(str(settings.cert_trust_bundle)),
        operations=FakeOperations(), state=FakeState(), locks=FakeLocks(),
        verify_attempts=3, verify_interval_s=0.5, step_retry_s=step_retry_s,
    )
    started = time.monotonic()
    report = service.rotate(correlation_id="bench")
    ended = time.monotonic()
    outcome = report.sbcs[0].outcome.value if report.sbcs else f"refused: {report.refused}"
    byoc_window = report.sbcs[0].mismatch_window_s if report.sbcs else None
    return {"outcome": outcome, "started": started, "ended": ended,
            "byoc_window_s": round(byoc_window or 0.0, 3)}


def measured(row: dict[str, Any], results: list[tuple[float, float, bool]]) -> dict[str, Any]:
    """The row with what the prober saw between the rotation's start and end."""
    during = [r for r in results if row["started"] <= r[0] <= row["ended"]]
    windows = refusal_windows(during)
    return {**{k: v for k, v in row.items() if k not in ("started", "ended")},
            "refused": sum(1 for _, _, ok in during if not ok),
            "windows": len(windows), "window_s": round(max(windows, default=0.0), 3),
            "handshakes": len(during)}


def refusal_windows(results: list[tuple[float, float, bool]]) -> list[float]:
    """Each run of consecutive refused handshakes, from its first start to its last end."""
    windows: list[float] = []
    first: float | None = None
    last = 0.0
    for started, ended, ok in results:
        if ok:
            if first is not None:
                windows.append(last - first)
            first = None
        else:
            first = started if first is None else first
            last = ended
    if first is not None:
        windows.append(last - first)
    return windows


def run(estate: dict[str, Any], rotations: int, *, legacy: bool,
        step_retry_s: float) -> dict[str, list[dict[str, Any]]]:
    """Raw rows per scenario (times only); `report` adds what the prober saw."""
    return {name: [rotate_once(estate, faults, legacy=legacy, step_retry_s=step_retry_s)
                   for _ in range(rotations)]
            for name, faults in SCENARIOS.items()}


def report(title: str, raw: dict[str, list[dict[str, Any]]],
           results: list[tuple[float, float, bool]]) -> dict[str, dict[str, list[Any]]]:
    print(title)
    figures: dict[str, dict[str, list[Any]]] = {}
    for name, rows in raw.items():
        done = [measured(row, results) for row in rows]
        for row in done:
            print(f"  {name:6} {row['outcome']:9} refused {row['refused']:4} handshakes of "
                  f"{row['handshakes']:4} in {row['windows']} window(s), longest "
                  f"{row['window_s']:.3f} s (byoc's key-to-certificate figure "
                  f"{row['byoc_window_s']} s)")
        figures[name] = {key: [row[key] for row in done]
                         for key in ("outcome", "refused", "windows", "window_s",
                                     "byoc_window_s", "handshakes")}
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rotations", type=int, default=3, help="rotations per scenario")
    parser.add_argument("--step-retry-s", type=float, default=2.0,
                        help="wait before the whole key/certificate step is retried (default 2)")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="byoc-rotation-outage-") as workdir:
        estate = start_estate(Path(workdir))
        host, port = estate["sip_tls"].rsplit(":", 1)
        prober = Prober(host, int(port), estate["fqdn"], estate["ca_file"])
        try:
            if not prober.ready.wait(timeout=60):
                raise SystemExit("the prober made no handshake within 60 s")
            raw = run(estate, args.rotations, legacy=False, step_retry_s=args.step_retry_s)
            raw_baseline = None if args.no_baseline else run(
                estate, 1, legacy=True, step_retry_s=args.step_retry_s)
        finally:
            results = prober.stop()
            estate["emulator"].stop_tls_listener()
            estate["server"].stop()
            estate["vault"].stop()
    figures = report(f"byoc: certificate PUT tried once, old key back at once, step retried "
                     f"({args.rotations} rotation(s) per scenario)", raw, results)
    baseline = None if raw_baseline is None else report(
        "baseline: certificate PUT retried with backoff inside the window (before)",
        raw_baseline, results)
    windows = [w for f in figures.values() for w in f["window_s"]]
    refused = [r for f in figures.values() for r in f["refused"]]
    rotated = all(o == "rotated" for f in figures.values() for o in f["outcome"])
    print(json.dumps({
        "rotations": args.rotations * len(SCENARIOS),
        "scenarios": figures,
        "max_window_s": max(windows),
        "max_refused": max(refused),
        "all_rotated": rotated,
        "target_s": TARGET_S,
        "met": rotated and max(windows) <= TARGET_S,
        "baseline": None if baseline is None else {
            "max_window_s": max(w for f in baseline.values() for w in f["window_s"]),
            "max_refused": max(r for f in baseline.values() for r in f["refused"]),
            "scenarios": baseline,
        },
    }))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
