"""`wardgate export chargeback`: a month's billable usage per project and model, as CSV or Parquet."""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import re
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.api.admin.usage import usd
from wardgate.cli_common import CommandError
from wardgate.store import usage as usage_store

CHARGEBACK_COLUMNS = ("project_id", "project", "cost_center", "model", "requests", "tokens", "cost_usd")


def month_window(month: str) -> tuple[datetime, datetime]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", month)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise CommandError(f"--month: {month!r} is not a month like 2026-11")
    year, number = int(match.group(1)), int(match.group(2))
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


async def export_chargeback(engine: AsyncEngine, args: argparse.Namespace) -> int:
    start, end = month_window(args.month)
    rows = chargeback_rows(await usage_store.chargeback(engine, start, end))
    if args.format == "parquet" and not args.output:
        raise CommandError("--format parquet needs --output FILE")
    await asyncio.to_thread(write_chargeback, rows, args.format, args.output)
    if args.output:
        print(f"{args.output}: {len(rows)} rows for {args.month}", file=sys.stderr)
    return 0


def write_chargeback(rows: list[dict[str, Any]], fmt: str, output: str | None) -> None:
    if fmt == "parquet":
        assert output is not None
        write_parquet(rows, Path(output))
        return
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CHARGEBACK_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    if output:
        Path(output).write_text(out.getvalue(), encoding="utf-8")
    else:
        sys.stdout.write(out.getvalue())


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    try:
        import pyarrow as pa  # type: ignore[import-not-found,import-untyped,unused-ignore]
        import pyarrow.parquet as pq  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise CommandError("parquet export needs pyarrow: pip install pyarrow (or use --format csv)") from None
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
    pq.write_table(pa.table(columns, schema=schema), path)
