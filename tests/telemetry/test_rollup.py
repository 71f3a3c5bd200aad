"""The hourly roll-ups equal the ledger: the batch writer adds each batch in the ledger's transaction (a retried or
repeated row counts once; two writers on one PostgreSQL hour lose nothing), a rebuild from the ledger gives the same
rows, and analytics over a window cut mid-hour takes the ends from the ledger rows (sums and p95s)."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.services import create_postgres_database, drop_postgres_database, postgres_url
from wardgate.store.analytics import analytics, nearest_rank
from wardgate.store.analytics_rollup import rollup_for
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.rollup import backfill, bucket_of
from wardgate.store.rollup_tables import BOUNDS, ROLLUP_TABLES
from wardgate.store.usage import UsageEvent, insert_events

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def events(seed: int, n: int, prefix: str) -> list[UsageEvent]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        out.append(
            UsageEvent(
                request_id=f"{prefix}{i}",
                ts=START + timedelta(seconds=rng.randrange(0, 5 * 3600)),
                principal_kind="key",
                principal_id="k",
                surface=rng.choice(["openai", "anthropic"]),
                operation=rng.choice(["chat", "embeddings"]),
                model=rng.choice(["a", "b", "c"]),
                status=rng.choice([200] * 8 + [429, 502]),
                project_id=rng.choice(["p1", "p2", None]),
                team_id=rng.choice(["t1", None]),
                user_id=rng.choice(["u1", "u2", None]),
                key_id=rng.choice(["k1", "k2"]),
                provider=rng.choice(["openai", None]),
                deployment=rng.choice(["d1", "d2", None]),
                cache_hit=rng.random() < 0.2,
                input_tokens=rng.randrange(0, 5000),
                output_tokens=rng.randrange(0, 5000),
                cached_tokens=rng.randrange(0, 100),
                reasoning_tokens=rng.randrange(0, 100),
                cost_nanousd=rng.randrange(0, 10**9),
                latency_ms=rng.choice([None, rng.randrange(0, 10**7)]),
                ttft_ms=rng.choice([None, rng.randrange(0, 3000)]),
            )
        )
    return out


async def _rollups(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.connect() as conn:
        return {
            name: sorted(tuple(r) for r in (await conn.execute(select(t))).all()) for name, t in ROLLUP_TABLES.items()
        }


async def _rebuilt(engine: AsyncEngine) -> dict[str, list[tuple[Any, ...]]]:
    async with engine.begin() as conn:
        await backfill(conn)
    return await _rollups(engine)


def test_the_writer_keeps_the_rollups_equal_to_a_rebuild_from_the_ledger(store_url: str) -> None:
    async def run() -> None:
        engine = create_engine(store_url)
        try:
            await upgrade(engine)
            batch = events(1, 400, "r")
            await insert_events(engine, batch[:250])
            await insert_events(engine, batch[200:] + batch[200:210])  # 50 rows again, 10 twice in one batch
            written = await _rollups(engine)
            assert all(written.values())
            assert written == await _rebuilt(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_two_writers_on_the_same_hours_lose_nothing() -> None:
    name = create_postgres_database()
    try:

        async def run() -> None:
            one, two = create_engine(postgres_url(name)), create_engine(postgres_url(name))
            try:
                await upgrade(one)
                a, b = events(2, 600, "a"), events(3, 600, "b")
                await asyncio.gather(
                    *(insert_events(one, a[i : i + 50]) for i in range(0, 600, 50)),
                    *(insert_events(two, b[i : i + 50]) for i in range(0, 600, 50)),
                )
                assert await _rollups(one) == await _rebuilt(one)
            finally:
                await one.dispose()
                await two.dispose()

        asyncio.run(run())
    finally:
        drop_postgres_database(name)


@pytest.mark.parametrize(
    "group_by", [(), ("project", "model"), ("user", "key"), ("cache", "status", "deployment"), ("user", "status")]
)
def test_a_window_cut_mid_hour_sums_exactly_the_rows_inside_it(store_url: str, group_by: tuple[str, ...]) -> None:
    async def run() -> None:
        engine = create_engine(store_url)
        try:
            await upgrade(engine)
            batch = events(4, 500, "w")
            await insert_events(engine, batch)
            low, high = START + timedelta(minutes=37, seconds=5), START + timedelta(hours=3, minutes=12)
            for interval in ("hour", "day", "none"):
                metrics: list[Any] = ["spend_usd", "requests", "tokens_in", "errors", "latency_p95", "ttft_p95"]
                rows = await analytics(engine, metrics, list(group_by), interval, start=low, end=high)
                inside = [e for e in batch if low <= e.ts < high]
                assert _p95s(rows, interval, group_by) == _p95s_of(inside, interval, group_by)
                assert sum(r["cost_nanousd"] for r in rows) == sum(e.cost_nanousd for e in inside)
                assert sum(r["requests"] for r in rows) == len(inside)
                assert sum(r["tokens_in"] for r in rows) == sum(e.input_tokens for e in inside)
                assert sum(r["errors"] for r in rows) == sum(e.status >= 400 for e in inside)
                if interval == "hour" and group_by:
                    want: dict[tuple[Any, ...], int] = {}
                    for e in inside:
                        key = (e.ts.strftime("%Y-%m-%dT%H:00:00Z"),) + tuple(_value(e, d) for d in group_by)
                        want[key] = want.get(key, 0) + 1
                    assert {(r["bucket"], *(r[d] for d in group_by)): r["requests"] for r in rows} == want
        finally:
            await engine.dispose()

    asyncio.run(run())


def _value(e: UsageEvent, dimension: str) -> Any:
    return {"project": e.project_id, "user": e.user_id, "key": e.key_id, "model": e.model, "cache": e.cache_hit,
            "status": e.status, "deployment": e.deployment}[dimension]  # fmt: skip


def _p95s(rows: list[dict[str, Any]], interval: str, group_by: tuple[str, ...]) -> dict[tuple[Any, ...], Any]:
    return {
        (r.get("bucket"), *(r[d] for d in group_by)): (r["latency_p95"], r["ttft_p95"]) for r in rows if r["requests"]
    }


def _p95s_of(inside: list[UsageEvent], interval: str, group_by: tuple[str, ...]) -> dict[tuple[Any, ...], Any]:
    """The ledger rows' p95s as the answer gives them: the upper edge of the histogram bucket holding the nearest
    rank when a roll-up has the dimensions, the nearest rank itself when the ledger answers."""
    label = {"hour": "%Y-%m-%dT%H:00:00Z", "day": "%Y-%m-%dT00:00:00Z"}.get(interval)
    groups: dict[tuple[Any, ...], list[UsageEvent]] = {}
    for e in inside:
        key = (e.ts.strftime(label) if label else None, *(_value(e, d) for d in group_by))
        groups.setdefault(key, []).append(e)

    def edge(values: list[int]) -> int | None:
        found = nearest_rank(values, 0.95)
        return found if found is None or rollup_for(group_by) is None else BOUNDS[bucket_of(found)]

    return {
        key: (
            edge([e.latency_ms for e in group if e.latency_ms is not None]),
            edge([e.ttft_ms for e in group if e.ttft_ms is not None]),
        )
        for key, group in groups.items()
    }
