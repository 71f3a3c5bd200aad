"""The admin API's routes under /admin/v1, and its OpenAPI document at /admin/openapi.json.

Every route is one `Operation` (common.py): the same table serves the requests and writes the document.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from wardgate.api.admin import audit, keys, mcp, projects, rate_limits, runtime, usage, users
from wardgate.api.admin.common import Operation, store_errors
from wardgate.api.admin.openapi import document
from wardgate.assemble import Worker
from wardgate.core.errors import MethodNotAllowed, NotFound


def operations(services: Worker) -> list[Operation]:
    return [
        *projects.operations(services),
        *users.operations(services),
        *keys.operations(services),
        *usage.operations(services),
        *audit.operations(services),
        *runtime.operations(services),
        *rate_limits.operations(services),
        *mcp.operations(services),
    ]


def routes(services: Worker) -> list[Route]:
    table = operations(services)
    served = [Route(op.path, store_errors(op.handler), methods=[op.method]) for op in table]
    spec = document(table)

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec)

    async def unknown(request: Request) -> Response:
        """Anything else under /admin answers in the API's error shape, not Starlette's plain text."""
        allowed = set()
        for route in served:
            match, _ = route.matches(request.scope)
            if match is Match.PARTIAL and route.methods:
                allowed |= route.methods
        if allowed:
            raise MethodNotAllowed(
                f"Method {request.method} is not allowed on {request.url.path}.",
                headers={"Allow": ", ".join(sorted(allowed))},
            )
        raise NotFound(f"Invalid URL ({request.method} {request.url.path}).")

    everything = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]
    return [
        *served,
        Route("/admin/openapi.json", openapi, methods=["GET"]),
        Route("/admin/{rest:path}", unknown, methods=everything),
        Route("/admin", unknown, methods=everything),
    ]
