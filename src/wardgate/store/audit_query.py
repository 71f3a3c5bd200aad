"""Reading the audit trail: newest first, filtered, one page at a time (a cursor is the last ``seq`` seen).

An entry's project is ``details.project`` (keys, teams, agents, budgets …), or its target for ``project.*``
actions; entries with neither belong to no project and only system roles see them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.tables import audit_log


@dataclass(frozen=True, slots=True)
class AuditFilter:
    start: datetime | None = None  # inclusive
    end: datetime | None = None  # exclusive
    actor: str | None = None
    action: str | None = None  # exact, or a prefix ending in "." ("key." for every key action)
    projects: Sequence[str] | None = None  # None: every entry; else only these projects' entries
    request: str | None = None  # only the entries of this request (details.request_id: guards, MCP calls)


@dataclass(frozen=True, slots=True)
class AuditRow:
    seq: int
    ts: datetime
    actor: str
    action: str
    target: str | None
    details: dict[str, Any]

    @property
    def project(self) -> str | None:
        project = self.details.get("project")
        if isinstance(project, str):
            return project
        return self.target if self.action.startswith("project.") else None


async def page(
    engine: AsyncEngine, where: AuditFilter, *, limit: int, before: int | None = None
) -> tuple[list[AuditRow], int | None]:
    """Up to ``limit`` entries older than ``before`` (a seq), newest first, and the cursor of the next page."""
    query = select(audit_log).order_by(audit_log.c.seq.desc())
    if where.start is not None:
        query = query.where(audit_log.c.ts >= where.start)
    if where.end is not None:
        query = query.where(audit_log.c.ts < where.end)
    if where.actor is not None:
        query = query.where(audit_log.c.actor == where.actor)
    if where.action is not None:
        if where.action.endswith("."):
            query = query.where(audit_log.c.action.startswith(where.action, autoescape=True))
        else:
            query = query.where(audit_log.c.action == where.action)
    if where.request is not None:  # coarse in SQL, exact below
        needle = orjson.dumps({"request_id": where.request}).decode()[1:-1]
        query = query.where(audit_log.c.details.contains(needle, autoescape=True))
    if where.projects is not None:
        if not where.projects:
            return [], None
        # a coarse match in SQL (details are canonical JSON); the exact one below
        clauses = []
        for project in where.projects:
            clauses.append(
                audit_log.c.details.contains(orjson.dumps({"project": project}).decode()[1:-1], autoescape=True)
            )
            clauses.append(audit_log.c.action.startswith("project.") & (audit_log.c.target == project))
        query = query.where(or_(*clauses))
    wanted = set(where.projects) if where.projects is not None else None
    rows: list[AuditRow] = []
    cursor = before
    async with engine.connect() as conn:
        while True:
            batch = query if cursor is None else query.where(audit_log.c.seq < cursor)
            found = (await conn.execute(batch.limit(limit + 1))).all()
            for i, r in enumerate(found):
                ts = r.ts if r.ts.tzinfo is not None else r.ts.replace(tzinfo=UTC)
                row = AuditRow(r.seq, ts, r.actor, r.action, r.target, orjson.loads(r.details))
                cursor = r.seq
                if wanted is not None and row.project not in wanted:
                    continue
                if where.request is not None and row.details.get("request_id") != where.request:
                    continue
                rows.append(row)
                if len(rows) == limit:
                    more = i < len(found) - 1
                    return rows, cursor if more else None
            if len(found) <= limit:  # nothing older is left
                return rows, None
