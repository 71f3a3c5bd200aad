"""``GET /admin/v1/audit``: the audit trail, newest first, filtered and paginated with a cursor.

System roles see every entry; a project admin sees the entries of the projects they administer (see
store/audit_query.py for what an entry's project is), nothing else.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, QueryParam, bad_param, query, reply
from wardgate.api.admin.schemas import View
from wardgate.api.admin.usage import parse_time
from wardgate.assemble import Worker
from wardgate.core.errors import NotFound, PermissionDenied
from wardgate.store.audit_query import AuditFilter, page
from wardgate.store.common import NotFoundInStore

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100


class AuditRecord(View):
    seq: int
    ts: datetime
    actor: str
    action: str
    target: str | None
    project: str | None = Field(description="the project the entry concerns, when it concerns one")
    details: dict[str, Any]


class AuditPage(View):
    object: Literal["list"] = "list"
    data: list[AuditRecord]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next (older) page; null: no more")


MAX_TEXT = 300


def _text(request: Request, name: str) -> str | None:
    value = query(request, name)
    if value is not None and len(value) > MAX_TEXT:
        raise bad_param(name, f"at most {MAX_TEXT} characters")
    return value


def _int(name: str, raw: str | None, default: int | None, low: int, high: int) -> int | None:
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
        raise bad_param(name, f"must be an integer from {low} to {high}")
    return int(raw)


class AuditRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services

    async def list(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        if actor.system_role is not None:
            projects: list[str] | None = None
        else:
            projects = sorted(p for p, role in actor.project_roles.items() if role == "admin")
            if not projects:
                raise PermissionDenied("the audit trail needs a system role or the admin role on a project")
        if (wanted := _text(request, "project")) is not None:
            try:
                project = (await self.services.tenancy.find_project(wanted)).id
            except NotFoundInStore:
                project = None
            if project is None or (projects is not None and project not in projects):
                raise NotFound(f"no project {wanted!r}")
            projects = [project]
        where = AuditFilter(
            start=parse_time("from", query(request, "from")),
            end=parse_time("to", query(request, "to")),
            actor=_text(request, "actor"),
            action=_text(request, "action"),
            projects=projects,
            request=_text(request, "request"),
        )
        limit = _int("limit", query(request, "limit"), DEFAULT_LIMIT, 1, MAX_LIMIT)
        cursor = _int("cursor", query(request, "cursor"), None, 1, 10**18 - 1)
        assert limit is not None
        rows, next_seq = await page(self.services.engine, where, limit=limit, before=cursor)
        data = [
            AuditRecord(
                seq=r.seq,
                ts=r.ts,
                actor=r.actor,
                action=r.action,
                target=r.target,
                project=r.project,
                details=r.details,
            )
            for r in rows
        ]
        return reply(AuditPage(data=data, next_cursor=str(next_seq) if next_seq is not None else None))


def operations(services: Worker) -> list[Operation]:
    r = AuditRoutes(services)
    text = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT}
    time = {"type": "string", "format": "date-time"}
    params = (
        QueryParam("from", "entries at or after this time (RFC 3339)", time),
        QueryParam("to", "entries before this time (RFC 3339)", time),
        QueryParam("actor", 'who acted: "master", "cli", "user:<id>", "key:<id>"…', text),
        QueryParam("action", 'an action ("key.create"), or a prefix ending in "." ("key.")', text),
        QueryParam("project", "only entries of this project (id or name)", text),
        QueryParam(
            "request", "only entries of this request (a ledger row's request_id: guard decisions, MCP calls)", text
        ),
        QueryParam(
            "limit",
            f"entries per page (1 to {MAX_LIMIT}, default {DEFAULT_LIMIT})",
            {"type": "string", "pattern": "^([1-9][0-9]{0,2}|1000)$"},
        ),
        QueryParam("cursor", "next_cursor of the previous page", {"type": "string", "pattern": "^[1-9][0-9]{0,17}$"}),
    )
    return [
        Operation(
            "GET",
            "/admin/v1/audit",
            "The audit trail, newest first (system roles; project admins see their projects' entries)",
            "audit",
            r.list,
            AuditPage,
            query=params,
            errors=(400, 401, 403, 404),
        )
    ]
