"""Every refusal of the AudioCodes SBC emulator, its vendor faults, and the dial-plan matcher's
semantics (the matcher is how byoc checks routing number by number)."""

from __future__ import annotations

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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sandbox.audiocodes import AudioCodesEmulator
from sandbox.audiocodes_dialplan import (
    PrefixSyntaxError,
    RuleCandidate,
    best_rule,
    parse_prefix,
)
from sandbox.core import ServedApp, build_app
from sandbox.launcher import issue_seed_certificates
from sandbox.pki import IssuedCertificate, SandboxPki

pytestmark = pytest.mark.integration

SEEDS = Path(__file__).resolve().parents[3] / "sandbox" / "seeds"
AUTH = ("Admin", "sandbox-sbc-password")
GOOD_RULE = """configure voip
 sbc dial-plan 0
  dial-plan-rule new
   name "byoc-good"
   prefix "+1415555[0100-0119]#"
   tag "byoc"
   activate
  exit
 exit
exit
"""


@dataclass
class Estate:
    ca_file: str
    tls_files: Any
    pki: SandboxPki
    certificates: dict[str, list[IssuedCertificate]]
    seed: dict[str, Any]
    emulators: dict[str, AudioCodesEmulator]
    servers: dict[str, ServedApp]
    sip_tls: dict[str, str]

    def verify(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.ca_file)

    def start(self, name: str, **overrides: Any) -> None:
        entry = next(e for e in self.seed["sbcs"] if e["name"] == name.split("-")[0])
        emulator = AudioCodesEmulator(
            {**entry, **overrides, "credentials": self.seed["credentials"]},
            pki=self.pki, certificates=self.certificates,
        )
        self.emulators[name] = emulator
        self.servers[name] = ServedApp(build_app(emulator), tls=self.tls_files).start()
        self.sip_tls[name] = emulator.start_tls_listener()


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    pki = SandboxPki()
    certificates = issue_seed_certificates(
        pki, yaml.safe_load((SEEDS / "certificates.yaml").read_text())
    )
    workdir = tmp_path_factory.mktemp("audiocodes-strict")
    estate = Estate(
        ca_file=str(pki.write_ca_bundle(workdir / "ca.pem")),
        tls_files=pki.write_server_files(workdir, "https"),
        pki=pki, certificates=certificates,
        seed=yaml.safe_load((SEEDS / "audiocodes.yaml").read_text()),
        emulators={}, servers={}, sip_tls={},
    )
    try:
        estate.start("sbc1")
        estate.start("sbc2")
        estate.start("sbc1-needs-reset", variants={"tls_apply": "needs-reset"})
        estate.start("sbc1-replace", incremental_ini_mode="replace_table")
        yield estate
    finally:
        for name, emulator in estate.emulators.items():
            emulator.stop_tls_listener()
            estate.servers[name].stop()


def _client(estate: Estate, name: str, auth: tuple[str, str] | None = AUTH
            ) -> Iterator[httpx.Client]:
    url = estate.servers[name].url
    with httpx.Client(verify=estate.verify()) as sandbox:
        sandbox.post(f"{url}/_sandbox/reset").raise_for_status()
    with httpx.Client(base_url=f"{url}/api/v1", auth=auth, verify=estate.verify(),
                      timeout=10) as client:
        yield client


@pytest.fixture
def sbc1(estate: Estate) -> Iterator[httpx.Client]:
    yield from _client(estate, "sbc1")


@pytest.fixture
def sbc2(estate: Estate) -> Iterator[httpx.Client]:
    yield from _client(estate, "sbc2")


def upload(client: httpx.Client, path: str, text: str | bytes) -> httpx.Response:
    data = text.encode() if isinstance(text, str) else text
    return client.put(path, files={"file": ("file.txt", data, "application/octet-stream")})


def inject(estate: Estate, name: str, fault: dict[str, Any]) -> None:
    with httpx.Client(verify=estate.verify()) as client:
        client.post(f"{estate.servers[name].url}/_sandbox/faults", json=fault).raise_for_status()


