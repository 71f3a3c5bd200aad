"""The admin API application: Starlette routes, errors in the OpenAI error shape, an OpenAPI document."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Route

from wardgate.api.admin.errors import http_error, unexpected_error, wardgate_error
from wardgate.api.admin.session_codec import codec_for
from wardgate.assemble import Worker
from wardgate.core.errors import WardgateError
from wardgate.reload.reloader import ConfigReloader


def build_control_plane(services: Worker, reloader: ConfigReloader | None = None) -> Starlette:
    """``reloader``: this worker's hot reload, which the admin API's model and provider changes go through."""
    handlers = {WardgateError: wardgate_error, HTTPException: http_error, Exception: unexpected_error}
    app = Starlette(routes=routes(services), exception_handlers=handlers)
    app.state.services = services
    app.state.reloader = reloader
    app.state.sessions = codec_for(services.settings)  # the console's session cookie (session_codec.py)
    return app


def routes(services: Worker) -> list[Route]:
    from wardgate.api.admin import resources

    return resources.routes(services)
