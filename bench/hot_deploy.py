"""Hot deploy under load (issue 20, done-when 1): 3 `wardgate serve` replicas on loopback sharing PostgreSQL and
Redis, steady chat traffic against all of them, and N config versions applied one after the other, each adding a
route and changing a budget. For each version: the time from the apply's commit until every replica serves the new
route (GET /v1/models polled every 5 ms on each replica; then a chat call on the new route must succeed on each).
Prints p50/p99/max, the failed requests of the steady traffic, and the workers' own reload timings from their logs.

    .venv/bin/python -m bench.hot_deploy [--changes 100] [--rps 100]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import httpx
from tests.server.serve import Served
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url

from wardgate.config import load_config_text
from wardgate.store.applied_config import AppliedConfigStore, config_events_channel, signing_key
from wardgate.store.engine import create_engine

MASTER = "sk-bench-master-key"
HEADERS = {"authorization": f"Bearer {MASTER}"}


def config_text(store: str, redis: str | None, prefix: str, version: int) -> str:
    routes = "".join(f"  route-{v}: [{{provider: mock, model: gpt-4o-mini}}]\n" for v in range(1, version + 1))
    return f"""master_key: {MASTER}
store: "{store}"
{f'redis: {{url: "{redis}", key_prefix: "{prefix}"}}' if redis else ""}
server: {{preload_tokenizers: false}}
providers:
  mock: {{type: mock}}
models:
  gpt-4o-mini: [{{provider: mock, model: gpt-4o-mini}}]
{routes}budgets:
  - {{name: steady, scope: global, window: day, limit_tokens: {10**12 + version}, cap: hard}}
"""


async def one(client: httpx.AsyncClient, root: str, counts: dict[str, int]) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    try:
        answer = await client.post(root + "/v1/chat/completions", json=body, headers=HEADERS)
        counts["ok" if answer.status_code == 200 else "failed"] += 1
    except httpx.HTTPError:
        counts["failed"] += 1


async def steady(
    client: httpx.AsyncClient, roots: list[str], stop: asyncio.Event, counts: dict[str, int], rps: int
) -> None:
    """Open loop: ``rps`` chat requests a second spread over the replicas, whatever their latency (a closed loop
    saturating two shared cores would measure queueing, not propagation)."""
    loop = asyncio.get_running_loop()
    start, i, running = loop.time(), 0, set()
    while not stop.is_set():
        i += 1
        task = asyncio.create_task(one(client, roots[i % len(roots)], counts))
        running.add(task)
        task.add_done_callback(running.discard)
        await asyncio.sleep(max(0.0, start + i / rps - loop.time()))
    await asyncio.gather(*running)


async def visible(client: httpx.AsyncClient, root: str, model: str) -> None:
    """Until the replica lists the model (GET /v1/models: the running config's routes)."""
    while True:
        answer = await client.get(root + "/v1/models", headers=HEADERS)
        if answer.status_code == 200 and any(m["id"] == model for m in answer.json()["data"]):
            return
        await asyncio.sleep(0.005)  # another process: poll


async def serves(client: httpx.AsyncClient, root: str, model: str) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    answer = await client.post(root + "/v1/chat/completions", json=body, headers=HEADERS)
    assert answer.status_code == 200, answer.text


async def run(replicas: list[Served], store: str, redis: str | None, prefix: str, changes: int, rps: int) -> None:
    import redis.asyncio as aioredis

    engine = create_engine(store)
    publisher = aioredis.Redis.from_url(redis) if redis else None  # else PostgreSQL NOTIFY only
    channel = config_events_channel(prefix)
    key = signing_key(MASTER)
    applied = AppliedConfigStore(engine)
    roots = [r.root for r in replicas]
    counts = {"ok": 0, "failed": 0}
    stop = asyncio.Event()
    limits = httpx.Limits(max_connections=400)
    delays: list[float] = []
    committed: dict[int, float] = {}  # version -> wall-clock time of the apply's commit
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        load = asyncio.create_task(steady(client, roots, stop, counts, rps))
        await asyncio.sleep(1)
        for version in range(1, changes + 1):
            text = config_text(store, redis, prefix, version)
            load_config_text(text, source="bench", env={})  # validated first, as `config apply` does

            async def publish(payload: str) -> object:
                assert publisher is not None
                return await publisher.publish(channel, payload)

            applied_version = await applied.apply(text, "bench", key, publish if publisher is not None else None)
            committed[applied_version] = time.time()
            started = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*(visible(client, r, f"route-{version}") for r in roots)), 30)
            delays.append(time.perf_counter() - started)
            await asyncio.gather(*(serves(client, r, f"route-{version}") for r in roots))  # and it routes
        stop.set()
        await load
    if publisher is not None:
        await publisher.aclose()
    await engine.dispose()
    swaps = swapped(replicas, committed)
    delays.sort()
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"{changes} changes across {len(replicas)} replicas: p50 {statistics.median(delays) * 1000:.0f} ms, "
        f"p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms; steady traffic ({rps}/s): {counts['ok']} ok, "
        f"{counts['failed']} failed"
    )
    print(
        f"from the commit to the swap in the last of the {len(replicas)} workers (their log lines' timestamps): "
        f"p50 {statistics.median(swaps) * 1000:.0f} ms, p99 {swaps[p99_index(len(swaps))] * 1000:.0f} ms, "
        f"max {swaps[-1] * 1000:.0f} ms over {len(swaps)} changes"
    )


