"""`/admin/v1/rate-limits`: a rate limit made on one replica is enforced by another (shared PostgreSQL and Redis)
without a restart, and absurd values are refused."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.limits.test_replicas import MASTER, Replicas, prepare_store
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url

ADMIN = {"authorization": f"Bearer {MASTER}"}
BODY = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


@pytest.fixture(scope="module")
def replicas(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replicas, str]]:
    database = create_postgres_database()
    store = postgres_url(database)
    config = tmp_path_factory.mktemp("rates") / "wardgate.yaml"
    config.write_text(f"""
master_key: {MASTER}
store: "{store}"
redis: {{url: "{redis_url()}", key_prefix: "wgrl-{uuid.uuid4().hex[:8]}:"}}
limits: {{refresh_s: 0.2}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  chat: [{{provider: up, model: gpt-4o-mini}}]
rate_limits:
  - {{name: from-config, scope: global, rpm: 100000}}
""")
    running = Replicas(config, store)
    try:
        _, key = asyncio.run(prepare_store(store, "rated"))
        running.start()
        yield running, key
    finally:
        running.stop()
        drop_postgres_database(database)


def url(replicas: Replicas, i: int, path: str) -> str:
    return f"http://127.0.0.1:{replicas.ports[i]}{path}"


def chat_status(replicas: Replicas, i: int, key: str) -> int:
    return httpx.post(
        url(replicas, i, "/v1/chat/completions"), json=BODY, headers={"authorization": f"Bearer {key}"}
    ).status_code


def test_a_rate_limit_made_on_one_replica_is_enforced_by_the_other_without_a_restart(
    replicas: tuple[Replicas, str],
) -> None:
    running, key = replicas
    made = httpx.post(
        url(running, 0, "/admin/v1/rate-limits"), headers=ADMIN, json={"name": "two-a-minute", "scope": "key", "rpm": 2}
    )
    assert made.status_code == 201, made.text
    assert made.json()["source"] == "api"
    listed = httpx.get(url(running, 1, "/admin/v1/rate-limits"), headers=ADMIN).json()["data"]
    assert {(r["name"], r["source"]) for r in listed} == {("from-config", "config"), ("two-a-minute", "api")}

    deadline = time.monotonic() + 10  # replica 1 re-reads within limits.refresh_s (0.2 s here)
    statuses: list[int] = []
    while 429 not in statuses and time.monotonic() < deadline:
        statuses.append(chat_status(running, 1, key))
    assert statuses[-1] == 429 and statuses.count(200) <= 2  # shared counters: never more than 2 in the minute
    assert chat_status(running, 0, key) == 429

    raised = httpx.put(
        url(running, 0, "/admin/v1/rate-limits/two-a-minute"),
        headers=ADMIN,
        json={"name": "two-a-minute", "scope": "key", "rpm": 100000},
    )
    assert raised.status_code == 200
    deadline = time.monotonic() + 10
    while chat_status(running, 1, key) != 200 and time.monotonic() < deadline:
        pass
    assert chat_status(running, 1, key) == 200
    assert httpx.delete(url(running, 1, "/admin/v1/rate-limits/two-a-minute"), headers=ADMIN).status_code == 200
    listed = httpx.get(url(running, 0, "/admin/v1/rate-limits"), headers=ADMIN).json()["data"]
    assert [r["name"] for r in listed] == ["from-config"]


@pytest.mark.parametrize(
    "body",
    [
        {"name": "huge", "scope": "key", "rpm": 10**12},
        {"name": "negative", "scope": "key", "tpm": -5},
        {"name": "quoted", "scope": "key", "rpm": "600"},
        {"name": "empty", "scope": "key"},
        {"name": "bad scope", "scope": "key", "rpm": 5},
        {"name": "odd", "scope": "everyone", "rpm": 5},
    ],
)
def test_absurd_rate_limits_are_refused_with_400(replicas: tuple[Replicas, str], body: dict[str, object]) -> None:
    running, _ = replicas
    answer = httpx.post(url(running, 0, "/admin/v1/rate-limits"), headers=ADMIN, json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["type"] == "invalid_request_error"


def test_a_config_rate_limit_cannot_be_shadowed_or_changed_here(replicas: tuple[Replicas, str]) -> None:
    running, _ = replicas
    body = {"name": "from-config", "scope": "key", "rpm": 1}
    assert httpx.post(url(running, 0, "/admin/v1/rate-limits"), headers=ADMIN, json=body).status_code == 409
    assert httpx.put(url(running, 0, "/admin/v1/rate-limits/from-config"), headers=ADMIN, json=body).status_code == 404
