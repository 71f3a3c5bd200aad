"""Two gateway processes on the real PostgreSQL and Redis: every call is its own ledger row, keyed by the gateway's
request id whatever id the client sends, and hostile values in a request never hold good rows back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fakes.openai import FakeOpenAI
from tests.limits.test_replicas import MASTER, Replicas, prepare_store
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url
from wardgate.store.engine import create_engine
from wardgate.store.tables import usage_events

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

FLUSH_S = 1.0
LONG_MODEL = "m" * 250  # a configured model whose name is longer than the ledger's column (200)
SLOW_UPSTREAM_MS = 4000  # long enough that five calls sent together are all in flight at once
MESSAGES = [{"role": "user", "content": "hello ledger"}]


@dataclass
class Cluster:
    replicas: Replicas
    store: str
    projects: dict[str, str]  # name → id
    keys: dict[str, str]  # name → key

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.replicas.ports[i % len(self.replicas.ports)]}/v1/chat/completions"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


@pytest.fixture(scope="module")
def cluster(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    database = create_postgres_database()
    store = postgres_url(database)
    config = tmp_path_factory.mktemp("ledger-replicas") / "wardgate.yaml"
    config.write_text(f"""
master_key: {MASTER}
store: "{store}"
redis: {{url: "{redis_url()}", key_prefix: "wgledger-{uuid.uuid4().hex[:8]}:"}}
ledger: {{flush_interval_s: {FLUSH_S}}}
identity: {{key_use_audit: none}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  chat: [{{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 1}}}}]
  slow: [{{provider: up, model: slow-{SLOW_UPSTREAM_MS}, price: {{input: 1, output: 1}}}}]
  {LONG_MODEL}: [{{provider: up, model: gpt-4o-mini, price: {{input: 1, output: 1}}}}]
rate_limits:
  - {{name: slots, scope: model, match: slow, concurrent: 2}}
