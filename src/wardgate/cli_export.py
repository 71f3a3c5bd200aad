"""`wardgate export chargeback`: a month's billable usage per project and model, as CSV or Parquet."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.api.admin.chargeback import chargeback_rows, csv_text, parquet_bytes
from wardgate.api.admin.chargeback import month_window as api_month_window
from wardgate.cli_common import CommandError
from wardgate.store import usage as usage_store


def month_window(month: str) -> tuple[datetime, datetime]:
    window = api_month_window(month)
    if window is None:
        raise CommandError(f"--month: {month!r} is not a month like 2026-11")
    return window


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
        try:
            Path(output).write_bytes(parquet_bytes(rows))
        except ImportError:
            raise CommandError("parquet export needs pyarrow: pip install pyarrow (or use --format csv)") from None
        return
    text = csv_text(rows)
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
