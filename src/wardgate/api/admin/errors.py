"""Errors of the admin API that the data plane never raises, and how every admin error reaches the client: in the
OpenAI error shape, whatever raised it (a WardgateError, Starlette's own 404/405, or a bug)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from wardgate.core.errors import InternalError, InvalidRequest, MethodNotAllowed, NotFound, WardgateError

log = logging.getLogger("wardgate.admin")


class Conflict(WardgateError):
    """The change would break a uniqueness rule (a second project with the same name) or the resource's state does
    not allow it (rotating a revoked key)."""

    status, type, code = 409, "invalid_request_error", "conflict"


def error_response(exc: WardgateError, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse(exc.to_dict(), status_code=exc.status, headers={**(headers or {}), **exc.headers})


async def wardgate_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WardgateError)
    return error_response(exc)


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's routing refusals (no such route, wrong method) in the same shape as ours."""
    assert isinstance(exc, HTTPException)
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        error: WardgateError = NotFound(f"Invalid URL ({where}).")
    elif exc.status_code == 405:
        error = MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.")
    else:
        error = InvalidRequest(str(exc.detail), status=exc.status_code)
    return error_response(error, exc.headers)  # the allowed methods of a 405


async def unexpected_error(request: Request, exc: Exception) -> Response:
    """A bug: logged with its traceback; the client gets a 500 in its error shape, with no detail."""
    log.exception("admin request %s %s failed", request.method, request.url.path, exc_info=exc)
    return error_response(InternalError("The gateway failed to handle this admin request."))
