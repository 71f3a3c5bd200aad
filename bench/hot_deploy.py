"""Hot deploy under load (issue 20, done-when 1): 3 `wardgate serve` replicas on loopback sharing PostgreSQL and
Redis, steady chat traffic against all of them, and N config versions applied one after the other, each adding a
route and changing a budget. For each version: the time from the apply's commit until every replica serves the new
route (polled every 5 ms on each replica). Prints p50/p99/max and the failed requests of the steady traffic.

    .venv/bin/python -m bench.hot_deploy [--changes 100] [--clients 12]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from tests.server.serve import Served
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url

from wardgate.config import load_config_text
from wardgate.store.applied_config import AppliedConfigStore, config_events_channel, signing_key
from wardgate.store.engine import create_engine

MASTER = "sk-bench-master-key"
HEADERS = {"authorization": f"Bearer {MASTER}"}


def config_text(store: str, redis: str, prefix: str, version: int) -> str:
    routes = "".join(f"  route-{v}: [{{provider: mock, model: gpt-4o-mini}}]\n" for v in range(1, version + 1))
    return f"""master_key: {MASTER}
store: "{store}"
redis: {{url: "{redis}", key_prefix: "{prefix}"}}
server: {{preload_tokenizers: false}}
providers:
  mock: {{type: mock}}
models:
  gpt-4o-mini: [{{provider: mock, model: gpt-4o-mini}}]
{routes}budgets:
  - {{name: steady, scope: global, window: day, limit_tokens: {10**12 + version}, cap: hard}}
"""


async def steady(client: httpx.AsyncClient, roots: list[str], stop: asyncio.Event, counts: dict[str, int]) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    i = 0
    while not stop.is_set():
        i += 1
        try:
            answer = await client.post(roots[i % len(roots)] + "/v1/chat/completions", json=body, headers=HEADERS)
            counts["ok" if answer.status_code == 200 else "failed"] += 1
        except httpx.HTTPError:
            counts["failed"] += 1


async def visible(client: httpx.AsyncClient, root: str, model: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    while (await client.post(root + "/v1/chat/completions", json=body, headers=HEADERS)).status_code != 200:  # noqa: ASYNC110 - another process
        await asyncio.sleep(0.005)


async def run(replicas: list[Served], store: str, redis: str, prefix: str, changes: int, clients: int) -> None:
    import redis.asyncio as aioredis

    engine = create_engine(store)
    publisher = aioredis.Redis.from_url(redis)
    channel = config_events_channel(prefix)
    key = signing_key(MASTER)
    applied = AppliedConfigStore(engine)
    roots = [r.root for r in replicas]
    counts = {"ok": 0, "failed": 0}
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=clients * 2 + 10)
    delays: list[float] = []
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        load = [asyncio.create_task(steady(client, roots, stop, counts)) for _ in range(clients)]
        await asyncio.sleep(1)
        for version in range(1, changes + 1):
            text = config_text(store, redis, prefix, version)
            load_config_text(text, source="bench", env={})  # validated first, as `config apply` does

            async def publish(payload: str) -> object:
                return await publisher.publish(channel, payload)

            await applied.apply(text, "bench", key, publish)
            started = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(visible(client, r, f"route-{version}") for r in roots)), 30)
            delays.append(time.perf_counter() - started)
        stop.set()
        await asyncio.gather(*load)
    await publisher.aclose()
    await engine.dispose()
    delays.sort()
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"{changes} changes across {len(replicas)} replicas: p50 {statistics.median(delays) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms; steady traffic: {counts['ok']} ok, "
        f"{counts['failed']} failed"
    )


PHASES = re.compile(
    r"config reloaded from config version \d+ .*\((\d+) ms: read (\d+), validate (\d+), rebuild (\d+)\)"
)


def phases(replicas: list[Served]) -> str:
    """Where a worker's reload spends its time, from the replicas' own log lines (p50/p99 in ms)."""
    rows = [tuple(map(int, m.groups())) for r in replicas for m in PHASES.finditer(r.text())]
    if not rows:
        return "no reload timings in the logs"
    cols = list(zip(*rows, strict=True))
    ranked = [sorted(c) for c in cols]
    p = [(c[len(c) // 2], c[min(len(c) - 1, int(len(c) * 0.99))]) for c in ranked]
    names = ("total", "read", "validate", "rebuild")
    return "in the workers (p50/p99 ms): " + ", ".join(f"{n} {a}/{b}" for n, (a, b) in zip(names, p, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--clients", type=int, default=12)
    args = parser.parse_args()
    database = create_postgres_database()
    store, redis, prefix = postgres_url(database), redis_url(), f"wgbench-{uuid.uuid4().hex[:8]}:"
    replicas: list[Served] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for i in range(3):
                path = Path(tmp) / f"replica-{i}.yaml"
                path.write_text(config_text(store, redis, prefix, 0))
                replicas.append(Served(path, wait=False))
            for replica in replicas:
                replica.wait_ready()
            asyncio.run(run(replicas, store, redis, prefix, args.changes, args.clients))
            print(phases(replicas))
        finally:
            for replica in replicas:
                replica.stop()
            drop_postgres_database(database)


if __name__ == "__main__":
    main()