def byoc_rules(estate: Estate, name: str = "sbc1") -> list[str]:
    plans = estate.emulators[name].state()["dial_plans"]
    return [r["name"] for r in plans[0]["rules"] if r["name"].startswith("byoc")]


def served_fingerprint(estate: Estate, name: str) -> str:
    host, port = estate.sip_tls[name].rsplit(":", 1)
    context = ssl.create_default_context(cafile=estate.ca_file)
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname="sbc1.byoc.example.net"
    ) as tls:
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex()


def fingerprint(issued: IssuedCertificate) -> str:
    return issued.cert.fingerprint(hashes.SHA256()).hex()


# --- auth, privilege, methods ------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, ("Admin", "wrong"), ("nobody", "sandbox-sbc-password")])
@pytest.mark.parametrize("path", ["/status", "/files/ini", "/no/such/resource"])
def test_requests_without_valid_basic_auth_are_refused_with_401(
    estate: Estate, auth: tuple[str, str] | None, path: str
) -> None:
    with httpx.Client(base_url=f"{estate.servers['sbc1'].url}/api/v1", auth=auth,
                      verify=estate.verify()) as client:
        response = client.get(path)

    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Basic")


def test_bearer_token_is_not_basic_auth(estate: Estate) -> None:
    response = httpx.get(f"{estate.servers['sbc1'].url}/api/v1/status", verify=estate.verify(),
                         headers={"Authorization": "Bearer sandbox-sbc-password"})

    assert response.status_code == 401


def test_monitor_user_reads_status_and_alarms_but_not_files(estate: Estate) -> None:
    for client in _client(estate, "sbc1", ("monitor", "sandbox-sbc-monitor")):
        assert client.get("/status").status_code == 200
        assert client.get("/alarms/active").status_code == 200
        assert client.get("/files/ini").status_code == 403
        assert client.post("/actions/saveConfiguration").status_code == 403


def test_administrator_edits_configuration_but_not_tls_files(estate: Estate) -> None:
    for client in _client(estate, "sbc1", ("operator", "sandbox-sbc-operator")):
        assert upload(client, "/files/cliScript/incremental", GOOD_RULE).status_code == 200
        assert client.get("/files/tls/0/certificate").status_code == 200
        refused = upload(client, "/files/tls/0/certificate", "x")
        assert refused.status_code == 403
        assert "privilege" in refused.json()["description"]


def test_unsupported_method_is_405_and_unknown_resource_404(sbc1: httpx.Client) -> None:
    assert sbc1.delete("/status").status_code == 405
    assert sbc1.get("/files/cliScript/incremental").status_code == 405
    assert sbc1.get("/files/tls/7/certificate").status_code == 404
    assert sbc1.get("/routing/rules").status_code == 404


# --- incremental uploads -----------------------------------------------------------------------


def test_malformed_cli_lines_are_reported_in_output_with_failure_status(
    sbc1: httpx.Client, estate: Estate
) -> None:
    script = GOOD_RULE + (
        "configure voip\n"                                  # 11
        " sbc dial-plan 0\n"                                # 12
        "  dial-plan-rule new\n"                            # 13
        '   name "byoc-name-far-too-long"\n'                # 14
        '   prefix "+1415555[100-2000]#"\n'                 # 15
        '   tag "byoc;managed"\n'                           # 16
        "   activate\n"                                     # 17
        "  exit\n"                                          # 18
        "  dial-plan-rule-typo 9\n"                         # 19
        ' name "unterminated\n'                             # 20
        " exit\n"                                           # 21
        "exit\n"                                            # 22
        "configure system\n"                                # 23
        " hostname sbc1\n"                                  # 24
        "exit\n"
    )

    response = upload(sbc1, "/files/cliScript/incremental", script)

    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "failure"
    output = body["output"]
    assert "line 17: activate failed" in output
    assert "at most 15" in output
    assert "same number of digits" in output
    assert "value-less tags" in output
    assert "line 19:" in output and "Invalid command" in output
    assert "line 20:" in output and "not closed" in output
    assert "line 24:" in output and "not supported by the emulator" in output
    assert byoc_rules(estate) == ["byoc-good"]


