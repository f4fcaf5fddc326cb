"""The AudioCodes SBC emulator through every operation a byoc adapter needs (REST over HTTPS with
the sandbox CA, Basic auth), then a live TLS handshake on the SIP TLS port."""

from __future__ import annotations

import csv
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from sandbox.audiocodes import AudioCodesEmulator
from sandbox.core import ServedApp, build_app
from sandbox.launcher import issue_seed_certificates
from sandbox.pki import IssuedCertificate, SandboxPki

pytestmark = pytest.mark.integration

SEEDS = Path(__file__).resolve().parents[3] / "sandbox" / "seeds"
AUTH = ("Admin", "sandbox-sbc-password")
BYOC_RULE_SCRIPT = """configure voip
 sbc dial-plan 0
  dial-plan-rule new
   name "byoc-0100"
   prefix "+1415555[0100-0109]#"
   tag "byoc"
   activate
  exit
  dial-plan-rule new
   name "byoc-0110"
   prefix "+141555501[10-19]#"
   tag "byoc"
   activate
  exit
 exit
exit
"""


@dataclass
class Sbc:
    emulator: AudioCodesEmulator
    server: ServedApp
    sip_tls: str


@dataclass
class Estate:
    ca_file: str
    certificates: dict[str, list[IssuedCertificate]]
    sbcs: dict[str, Sbc]

    def verify(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    pki = SandboxPki()
    certificates = issue_seed_certificates(
        pki, yaml.safe_load((SEEDS / "certificates.yaml").read_text())
    )
    seed = yaml.safe_load((SEEDS / "audiocodes.yaml").read_text())
    workdir = tmp_path_factory.mktemp("audiocodes")
    https = pki.write_server_files(workdir, "https")
    ca_file = str(pki.write_ca_bundle(workdir / "ca.pem"))
    sbcs: dict[str, Sbc] = {}
    try:
        for entry in seed["sbcs"]:
            emulator = AudioCodesEmulator(
                {**entry, "credentials": seed["credentials"]}, pki=pki, certificates=certificates
            )
            server = ServedApp(build_app(emulator), tls=https).start()
            sbcs[entry["name"]] = Sbc(emulator, server, emulator.start_tls_listener())
        yield Estate(ca_file, certificates, sbcs)
    finally:
        for sbc in sbcs.values():
            sbc.emulator.stop_tls_listener()
            sbc.server.stop()


def _client(estate: Estate, name: str) -> Iterator[httpx.Client]:
    server = estate.sbcs[name].server
    with httpx.Client(verify=estate.verify()) as sandbox:
        sandbox.post(f"{server.url}/_sandbox/reset").raise_for_status()
    with httpx.Client(base_url=f"{server.url}/api/v1", auth=AUTH, verify=estate.verify(),
                      timeout=10) as client:
        yield client


@pytest.fixture
def sbc1(estate: Estate) -> Iterator[httpx.Client]:
    yield from _client(estate, "sbc1")


@pytest.fixture
def sbc2(estate: Estate) -> Iterator[httpx.Client]:
    yield from _client(estate, "sbc2")


def upload(client: httpx.Client, path: str, text: str | bytes, filename: str = "file.txt",
           **extra: str) -> httpx.Response:
    data = text.encode() if isinstance(text, str) else text
    return client.put(path, files={"file": (filename, data, "application/octet-stream")},
                      data=extra or None)


def ini_table(text: str, table: str) -> list[dict[str, str]]:
    """An adapter-style reader of one ini table: FORMAT columns, quoted CSV rows."""
    rows: list[dict[str, str]] = []
    columns: list[str] = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if re.fullmatch(rf"\[\s*{table}\s*\]", line):
            inside = True
        elif inside and re.fullmatch(rf"\[\s*\\{table}\s*\]", line):
            break
        elif inside and line.startswith("FORMAT"):
            columns = [c.strip() for c in line.split("=", 1)[1].rstrip(";").split(",")]
        elif inside and (match := re.match(rf"{table}\s+\d+\s*=\s*(.*);$", line)):
            values = next(csv.reader([match.group(1)], skipinitialspace=True))
            rows.append(dict(zip(columns, values, strict=True)))
    return rows


def cli_rules(script: str, plan_index: int) -> dict[str, dict[str, str]]:
    """Rules of one dial plan read from a cliScript download, by rule index."""
    rules: dict[str, dict[str, str]] = {}
    current_plan, current_rule = None, None
    for raw in script.splitlines():
        words = raw.split(maxsplit=1)
        if words[:1] == ["sbc"] and raw.split()[1] == "dial-plan":
            current_plan, current_rule = int(raw.split()[2]), None
        elif words[:1] == ["dial-plan-rule"] and current_plan == plan_index:
            current_rule = words[1]
            rules[current_rule] = {}
        elif current_rule is not None and words and words[0] in ("name", "prefix", "tag"):
            rules[current_rule][words[0]] = words[1].strip('"')
        elif words[:1] == ["exit"] and raw.startswith("  ") and not raw.startswith("   "):
            current_rule = None
    return rules


def served_certificate(address: str, ca_file: str, server_name: str) -> x509.Certificate:
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca_file)
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname=server_name
    ) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def options_over_tls(address: str, ca_file: str, server_name: str) -> str:
    host, port = address.rsplit(":", 1)
    context = ssl.create_default_context(cafile=ca_file)
    request = (
        f"OPTIONS sip:{server_name}:5061;transport=tls SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKcontract1;rport\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:byoc-probe@127.0.0.1>;tag=probe1\r\n"
        f"To: <sip:{server_name}>\r\n"
        "Call-ID: contract-call-1\r\n"
        "CSeq: 7 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname=server_name
    ) as tls:
        tls.sendall(request.encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += tls.recv(4096)
    return answer.decode()


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def match(estate: Estate, name: str, plan: str, number: str) -> dict[str, Any]:
    url = f"{estate.sbcs[name].server.url}/_sandbox/dialplan/match"
    with httpx.Client(verify=estate.verify()) as client:
        response = client.get(url, params={"plan": plan, "number": number})
    response.raise_for_status()
    result: dict[str, Any] = response.json()
    return result


# --- status and alarms -------------------------------------------------------------------------


def test_status_reports_operational_state_and_flags_as_strings(sbc1: httpx.Client) -> None:
    status = sbc1.get("/status").json()

    assert status["operationalState"] == "UNLOCKED"
    assert status["highAvailability"] == "Not Operational"
    assert status["productType"] == "Mediant SW"
    assert status["saveNeeded"] == "false"
    assert status["resetNeeded"] == "false"
    assert isinstance(status["systemUpTime"], int)


def test_active_alarms_are_paged_with_after_and_before_cursors(sbc1: httpx.Client) -> None:
    first = sbc1.get("/alarms/active", params={"limit": 2}).json()
    assert [a["id"] for a in first["alarms"]] == [0, 1]
    assert first["cursor"] == {"after": "1", "before": "-1"}

    second = sbc1.get("/alarms/active", params={"limit": 2, "after": first["cursor"]["after"]})
    assert [a["id"] for a in second.json()["alarms"]] == [2]
    assert second.json()["cursor"] == {"after": "-1", "before": "2"}

    back = sbc1.get("/alarms/active", params={"limit": 2, "before": "2"}).json()
    assert [a["id"] for a in back["alarms"]] == [0, 1]

    detail = sbc1.get(first["alarms"][1]["url"].removeprefix("/api/v1")).json()
    assert detail["severity"] == "minor"
    assert "Proxy lost" in detail["description"]


def test_no_active_alarms_answers_204_with_an_empty_body(sbc2: httpx.Client) -> None:
    response = sbc2.get("/alarms/active")

    assert response.status_code == 204
    assert response.content == b""


# --- reading the configuration -----------------------------------------------------------------


def test_ini_download_carries_the_dial_plan_tables(sbc1: httpx.Client) -> None:
    response = sbc1.get("/files/ini")

    assert response.headers["content-type"] == "application/octet-stream"
    assert "\r\n" in response.text
    plans = ini_table(response.text, "DialPlan")
    rules = ini_table(response.text, "DialPlanRule")
    assert [p["Name"] for p in plans] == ["BYOC", "Teams"]
    assert {"DialPlanName": "BYOC", "RuleIndex": "0", "Name": "hq-pool",
            "Prefix": "+141555509xx#", "Tag": "hq"} in rules
    assert ini_table(response.text, "TLSContexts")[0]["Name"] == "byoc-tls"


def test_cli_script_download_lists_dial_plans_and_rules(sbc2: httpx.Client) -> None:
    script = sbc2.get("/files/cliScript").text

    assert "configure voip" in script
    assert 'name "BYOC"' in script
    assert cli_rules(script, 0)["0"] == {"name": "hq-pool", "prefix": "+141555509xx#", "tag": "hq"}


def test_sbc2_ini_omits_dial_plan_rules_that_cli_script_shows(sbc2: httpx.Client) -> None:
    ini = sbc2.get("/files/ini").text

    assert [p["Name"] for p in ini_table(ini, "DialPlan")] == ["BYOC", "Lab"]
    assert "DialPlanRule" not in ini
    assert cli_rules(sbc2.get("/files/cliScript").text, 1)["0"]["tag"] == "lab"


# --- incremental writes ------------------------------------------------------------------------


def test_incremental_cli_adds_rules_without_reset_and_sets_save_needed(
    sbc1: httpx.Client, estate: Estate
) -> None:
    response = upload(sbc1, "/files/cliScript/incremental", BYOC_RULE_SCRIPT, "cli.txt")

    body = response.json()
    assert response.status_code == 200
    assert body["description"] == "Incremental CLI Script file was loaded."
    assert body["status"] == "success", body["output"]
    rules = cli_rules(sbc1.get("/files/cliScript").text, 0)
    assert rules["3"] == {"name": "byoc-0100", "prefix": "+1415555[0100-0109]#", "tag": "byoc"}
    assert rules["4"]["prefix"] == "+141555501[10-19]#"
    assert {"DialPlanName": "BYOC", "RuleIndex": "4", "Name": "byoc-0110",
            "Prefix": "+141555501[10-19]#", "Tag": "byoc"} in ini_table(
        sbc1.get("/files/ini").text, "DialPlanRule")
    status = sbc1.get("/status").json()
    assert (status["saveNeeded"], status["resetNeeded"]) == ("true", "false")
    assert match(estate, "sbc1", "BYOC", "+14155550113")["tag"] == "byoc"
    assert estate.sbcs["sbc1"].emulator.state()["reset_count"] == 0


def test_incremental_cli_removes_a_rule_and_leaves_foreign_rules(
    sbc1: httpx.Client, estate: Estate
) -> None:
    upload(sbc1, "/files/cliScript/incremental", BYOC_RULE_SCRIPT, "cli.txt")

    response = upload(sbc1, "/files/cliScript/incremental",
                      "configure voip\n sbc dial-plan 0\n  no dial-plan-rule 3\n exit\nexit\n")

    assert response.json()["status"] == "success", response.json()["output"]
    rules = cli_rules(sbc1.get("/files/cliScript").text, 0)
    assert sorted(rules) == ["0", "1", "2", "4"]
    assert match(estate, "sbc1", "BYOC", "+14155550105")["tag"] == "pstn"
    assert match(estate, "sbc1", "BYOC", "+14155550950")["tag"] == "hq"


def test_incremental_ini_upserts_rules_by_plan_and_rule_index(sbc1: httpx.Client) -> None:
    first = (
        "[ DialPlanRule ]\r\n"
        "FORMAT Index = DialPlanName, RuleIndex, Name, Prefix, Tag;\r\n"
        'DialPlanRule 0 = "BYOC", 10, "byoc-a", "+1415555[0100-0119]#", "byoc";\r\n'
        "[ \\DialPlanRule ]\r\n"
    )
    second = first.replace("[0100-0119]", "[0100-0109]")

    one = upload(sbc1, "/files/ini/incremental", first, "ini.txt").json()
    two = upload(sbc1, "/files/ini/incremental", second, "ini.txt").json()

    assert (one["status"], two["status"]) == ("success", "success"), (one, two)
    byoc = [r for r in ini_table(sbc1.get("/files/ini").text, "DialPlanRule")
            if r["DialPlanName"] == "BYOC"]
    assert [r["Name"] for r in byoc] == ["hq-pool", "hq-operator", "catch-all", "byoc-a"]
    assert byoc[-1]["Prefix"] == "+1415555[0100-0109]#"


def test_save_configuration_clears_save_needed(sbc1: httpx.Client, estate: Estate) -> None:
    upload(sbc1, "/files/cliScript/incremental", BYOC_RULE_SCRIPT, "cli.txt")
    assert sbc1.get("/status").json()["saveNeeded"] == "true"

    response = sbc1.post("/actions/saveConfiguration")

    assert response.status_code == 200
    assert sbc1.get("/status").json()["saveNeeded"] == "false"
    saved = estate.sbcs["sbc1"].emulator.state()["saved_dial_plans"][0]["rules"]
    assert [r["name"] for r in saved][-2:] == ["byoc-0100", "byoc-0110"]


# --- TLS context -------------------------------------------------------------------------------


def test_certificate_rotation_is_presented_by_the_sip_tls_listener(
    sbc1: httpx.Client, estate: Estate
) -> None:
    old, new = estate.certificates["sbc-tls"][0], estate.certificates["sbc-tls"][-1]
    sip_tls = estate.sbcs["sbc1"].sip_tls
    current = x509.load_pem_x509_certificate(sbc1.get("/files/tls/0/certificate").content)
    assert fingerprint(current) == fingerprint(old.cert)
    served = served_certificate(sip_tls, estate.ca_file, "sbc1.byoc.example.net")
    assert fingerprint(served) == fingerprint(old.cert)

    key = upload(sbc1, "/files/tls/0/privateKey", new.key_pem(), "key.pem")
    assert key.json() == {"description": "Private key was successfully changed"}
    assert sbc1.get("/files/tls/0/privateKey").json() == {"size": 2048, "valid": False}
    cert = upload(sbc1, "/files/tls/0/certificate", new.cert_pem(), "cert.pem")
    assert cert.json() == {"description": "Certificate was successfully changed"}
    assert sbc1.get("/files/tls/0/privateKey").json() == {"size": 2048, "valid": True}
    assert sbc1.post("/actions/saveConfiguration").status_code == 200

    downloaded = x509.load_pem_x509_certificate(sbc1.get("/files/tls/0/certificate").content)
    assert fingerprint(downloaded) == fingerprint(new.cert)
    served = served_certificate(sip_tls, estate.ca_file, "sbc1.byoc.example.net")
    assert fingerprint(served) == fingerprint(new.cert)
    status = sbc1.get("/status").json()
    assert (status["saveNeeded"], status["resetNeeded"]) == ("false", "false")


def test_trusted_root_is_added_incrementally(sbc1: httpx.Client) -> None:
    before = sbc1.get("/files/tls/0/trustedRoot").text.count("BEGIN CERTIFICATE")
    other_ca = SandboxPki().root_pem()

    response = upload(sbc1, "/files/tls/0/trustedRoot/incremental", other_ca, "root.pem")

    assert response.json() == {"description": "Trusted root certificate was successfully added"}
    store = sbc1.get("/files/tls/0/trustedRoot").text
    assert store.count("BEGIN CERTIFICATE") == before + 1
    assert other_ca in store


def test_sip_tls_listener_answers_options_with_the_request_identifiers(estate: Estate) -> None:
    answer = options_over_tls(estate.sbcs["sbc1"].sip_tls, estate.ca_file, "sbc1.byoc.example.net")

    head = answer.split("\r\n")
    assert head[0] == "SIP/2.0 200 OK"
    assert "Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bKcontract1;rport" in head
    assert "Call-ID: contract-call-1" in head
    assert "CSeq: 7 OPTIONS" in head
    assert any(h.startswith("To: <sip:sbc1.byoc.example.net>;tag=") for h in head)
    assert any(h.startswith("Allow: ") and "OPTIONS" in h for h in head)
    assert any(h.startswith("Server: Mediant") for h in head)
    assert "Content-Length: 0" in head


def test_dial_plan_match_answers_rule_and_tag_number_by_number(
    sbc1: httpx.Client, estate: Estate
) -> None:
    upload(sbc1, "/files/cliScript/incremental", BYOC_RULE_SCRIPT, "cli.txt")
    url = f"{estate.sbcs['sbc1'].server.url}/_sandbox/dialplan/match"

    with httpx.Client(verify=estate.verify()) as client:
        bulk = client.post(url, json={"plan": "BYOC", "numbers": [
            "+14155550100", "+14155550119", "+14155550120", "+14155550900", "+14155550901"]})

    assert [r["tag"] for r in bulk.json()["results"]] == [
        "byoc", "byoc", "pstn", "route=operator", "hq"]
    single = match(estate, "sbc1", "BYOC", "+14155550100")
    assert single["rule"]["name"] == "byoc-0100"
    assert {c["name"] for c in single["candidates"]} == {"catch-all", "byoc-0100"}
