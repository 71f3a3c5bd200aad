"""The admin API application: Starlette routes, errors in the OpenAI error shape, an OpenAPI document."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wardgate.assemble import Worker
from wardgate.core.errors import WardgateError


def build_control_plane(services: Worker) -> Starlette:
    async def wardgate_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, WardgateError)
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=exc.headers)

    app = Starlette(routes=routes(services), exception_handlers={WardgateError: wardgate_error})
    app.state.services = services
    return app


def routes(services: Worker) -> list[Route]:
    from wardgate.api.admin import resources

    return resources.routes(services)
