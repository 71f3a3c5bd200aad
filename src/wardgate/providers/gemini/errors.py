"""Google's error answers → WardgateErrors.

Google reports errors as ``{"error": {"code": 429, "message": …, "status": "RESOURCE_EXHAUSTED", "details": […]}}``.
Two details matter to a client: ``google.rpc.RetryInfo`` carries the wait that other APIs put in a ``retry-after``
header (Gemini sends no such header), and ``google.rpc.ErrorInfo`` with reason ``API_KEY_INVALID`` marks a 400 that
is really the gateway's own credential being refused, which is the operator's problem, not the client's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.errors import WardgateError
from wardgate.providers.http import error_from_status, upstream_message

_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_CREDENTIAL_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_SERVICE_BLOCKED", "ACCESS_TOKEN_EXPIRED"})


def _details(data: bytes | Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if isinstance(data, bytes):
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return []
    else:
        parsed = data
    if isinstance(parsed, list) and parsed:  # the non-SSE stream form wraps answers in an array
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, Mapping) else None
    details = error.get("details") if isinstance(error, Mapping) else None
    return [d for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []


def retry_after(delay: str) -> str | None:
    """``"36s"`` / ``"1.5s"`` (a protobuf Duration) → whole seconds for a ``retry-after`` header."""
    if not delay.endswith("s"):
        return None
    try:
        return str(max(1, math.ceil(float(delay[:-1]))))
    except ValueError:
        return None


def google_error(
    provider: str,
    status: int,
    data: bytes | Mapping[str, Any],
    headers: Mapping[str, str] | None,
    secrets: tuple[str, ...],
) -> WardgateError:
    raw = data if isinstance(data, bytes) else orjson.dumps(data)
    message, _, _ = upstream_message(raw)
    kept = {name.lower(): value for name, value in (headers or {}).items()}
    for detail in _details(data):
        kind = detail.get("@type")
        if kind == _RETRY_INFO and "retry-after" not in kept:
            seconds = retry_after(str(detail.get("retryDelay", "")))
            if seconds is not None:
                kept["retry-after"] = seconds
        elif kind == _ERROR_INFO and detail.get("reason") in _CREDENTIAL_REASONS:
            status = 401
    return error_from_status(provider, status, message, kept, secrets=secrets)
