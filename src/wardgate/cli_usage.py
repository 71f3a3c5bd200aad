"""``wardgate usage``: requests, tokens and spend from the ledger, summed by project, team, key or model."""

from __future__ import annotations

import argparse
import csv
import io
import re
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.api.admin.usage import usd
from wardgate.cli_common import CommandError, table
from wardgate.store import usage as usage_store
from wardgate.store.tenancy import TenancyStore
from wardgate.store.usage import GROUP_KEYS, GroupKey

_SPAN = re.compile(r"(\d+(?:\.\d+)?)\s*([dhm])")
_SECONDS = {"d": 86_400, "h": 3600, "m": 60}
SUMS = ("requests", "input_tokens", "output_tokens", "cost_usd")


def parse_group(raw: str) -> list[GroupKey]:
    keys: list[GroupKey] = []
    for part in (p.strip() for p in raw.split(",")):
        match = [key for key in GROUP_KEYS if key == part]
        if not match:
            raise CommandError(f"--by: {part!r} is not one of {', '.join(GROUP_KEYS)}")
        if match[0] not in keys:
            keys.append(match[0])
    return keys


def parse_moment(value: str, name: str, now: datetime) -> datetime:
    """A span back from ``now`` (30d, 12h, 90m) or an ISO date/time (UTC when it names no zone)."""
    span = _SPAN.fullmatch(value.strip().lower())
    if span is not None:
        return datetime.fromtimestamp(now.timestamp() - float(span.group(1)) * _SECONDS[span.group(2)], UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{name}: {value!r} is neither a span (30d, 12h) nor an ISO date/time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def summary_rows(rows: list[dict[str, Any]], group: list[GroupKey]) -> list[dict[str, Any]]:
    return [
        {
            **{key: "" if row[key] is None else str(row[key]) for key in group},
            "requests": int(row["requests"]),
            "input_tokens": int(row["input_tokens"]),
            "output_tokens": int(row["output_tokens"]),
            "cost_usd": usd(int(row["cost_nanousd"])),
        }
        for row in rows
    ]


async def usage_report(engine: AsyncEngine, args: argparse.Namespace) -> int:
    now = datetime.now(UTC)
    group = parse_group(args.by)
    start = parse_moment(args.since, "--since", now)
    end = parse_moment(args.until, "--until", now) if args.until else now
    if end <= start:
        raise CommandError("--until must be after --since")
    projects = [(await TenancyStore(engine).find_project(args.project)).id] if args.project else None
    rows = summary_rows(await usage_store.aggregate(engine, group, start=start, end=end, project_ids=projects), group)
    totals = summary_rows(await usage_store.aggregate(engine, [], start=start, end=end, project_ids=projects), [])[0]
    columns = [*group, *SUMS]
    if args.format == "json":
        document = {"from": start.isoformat(), "to": end.isoformat(), "group_by": group, "rows": rows, "totals": totals}
        sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    elif args.format == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        sys.stdout.write(out.getvalue())
    else:
        print(f"usage from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC")
        lines = [[row[c] for c in columns] for row in rows]
        lines.append(["total", *[""] * (len(group) - 1), *[totals[c] for c in SUMS]])
        table(columns, lines)
    return 0
