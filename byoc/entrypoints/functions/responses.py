"""JSON responses shared by the HTTP functions."""

from __future__ import annotations

import json
from typing import Any

import azure.functions as func


def json_response(data: Any, status: int = 200) -> func.HttpResponse:
    """A JSON body with the given status."""
    return func.HttpResponse(
        json.dumps(data, default=str), status_code=status, mimetype="application/json"
    )


def error_response(status: int, message: str, **extra: Any) -> func.HttpResponse:
    """`{"error": message, ...}` with the given status."""
    return json_response({"error": message, **extra}, status)


def not_available(feature: str) -> func.HttpResponse:
    """501 for a route whose service has not landed in this version of byoc."""
    return error_response(501, f"{feature} is not available in this version of byoc")