def test_action_commands_refuse_the_whole_cli_script(sbc1: httpx.Client, estate: Estate) -> None:
    response = upload(sbc1, "/files/cliScript/incremental",
                      GOOD_RULE + "copy startup-script from http://10.0.0.1/x.txt\n")

    assert response.status_code == 400
    assert "action command" in response.json()["description"]
    assert byoc_rules(estate) == []


@pytest.mark.parametrize("request_kwargs", [
    {"content": GOOD_RULE.encode(), "headers": {"Content-Type": "text/plain"}},
    {"files": {"script": ("cli.txt", GOOD_RULE.encode())}},
    {"files": {"file": ("cli.txt", b"   \n")}},
    {"files": {"file": ("cli.txt", b"\xff\xfe\x00binary")}},
])
def test_incremental_upload_must_be_a_multipart_text_part_named_file(
    sbc1: httpx.Client, estate: Estate, request_kwargs: dict[str, Any]
) -> None:
    response = sbc1.put("/files/cliScript/incremental", **request_kwargs)

    assert response.status_code == 400
    assert byoc_rules(estate) == []


def test_bad_incremental_ini_lines_are_reported_and_good_rows_applied(
    sbc1: httpx.Client, estate: Estate
) -> None:
    ini = (
        "[ DialPlanRule ]\r\n"                                                          # 1
        "FORMAT Index = DialPlanName, RuleIndex, Name, Prefix, Tag;\r\n"                # 2
        'DialPlanRule 0 = "BYOC", 20, "byoc-good", "+1415555[0100-0119]#", "byoc";\r\n'  # 3
        'DialPlanRule 1 = "Nope", 0, "byoc-x", "+1", "byoc";\r\n'                       # 4
        'DialPlanRule 2 = "BYOC", 21, "byoc-y", "+1";\r\n'                              # 5
        'DialPlanRule 3 = "BYOC", 22, "byoc-z", "+1[1-22]", "byoc"\r\n'                 # 6
        'DialPlanRule 0 = "BYOC", 23, "byoc-dup", "+2", "byoc";\r\n'                    # 7
        "[ \\DialPlanRule ]\r\n"                                                        # 8
        "[ RoutingMagic ]\r\n"                                                          # 9
        "FORMAT Index = A;\r\n"
        "RoutingMagic 0 = 1;\r\n"
        "[ \\RoutingMagic ]\r\n"
        "NoSuchParameter = 1\r\n"                                                       # 13
        "ENABLEMEDIASECURITY = 0"                                                       # 14
    )

    body = upload(sbc1, "/files/ini/incremental", ini).json()

    assert body["status"] == "failure"
    output = body["output"]
    assert "line 4:" in output and "'Nope' does not exist" in output
    assert "line 5:" in output and "4 values for 5 columns" in output
    assert "line 6:" in output and "must end with ';'" in output
    assert "line 7:" in output and "appears twice" in output
    assert "line 9:" in output and "'RoutingMagic' is not supported" in output
    assert "line 13:" in output and "'NoSuchParameter' is not supported" in output
    assert "line 14:" in output and "not terminated by CR/LF" in output
    assert byoc_rules(estate) == ["byoc-good"]


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("name", "sixteen-chars-xx", "at most 15"),
    ("name", "", "Name is mandatory"),
    ("prefix", "+1" + "2" * 49, "at most 50"),
    ("prefix", "+1415*", "only valid as the whole prefix"),
    ("prefix", "+1415[12,3]", "same number of digits"),
    ("prefix", "+1415[19-10]", "runs backwards"),
    ("prefix", "+1415[10-19", "never closed"),
    ("tag", "seventeen-chars-x", "at most 16"),
    ("tag", "Belgium;England", "value-less tags"),
    ("tag", "a b", "is not 'name' or 'name=value'"),
])
def test_rule_fields_the_device_refuses(
    sbc1: httpx.Client, estate: Estate, field: str, value: str, problem: str
) -> None:
    fields = {"name": "byoc-r", "prefix": "+14155550100#", "tag": "byoc", field: value}
    script = ("configure voip\n sbc dial-plan 0\n  dial-plan-rule new\n"
              + "".join(f'   {k} "{v}"\n' for k, v in fields.items())
              + "  exit\n exit\nexit\n")

    body = upload(sbc1, "/files/cliScript/incremental", script).json()

    assert body["status"] == "failure"
    assert problem in body["output"]
    assert byoc_rules(estate) == []


