"""Certificate rotation through byoc's own wiring (settings, Key Vault SDK, SBC REST adapter, the
handshake as Genesys makes it) against the sandbox, under each value of the AudioCodes variant
`tls_apply`: whether a new TLS context pair applies live or only after a device reset."""

from __future__ import annotations

import socket
import ssl
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from byoc.adapters.audiocodes_tls import GENESYS_BYOC_CLOUD_CIPHERS, genesys_client_context
from byoc.services.certificate_report import RotationOutcome

pytestmark = pytest.mark.integration

GENESYS_SUITES = {openssl for _, openssl in GENESYS_BYOC_CLOUD_CIPHERS}


def _control(ports: dict[str, Any], url: str, path: str, body: Any = None,
             method: str = "POST") -> Any:
    trust = ssl.create_default_context(cafile=ports["ca_bundle"])
    response = httpx.request(method, f"{url}{path}", json=body, verify=trust)
    response.raise_for_status()
    return response.json()


def _as_genesys(ports: dict[str, Any], index: int) -> tuple[str, str | None, str]:
    """Fingerprint, TLS version and suite a Genesys-like client gets from SBC `index`."""
    host, port = ports["audiocodes_tls"][index].rsplit(":", 1)
    fqdn = ports["estate"]["sbcs"][index]["fqdn"]
    context = genesys_client_context(ports["ca_bundle"])
    with socket.create_connection((host, int(port)), timeout=5) as raw, context.wrap_socket(
        raw, server_hostname=fqdn
    ) as tls:
        der = tls.getpeercert(binary_form=True)
        cipher = tls.cipher()
        version = tls.version()
    assert der is not None and cipher is not None
    return x509.load_der_x509_certificate(der).fingerprint(hashes.SHA256()).hex().upper(), \
        version, cipher[0]


def _writes(ports: dict[str, Any], index: int) -> list[str]:
    log = _control(ports, ports["audiocodes"][index], "/_sandbox/requests", method="GET")
    return [f"{r['method']} {r['path']}" for r in log["requests"] if r["method"] != "GET"]


def _trusted_roots(ports: dict[str, Any], index: int) -> int:
    state = _control(ports, ports["audiocodes"][index], "/_sandbox/state", method="GET")
    return int(state["tls_contexts"][0]["trusted_roots"])


def _rotate(**kwargs: Any) -> Any:
    from byoc.bootstrap import get_services

    return get_services().certificates.rotate(correlation_id="variants-run", **kwargs)


@pytest.mark.sandbox_variants("audiocodes.tls_apply")
def test_a_good_rsa_certificate_rotates_and_verifies_as_genesys_connects(
    sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]
) -> None:
    ports = sandbox_env
    old = [_as_genesys(ports, i)[0] for i in range(2)]
    roots_before = [_trusted_roots(ports, i) for i in range(2)]

    report = _rotate()

    outcomes = [s.outcome for s in report.sbcs]
    if sandbox_variant[1] == "applies-live":
        assert report.ok, report.to_json()
        assert outcomes == [RotationOutcome.ROTATED] * 2
        for index in range(2):
            fingerprint, version, suite = _as_genesys(ports, index)
            assert fingerprint == report.fingerprint and fingerprint != old[index]
            assert version == "TLSv1.2" and suite in GENESYS_SUITES
    else:
        # the firmware needs a reset byoc never makes: it stops, names it, and nothing is down
        assert outcomes == [RotationOutcome.ROLLED_BACK, RotationOutcome.NOT_REACHED]
        assert "resetNeeded" in report.sbcs[0].detail
        assert "never resets" in report.sbcs[0].detail
        assert [_as_genesys(ports, i)[0] for i in range(2)] == old
    # the path's intermediate was already in the store: nothing was added
    assert [_trusted_roots(ports, i) for i in range(2)] == roots_before


