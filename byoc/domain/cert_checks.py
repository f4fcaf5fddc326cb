"""The checks a certificate bundle passes before an SBC upload: validity dates and days left, key
type, the SAN covering the SBC's FQDN, and a chain a peer accepts (built and verified with
`cryptography`'s X.509 verifier against trusted roots), each failure explained."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from byoc.domain.certs import (
    DEFAULT_ALLOWED_KEY_TYPES,
    EC_KEY_TYPES,
    EXPIRY_WARNING_DAYS,
    GENESYS_KEY_REQUIREMENT,
    GENESYS_TLS_SOURCE,
    CertificateBundle,
    CertificateExpired,
    CertificateExpiresTooSoon,
    CertificateInvalid,
    CertificateNotYetValid,
    ChainIncomplete,
    ChainRejected,
    IssuerNotCa,
    KeyMismatch,
    KeyType,
    NoServerAuth,
    SanMismatch,
    UnknownCriticalExtension,
    UnsupportedKey,
    UntrustedRoot,
    certificate_label,
    key_type_name,
    public_key_der,
    san_dns_names,
    signed_by,
)

_MAX_NAMES_IN_MESSAGE = 8


def validate_bundle(
    bundle: CertificateBundle,
    *,
    fqdn: str,
    now: datetime,
    min_days_left: int,
    trusted_roots: Sequence[x509.Certificate],
    allowed_key_types: Collection[str] = DEFAULT_ALLOWED_KEY_TYPES,
) -> None:
    """Raise the first `CertificateInvalid` that makes the bundle unfit for the SBC serving `fqdn`.

    Checks, in order: key matches leaf, key type (RSA ≥ 2048 unless `allowed_key_types` says
    otherwise), validity dates and days left, SAN covers `fqdn`, then the path to a trusted root
    as `cryptography.x509.verification` validates it for `fqdn` (serverAuth EKU, critical
    extensions, CA issuers, validity, name), with a diagnosis naming the problem.
    """
    problems = find_certificate_problems(
        bundle,
        fqdn=fqdn,
        now=now,
        min_days_left=min_days_left,
        trusted_roots=trusted_roots,
        allowed_key_types=allowed_key_types,
    )
    if problems:
        raise problems[0]


def find_certificate_problems(
    bundle: CertificateBundle,
    *,
    fqdn: str,
    now: datetime,
    min_days_left: int,
    trusted_roots: Sequence[x509.Certificate],
    allowed_key_types: Collection[str] = DEFAULT_ALLOWED_KEY_TYPES,
) -> list[CertificateInvalid]:
    """Every reason the bundle is unfit, in `validate_bundle`'s order (empty when it is fit)."""
    _require_aware(now)
    if min_days_left < 0:
        raise ValueError(f"min_days_left must be 0 or more, not {min_days_left}")
    if not fqdn.strip() or "*" in fqdn:
        raise ValueError(f"fqdn must be a concrete host name, not {fqdn!r}")
    leaf = bundle.leaf
    label = certificate_label(leaf)
    problems: list[CertificateInvalid] = []

    if public_key_der(bundle.key.public_key()) != public_key_der(leaf.public_key()):
        problems.append(
            KeyMismatch(
                label,
                "does not match the private key in the bundle; the key belongs to another "
                "certificate (re-import the certificate with its own key)",
            )
        )

    key_type = key_type_name(leaf.public_key())
    if not _key_allowed(leaf.public_key(), key_type, allowed_key_types):
        problems.append(UnsupportedKey(label, _key_problem(key_type, allowed_key_types)))

    date_problem = _validity_problem(leaf, now, label)
    if date_problem is not None:
        problems.append(date_problem)
    else:
        left = days_left(leaf, now)
        if left < min_days_left:
            problems.append(
                CertificateExpiresTooSoon(
                    label,
                    f"expires in {_duration(leaf.not_valid_after_utc - now)} "
                    f"({_when(leaf.not_valid_after_utc)}); rotation "
                    f"needs at least {min_days_left}; renew it in Key Vault first",
                )
            )

    san_problem = _san_problem(leaf, fqdn, label)
    if san_problem is not None:
        problems.append(san_problem)

    problems.extend(_chain_problems(bundle, fqdn if san_problem is None else None, now,
                                    trusted_roots, label))
    return problems


