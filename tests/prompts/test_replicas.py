"""Two real gateway processes sharing PostgreSQL and Redis: a label rollback reaches the other replica within
`prompts.refresh_s` with no failed request meanwhile, a canary caller gets the same arm on both replicas, and the
automatic rollback of a failing canary happens once, judged from both replicas' shared outcomes."""

from __future__ import annotations

import asyncio
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.fakes.openai import FakeOpenAI
from tests.limits.test_replicas import Replicas, prepare_store
from tests.prompts.support import SUPPORT_V1, variant
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url
from wardgate.store.engine import create_engine
from wardgate.store.tables import audit_log

MASTER = "sk-prompt-replica-master"
# the full figure (3 replicas, 20 rollbacks) behind env vars; the suite runs the short version
REPLICAS = int(os.environ.get("WARDGATE_PROMPT_REPLICAS", "2"))
ROLLBACKS = int(os.environ.get("WARDGATE_PROMPT_ROLLBACKS", "6"))
VARIABLES = {"customer": {"name": "Ada"}, "tier": "pro"}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key="sk-up").start() as f:
        yield f


@pytest.fixture(scope="module")
def cluster(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replicas, str, str]]:
    database = create_postgres_database()
    store = postgres_url(database)
    config = tmp_path_factory.mktemp("prompt-replicas") / "wardgate.yaml"
    config.write_text(f"""
master_key: {MASTER}
store: "{store}"
redis: {{url: "{redis_url()}", key_prefix: "wgprompt-{uuid.uuid4().hex[:8]}:"}}
ledger: {{flush_interval_s: 0.2}}
audit: {{}}
identity: {{key_use_audit: none}}
prompts: {{refresh_s: 0.5, canary_check_s: 0.5, protected_labels: {{production: {{approvals: 2}}}}}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-up}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
  other: [{{provider: up, model: gpt-4o}}]
  broken: [{{provider: up, model: error-500}}]
""")
    replicas = Replicas(config, store, REPLICAS)
    try:
        _, key = asyncio.run(prepare_store(store, "prompted"))
        replicas.start()
        yield replicas, key, store
    finally:
        for client in _CLIENTS.values():
            client.close()
        _CLIENTS.clear()
        replicas.stop()
        drop_postgres_database(database)


def _admin(port: int) -> httpx.Client:
    return httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {MASTER}"}, timeout=10)


_CLIENTS: dict[int, httpx.Client] = {}