def test_plan_names_are_unique_and_without_slash(sbc1: httpx.Client) -> None:
    script = ('configure voip\n sbc dial-plan new\n  name "Teams"\n exit\n'
              ' sbc dial-plan new\n  name "a/b"\n exit\nexit\n')

    output = upload(sbc1, "/files/cliScript/incremental", script).json()["output"]

    assert "already used by Dial Plan 1" in output
    assert "must not contain '/'" in output


def test_replace_table_firmware_drops_rows_the_file_does_not_list(estate: Estate) -> None:
    ini = (
        "[ DialPlanRule ]\nFORMAT Index = DialPlanName, RuleIndex, Name, Prefix, Tag;\n"
        'DialPlanRule 0 = "BYOC", 0, "hq-pool", "+141555509xx#", "hq";\n[ \\DialPlanRule ]\n'
    )
    for client in _client(estate, "sbc1-replace"):
        assert upload(client, "/files/ini/incremental", ini).json()["status"] == "success"

    plans = estate.emulators["sbc1-replace"].state()["dial_plans"]
    assert [(p["name"], [r["name"] for r in p["rules"]]) for p in plans] == [
        ("BYOC", ["hq-pool"]), ("Teams", [])]


# --- full uploads, save, reset -----------------------------------------------------------------


def test_full_ini_upload_resets_the_device_and_replaces_the_configuration(
    sbc1: httpx.Client, estate: Estate
) -> None:
    upload(sbc1, "/files/cliScript/incremental", GOOD_RULE)
    ini = (
        "[ DialPlan ]\nFORMAT Index = Name;\nDialPlan 0 = \"BYOC\";\n[ \\DialPlan ]\n"
        "[ DialPlanRule ]\nFORMAT Index = DialPlanName, RuleIndex, Name, Prefix, Tag;\n"
        'DialPlanRule 0 = "BYOC", 0, "only", "+1#", "x";\n[ \\DialPlanRule ]\n'
    )

    response = upload(sbc1, "/files/ini", ini)

    assert response.json() == {"description": "Device will reset now to activate new configuration"}
    state = estate.emulators["sbc1"].state()
    assert state["reset_count"] == 1
    assert state["resets"][0]["reason"] == "full ini upload"
    assert [(p["name"], [r["name"] for r in p["rules"]]) for p in state["dial_plans"]] == [
        ("BYOC", ["only"])]
    assert state["tls_contexts"][0]["name"] == "default"
    status = sbc1.get("/status").json()
    assert status["systemUpTime"] <= 1
    assert status["saveNeeded"] == "false"


def test_invalid_full_ini_is_refused_without_reset(sbc1: httpx.Client, estate: Estate) -> None:
    before = estate.emulators["sbc1"].state()["dial_plans"]

    response = upload(sbc1, "/files/ini", "[ DialPlan ]\nDialPlan 0 = \"X\";\n[ \\DialPlan ]\n")

    assert response.status_code == 400
    assert "FORMAT" in response.json()["output"]
    state = estate.emulators["sbc1"].state()
    assert state["reset_count"] == 0
    assert state["dial_plans"] == before


