"""Admin routes over the running gateway's state: budgets (state and the budgets managed here), the response cache
(statistics, invalidation) and deployments (health, breakers, canaries)."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import AdminActor, authenticate
from wardgate.api.admin.common import Operation, QueryParam, bad_param, query, read_body, record, reply
from wardgate.api.admin.errors import Conflict
from wardgate.api.admin.schemas import Body, Deleted
from wardgate.assemble import Worker
from wardgate.cache import cache_stats, invalidate
from wardgate.config.limits import BudgetConfig
from wardgate.core.errors import NotFound, PermissionDenied
from wardgate.limits.refresh import compile_row
from wardgate.limits.state import budget_states
from wardgate.routing.state import promote, resume, rollback, routing_state
from wardgate.store.budgets import BudgetStore
from wardgate.store.common import NotFoundInStore


class Rows(BaseModel):
    """A list of state rows; their fields are described in docs/admin-api.md."""

    model_config = ConfigDict(extra="allow")
    data: list[dict[str, Any]]


class BudgetRows(Rows):
    """Budget state rows, and the stored budgets skipped because they are not valid (not enforced)."""

    warnings: list[str] = Field(default_factory=list)


class Generation(BaseModel):
    scope: str
    value: str | None
    generation: int


class CanaryState(BaseModel):
    model_config = ConfigDict(extra="allow")


class Invalidation(Body):
    scope: Literal["all", "project", "model", "template"]
    value: str | None = Field(default=None, min_length=1, max_length=300)


def _visible_rows(actor: AdminActor, rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    visible = actor.visible_projects()
    return rows if visible is None else [r for r in rows if r.get(key) in visible]


def _compiled(config: BudgetConfig) -> BudgetConfig:
    """Checked as every worker will load it, before it is saved: a row that cannot load is never stored."""
    try:
        compile_row(config.model_dump(mode="json"))
    except ValueError as exc:
        raise bad_param("limit_usd" if config.limit_usd is not None else "limit_tokens", str(exc)) from None
    return config


class RuntimeRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.store = BudgetStore(services.engine)

    def _limits(self) -> Any:
        if self.services.limits is None:
            raise NotFound("budgets are not enforced on this worker")
        return self.services.limits

    async def budgets(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        limits = self._limits()
        rows = await budget_states(limits, None, query(request, "scope_value"))
        if actor.system_role is None:  # a project role sees the budgets of its projects only
            rows = [r for r in rows if r["scope"] == "project" and actor.project_role(r["scope_value"])]
        warnings = list(limits.warnings) if actor.system_role is not None else []
        return reply(BudgetRows(data=rows, warnings=warnings))

    async def budget(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        name = request.path_params["name"]
        rows = await budget_states(self._limits(), name, query(request, "scope_value"))
        if actor.system_role is None:
            rows = [r for r in rows if r["scope"] == "project" and actor.project_role(r["scope_value"])]
        if not rows:
            raise NotFound(f"no budget {name!r} (or no state for it yet: pass ?scope_value=)")
        return reply(Rows(data=rows))

    async def create_budget(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        config = _compiled(await read_body(request, BudgetConfig))
        refresher = self.services.budget_refresher
        if refresher is not None and config.name in refresher.config_names:
            raise Conflict(f"budget {config.name!r} is defined in the config file")
        await self.store.create(config.model_dump(mode="json"))
        await self._reload()
        record(self.services, actor, "budget.create", config.name, config.model_dump(mode="json"))
        return reply(Rows(data=[config.model_dump(mode="json")]), 201)

    async def replace_budget(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        name = request.path_params["name"]
        config = _compiled(await read_body(request, BudgetConfig))
        if config.name != name:
            raise bad_param("name", f"must be {name!r} (the budget in the path)")
        await self.store.replace(name, config.model_dump(mode="json"))
        await self._reload()
        record(self.services, actor, "budget.replace", name, config.model_dump(mode="json"))
        return reply(Rows(data=[config.model_dump(mode="json")]))

    async def delete_budget(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        name = request.path_params["name"]
        await self.store.delete(name)
        await self._reload()
        record(self.services, actor, "budget.delete", name, {})
        return reply(Deleted(object="budget", id=name))

    async def _reload(self) -> None:
        if self.services.budget_refresher is not None:
            await self.services.budget_refresher.load()  # at once here
            await self.services.announce_limits()  # every other worker and replica, at once

    async def cache_report(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        raw = query(request, "group_by") or "project,model"
        group_by = tuple(raw.split(","))
        try:
            start = date.fromisoformat(v) if (v := query(request, "from")) else None
            end = date.fromisoformat(v) if (v := query(request, "to")) else None
            rows = await cache_stats(self.services.cache, group_by, start=start, end=end)  # type: ignore[arg-type]
        except ValueError as exc:
            raise bad_param("group_by", str(exc)) from None
        if "project" in group_by:
            rows = _visible_rows(actor, rows, "project")
        elif actor.system_role is None:
            raise PermissionDenied("statistics across projects need a system role; group by project")
        return reply(Rows(data=rows))

    async def cache_invalidate(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        body = await read_body(request, Invalidation)
        if body.scope != "all" and body.value is None:
            raise bad_param("value", f"invalidating a {body.scope} needs its name or id")
        value = body.value
        if body.scope == "project" and value is not None:
            value = await self._project_id(actor, value)  # entries are keyed by the project's id
            if actor.system_role is None:
                actor.require_project(value, "admin")
            else:
                actor.require_system("admin")
        else:
            actor.require_system("admin")
            if body.scope == "model" and value not in self.services.settings.models:
                raise NotFound(f"no model {value!r}: nothing of it is cached")
        generation = await invalidate(self.services.cache, body.scope, value)
        record(self.services, actor, "cache.invalidate", f"{body.scope}:{value or '*'}", {"value": body.value})
        return reply(Generation(scope=body.scope, value=value, generation=generation))

    async def _project_id(self, actor: AdminActor, id_or_name: str) -> str:
        """A project's id from its id or name; one the caller may not see is as absent as an unknown one."""
        try:
            project = await self.services.tenancy.find_project(id_or_name)
        except NotFoundInStore:
            project = None
        if project is None or (actor.system_role is None and actor.project_role(project.id) is None):
            raise NotFound(f"no project {id_or_name!r}")
        return project.id

    async def deployments(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("viewer")
        return reply(Rows(data=routing_state(self.services.routing)))

    async def canary(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        model, action = request.path_params["model"], request.path_params["action"]
        act = {"promote": promote, "rollback": rollback, "resume": resume}.get(action)
        if act is None:
            raise NotFound(f"no canary action {action!r} (promote, rollback, resume)")
        try:
            state = await act(self.services.routing, model)
        except LookupError as exc:
            raise NotFound(str(exc)) from None
        record(self.services, actor, f"canary.{action}", model, {})
        return reply(CanaryState.model_validate(state))


def operations(services: Worker) -> list[Operation]:
    r = RuntimeRoutes(services)
    value = QueryParam("scope_value", "one scope value (a project id, a model…)", {"type": "string", "minLength": 1})
    day = {"type": "string", "format": "date"}
    return [
        Operation(
            "GET",
            "/admin/v1/budgets",
            "Budget state: spent, reserved, remaining, resets at",
            "budgets",
            r.budgets,
            BudgetRows,
            query=(value,),
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "POST",
            "/admin/v1/budgets",
            "Create a budget (system admin)",
            "budgets",
            r.create_budget,
            Rows,
            status=201,
            body=BudgetConfig,
            errors=(400, 401, 403, 409),
        ),
        Operation(
            "GET",
            "/admin/v1/budgets/{name}",
            "One budget's state",
            "budgets",
            r.budget,
            Rows,
            query=(value,),
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "PUT",
            "/admin/v1/budgets/{name}",
            "Replace a budget made here (system admin)",
            "budgets",
            r.replace_budget,
            Rows,
            body=BudgetConfig,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "DELETE",
            "/admin/v1/budgets/{name}",
            "Delete a budget made here (system admin)",
            "budgets",
            r.delete_budget,
            Deleted,
        ),
        Operation(
            "GET",
            "/admin/v1/cache/stats",
            "Cache hit rate, tokens, cost and latency saved",
            "cache",
            r.cache_report,
            Rows,
            errors=(400, 401, 403),
            query=(
                QueryParam(
                    "group_by",
                    "comma-separated: project, model, bucket, day",
                    {"type": "string", "pattern": "^(project|model|bucket|day)(,(project|model|bucket|day))*$"},
                ),
                QueryParam("from", "first day (UTC)", day),
                QueryParam("to", "last day (UTC)", day),
            ),
        ),
        Operation(
            "POST",
            "/admin/v1/cache/invalidate",
            "Invalidate cached answers on every replica",
            "cache",
            r.cache_invalidate,
            Generation,
            body=Invalidation,
            errors=(400, 401, 403, 404),
        ),
        Operation(
            "GET",
            "/admin/v1/deployments",
            "Deployments: health, breakers, canaries",
            "routing",
            r.deployments,
            Rows,
            errors=(401, 403),
        ),
        Operation(
            "POST",
            "/admin/v1/models/{model}/canary/{action}",
            "Promote, roll back or resume a canary",
            "routing",
            r.canary,
            CanaryState,
            errors=(401, 403, 404),
        ),
    ]