def verified_path(
    bundle: CertificateBundle,
    *,
    fqdn: str,
    now: datetime,
    trusted_roots: Sequence[x509.Certificate],
) -> tuple[x509.Certificate, ...]:
    """The path the validator builds for `fqdn`: leaf, intermediates, trusted root.

    Raises `VerificationError` when there is none (`find_certificate_problems` says why).
    """
    verifier = (
        PolicyBuilder()
        .store(Store(list(trusted_roots)))
        .time(now)
        .extension_policies(ee_policy=_EE_POLICY, ca_policy=ExtensionPolicy.webpki_defaults_ca())
        .build_server_verifier(x509.DNSName(fqdn))
    )
    return tuple(verifier.verify(bundle.leaf, list(bundle.chain)))


def days_left(cert: x509.Certificate, now: datetime) -> int:
    """Whole days until notAfter, rounded down; negative once expired."""
    _require_aware(now)
    return (cert.not_valid_after_utc - now) // timedelta(days=1)


def expiry_warning_level(days_left: int) -> int | None:
    """The most urgent threshold of `EXPIRY_WARNING_DAYS` reached (30, 14 or 7), else None.

    Expired certificates (negative days) are at level 7 too; `CertificateExpired` reports them.
    """
    for threshold in sorted(EXPIRY_WARNING_DAYS):
        if days_left <= threshold:
            return threshold
    return None


def san_covers(san_dns_name: str, fqdn: str) -> bool:
    """Whether one SAN DNS name covers `fqdn` (RFC 6125 §6.4.3).

    Case and a trailing dot are ignored. A wildcard counts only as the whole leftmost label and
    stands for exactly one label: `*.example.com` covers `a.example.com`, not `example.com` nor
    `a.b.example.com`. Partial wildcards (`f*.example.com`) and `*.<tld>` cover nothing.
    """
    pattern = san_dns_name.strip().rstrip(".").lower()
    host = fqdn.strip().rstrip(".").lower()
    if not pattern or not host:
        return False
    if pattern.startswith("*."):
        suffix = pattern[2:]
        if "*" in suffix or "." not in suffix:
            return False
        first, dot, rest = host.partition(".")
        return bool(dot) and bool(first) and rest == suffix
    return "*" not in pattern and pattern == host


def _validity_problem(
    cert: x509.Certificate, now: datetime, label: str, role: str = ""
) -> CertificateInvalid | None:
    start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
    if now < start:
        return CertificateNotYetValid(
            label,
            f"{role}is not valid until {_when(start)} (in {_duration(start - now)}); "
            "use a version that is already valid, or check the clock",
        )
    if now > end:
        return CertificateExpired(
            label,
            f"{role}expired on {_when(end)} ({_duration(now - end)} ago); "
            "put a renewed certificate in Key Vault",
        )
    return None


def _san_problem(leaf: x509.Certificate, fqdn: str, label: str) -> SanMismatch | None:
    names = san_dns_names(leaf)
    if not names:
        return SanMismatch(
            label,
            f"has no DNS names in its Subject Alternative Name, so it cannot serve {fqdn} "
            "(TLS peers ignore the CN); reissue it with the SBC name in the SAN",
        )
    if any(san_covers(name, fqdn) for name in names):
        return None
    shown = ", ".join(names[:_MAX_NAMES_IN_MESSAGE])
    if len(names) > _MAX_NAMES_IN_MESSAGE:
        shown += f" and {len(names) - _MAX_NAMES_IN_MESSAGE} more"
    return SanMismatch(
        label,
        f"does not cover {fqdn}: its SAN DNS names are {shown}; reissue it with {fqdn} "
        "(or a wildcard one level above it) in the SAN",
    )


def _key_allowed(public_key: CertificatePublicKeyTypes, key_type: str, allowed: Collection[str]) -> bool:
    if key_type in allowed:
        return True
    big_rsa = isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048
    return big_rsa and KeyType.RSA_2048 in allowed


