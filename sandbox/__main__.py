"""`python -m sandbox [--seed FILE] [--ports-file PATH]` and `python -m sandbox env ...`."""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
AZURITE_DEFAULT = (
    # Azurite's published development account (the same in every Azurite install; not a secret).
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)


def settings_for(ports: dict[str, Any], *, azurite: str = AZURITE_DEFAULT,
                 policy_path: str | None = None) -> dict[str, str]:
    """The byoc settings (environment variables) that point byoc at a running sandbox."""
    estate = ports["estate"]
    creds = ports["credentials"]
    sbcs = []
    for index, sbc in enumerate(estate["sbcs"]):
        sbcs.append({
            "name": sbc["name"],
            "management_url": ports["audiocodes"][index],
            "fqdn": sbc["fqdn"],
            "probe_host": ports["audiocodes_tls"][index],
            "nsg_resource_id": sbc.get("nsg_resource_id"),
            "nsg_destination": sbc.get("private_ip", "*"),
            "dial_plan": sbc.get("dial_plan", "BYOC"),
            # The first SBC takes the calls; the next ones are Twilio's failover path.
            "twilio_priority": 10 * (index + 1),
            # The emulated SBCs listen for SIP on TLS only (their REST API is the rest).
            "sip_ports": {"udp": 0, "tcp": 0, "tls": 5061},
        })
    return {
        "AzureWebJobsStorage": azurite,
        "BYOC_TWILIO_ACCOUNT_SID": str(creds["twilio"]["account_sid"]),
        "BYOC_TWILIO_TRUNK_SID": str(estate["twilio_trunk_sid"]),
        "BYOC_TWILIO_AUTH_TOKEN_SECRET_NAME": "twilio-auth-token",
        "BYOC_TWILIO_API_BASE": ports["twilio"],
        "BYOC_TWILIO_WEBHOOK_URL": "http://127.0.0.1:7071/api/twilio/numbers",
        "BYOC_TEST_CALL_FROM": "+14155550150",  # owned by the account, on no trunk
        "BYOC_GENESYS_API_BASE": ports["genesys"],
        "BYOC_GENESYS_CLIENT_ID": str(creds["genesys"]["client_id"]),
        "BYOC_GENESYS_CLIENT_SECRET_SECRET_NAME": "genesys-client-secret",
        "BYOC_GENESYS_EVENTS_SECRET_SECRET_NAME": "genesys-events-secret",
        "BYOC_GENESYS_SITE_NAME": str(estate.get("genesys_site", "")),
        "BYOC_GENESYS_TRUNK_BASE_NAME": str(estate.get("genesys_trunk_base", "")),
        "BYOC_GENESYS_SIGNALING_CIDRS": json.dumps(estate.get("genesys_signaling_cidrs", {})),
        "BYOC_SBCS": json.dumps(sbcs),
        "BYOC_SBC_USERNAME": str(creds["audiocodes"]["username"]),
        "BYOC_SBC_PASSWORD_SECRET_NAME": "sbc-password",
        "BYOC_AZURE_CREDENTIAL": "static-token",
        "BYOC_AZURE_STATIC_TOKEN": str(creds["azure"]["token"]),
        "BYOC_ARM_ENDPOINT": ports["arm"],
        "BYOC_KEYVAULT_URL": ports["keyvault"],
        "BYOC_KEYVAULT_VERIFY_CHALLENGE_RESOURCE": "false",
        "BYOC_CA_BUNDLE": ports["ca_bundle"],
        "BYOC_CERT_TRUST_BUNDLE": ports["ca_bundle"],
        "BYOC_CERTIFICATE_NAME": "sbc-tls",
        "BYOC_POLICY_PATH": policy_path or str(ROOT / "sandbox" / "policy.sandbox.yaml"),
        "BYOC_SIP_TIMER_SCALE": "0.1",
        # byoc's probes leave from 127.0.0.1, which stands for itself (sandbox/README-sip.md).
        "BYOC_PROBE_SOURCE_CIDRS": "127.0.0.1",
    }


def _cmd_env(args: argparse.Namespace) -> int:
    ports = json.loads(Path(args.ports_file).read_text())
    values = settings_for(ports, azurite=args.azurite)
    if args.format == "json":
        print(json.dumps({"IsEncrypted": False, "Values": values}, indent=2))
    else:
        for key, value in values.items():
            print(f"export {key}={shlex.quote(value)}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from sandbox.launcher import apply_variants, load_seed, start_sandbox, write_ports_file

    try:
        seed = apply_variants(load_seed(args.seed), args.variant)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sandbox = start_sandbox(seed)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        if args.ports_file:
            write_ports_file(sandbox, Path(args.ports_file))
        print(json.dumps(sandbox.ports(), indent=2), flush=True)
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["env"]:
        parser = argparse.ArgumentParser(prog="python -m sandbox env")
        parser.add_argument("--ports-file", required=True)
        parser.add_argument("--format", choices=["sh", "json"], default="sh")
        parser.add_argument("--azurite", default=AZURITE_DEFAULT,
                            help="Azurite connection string (default: local default ports)")
        return _cmd_env(parser.parse_args(argv[1:]))
    parser = argparse.ArgumentParser(prog="python -m sandbox",
                                     description="Start every vendor emulator on 127.0.0.1.")
    parser.add_argument("--seed", help="Seed YAML overriding sections of the default seed")
    parser.add_argument("--ports-file", help="Write endpoints and credentials here when ready")
    parser.add_argument("--variant", action="append", default=[], metavar="SECTION.NAME=VALUE",
                        help="Pick a variant of a behaviour no vendor source settles (repeatable; "
                             "GET /_sandbox/variants lists them)")
    return _cmd_up(parser.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
