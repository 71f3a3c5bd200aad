"""The web console's sign-in, as part of the admin API: ``POST /admin/v1/session`` trades a key (the master key,
or a key bound to a user, or a JWT of the configured issuer) for an HttpOnly session cookie; ``GET`` says who the
caller is, with the roles the console shows and the CSRF token its changes send; ``DELETE`` signs out.

Any admin client may use ``GET /admin/v1/session`` with a header credential too: it is the API's "who am I".
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from pydantic import Field, StringConstraints
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import AdminActor, actor_for_credential, authenticate, session_of
from wardgate.api.admin.common import Operation, read_body, record
from wardgate.api.admin.schemas import Body, View
from wardgate.api.admin.session_codec import COOKIE, SessionCodec, set_cookie
from wardgate.assemble import Worker
from wardgate.core.errors import InvalidRequest, Unauthenticated, WardgateError
from wardgate.store.tenancy import Role


class SessionCreate(Body):
    key: Annotated[str, StringConstraints(min_length=1, max_length=2048, pattern=r"^[\x21-\x7e]+$")] = Field(
        description="the master key, a virtual key bound to a user, or a JWT of the configured issuer"
    )


class SessionView(View):
    actor: str = Field(description='"master" or "user:<id>"')
    user_id: str | None
    system_role: Role | None
    project_roles: dict[str, Role] = Field(description="project id → role (system roles see every project)")
    team_roles: dict[str, Role]
    via: Literal["cookie", "header"]
    csrf_token: str | None = Field(description="send as `x-csrf-token` with every change made through the cookie")
    expires_at: int | None = Field(description="Unix seconds; null for a header credential")


class SignedOut(View):
    signed_out: Literal[True] = True


def _view(actor: AdminActor, via: Literal["cookie", "header"], csrf: str | None, expires: int | None) -> SessionView:
    return SessionView(
        actor=actor.id,
        user_id=actor.user_id,
        system_role=actor.system_role,
        project_roles=actor.project_roles,
        team_roles=actor.team_roles,
        via=via,
        csrf_token=csrf,
        expires_at=expires,
    )


def _json(view: SessionView | SignedOut, status: int, cookie: str | None = None) -> Response:
    headers = {"cache-control": "no-store"}
    if cookie is not None:
        headers["set-cookie"] = cookie
    return Response(view.model_dump_json(), status_code=status, media_type="application/json", headers=headers)


class SessionRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services

    async def create(self, request: Request) -> Response:
        codec: SessionCodec | None = request.app.state.sessions
        if codec is None:
            raise InvalidRequest(
                "The console cannot sign anyone in: set `ui.session_secret` or `master_key` in the config.",
                status=503,
                code="console_unavailable",
            )
        body = await read_body(request, SessionCreate)
        try:
            actor = await actor_for_credential(body.key, self.services)
        except Unauthenticated as exc:
            raise Unauthenticated(exc.message, param="key") from None
        except WardgateError as exc:  # a JWT the issuer refused, and the like: name the field
            exc.param = "key"
            raise
        value, session = codec.seal(body.key, time.time())
        record(self.services, actor, "console.sign_in", actor.id, {})
        cookie = set_cookie(value, int(codec.ttl_s), request.headers.get("host", ""))
        return _json(_view(actor, "cookie", session.csrf_token, session.expires_at), 201, cookie)

    async def get(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        has_header = "authorization" in request.headers or "x-api-key" in request.headers
        session = None if has_header else session_of(request)
        if session is None:
            return _json(_view(actor, "header", None, None), 200)
        return _json(_view(actor, "cookie", session.csrf_token, session.expires_at), 200)

    async def delete(self, request: Request) -> Response:
        await authenticate(request, self.services)  # a cookie sign-out needs the CSRF token like any change
        cleared = f"{COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
        return _json(SignedOut(), 200, cleared)


def operations(services: Worker) -> list[Operation]:
    r = SessionRoutes(services)
    path = "/admin/v1/session"
    return [
        Operation(
            "POST",
            path,
            "Sign in to the web console: trade a key for an HttpOnly session cookie",
            "session",
            r.create,
            SessionView,
            201,
            SessionCreate,
            errors=(400, 401, 503),
        ),
        Operation("GET", path, "Who the caller is, with their roles", "session", r.get, SessionView, errors=(401,)),
        Operation("DELETE", path, "Sign out of the console", "session", r.delete, SignedOut, errors=(401, 403)),
    ]
