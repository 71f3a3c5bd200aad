"""Each canary run's outcomes per arm, in time buckets: counted in-process on the hot path (no I/O), added to Redis
every ``prompts.canary_check_s`` when it is configured, so every replica judges the same totals.

Keys: ``{prefix}prompt-canary:{run id}:{bucket}``, a hash of ``{arm}:n|err|cost|t{i}`` counters that expires after
the longest window. Run ids come from the store, never from a client, and buckets older than the window are dropped:
memory and keys stay bounded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from wardgate.prompts.canary import ArmStats, Variant, ttft_bucket

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("wardgate.prompts")
BUCKET_S = 5.0
_ARMS: tuple[Variant, ...] = ("control", "canary")


class CanaryOutcomes:
    def __init__(
        self,
        redis: aioredis.Redis | None,
        prefix: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis
        self._prefix = prefix + "prompt-canary:"
        self._clock = clock
        self._pending: dict[tuple[str, int, Variant], ArmStats] = {}  # not yet in Redis
        self._local: dict[tuple[str, int, Variant], ArmStats] = {}  # the totals, without Redis

    def record(self, run: str, variant: Variant, failed: bool, ttft_ms: float, cost: int) -> None:
        key = (run, int(self._clock() // BUCKET_S), variant)
        stats = self._pending.get(key)
        if stats is None:
            stats = self._pending[key] = ArmStats()
        stats.n += 1
        stats.errors += failed
        stats.cost += cost
        stats.ttft[ttft_bucket(ttft_ms)] += 1

    async def flush(self, window_s: float) -> None:
        """Move what this process counted to the shared totals."""
        pending, self._pending = self._pending, {}
        if self._redis is None:
            for key, stats in pending.items():
                self._local.setdefault(key, ArmStats()).add(stats)
            oldest = int((self._clock() - window_s) // BUCKET_S) - 1
            for key in [k for k in self._local if k[1] < oldest]:
                del self._local[key]
            return
        if not pending:
            return
        ttl = int(window_s + 3 * BUCKET_S)
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for (run, bucket, variant), stats in pending.items():
                    name, a = f"{self._prefix}{run}:{bucket}", variant[:2]
                    pipe.hincrby(name, f"{a}:n", stats.n)
                    if stats.errors:
                        pipe.hincrby(name, f"{a}:err", stats.errors)
                    if stats.cost:
                        pipe.hincrby(name, f"{a}:cost", stats.cost)
                    for i, count in enumerate(stats.ttft):
                        if count:
                            pipe.hincrby(name, f"{a}:t{i}", count)
                    pipe.expire(name, ttl)
                await pipe.execute()
        except Exception:  # Redis is down: these counts are lost, the rollback waits for new ones
            log.warning("could not share canary outcomes", exc_info=True)

    async def window(self, run: str, window_s: float) -> tuple[ArmStats, ArmStats] | None:
        """(control, canary) totals over the last ``window_s``; None when they cannot be read."""
        now = self._clock()
        buckets = range(int((now - window_s) // BUCKET_S) + 1, int(now // BUCKET_S) + 1)
        arms = {v: ArmStats() for v in _ARMS}
        if self._redis is None:
            for bucket in buckets:
                for v in _ARMS:
                    stats = self._local.get((run, bucket, v))
                    if stats is not None:
                        arms[v].add(stats)
            return arms["control"], arms["canary"]
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for bucket in buckets:
                    pipe.hgetall(f"{self._prefix}{run}:{bucket}")
                hashes = await pipe.execute()
        except Exception:
            log.warning("could not read canary outcomes", exc_info=True)
            return None
        for fields in hashes:
            for raw_name, raw_value in fields.items():
                _add(arms, raw_name.decode(), int(raw_value))
        return arms["control"], arms["canary"]

    def forget(self, run: str) -> None:
        for key in [k for k in self._local if k[0] == run]:
            del self._local[key]


def _add(arms: dict[Variant, ArmStats], name: str, value: int) -> None:
    arm_code, _, field = name.partition(":")
    stats = arms["control"] if arm_code == "co" else arms["canary"]
    if field == "n":
        stats.n += value
    elif field == "err":
        stats.errors += value
    elif field == "cost":
        stats.cost += value
    elif field.startswith("t") and field[1:].isdigit() and int(field[1:]) < len(stats.ttft):
        stats.ttft[int(field[1:])] += value
