"""Key Vault emulator: secrets, and certificates exposed as secrets, over HTTPS.

What `azure-keyvault-secrets` 4.12.0 needs: the challenge (a request without a bearer token gets
401 + `WWW-Authenticate: Bearer authorization="https://login.microsoftonline.com/<tenant>",
resource="https://vault.azure.net"`), then the seed's bearer token on every call, and `api-version`.

Secrets: `GET /secrets/{name}/` (current version; also without the slash), `GET
/secrets/{name}/{version}`, `GET /secrets/{name}/versions` and `GET /secrets` (paged, `maxresults`
1–25, `nextLink`; version order is unspecified, as in the service: sort by `attributes.created`),
`PUT /secrets/{name}` (a new version), `PATCH /secrets/{name}/{version}` (attributes, content type,
tags). A disabled version answers 403 `Forbidden` (inner `SecretDisabled`).

Certificates: each version of each certificate is a managed secret version with the same name and
version id: `managed: true`, `kid`, `contentType` `application/x-pkcs12` (base64 PFX, no password)
or `application/x-pem-file` (key, leaf, chain) as the seed says; `outContentType` converts.
`GET /certificates/{name}[/{version}]` and `/certificates/{name}/versions` give the public part.

`POST /_sandbox/keyvault/new-certificate-version` issues a new version from the sandbox CA (needs
the `pki` the launcher passes): `{"name", "days"?, "dns_names"?, "expired"?, "wrong_san"?,
"key_mismatch"?}`. `POST /_sandbox/keyvault/set-enabled` `{"name", "version", "enabled"}` enables or
disables any version (certificate versions included).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.core import Emulator, json_error, parse_json_body
from sandbox.pki import KEY_TYPES, IssuedCertificate, new_leaf_key

if TYPE_CHECKING:
    from sandbox.pki import SandboxPki

DEFAULT_TOKEN = "sandbox-azure-token"
DEFAULT_TENANT = "00000000-0000-0000-0000-000000000000"
PKCS12 = "application/x-pkcs12"
PEM = "application/x-pem-file"
MAX_PAGE = 25
MAX_VALUE_BYTES = 25 * 1024
_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")
_API_VERSION = re.compile(r"^(\d+\.\d+|\d{4}-\d{2}-\d{2})(-preview(\.\d+)?)?$")
_DAY = 86400
_NOT_FOUND_HELP = (
    "If you recently deleted this {kind} you may be able to recover it using the correct recovery "
    "command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182"
)


class KeyVaultError(Exception):
    """A Key Vault error response: `{"error": {"code", "message", "innererror"?}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        inner: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.inner = inner
        self.headers = headers or {}

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.inner:
            error["innererror"] = {"code": self.inner}
        return json_error(self.status, {"error": error}, self.headers)


def _bad(message: str) -> KeyVaultError:
    return KeyVaultError(400, "BadParameter", message)


def _check_properties(attrs: Any, tags: Any) -> None:
    """Refuse `attributes` / `tags` of the wrong shape, as the service's model binding does."""
    if not isinstance(attrs, dict) or not isinstance(tags, dict):
        raise _bad("'attributes' and 'tags' must be JSON objects.")
    for key in ("nbf", "exp"):
        value = attrs.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _bad(f"attributes.{key} must be a Unix time in seconds, got {value!r}.")
    if "enabled" in attrs and not isinstance(attrs["enabled"], bool):
        raise _bad(f"attributes.enabled must be true or false, got {attrs['enabled']!r}.")


@dataclass
class SecretVersion:
    version: str
    value: str
    content_type: str | None
    created: int
    enabled: bool = True
    updated: int = 0
    nbf: int | None = None
    exp: int | None = None
    tags: dict[str, str] = field(default_factory=dict)
    certificate: IssuedCertificate | None = None


@dataclass
class Secret:
    name: str
    managed: bool
    versions: list[SecretVersion] = field(default_factory=list)
    content_type: str | None = None  # certificates: the policy's content type for new versions

    @property
    def current(self) -> SecretVersion:
        return self.versions[-1]

    def find(self, version: str) -> SecretVersion | None:
        return next((v for v in self.versions if v.version == version.lower()), None)


def _new_version_id() -> str:
    return uuid.uuid4().hex


def _key_matches(issued: IssuedCertificate) -> bool:
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    return bool(
        issued.key.public_key().public_bytes(der, spki)
        == issued.cert.public_key().public_bytes(der, spki)
    )


# A PFX whose key does not belong to its certificate (no tool, Key Vault included, would make one:
# cryptography refuses). Built by hand, unencrypted and without a MAC, which PKCS#12 readers accept
# with an empty password.
def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    raw = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(raw)]) + raw + body


def _oid(dotted: str) -> bytes:
    first, second, *rest = (int(p) for p in dotted.split("."))
    out = bytearray([first * 40 + second])
    for value in rest:
        chunk = [value & 0x7F]
        value >>= 7
        while value:
            chunk.append(0x80 | (value & 0x7F))
            value >>= 7
        out += bytes(reversed(chunk))
    return _der(0x06, bytes(out))


def _data(content: bytes) -> bytes:
    return _der(0x30, _oid("1.2.840.113549.1.7.1") + _der(0xA0, _der(0x04, content)))


def _mismatched_pfx(issued: IssuedCertificate) -> bytes:
    key = issued.key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_bag = _der(0x30, _oid("1.2.840.113549.1.12.10.1.1") + _der(0xA0, key))
    cert_bags = b"".join(
        _der(
            0x30,
            _oid("1.2.840.113549.1.12.10.1.3")
            + _der(
                0xA0,
                _der(
                    0x30,
                    _oid("1.2.840.113549.1.9.22.1")
                    + _der(0xA0, _der(0x04, c.public_bytes(serialization.Encoding.DER))),
                ),
            ),
        )
        for c in (issued.cert, *issued.chain)
    )
    safe = _der(0x30, _data(_der(0x30, cert_bags)) + _data(_der(0x30, key_bag)))
    return _der(0x30, _der(0x02, b"\x03") + _data(safe))


def render_certificate(issued: IssuedCertificate, content_type: str) -> str:
    """The secret value Key Vault returns for a certificate version in `content_type`."""
    if content_type == PEM:
        return issued.pem_bundle()
    pfx = issued.pkcs12() if _key_matches(issued) else _mismatched_pfx(issued)
    return base64.b64encode(pfx).decode("ascii")


def _x5t(cert: x509.Certificate) -> str:
    """The certificate's `x5t`: base64url of its SHA-1 thumbprint, as Key Vault defines it."""
    digest = cert.fingerprint(hashes.SHA1())  # noqa: S303
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def _skiptoken(offset: int) -> str:
    return base64.urlsafe_b64encode(str(offset).encode()).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode())
    except (ValueError, binascii.Error):
        raise _bad(f"The skip token '{token}' is not valid.") from None


class KeyVaultEmulator(Emulator):
    """One vault: plain secrets from the seed, certificates (as managed secrets) from the PKI."""

    name = "keyvault"

    def __init__(
        self,
        seed: dict[str, Any],
        *,
        certificates: dict[str, list[IssuedCertificate]],
        pki: SandboxPki | None = None,
    ) -> None:
        # Copied: versions issued at runtime stay here and a reset drops them.
        self._issued = {name: list(versions) for name, versions in certificates.items()}
        self.pki = pki
        super().__init__(seed)

    def reset(self) -> None:
        seed = self.seed or {}
        self.token = str(seed.get("token") or DEFAULT_TOKEN)
        self.tenant_id = str(seed.get("tenant_id") or DEFAULT_TENANT)
        self.secrets: dict[str, Secret] = {}
        now = int(time.time())
        for name, spec in (seed.get("secrets") or {}).items():
            raw_versions: list[dict[str, Any]] = (
                list(spec.get("versions") or []) if isinstance(spec, dict) else [{"value": spec}]
            )
            secret = Secret(name=str(name), managed=False)
            for i, raw in enumerate(raw_versions):
                created = now - (len(raw_versions) - i) * _DAY
                secret.versions.append(
                    SecretVersion(
                        version=_new_version_id(),
                        value=str(raw["value"]),
                        content_type=raw.get("content_type"),
                        created=created,
                        updated=created,
                        enabled=bool(raw.get("enabled", True)),
                    )
                )
            self._add(secret)
        cert_seed: dict[str, Any] = seed.get("certificates") or {}
        for name, issued_versions in self._issued.items():
            spec = cert_seed.get(name) or {}
            content_type = str(spec.get("content_type", PKCS12))
            if content_type not in (PKCS12, PEM):
                raise ValueError(
                    f"keyvault seed: certificate {name}: content_type must be {PKCS12} or {PEM}"
                )
            disabled = {int(i) for i in spec.get("disabled_versions", [])}
            secret = Secret(name=name, managed=True, content_type=content_type)
            for i, issued in enumerate(issued_versions):
                created = now - (len(issued_versions) - i) * _DAY
                secret.versions.append(
                    self._certificate_version(issued, content_type, created, i not in disabled)
                )
            self._add(secret)

    def _add(self, secret: Secret) -> None:
        if not _NAME.match(secret.name):
            raise ValueError(f"keyvault seed: {secret.name!r} is not a valid Key Vault name")
        if secret.name.lower() in self.secrets:
            raise ValueError(f"keyvault seed: {secret.name!r} is both a secret and a certificate")
        if secret.versions:
            self.secrets[secret.name.lower()] = secret

    @staticmethod
    def _certificate_version(
        issued: IssuedCertificate, content_type: str, created: int, enabled: bool = True
    ) -> SecretVersion:
        return SecretVersion(
            version=_new_version_id(),
            value=render_certificate(issued, content_type),
            content_type=content_type,
            created=created,
            updated=created,
            enabled=enabled,
            nbf=_epoch(issued.cert.not_valid_before_utc),
            exp=_epoch(issued.cert.not_valid_after_utc),
            certificate=issued,
        )

    def state(self) -> dict[str, Any]:
        return {
            "secrets": {
                s.name: {
                    "managed": s.managed,
                    "versions": [
                        {
                            "version": v.version,
                            "enabled": v.enabled,
                            "created": v.created,
                            "content_type": v.content_type,
                            **(
                                {"fingerprint_sha256": v.certificate.fingerprint_sha256()}
                                if v.certificate
                                else {}
                            ),
                        }
                        for v in s.versions
                    ],
                }
                for s in self.secrets.values()
            }
        }

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/_sandbox/keyvault/new-certificate-version", self.new_certificate_version,
                  methods=["POST"]),
            Route("/_sandbox/keyvault/set-enabled", self.set_enabled, methods=["POST"]),
            Route("/secrets", self.list_secrets, methods=["GET"]),
            Route("/secrets/{name}/versions", self.list_secret_versions, methods=["GET"]),
            Route("/secrets/{name}", self.get_secret, methods=["GET"]),
            Route("/secrets/{name}/", self.get_secret, methods=["GET"]),
            Route("/secrets/{name}/{version}", self.get_secret, methods=["GET"]),
            Route("/secrets/{name}", self.set_secret, methods=["PUT"]),
            Route("/secrets/{name}/", self.update_secret, methods=["PATCH"]),
            Route("/secrets/{name}/{version}", self.update_secret, methods=["PATCH"]),
            Route("/certificates/{name}/versions", self.list_certificate_versions,
                  methods=["GET"]),
            Route("/certificates/{name}", self.get_certificate, methods=["GET"]),
            Route("/certificates/{name}/", self.get_certificate, methods=["GET"]),
            Route("/certificates/{name}/{version}", self.get_certificate, methods=["GET"]),
        ]

    # --- request plumbing -------------------------------------------------------------------------

    def _challenge(self) -> dict[str, str]:
        return {
            "WWW-Authenticate": f'Bearer authorization="https://login.microsoftonline.com/'
            f'{self.tenant_id}", resource="https://vault.azure.net"'
        }

    def _authorize(self, request: Request) -> str:
        """Check the bearer token (401 + challenge) and `api-version`; return the api-version."""
        header = request.headers.get("authorization")
        if not header:
            raise KeyVaultError(
                401,
                "Unauthorized",
                "AKV10000: Request is missing a Bearer or PoP token.",
                headers=self._challenge(),
            )
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token:
            raise KeyVaultError(
                401,
                "Unauthorized",
                "The bearer token is not valid for this vault (the sandbox accepts only the token "
                "of its seed).",
                headers=self._challenge(),
            )
        version = request.query_params.get("api-version")
        if not version:
            raise _bad("The 'api-version' query parameter is required.")
        if not _API_VERSION.match(version):
            raise _bad(f"The specified version ({version}) is not recognized.")
        return version

    @staticmethod
    def _base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def _secret(self, name: str) -> Secret:
        secret = self.secrets.get(name.lower())
        if secret is None:
            raise KeyVaultError(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {name} was not found in this key vault. "
                + _NOT_FOUND_HELP.format(kind="secret"),
            )
        return secret

    def _version(self, secret: Secret, version: str) -> SecretVersion:
        if not version:
            return secret.current
        found = secret.find(version)
        if found is None:
            raise KeyVaultError(
                404,
                "SecretNotFound",
                f"A secret with (name/id) {secret.name}/{version} was not found in this key vault. "
                + _NOT_FOUND_HELP.format(kind="secret"),
            )
        return found

    @staticmethod
    def _attributes(v: SecretVersion) -> dict[str, Any]:
        attrs: dict[str, Any] = {"enabled": v.enabled}
        if v.nbf is not None:
            attrs["nbf"] = v.nbf
        if v.exp is not None:
            attrs["exp"] = v.exp
        attrs.update(
            created=v.created,
            updated=v.updated,
            recoveryLevel="Recoverable+Purgeable",
            recoverableDays=90,
        )
        return attrs

    def _item(self, base: str, secret: Secret, v: SecretVersion) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": f"{base}/secrets/{secret.name}/{v.version}",
            "attributes": self._attributes(v),
        }
        if v.content_type:
            item["contentType"] = v.content_type
        if v.tags:
            item["tags"] = dict(v.tags)
        if secret.managed:
            item["managed"] = True
        return item

    def _bundle(
        self, base: str, secret: Secret, v: SecretVersion, out_content_type: str | None = None
    ) -> dict[str, Any]:
        bundle = self._item(base, secret, v)
        bundle["value"] = v.value
        if secret.managed:
            bundle["kid"] = f"{base}/keys/{secret.name}/{v.version}"
            if out_content_type and out_content_type != v.content_type and v.certificate:
                bundle["value"] = render_certificate(v.certificate, out_content_type)
                bundle["contentType"] = out_content_type
        return bundle

    def _page(
        self, request: Request, version: str, items: list[dict[str, Any]]
    ) -> Response:
        raw = request.query_params.get("maxresults")
        size = MAX_PAGE
        if raw is not None:
            if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
                raise _bad(f"maxresults must be an integer between 1 and {MAX_PAGE}, got {raw!r}.")
            size = int(raw)
        start = _offset(request.query_params.get("$skiptoken"))
        body: dict[str, Any] = {"value": items[start : start + size], "nextLink": None}
        if start + size < len(items):
            body["nextLink"] = (
                f"{self._base(request)}{request.url.path}?api-version={version}"
                f"&$skiptoken={_skiptoken(start + size)}&maxresults={size}"
            )
        return JSONResponse(body)

    # --- secrets ----------------------------------------------------------------------------------

    async def list_secrets(self, request: Request) -> Response:
        try:
            version = self._authorize(request)
            base = self._base(request)
            with self.lock:
                items = []
                for secret in sorted(self.secrets.values(), key=lambda s: s.name.lower()):
                    item = self._item(base, secret, secret.current)
                    item["id"] = f"{base}/secrets/{secret.name}"
                    items.append(item)
            return self._page(request, version, items)
        except KeyVaultError as exc:
            return exc.response()

    async def list_secret_versions(self, request: Request) -> Response:
        try:
            version = self._authorize(request)
            base = self._base(request)
            with self.lock:
                secret = self._secret(request.path_params["name"])
                ordered = sorted(secret.versions, key=lambda v: v.version)
                items = [self._item(base, secret, v) for v in ordered]
            return self._page(request, version, items)
        except KeyVaultError as exc:
            return exc.response()

    async def get_secret(self, request: Request) -> Response:
        try:
            self._authorize(request)
            out_content_type = request.query_params.get("outContentType")
            with self.lock:
                secret = self._secret(request.path_params["name"])
                v = self._version(secret, request.path_params.get("version", ""))
                if not v.enabled:
                    raise KeyVaultError(
                        403,
                        "Forbidden",
                        "Operation get is not allowed on a disabled secret.",
                        inner="SecretDisabled",
                    )
                if out_content_type is not None:
                    if not secret.managed:
                        raise _bad(
                            "outContentType is only supported for secrets backing a certificate."
                        )
                    if out_content_type not in (PKCS12, PEM):
                        raise _bad(
                            f"outContentType must be {PKCS12} or {PEM}, got {out_content_type!r}."
                        )
                return JSONResponse(self._bundle(self._base(request), secret, v, out_content_type))
        except KeyVaultError as exc:
            return exc.response()

    async def set_secret(self, request: Request) -> Response:
        try:
            self._authorize(request)
            name = request.path_params["name"]
            if not _NAME.match(name):
                raise _bad(
                    f"The request URI contains an invalid name: {name}. Names are 1-127 "
                    "characters: letters, digits and '-'."
                )
            try:
                body = parse_json_body(await request.body())
            except ValueError as exc:
                raise _bad(str(exc)) from None
            if not isinstance(body, dict) or not isinstance(body.get("value"), str):
                raise _bad("The request body must be a JSON object with a string 'value'.")
            if len(body["value"].encode()) > MAX_VALUE_BYTES:
                raise _bad(f"Secret value is larger than {MAX_VALUE_BYTES} bytes.")
            attrs = {} if body.get("attributes") is None else body["attributes"]
            tags = {} if body.get("tags") is None else body["tags"]
            _check_properties(attrs, tags)
            with self.lock:
                secret = self.secrets.get(name.lower())
                if secret is not None and secret.managed:
                    raise KeyVaultError(
                        409,
                        "Conflict",
                        f"Secret {name} is managed by the Key Vault certificate {secret.name}; "
                        "import a new certificate version instead of setting the secret.",
                    )
                if secret is None:
                    secret = Secret(name=name, managed=False)
                    self.secrets[name.lower()] = secret
                created = max(int(time.time()), secret.current.created + 1 if secret.versions else 0)
                v = SecretVersion(
                    version=_new_version_id(),
                    value=body["value"],
                    content_type=body.get("contentType"),
                    created=created,
                    updated=created,
                    enabled=bool(attrs.get("enabled", True)),
                    nbf=attrs.get("nbf"),
                    exp=attrs.get("exp"),
                    tags={str(k): str(val) for k, val in tags.items()},
                )
                secret.versions.append(v)
                return JSONResponse(self._bundle(self._base(request), secret, v))
        except KeyVaultError as exc:
            return exc.response()

    async def update_secret(self, request: Request) -> Response:
        try:
            self._authorize(request)
            try:
                body = parse_json_body(await request.body())
            except ValueError as exc:
                raise _bad(str(exc)) from None
            if not isinstance(body, dict):
                raise _bad("The request body must be a JSON object.")
            attrs = {} if body.get("attributes") is None else body["attributes"]
            _check_properties(attrs, {} if body.get("tags") is None else body["tags"])
            with self.lock:
                secret = self._secret(request.path_params["name"])
                if secret.managed:
                    raise KeyVaultError(
                        403,
                        "Forbidden",
                        f"Secret {secret.name} is managed by a certificate; update the "
                        "certificate instead.",
                    )
                v = self._version(secret, request.path_params.get("version", ""))
                if "enabled" in attrs:
                    v.enabled = bool(attrs["enabled"])
                for key in ("nbf", "exp"):
                    if key in attrs:
                        setattr(v, key, attrs[key])
                if "contentType" in body:
                    v.content_type = body["contentType"]
                if "tags" in body:
                    v.tags = {str(k): str(val) for k, val in (body["tags"] or {}).items()}
                v.updated = int(time.time())
                return JSONResponse(self._item(self._base(request), secret, v))
        except KeyVaultError as exc:
            return exc.response()

    # --- certificates -----------------------------------------------------------------------------

    def _certificate(self, name: str) -> Secret:
        secret = self.secrets.get(name.lower())
        if secret is None or not secret.managed:
            raise KeyVaultError(
                404,
                "CertificateNotFound",
                f"A certificate with (name/id) {name} was not found in this key vault. "
                + _NOT_FOUND_HELP.format(kind="certificate"),
            )
        return secret

    def _certificate_json(self, base: str, secret: Secret, v: SecretVersion) -> dict[str, Any]:
        assert v.certificate is not None
        cert = v.certificate.cert
        attrs = self._attributes(v)
        return {
            "id": f"{base}/certificates/{secret.name}/{v.version}",
            "kid": f"{base}/keys/{secret.name}/{v.version}",
            "sid": f"{base}/secrets/{secret.name}/{v.version}",
            "x5t": _x5t(cert),
            "cer": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
            "contentType": v.content_type,
            "attributes": attrs,
        }

    async def get_certificate(self, request: Request) -> Response:
        try:
            self._authorize(request)
            base = self._base(request)
            with self.lock:
                secret = self._certificate(request.path_params["name"])
                wanted = request.path_params.get("version", "")
                v = secret.find(wanted) if wanted else secret.current
                if v is None:
                    raise KeyVaultError(
                        404,
                        "CertificateNotFound",
                        f"A certificate with (name/id) {secret.name}/{wanted} was not found in "
                        "this key vault. " + _NOT_FOUND_HELP.format(kind="certificate"),
                    )
                body = self._certificate_json(base, secret, v)
                if not wanted:
                    body["policy"] = self._policy(base, secret)
                return JSONResponse(body)
        except KeyVaultError as exc:
            return exc.response()

    def _policy(self, base: str, secret: Secret) -> dict[str, Any]:
        issued = secret.current.certificate
        assert issued is not None
        cert = issued.cert
        try:
            sans = list(
                cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                .get_values_for_type(x509.DNSName)
            )
        except x509.ExtensionNotFound:
            sans = []
        return {
            "id": f"{base}/certificates/{secret.name}/policy",
            "key_props": {"exportable": True, "kty": "EC", "crv": "P-256", "reuse_key": False},
            "secret_props": {"contentType": secret.content_type},
            "x509_props": {"subject": cert.subject.rfc4514_string(), "sans": {"dns_names": sans}},
            "issuer": {"name": "Unknown"},
        }

    async def list_certificate_versions(self, request: Request) -> Response:
        try:
            version = self._authorize(request)
            base = self._base(request)
            with self.lock:
                secret = self._certificate(request.path_params["name"])
                items = []
                for v in sorted(secret.versions, key=lambda v: v.version):
                    full = self._certificate_json(base, secret, v)
                    items.append({k: full[k] for k in ("id", "x5t", "attributes")})
            return self._page(request, version, items)
        except KeyVaultError as exc:
            return exc.response()

    # --- sandbox control --------------------------------------------------------------------------

    async def new_certificate_version(self, request: Request) -> Response:
        """Issue a new version of a certificate from the sandbox CA; it becomes the current one."""
        try:
            spec = parse_json_body(await request.body())
            if not isinstance(spec, dict) or not spec.get("name"):
                raise ValueError('expected {"name": <certificate>, ...}')
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        if self.pki is None:
            return JSONResponse(
                {
                    "error": "this Key Vault emulator was started without the sandbox PKI; "
                    "construct it as KeyVaultEmulator(seed, certificates=..., pki=pki)"
                },
                status_code=409,
            )
        name = str(spec["name"])
        with self.lock:
            secret = self.secrets.get(name.lower())
            if secret is not None and not secret.managed:
                return JSONResponse({"error": f"{name} is a plain secret"}, status_code=409)
            previous = secret.current.certificate if secret else None
            dns_names = list(spec.get("dns_names") or [])
            if not dns_names and previous is not None:
                san = previous.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                dns_names = list(san.value.get_values_for_type(x509.DNSName))
            if not dns_names:
                return JSONResponse({"error": "dns_names is required"}, status_code=400)
            if spec.get("wrong_san"):
                dns_names = ["unrelated-host.example.org"]
            days = int(spec.get("days", 365))
            now = dt.datetime.now(dt.UTC)
            key_type = str(spec.get("key_type", "rsa-2048"))
            if key_type not in KEY_TYPES:
                return JSONResponse({"error": f"key_type must be one of {list(KEY_TYPES)}"},
                                    status_code=400)
            issuer = str(spec.get("issuer", "sandbox-ca"))
            if issuer not in ("sandbox-ca", "private-root", "non-ca"):
                return JSONResponse(
                    {"error": "issuer must be sandbox-ca, private-root or non-ca"}, status_code=400
                )
            if issuer != "sandbox-ca":
                issued = self.pki.issue_elsewhere(dns_names, under=issuer, days=days,
                                                  key_type=key_type)
            elif spec.get("expired"):
                issued = self.pki.issue(
                    dns_names,
                    not_before=now - dt.timedelta(days=days + 1),
                    not_after=now - dt.timedelta(days=1),
                    key_type=key_type,
                )
            else:
                extra: tuple[tuple[x509.ExtensionType, bool], ...] = ()
                if spec.get("critical_extension"):
                    extra = ((x509.UnrecognizedExtension(
                        x509.ObjectIdentifier(str(spec["critical_extension"])), b"\x05\x00"),
                        True),)
                issued = self.pki.issue(dns_names, days=days, key_type=key_type,
                                        server_auth=not spec.get("no_server_auth"), extra=extra)
            if spec.get("key_mismatch"):
                issued = IssuedCertificate(
                    key=new_leaf_key(key_type), cert=issued.cert, chain=issued.chain
                )
            if secret is None:
                content_type = str(spec.get("content_type", PKCS12))
                secret = Secret(name=name, managed=True, content_type=content_type)
                self.secrets[name.lower()] = secret
            assert secret.content_type is not None
            created = max(int(time.time()), secret.current.created + 1 if secret.versions else 0)
            v = self._certificate_version(issued, secret.content_type, created)
            secret.versions.append(v)
            return JSONResponse(
                {
                    "name": secret.name,
                    "version": v.version,
                    "id": f"{self._base(request)}/secrets/{secret.name}/{v.version}",
                    "content_type": v.content_type,
                    "fingerprint_sha256": issued.fingerprint_sha256(),
                    "not_before": issued.cert.not_valid_before_utc.isoformat(),
                    "not_after": issued.cert.not_valid_after_utc.isoformat(),
                    "dns_names": dns_names,
                    "key_matches": _key_matches(issued),
                }
            )

    async def set_enabled(self, request: Request) -> Response:
        """Enable or disable one version of any secret, as the portal can."""
        try:
            spec = parse_json_body(await request.body())
            if not isinstance(spec, dict) or not spec.get("name") or "enabled" not in spec:
                raise ValueError('expected {"name", "version"?, "enabled": bool}')
        except ValueError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        with self.lock:
            try:
                secret = self._secret(str(spec["name"]))
                v = self._version(secret, str(spec.get("version") or ""))
            except KeyVaultError as exc:
                return exc.response()
            v.enabled = bool(spec["enabled"])
            v.updated = int(time.time())
            return JSONResponse({"name": secret.name, "version": v.version, "enabled": v.enabled})
