"""Hot deploy across replicas: two `wardgate serve` processes (one with two workers) sharing PostgreSQL and Redis.

`wardgate config apply FILE` validates the file, stores it as a new version and announces it; every worker of every
replica applies it (a new route, then a budget) without a restart. An invalid file is refused by the command and
every replica keeps serving the config it had.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server.serve import Served
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url
from wardgate.cli import main

MASTER = "sk-test-master-key"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Served], Path, str]]:
    database = create_postgres_database()
    tmp = tmp_path_factory.mktemp("replicas")
    base = f"""
master_key: {MASTER}
store: "{postgres_url(database)}"
redis: {{url: "{redis_url()}", key_prefix: "wgreload-{uuid.uuid4().hex[:8]}:"}}
server: {{preload_tokenizers: false}}
providers:
  mock: {{type: mock}}
models:
  gpt-4o-mini: [{{provider: mock, model: gpt-4o-mini}}]
"""
    configs = [tmp / "replica-a.yaml", tmp / "replica-b.yaml"]  # one log file each
    for config in configs:
        config.write_text(base)
    replicas: list[Served] = []
    try:  # started in parallel
        replicas.append(Served(configs[0], "--workers", "2", "--log-level", "warning", wait=False))
        replicas.append(Served(configs[1], "--log-level", "warning", wait=False))
        for replica in replicas:
            replica.wait_ready()
        yield replicas, tmp, base
    finally:
        for replica in replicas:
            replica.stop()
        drop_postgres_database(database)


def apply(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`wardgate config apply FILE`, in this process (the same code as the command, without an interpreter start)."""
    code = main(["config", "apply", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def wait_for_reloads(replicas: list[Served], workers: list[int], version: int) -> None:
    """Every worker logs the version it applied; wait (bounded) until all of them have."""
    needle = f"config reloaded from config version {version} "
    deadline = time.monotonic() + 15
    while [r.text().count(needle) for r in replicas] != workers:  # external processes: poll, bounded
        if time.monotonic() > deadline:
            raise AssertionError([r.text()[-2000:] for r in replicas])
        time.sleep(0.02)


def chat(replica: Served, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
    headers = {"authorization": f"Bearer {MASTER}"}
    return httpx.post(replica.root + "/v1/chat/completions", json=body, headers=headers, timeout=10)


def test_an_applied_route_then_budget_reach_every_worker_of_every_replica(
    cluster: tuple[list[Served], Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    replicas, tmp, base = cluster
    assert [chat(r, "gpt-4o").status_code for r in replicas] == [404, 404]

    routed = tmp / "routed.yaml"
    routed.write_text(base + "  gpt-4o: [{provider: mock, model: gpt-4o}]\n")
    code, out, err = apply(routed, capsys)
    assert code == 0, err
    assert "applied as config version 1" in out
    wait_for_reloads(replicas, [2, 1], 1)
    for replica in replicas:
        for _ in range(4):  # either worker of the first replica
            assert chat(replica, "gpt-4o").status_code == 200

    budgeted = tmp / "budgeted.yaml"
    budget = "budgets:\n  - {name: tiny, scope: model, match: gpt-4o, window: day, limit_tokens: 1, cap: hard}\n"
    budgeted.write_text(routed.read_text() + budget)
    assert apply(budgeted, capsys)[0] == 0
    wait_for_reloads(replicas, [2, 1], 2)
    for replica in replicas:
        for _ in range(4):
            refused = chat(replica, "gpt-4o")
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
        assert chat(replica, "gpt-4o-mini").status_code == 200


def test_an_invalid_file_is_refused_and_every_replica_keeps_its_config(
    cluster: tuple[list[Served], Path, str], capsys: pytest.CaptureFixture[str]
) -> None:
    replicas, tmp, base = cluster
    broken = tmp / "broken.yaml"
    broken.write_text(base + "  gpt-5: [{provider: nowhere, model: gpt-5}]\n")
    code, _, err = apply(broken, capsys)
    assert code == 1
    assert f"{broken}: models.gpt-5" in err and "nothing applied" in err
    for replica in replicas:
        assert chat(replica, "gpt-4o-mini").status_code == 200
        assert chat(replica, "gpt-5").status_code == 404