@pytest.mark.sandbox_variants("audiocodes.tls_apply")
def test_a_busy_certificate_upload_restores_the_old_key_and_the_step_is_retried(
    sandbox_env: dict[str, Any], sandbox_variant: tuple[str, str]
) -> None:
    ports = sandbox_env
    old = _as_genesys(ports, 0)[0]
    _control(ports, ports["audiocodes"][0], "/_sandbox/faults",
             {"route": "/files/tls/0/certificate$", "method": "PUT", "status": 503, "count": 1})
    _control(ports, ports["audiocodes"][0], "/_sandbox/faults",
             {"kind": "ha_sync", "route": "/files/tls/0/certificate$", "method": "PUT",
              "count": 1})

    report = _rotate(sbc="sbc1")

    writes = _writes(ports, 0)
    key, cert = "PUT /api/v1/files/tls/0/privateKey", "PUT /api/v1/files/tls/0/certificate"
    # each failed certificate PUT is followed at once by the old key, never by a retry
    assert writes[:6] == [key, cert, key, key, cert, key], writes
    if sandbox_variant[1] == "applies-live":
        assert report.sbcs[0].outcome is RotationOutcome.ROTATED, report.to_json()
        assert _as_genesys(ports, 0)[0] == report.fingerprint
    else:
        assert report.sbcs[0].outcome is RotationOutcome.ROLLED_BACK
        assert _as_genesys(ports, 0)[0] == old


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"key_type": "ec-p256"}, "EC-P256 key; Genesys BYOC Cloud speaks TLS 1.2"),
        ({"no_server_auth": True}, "without serverAuth"),
        ({"critical_extension": "1.3.6.1.4.1.55555.9"}, "critical extension 1.3.6.1.4.1.55555.9"),
        ({"issuer": "non-ca"}, "which is not a CA"),
        ({"issuer": "private-root"}, "not one of the 1 trusted root"),
    ],
    ids=["ec-p256", "no-server-auth", "critical-extension", "non-ca-issuer", "private-root"],
)
def test_a_certificate_genesys_or_twilio_would_refuse_is_never_uploaded(
    sandbox_env: dict[str, Any], spec: dict[str, Any], reason: str
) -> None:
    ports = sandbox_env
    _control(ports, ports["keyvault"], "/_sandbox/keyvault/new-certificate-version",
             {"name": "sbc-tls", **spec})

    report = _rotate()

    assert report.refused is not None and reason in report.refused, report.refused
    assert report.sbcs == []
    assert _writes(ports, 0) == [] and _writes(ports, 1) == []


def test_ec_allowed_where_no_genesys_leg_rotates_and_a_genesys_client_could_not_connect(
    sandbox_env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from byoc.adapters.audiocodes_tls import SipTlsHandshake
    from byoc.bootstrap import reset_services

    ports = sandbox_env
    monkeypatch.setenv("BYOC_CERT_ALLOW_EC", "true")
    reset_services()
    issued = _control(ports, ports["keyvault"], "/_sandbox/keyvault/new-certificate-version",
                      {"name": "sbc-tls", "key_type": "ec-p256"})

    report = _rotate(sbc="sbc1")

    assert report.sbcs[0].outcome is RotationOutcome.ROTATED, report.to_json()
    host, port = ports["audiocodes_tls"][0].rsplit(":", 1)
    fqdn = ports["estate"]["sbcs"][0]["fqdn"]
    as_twilio = SipTlsHandshake(trust_file=ports["ca_bundle"], genesys_suites=False)
    assert as_twilio.presented_certificate(host, int(port), fqdn).chain_verified
    as_genesys = SipTlsHandshake(trust_file=ports["ca_bundle"])
    presented = as_genesys.presented_certificate(host, int(port), fqdn)
    assert not presented.chain_verified
    assert presented.verify_error is not None
    assert "EC-P256 key" in presented.verify_error
    assert "Genesys cannot connect" in presented.verify_error
    leaf = x509.load_der_x509_certificate(presented.leaf_der)
    assert leaf.fingerprint(hashes.SHA256()).hex().upper() == issued["fingerprint_sha256"]


def test_status_says_genesys_cannot_connect_to_a_port_limited_to_tls13(
    sandbox_env: dict[str, Any],
) -> None:
    from byoc.bootstrap import get_services

    ports = sandbox_env
    creds = ports["credentials"]["audiocodes"]
    ini = ("[ TLSContexts ]\r\nFORMAT Index = Name, TLSVersion;\r\n"
           'TLSContexts 0 = "byoc-tls", 8;\r\n[ \\TLSContexts ]\r\n')
    response = httpx.put(
        f"{ports['audiocodes'][0]}/api/v1/files/ini/incremental",
        files={"file": ("tls.ini", ini.encode(), "application/octet-stream")},
        auth=(creds["username"], creds["password"]),
        verify=ssl.create_default_context(cafile=ports["ca_bundle"]),
    )
    assert response.json()["status"] == "success", response.text

    statuses = get_services().certificates.status(record_health=False)

    sbc1, sbc2 = statuses
    assert sbc1.chain_verified is False
    assert any("only completes TLSv1.3" in p and "Genesys cannot connect" in p
               for p in sbc1.problems), sbc1.problems
    assert sbc2.chain_verified is True and not sbc2.problems
