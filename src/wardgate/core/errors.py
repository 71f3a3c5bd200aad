"""Every error a client can see.

Subclasses fix the HTTP status, the OpenAI error ``type`` and ``code``. They are raised anywhere in the pipeline and
mapped to the client's error shape once, at the surface.
"""

from __future__ import annotations

from typing import ClassVar


class WardgateError(Exception):
    """Base of every error a client can see."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.headers = headers or {}
        # an upstream answer may refine the class defaults
        if status is not None:
            self.status = status  # type: ignore[misc]
        if code is not None:
            self.code = code  # type: ignore[misc]

    def to_dict(self) -> dict[str, object]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    @property
    def should_retry(self) -> bool:
        """Whether sending the same request again can succeed: the ``x-should-retry`` header the OpenAI and
        Anthropic SDKs obey before their own status rules (they would retry a 502 or a 429 that only an operator
        or a new budget window can fix)."""
        if self.code in _FINAL_CODES:
            return False
        return self.status in (408, 409, 429) or self.status >= 500 and self.status != 501


# refusals no retry can fix, whatever their status: a rejected upstream credential (502), a spent budget (429)
_FINAL_CODES = frozenset({"upstream_auth_error", "budget_exceeded", "insufficient_quota"})


class InvalidRequest(WardgateError):
    status, type = 400, "invalid_request_error"


class InvalidJSON(InvalidRequest):
    code = "invalid_json"


class Unauthenticated(WardgateError):
    status, type, code = 401, "invalid_request_error", "invalid_api_key"


class PermissionDenied(WardgateError):
    status, type, code = 403, "invalid_request_error", "permission_denied"


class NotFound(WardgateError):
    status, type, code = 404, "invalid_request_error", "not_found"


class ModelNotFound(WardgateError):
    status, type, code = 404, "invalid_request_error", "model_not_found"


class MethodNotAllowed(WardgateError):
    status, type, code = 405, "invalid_request_error", "method_not_allowed"


class PayloadTooLarge(WardgateError):
    status, type, code = 413, "invalid_request_error", "request_too_large"


class UnsupportedOperation(WardgateError):
    """The chosen provider has no equivalent for what the request asks."""

    status, type, code = 400, "invalid_request_error", "unsupported_by_provider"


class UpstreamError(WardgateError):
    """The provider answered with an error; status and message come from its answer."""

    status, type, code = 502, "api_error", "upstream_error"


class UpstreamRateLimited(UpstreamError):
    status, type, code = 429, "rate_limit_error", "rate_limit_exceeded"


class UpstreamUnavailable(UpstreamError):
    """The provider could not be reached (connection refused, reset, DNS)."""

    status, type, code = 502, "api_error", "upstream_unavailable"


class UpstreamTimeout(UpstreamError):
    status, type, code = 504, "api_error", "upstream_timeout"


class InternalError(WardgateError):
    """A bug or an unexpected failure inside the gateway; the details go to the log, not to the client."""

    status, type, code = 500, "api_error", "internal_error"


class ClientDisconnected(Exception):
    """The client went away; nothing is sent back. Not a WardgateError: no client sees it."""


class StoreUnavailable(WardgateError):
    """A state backend (Redis, PostgreSQL, SQLite) or its connection pool could not serve the request in time.

    Not the client's fault and not a bug: 503 with ``retry-after``, so SDKs retry after the pause instead of
    reporting a server error. Raised by the edge that talks to the backend, never built by hand in a stage.
    """

    status, type, code = 503, "api_error", "store_unavailable"

    def __init__(self, message: str, *, retry_after_s: int = 1, **kwargs: object) -> None:
        super().__init__(message, headers={"retry-after": str(retry_after_s)})