def test_full_ini_round_trip_on_firmware_that_omits_rules_loses_them(
    sbc2: httpx.Client, estate: Estate
) -> None:
    exported = sbc2.get("/files/ini").text

    assert upload(sbc2, "/files/ini", exported).status_code == 200

    plans = estate.emulators["sbc2"].state()["dial_plans"]
    assert [p["name"] for p in plans] == ["BYOC", "Lab"]
    assert all(p["rules"] == [] for p in plans)


def test_full_cli_upload_resets_and_keeps_what_the_script_holds(
    sbc1: httpx.Client, estate: Estate
) -> None:
    upload(sbc1, "/files/cliScript/incremental", GOOD_RULE)
    script = sbc1.get("/files/cliScript").text

    response = upload(sbc1, "/files/cliScript", script)

    assert response.status_code == 200
    state = estate.emulators["sbc1"].state()
    assert state["resets"][-1]["reason"] == "full cliScript upload"
    assert byoc_rules(estate) == ["byoc-good"]
    assert state["saved_dial_plans"] == state["dial_plans"]


def test_reset_without_save_drops_unsaved_changes(sbc1: httpx.Client, estate: Estate) -> None:
    upload(sbc1, "/files/cliScript/incremental", GOOD_RULE)

    response = sbc1.post("/actions/reset", json={"saveConfiguration": False, "gracefulTimeout": 0})

    assert response.json() == {"description": "Device will reset now"}
    assert byoc_rules(estate) == []
    assert estate.emulators["sbc1"].state()["reset_count"] == 1


def test_reset_saves_by_default(sbc1: httpx.Client, estate: Estate) -> None:
    upload(sbc1, "/files/cliScript/incremental", GOOD_RULE)

    assert sbc1.post("/actions/reset").status_code == 200

    assert byoc_rules(estate) == ["byoc-good"]


@pytest.mark.parametrize("body", [{"saveConfiguration": "yes"}, {"force": True},
                                  {"gracefulTimeout": -1}])
def test_reset_refuses_bad_options(sbc1: httpx.Client, body: dict[str, Any]) -> None:
    assert sbc1.post("/actions/reset", json=body).status_code == 400


def test_save_configuration_takes_no_body(sbc1: httpx.Client) -> None:
    upload(sbc1, "/files/cliScript/incremental", GOOD_RULE)

    response = sbc1.post("/actions/saveConfiguration", content=b"{}")

    assert response.status_code == 400
    assert sbc1.get("/status").json()["saveNeeded"] == "true"


# --- TLS files ---------------------------------------------------------------------------------


def test_private_key_can_never_be_downloaded(sbc1: httpx.Client) -> None:
    response = sbc1.get("/files/tls/0/privateKey")

    assert response.json() == {"size": 2048, "valid": True}
    assert "PRIVATE KEY" not in response.text


@pytest.mark.parametrize("content", [
    b"not a certificate",
    b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
])
def test_certificate_upload_refuses_non_pem(sbc1: httpx.Client, content: bytes) -> None:
    assert upload(sbc1, "/files/tls/0/certificate", content).status_code == 400


def test_certificate_upload_refuses_der_and_key_files(sbc1: httpx.Client, estate: Estate) -> None:
    new = estate.certificates["sbc-tls"][-1]
    der = new.cert.public_bytes(serialization.Encoding.DER)

    assert upload(sbc1, "/files/tls/0/certificate", der).status_code == 400
    assert upload(sbc1, "/files/tls/0/certificate", new.pem_bundle()).status_code == 400
    assert upload(sbc1, "/files/tls/0/privateKey", new.cert_pem()).status_code == 400


