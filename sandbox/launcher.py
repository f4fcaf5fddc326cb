"""Start every emulator on loopback and describe where they are (the ports file)."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from sandbox.core import Emulator, ServedApp, build_app
from sandbox.pki import IssuedCertificate, SandboxPki

SEED_DIR = Path(__file__).parent / "seeds"
SECTIONS = ("twilio", "genesys", "audiocodes", "arm", "keyvault", "certificates")


def load_seed(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The default seed (one file per vendor under sandbox/seeds), sections overridden by `path`."""
    seed: dict[str, Any] = {}
    for section in SECTIONS:
        default = SEED_DIR / f"{section}.yaml"
        seed[section] = yaml.safe_load(default.read_text()) if default.exists() else {}
    if path is not None:
        override = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(override, dict):
            raise ValueError(f"seed file {path} must hold a mapping of sections")
        unknown = set(override) - set(SECTIONS)
        if unknown:
            raise ValueError(f"seed file {path}: unknown sections {sorted(unknown)}")
        seed.update(override)
    return seed


def emulator_classes() -> dict[str, type[Emulator]]:
    """The emulator class behind each seed section (what `--variant SECTION.NAME=VALUE` addresses)."""
    from sandbox.arm import ArmEmulator
    from sandbox.audiocodes import AudioCodesEmulator
    from sandbox.genesys import GenesysEmulator
    from sandbox.keyvault import KeyVaultEmulator
    from sandbox.twilio import TwilioEmulator

    return {
        "twilio": TwilioEmulator,
        "genesys": GenesysEmulator,
        "audiocodes": AudioCodesEmulator,
        "arm": ArmEmulator,
        "keyvault": KeyVaultEmulator,
    }


def apply_variants(seed: dict[str, Any], chosen: list[str]) -> dict[str, Any]:
    """`seed` with each `SECTION.NAME=VALUE` of `chosen` set in that section's `variants`."""
    classes = emulator_classes()
    for item in chosen:
        qualified, sep, value = item.partition("=")
        section, dot, name = qualified.partition(".")
        if not sep or not dot or section not in classes:
            raise ValueError(
                f"variant {item!r}: expected SECTION.NAME=VALUE with SECTION one of "
                f"{', '.join(sorted(classes))}"
            )
        classes[section].checked_variants({name: value})
        section_seed = dict(seed.get(section) or {})
        section_seed["variants"] = {**(section_seed.get("variants") or {}), name: value}
        seed[section] = section_seed
    return seed


def issue_seed_certificates(
    pki: SandboxPki, spec: dict[str, Any]
) -> dict[str, list[IssuedCertificate]]:
    """Certificates named in the seed, each a list of versions oldest first."""
    issued: dict[str, list[IssuedCertificate]] = {}
    for name, cert in (spec or {}).items():
        versions = cert.get("versions") or [{}]
        issued[name] = [
            pki.issue(list(v.get("dns_names", cert["dns_names"])), days=int(v.get("days", 90)),
                      key_type=str(v.get("key_type", cert.get("key_type", "rsa-2048"))))
            for v in versions
        ]
    return issued


