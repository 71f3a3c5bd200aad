"""``/admin/v1/rate-limits``: rate limits made at runtime, stored in the database and re-read by every worker and
replica within ``limits.refresh_s`` (at once on the worker that answered). Rate limits of the config file are
listed too, and cannot be changed here."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, bad_param, read_body, record, reply
from wardgate.api.admin.errors import Conflict
from wardgate.api.admin.schemas import Deleted, View
from wardgate.assemble import Worker
from wardgate.config.limits import RateLimitConfig
from wardgate.store.rate_limits import RateLimitStore


class RateLimitBody(RateLimitConfig):
    """A rate limit, as in the config file's `rate_limits:` (at least one of rpm, tpm, concurrent)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class RateLimitView(View):
    model_config = ConfigDict(extra="allow")
    object: Literal["rate_limit"] = "rate_limit"
    source: Literal["config", "api"]


class RateLimitList(View):
    object: Literal["list"] = "list"
    data: list[RateLimitView]


def _view(config: dict[str, Any], source: Literal["config", "api"]) -> RateLimitView:
    return RateLimitView.model_validate({**config, "source": source})


class RateLimitRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self.store = RateLimitStore(services.engine)

    def _config_names(self) -> set[str]:
        return {r.name for r in self.services.settings.rate_limits}

    async def list(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("viewer")
        rows = [_view(r.model_dump(mode="json"), "config") for r in self.services.settings.rate_limits]
        stored = [raw for _, raw in await self.store.list() if isinstance(raw, dict)]  # damaged rows: not shown
        rows += [_view(raw, "api") for raw in stored if raw.get("name") not in self._config_names()]
        return reply(RateLimitList(data=rows))

    async def create(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        config = await read_body(request, RateLimitBody)
        if config.name in self._config_names():
            raise Conflict(f"rate limit {config.name!r} is defined in the config file")
        stored = config.model_dump(mode="json")
        await self.store.create(stored)
        await self._reload()
        record(self.services, actor, "rate_limit.create", config.name, stored)
        return reply(_view(stored, "api"), 201)

    async def replace(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        name = request.path_params["name"]
        config = await read_body(request, RateLimitBody)
        if config.name != name:
            raise bad_param("name", f"must be {name!r} (the rate limit in the path)")
        stored = config.model_dump(mode="json")
        await self.store.replace(name, stored)
        await self._reload()
        record(self.services, actor, "rate_limit.replace", name, stored)
        return reply(_view(stored, "api"))

    async def delete(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("admin")
        name = request.path_params["name"]
        await self.store.delete(name)
        await self._reload()
        record(self.services, actor, "rate_limit.delete", name, {})
        return reply(Deleted(object="rate_limit", id=name))

    async def _reload(self) -> None:
        if self.services.rate_limit_refresher is not None:
            await self.services.rate_limit_refresher.load()
            await self.services.announce_limits()  # every other worker and replica, at once


def operations(services: Worker) -> list[Operation]:
    r = RateLimitRoutes(services)
    one = "/admin/v1/rate-limits/{name}"
    return [
        Operation(
            "GET",
            "/admin/v1/rate-limits",
            "Rate limits: the config file's and those made here (system role)",
            "rate_limits",
            r.list,
            RateLimitList,
            errors=(401, 403),
        ),
        Operation(
            "POST",
            "/admin/v1/rate-limits",
            "Create a rate limit; every worker applies it within limits.refresh_s (system admin)",
            "rate_limits",
            r.create,
            RateLimitView,
            201,
            RateLimitBody,
            errors=(400, 401, 403, 409),
        ),
        Operation(
            "PUT",
            one,
            "Replace a rate limit made here (system admin)",
            "rate_limits",
            r.replace,
            RateLimitView,
            body=RateLimitBody,
            errors=(400, 401, 403, 404),
        ),
        Operation("DELETE", one, "Delete a rate limit made here (system admin)", "rate_limits", r.delete, Deleted),
    ]
