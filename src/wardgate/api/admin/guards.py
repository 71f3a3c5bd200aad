"""``/admin/v1/guards``: guards made at runtime, stored in the database and re-read by every worker and replica
within ``limits.refresh_s`` (at once on the worker that answered), with the roles of budgets: system viewers list
them all, system admins manage any; a project admin manages the guards of its own project (``scope: project``,
``match: <project id>``) and sees those. The config file's guards are listed and cannot be changed here.
``POST /admin/v1/guards/test`` runs guards over a text for policy authors: the findings (masked) and the time taken.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import AdminActor, authenticate
from wardgate.api.admin.common import Operation, bad_param, read_body, record, reply
from wardgate.api.admin.errors import Conflict
from wardgate.api.admin.paging import page_ask, page_params, paginate
from wardgate.api.admin.schemas import Deleted, View
from wardgate.assemble import Worker
from wardgate.config.guards import GuardConfig
from wardgate.core.errors import MethodNotAllowed, NotFound, PermissionDenied
from wardgate.guards.engine import Guard, GuardFailed
from wardgate.guards.errors import GuardUnavailable
from wardgate.guards.scan import Scanner, mask
from wardgate.store.guards import GuardStore

MAX_TEST_CHARS = 100_000
RESERVED = "test"  # /admin/v1/guards/test is the test endpoint: no guard made here has that name


def _not_allowed(request: Request) -> MethodNotAllowed:
    return MethodNotAllowed(f"Method {request.method} is not allowed on {request.url.path}.", headers={"Allow": "POST"})


class GuardBody(GuardConfig):
    """A guard, as in the config file's `guards:`."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)
    # a JSON number is not a Decimal instance: this one field is read as budgets' limit_usd is
    max_usd: Annotated[Decimal, Field(gt=0, le=1_000_000, strict=False, allow_inf_nan=False)] | None = None


class GuardView(View):
    model_config = ConfigDict(extra="allow")
    object: Literal["guard"] = "guard"
    source: Literal["config", "api"]


class GuardList(View):
    object: Literal["list"] = "list"
    data: list[GuardView]
    warnings: list[str] = Field(default_factory=list)  # stored guards that are not valid (not enforced)
    next_cursor: str | None = Field(None, description="with limit: pass as ?cursor= for the next page; null: no more")


class GuardTestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    text: str = Field(max_length=MAX_TEST_CHARS)
    guards: list[str] | None = Field(default=None, max_length=100)  # names; default: every guard the caller sees


class TestFinding(View):
    guard: str
    type: str
    action: str
    entity: str
    start: int
    end: int
    snippet: str  # first and last characters and the length: never the value


class GuardTestResult(View):
    object: Literal["guard_test"] = "guard_test"
    findings: list[TestFinding]
    blocked: bool
    took_ms: float


def _view(config: dict[str, Any], source: Literal["config", "api"]) -> GuardView:
    return GuardView.model_validate({**config, "source": source})


def _owns(actor: AdminActor, config: GuardConfig) -> bool:
    """Whether this actor may manage this guard: a system admin any, a project admin its project's."""
    if actor.is_system_admin:
        return True
    if config.scope != "project" or config.match is None:
        return False
    return actor.project_role(config.match) == "admin"


def _sees(actor: AdminActor, config: GuardConfig) -> bool:
    if actor.system_role is not None:
        return True
    return config.scope == "project" and config.match is not None and actor.project_role(config.match) is not None


class GuardRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.store = GuardStore(services.engine)

    def _config_names(self) -> set[str]:
        return {g.name for g in self.services.settings.guards}

    async def _stored(self) -> dict[str, GuardConfig]:
        out: dict[str, GuardConfig] = {}
        for name, raw in await self.store.list():
            try:
                out[name] = GuardConfig.model_validate(raw)
            except ValueError:  # damaged rows: listed as warnings, not shown
                continue
        return out

    async def list(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        ask = page_ask(request)
        rows = [_view(g.model_dump(mode="json"), "config") for g in self.services.settings.guards if _sees(actor, g)]
        names = self._config_names()
        stored = await self._stored()
        rows += [
            _view(g.model_dump(mode="json"), "api") for n, g in stored.items() if n not in names and _sees(actor, g)
        ]
        warnings = list(self.services.guards.warnings) if actor.system_role is not None else []
        page, next_cursor = paginate(rows, lambda g: str(getattr(g, "name", "")), ask)
        return reply(GuardList(data=page, warnings=warnings, next_cursor=next_cursor))

    async def create(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        config = await read_body(request, GuardBody)
        if config.name == RESERVED:
            raise bad_param("name", f"{RESERVED!r} is reserved (POST /admin/v1/guards/test runs guards over a text)")
        self._require_owner(actor, config)
        if config.name in self._config_names():
            raise Conflict(f"guard {config.name!r} is defined in the config file")
        stored = config.model_dump(mode="json")
        await self.store.create(stored)
        await self._reload()
        record(self.services, actor, "guard.create", config.name, stored)
        return reply(_view(stored, "api"), 201)

    async def replace(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        name = request.path_params["name"]
        if name == RESERVED:
            raise _not_allowed(request)
        config = await read_body(request, GuardBody)
        if config.name != name:
            raise bad_param("name", f"must be {name!r} (the guard in the path)")
        self._require_owner(actor, config)
        current = (await self._stored()).get(name)
        if current is not None:
            self._require_owner(actor, current)  # a project admin cannot take over another project's guard
        stored = config.model_dump(mode="json")
        await self.store.replace(name, stored)
        await self._reload()
        record(self.services, actor, "guard.replace", name, stored)
        return reply(_view(stored, "api"))

    async def delete(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        name = request.path_params["name"]
        if name == RESERVED:
            raise _not_allowed(request)
        current = (await self._stored()).get(name)
        if current is not None:
            self._require_owner(actor, current)
        elif not actor.is_system_admin:
            raise NotFound(f"no guard {name!r} (guards from the config file cannot be changed here)")
        await self.store.delete(name)
        await self._reload()
        record(self.services, actor, "guard.delete", name, {})
        return reply(Deleted(object="guard", id=name))

    async def test(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        body = await read_body(request, GuardTestBody)
        visible = [g for g in self.services.guards.guards if _sees(actor, g.config)]
        if body.guards is not None:
            by_name = {g.name: g for g in visible}
            unknown = [n for n in body.guards if n not in by_name]
            if unknown:
                raise bad_param("guards", f"no guard {unknown[0]!r} that you can see")
            visible = [by_name[n] for n in body.guards]
        started = time.perf_counter()
        findings, blocked = _run(visible, body.text)
        took_ms = (time.perf_counter() - started) * 1000
        return reply(GuardTestResult(findings=findings, blocked=blocked, took_ms=round(took_ms, 3)))

    def _require_owner(self, actor: AdminActor, config: GuardConfig) -> None:
        if not _owns(actor, config):
            raise PermissionDenied(
                "this needs the system admin role, or the admin role on the project the guard matches "
                "(scope: project, match: <project id>)"
            )

    async def _reload(self) -> None:
        await self.services.guard_refresher.load()


def _run(guards: list[Guard], text: str) -> tuple[list[TestFinding], bool]:
    out: list[TestFinding] = []
    blocked = False
    for guard in guards:
        if guard.config.type in ("size", "cost", "tools"):  # these look at a request, not at a text
            continue
        try:
            hits = Scanner([guard]).hits(text)
        except GuardFailed as exc:
            raise GuardUnavailable(f"The {guard.config.type} guard {guard.name!r} failed on this text.") from exc
        for hit in hits:
            f = hit.finding
            snippet = mask(text[f.start : f.end]) if hit.pattern is not None else f"({f.end - f.start} chars)"
            out.append(
                TestFinding(
                    guard=guard.name,
                    type=guard.config.type,
                    action=guard.config.action,
                    entity=f.entity,
                    start=f.start,
                    end=f.end,
                    snippet=snippet,
                )
            )
            blocked = blocked or guard.config.action == "block"
    return out, blocked


def operations(services: Worker) -> list[Operation]:
    r = GuardRoutes(services)
    one = "/admin/v1/guards/{name}"
    return [
        Operation(
            "GET",
            "/admin/v1/guards",
            "Guards: the config file's and those made here (system role; a project role sees its project's)",
            "guards",
            r.list,
            GuardList,
            query=page_params("guards"),
            errors=(400, 401, 403),
        ),
        Operation(
            "POST",
            "/admin/v1/guards/test",
            "Run guards over a text: the findings (masked) and the time taken",
            "guards",
            r.test,
            GuardTestResult,
            body=GuardTestBody,
            errors=(400, 401, 403),
        ),
        Operation(
            "POST",
            "/admin/v1/guards",
            "Create a guard; every worker applies it within limits.refresh_s (system admin, or project admin)",
            "guards",
            r.create,
            GuardView,
            201,
            GuardBody,
            errors=(400, 401, 403, 409),
        ),
        Operation(
            "PUT",
            one,
            "Replace a guard made here (system admin, or the project's admin)",
            "guards",
            r.replace,
            GuardView,
            body=GuardBody,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "DELETE",
            one,
            "Delete a guard made here (system admin, or the project's admin)",
            "guards",
            r.delete,
            Deleted,
        ),
    ]
