"""The ledger rows behind a usage report's line: ``GET /admin/v1/usage/ledger`` filtered by the report's dimensions
and window, newest first, paged by cursor (the console's drill-down from a usage row to its requests); and
``GET /admin/v1/usage/health``: calls, errors and p95 latency and TTFT per day (the console's overview)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, QueryParam, bad_param, can_see, query, reply
from wardgate.api.admin.schemas import View
from wardgate.api.admin.usage import UsageRecord, parse_time, record_of
from wardgate.assemble import Worker
from wardgate.store import usage as usage_store

MAX_LIMIT = 100


class LedgerPage(View):
    object: Literal["list"] = "list"
    data: list[UsageRecord]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page; null: no more")


MAX_HEALTH_DAYS = 366


class HealthDay(View):
    day: str
    requests: int = Field(description="every call, refused ones included")
    errors: int = Field(description="calls answered with a status of 400 or more")
    latency_p95_ms: int | None
    ttft_p95_ms: int | None = Field(description="streams only")


class HealthReport(View):
    object: Literal["usage_health"] = "usage_health"
    data: list[HealthDay]


def _int(name: str, raw: str | None, default: int | None, high: int) -> int | None:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= high:
        raise bad_param(name, f"must be an integer from 1 to {high}")
    return int(raw)


class LedgerRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services

    async def page(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        filters: dict[str, str] = {}
        for name in usage_store.LEDGER_FILTERS:
            value = query(request, name)
            if value is not None:
                if len(value) > 300:
                    raise bad_param(name, "at most 300 characters")
                filters[name] = value
        visible = actor.visible_projects()
        if "project" in filters:
            can_see(actor, filters["project"])
        limit = _int("limit", query(request, "limit"), 50, MAX_LIMIT) or 50
        cursor = _int("cursor", query(request, "cursor"), None, 2**63 - 1)
        rows = await usage_store.ledger_page(
            self.services.engine,
            filters,
            start=parse_time("from", query(request, "from")),
            end=parse_time("to", query(request, "to")),
            project_ids=visible,
            before_id=cursor,
            limit=limit + 1,
        )
        more = len(rows) > limit
        rows = rows[:limit]
        next_cursor = str(rows[-1]["id"]) if more and rows else None
        return reply(LedgerPage(data=[record_of(row) for row in rows], next_cursor=next_cursor))


async def health(request: Request, services: Worker) -> Response:
    actor = await authenticate(request, services)
    now = datetime.now(UTC)
    end = parse_time("to", query(request, "to")) or now
    start = parse_time("from", query(request, "from")) or end - timedelta(days=30)
    start = max(start, end - timedelta(days=MAX_HEALTH_DAYS))  # bounded work: at most the window's last 366 days
    visible = actor.visible_projects()
    if (project := query(request, "project")) is not None:
        can_see(actor, project)
        visible = [project]
    rows = await usage_store.health(services.engine, start=start, end=end, project_ids=visible)
    data = [
        HealthDay(
            day=str(r["day"]),
            requests=int(r["requests"]),
            errors=int(r["errors"]),
            latency_p95_ms=None if r["latency_p95_ms"] is None else int(r["latency_p95_ms"]),
            ttft_p95_ms=None if r["ttft_p95_ms"] is None else int(r["ttft_p95_ms"]),
        )
        for r in rows
    ]
    return reply(HealthReport(data=data))


def operations(services: Worker) -> list[Operation]:
    r = LedgerRoutes(services)

    async def health_of(request: Request) -> Response:
        return await health(request, services)

    text = {"type": "string", "minLength": 1, "maxLength": 300}
    time = {"type": "string", "format": "date-time"}
    filters = tuple(
        QueryParam(name, f"only rows whose {name} is this (id)", text) for name in usage_store.LEDGER_FILTERS
    )
    return [
        Operation(  # before /usage/{request_id}: the first match serves
            "GET",
            "/admin/v1/usage/ledger",
            "Ledger rows (the requests behind a usage line), newest first; only the caller's projects",
            "usage",
            r.page,
            LedgerPage,
            query=(
                *filters,
                QueryParam("from", "start of the window, inclusive (RFC 3339)", time),
                QueryParam("to", "end of the window, exclusive (RFC 3339)", time),
                QueryParam(
                    "limit", "rows per page (default 50)", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
                ),
                QueryParam(
                    "cursor", "next_cursor of the previous page", {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}
                ),
            ),
            errors=(400, 401, 404),
        ),
        Operation(
            "GET",
            "/admin/v1/usage/health",
            "Calls, errors, p95 latency and TTFT per day (default: the last 30 days; at most the window's last 366)",
            "usage",
            health_of,
            HealthReport,
            query=(
                QueryParam("from", "start of the window, inclusive (RFC 3339)", time),
                QueryParam("to", "end of the window, exclusive (RFC 3339; default now)", time),
                QueryParam("project", "only this project (id)", {"type": "string", "minLength": 1}),
            ),
            errors=(400, 401, 404),
        ),
    ]
