"""The cost of one alert evaluation round on a big ledger, with and without the baseline windows kept between ticks
(issue 15, point 7: how short can the tick be).

    python bench/alerts_cost.py --store sqlite --peak 3000
    python bench/alerts_cost.py --store postgresql --peak 3000

Seeds a ledger (SQLite file, or its own PostgreSQL database on 127.0.0.1:5432) with rows at the peak rate in every
window a round reads (the current 5 minutes and the 4 previous weeks' baseline windows around the same time) and a
filler row a second over 5 weeks elsewhere, then runs ``AlertRunner.evaluate`` at ``--rounds`` successive ticks of
the grid for three seasonal alerts (spend by project, TTFT p95, error rate), and prints each round's wall time and
ledger queries: first with a cache that forgets every window at once (every round reads its 20 baseline windows a
window length), then with the runner's ``PastWindows``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from sqlalchemy import text

from wardgate.alerts import runner as runner_module
from wardgate.alerts.runner import AlertRunner
from wardgate.alerts.signals import PastWindows
from wardgate.config.telemetry import AlertConfig
from wardgate.store.engine import create_engine, upgrade

WEEK = 7 * 86_400
T0 = 1_796_000_000.0 - 1_796_000_000.0 % 3600  # the first round's instant (on the tick grid)
PG_DATABASE = "wardgate_bench_alerts"
ALERTS = [
    {"name": "spend", "signal": "spend_usd", "scope": "project"},
    {"name": "ttft", "signal": "ttft_p95"},
    {"name": "errors", "signal": "error_rate"},
]

_SQLITE_RANGE = """
WITH RECURSIVE g(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM g WHERE n + 1 < :rows),
s AS MATERIALIZED (SELECT n, abs(random()) % 8 AS p, abs(random()) % 1000 AS err, abs(random()) % 1300 AS t FROM g)
INSERT INTO usage_events (request_id, ts, principal_kind, principal_id, project_id, surface, operation, model,
  input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_nanousd, latency_ms, ttft_ms,
  status, cache_hit, stream, billable)
SELECT :tag || '-' || n, strftime('%Y-%m-%d %H:%M:%f', :t0 + n * :step, 'unixepoch'), 'key', 'k', 'p' || p,
  'openai', 'chat', 'small', 500, 200, 0, 0, 0, 2000000 + t * 1000, 900 + t, 200 + t,
  CASE WHEN err < 5 THEN 500 ELSE 200 END, 0, 1, 1
FROM s
"""

_PG_RANGE = """
INSERT INTO usage_events (request_id, ts, principal_kind, principal_id, project_id, surface, operation, model,
  input_tokens, output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_nanousd, latency_ms, ttft_ms,
  status, cache_hit, stream, billable)
SELECT :tag || '-' || n, to_timestamp(CAST(:t0 AS float8) + n * CAST(:step AS float8)), 'key', 'k',
  'p' || (random() * 7)::int, 'openai', 'chat', 'small', 500, 200, 0, 0, 0, 2000000 + (random() * 1300000)::int,
  900 + (random() * 1300)::int, 200 + (random() * 1300)::int,
  CASE WHEN random() < 0.005 THEN 500 ELSE 200 END, false, true, true
FROM generate_series(0, :rows - 1) AS n
"""


def ranges(peak: float, span_s: float) -> list[tuple[str, float, float, float]]:
    """(tag, start, end, rows a second): dense where a round reads, filler elsewhere."""
    rate = peak / 60
    out = []
    lo_pad, hi_pad = 300 + 2 * 300 + 60, 2 * 300 + span_s + 60  # the widest baseline window's reach, both sides
    for week in range(5):
        centre = T0 - week * WEEK
        out.append((f"dense{week}", centre - lo_pad, centre + hi_pad, rate))
    start = T0 - 5 * WEEK
    for week in range(4, -1, -1):
        end = T0 - week * WEEK - lo_pad
        out.append((f"fill{week}", start, end, 1.0))
        start = T0 - week * WEEK + hi_pad
    return out


async def seed(url: str, peak: float, span_s: float) -> int:
    engine = create_engine(url)
    total = 0
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            sql = _PG_RANGE if conn.dialect.name == "postgresql" else _SQLITE_RANGE
            for tag, start, end, rate in ranges(peak, span_s):
                rows = int((end - start) * rate)
                await conn.execute(text(sql), {"tag": tag, "t0": start, "step": 1 / rate, "rows": rows})
                total += rows
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()
    return total


async def measure(url: str, rounds: int, cached: bool) -> list[tuple[float, int]]:
    engine = create_engine(url)
    alerts = [
        AlertConfig.model_validate({**a, "detector": {"type": "seasonal", "sensitivity": 3.0}, "window_s": 300})
        for a in ALERTS
    ]
    out = []
    try:
        async with aiohttp.ClientSession() as session:
            runner = AlertRunner(engine, alerts, session, frozenset({"small"}))
            if not cached:
                runner.past = PastWindows(engine, runner.models, keep_s=-1.0)  # forgets all after every round
            for k in range(rounds):
                before = runner.past.queries
                started = time.perf_counter()
                await runner.evaluate(T0 + k * runner_module.TICK_S)
                out.append((time.perf_counter() - started, runner.past.queries - before))
    finally:
        await engine.dispose()
    return out


async def _recreate_database() -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=["sqlite", "postgresql"], required=True)
    parser.add_argument("--peak", type=float, default=3000.0, help="requests a minute in the windows read")
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args()
    span = args.rounds * runner_module.TICK_S
    with tempfile.TemporaryDirectory() as tmp:
        if args.store == "sqlite":
            url = f"sqlite:///{Path(tmp) / 'alerts.db'}"
        else:
            asyncio.run(_recreate_database())
            url = f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"
        started = time.perf_counter()
        rows = asyncio.run(seed(url, args.peak, span))
        print(f"{args.store}: {rows:,} ledger rows seeded in {time.perf_counter() - started:.0f} s; "
              f"peak {args.peak:g}/min; tick {runner_module.TICK_S:g} s; {len(ALERTS)} seasonal alerts")  # fmt: skip
        print("| baseline windows | round | wall (ms) | baseline windows read |")
        print("|---|---|---|---|")
        for cached in (False, True):
            timings = asyncio.run(measure(url, args.rounds, cached))
            label = "kept (PastWindows)" if cached else "read every round"
            steady = int(300 // runner_module.TICK_S) + 1  # a window length on: the longest window's reuse
            for part, rows in (("first", timings[:1]), ("warming", timings[1:steady]), ("steady", timings[steady:])):
                walls = sorted(w for w, _ in rows)
                print(
                    f"| {label} | {part} ({len(rows)}): median / max | {statistics.median(walls) * 1000:.0f} / "
                    f"{walls[-1] * 1000:.0f} | {statistics.median(q for _, q in rows):g} / {max(q for _, q in rows)} |"
                )


if __name__ == "__main__":
    main()