def _key_problem(key_type: str, allowed: Collection[str]) -> str:
    if key_type.startswith("EC-") and not set(allowed) & EC_KEY_TYPES:
        return (
            f"has a {key_type} key; {GENESYS_KEY_REQUIREMENT}. Reissue it with an RSA key of 2048 "
            "bits or more (only where no Genesys leg uses TLS may BYOC_CERT_ALLOW_EC=true accept "
            "EC P-256/P-384)"
        )
    return (
        f"has a {key_type} key; the SBC's TLS peers accept {', '.join(sorted(allowed))} "
        f"({GENESYS_TLS_SOURCE}); reissue it with one of those"
    )


def _require_server_auth(policy: object, cert: x509.Certificate, eku: x509.ExtendedKeyUsage) -> None:
    if ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        raise ValueError("the extended key usage does not include serverAuth")


# CA/Browser Forum Baseline Requirements 7.1.2.7.10: a publicly trusted TLS server certificate
# carries an extended key usage with id-kp-serverAuth; RFC 5280 alone would accept none at all.
_EE_POLICY = ExtensionPolicy.webpki_defaults_ee().require_present(
    x509.ExtendedKeyUsage, Criticality.AGNOSTIC, _require_server_auth
)

_EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}

_KNOWN_EXTENSIONS = frozenset({
    ExtensionOID.BASIC_CONSTRAINTS, ExtensionOID.KEY_USAGE, ExtensionOID.EXTENDED_KEY_USAGE,
    ExtensionOID.SUBJECT_ALTERNATIVE_NAME, ExtensionOID.NAME_CONSTRAINTS,
    ExtensionOID.POLICY_CONSTRAINTS, ExtensionOID.CERTIFICATE_POLICIES,
    ExtensionOID.INHIBIT_ANY_POLICY, ExtensionOID.POLICY_MAPPINGS,
    ExtensionOID.SUBJECT_KEY_IDENTIFIER, ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    ExtensionOID.AUTHORITY_INFORMATION_ACCESS, ExtensionOID.CRL_DISTRIBUTION_POINTS,
    ExtensionOID.PRECERT_SIGNED_CERTIFICATE_TIMESTAMPS,
})


def _chain_problems(
    bundle: CertificateBundle,
    fqdn: str | None,
    now: datetime,
    trusted_roots: Sequence[x509.Certificate],
    label: str,
) -> list[CertificateInvalid]:
    """The validator's verdict on the path; our own diagnosis names the problem when it can.

    The leaf's own dates and name are reported elsewhere, so the path is validated within the
    leaf's validity and for a name the leaf covers (`fqdn` is None when it covers none).
    """
    if not trusted_roots:
        return [ChainIncomplete(
            label, "cannot be chained: no trusted roots are configured (BYOC_CERT_TRUST_BUNDLE)"
        )]
    leaf = bundle.leaf
    at = min(max(now, leaf.not_valid_before_utc), leaf.not_valid_after_utc)
    name = fqdn or _a_covered_name(leaf)
    try:
        verified_path(bundle, fqdn=name or "invalid.invalid", now=at, trusted_roots=trusted_roots)
        return []
    except VerificationError as exc:
        verdict = str(exc)
    diagnosis = _diagnose(bundle, now, trusted_roots, label)
    if diagnosis is not None:
        return [diagnosis]
    if name is None or "subjectAltName" in verdict:
        return []  # the SAN problem is already reported
    return [ChainRejected(label, f"is refused by the path validator: {_short(verdict)}")]


