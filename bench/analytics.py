"""Analytics latency over a large ledger (issue 15, point 6): seed N ledger rows over 30 days in SQL, build the
hourly roll-ups from them (the same SQL the migration runs), check that the roll-ups equal the ledger to the token and
the nano-dollar, then time ``GET /admin/v1/analytics`` through a real ``wardgate serve`` on loopback.

    .venv/bin/python bench/analytics.py --store postgresql --rows 10000000
    .venv/bin/python bench/analytics.py --store sqlite:////tmp/analytics.db --rows 10000000

``--store postgresql`` uses its own database on 127.0.0.1:5432 (``wardgate_bench_analytics``, dropped and created
again unless ``--no-seed``). Rows:
one every 30 days / N, 8 projects (a team each), 400 keys of 200 users, 6 models (one provider each, two deployments),
5 % cache hits, 3 % errors, 10 % embeddings; latency 50 ms … 20 s, TTFT 20 … 2000 ms on streams. Queries (each
`--repeats` times, the first one not counted): group by two dimensions per hour over the 30 days, with and without the
p95s, and a few others.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import func, select, text

from wardgate.store.engine import create_engine, upgrade
from wardgate.store.rollup import backfill
from wardgate.store.rollup_tables import ROLLUP_TABLES
from wardgate.store.tables import usage_events

DAYS = 30
START = "2026-10-01T00:00:00Z"
END = "2026-10-31T00:00:00Z"
PG_DATABASE = "wardgate_bench_analytics"
MASTER = "sk-bench-analytics-master-key-0123456789"
QUERIES = {
    "project,model hourly (sums)": "metrics=spend_usd,requests,tokens_in,tokens_out,errors&group_by=project,model",
    "project,model hourly (+p95s)": "metrics=spend_usd,requests,tokens_in,tokens_out,errors,ttft_p95,latency_p95"
    "&group_by=project,model",
    "team,provider hourly (+p95s)": "metrics=spend_usd,requests,errors,latency_p95&group_by=team,provider",
    "model,status hourly (sums)": "metrics=spend_usd,requests,errors&group_by=model,status",
    "user,model daily (sums)": "metrics=spend_usd,requests,tokens_in&group_by=user,model&interval=day",
}

_PG_SEED = """
SELECT setseed(0.15);
INSERT INTO usage_events (request_id, ts, principal_kind, principal_id, project_id, team_id, user_id, key_id, surface,
  operation, model, deployment, provider, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
  reasoning_tokens, cost_nanousd, latency_ms, ttft_ms, status, cache_hit, stream, billable)
SELECT 'bench-' || g,
  TIMESTAMPTZ '2026-10-01 00:00:00+00' + (g * (CAST(:span AS float8) / :rows)) * INTERVAL '1 second',
  'key', 'k' || k, 'p' || (k % 8), 't' || (k % 8), 'u' || (k % 200), 'k' || k,
  CASE WHEN m < 4 THEN 'openai' ELSE 'anthropic' END, CASE WHEN e THEN 'embeddings' ELSE 'chat' END,
  'model-' || m, 'model-' || m || '-' || (g % 2), 'provider-' || m, tin, tout, 0, 0, 0,
  (tin * (m + 1) * 150 + tout * (m + 1) * 600), lat, CASE WHEN NOT e THEN 20 + (lat % 1980) END,
  CASE WHEN err < 0.01 THEN 429 WHEN err < 0.02 THEN 500 WHEN err < 0.03 THEN 502 ELSE 200 END,
  hit, NOT e, true
FROM (SELECT g, (random() * 399)::int AS k, (random() * 5)::int AS m, random() < 0.1 AS e,
        (random() * 4000)::int + 1 AS tin, (random() * 800)::int AS tout,
        50 + (random() * random() * 19950)::int AS lat,
        random() AS err, random() < 0.05 AS hit
      FROM generate_series(1, :rows) AS g) AS s
"""

_SQLITE_SEED = """
WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :rows),
s AS MATERIALIZED (  -- each random value drawn once a row (a flattened subquery would draw it again at every use)
  SELECT n, abs(random()) % 400 AS k, abs(random()) % 6 AS m, abs(random()) % 10 = 0 AS e,
    abs(random()) % 4000 + 1 AS tin, abs(random()) % 800 AS tout,
    50 + (abs(random()) % 19950) * (abs(random()) % 1000) / 1000 AS lat,
    abs(random()) % 1000 AS err, abs(random()) % 20 = 0 AS hit
  FROM g)
INSERT INTO usage_events (request_id, ts, principal_kind, principal_id, project_id, team_id, user_id, key_id, surface,
  operation, model, deployment, provider, input_tokens, output_tokens, cached_tokens, cache_write_tokens,
  reasoning_tokens, cost_nanousd, latency_ms, ttft_ms, status, cache_hit, stream, billable)