def test_key_first_then_a_certificate_of_another_key_is_refused(
    sbc1: httpx.Client, estate: Estate
) -> None:
    old, new = estate.certificates["sbc-tls"][0], estate.certificates["sbc-tls"][-1]
    assert upload(sbc1, "/files/tls/0/privateKey", new.key_pem()).status_code == 200

    refused = upload(sbc1, "/files/tls/0/certificate", old.cert_pem())

    assert refused.status_code == 400
    assert "does not match the private key" in refused.json()["description"]
    assert upload(sbc1, "/files/tls/0/certificate", new.cert_pem()).status_code == 200


def test_certificate_first_then_a_key_of_another_certificate_is_refused(
    sbc1: httpx.Client, estate: Estate
) -> None:
    new = estate.certificates["sbc-tls"][-1]
    stranger = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    assert upload(sbc1, "/files/tls/0/certificate", new.cert_pem()).status_code == 200
    assert sbc1.get("/files/tls/0/privateKey").json()["valid"] is False

    refused = upload(sbc1, "/files/tls/0/privateKey", stranger)

    assert refused.status_code == 400
    assert "does not match the certificate" in refused.json()["description"]
    assert upload(sbc1, "/files/tls/0/privateKey", new.key_pem()).status_code == 200
    assert served_fingerprint(estate, "sbc1") == fingerprint(new)


def test_handshakes_fail_while_key_and_certificate_disagree(
    sbc1: httpx.Client, estate: Estate
) -> None:
    assert upload(sbc1, "/files/tls/0/privateKey",
                  estate.certificates["sbc-tls"][-1].key_pem()).status_code == 200

    with pytest.raises((ssl.SSLError, ConnectionError)):
        served_fingerprint(estate, "sbc1")


def test_generate_self_signed_certificate_uses_the_context_key(sbc1: httpx.Client) -> None:
    response = sbc1.post("/files/tls/0/certificate/generate",
                         json={"subjectName": "sbc1.byoc.example.net", "countryCode": "US"})

    assert response.json() == {"description": "Self-signed certificate was successfully generated"}
    cert = x509.load_pem_x509_certificate(sbc1.get("/files/tls/0/certificate").content)
    assert cert.issuer == cert.subject
    assert "CN=sbc1.byoc.example.net" in cert.subject.rfc4514_string()
    assert sbc1.get("/files/tls/0/privateKey").json()["valid"] is True
    assert sbc1.post("/files/tls/0/certificate/generate",
                     json={"countryCode": "USA"}).status_code == 400


def test_trusted_root_put_replaces_the_whole_store(sbc1: httpx.Client) -> None:
    one, two = SandboxPki().root_pem(), SandboxPki().root_pem()

    assert upload(sbc1, "/files/tls/0/trustedRoot", one + two).status_code == 200

    assert sbc1.get("/files/tls/0/trustedRoot").text == one + two
    assert upload(sbc1, "/files/tls/0/trustedRoot/incremental", one + two).status_code == 400


def test_new_certificate_waits_for_a_reset_when_the_firmware_needs_one(estate: Estate) -> None:
    new = estate.certificates["sbc-tls"][-1]
    for client in _client(estate, "sbc1-needs-reset"):
        upload(client, "/files/tls/0/privateKey", new.key_pem())
        upload(client, "/files/tls/0/certificate", new.cert_pem())
        assert client.get("/status").json()["resetNeeded"] == "true"
        assert served_fingerprint(estate, "sbc1-needs-reset") != fingerprint(new)

        client.post("/actions/reset")

        assert client.get("/status").json()["resetNeeded"] == "false"
        assert served_fingerprint(estate, "sbc1-needs-reset") == fingerprint(new)


# --- vendor faults -----------------------------------------------------------------------------


def test_ha_sync_answers_409_to_the_next_writes_only(sbc1: httpx.Client, estate: Estate) -> None:
    inject(estate, "sbc1", {"kind": "ha_sync", "count": 2})

    assert upload(sbc1, "/files/cliScript/incremental", GOOD_RULE).status_code == 409
    assert sbc1.get("/status").status_code == 200
    assert sbc1.post("/actions/saveConfiguration").status_code == 409
    assert upload(sbc1, "/files/cliScript/incremental", GOOD_RULE).status_code == 200
    assert byoc_rules(estate) == ["byoc-good"]