def _diagnose(
    bundle: CertificateBundle,
    now: datetime,
    trusted_roots: Sequence[x509.Certificate],
    label: str,
) -> CertificateInvalid | None:
    """Why a TLS client would refuse the path, in words a person can act on (None: unknown)."""
    leaf = bundle.leaf
    for cert in (leaf, *bundle.chain):
        unknown = [e.oid for e in cert.extensions if e.critical and e.oid not in _KNOWN_EXTENSIONS]
        if unknown:
            names = ", ".join(oid.dotted_string for oid in unknown)
            where = "" if cert is leaf else f"(at {certificate_label(cert)}) "
            return UnknownCriticalExtension(
                label,
                f"{where}carries critical extension {names} that TLS clients do not know, so they "
                "must reject it (RFC 5280 4.2); reissue it without that extension",
            )
    try:
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return NoServerAuth(
            label,
            "has no extended key usage; a publicly trusted TLS server certificate carries "
            "serverAuth (CA/Browser Forum Baseline Requirements 7.1.2.7.10); reissue it as a TLS "
            "server certificate",
        )
    if ExtendedKeyUsageOID.SERVER_AUTH not in eku:
        usages = ", ".join(_EKU_NAMES.get(oid, oid.dotted_string) for oid in eku) or "empty"
        return NoServerAuth(
            label,
            f"is not for TLS servers: its extended key usage is {usages}, without serverAuth, so "
            "Genesys and Twilio reject it; reissue it as a TLS server certificate",
        )
    unused = list(bundle.chain)
    current = leaf
    for _ in range(len(bundle.chain) + 1):
        if any(signed_by(current, root) for root in trusted_roots):
            return None
        issuer = next((cert for cert in unused if signed_by(current, cert)), None)
        if issuer is None:
            return _missing_link(current, bundle, trusted_roots, label)
        if not _is_ca(issuer):
            return IssuerNotCa(
                label,
                f"{'' if current is leaf else f'(at {certificate_label(current)}) '}is issued by "
                f"{certificate_label(issuer)}, which is not a CA (its basicConstraints do not say "
                "cA), so TLS clients reject the chain; use a certificate issued by a CA",
            )
        role = f"(intermediate above {label}) "
        date_problem = _validity_problem(issuer, now, certificate_label(issuer), role)
        if date_problem is not None:
            return date_problem
        unused.remove(issuer)
        current = issuer
    return None


def _missing_link(
    current: x509.Certificate,
    bundle: CertificateBundle,
    trusted_roots: Sequence[x509.Certificate],
    label: str,
) -> CertificateInvalid:
    where = "" if current is bundle.leaf else f"at {certificate_label(current)}: "
    roots = f"{len(trusted_roots)} trusted root{'' if len(trusted_roots) == 1 else 's'}"
    issuer = current.issuer.rfc4514_string()
    if current.issuer == current.subject:
        return UntrustedRoot(
            label,
            f"has an untrusted chain: {where}self-signed and not one of the {roots} "
            "(BYOC_CERT_TRUST_BUNDLE); Genesys and Twilio accept only certificates from a public "
            "CA, so use a certificate issued by one",
        )
    same_name = [
        certificate_label(cert)
        for cert in [*bundle.chain, *trusted_roots]
        if cert.subject == current.issuer
    ]
    if same_name:
        return ChainIncomplete(
            label,
            f"has an incomplete chain: {where}issuer {issuer} is present as "
            f"{', '.join(same_name)} but its signature does not verify (wrong CA version?); "
            "import the intermediate that actually issued it",
        )
    return ChainIncomplete(
        label,
        f"has an incomplete chain: {where}issuer {issuer} is neither in the bundle nor among the "
        f"{roots}; merge the full chain into the Key Vault certificate (a private CA is not "
        "publicly trusted: Genesys and Twilio refuse it)",
    )


def _a_covered_name(leaf: x509.Certificate) -> str | None:
    for name in san_dns_names(leaf):
        concrete = "a." + name[2:] if name.startswith("*.") else name
        if "*" not in concrete and "." in concrete:
            return concrete
    return None


def _short(text: str) -> str:
    return text.split(" (encountered processing", 1)[0]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (use datetime.now(UTC))")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _duration(span: timedelta) -> str:
    days = span // timedelta(days=1)
    if days >= 1:
        return f"{days} day{'' if days == 1 else 's'}"
    hours = span // timedelta(hours=1)
    if hours >= 1:
        return f"{hours} hour{'' if hours == 1 else 's'}"
    return "less than an hour"