""")
    replicas = Replicas(config, store)
    try:
        projects, keys = {}, {}
        for name in ("tenant-a", "tenant-b", "load"):
            projects[name], keys[name] = asyncio.run(prepare_store(store, name))
        replicas.start()
        yield Cluster(replicas, store, projects, keys)
    finally:
        replicas.stop()
        drop_postgres_database(database)


async def ledger(engine: AsyncEngine, clause: Any) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        return [dict(r) for r in (await conn.execute(select(usage_events).where(clause))).mappings()]


async def wait_for_rows(engine: AsyncEngine, clause: Any, count: int, deadline_s: float) -> list[dict[str, Any]]:
    """Poll the ledger until ``count`` rows match (the replicas write every FLUSH_S), failing at the deadline."""
    deadline = time.monotonic() + deadline_s
    while True:
        rows = await ledger(engine, clause)
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def post(http: httpx.AsyncClient, url: str, key: str, model: str, headers: dict[str, str]) -> httpx.Response:
    body = {"model": model, "messages": MESSAGES}
    return await http.post(url, json=body, headers={"authorization": f"Bearer {key}", **headers})


async def test_five_calls_sharing_one_client_id_are_five_rows_and_hold_five_slots(cluster: Cluster) -> None:
    shared = f"retry-{uuid.uuid4().hex[:8]}"
    key = cluster.keys["tenant-a"]
    async with httpx.AsyncClient(timeout=30) as http:
        answers = await asyncio.gather(
            *(post(http, cluster.url(i), key, "slow", {"x-wardgate-request-id": shared}) for i in range(5))
        )
    statuses = sorted(a.status_code for a in answers)
    # two slots (counted in Redis across both replicas): calls sharing an id are still separate calls
    assert statuses == [200, 200, 429, 429, 429], statuses
    ours = {a.headers["x-wardgate-request-id"]: a for a in answers}
    assert len(ours) == 5 and shared not in ours
    assert all(a.headers["x-request-id"] == rid for rid, a in ours.items())
    assert {a.headers["x-wardgate-client-request-id"] for a in answers} == {shared}
    engine = create_engine(cluster.store)
    try:
        rows = await wait_for_rows(engine, usage_events.c.client_request_id == shared, 5, 10 * FLUSH_S)
    finally:
        await engine.dispose()
    assert sorted(r["request_id"] for r in rows) == sorted(ours)
    for row in rows:
        answer = ours[row["request_id"]]
        assert (row["status"], row["project_id"]) == (answer.status_code, cluster.projects["tenant-a"])
        assert row["billable"] is (answer.status_code == 200)  # a refused call is kept, never charged


async def test_a_client_cannot_overwrite_or_suppress_another_tenants_row(cluster: Cluster) -> None:
    a, b = cluster.keys["tenant-a"], cluster.keys["tenant-b"]
    victim_id = f"victim-{uuid.uuid4().hex[:8]}"
    async with httpx.AsyncClient(timeout=30) as http:
        # b sends a's id first (it would have won the row), then a calls, then b reuses a's answered ids
        first = await post(http, cluster.url(1), b, "chat", {"x-wardgate-request-id": victim_id})
        victim = await post(http, cluster.url(0), a, "chat", {"x-wardgate-request-id": victim_id})
        gateway_id = victim.headers["x-wardgate-request-id"]
        reuses = [
            await post(http, cluster.url(1), b, "chat", {name: gateway_id})
            for name in ("x-wardgate-request-id", "x-request-id", "x-client-request-id")
        ]
    answers = [first, victim, *reuses]
    assert [r.status_code for r in answers] == [200] * 5
    ids = [r.headers["x-wardgate-request-id"] for r in answers]
    assert len(set(ids)) == 5
    engine = create_engine(cluster.store)
    try:
        rows = await wait_for_rows(engine, usage_events.c.request_id.in_(ids), 5, 10 * FLUSH_S)
    finally:
        await engine.dispose()
    by_id = {r["request_id"]: r for r in rows}
    assert set(by_id) == set(ids)
    assert by_id[gateway_id]["project_id"] == cluster.projects["tenant-a"]
    assert by_id[gateway_id]["client_request_id"] == victim_id
    assert by_id[gateway_id]["cost_nanousd"] > 0
    for answer in (first, *reuses):
        row = by_id[answer.headers["x-wardgate-request-id"]]
        assert row["project_id"] == cluster.projects["tenant-b"] and row["cost_nanousd"] > 0
    assert [by_id[r.headers["x-wardgate-request-id"]]["client_request_id"] for r in reuses] == [gateway_id] * 3


POISON: list[tuple[str, dict[str, str]]] = [
    ("gpt\x00-4o", {}),  # a NUL byte: PostgreSQL refuses it in text
    ("\x00", {}),
    ("n" * 300, {}),  # longer than the model column
    ("x" * 1_000_000, {}),  # a 1 MB model name
    (LONG_MODEL, {}),  # a real model, answered, whose name is longer than the column
    ("nul\x00" * 50, {}),
    ("q" * 201, {}),
    (LONG_MODEL, {"x-request-id": "r" * 128}),
]


async def test_poison_requests_during_a_load_never_hold_good_rows_back(cluster: Cluster) -> None:
    """~20 requests a second for 6 s over both replicas, 8 of them poison: every row lands within 2 flushes."""
    key = cluster.keys["load"]
    total, every_s = 120, 0.05
    poison_at = {i * total // len(POISON) + 3: p for i, p in enumerate(POISON)}
    log_size = cluster.replicas.log.stat().st_size if cluster.replicas.log.exists() else 0

    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(max_connections=64)) as http:

        async def one(i: int) -> tuple[int, httpx.Response]:
            model, headers = poison_at.get(i, ("chat", {}))
            return i, await post(http, cluster.url(i), key, model, headers)

        tasks = []
        started = time.monotonic()
        for i in range(total):  # paced like a steady client: one request every 50 ms
            tasks.append(asyncio.create_task(one(i)))
            await asyncio.sleep(max(0.0, started + (i + 1) * every_s - time.monotonic()))
        answers = dict(await asyncio.gather(*tasks))
    answered_at = time.monotonic()

    good = {r.headers["x-wardgate-request-id"] for i, r in answers.items() if i not in poison_at}
    assert len(good) == total - len(POISON) and all(
        answers[i].status_code == 200 for i in answers if i not in poison_at
    )
    # a poison request the gateway served or refused after parsing it has its row too (bounded); a 400 has none
    recorded = {i: r for i, r in answers.items() if i in poison_at and r.status_code in (200, 404)}
    expected = good | {r.headers["x-wardgate-request-id"] for r in recorded.values()}
    engine = create_engine(cluster.store)
    try:
        rows = await wait_for_rows(engine, usage_events.c.request_id.in_(expected), len(expected), 2 * FLUSH_S)
        landed_s = time.monotonic() - answered_at
    finally:
        await engine.dispose()
    found = {r["request_id"]: r for r in rows}
    assert good <= set(found), f"{len(good - set(found))} good rows missing {landed_s:.2f}s after the load"
    assert set(found) == expected
    for i, answer in recorded.items():
        row = found[answer.headers["x-wardgate-request-id"]]
        assert len(row["model"]) <= 200 and "\x00" not in row["model"]
        assert row["billable"] is (answer.status_code == 200), poison_at[i][0][:20]
    assert all(len(r["model"]) == 200 for r in found.values() if r["model"].startswith("mmm"))
    with cluster.replicas.log.open("rb") as log:
        log.seek(log_size)
        written = log.read()
    assert len(written) < 64 * 1024, f"{len(written)} bytes of log for one load"
    assert all(len(line) <= 1024 for line in written.splitlines())
