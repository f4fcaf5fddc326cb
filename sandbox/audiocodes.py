"""Emulator of one AudioCodes Mediant VE SBC: REST API `/api/v1` (7.2/7.4) and its SIP TLS port.

Strict where the vendor notes (docs/vendors/audiocodes.md) are verified, and explicit where they
are not: every [U] choice is a seed option or is listed in sandbox/README-audiocodes.md. The
configuration model, the ini and CLI formats, the dial-plan matcher and the TLS files live in
sandbox/audiocodes_{config,cli,dialplan,tls}.py.

Vendor fault kinds (`POST /_sandbox/faults` with `kind`; `count` = how many calls it hits):
- `ha_sync`: the next writes (file PUTs, actions) answer 409, as while the HA mate synchronizes.
- `ignore_write`: an incremental ini/CLI upload answers success but changes nothing.
- `keep_old_certificate`: a key/certificate upload is accepted (GET shows it) but the TLS
  listener keeps presenting the old certificate until the next reset.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import enum
import json
import re
import secrets
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from cryptography.x509.oid import NameOID
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from sandbox.audiocodes_cli import find_action_command, render_cli, run_cli_script
from sandbox.audiocodes_config import (
    KNOWN_PARAMETERS,
    TLS_CONTEXT_DEFAULTS,
    ConfigLimits,
    ConfigRefused,
    DeviceConfig,
    DialPlan,
    DialPlanRule,
    LoadReport,
    TlsContextRow,
    load_ini,
    render_ini,
)
from sandbox.audiocodes_dialplan import RuleCandidate, best_rule
from sandbox.audiocodes_tls import (
    ServedIdentity,
    SipTlsListener,
    TlsContextFiles,
    TlsFileRefused,
)
from sandbox.core import Emulator, Variant
from sandbox.pki import IssuedCertificate, SandboxPki
from sandbox.sip_sbc import SbcCallRouter

API = "/api/v1"
_ALL_METHODS = ["GET", "PUT", "POST", "DELETE", "PATCH"]


class Level(enum.IntEnum):
    """Local Users privilege levels (RA74 "User Privilege Levels")."""

    MONITOR = 1
    ADMINISTRATOR = 2
    SECURITY_ADMINISTRATOR = 3


@dataclass(frozen=True)
class LocalUser:
    username: str
    password: str
    level: Level


@dataclass(frozen=True)
class DeviceOptions:
    """Per-SBC behaviour where firmware differs or the notes are unverified (seed keys)."""

    ini_omits_dialplan_rules: bool = False
    incremental_ini_mode: str = "upsert"
    tls_write_level: Level = Level.SECURITY_ADMINISTRATOR
    certificate_put_accepts_chain: bool = True
    mismatch_window: str = "fail_handshakes"
    range_outranks_x: bool = False
    trusted_root_capacity: int = 150
    sip_tls_context: int = 0
    limits: ConfigLimits = field(default_factory=ConfigLimits)


_SEED_KEYS = {
    "name", "variants",
    "fqdn", "credentials", "local_users", "dial_plans", "tls_contexts", "status", "alarms",
    "ini_parameters", "extra_ini", "ini_omits_dialplan_rules", "incremental_ini_mode",
    "tls_write_level", "certificate_put_accepts_chain",
    "mismatch_window", "range_outranks_x", "trusted_root_capacity", "sip_tls_context",
    "tag_max_length", "max_dial_plan_rules", "max_dial_plans",
}
_COMPUTED_STATUS = {"localTimeStamp", "systemUpTime", "saveNeeded", "resetNeeded"}
_DEFAULT_STATUS: dict[str, str] = {
    "ipAddress": "10.0.1.4",
    "subnetMask": "255.255.255.0",
    "defaultGateway": "10.0.1.1",
    "productType": "Mediant SW",
    "versionID": "7.40A.500.775",
    "protocolType": "SIP",
    "operationalState": "UNLOCKED",
    "highAvailability": "Not Operational",
    "serialNumber": "8000000000",
    "macAddress": "00:0d:3a:00:00:01",
    "upgradeStatus": "NONE",
    "mcUpgradeStatus": "NONE",
}
_SUBJECT_FIELDS = {
    "subjectName": NameOID.COMMON_NAME,
    "organizationalUnit": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "companyName": NameOID.ORGANIZATION_NAME,
    "localityName": NameOID.LOCALITY_NAME,
    "state": NameOID.STATE_OR_PROVINCE_NAME,
    "countryCode": NameOID.COUNTRY_NAME,
}


class UploadRefused(ValueError):
    """A request body the device answers with 400."""


def _level(value: object, where: str) -> Level:
    try:
        return Level[str(value).upper()]
    except KeyError:
        raise ValueError(
            f"{where}: level {value!r} is not one of monitor, administrator, security_administrator"
        ) from None


def _options(seed: dict[str, Any]) -> DeviceOptions:
    mode = str(seed.get("incremental_ini_mode", "upsert"))
    if mode not in ("upsert", "replace_table"):
        raise ValueError(f"incremental_ini_mode {mode!r} must be upsert or replace_table")
    window = str(seed.get("mismatch_window", "fail_handshakes"))
    if window not in ("fail_handshakes", "serve_old"):
        raise ValueError(f"mismatch_window {window!r} must be fail_handshakes or serve_old")
    defaults = ConfigLimits()
    return DeviceOptions(
        ini_omits_dialplan_rules=bool(seed.get("ini_omits_dialplan_rules", False)),
        incremental_ini_mode=mode,
        tls_write_level=_level(seed.get("tls_write_level", "security_administrator"),
                               "tls_write_level"),
        certificate_put_accepts_chain=bool(seed.get("certificate_put_accepts_chain", True)),
        mismatch_window=window,
        range_outranks_x=bool(seed.get("range_outranks_x", False)),
        trusted_root_capacity=int(seed.get("trusted_root_capacity", 150)),
        sip_tls_context=int(seed.get("sip_tls_context", 0)),
        limits=ConfigLimits(
            tag_max_length=int(seed.get("tag_max_length", defaults.tag_max_length)),
            max_dial_plan_rules=int(seed.get("max_dial_plan_rules", defaults.max_dial_plan_rules)),
            max_dial_plans=int(seed.get("max_dial_plans", defaults.max_dial_plans)),
        ),
    )


def _multipart(request: Request, body: bytes) -> dict[str, bytes]:
    """The parts of a multipart/form-data body by name (the device reads part `file`)."""
    content_type = request.headers.get("content-type", "")
    mime, _, params = content_type.partition(";")
    if mime.strip().lower() != "multipart/form-data":
        raise UploadRefused(
            f"the body must be multipart/form-data with a part named 'file' "
            f"(got Content-Type {content_type or 'none'!r})"
        )
    match = re.search(r'boundary="?([^";]+)"?', params)
    if not match:
        raise UploadRefused("the multipart Content-Type has no boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    parts: dict[str, bytes] = {}
    for section in body.split(delimiter)[1:]:
        if section.startswith(b"--"):
            break
        head, sep, content = section.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not sep:
            raise UploadRefused("a multipart part has no header/body separator")
        name = re.search(rb'name="([^"]*)"', head)
        if name:
            parts[name.group(1).decode("latin-1")] = content.removesuffix(b"\r\n")
    return parts


def _file_part(request: Request, body: bytes) -> bytes:
    parts = _multipart(request, body)
    if "file" not in parts:
        raise UploadRefused(f"the multipart body has no part named 'file' (parts: {sorted(parts)})")
    if not parts["file"].strip():
        raise UploadRefused("the uploaded file is empty")
    return parts["file"]


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UploadRefused(f"the uploaded file is not text: {exc}") from exc


def _describe(http_status: int, description: str, /, **extra: Any) -> JSONResponse:
    return JSONResponse({"description": description, **extra}, status_code=http_status)


Handler = Callable[[Request], Awaitable[Response]]


class AudioCodesEmulator(Emulator):
    """One SBC: its REST API (served by build_app) and its SIP TLS listener."""

    name = "audiocodes"
    VARIANTS: ClassVar[dict[str, Variant]] = {
        "tls_apply": Variant(
            ("applies-live", "needs-reset"),
            source=(
                "Whether a new key/certificate pair in a TLS context reaches new handshakes without "
                "a device reset. applies-live: the RA74 Device Certificate / Private Key pages "
                "answer 'successfully changed' and mention no reset (unlike the full ini upload, "
                "which says 'Device will reset now'), and akandor Update-Certificate.ps1 uploads "
                "key, certificate, saves and never resets. needs-reset: older AudioCodes manuals "
                "(MediaPack MP-118 6.x) require 'save with device reset' for a new certificate, "
                "and /status carries a resetNeeded flag; the new pair then applies only after "
                "POST /actions/reset and resetNeeded reads \"true\" until then."
            ),
        ),
        "upload_answer": Variant(
            ("with-status", "no-status"),
            source="RA74 'Incremental CLI Script': the example answer has only description and "
                   "output; akandor SBCNat.sh reads a status field ('success'/'failure') [C]",
        ),
        "dialplan_cli": Variant(
            ("nested", "flat"),
            source="No public source gives the Dial Plan Rule CLI path. nested: the vendor notes' "
                   "likely shape, `sbc dial-plan <i>` then `dial-plan-rule <j>` inside it, as the "
                   "CLI Reference nests `alt-route-reasons-rules <j>` in its set; flat: `sbc "
                   "dial-plan-rule <plan>/<rule>` at `configure voip` level, as child rows are "
                   "addressed `<parent>/<child>` (prompt `(alt-route-reasons-rules-0/0)`, "
                   "`proxy-ip <set>/<i>`)",
        ),
        "ini_dialplan_rules": Variant(
            ("included", "omitted"),
            source="a 7.40A.250 ini export over REST showed [ DialPlan ] but no [ DialPlanRule ] "
                   "[C]; other 7.4 exports (tlothering) carry the rules",
        ),
    }

    def __init__(
        self,
        seed: dict[str, Any],
        *,
        pki: SandboxPki,
        certificates: dict[str, list[IssuedCertificate]],
    ) -> None:
        unknown = set(seed) - _SEED_KEYS
        if unknown:
            raise ValueError(f"audiocodes seed for {seed.get('name')!r}: unknown keys {sorted(unknown)}")
        self.pki = pki
        self.certificates = certificates
        self.options = _options(seed)
        self.sbc_name = str(seed.get("name", "sbc"))
        self.fqdn = str(seed.get("fqdn", f"{self.sbc_name}.example.net"))
        self._workdir = Path(tempfile.mkdtemp(prefix=f"byoc-{self.sbc_name}-tls-"))
        self.calls = SbcCallRouter(self)
        self._listener = SipTlsListener(self._served_identity, self._server_header, self._workdir,
                                        router=self.calls.serve)
        super().__init__(seed)

    # --- state ----------------------------------------------------------------------------------

    def reset(self) -> None:
        seed = self.seed
        self.users = self._users(seed)
        status = dict(seed.get("status") or {})
        computed = _COMPUTED_STATUS & set(status)
        if computed:
            raise ValueError(f"seed status cannot set computed fields {sorted(computed)}")
        self.status_fields = {**_DEFAULT_STATUS, **{k: str(v) for k, v in status.items()}}
        self.alarms = self._seed_alarms(seed.get("alarms") or [])
        self.running = self._seed_config(seed)
        self.tls: dict[int, TlsContextFiles] = self._seed_tls(seed.get("tls_contexts") or [])
        self._sync_tls_files()
        self.saved = self.running.clone()
        self.saved_tls = {i: f.clone() for i, f in self.tls.items()}
        self.booted_at = time.monotonic()
        self.save_needed = False
        self.reset_needed = False
        self.resets: list[dict[str, Any]] = []
        self.uploads: list[dict[str, Any]] = []

    def _users(self, seed: dict[str, Any]) -> list[LocalUser]:
        credentials = seed.get("credentials") or {}
        if not credentials.get("username") or not credentials.get("password"):
            raise ValueError("audiocodes seed needs credentials: {username, password}")
        users = [LocalUser(str(credentials["username"]), str(credentials["password"]),
                           Level.SECURITY_ADMINISTRATOR)]
        for entry in seed.get("local_users") or []:
            users.append(LocalUser(str(entry["username"]), str(entry["password"]),
                                   _level(entry.get("level"), f"local user {entry['username']}")))
        return users

    @staticmethod
    def _seed_alarms(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
        alarms = []
        for position, entry in enumerate(raw):
            alarms.append({
                "id": int(entry.get("id", position)),
                "severity": str(entry.get("severity", "major")),
                "source": str(entry.get("source", "Board#1")),
                "description": str(entry["description"]),
                "date": str(entry.get("date", "2025-01-01T00:00:00Z")),
            })
        return sorted(alarms, key=lambda a: int(a["id"]))

    def _seed_config(self, seed: dict[str, Any]) -> DeviceConfig:
        config = DeviceConfig.factory_default()
        limits = self.options.limits
        for name, value in (seed.get("ini_parameters") or {}).items():
            canonical = next((k for k in KNOWN_PARAMETERS if k.lower() == str(name).lower()), None)
            if canonical is None:
                raise ValueError(f"seed ini_parameters: {name!r} is not a known parameter")
            config.parameters[canonical] = str(value)
        for entry in seed.get("tls_contexts") or []:
            row = TlsContextRow(int(entry["index"]), {**TLS_CONTEXT_DEFAULTS,
                                                      "Name": str(entry["name"])})
            config.put_tls_context(row)
        config.ensure_default_tls_context()
        try:
            for plan_index, entry in enumerate(seed.get("dial_plans") or []):
                plan = DialPlan(int(entry.get("index", plan_index)), str(entry["name"]),
                                bool(entry.get("prefix_case_sensitive", False)))
                config.put_dial_plan(plan, limits)
                for rule_index, rule in enumerate(entry.get("rules") or []):
                    config.put_rule(plan, DialPlanRule(
                        int(rule.get("index", rule_index)), str(rule["name"]),
                        str(rule["prefix"]), str(rule.get("tag", "")),
                    ), limits)
        except ConfigRefused as exc:
            raise ValueError(f"audiocodes seed for {self.sbc_name}: {exc}") from exc
        extra = seed.get("extra_ini")
        if extra:
            report = load_ini(config, str(extra), limits=limits)
            if report.errors:
                raise ValueError(f"audiocodes seed extra_ini: {report.output}")
        return config

    def _seed_tls(self, raw: list[dict[str, Any]]) -> dict[int, TlsContextFiles]:
        files: dict[int, TlsContextFiles] = {}
        for entry in raw:
            index = int(entry["index"])
            cert_name = entry.get("certificate")
            if not cert_name:
                files[index] = TlsContextFiles.fresh(str(entry["name"]))
                continue
            versions = self.certificates.get(str(cert_name))
            version = int(entry.get("version", 0))
            if not versions or version >= len(versions):
                raise ValueError(
                    f"audiocodes seed for {self.sbc_name}: TLS context {index} names certificate "
                    f"{cert_name!r} version {version}, which the certificates seed does not issue"
                )
            issued = versions[version]
            context = TlsContextFiles(
                key=issued.key, cert=issued.cert,
                trusted_roots=[*issued.chain, self.pki.root],
            )
            context.go_live()
            files[index] = context
        return files

    def _sync_tls_files(self) -> None:
        for index, row in self.running.tls_contexts.items():
            if index not in self.tls:
                self.tls[index] = TlsContextFiles.fresh(row.name)
        for index in [i for i in self.tls if i not in self.running.tls_contexts]:
            del self.tls[index]

    def state(self) -> dict[str, Any]:
        return {
            "name": self.sbc_name,
            "fqdn": self.fqdn,
            "status": self._status(),
            "save_needed": self.save_needed,
            "reset_needed": self.reset_needed,
            "reset_count": len(self.resets),
            "resets": list(self.resets),
            "dial_plans": _plans_json(self.running),
            "parameters": dict(self.running.parameters),
            "tables": {table: {str(i): row for i, row in sorted(rows.items())}
                       for table, rows in sorted(self.running.tables.rows.items())},
            "saved_tables": {table: {str(i): row for i, row in sorted(rows.items())}
                             for table, rows in sorted(self.saved.tables.rows.items())},
            "saved_dial_plans": _plans_json(self.saved),
            "tls_contexts": [
                {"index": i, "name": self.running.tls_contexts[i].name, **f.describe()}
                for i, f in sorted(self.tls.items())
            ],
            "tls_listener": self._listener.address,
            "sip_calls": [{k: v for k, v in c.items() if not k.startswith("downstream")}
                          for c in list(self.calls.calls)],
            "alarms": list(self.alarms),
            "uploads": list(self.uploads),
            "options": {
                "ini_omits_dialplan_rules": self.options.ini_omits_dialplan_rules,
                "incremental_ini_mode": self.options.incremental_ini_mode,
                "tls_write_level": self.options.tls_write_level.name.lower(),
                "certificate_put_accepts_chain": self.options.certificate_put_accepts_chain,
                "mismatch_window": self.options.mismatch_window,
                "range_outranks_x": self.options.range_outranks_x,
                "tag_max_length": self.options.limits.tag_max_length,
            },
        }

    # --- device behaviour -----------------------------------------------------------------------

    def _status(self) -> dict[str, Any]:
        return {
            "localTimeStamp": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
            **{k: v for k, v in self.status_fields.items()
               if k not in ("upgradeStatus", "mcUpgradeStatus")},
            "systemUpTime": int(time.monotonic() - self.booted_at),
            "saveNeeded": "true" if self.save_needed else "false",
            "resetNeeded": "true" if self.reset_needed else "false",
            "upgradeStatus": self.status_fields["upgradeStatus"],
            "mcUpgradeStatus": self.status_fields["mcUpgradeStatus"],
        }

    def _save(self) -> None:
        self.saved = self.running.clone()
        self.saved_tls = {i: f.clone() for i, f in self.tls.items()}
        self.save_needed = False

    def _reboot(self, reason: str) -> None:
        """A device reset: the saved configuration comes back, unsaved changes are gone."""
        self.running = self.saved.clone()
        self.tls = {i: f.clone() for i, f in self.saved_tls.items()}
        self._sync_tls_files()
        for files in self.tls.values():
            files.live = files.stored_identity() if files.consistent else None
        self.booted_at = time.monotonic()
        self.save_needed = False
        self.reset_needed = False
        self.resets.append({"reason": reason, "at": dt.datetime.now(dt.UTC).isoformat()})

    def _served_identity(self) -> ServedIdentity | None:
        with self.lock:
            files = self.tls.get(self.options.sip_tls_context)
            if files is None:
                return None
            if files.awaiting and self.options.mismatch_window == "fail_handshakes":
                return None
            row = self.running.tls_contexts.get(self.options.sip_tls_context)
            if files.live is None or row is None:
                return files.live
            return files.live.under(row.values.get("TLSVersion", "0"),
                                    row.values.get("ServerCipherString", "DEFAULT"))

    def _server_header(self) -> str:
        return f"Mediant VE SBC/v.{self.status_fields['versionID']}"

    def start_tls_listener(self) -> str:
        """Start the SIP TLS port; returns "127.0.0.1:port"."""
        return self._listener.start()

    def tls_listener_address(self) -> str | None:
        return self._listener.address

    def stop_tls_listener(self) -> None:
        self._listener.stop()
        shutil.rmtree(self._workdir, ignore_errors=True)

    def _record_upload(self, kind: str, report: LoadReport | None, *, ignored: bool = False,
                       http_status: int = 200) -> None:
        self.uploads.append({
            "kind": kind, "http_status": http_status,
            "status": report.status if report else "failure",
            "errors": report.errors if report else 1,
            "changes": report.changes if report else 0, "ignored": ignored,
        })
        del self.uploads[:-50]

    # --- HTTP plumbing --------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> LocalUser | None:
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            username, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        for user in self.users:
            if secrets.compare_digest(user.username.encode(), username.encode()) and (
                secrets.compare_digest(user.password.encode(), password.encode())
            ):
                return user
        return None

    def _required_level(self, path: str, method: str) -> Level:
        relative = path.removeprefix(API + "/")
        first = relative.split("/", 1)[0]
        if first in ("status", "alarms", "kpi", "sipTestCall", "versions"):
            return Level.MONITOR
        if relative.startswith("files/tls") and method != "GET":
            return self.options.tls_write_level
        if relative == "actions/authToken":
            return Level.SECURITY_ADMINISTRATOR
        return Level.ADMINISTRATOR

    def _endpoint(self, handlers: dict[str, Handler]) -> Handler:
        async def endpoint(request: Request) -> Response:
            user = self._authenticate(request)
            if user is None:
                return JSONResponse(
                    {"description": "Unauthorized: wrong user name or password"},
                    status_code=401, headers={"WWW-Authenticate": 'Basic realm="Mediant"'},
                )
            handler = handlers.get(request.method)
            if handler is None:
                return JSONResponse(
                    {"description": f"Method {request.method} is not supported for this resource"},
                    status_code=405, headers={"Allow": ", ".join(sorted(handlers))},
                )
            if user.level < self._required_level(request.url.path, request.method):
                return _describe(403, f"User {user.username!r} ({user.level.name.lower()}) "
                                      "has too low a privilege level for this resource")
            if request.method != "GET":
                fault = self.faults.take("ha_sync", request.url.path, request.method)
                if fault is not None:
                    body = fault.body or {"description": "Operation is not allowed while the "
                                                         "redundant device is synchronizing (HA "
                                                         "sync in progress); retry later"}
                    return JSONResponse(body, status_code=409, headers=fault.headers)
            try:
                return await handler(request)
            except UploadRefused as exc:
                return _describe(400, str(exc))
        return endpoint

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, dict[str, Handler]]] = [
            ("/status", {"GET": self._get_status}),
            ("/alarms/active", {"GET": self._get_alarms}),
            ("/alarms/active/{alarm_id}", {"GET": self._get_alarm}),
            ("/files/ini", {"GET": self._get_ini, "PUT": self._put_ini}),
            ("/files/ini/incremental", {"PUT": self._put_ini_incremental}),
            ("/files/cliScript", {"GET": self._get_cli, "PUT": self._put_cli}),
            ("/files/cliScript/incremental", {"PUT": self._put_cli_incremental}),
            ("/actions/saveConfiguration", {"POST": self._post_save}),
            ("/actions/reset", {"POST": self._post_reset}),
            ("/files/tls/{ctx:int}/certificate", {
                "GET": self._tls_endpoint(self._tls_get_certificate),
                "PUT": self._tls_endpoint(self._tls_put_certificate),
            }),
            ("/files/tls/{ctx:int}/certificate/generate",
             {"POST": self._tls_endpoint(self._tls_post_generate)}),
            ("/files/tls/{ctx:int}/privateKey", {
                "GET": self._tls_endpoint(self._tls_get_private_key),
                "PUT": self._tls_endpoint(self._tls_put_private_key),
            }),
            ("/files/tls/{ctx:int}/trustedRoot", {
                "GET": self._tls_endpoint(self._tls_get_trusted_roots),
                "PUT": self._tls_endpoint(self._tls_put_trusted_roots),
            }),
            ("/files/tls/{ctx:int}/trustedRoot/incremental",
             {"PUT": self._tls_endpoint(self._tls_put_trusted_root)}),
        ]
        routes: list[BaseRoute] = [
            Route(API + path, self._endpoint(handlers), methods=_ALL_METHODS)
            for path, handlers in table
        ]
        routes.append(Route(API + "/{rest:path}", self._endpoint(
            dict.fromkeys(_ALL_METHODS, self._not_found)), methods=_ALL_METHODS))
        routes += [
            Route("/_sandbox/dialplan/match", self._match, methods=["GET", "POST"]),
            Route("/_sandbox/alarms", self._raise_alarm, methods=["POST"]),
            Route("/_sandbox/alarms/{alarm_id:int}", self._clear_alarm, methods=["DELETE"]),
        ]
        return routes

    async def _not_found(self, request: Request) -> Response:
        return _describe(404, f"Resource {request.url.path} does not exist")

    # --- status and alarms ----------------------------------------------------------------------

    async def _get_status(self, request: Request) -> Response:
        with self.lock:
            return JSONResponse(self._status())

    async def _get_alarms(self, request: Request) -> Response:
        query = request.query_params
        unknown = set(query) - {"limit", "after", "before"}
        if unknown:
            return _describe(400, f"unknown query parameters {sorted(unknown)}")
        if "after" in query and "before" in query:
            return _describe(400, "use either 'after' or 'before', not both")
        try:
            limit = int(query.get("limit", "20"))
            after = int(query["after"]) if "after" in query else None
            before = int(query["before"]) if "before" in query else None
        except ValueError:
            return _describe(400, "limit, after and before must be integers")
        if limit < 1:
            return _describe(400, "limit must be at least 1")
        with self.lock:
            alarms = list(self.alarms)
        if after is not None:
            page = [a for a in alarms if a["id"] > after][:limit]
        elif before is not None:
            page = [a for a in alarms if a["id"] < before][-limit:]
        else:
            page = alarms[:limit]
        if not page:
            return Response(status_code=204)
        more_after = any(a["id"] > page[-1]["id"] for a in alarms)
        more_before = any(a["id"] < page[0]["id"] for a in alarms)
        return JSONResponse({
            "alarms": [
                {"id": a["id"], "description": a["description"],
                 "url": f"{API}/alarms/active/{a['id']}"} for a in page
            ],
            "cursor": {
                "after": str(page[-1]["id"]) if more_after else "-1",
                "before": str(page[0]["id"]) if more_before else "-1",
            },
        })

    async def _get_alarm(self, request: Request) -> Response:
        wanted = request.path_params["alarm_id"]
        with self.lock:
            for alarm in self.alarms:
                if str(alarm["id"]) == wanted:
                    return JSONResponse(alarm)
        return _describe(404, f"Active alarm {wanted} does not exist")

    # --- configuration files --------------------------------------------------------------------

    def _banner(self) -> list[str]:
        s = self.status_fields
        return [
            f"Board: Mediant VE SBC ({self.sbc_name})",
            f"Serial Number: {s['serialNumber']}",
            f"Software Version: {s['versionID']}",
            f"Board IP Address: {s['ipAddress']}",
            f"Board Subnet Mask: {s['subnetMask']}",
            f"Board Default Gateway: {s['defaultGateway']}",
        ]

    async def _get_ini(self, request: Request) -> Response:
        with self.lock:
            text = render_ini(self.running, banner=self._banner(),
                              omit_dial_plan_rules=self.options.ini_omits_dialplan_rules
                              or self.variant("ini_dialplan_rules") == "omitted")
        return Response(text.encode(), media_type="application/octet-stream")

    async def _get_cli(self, request: Request) -> Response:
        with self.lock:
            text = render_cli(self.running, hostname=self._cli_hostname(),
                              dialect=self.variant("dialplan_cli"))
        return Response(text.encode(), media_type="application/octet-stream")

    async def _put_ini(self, request: Request) -> Response:
        text = _text(_file_part(request, await request.body()))
        with self.lock:
            config = DeviceConfig.factory_default()
            report = load_ini(config, text, limits=self.options.limits)
            config.ensure_default_tls_context()
            return self._replace_configuration("full ini upload", config, report)

    async def _put_cli(self, request: Request) -> Response:
        text = _text(_file_part(request, await request.body()))
        action = find_action_command(text)
        if action is not None:
            return _describe(400, f"line {action[0]}: action command {action[1]!r} is not allowed "
                                  "in a CLI script upload")
        with self.lock:
            config = DeviceConfig.factory_default()
            report = run_cli_script(config, text, limits=self.options.limits,
                                    hostname=self._cli_hostname(),
                                    dialect=self.variant("dialplan_cli"))
            return self._replace_configuration("full cliScript upload", config, report)

    def _replace_configuration(self, kind: str, config: DeviceConfig,
                               report: LoadReport) -> Response:
        if report.errors:
            self._record_upload(kind, report, http_status=400)
            return _describe(400, f"The file is invalid ({report.errors} error(s)); nothing was "
                                  "loaded and the device did not reset",
                             output=report.output, status="failure")
        self.running = config
        self._sync_tls_files()
        self._save()
        self._reboot(kind)
        self._record_upload(kind, report)
        return _describe(200, "Device will reset now to activate new configuration")

    async def _put_ini_incremental(self, request: Request) -> Response:
        text = _text(_file_part(request, await request.body()))
        with self.lock:
            working = self.running.clone()
            report = load_ini(working, text, limits=self.options.limits,
                              mode=self.options.incremental_ini_mode)
            ignored = self._apply_incremental(request, working, report)
            self._record_upload("incremental ini", report, ignored=ignored)
        return self._upload_answer("Incremental INI file was loaded.", report)

    async def _put_cli_incremental(self, request: Request) -> Response:
        text = _text(_file_part(request, await request.body()))
        action = find_action_command(text)
        if action is not None:
            with self.lock:
                self._record_upload("incremental cliScript", None, http_status=400)
            return _describe(400, f"line {action[0]}: action command {action[1]!r} is not allowed "
                                  "in an incremental CLI script; nothing was applied",
                             output="", status="failure")
        with self.lock:
            working = self.running.clone()
            report = run_cli_script(working, text, limits=self.options.limits,
                                    hostname=self._cli_hostname(),
                                    dialect=self.variant("dialplan_cli"))
            ignored = self._apply_incremental(request, working, report)
            self._record_upload("incremental cliScript", report, ignored=ignored)
        return self._upload_answer("Incremental CLI Script file was loaded.", report)

    def _upload_answer(self, description: str, report: LoadReport) -> Response:
        """200 with `output`, and `status` unless the `upload_answer` variant leaves it out."""
        if self.variant("upload_answer") == "no-status":
            return _describe(200, description, output=report.output)
        return _describe(200, description, output=report.output, status=report.status)

    def _cli_hostname(self) -> str:
        """The CLI prompt's host name: the device's, which defaults to its product type and may
        hold spaces (`Mediant SW(config-voip)#`)."""
        return self.status_fields["productType"]

    def _apply_incremental(self, request: Request, working: DeviceConfig,
                           report: LoadReport) -> bool:
        if self.faults.take("ignore_write", request.url.path, request.method) is not None:
            return True
        if report.changes:
            working.ensure_default_tls_context()
            self.running = working
            self._sync_tls_files()
            self.save_needed = True
        return False

    # --- actions --------------------------------------------------------------------------------

    async def _post_save(self, request: Request) -> Response:
        headers = request.headers
        if "transfer-encoding" in headers or "content-length" not in headers:
            return _describe(411, "saveConfiguration needs Content-Length: 0")
        if headers["content-length"] != "0" or await request.body():
            return _describe(400, "saveConfiguration takes no body (send Content-Length: 0)")
        with self.lock:
            self._save()
        return _describe(200, "Configuration was saved")

    async def _post_reset(self, request: Request) -> Response:
        raw = await request.body()
        try:
            options = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            return _describe(400, f"the body is not JSON: {exc}")
        if not isinstance(options, dict) or set(options) - {"saveConfiguration", "gracefulTimeout"}:
            return _describe(400, "the body may only hold saveConfiguration and gracefulTimeout")
        save = options.get("saveConfiguration", True)
        graceful = options.get("gracefulTimeout", 0)
        if not isinstance(save, bool):
            return _describe(400, "saveConfiguration must be true or false")
        if not isinstance(graceful, int) or isinstance(graceful, bool) or graceful < 0:
            return _describe(400, "gracefulTimeout must be 0, 1 or a number of seconds")
        with self.lock:
            if save:
                self._save()
            self._reboot("actions/reset")
        return _describe(200, "Device will reset now")

    # --- TLS context files ----------------------------------------------------------------------

    def _context_files(self, request: Request) -> TlsContextFiles:
        index = int(request.path_params["ctx"])
        files = self.tls.get(index)
        if files is None:
            raise _ContextMissing(index)
        return files

    def _tls_endpoint(self, work: Callable[[Request, TlsContextFiles, bytes], Response]) -> Handler:
        async def handler(request: Request) -> Response:
            body = await request.body()
            with self.lock:
                try:
                    return work(request, self._context_files(request), body)
                except _ContextMissing as exc:
                    return _describe(404, str(exc))
                except TlsFileRefused as exc:
                    return _describe(400, str(exc))
        return handler

    def _tls_get_certificate(self, request: Request, files: TlsContextFiles, _: bytes) -> Response:
        return Response(files.certificate_pem().encode(), media_type="application/octet-stream")

    def _tls_put_certificate(self, request: Request, files: TlsContextFiles,
                             body: bytes) -> Response:
        completed = files.put_certificate(
            _file_part(request, body), accepts_chain=self.options.certificate_put_accepts_chain
        )
        self._after_tls_upload(request, files, completed)
        return _describe(200, "Certificate was successfully changed")

    def _tls_get_private_key(self, request: Request, files: TlsContextFiles, _: bytes) -> Response:
        return JSONResponse(files.key_info())

    def _tls_put_private_key(self, request: Request, files: TlsContextFiles,
                             body: bytes) -> Response:
        parts = _multipart(request, body)
        if not parts.get("file", b"").strip():
            raise UploadRefused("the multipart body has no non-empty part named 'file'")
        password = parts.get("password") or None
        completed = files.put_private_key(parts["file"], password)
        self._after_tls_upload(request, files, completed)
        return _describe(200, "Private key was successfully changed")

    def _tls_get_trusted_roots(self, request: Request, files: TlsContextFiles,
                               _: bytes) -> Response:
        return Response(files.trusted_roots_pem().encode(), media_type="application/octet-stream")

    def _tls_put_trusted_roots(self, request: Request, files: TlsContextFiles,
                               body: bytes) -> Response:
        files.put_trusted_roots(_file_part(request, body), self.options.trusted_root_capacity)
        self._after_tls_upload(request, files, False)
        return _describe(200, "Trusted root certificates were successfully changed")

    def _tls_put_trusted_root(self, request: Request, files: TlsContextFiles,
                              body: bytes) -> Response:
        files.add_trusted_root(_file_part(request, body), self.options.trusted_root_capacity)
        self._after_tls_upload(request, files, False)
        return _describe(200, "Trusted root certificate was successfully added")

    def _tls_post_generate(self, request: Request, files: TlsContextFiles,
                           body: bytes) -> Response:
        try:
            fields = json.loads(body or b"null")
        except json.JSONDecodeError as exc:
            raise UploadRefused(f"the body is not JSON: {exc}") from exc
        if not isinstance(fields, dict) or not fields.get("subjectName"):
            raise UploadRefused("the body must be a JSON object with at least subjectName")
        unknown = set(fields) - set(_SUBJECT_FIELDS)
        if unknown:
            raise UploadRefused(f"unknown fields {sorted(unknown)}")
        country = fields.get("countryCode")
        if country is not None and not re.fullmatch(r"[A-Za-z]{2}", str(country)):
            raise UploadRefused("countryCode must be two letters")
        files.generate_self_signed({_SUBJECT_FIELDS[k]: str(v) for k, v in fields.items() if v})
        self._after_tls_upload(request, files, True)
        return _describe(200, "Self-signed certificate was successfully generated")

    def _after_tls_upload(self, request: Request, files: TlsContextFiles, completed: bool) -> None:
        self.save_needed = True
        if not completed:
            return
        if self.faults.take("keep_old_certificate", request.url.path, request.method) is not None:
            return
        if self.variant("tls_apply") == "needs-reset":
            self.reset_needed = True
            return
        files.go_live()

    # --- sandbox helpers ------------------------------------------------------------------------

    async def _match(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                body = json.loads(await request.body() or b"null")
            except json.JSONDecodeError as exc:
                return JSONResponse({"error": f"body is not JSON: {exc}"}, status_code=400)
            if not isinstance(body, dict) or not isinstance(body.get("numbers"), list):
                return JSONResponse({"error": "POST {\"plan\": name, \"numbers\": [...]}"},
                                    status_code=400)
            plan_name, numbers = str(body.get("plan", "")), [str(n) for n in body["numbers"]]
        else:
            plan_name = request.query_params.get("plan", "")
            numbers = [n.replace(" ", "+") for n in request.query_params.getlist("number")]
            if not numbers:
                return JSONResponse({"error": "query needs plan=NAME&number=N"}, status_code=400)
        with self.lock:
            plan = self.running.plan_named(plan_name)
            if plan is None:
                return JSONResponse({
                    "error": f"no Dial Plan named {plan_name!r}",
                    "plans": [p.name for p in self.running.dial_plans.values()],
                }, status_code=404)
            candidates = [RuleCandidate(r.rule_index, r.name, r.prefix, r.tag)
                          for r in plan.rules.values()]
            results = [self._match_one(plan, candidates, n) for n in numbers]
        if request.method == "GET" and len(results) == 1:
            return JSONResponse(results[0])
        return JSONResponse({"plan": plan.name, "results": results})

    def _match_one(self, plan: DialPlan, candidates: list[RuleCandidate],
                   number: str) -> dict[str, Any]:
        best, matched = best_rule(candidates, number, case_sensitive=plan.prefix_case_sensitive,
                                  range_outranks_x=self.options.range_outranks_x)
        return {
            "plan": plan.name,
            "number": number,
            "matched": best is not None,
            "rule": _rule_json(best) if best else None,
            "tag": best.tag if best else None,
            "candidates": [_rule_json(r) for r in matched],
        }

    async def _raise_alarm(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"null")
        except json.JSONDecodeError as exc:
            return JSONResponse({"error": f"body is not JSON: {exc}"}, status_code=400)
        if not isinstance(body, dict) or not body.get("description"):
            return JSONResponse({"error": "needs at least description"}, status_code=400)
        with self.lock:
            body.setdefault("id", max((a["id"] for a in self.alarms), default=-1) + 1)
            alarm = self._seed_alarms([body])[0]
            self.alarms = sorted([*self.alarms, alarm], key=lambda a: int(a["id"]))
        return JSONResponse(alarm, status_code=201)

    async def _clear_alarm(self, request: Request) -> Response:
        wanted = int(request.path_params["alarm_id"])
        with self.lock:
            self.alarms = [a for a in self.alarms if a["id"] != wanted]
        return Response(status_code=204)


class _ContextMissing(LookupError):
    def __init__(self, index: int) -> None:
        super().__init__(f"TLS context {index} does not exist")


def _rule_json(rule: RuleCandidate) -> dict[str, Any]:
    return {"index": rule.index, "name": rule.name, "prefix": rule.prefix, "tag": rule.tag}


def _plans_json(config: DeviceConfig) -> list[dict[str, Any]]:
    return [
        {
            "index": index,
            "name": plan.name,
            "prefix_case_sensitive": plan.prefix_case_sensitive,
            "rules": [
                {"index": r.rule_index, "name": r.name, "prefix": r.prefix, "tag": r.tag}
                for _, r in sorted(plan.rules.items())
            ],
        }
        for index, plan in sorted(config.dial_plans.items())
    ]
