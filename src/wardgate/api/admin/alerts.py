"""``GET /admin/v1/alerts``: the configured alerts, which are firing now, and the past firings (newest first).

Firings are read from the shared store, so every replica answers the same. Needs the system viewer role: a firing
may name any project.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, reply
from wardgate.api.admin.schemas import View
from wardgate.assemble import Worker
from wardgate.store.tables import alert_events

MAX_LISTED = 200


class AlertFiring(View):
    alert: str
    series: str = Field(description="the scope value (a project id, a model …); empty for a global alert")
    signal: str
    value: float
    baseline: float | None
    score: float | None = Field(description="the robust z-score (seasonal detectors)")
    fired_at: datetime
    notified: bool = Field(description="true for the first window of an episode: the webhooks were called then")


class AlertState(View):
    name: str
    signal: str
    scope: str
    match: str | None
    detector: dict[str, Any]
    window_s: int
    firing: list[str] = Field(description="series firing in the current or the last window")


class AlertList(View):
    object: Literal["alert_list"] = "alert_list"
    alerts: list[AlertState]
    firings: list[AlertFiring] = Field(description=f"the last {MAX_LISTED} firings, newest first")


class AlertRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services

    async def list(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        actor.require_system("viewer")
        query = select(alert_events).order_by(alert_events.c.fired_at.desc(), alert_events.c.id.desc())
        async with self.services.engine.connect() as conn:
            rows = [dict(r) for r in (await conn.execute(query.limit(MAX_LISTED))).mappings()]
        runner = self.services.alerts
        now = runner.clock() if runner is not None else time.time()
        states = []
        for alert in self.services.settings.alerts:
            current = int(now // alert.window_s)
            firing = sorted({r["series"] for r in rows if r["alert"] == alert.name and r["bucket"] >= current - 1})
            states.append(
                AlertState(
                    name=alert.name,
                    signal=alert.signal,
                    scope=alert.scope,
                    match=alert.match,
                    detector=alert.detector.model_dump(),
                    window_s=alert.window_s,
                    firing=firing,
                )
            )
        firings = [AlertFiring.model_validate(r) for r in rows]
        return reply(AlertList(alerts=states, firings=firings))


def operations(services: Worker) -> list[Operation]:
    r = AlertRoutes(services)
    return [
        Operation(
            "GET",
            "/admin/v1/alerts",
            "The configured alerts, which are firing, and past firings",
            "alerts",
            r.list,
            AlertList,
            errors=(401, 403),
        )
    ]