def test_ignore_write_answers_success_but_changes_nothing(
    sbc1: httpx.Client, estate: Estate
) -> None:
    inject(estate, "sbc1", {"kind": "ignore_write", "count": 1})

    body = upload(sbc1, "/files/cliScript/incremental", GOOD_RULE).json()

    assert body["status"] == "success"
    assert "byoc-good" not in sbc1.get("/files/cliScript").text
    assert byoc_rules(estate) == []


def test_keep_old_certificate_accepts_the_upload_but_serves_the_old_one(
    sbc1: httpx.Client, estate: Estate
) -> None:
    old, new = estate.certificates["sbc-tls"][0], estate.certificates["sbc-tls"][-1]
    inject(estate, "sbc1", {"kind": "keep_old_certificate", "count": 1})

    assert upload(sbc1, "/files/tls/0/privateKey", new.key_pem()).status_code == 200
    assert upload(sbc1, "/files/tls/0/certificate", new.cert_pem()).status_code == 200

    downloaded = x509.load_pem_x509_certificate(sbc1.get("/files/tls/0/certificate").content)
    assert downloaded.fingerprint(hashes.SHA256()).hex() == fingerprint(new)
    assert sbc1.get("/status").json()["resetNeeded"] == "false"
    assert served_fingerprint(estate, "sbc1") == fingerprint(old)
    sbc1.post("/actions/reset")
    assert served_fingerprint(estate, "sbc1") == fingerprint(new)


def test_unknown_seed_keys_are_refused(estate: Estate) -> None:
    with pytest.raises(ValueError, match="unknown keys"):
        AudioCodesEmulator({"name": "x", "credentials": {"username": "a", "password": "b"},
                            "dial_plan": []}, pki=estate.pki, certificates=estate.certificates)


# --- dial-plan matcher semantics ---------------------------------------------------------------


def pick(prefixes: list[str], number: str, **options: Any) -> str | None:
    rules = [RuleCandidate(i, f"r{i}", p, f"rule{i}") for i, p in enumerate(prefixes)]
    best, _ = best_rule(rules, number, **options)
    return best.tag if best else None


@pytest.mark.parametrize(("prefixes", "number", "winner"), [
    # Examples of the Mediant user manuals (Dial Plan "best match").
    (["523x", "5234"], "5234", "rule1"),
    (["532[1-9]1111", "5321"], "53211111", "rule1"),
    (["53([2-4])", "531(4)"], "53124", "rule1"),
    (["321xxx", "321"], "321444", "rule0"),
    (["321xxx", "321"], "32144", "rule1"),
    (["532[1-9]", "532[2-4]"], "5324", "rule1"),
    (["53([2-4])", "53([01-99])", "53([001-999])"], "53124", "rule2"),
    (["53([2-4])", "53(4)"], "53124", "rule1"),
    (["[1,3,5]", "[110,120]"], "110", "rule0"),
    (["[100-119]", "[110-129]"], "115", "rule0"),
    # 7.4 priority order for 5234: literal, x, range, n, z, suffix, dot.
    (["523.", "523(4)", "523z", "523n", "523[2-6]", "523x", "5234"], "5234", "rule6"),
    (["523.", "523(4)", "523z", "523n", "523[2-6]", "523x"], "5234", "rule5"),
    (["523.", "523(4)", "523z", "523n", "523[2-6]"], "5234", "rule4"),
    (["523.", "523(4)", "523z", "523n"], "5234", "rule3"),
    (["523.", "523(4)", "523z"], "5234", "rule2"),
    (["523.", "523(4)"], "5234", "rule1"),
    # byoc's shapes against foreign rules.
    (["*", "+1415555[0100-0119]#"], "+14155550105", "rule1"),
    (["+141555501xx#", "+1415555[0100-0119]#"], "+14155550105", "rule0"),
    (["+1415555[0100-0199]#", "+1415555[0100-0119]#"], "+14155550105", "rule1"),
    (["+14155550105", "+14155550105#"], "+14155550105", "rule1"),
    (["+1415555[0100-0119]#", "+14155550105"], "+14155550105", "rule1"),
    (["*"], "anything", "rule0"),
])
def test_most_specific_rule_wins(prefixes: list[str], number: str, winner: str) -> None:
    assert pick(prefixes, number) == winner