SWAP = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) WARNING wardgate.reload: config reloaded from config version (\d+) ",
    re.MULTILINE,
)


def p99_index(n: int) -> int:
    return min(n - 1, int(n * 0.99))


def swapped(replicas: list[Served], committed: dict[int, float]) -> list[float]:
    """Per version, sorted: seconds from its commit until the last worker logged its swap (1 ms resolution)."""
    last: dict[int, float] = {}
    for replica in replicas:
        for m in SWAP.finditer(replica.text()):
            at, version = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp(), int(m.group(2))
            last[version] = max(last.get(version, 0.0), at)
    return sorted(max(0.0, last[v] - t) for v, t in committed.items() if v in last)


PHASES = re.compile(
    r"config reloaded from config version \d+ .*\((\d+) ms: wait and read (\d+), validate (\d+), rebuild (\d+)\)"
)


def phases(replicas: list[Served]) -> str:
    """Where a worker's reload spends its time, from the replicas' own log lines (p50/p99 in ms)."""
    rows = [tuple(map(int, m.groups())) for r in replicas for m in PHASES.finditer(r.text())]
    if not rows:
        return "no reload timings in the logs"
    cols = list(zip(*rows, strict=True))
    ranked = [sorted(c) for c in cols]
    p = [(c[len(c) // 2], c[min(len(c) - 1, int(len(c) * 0.99))]) for c in ranked]
    names = ("total", "announcement to read", "validate", "rebuild")
    return "in the workers (p50/p99 ms): " + ", ".join(f"{n} {a}/{b}" for n, (a, b) in zip(names, p, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--rps", type=int, default=50, help="steady chat requests a second, over all replicas")
    parser.add_argument("--via", choices=("redis", "postgres"), default="redis", help="how changes are announced")
    args = parser.parse_args()
    database = create_postgres_database()
    redis = None if args.via == "postgres" else redis_url()
    store, prefix = postgres_url(database), f"wgbench-{uuid.uuid4().hex[:8]}:"
    replicas: list[Served] = []
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for i in range(3):
                path = Path(tmp) / f"replica-{i}.yaml"
                path.write_text(config_text(store, redis, prefix, 0))
                replicas.append(Served(path, wait=False))
            for replica in replicas:
                replica.wait_ready()
            asyncio.run(run(replicas, store, redis, prefix, args.changes, args.rps))
            print(phases(replicas))
        finally:
            for replica in replicas:
                replica.stop()
            drop_postgres_database(database)


if __name__ == "__main__":
    main()
