"""``GET /admin/v1/chargeback?month=YYYY-MM&format=json|csv|parquet``: a month's billable usage per project and
model with its cost centre, the same rows as ``wardgate export chargeback`` (which uses this module). System roles
see every project; a project role sees its projects only."""

from __future__ import annotations

import asyncio
import csv
import io
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import authenticate
from wardgate.api.admin.common import Operation, QueryParam, bad_param, query, reply
from wardgate.api.admin.schemas import View
from wardgate.api.admin.usage import usd
from wardgate.assemble import Worker
from wardgate.store import usage as usage_store

CHARGEBACK_COLUMNS = ("project_id", "project", "cost_center", "model", "requests", "tokens", "cost_usd")
MONTH_PATTERN = "^[1-8][0-9]{3}-(0[1-9]|1[0-2])$"  # years 1000-8999: well inside datetime's range


def month_window(month: str) -> tuple[datetime, datetime] | None:
    """[first day, first day of the next month) in UTC; None when ``month`` is not YYYY-MM."""
    if not re.fullmatch(MONTH_PATTERN, month):
        return None
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=UTC)
    return start, end


def chargeback_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "project_id": row["project_id"],
            "project": row["project"],
            "cost_center": row["cost_center"],
            "model": row["model"],
            "requests": int(row["requests"]),
            "tokens": int(row["input_tokens"]) + int(row["output_tokens"]),
            "cost_usd": usd(int(row["cost_nanousd"])),
        }
        for row in rows
    ]


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CHARGEBACK_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    """The rows as a Parquet file (cost as an exact decimal). Raises ImportError without pyarrow (the `export`
    extra)."""
    import pyarrow as pa  # type: ignore[import-not-found,import-untyped,unused-ignore]
    import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]

    schema = pa.schema(
        [
            ("project_id", pa.string()),
            ("project", pa.string()),
            ("cost_center", pa.string()),
            ("model", pa.string()),
            ("requests", pa.int64()),
            ("tokens", pa.int64()),
            ("cost_usd", pa.decimal128(38, 9)),
        ]
    )
    columns = {name: [row[name] for row in rows] for name in CHARGEBACK_COLUMNS}
    columns["cost_usd"] = [Decimal(value) for value in columns["cost_usd"]]
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns, schema=schema), buffer)
    return buffer.getvalue()


class ChargebackRow(View):
    project_id: str | None
    project: str | None
    cost_center: str | None
    model: str
    requests: int
    tokens: int
    cost_usd: str = Field(description="USD, 9 decimals, exact")


class Chargeback(View):
    object: Literal["chargeback"] = "chargeback"
    month: str
    data: list[ChargebackRow]


async def chargeback(request: Request, services: Worker) -> Response:
    actor = await authenticate(request, services)
    month = query(request, "month")
    window = month_window(month) if month is not None else None
    if window is None:
        raise bad_param("month", "is required: a month like 2026-11")
    fmt = query(request, "format") or "json"
    if fmt not in ("json", "csv", "parquet"):
        raise bad_param("format", "one of json, csv, parquet")
    rows = chargeback_rows(await usage_store.chargeback(services.engine, *window))
    visible = actor.visible_projects()
    if visible is not None:
        rows = [r for r in rows if r["project_id"] in visible]
    name = f"chargeback-{month}"
    if fmt == "csv":
        headers = {"content-disposition": f'attachment; filename="{name}.csv"'}
        return Response(csv_text(rows), media_type="text/csv; charset=utf-8", headers=headers)
    if fmt == "parquet":
        try:
            body = await asyncio.to_thread(parquet_bytes, rows)
        except ImportError:
            raise bad_param("format", "parquet needs pyarrow on the gateway (the `export` extra); use csv") from None
        headers = {"content-disposition": f'attachment; filename="{name}.parquet"'}
        return Response(body, media_type="application/vnd.apache.parquet", headers=headers)
    return reply(Chargeback(month=str(month), data=[ChargebackRow.model_validate(r) for r in rows]))


def operations(services: Worker) -> list[Operation]:
    async def serve(request: Request) -> Response:
        return await chargeback(request, services)

    serve.__name__ = "chargeback"
    return [
        Operation(
            "GET",
            "/admin/v1/chargeback",
            "A month's billable usage per project and model, with cost centres; JSON, CSV or Parquet",
            "usage",
            serve,
            Chargeback,
            query=(
                QueryParam("month", "the month, e.g. 2026-11", {"type": "string", "pattern": MONTH_PATTERN}, True),
                QueryParam("format", "json (default), csv or parquet", {"enum": ["json", "csv", "parquet"]}),
            ),
            errors=(400, 401),
            extra={
                "other_content": {
                    "text/csv": {"schema": {"type": "string"}},
                    "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                }
            },
        )
    ]
