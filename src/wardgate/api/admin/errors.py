"""Errors of the admin API that the data plane never raises."""

from __future__ import annotations

from wardgate.core.errors import WardgateError


class Conflict(WardgateError):
    """The change would break a uniqueness rule (a second project with the same name) or the resource's state does
    not allow it (rotating a revoked key)."""

    status, type, code = 409, "invalid_request_error", "conflict"