@dataclass
class Sandbox:
    """Running emulators and how to reach them."""

    workdir: Path
    pki: SandboxPki
    ca_bundle: Path
    seed: dict[str, Any]
    certificates: dict[str, list[IssuedCertificate]]
    emulators: dict[str, Emulator] = field(default_factory=dict)
    servers: dict[str, ServedApp] = field(default_factory=dict)
    audiocodes: list[Emulator] = field(default_factory=list)
    audiocodes_servers: list[ServedApp] = field(default_factory=list)
    audiocodes_tls: list[str] = field(default_factory=list)
    sip_directory: Any = None
    sip_listeners: list[Any] = field(default_factory=list)

    def ports(self) -> dict[str, Any]:
        return {
            "twilio": self.servers["twilio"].url,
            "genesys": self.servers["genesys"].url,
            "audiocodes": [s.url for s in self.audiocodes_servers],
            "audiocodes_tls": list(self.audiocodes_tls),
            "arm": self.servers["arm"].url,
            "keyvault": self.servers["keyvault"].url,
            "ca_bundle": str(self.ca_bundle),
            "credentials": self.credentials(),
            "estate": self.estate(),
        }

    def estate(self) -> dict[str, Any]:
        """What the seed says about the estate that byoc's settings must name (ids, FQDNs)."""
        trunks = self.seed["twilio"].get("trunks") or [{}]
        nsgs = {
            str(nsg["id"]).rsplit("/", 1)[-1]: str(nsg["id"])
            for nsg in (self.seed["arm"].get("network_security_groups") or [])
        }
        sbcs = []
        for sbc in self.seed["audiocodes"].get("sbcs", []):
            sbcs.append({
                "name": sbc["name"],
                "fqdn": sbc["fqdn"],
                "nsg_resource_id": nsgs.get(f"nsg-{sbc['name']}"),
                "private_ip": sbc.get("private_ip", "*"),
            })
        genesys = self.seed["genesys"]
        return {
            "twilio_trunk_sid": trunks[0].get("sid"),
            "sbcs": sbcs,
            "genesys_site": (genesys.get("sites") or [{}])[0].get("name"),
            "genesys_trunk_base": (genesys.get("trunk_bases") or [{}])[0].get("name"),
            # Genesys publishes its BYOC signaling addresses only in a Resource Center article;
            # the sandbox stands in documentation addresses (RFC 5737) for them.
            "genesys_signaling_cidrs": {"us-east-1": ["192.0.2.16/28", "198.51.100.32/28"]},
        }

    def credentials(self) -> dict[str, Any]:
        tw = self.seed["twilio"].get("account", {})
        gen = self.seed["genesys"].get("oauth_client", {})
        ac = self.seed["audiocodes"].get("credentials", {})
        return {
            "twilio": {"account_sid": tw.get("sid"), "auth_token": tw.get("auth_token")},
            "genesys": {
                "client_id": gen.get("client_id"),
                "client_secret": gen.get("client_secret"),
            },
            "audiocodes": {"username": ac.get("username"), "password": ac.get("password")},
            "azure": {"token": self.seed["arm"].get("token")},
        }

    def stop(self) -> None:
        for listener in self.sip_listeners:
            listener.stop()
        for emulator in self.audiocodes:
            stop = getattr(emulator, "stop_tls_listener", None)
            if stop is not None:
                stop()
        for server in [*self.servers.values(), *self.audiocodes_servers]:
            server.stop()


def start_sandbox(
    seed: dict[str, Any] | None = None, workdir: Path | None = None
) -> Sandbox:
    """Start all emulators on 127.0.0.1 with free ports; HTTPS where the vendor SDK insists."""
    from sandbox.arm import ArmEmulator
    from sandbox.audiocodes import AudioCodesEmulator
    from sandbox.genesys import GenesysEmulator
    from sandbox.keyvault import KeyVaultEmulator
    from sandbox.twilio import TwilioEmulator

    seed = seed if seed is not None else load_seed()
    workdir = workdir or Path(tempfile.mkdtemp(prefix="byoc-sandbox-"))
    workdir.mkdir(parents=True, exist_ok=True)
    pki = SandboxPki()
    ca_bundle = pki.write_ca_bundle(workdir / "ca.pem")
    certificates = issue_seed_certificates(pki, seed.get("certificates", {}))
    sandbox = Sandbox(
        workdir=workdir, pki=pki, ca_bundle=ca_bundle, seed=seed, certificates=certificates
    )
    https = pki.write_server_files(workdir, "https")
    try:
        plain: list[tuple[str, Emulator, bool]] = [
            ("twilio", TwilioEmulator(seed["twilio"]), False),
            ("genesys", GenesysEmulator(seed["genesys"]), False),
            ("arm", ArmEmulator(seed["arm"]), True),
            ("keyvault", KeyVaultEmulator(seed["keyvault"], certificates=certificates, pki=pki), True),
        ]
        for name, emulator, tls in plain:
            sandbox.emulators[name] = emulator
            sandbox.servers[name] = ServedApp(
                build_app(emulator), tls=https if tls else None
            ).start()
        for sbc_seed in seed["audiocodes"].get("sbcs", []):
            sbc = AudioCodesEmulator(
                {
                    **sbc_seed,
                    "credentials": seed["audiocodes"].get("credentials", {}),
                    "variants": {
                        **(seed["audiocodes"].get("variants") or {}),
                        **(sbc_seed.get("variants") or {}),
                    },
                },
                pki=pki,
                certificates=certificates,
            )
            sandbox.audiocodes.append(sbc)
            sandbox.audiocodes_servers.append(ServedApp(build_app(sbc), tls=https).start())
            sandbox.audiocodes_tls.append(sbc.start_tls_listener())
        from sandbox.sip_estate import start_sip

        sandbox.sip_directory, genesys_sip = start_sip(
            sandbox.emulators["twilio"], sandbox.emulators["genesys"],  # type: ignore[arg-type]
            sandbox.audiocodes)  # type: ignore[arg-type]
        sandbox.sip_listeners.append(genesys_sip)
    except BaseException:
        sandbox.stop()
        raise
    return sandbox


def write_ports_file(sandbox: Sandbox, path: Path) -> None:
    """Write the ports file atomically, so a reader never sees half of it."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(sandbox.ports(), indent=2))
    tmp.replace(path)
