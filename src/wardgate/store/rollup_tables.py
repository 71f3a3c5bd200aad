"""Hourly roll-ups of the usage ledger (``GET /admin/v1/analytics`` reads them): one row per hour and combination of
a roll-up's dimensions, with the ledger's sums and a latency and a TTFT histogram.

Three roll-ups, smallest first; a query uses the first whose dimensions cover its ``group_by``:

- ``usage_rollup_models``: project, team, model, provider (tens of rows an hour);
- ``usage_rollup_principals``: project, team, user, key, model, provider;
- ``usage_rollup_calls``: project, team, model, provider, deployment, cache, status, surface, operation.

A dimension the ledger leaves null is stored as ``''`` (text) so that the unique key the upserts conflict on holds;
the reader maps it back to null. Hours are whole hours since the Unix epoch (UTC), so every store buckets alike.

Histograms: bucket ``i`` counts the values ``v`` (ms) with ``BOUNDS[i-1] < v <= BOUNDS[i]``; the bounds grow by
2^(1/3) (≈ 26 %) from 1 ms to about 70 minutes, and the last bucket also takes anything longer.
"""

from __future__ import annotations

from math import ceil

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, UniqueConstraint

from wardgate.store.tables import metadata

BOUNDS: tuple[int, ...] = tuple(sorted({ceil(2 ** (i / 3)) for i in range(0, 67)}))  # 1 ms … 2^22 ms
HIST = len(BOUNDS)
LATENCY_COLUMNS = tuple(f"lat_{i}" for i in range(HIST))
TTFT_COLUMNS = tuple(f"ttft_{i}" for i in range(HIST))
SUMS = ("requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens", "cost_nanousd")

# dimension (the analytics API's name) -> (roll-up column == ledger column, type)
DIMENSION_COLUMNS: dict[str, tuple[str, str]] = {
    "project": ("project_id", "text64"),
    "team": ("team_id", "text64"),
    "user": ("user_id", "text64"),
    "key": ("key_id", "text64"),
    "model": ("model", "text200"),
    "provider": ("provider", "text100"),
    "deployment": ("deployment", "text300"),
    "cache": ("cache_hit", "bool"),
    "status": ("status", "int"),
    "surface": ("surface", "text16"),
    "operation": ("operation", "text16"),
}
ROLLUPS: dict[str, tuple[str, ...]] = {
    "usage_rollup_models": ("project", "team", "model", "provider"),
    "usage_rollup_principals": ("project", "team", "user", "key", "model", "provider"),
    "usage_rollup_calls": (
        "project", "team", "model", "provider", "deployment", "cache", "status", "surface", "operation",
    ),
}  # fmt: skip


def _dimension(name: str) -> Column[object]:
    column, kind = DIMENSION_COLUMNS[name]
    if kind == "bool":
        return Column(column, Boolean, nullable=False)
    if kind == "int":
        return Column(column, Integer, nullable=False)
    return Column(column, String(int(kind[4:])), nullable=False, server_default="")


def rollup_columns(dimensions: tuple[str, ...]) -> list[Column[object]]:
    """A roll-up's columns (the migration builds its tables from the same list)."""
    columns: list[Column[object]] = [Column("hour", BigInteger, nullable=False)]
    columns += [_dimension(name) for name in dimensions]
    columns += [Column(name, BigInteger, nullable=False, server_default="0") for name in SUMS]
    columns += [Column(name, Integer, nullable=False, server_default="0") for name in LATENCY_COLUMNS + TTFT_COLUMNS]
    return columns


def key_columns(dimensions: tuple[str, ...]) -> list[str]:
    return ["hour", *(DIMENSION_COLUMNS[name][0] for name in dimensions)]


# 0014: a key's latest hour with traffic (the keys list's last use) is one index probe per key
EXTRA_INDEXES: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "usage_rollup_principals": (("ix_usage_rollup_principals_key_hour", ("key_id", "hour")),),
}

ROLLUP_TABLES: dict[str, Table] = {
    name: Table(
        name,
        metadata,
        *rollup_columns(dims),
        UniqueConstraint(*key_columns(dims), name=f"uq_{name}_key"),
        *(Index(index, *columns) for index, columns in EXTRA_INDEXES.get(name, ())),
    )
    for name, dims in ROLLUPS.items()
}
