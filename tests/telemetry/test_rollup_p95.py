"""The p95s the database works out from the roll-ups' histograms (store/rollup_p95.py) are ``histogram_p95``'s, on
random histograms, on both stores: each roll-up row's own (``per_row``) and a group's summed ones (``grouped``)."""

from __future__ import annotations

import asyncio
import random
from math import ceil
from typing import Any

from wardgate.store.analytics_rollup import histogram_p95
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.rollup_p95 import grouped, per_row
from wardgate.store.rollup_tables import HIST, LATENCY_COLUMNS, ROLLUP_TABLES, SUMS, TTFT_COLUMNS

TABLE = ROLLUP_TABLES["usage_rollup_models"]
BIG = 2**31 - 1  # the largest count a bucket column holds: sums of several must not overflow


def histogram(rng: random.Random) -> list[int]:
    counts = [0] * HIST
    kind = rng.randrange(7)
    if kind == 0:  # empty
        return counts
    if kind == 1:  # one bucket
        counts[rng.randrange(HIST)] = rng.randrange(1, 50)
        return counts
    if kind == 2:  # huge counts: 20 × the prefix is far past 2^31
        for i in rng.sample(range(HIST), 4):
            counts[i] = rng.randrange(BIG // 2, BIG)
        return counts
    if kind == 3:  # a long tail, every bucket from a low one up
        low = rng.randrange(HIST)
        for i in range(low, HIST):
            counts[i] = rng.randrange(0, 4)
        return counts
    if kind == 4:  # totals at multiples of 20, where the rank is exact
        for _ in range(rng.choice([20, 40, 100, 1000])):
            counts[min(HIST - 1, int(rng.expovariate(0.1)))] += 1
        return counts
    for _ in range(rng.randrange(1, 300)):  # bench-like: a few neighbouring buckets
        counts[min(HIST - 1, max(0, int(rng.gauss(30, 4))))] += 1
    return counts


def rows(seed: int) -> list[dict[str, Any]]:
    """Hours with one roll-up row a (project, model) and hours where a project's two teams share them."""
    rng = random.Random(seed)
    out = []
    for hour in range(40):
        for project in ("p1", "p2"):
            for team in ("t1", "t2") if hour % 3 == 0 else ("t1",):
                for model in ("m1", "m2", "m3"):
                    lat, ttft = histogram(rng), histogram(rng)
                    row: dict[str, Any] = {"hour": 480_000 + hour, "project_id": project, "team_id": team}
                    row |= {"model": model, "provider": "x"}
                    row |= {name: rng.randrange(0, 1000) for name in SUMS}
                    row |= dict(zip(LATENCY_COLUMNS, lat, strict=True)) | dict(zip(TTFT_COLUMNS, ttft, strict=True))
                    out.append(row)
    return out


def expected(written: list[dict[str, Any]], key: tuple[str, ...]) -> dict[tuple[Any, ...], tuple[Any, Any]]:
    summed: dict[tuple[Any, ...], list[int]] = {}
    for row in written:
        values = [row[name] for name in (*LATENCY_COLUMNS, *TTFT_COLUMNS)]
        found = summed.setdefault(tuple(row[k] for k in key), [0] * (2 * HIST))
        for i, v in enumerate(values):
            found[i] += v
    return {k: (histogram_p95(v[:HIST]), histogram_p95(v[HIST:])) for k, v in summed.items()}


def test_sql_p95s_are_histogram_p95s_on_random_histograms(store_url: str) -> None:
    written = rows(60)

    async def run() -> None:
        engine = create_engine(store_url)
        try:
            await upgrade(engine)
            async with engine.begin() as conn:
                await conn.execute(TABLE.insert(), written)
            dialect = engine.dialect.name
            histograms = ["latency_p95", "ttft_p95"]
            async with engine.connect() as conn:
                # each roll-up row's own p95s
                key = ("hour", "project_id", "team_id", "model")
                query = per_row(TABLE, list(key), [], histograms, dialect=dialect)
                got = {tuple(r[:4]): (r[-2], r[-1]) for r in await conn.execute(query)}
                assert got == expected(written, key)
                # a group's: its rows' histograms summed first (some groups are two rows: two teams)
                key = ("hour", "project_id", "model")
                query = grouped(TABLE, [(k, TABLE.c[k]) for k in key], [], histograms, dialect=dialect)
                got = {tuple(r[:3]): (r[-2], r[-1]) for r in await conn.execute(query)}
                assert got == expected(written, key)
                # over everything: one group of 280 rows
                query = grouped(TABLE, [], [], histograms, dialect=dialect)
                assert [tuple(r[-2:]) for r in await conn.execute(query)] == list(expected(written, ()).values())
                # only the groups of more than one row
                query = grouped(
                    TABLE, [(k, TABLE.c[k]) for k in key], [], histograms, dialect=dialect, only_shared=True
                )
                shared = {tuple(r[:3]) for r in await conn.execute(query)}
                assert shared == {(r["hour"], r["project_id"], r["model"]) for r in written if r["team_id"] == "t2"}
        finally:
            await engine.dispose()

    asyncio.run(run())


def test_the_integer_rank_is_the_float_one() -> None:
    """``20 P ≥ 19 T`` (rollup_p95) asks ``P ≥ ceil(0.95 * T)`` (histogram_p95) for every total below 2^46."""
    rng = random.Random(6)
    totals = [*range(1, 200_001), *(rng.randrange(1, 2**46) for _ in range(200_000)), 2**46 - 1]
    for total in totals:
        rank = ceil(0.95 * total)
        assert 20 * rank >= 19 * total and 20 * (rank - 1) < 19 * total, total
