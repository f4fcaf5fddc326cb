"""Certificate bundles: what parses, what is refused before an SBC upload, and why."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from certfactory import (
    KeyKind,
    Pki,
    make_intermediate_ca,
    make_leaf,
    make_pki,
    make_root_ca,
    new_private_key,
    pem_bundle,
    pkcs12_base64,
)
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from byoc.domain.cert_checks import (
    days_left,
    expiry_warning_level,
    find_certificate_problems,
    san_covers,
    validate_bundle,
    verified_path,
)
from byoc.domain.certs import (
    PEM_CONTENT_TYPE,
    PKCS12_CONTENT_TYPE,
    BundleDecryptionFailed,
    CertificateBundle,
    CertificateBundleError,
    CertificateExpired,
    CertificateExpiresTooSoon,
    CertificateInvalid,
    CertificateNotYetValid,
    ChainIncomplete,
    IssuerNotCa,
    KeyMismatch,
    NoServerAuth,
    SanMismatch,
    UnknownCriticalExtension,
    UnsupportedKey,
    UntrustedRoot,
    allowed_key_types,
    fingerprint_sha256,
    parse_certificate_bundle,
    parse_pem_certificate,
)

NOW = datetime.now(UTC).replace(microsecond=0)
FQDN = "sbc1.example.com"


def _validate(
    bundle: CertificateBundle,
    roots: list[x509.Certificate],
    *,
    fqdn: str = FQDN,
    now: datetime = NOW,
    min_days_left: int = 14,
) -> None:
    validate_bundle(bundle, fqdn=fqdn, now=now, min_days_left=min_days_left, trusted_roots=roots)


def _pem(pki: Pki) -> CertificateBundle:
    return parse_certificate_bundle(pem_bundle(pki.leaf, pki.chain), PEM_CONTENT_TYPE)


def _leaf_window(start_days: float, end_days: float) -> Pki:
    return make_pki(
        not_before=NOW + timedelta(days=start_days), not_after=NOW + timedelta(days=end_days)
    )


# --- parsing ------------------------------------------------------------------------------------


def test_pkcs12_and_pem_secrets_parse_to_the_same_bundle() -> None:
    pki = make_pki()

    from_pfx = parse_certificate_bundle(pkcs12_base64(pki.leaf, pki.chain), PKCS12_CONTENT_TYPE)
    from_pem = parse_certificate_bundle(pem_bundle(pki.leaf, pki.chain), PEM_CONTENT_TYPE)

    expected = fingerprint_sha256(pki.leaf.certificate)
    assert from_pfx.fingerprint_sha256 == from_pem.fingerprint_sha256 == expected
    assert from_pfx.chain == from_pem.chain == (pki.intermediate.certificate,)
    assert from_pfx.subject_cn == FQDN
    assert from_pfx.san_dns_names == (FQDN,)
    assert from_pfx.not_after == pki.leaf.certificate.not_valid_after_utc


def test_fingerprint_is_uppercase_hex_sha256_without_colons() -> None:
    bundle = _pem(make_pki())

    assert len(bundle.fingerprint_sha256) == 64
    assert bundle.fingerprint_sha256 == bundle.fingerprint_sha256.upper()
    assert ":" not in bundle.fingerprint_sha256


def test_bundle_exports_pem_ready_for_the_sbc() -> None:
    pki = make_pki()
    bundle = _pem(pki)

    assert bundle.key_pem().startswith("-----BEGIN PRIVATE KEY-----")  # PKCS#8, unencrypted
    assert parse_pem_certificate(bundle.leaf_pem()) == pki.leaf.certificate
    assert x509.load_pem_x509_certificates(bundle.chain_pem().encode()) == list(pki.chain)
    reloaded = serialization.load_pem_private_key(bundle.key_pem().encode(), None)
    assert reloaded.public_key() == pki.leaf.key.public_key()


def test_bundle_repr_does_not_show_the_key() -> None:
    assert "key=" not in repr(_pem(make_pki()))


def test_chain_is_ordered_from_the_leaf_issuer_upwards() -> None:
    root = make_root_ca()
    upper = make_intermediate_ca(root, "Upper CA")
    lower = make_intermediate_ca(upper, "Lower CA")
    leaf = make_leaf(lower)
    shuffled = [root.certificate, upper.certificate, lower.certificate]

    bundle = parse_certificate_bundle(pem_bundle(leaf, shuffled), PEM_CONTENT_TYPE)

    assert bundle.chain == (lower.certificate, upper.certificate, root.certificate)


def test_pem_leaf_is_the_certificate_matching_the_key_wherever_it_sits() -> None:
    pki = make_pki()
    key_pem = pki.leaf.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    text = pki.intermediate.cert_pem + key_pem + pki.leaf.cert_pem

    bundle = parse_certificate_bundle(text, PEM_CONTENT_TYPE)

    assert bundle.leaf == pki.leaf.certificate
    assert bundle.chain == (pki.intermediate.certificate,)


def test_pkcs12_given_as_raw_der_bytes_parses() -> None:
    pki = make_pki()
    der = base64.b64decode(pkcs12_base64(pki.leaf, pki.chain))

    assert parse_certificate_bundle(der, PKCS12_CONTENT_TYPE).leaf == pki.leaf.certificate


def test_content_type_is_matched_case_insensitively_and_without_parameters() -> None:
    pki = make_pki()

    bundle = parse_certificate_bundle(pkcs12_base64(pki.leaf), "Application/X-PKCS12; v=1")

    assert bundle.leaf == pki.leaf.certificate


def test_password_protected_pkcs12_opens_with_its_password() -> None:
    pki = make_pki()
    value = pkcs12_base64(pki.leaf, pki.chain, password=b"s3cret")

    bundle = parse_certificate_bundle(value, PKCS12_CONTENT_TYPE, password=b"s3cret")

    assert bundle.leaf == pki.leaf.certificate


def test_pkcs12_without_password_opens_even_when_a_password_is_configured() -> None:
    pki = make_pki()

    bundle = parse_certificate_bundle(pkcs12_base64(pki.leaf), PKCS12_CONTENT_TYPE, b"unused")

    assert bundle.leaf == pki.leaf.certificate


def test_pem_key_without_password_opens_even_when_a_password_is_configured() -> None:
    pki = make_pki()

    bundle = parse_certificate_bundle(pem_bundle(pki.leaf), PEM_CONTENT_TYPE, b"unused")

    assert bundle.leaf == pki.leaf.certificate


def test_wrong_pkcs12_password_is_reported_as_a_password_problem() -> None:
    pki = make_pki()
    value = pkcs12_base64(pki.leaf, password=b"s3cret")

    with pytest.raises(BundleDecryptionFailed, match="password"):
        parse_certificate_bundle(value, PKCS12_CONTENT_TYPE, password=b"wrong")
    with pytest.raises(BundleDecryptionFailed, match="needs a password"):
        parse_certificate_bundle(value, PKCS12_CONTENT_TYPE)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("not base64 at all!", "not valid base64"),
        (base64.b64encode(b"\x30\x03\x02\x01\x03 trailing junk").decode(), "damaged"),
        (base64.b64encode(b"hello world, not a pfx").decode(), "damaged"),
    ],
)
def test_corrupted_pkcs12_is_a_clear_error(value: str, reason: str) -> None:
    with pytest.raises(CertificateBundleError, match=reason):
        parse_certificate_bundle(value, PKCS12_CONTENT_TYPE)


def test_truncated_pkcs12_is_reported_as_damaged() -> None:
    der = base64.b64decode(pkcs12_base64(make_pki().leaf))
    truncated = base64.b64encode(der[: len(der) // 2]).decode()

    with pytest.raises(CertificateBundleError, match="damaged") as caught:
        parse_certificate_bundle(truncated, PKCS12_CONTENT_TYPE)
    assert not isinstance(caught.value, BundleDecryptionFailed)


def test_pkcs12_with_flipped_bytes_inside_is_refused() -> None:
    der = bytearray(base64.b64decode(pkcs12_base64(make_pki().leaf, password=b"pw")))
    der[len(der) // 2] ^= 0xFF

    with pytest.raises(CertificateBundleError, match="damaged"):
        parse_certificate_bundle(base64.b64encode(der).decode(), PKCS12_CONTENT_TYPE, b"pw")


def test_unsupported_content_type_names_the_accepted_ones() -> None:
    with pytest.raises(CertificateBundleError, match="unsupported certificate content type") as e:
        parse_certificate_bundle("whatever", "application/json")
    assert PKCS12_CONTENT_TYPE in str(e.value)
    assert PEM_CONTENT_TYPE in str(e.value)


def test_pem_without_private_key_points_at_the_exportable_key_policy() -> None:
    pki = make_pki()

    with pytest.raises(CertificateBundleError, match="exportable"):
        parse_certificate_bundle(pki.leaf.cert_pem, PEM_CONTENT_TYPE)


def test_pkcs12_text_declared_as_pem_hints_at_the_content_type() -> None:
    value = pkcs12_base64(make_pki().leaf)

    with pytest.raises(CertificateBundleError, match="content type"):
        parse_certificate_bundle(value, PEM_CONTENT_TYPE)


def test_pem_with_two_keys_is_refused() -> None:
    pki = make_pki()
    text = pem_bundle(pki.leaf) + pem_bundle(pki.intermediate)

    with pytest.raises(CertificateBundleError, match="2 private keys"):
        parse_certificate_bundle(text, PEM_CONTENT_TYPE)


def test_damaged_pem_certificate_is_refused_without_echoing_the_key() -> None:
    pki = make_pki()
    text = pem_bundle(pki.leaf).replace(
        "-----BEGIN CERTIFICATE-----\n", "-----BEGIN CERTIFICATE-----\n!!"
    )

    with pytest.raises(CertificateBundleError, match="damaged") as caught:
        parse_certificate_bundle(text, PEM_CONTENT_TYPE)
    key_body = pem_bundle(pki.leaf).splitlines()[1]
    assert key_body not in str(caught.value)


def test_encrypted_pem_key_needs_the_right_password() -> None:
    pki = make_pki()
    text = pem_bundle(pki.leaf, password=b"s3cret")

    assert parse_certificate_bundle(text, PEM_CONTENT_TYPE, b"s3cret").leaf == pki.leaf.certificate
    with pytest.raises(BundleDecryptionFailed, match="no password"):
        parse_certificate_bundle(text, PEM_CONTENT_TYPE)
    with pytest.raises(BundleDecryptionFailed, match="wrong password"):
        parse_certificate_bundle(text, PEM_CONTENT_TYPE, b"wrong")


def test_empty_secret_value_is_refused() -> None:
    with pytest.raises(CertificateBundleError, match="empty"):
        parse_certificate_bundle("", PKCS12_CONTENT_TYPE)


# --- validation ---------------------------------------------------------------------------------


def test_valid_bundle_passes() -> None:
    pki = make_pki()

    _validate(_pem(pki), [pki.root.certificate])


def test_bundle_that_includes_its_root_passes() -> None:
    pki = make_pki()
    text = pem_bundle(pki.leaf, [pki.intermediate.certificate, pki.root.certificate])

    _validate(parse_certificate_bundle(text, PEM_CONTENT_TYPE), [pki.root.certificate])


def test_leaf_signed_directly_by_a_trusted_root_passes() -> None:
    root = make_root_ca()

    bundle = parse_certificate_bundle(pem_bundle(make_leaf(root)), PEM_CONTENT_TYPE)

    _validate(bundle, [root.certificate])


def test_expired_certificate_is_refused() -> None:
    pki = _leaf_window(-100, -5)

    with pytest.raises(CertificateExpired, match=r"expired on .* \(5 days ago\)") as caught:
        _validate(_pem(pki), [pki.root.certificate])
    assert caught.value.certificate.startswith(f"CN={FQDN} (")


def test_certificate_not_yet_valid_is_refused() -> None:
    pki = _leaf_window(3, 90)

    with pytest.raises(CertificateNotYetValid, match=r"is not valid until .* \(in 3 days\)"):
        _validate(_pem(pki), [pki.root.certificate])


def test_certificate_with_too_few_days_left_is_refused_with_the_numbers() -> None:
    pki = _leaf_window(-30, 5.5)
    bundle = _pem(pki)

    with pytest.raises(CertificateExpiresTooSoon) as caught:
        _validate(bundle, [pki.root.certificate], min_days_left=14)

    message = str(caught.value)
    assert message.startswith(f"certificate CN={FQDN} ({bundle.fingerprint_sha256[:8]}…)")
    assert "expires in 5 days" in message
    assert "rotation needs at least 14" in message


def test_certificate_with_exactly_the_minimum_days_left_passes() -> None:
    pki = _leaf_window(-30, 14.5)

    _validate(_pem(pki), [pki.root.certificate], min_days_left=14)


def test_certificate_whose_san_misses_the_sbc_fqdn_is_refused() -> None:
    pki = make_pki(sans=["sbc2.example.com", "sbc3.example.com"])

    with pytest.raises(SanMismatch, match=r"does not cover sbc1\.example\.com") as caught:
        _validate(_pem(pki), [pki.root.certificate])
    assert "sbc2.example.com, sbc3.example.com" in str(caught.value)


def test_cn_is_not_used_when_sans_exist() -> None:
    root = make_root_ca()
    leaf = make_leaf(root, common_name=FQDN, sans=["other.example.com"])

    with pytest.raises(SanMismatch):
        _validate(parse_certificate_bundle(pem_bundle(leaf), PEM_CONTENT_TYPE), [root.certificate])


def test_certificate_without_san_is_refused_even_if_its_cn_matches() -> None:
    root = make_root_ca()
    leaf = make_leaf(root, common_name=FQDN, sans=())

    with pytest.raises(SanMismatch, match="no DNS names"):
        _validate(parse_certificate_bundle(pem_bundle(leaf), PEM_CONTENT_TYPE), [root.certificate])


@pytest.mark.parametrize(
    ("san", "fqdn", "covered"),
    [
        ("*.example.com", "sbc1.example.com", True),
        ("*.example.com", "SBC1.Example.COM.", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.sbc.example.com", "eu.sbc.example.com", True),
        ("sbc*.example.com", "sbc1.example.com", False),
        ("*.com", "example.com", False),
        ("a.*.example.com", "a.b.example.com", False),
        ("sbc1.example.com", "sbc1.example.com", True),
        ("sbc1.example.com", "sbc1.example.com.evil.net", False),
    ],
)
def test_wildcard_rules_follow_rfc_6125(san: str, fqdn: str, covered: bool) -> None:
    assert san_covers(san, fqdn) is covered


def test_wildcard_certificate_serves_an_sbc_one_level_below() -> None:
    pki = make_pki(sans=["*.example.com"])

    _validate(_pem(pki), [pki.root.certificate], fqdn="sbc7.example.com")
    with pytest.raises(SanMismatch):
        _validate(_pem(pki), [pki.root.certificate], fqdn="eu.sbc7.example.com")


def test_key_that_does_not_match_the_leaf_is_refused() -> None:
    pki = make_pki()
    text = pem_bundle(pki.leaf, pki.chain, key=new_private_key())

    with pytest.raises(KeyMismatch, match="does not match the private key"):
        _validate(parse_certificate_bundle(text, PEM_CONTENT_TYPE), [pki.root.certificate])


def test_missing_intermediate_is_refused_naming_the_absent_issuer() -> None:
    pki = make_pki()
    bundle = parse_certificate_bundle(pem_bundle(pki.leaf), PEM_CONTENT_TYPE)

    with pytest.raises(ChainIncomplete, match=r"byoc Test Intermediate CA.*merge the full chain"):
        _validate(bundle, [pki.root.certificate])


def test_self_signed_leaf_is_not_trusted() -> None:
    leaf = make_leaf(None)
    other_root = make_root_ca()

    with pytest.raises(ChainIncomplete, match="self-signed"):
        _validate(
            parse_certificate_bundle(pem_bundle(leaf), PEM_CONTENT_TYPE), [other_root.certificate]
        )


def test_chain_check_without_trusted_roots_says_so() -> None:
    with pytest.raises(ChainIncomplete, match="no trusted roots are configured"):
        _validate(_pem(make_pki()), [])


def test_intermediate_with_the_right_name_but_wrong_key_is_refused() -> None:
    pki = make_pki()
    impostor = make_intermediate_ca(pki.root)  # same name, other key
    text = pem_bundle(pki.leaf, [impostor.certificate])

    with pytest.raises(ChainIncomplete, match="signature does not verify"):
        _validate(parse_certificate_bundle(text, PEM_CONTENT_TYPE), [pki.root.certificate])


def test_root_with_the_right_name_but_wrong_key_is_not_trusted() -> None:
    pki = make_pki()
    lookalike_root = make_root_ca()  # same name as the real root, other key

    with pytest.raises(ChainIncomplete):
        _validate(_pem(pki), [lookalike_root.certificate])


def test_bundled_root_that_is_not_trusted_does_not_make_the_chain_trusted() -> None:
    pki = make_pki()
    text = pem_bundle(pki.leaf, [pki.intermediate.certificate, pki.root.certificate])

    with pytest.raises(ChainIncomplete, match="self-signed and not one of the 1 trusted root"):
        _validate(
            parse_certificate_bundle(text, PEM_CONTENT_TYPE), [make_root_ca("Other").certificate]
        )


def test_expired_intermediate_is_refused_by_name() -> None:
    root = make_root_ca()
    old = make_intermediate_ca(
        root, "Old CA", not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=2)
    )
    leaf = make_leaf(old)

    with pytest.raises(CertificateExpired, match=r"CN=Old CA .*intermediate above CN=sbc1"):
        _validate(
            parse_certificate_bundle(pem_bundle(leaf, [old.certificate]), PEM_CONTENT_TYPE),
            [root.certificate],
        )


def test_rsa_1024_key_is_refused() -> None:
    root = make_root_ca()
    leaf = make_leaf(root, key_type="rsa", key_size=1024)

    with pytest.raises(UnsupportedKey, match=r"has a RSA-1024 key; the SBC's TLS peers accept "
                                             r"RSA-2048, RSA-3072, RSA-4096"):
        _validate(parse_certificate_bundle(pem_bundle(leaf), PEM_CONTENT_TYPE), [root.certificate])


def test_rsa_2048_key_is_accepted() -> None:
    root = make_root_ca()
    leaf = make_leaf(root, key_type="rsa", key_size=2048)

    _validate(
        parse_certificate_bundle(pkcs12_base64(leaf), PKCS12_CONTENT_TYPE), [root.certificate]
    )


@pytest.mark.parametrize(("key_size", "name"), [(256, "EC-P256"), (384, "EC-P384")])
def test_ec_key_is_refused_by_default_naming_the_genesys_requirement(key_size: int,
                                                                     name: str) -> None:
    root = make_root_ca()
    leaf = make_leaf(root, key_type="ec", key_size=key_size)

    with pytest.raises(UnsupportedKey, match=rf"has a {name} key; Genesys BYOC Cloud speaks TLS 1.2 "
                                             r"with RSA-authenticated cipher suites only.*"
                                             r"help.mypurecloud.com/\?p=197875.*RSA key of 2048"):
        _validate(parse_certificate_bundle(pem_bundle(leaf), PEM_CONTENT_TYPE), [root.certificate])


def test_ec_key_is_accepted_where_the_setting_allows_ec() -> None:
    root = make_root_ca()
    leaf = make_leaf(root, key_type="ec", key_size=384)

    validate_bundle(
        parse_certificate_bundle(pem_bundle(leaf), PEM_CONTENT_TYPE), fqdn=FQDN, now=NOW,
        min_days_left=14, trusted_roots=[root.certificate],
        allowed_key_types=allowed_key_types(allow_ec=True),
    )


@pytest.mark.parametrize(
    ("key_type", "key_size", "name"), [("ec", 521, "EC-secp521r1"), ("ed25519", 0, "Ed25519")]
)
def test_other_key_types_are_refused(key_type: KeyKind, key_size: int, name: str) -> None:
    root = make_root_ca()
    leaf = make_leaf(root, key_type=key_type, key_size=key_size)

    with pytest.raises(UnsupportedKey, match=f"has a {name} key"):
        validate_bundle(
            parse_certificate_bundle(pem_bundle(leaf), PEM_CONTENT_TYPE), fqdn=FQDN, now=NOW,
            min_days_left=14, trusted_roots=[root.certificate],
            allowed_key_types=allowed_key_types(allow_ec=True),
        )


def test_allowed_key_types_can_be_narrowed() -> None:
    pki = make_pki()

    with pytest.raises(UnsupportedKey, match="RSA-2048"):
        validate_bundle(
            _pem(pki),
            fqdn=FQDN,
            now=NOW,
            min_days_left=14,
            trusted_roots=[pki.root.certificate],
            allowed_key_types={"RSA-3072", "RSA-4096"},
        )


# --- the path, as the validator (cryptography.x509.verification) sees it -----------------------


def test_leaf_without_server_auth_is_refused() -> None:
    pki = make_pki()
    leaf = make_leaf(pki.intermediate, usages=[ExtendedKeyUsageOID.CLIENT_AUTH])

    with pytest.raises(NoServerAuth, match="extended key usage is clientAuth, without serverAuth"):
        _validate(parse_certificate_bundle(pem_bundle(leaf, pki.chain), PEM_CONTENT_TYPE),
                  [pki.root.certificate])


def test_leaf_without_any_extended_key_usage_is_refused() -> None:
    pki = make_pki()
    leaf = make_leaf(pki.intermediate, usages=None)

    with pytest.raises(NoServerAuth, match="has no extended key usage"):
        _validate(parse_certificate_bundle(pem_bundle(leaf, pki.chain), PEM_CONTENT_TYPE),
                  [pki.root.certificate])


def test_unknown_critical_extension_is_refused() -> None:
    pki = make_pki()
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.7"), b"\x05\x00")
    leaf = make_leaf(pki.intermediate, extra=[(odd, True)])

    with pytest.raises(UnknownCriticalExtension, match=r"critical extension 1.3.6.1.4.1.55555.7"):
        _validate(parse_certificate_bundle(pem_bundle(leaf, pki.chain), PEM_CONTENT_TYPE),
                  [pki.root.certificate])


def test_unknown_non_critical_extension_is_fine() -> None:
    pki = make_pki()
    odd = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.7"), b"\x05\x00")
    leaf = make_leaf(pki.intermediate, extra=[(odd, False)])

    _validate(parse_certificate_bundle(pem_bundle(leaf, pki.chain), PEM_CONTENT_TYPE),
              [pki.root.certificate])


def test_leaf_issued_by_a_non_ca_certificate_is_refused() -> None:
    pki = make_pki()
    leaf = make_leaf(pki.leaf, sans=[FQDN])  # signed by another server certificate

    with pytest.raises(IssuerNotCa, match=r"is issued by CN=sbc1.example.com .* which is not a CA"):
        _validate(parse_certificate_bundle(
            pem_bundle(leaf, [pki.leaf.certificate, *pki.chain]), PEM_CONTENT_TYPE,
        ), [pki.root.certificate])


def test_chain_to_a_private_root_is_refused_as_untrusted() -> None:
    private = make_pki()
    public_root = make_root_ca("Public Root")
    text = pem_bundle(private.leaf, [private.intermediate.certificate, private.root.certificate])

    with pytest.raises(UntrustedRoot, match=r"self-signed and not one of the 1 trusted root.*public CA"):
        _validate(parse_certificate_bundle(text, PEM_CONTENT_TYPE), [public_root.certificate])


def test_verified_path_is_leaf_intermediate_root() -> None:
    pki = make_pki()

    path = verified_path(_pem(pki), fqdn=FQDN, now=NOW, trusted_roots=[pki.root.certificate])

    assert [fingerprint_sha256(c) for c in path] == [
        fingerprint_sha256(c.certificate) for c in (pki.leaf, pki.intermediate, pki.root)
    ]


def test_all_problems_are_listed_together() -> None:
    pki = make_pki(
        sans=["other.example.com"],
        not_before=NOW - timedelta(days=60),
        not_after=NOW - timedelta(days=1),
    )
    text = pem_bundle(pki.leaf, key=new_private_key())

    problems = find_certificate_problems(
        parse_certificate_bundle(text, PEM_CONTENT_TYPE),
        fqdn=FQDN,
        now=NOW,
        min_days_left=14,
        trusted_roots=[pki.root.certificate],
    )

    kinds = [type(problem) for problem in problems]
    assert kinds == [KeyMismatch, CertificateExpired, SanMismatch, ChainIncomplete]
    assert all(isinstance(problem, CertificateInvalid) for problem in problems)


def test_naive_now_is_a_programming_error() -> None:
    pki = make_pki()

    with pytest.raises(ValueError, match="timezone-aware"):
        _validate(_pem(pki), [pki.root.certificate], now=NOW.replace(tzinfo=None))


# --- expiry warnings ----------------------------------------------------------------------------


def test_days_left_counts_whole_days_and_goes_negative_once_expired() -> None:
    cert = _leaf_window(-10, 5.9).leaf.certificate

    assert days_left(cert, NOW) == 5
    assert days_left(cert, NOW + timedelta(days=6)) == -1


@pytest.mark.parametrize(
    ("left", "level"),
    [
        (90, None),
        (31, None),
        (30, 30),
        (15, 30),
        (14, 14),
        (8, 14),
        (7, 7),
        (1, 7),
        (0, 7),
        (-3, 7),
    ],
)
def test_expiry_warnings_at_30_14_and_7_days(left: int, level: int | None) -> None:
    assert expiry_warning_level(left) == level
