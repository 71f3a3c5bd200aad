"""The admin API's routes under /admin/v1, and its OpenAPI document at /admin/openapi.json.

Every route is one `Operation` (common.py): the same table serves the requests and writes the document.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route

from wardgate.api.admin import (
    alerts,
    analytics,
    audit,
    catalog,
    chargeback,
    config_versions,
    guards,
    keys,
    ledger,
    mcp,
    oidc,
    projects,
    prompt_changes,
    prompts,
    rate_limits,
    runtime,
    session,
    usage,
    users,
)
from wardgate.api.admin.common import Operation, store_errors
from wardgate.api.admin.openapi import document
from wardgate.assemble import Worker
from wardgate.core.errors import MethodNotAllowed, NotFound


def operations(services: Worker) -> list[Operation]:
    return [
        *projects.operations(services),
        *users.operations(services),
        *keys.operations(services),
        *chargeback.operations(services),
        *ledger.operations(services),  # before usage: /usage/ledger is not a request id
        *usage.operations(services),
        *analytics.operations(services),
        *alerts.operations(services),
        *audit.operations(services),
        *runtime.operations(services),
        *rate_limits.operations(services),
        *config_versions.operations(services),
        *guards.operations(services),
        *prompts.operations(services),
        *prompt_changes.operations(services),
        *oidc.operations(services),  # before /session: /session/methods and /session/oidc are their own
        *session.operations(services),
        *mcp.operations(services),
        *catalog.operations(services),
    ]


def routes(services: Worker) -> list[Route]:
    table = operations(services)
    served = [Route(op.path, store_errors(op.handler), methods=[op.method]) for op in table]
    spec = document(table)

    async def openapi(request: Request) -> Response:
        return JSONResponse(spec)

    async def unknown(request: Request) -> Response:
        """Anything else under /admin answers in the API's error shape, not Starlette's plain text."""
        partial = [r for r in served if r.methods and r.matches(request.scope)[0] is Match.PARTIAL]
        literal = [r for r in partial if not r.param_convertors]  # `/guards/test` is not `/guards/{name}`
        allowed: set[str] = set()
        for route in literal or partial:
            allowed |= route.methods or set()
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
