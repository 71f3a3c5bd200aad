"""Models and providers made in the admin API reach every worker of every replica without a restart: three
`wardgate serve` processes (a replica of two workers, and one of one) share one PostgreSQL, announced through Redis
pub/sub, then (a second cluster, without `redis:`) through PostgreSQL LISTEN alone. `reload.resync_s` is an hour,
so only the announcement can bring a change this soon. An invalid change is refused with its field, and every
replica keeps serving what it had."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from cryptography.fernet import Fernet

from tests.server.serve import Served
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url

MASTER = "sk-test-master-key"
KEY = Fernet.generate_key().decode()
AUTH = {"authorization": f"Bearer {MASTER}"}


@dataclass
class Cluster:
    replicas: list[Served]
    workers: list[int]


@pytest.fixture(scope="module", params=["redis", "postgres"])
def cluster(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    database = create_postgres_database()
    tmp = tmp_path_factory.mktemp("catalog")
    base = f"""
master_key: {MASTER}
store: "{postgres_url(database)}"
server: {{preload_tokenizers: false}}
reload: {{resync_s: 3600}}
catalog: {{secret_keys: ["{KEY}"]}}
providers:
  mock: {{type: mock}}
models:
  from-file: [{{provider: mock, model: gpt-4o-mini}}]
"""
    if request.param == "redis":
        base += f'redis: {{url: "{redis_url()}", key_prefix: "wgcat-{uuid.uuid4().hex[:8]}:"}}\n'
    configs = [tmp / "a.yaml", tmp / "b.yaml"]  # one log file each
    for config in configs:
        config.write_text(base)
    replicas: list[Served] = []
    try:
        replicas.append(Served(configs[0], "--workers", "2", wait=False))
        replicas.append(Served(configs[1], wait=False))
        for replica in replicas:
            replica.wait_ready()
        yield Cluster(replicas, [2, 1])
    finally:
        for replica in replicas:
            replica.stop()
        drop_postgres_database(database)


def chat(replica: Served, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8}
    return httpx.post(replica.root + "/v1/chat/completions", json=body, headers=AUTH, timeout=10).status_code


def everywhere(cluster: Cluster, model: str, status: int) -> None:
    """Every worker of every replica answers ``status`` for ``model``, within 10 s of the change."""
    deadline = time.monotonic() + 10
    for replica in cluster.replicas:
        hits = 0
        while hits < 6:  # six in a row: both workers of a two-worker replica, whichever takes the connection
            hits = hits + 1 if chat(replica, model) == status else 0
            if hits == 0:  # an external process: poll, bounded
                assert time.monotonic() < deadline, replica.text()[-3000:]
                time.sleep(0.02)


def test_a_provider_and_model_made_on_one_replica_serve_on_every_worker(cluster: Cluster) -> None:
    first, second = cluster.replicas
    with httpx.Client(base_url=second.root + "/admin/v1", headers=AUTH, timeout=10) as api:
        provider = {"name": "stored-mock", "config": {"type": "mock", "latency_ms": 0}}
        assert api.post("/providers", json=provider).status_code == 201
        model = {"name": "db-routed", "config": {"deployments": [{"provider": "stored-mock", "model": "m"}]}}
        assert api.post("/models", json=model).status_code == 201
    everywhere(cluster, "db-routed", 200)
    with httpx.Client(base_url=first.root + "/admin/v1", headers=AUTH, timeout=10) as api:
        assert api.delete("/models/db-routed").status_code == 200
    everywhere(cluster, "db-routed", 404)


def test_an_invalid_change_is_refused_and_every_replica_keeps_serving(cluster: Cluster) -> None:
    first = cluster.replicas[0]
    with httpx.Client(base_url=first.root + "/admin/v1", headers=AUTH, timeout=10) as api:
        assert api.post("/providers", json={"name": "kept", "config": {"type": "mock"}}).status_code == 201
        routed = {"name": "kept-model", "config": [{"provider": "kept", "model": "m"}]}
        assert api.post("/models", json=routed).status_code == 201
        everywhere(cluster, "kept-model", 200)
        refused = api.delete("/providers/kept")  # kept-model routes to it
        assert refused.status_code == 400 and refused.json()["error"]["param"] == "models.kept-model[0].provider"
        bad = api.put("/models/kept-model", json={"name": "kept-model", "config": {"deployments": []}})
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "config.deployments"
    for replica in cluster.replicas:
        for _ in range(4):
            assert chat(replica, "kept-model") == 200 and chat(replica, "from-file") == 200