SELECT 'bench-' || n, strftime('%Y-%m-%d %H:%M:%f', 1790812800 + n * (:span * 1.0 / :rows), 'unixepoch'),
  'key', 'k' || k, 'p' || (k % 8), 't' || (k % 8), 'u' || (k % 200), 'k' || k,
  CASE WHEN m < 4 THEN 'openai' ELSE 'anthropic' END, CASE WHEN e THEN 'embeddings' ELSE 'chat' END,
  'model-' || m, 'model-' || m || '-' || (n % 2), 'provider-' || m, tin, tout, 0, 0, 0,
  (tin * (m + 1) * 150 + tout * (m + 1) * 600), lat, CASE WHEN NOT e THEN 20 + (lat % 1980) END,
  CASE WHEN err < 10 THEN 429 WHEN err < 20 THEN 500 WHEN err < 30 THEN 502 ELSE 200 END,
  hit, NOT e, 1
FROM s
"""


async def seed(url: str, rows: int) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        started = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(usage_events.delete())
            if conn.dialect.name == "postgresql":
                for statement in _PG_SEED.strip().split(";\n"):
                    await conn.execute(text(statement), {"rows": rows, "span": DAYS * 86400.0})
            else:
                await conn.execute(text(_SQLITE_SEED), {"rows": rows, "span": DAYS * 86400})
        print(f"seeded {rows:,} ledger rows in {time.perf_counter() - started:.0f} s", flush=True)
        started = time.perf_counter()
        async with engine.begin() as conn:
            await backfill(conn)
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        print(f"roll-ups built in {time.perf_counter() - started:.0f} s", flush=True)
        await check(engine)
    finally:
        await engine.dispose()


async def check(engine: object) -> None:
    """Every roll-up sums to the ledger's totals, to the token and the nano-dollar."""
    c = usage_events.c
    async with engine.connect() as conn:  # type: ignore[attr-defined]
        want = (
            await conn.execute(select(func.count(), func.sum(c.input_tokens), func.sum(c.output_tokens),
                                      func.sum(c.cost_nanousd)))
        ).one()  # fmt: skip
        for name, table in ROLLUP_TABLES.items():
            t = table.c
            got = (
                await conn.execute(select(func.sum(t.requests), func.sum(t.input_tokens), func.sum(t.output_tokens),
                                          func.sum(t.cost_nanousd)))
            ).one()  # fmt: skip
            rows = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            same = tuple(int(v) for v in got) == tuple(int(v) for v in want)
            print(f"{name}: {rows:,} rows; totals equal the ledger's: {same}", flush=True)
            if not same:
                raise SystemExit(f"{name}: {got} != ledger {want}")


async def _recreate_database() -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user="postgres", database="postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{PG_DATABASE}"')
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def measure(url: str, repeats: int, only: str | None = None) -> None:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "wardgate.yaml"
        config.write_text(f"master_key: {MASTER}\nstore: {url}\n")
        wardgate = Path(sys.executable).with_name("wardgate")
        server = subprocess.Popen(
            [str(wardgate), "serve", "--config", str(config), "--port", str(port)],
            env=dict(os.environ),
        )
        try:
            root = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 300  # a loaded machine starts slowly
            while True:
                try:
                    if httpx.get(root + "/health", timeout=2).status_code < 500:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("the gateway did not start")
                time.sleep(0.2)
            headers = {"authorization": f"Bearer {MASTER}"}
            with httpx.Client(base_url=root, headers=headers, timeout=120) as client:
                for label, query in QUERIES.items():
                    if only is not None and only not in label:
                        continue
                    interval = "" if "interval=" in query else "&interval=hour"
                    path = f"/admin/v1/analytics?{query}{interval}&from={START}&to={END}"
                    times, size = [], 0
                    for i in range(repeats + 1):
                        started = time.perf_counter()
                        answer = client.get(path)
                        elapsed = time.perf_counter() - started
                        if answer.status_code != 200:
                            raise SystemExit(f"{label}: {answer.status_code} {answer.text[:300]}")
                        size = len(answer.json()["rows"])
                        if i:
                            times.append(elapsed * 1000)
                    times.sort()
                    p95 = times[max(0, -(-95 * len(times) // 100) - 1)]
                    print(
                        f"{label:32s} rows={size:6d}  p50={statistics.median(times):7.1f} ms  p95={p95:7.1f} ms",
                        flush=True,
                    )
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", required=True, help="sqlite:///… or postgresql://…")
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-seed", action="store_true", help="time the queries on the rows already there")
    parser.add_argument("--only", help="time only the queries whose label contains this")
    args = parser.parse_args()
    if args.store == "postgresql":
        args.store = f"postgresql://postgres@127.0.0.1:5432/{PG_DATABASE}"
        if not args.no_seed:
            asyncio.run(_recreate_database())
    if not args.no_seed:
        asyncio.run(seed(args.store, args.rows))
    measure(args.store, args.repeats, args.only)


if __name__ == "__main__":
    main()
