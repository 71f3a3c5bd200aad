"""What every admin handler shares: the operation table, strict JSON bodies, JSON answers, visibility, audit.

Visibility rule, the same on every route: a project the caller holds no role in (directly, through one of its
teams, or at system level) does not exist for them, so it answers 404 exactly as an unknown id would; a project
they can see but may not change answers 403.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import wraps
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, RootModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import AdminActor
from wardgate.api.admin.errors import Conflict
from wardgate.api.body import MAX_DEPTH, too_deep
from wardgate.assemble import Worker
from wardgate.core.errors import InvalidJSON, InvalidRequest, NotFound
from wardgate.store.audit import AuditEntry
from wardgate.store.availability import is_unavailable, unavailable
from wardgate.store.common import Conflict as StoreConflict
from wardgate.store.common import NotFoundInStore
from wardgate.store.tenancy import Role

Handler = Callable[[Request], Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)
_RANK: dict[Role, int] = {"viewer": 0, "member": 1, "admin": 2}


@dataclass(frozen=True, slots=True)
class QueryParam:
    name: str
    description: str
    schema: Mapping[str, Any]
    required: bool = False


@dataclass(frozen=True, slots=True)
class Operation:
    """One route: how it is served and how the OpenAPI document describes it."""

    method: str
    path: str
    summary: str
    tag: str
    handler: Handler
    response: type[BaseModel]
    status: int = 200
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: tuple[QueryParam, ...] = ()
    errors: tuple[int, ...] = (401, 403, 404)
    also: tuple[int, ...] = ()  # other success statuses with the same answer (200 for an idempotent create)
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def store_errors(handler: Handler) -> Handler:
    """The store's two refusals, as the client sees them."""

    @wraps(handler)
    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except NotFoundInStore as exc:
            raise NotFound(str(exc)) from exc
        except StoreConflict as exc:
            raise Conflict(str(exc)) from exc
        except (OSError, TimeoutError, SQLAlchemyError) as exc:
            if not is_unavailable(exc):
                raise
            raise unavailable(request.app.state.services.store_outage, exc) from None  # 503 + retry-after

    return guarded


async def read_body(
    request: Request,
    model: type[M],
    *,
    required: bool = True,
    before: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> M:
    """The body as ``model``; ``before`` rewrites a JSON object body before it is validated (the MCP servers' PUT
    puts back the stored secrets it leaves out)."""
    raw = await request.body()
    if not raw.strip():
        if required:
            raise InvalidRequest("This request needs a JSON body.")
        raw = b"{}"
    try:
        data = orjson.loads(raw)
        if too_deep(data, raw):  # the data plane's depth limit: audit and answers re-encode the body
            raise InvalidJSON(f"The body is nested more than {MAX_DEPTH} levels deep, the most this gateway accepts.")
        if before is not None and isinstance(data, dict):
            raw = orjson.dumps(before(data))
    except orjson.JSONDecodeError:
        pass  # pydantic names the problem below
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _invalid(exc, tagged=issubclass(model, RootModel)) from None


def _invalid(exc: ValidationError, *, tagged: bool) -> InvalidRequest:
    errors = exc.errors(include_url=False)
    if tagged:  # a discriminated union puts the chosen branch's tag first: not a field the client sent
        for error in errors:
            if len(error["loc"]) > 1:
                error["loc"] = error["loc"][1:]
    first = errors[0]
    if first["type"] == "json_invalid":
        return InvalidJSON(f"The body is not valid JSON: {first['msg']}.")
    if first["type"] in ("model_type", "model_attributes_type") and not first["loc"]:
        return InvalidRequest("The body must be a JSON object.")
    for error in errors:
        if error["type"] in ("union_tag_invalid", "union_tag_not_found"):  # name the discriminating field
            error["loc"] = (str(error.get("ctx", {}).get("discriminator", "")).strip("'"),)
            if error["type"] == "union_tag_not_found":
                error["msg"] = "Field required"
    problems = []
    for error in errors[:3]:
        where = _location(error["loc"])
        message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"].removeprefix("Value error, ")
        problems.append(f"{where}: {message}" if where else message)
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return InvalidRequest("; ".join(problems) + more, param=_location(first["loc"]) or None)


def _location(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def reply(model: BaseModel, status: int = 200) -> Response:
    return Response(model.model_dump_json(), status_code=status, media_type="application/json")


def query(request: Request, name: str) -> str | None:
    """A query parameter; present but empty is a mistake, not "absent"."""
    value = request.query_params.get(name)
    if value == "":
        raise bad_param(name, "must not be empty")
    return value


def bad_param(name: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{name}: {message}", param=name)


def utc(value: datetime, name: str) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise bad_param(name, "out of range") from None


def can_see(actor: AdminActor, project_id: str) -> None:
    if actor.project_role(project_id) is None:
        raise NotFound(f"no project {project_id!r}")


def require(actor: AdminActor, project_id: str, at_least: Role) -> None:
    can_see(actor, project_id)
    actor.require_project(project_id, at_least)


def at_least(role: Role | None, wanted: Role) -> bool:
    return role is not None and _RANK[role] >= _RANK[wanted]


def best(*roles: Role | None) -> Role | None:
    held: list[Role] = [r for r in roles if r is not None]
    if not held:
        return None
    return max(held, key=lambda r: _RANK[r])


def record(services: Worker, actor: AdminActor | str, action: str, target: str, details: dict[str, Any]) -> None:
    """Queue the audit entry of one change. Never pass a key itself here: only its id and prefix."""
    who = actor if isinstance(actor, str) else actor.id
    services.audit.put(AuditEntry(who, action, target, auditable(details), datetime.now(UTC)))


def auditable(details: dict[str, Any]) -> dict[str, Any]:
    """The trail hashes details as orjson writes them, and orjson stops at 64-bit integers; a client's metadata may
    hold bigger ones. Those are kept as decimal strings rather than block the audit queue."""
    try:
        orjson.dumps(details)
    except TypeError:
        return dict(json.loads(json.dumps(details, default=str), parse_int=_int_or_text))
    return details


def _int_or_text(text: str) -> int | str:
    value = int(text)
    return value if -(2**63) <= value < 2**64 else text
