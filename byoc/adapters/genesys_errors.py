"""Genesys Cloud errors: the typed `GenesysError`s and how an error answer maps to one."""

from __future__ import annotations

import json
import re

from byoc.domain.numbers import E164_PATTERN
from byoc.ports import (
    GenesysError,
    GenesysNumberInUse,
)

_NUMBER = re.compile(E164_PATTERN)


# --- errors --------------------------------------------------------------------------------------


class GenesysAuthError(GenesysError):
    """byoc's OAuth client was refused (wrong id or secret, or the client is disabled)."""


class GenesysPermissionDenied(GenesysError):
    """byoc's OAuth client lacks a permission (403)."""


class GenesysNotFound(GenesysError):
    """The object does not exist (404)."""


class GenesysRateLimited(GenesysError):
    """Genesys kept answering 429 after every retry."""


class GenesysUnavailable(GenesysError):
    """Genesys did not answer, or answered 5xx, after every retry."""


class GenesysVersionConflict(GenesysError):
    """A write carried a stale `version` (409, or 400 "does not match the current version")."""


class GenesysRequestTooLarge(GenesysError):
    """A request body would pass Genesys's `request.bytes.max`; it was not sent."""


class GenesysPoolNotSettled(GenesysError):
    """A number of a DID pool was refused with "Field 'didPoolId' is required" (pool not seen)."""


class DidPoolOverlap(GenesysError):
    """A DID pool create was refused because its range overlaps an existing pool."""


def error_from_response(what: str, status: int | None, body: str | None) -> GenesysError:
    """The typed error for a Genesys error response (`ErrorBody` JSON, or anything else)."""
    message, code, params = _error_body(body)
    text = f"Genesys refused {what} ({status} {code or 'error'}): {message}"
    lowered = message.lower()
    if status == 401:
        return GenesysAuthError(
            f"{text}. Check BYOC_GENESYS_CLIENT_ID, the client secret, and that the OAuth client "
            "is active", status=status, code=code)
    if status == 403:
        return GenesysPermissionDenied(
            f"{text}. Give byoc's OAuth client the role described in docs/genesys.md",
            status=status, code=code)
    if status == 429:
        return GenesysRateLimited(
            f"{text}. byoc retried with backoff; lower BYOC_GENESYS_REQUESTS_PER_MINUTE or ask "
            "Genesys for a higher limit", status=status, code=code)
    if "does not match the current version" in lowered or (
        status == 409 and "version" in lowered
    ):
        return GenesysVersionConflict(text, status=status, code=code)
    if "didpoolid" in lowered and "required" in lowered:
        return GenesysPoolNotSettled(text, status=status, code=code)
    if code == "did.pool.range.overlap" or (status == 400 and "overlap" in lowered):
        return DidPoolOverlap(text, status=status, code=code)
    if code == "did.already.assigned" or "already assigned" in lowered or "in use by" in lowered:
        number = params.get("number") or next(iter(_NUMBER.findall(message)), "")
        return GenesysNumberInUse(text, number=number, status=status, code=code)
    if status == 404:
        return GenesysNotFound(text, status=status, code=code)
    if status is None or status == 0 or status >= 500:
        return GenesysUnavailable(text, status=status, code=code)
    return GenesysError(text, status=status, code=code)


def _error_body(body: str | None) -> tuple[str, str | None, dict[str, str]]:
    if not body:
        return "no details in the response", None, {}
    try:
        data = json.loads(body)
    except (TypeError, ValueError):
        return body[:300], None, {}
    if not isinstance(data, dict):
        return str(data)[:300], None, {}
    message = str(data.get("message") or data.get("error_description") or data.get("error") or "")
    code = data.get("code") or data.get("error")
    params = data.get("messageParams")
    clean = {str(k): str(v) for k, v in params.items()} if isinstance(params, dict) else {}
    return message or body[:300], str(code) if code else None, clean