def test_range_outranks_x_on_72_firmware() -> None:
    assert pick(["523x", "523[1-9]"], "5234") == "rule0"
    assert pick(["523x", "523[1-9]"], "5234", range_outranks_x=True) == "rule1"


@pytest.mark.parametrize(("prefix", "number", "matches"), [
    ("+1415555[0100-0119]#", "+14155550119", True),
    ("+1415555[0100-0119]#", "+14155550120", False),
    ("+1415555[0100-0119]#", "+141555501190", False),
    ("+1415555[0100-0119]", "+141555501190", True),
    ("54324#", "54324", True),
    ("54324#", "543241", False),
    ("54324xx#", "5432412", True),
    ("z", "0", False),
    ("n", "1", False),
    ("n", "2", True),
    ("X", "7", True),
    ("\\x1", "x1", True),
    ("\\x1", "71", False),
    (".1", "a1", True),
    ("3#45", "3#45", True),
    ("[4-8](23[4,5,6])", "5999236", True),
    ("[4-8](23[4,5,6])", "5999237", False),
    ("55(4-8)", "557", True),
    ("55(4-8)", "55", False),
    ("abc", "ABC", True),
])
def test_prefix_notation(prefix: str, number: str, matches: bool) -> None:
    assert parse_prefix(prefix).matches(number) is matches


def test_letters_are_case_sensitive_only_when_the_plan_says_so() -> None:
    assert parse_prefix("abc").matches("ABC", case_sensitive=True) is False
    assert parse_prefix("xbc").matches("7bc", case_sensitive=True) is True


@pytest.mark.parametrize("prefix", [
    "", "333*", "+1[1-22]", "+1[12,3]", "+1[", "+1(4", "1(2)3", "[a-b]", "[5-3]", "()", "1 2",
    "\\", "[]",
])
def test_invalid_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(PrefixSyntaxError):
        parse_prefix(prefix)


def test_number_groups_count_list_items() -> None:
    assert parse_prefix("[120-125,150,160-164,170,200,210-215]").number_groups() == 6
    assert parse_prefix("+1415555[0100-0119]#").number_groups() == 1


@pytest.mark.parametrize(("version", "tls12"), [("4", True), ("8", False), ("12", True)],
                         ids=["tls-v1.2", "tls-v1.3", "tls-v1.2-and-v1.3"])
def test_the_sip_tls_port_speaks_the_versions_its_tls_context_names(
    sbc1: httpx.Client, estate: Estate, version: str, tls12: bool
) -> None:
    ini = ("[ TLSContexts ]\r\nFORMAT Index = Name, TLSVersion;\r\n"
           f'TLSContexts 0 = "byoc-tls", {version};\r\n[ \\TLSContexts ]\r\n')
    answer = upload(sbc1, "/files/ini/incremental", ini).json()
    assert answer["status"] == "success", answer
    host, port = estate.sip_tls["sbc1"].rsplit(":", 1)
    only_tls12 = ssl.create_default_context(cafile=estate.ca_file)
    only_tls12.maximum_version = ssl.TLSVersion.TLSv1_2

    def tls12_handshake() -> bool:
        try:
            with socket.create_connection((host, int(port)), timeout=5) as raw, \
                    only_tls12.wrap_socket(raw, server_hostname="sbc1.byoc.example.net"):
                return True
        except ssl.SSLError:
            return False

    assert tls12_handshake() is tls12
