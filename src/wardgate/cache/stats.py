"""What the cache saved: hits, misses, tokens, cost and latency per day, project, model and bucket.

A bucket is where a hit came from: ``local`` (this replica's memory), ``redis`` (the shared tier) or ``semantic``
(a similar earlier request); misses and bypasses have none. Counts accumulate in memory and, with Redis, are added
to one hash per day every second (``HINCRBY``), so the report covers every replica and no request waits on a
write. ``totals`` are this process's monotonic counters, for Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal, get_args

from wardgate.cache.failure import redis_failure
from wardgate.core.outage import Outage

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("wardgate.cache")
StatsGroup = Literal["project", "model", "bucket", "day"]
STATS_GROUPS: tuple[StatsGroup, ...] = get_args(StatsGroup)
COUNTERS = (
    "hits",
    "stale_hits",
    "misses",
    "bypassed",
    "stored",
    "coalesced",
    "input_tokens_saved",
    "output_tokens_saved",
    "cost_saved_nanousd",
    "latency_saved_ms",
)
_SEP = "\x1f"
_DAY_TTL_S = 400 * 86_400
Cell = tuple[str, str, str, str]  # day, project, model, bucket ("" for none)


class CacheStats:
    def __init__(
        self, client: aioredis.Redis | None, prefix: str, flush_interval_s: float = 1.0, outage: Outage | None = None
    ) -> None:
        self._outage = outage or Outage("Redis (cache statistics)", log, quiet_s=1.0)
        self._client = client
        self._prefix = prefix + "cache:stats:"
        self._interval = flush_interval_s
        self._pending: dict[Cell, Counter[str]] = {}  # not yet in Redis (or, without Redis, everything)
        self.totals: dict[tuple[str, str, str, str], int] = {}  # (counter, project, model, bucket): Prometheus
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, project: str | None, model: str, bucket: str | None, **counts: int) -> None:
        cell = (datetime.now(UTC).date().isoformat(), project or "", model, bucket or "")
        pending = self._pending.get(cell)
        if pending is None:
            pending = self._pending[cell] = Counter()
        for name, value in counts.items():
            if value:
                pending[name] += value
                total_key = (name, cell[1], model, cell[3])
                self.totals[total_key] = self.totals.get(total_key, 0) + value
        if self._client is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="cache-stats")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except redis_failure() as exc:  # kept in _pending, retried next round
                self._outage.failed(exc)
            else:
                self._outage.recovered()

    async def flush(self) -> None:
        """Add what this replica counted to the shared hashes (no-op without Redis)."""
        if self._client is None:
            return
        async with self._lock:
            pending, self._pending = self._pending, {}
            if not pending:
                return
            try:
                pipe = self._client.pipeline(transaction=False)
                for (day, project, model, bucket), counts in pending.items():
                    key = self._prefix + day
                    for name, value in counts.items():
                        pipe.hincrby(key, _SEP.join((project, model, bucket, name)), value)
                    pipe.expire(key, _DAY_TTL_S)
                    pipe.sadd(self._prefix + "days", day)
                await pipe.execute()
            except BaseException:
                for cell, counts in pending.items():  # put back, so a failed flush loses nothing
                    self._pending.setdefault(cell, Counter()).update(counts)
                raise

    async def cells(self, start: date | None = None, end: date | None = None) -> list[tuple[Cell, dict[str, int]]]:
        """Every (day, project, model, bucket) cell with its counters, days in [start, end]."""
        if self._client is None:
            rows = [(cell, dict(counts)) for cell, counts in self._pending.items()]
        else:
            await self.flush()
            days = sorted(
                d.decode() if isinstance(d, bytes) else d for d in await self._client.smembers(self._prefix + "days")
            )
            days = [d for d in days if _within(d, start, end)]
            pipe = self._client.pipeline(transaction=False)
            for day in days:
                pipe.hgetall(self._prefix + day)
            merged: dict[Cell, dict[str, int]] = {}
            for day, fields in zip(days, await pipe.execute(), strict=True):
                for field, value in fields.items():
                    name = field.decode() if isinstance(field, bytes) else field
                    project, model, bucket, counter = name.split(_SEP)
                    merged.setdefault((day, project, model, bucket), {})[counter] = int(value)
            return sorted(merged.items())
        return sorted((cell, counts) for cell, counts in rows if _within(cell[0], start, end))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(*redis_failure()):
            await self.flush()


def _within(day: str, start: date | None, end: date | None) -> bool:
    return (start is None or day >= start.isoformat()) and (end is None or day <= end.isoformat())


def report(cells: Iterable[tuple[Cell, dict[str, int]]], group_by: Sequence[StatsGroup]) -> list[dict[str, Any]]:
    """Sum the cells by ``group_by`` and derive the rates. Pure: the admin API and the tests share it."""
    for group in group_by:
        if group not in STATS_GROUPS:
            raise ValueError(f"cannot group cache stats by {group!r}; use {', '.join(STATS_GROUPS)}")
    index = {"day": 0, "project": 1, "model": 2, "bucket": 3}
    sums: dict[tuple[str, ...], Counter[str]] = {}
    for cell, counts in cells:
        values = tuple(cell[index[g]] for g in group_by)
        sums.setdefault(values, Counter()).update(counts)
    rows = []
    for values, summed in sorted(sums.items()):
        row: dict[str, Any] = {g: (v or None) for g, v in zip(group_by, values, strict=True)}
        row.update({name: summed.get(name, 0) for name in COUNTERS})
        served = row["hits"] + row["stale_hits"]
        lookups = served + row["misses"]
        row["requests"] = lookups + row["bypassed"]
        row["hit_rate"] = served / lookups if lookups else 0.0
        row["tokens_saved"] = row["input_tokens_saved"] + row["output_tokens_saved"]
        row["cost_saved_usd"] = row["cost_saved_nanousd"] / 1e9
        rows.append(row)
    return rows
