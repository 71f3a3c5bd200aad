"""``GET /admin/v1/analytics``: ledger metrics by dimension and time bucket, JSON or CSV (``Accept: text/csv``).

Roles apply as for ``/admin/v1/usage``: a caller sees only the projects it may see. Spend is exact: integer
nano-dollars summed in SQL, shown as a USD string with 9 decimals (and ``cost_nanousd`` beside it).
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

import orjson
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, QueryParam, bad_param, can_see, query
from wardgate.api.admin.schemas import Time, View
from wardgate.api.admin.usage import parse_time
from wardgate.assemble import Worker
from wardgate.store import analytics as store
from wardgate.store.analytics import DIMENSIONS, INTERVALS, METRICS, Interval, Metric

_DIMS = "|".join(DIMENSIONS)
_METRICS = "|".join(METRICS)
GROUP_BY_PATTERN = f"^({_DIMS})(,({_DIMS}))*$"
METRICS_PATTERN = f"^({_METRICS})(,({_METRICS}))*$"
DEFAULT_METRICS: tuple[Metric, ...] = ("spend_usd", "requests", "tokens_in", "tokens_out", "errors")


class AnalyticsReport(View):
    """One row per (bucket, group): `bucket` (UTC, start of the hour or day) unless `interval=none`, the dimensions
    asked for (null: none, e.g. a master-key call has no project), then the metrics asked for. `spend_usd` is exact
    (9 decimals) and comes with `cost_nanousd`."""

    object: Literal["analytics"] = "analytics"
    from_: Time | None = Field(alias="from")
    to: Time | None
    interval: Interval
    group_by: list[str]
    metrics: list[str]
    rows: list[dict[str, Any]]


def _listed(name: str, raw: str | None, allowed: tuple[str, ...], default: tuple[str, ...]) -> list[str]:
    if raw is None:
        return list(default)
    parts = raw.split(",")
    if any(part not in allowed for part in parts):
        raise bad_param(name, f"a comma-separated list of {', '.join(allowed)}")
    return list(dict.fromkeys(parts))


def _csv(names: list[str], rows: list[list[Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(names)
        writer.writerows(rows)
    return buffer.getvalue()


class AnalyticsRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services

    async def report(self, request: Request) -> Response:
        actor = await authenticate(request, self.services)
        metrics = _listed("metrics", query(request, "metrics"), METRICS, DEFAULT_METRICS)
        group_by = _listed("group_by", query(request, "group_by"), tuple(DIMENSIONS), ())
        interval = query(request, "interval") or "none"
        if interval not in INTERVALS:
            raise bad_param("interval", f"one of {', '.join(INTERVALS)}")
        start, end = parse_time("from", query(request, "from")), parse_time("to", query(request, "to"))
        visible = actor.visible_projects()
        if (project := query(request, "project")) is not None:
            can_see(actor, project)
            visible = [project]
        try:
            names, rows = await store.analytics_rows(
                self.services.engine,
                metrics,  # type: ignore[arg-type]  # checked against METRICS above
                group_by,
                interval,  # checked against INTERVALS above
                start=start,
                end=end,
                project_ids=visible,
            )
        except store.TooManyRows as exc:
            raise bad_param("from", str(exc)) from None
        if "text/csv" in request.headers.get("accept", ""):
            return Response(_csv(names, rows), media_type="text/csv; charset=utf-8")
        # the envelope through the schema, the rows (tens of thousands) straight from the store's lists to orjson
        report = AnalyticsReport.model_validate(
            {"from": start, "to": end, "interval": interval, "group_by": group_by, "metrics": metrics, "rows": []}
        ).model_dump(mode="json", by_alias=True)
        report["rows"] = [dict(zip(names, row, strict=True)) for row in rows]
        return Response(orjson.dumps(report), media_type="application/json")


def operations(services: Worker) -> list[Operation]:
    r = AnalyticsRoutes(services)
    time = {"type": "string", "format": "date-time"}
    return [
        Operation(
            "GET",
            "/admin/v1/analytics",
            "Ledger metrics by dimension and time bucket (JSON, or CSV with Accept: text/csv); only the caller's "
            "projects",
            "analytics",
            r.report,
            AnalyticsReport,
            query=(
                QueryParam(
                    "metrics", "comma-separated: " + ", ".join(METRICS), {"type": "string", "pattern": METRICS_PATTERN}
                ),
                QueryParam(
                    "group_by",
                    "comma-separated: " + ", ".join(DIMENSIONS),
                    {"type": "string", "pattern": GROUP_BY_PATTERN},
                ),
                QueryParam("interval", "time bucket", {"type": "string", "enum": list(INTERVALS)}),
                QueryParam("from", "start of the window, inclusive (RFC 3339)", time),
                QueryParam("to", "end of the window, exclusive (RFC 3339)", time),
                QueryParam("project", "only this project (id)", {"type": "string", "minLength": 1}),
            ),
            errors=(400, 401, 404),
        )
    ]
