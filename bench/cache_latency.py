#!/usr/bin/env python3
"""Latency of a response-cache hit, measured at the cache stage (no HTTP, no upstream).

Cases: a local hit without Redis (one process), a local hit with Redis configured (the generation counters are
still read from Redis on every lookup: one MGET), a Redis hit (the local tier emptied before each lookup: MGET +
GET + decode, then the local tier is filled), and a miss (lookup, flight, lock, then storing the answer in both
tiers). Each case runs the real CacheStage.before/after on a chat request whose answer is about --answer-bytes.

Usage: python3 bench/cache_latency.py [--iterations 2000] [--answer-bytes 2000] [--redis redis://127.0.0.1:6379/0]
Redis cases are skipped when it is unreachable. Keys go under a random prefix and are deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
from collections.abc import Awaitable, Callable
from time import perf_counter

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from wardgate.cache.runtime import ResponseCache
from wardgate.cache.stage import CacheStage, ModelPolicy
from wardgate.config.schema import CacheConfig
from wardgate.core.call import Call, Result
from wardgate.core.principal import Principal
from wardgate.core.usage import Usage

PRINCIPAL = Principal("key", "bench-key", project="bench-project")


def new_call(body: dict[str, object]) -> Call:
    call = Call("bench", "openai", "chat", "gpt", body, False, None, perf_counter())
    call.principal = PRINCIPAL
    return call


def answer_bytes(size: int) -> bytes:
    text = ("lorem ipsum " * (size // 12 + 1))[:size]
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": size // 4, "total_tokens": 20 + size // 4},
    }
    return orjson.dumps(body)


async def timed(n: int, run: Callable[[int], Awaitable[None]]) -> list[float]:
    for i in range(min(200, n)):  # warm-up
        await run(-1 - i)
    samples = []
    for i in range(n):
        start = perf_counter()
        await run(i)
        samples.append((perf_counter() - start) * 1e6)
    return samples


def summary(name: str, samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    return f"| {name} | {p50:.0f} | {p99:.0f} | {statistics.mean(ordered):.0f} |"


async def bench_cache(cache: ResponseCache, n: int, size: int, label: str) -> list[str]:
    policy = ModelPolicy(ttl_s=600, stale_s=0, scope="project", nondeterministic=False, route="bench")
    stage = CacheStage(cache, {"gpt": policy}, lambda call: 0)
    stored = answer_bytes(size)
    hit_body = {"model": "gpt", "messages": [{"role": "user", "content": "the cached question " + os.urandom(8).hex()}]}

    async def miss(i: int) -> None:
        body = {"model": "gpt", "messages": [{"role": "user", "content": f"question {i} {os.urandom(4).hex()}"}]}
        call = new_call(body)
        assert await stage.before(call) is None
        call.usage = Usage(20, size // 4)
        await stage.after(call, Result(raw=stored), None)

    await miss(0)
    call = new_call(hit_body)
    assert await stage.before(call) is None
    call.usage = Usage(20, size // 4)
    await stage.after(call, Result(raw=stored), None)

    async def hit(i: int) -> None:
        result = await stage.before(new_call(hit_body))
        assert result is not None and result.raw is not None

    async def redis_hit(i: int) -> None:
        cache.local.clear()
        await hit(i)

    rows = [summary(f"{label}: local hit", await timed(n, hit))]
    if cache.redis is not None:
        rows.append(summary(f"{label}: Redis hit (local tier empty)", await timed(n, redis_hit)))
    rows.append(summary(f"{label}: miss (lookup + store)", await timed(n, miss)))
    await cache.close()
    return rows


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--answer-bytes", type=int, default=2000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    rows = ["| case | p50 µs | p99 µs | mean µs |", "|---|---|---|---|"]
    rows += await bench_cache(ResponseCache(CacheConfig(), None), args.iterations, args.answer_bytes, "no Redis")
    client = aioredis.from_url(args.redis)
    prefix = f"wgbench-{os.urandom(4).hex()}:"
    try:
        await client.ping()
    except (RedisError, OSError) as exc:
        rows.append(f"| Redis cases skipped: {exc} | | | |")
    else:
        rows += await bench_cache(
            ResponseCache(CacheConfig(), client, prefix), args.iterations, args.answer_bytes, "Redis"
        )
        keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
    print(f"answer of {args.answer_bytes} bytes, {args.iterations} iterations per case, Redis at {args.redis}\n")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
