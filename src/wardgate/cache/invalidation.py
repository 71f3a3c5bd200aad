"""Invalidation by generation counters: all, per project, per model, per prompt template.

Every key embeds the current generation of the four counters that apply to it (cache/keys.py). Invalidating bumps
one counter atomically (``INCR`` in Redis); from then on every replica computes new keys, so the old entries are
unreachable at once and simply expire. Nothing is scanned or deleted, so invalidating "all" costs one ``INCR``.
With Redis the counters are read on every lookup (one ``MGET``), which is what makes an invalidation effective on
all replicas immediately; without Redis they live in this process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, get_args

if TYPE_CHECKING:
    import redis.asyncio as aioredis

InvalidationScope = Literal["all", "project", "model", "template"]
INVALIDATION_SCOPES: tuple[InvalidationScope, ...] = get_args(InvalidationScope)
Generations = tuple[int, int, int, int]


def counter_names(project: str | None, model: str, template: str | None) -> tuple[str, str, str, str]:
    return ("all", f"project:{project or ''}", f"model:{model}", f"template:{template or ''}")


def counter_name(scope: InvalidationScope, value: str | None) -> str:
    if scope == "all":
        return "all"
    if not value:
        raise ValueError(f"invalidating by {scope} needs a value (the {scope}'s name or id)")
    return f"{scope}:{value}"


class GenerationStore(Protocol):
    async def current(self, project: str | None, model: str, template: str | None) -> Generations: ...

    async def bump(self, scope: InvalidationScope, value: str | None) -> int: ...


class MemoryGenerations:
    """One process: the counters are a dict."""

    def __init__(self) -> None:
        self._counters: dict[str, int] = {}

    async def current(self, project: str | None, model: str, template: str | None) -> Generations:
        get = self._counters.get
        a, p, m, t = counter_names(project, model, template)
        return get(a, 0), get(p, 0), get(m, 0), get(t, 0)

    async def bump(self, scope: InvalidationScope, value: str | None) -> int:
        name = counter_name(scope, value)
        self._counters[name] = self._counters.get(name, 0) + 1
        return self._counters[name]


class RedisGenerations:
    """Shared by every replica; counters never expire (a reset counter could revive entries still stored)."""

    def __init__(self, client: aioredis.Redis, prefix: str) -> None:
        self._client = client
        self._prefix = prefix + "cache:gen:"

    async def current(self, project: str | None, model: str, template: str | None) -> Generations:
        values = await self._client.mget([self._prefix + n for n in counter_names(project, model, template)])
        a, p, m, t = (int(v) if v is not None else 0 for v in values)
        return a, p, m, t

    async def bump(self, scope: InvalidationScope, value: str | None) -> int:
        return int(await self._client.incr(self._prefix + counter_name(scope, value)))