def _chat(port: int, key: str, name: str, user: str = "someone") -> httpx.Response:
    body: dict[str, Any] = {
        "model": "gpt",
        "messages": [],
        "user": user,
        "wardgate_prompt": {"name": name, "label": "dev", "variables": VARIABLES},
    }
    client = _CLIENTS.get(port)
    if client is None:  # keep-alive: the tests send hundreds of calls
        client = _CLIENTS[port] = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
    return client.post("/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, json=body)


def _prompt(port: int, *specs: dict[str, Any]) -> tuple[str, list[str]]:
    name = f"replicated-{uuid.uuid4().hex[:8]}"
    with _admin(port) as client:
        assert client.post("/admin/v1/prompts", json={"name": name}).status_code == 201
        ids = [client.post(f"/admin/v1/prompts/{name}/versions", json=s).json()["id"] for s in specs]
        moved = client.post(
            f"/admin/v1/prompts/{name}/promotions", json={"label": "dev", "version": ids[0], "reason": "start"}
        )
        assert moved.json()["status"] == "applied"
    return name, ids


def _served_by(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return response.headers["x-wardgate-deployment"]


def _until(predicate: Any, what: str, limit_s: float = 15.0) -> list[int]:
    """Poll an external process's state until it holds (bounded); returns the statuses seen meanwhile."""
    deadline = time.monotonic() + limit_s
    while True:
        done, statuses = predicate()
        if done:
            return list(statuses)
        if time.monotonic() > deadline:
            raise TimeoutError(what)


def test_a_rollback_reaches_the_other_replica_with_no_failed_request(
    cluster: tuple[Replicas, str, str],
) -> None:
    replicas, key, _ = cluster
    ports = replicas.ports
    name, (gpt, other) = _prompt(ports[0], SUPPORT_V1, {**variant(SUPPORT_V1, "other {{ tier }}"), "model": "other"})
    load_statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:  # steady traffic on every replica while the label moves
        with httpx.Client(timeout=10) as http:
            i = 0
            while not stop.is_set():
                port = ports[i % len(ports)]
                body = {"model": "gpt", "messages": [],
                        "wardgate_prompt": {"name": name, "label": "dev", "variables": VARIABLES}}  # fmt: skip
                url = f"http://127.0.0.1:{port}/v1/chat/completions"
                load_statuses.append(http.post(url, json=body, headers={"authorization": f"Bearer {key}"}).status_code)
                i += 1

    def everywhere(deployment: str) -> Any:
        def check() -> tuple[bool, list[int]]:
            answers = [_chat(p, key, name) for p in ports]
            statuses = [r.status_code for r in answers]
            return all(
                r.status_code == 200 and r.headers["x-wardgate-deployment"] == deployment for r in answers
            ), statuses

        return check

    seen = _until(everywhere("up/gpt-4o-mini"), "a replica never saw the label")
    loader = threading.Thread(target=load, name="prompt-load")
    loader.start()
    delays = []
    try:
        with _admin(ports[0]) as client:
            for i in range(ROLLBACKS):
                to, deployment = (other, "up/gpt-4o") if i % 2 == 0 else (gpt, "up/gpt-4o-mini")
                started = time.monotonic()
                body = {"to": to, "reason": f"r{i}"}
                moved = client.post(f"/admin/v1/prompts/{name}/labels/dev/rollback", json=body)
                assert moved.status_code == 200 and moved.json()["version"] == to
                assert _served_by(_chat(ports[0], key, name)) == deployment  # the answering replica: at once
                seen += _until(everywhere(deployment), f"rollback {i} never reached every replica")
                delays.append(time.monotonic() - started)
    finally:
        stop.set()
        loader.join()
    assert set(seen) == {200} and set(load_statuses) == {200} and len(load_statuses) > ROLLBACKS
    delays.sort()
    print(f"\n{len(ports)} replicas, {ROLLBACKS} rollbacks, {len(load_statuses)} requests of load, all 200; "
          f"rollback reached every replica in (s): {[round(d, 3) for d in delays]}")  # fmt: skip


def test_canary_arms_are_sticky_across_replicas_and_a_failing_canary_rolls_back_once(
    cluster: tuple[Replicas, str, str],
) -> None:
    replicas, key, store = cluster
    a, b = replicas.ports[:2]
    other = {**variant(SUPPORT_V1, "other {{ tier }}"), "model": "other"}
    name, (good, fine, bad) = _prompt(
        a, SUPPORT_V1, other, {**variant(SUPPORT_V1, "bad {{ tier }}"), "model": "broken"}
    )

    def canary(version: str, rollback: dict[str, Any]) -> None:
        with _admin(a) as client:
            body = {"version": version, "percent": 30, "sticky": "user", "rollback": rollback}
            started = client.put(f"/admin/v1/prompts/{name}/labels/dev/canary", json=body)
            assert started.status_code == 200, started.text

    def both_see(deployment: str) -> Any:
        def check() -> tuple[bool, list[int]]:
            seen = {p: {_chat(p, key, name, f"probe-{i}").headers.get("x-wardgate-deployment") for i in range(12)}
                    for p in (a, b)}  # fmt: skip
            return all(deployment in s for s in seen.values()), []

        return check

    # a healthy canary (another model): which deployment answered shows the arm
    canary(fine, {"window_s": 120, "min_requests": 15, "error_rate_margin": 0.05})
    _until(both_see("up/gpt-4o"), "a replica never saw the canary")
    arms = {}
    for i in range(40):
        user = f"user-{i}"
        on_a, on_b = _served_by(_chat(a, key, name, user)), _served_by(_chat(b, key, name, user))
        arms[user] = on_a
        assert on_a == on_b, user  # the same arm on every replica
    assert set(arms.values()) == {"up/gpt-4o-mini", "up/gpt-4o"}

    # a failing one replaces it: both replicas' outcomes add up in Redis, and one of them rolls it back
    canary(bad, {"window_s": 120, "min_requests": 15, "error_rate_margin": 0.05})

    def rolled_back() -> tuple[bool, list[int]]:  # traffic on both replicas until one of them rolls it back
        for i in range(10):
            for p in (a, b):
                _chat(p, key, name, f"user-{i}")
        with _admin(b) as client:
            return client.get(f"/admin/v1/prompts/{name}").json()["canaries"] == [], []

    _until(rolled_back, "the failing canary was never rolled back", 60)
    canary_users = list(arms)

    def every_replica_follows() -> tuple[bool, list[int]]:  # the other replica within prompts.refresh_s
        return {_chat(p, key, name, user).status_code for user in canary_users for p in (a, b)} == {200}, []

    _until(every_replica_follows, "a replica kept serving the rolled-back canary")
    statuses = [_chat(p, key, name, user).status_code for user in arms for p in (a, b)]
    assert set(statuses) == {200}

    async def rollbacks() -> int:
        engine = create_engine(store)
        try:
            async with engine.connect() as conn:
                query = select(func.count()).where(
                    audit_log.c.action == "prompt.canary.rollback", audit_log.c.target == name
                )
                return int(await conn.scalar(query) or 0)
        finally:
            await engine.dispose()

    _until(lambda: (asyncio.run(rollbacks()) >= 1, []), "the rollback never reached the audit trail")
    assert asyncio.run(rollbacks()) == 1
