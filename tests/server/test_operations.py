"""Operations on a real cluster: two `wardgate serve` replicas (the first with two workers) sharing PostgreSQL and
Redis, and a gated fake upstream. In order, on the same processes:

1. SIGHUP re-reads the config file in every worker of a replica (no worker restarts);
2. `wardgate config apply FILE` reaches every worker of every replica: a new route, then a budget;
3. an invalid file is refused by the command and every replica keeps serving what it had;
4. SIGTERM under load: new connections are refused at once, calls in flight finish, those past
   `server.drain_timeout_s` end with `server_shutting_down` in their client's shape, the process exits 0, and every
   call the upstream saw has its ledger row (the usage queue is flushed before exit).
"""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest

from tests.server import drain_load
from tests.server.drain_load import DRAIN_S, MASTER
from tests.server.gated import GatedUpstream
from tests.server.serve import Served
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url
from wardgate.cli import main


@dataclass
class Cluster:
    replicas: list[Served]
    configs: list[Path]
    base: str
    database: str
    upstream: GatedUpstream


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    database = create_postgres_database()
    tmp = tmp_path_factory.mktemp("cluster")
    with GatedUpstream().start() as upstream:
        base = f"""
master_key: {MASTER}
store: "{postgres_url(database)}"
redis: {{url: "{redis_url()}", key_prefix: "wgops-{uuid.uuid4().hex[:8]}:"}}
server: {{drain_timeout_s: {DRAIN_S}, preload_tokenizers: false}}
ledger: {{flush_interval_s: 60, writer: process}}  # the store writer process drains too (decision 063)
limits: {{hold_wait_s: 0, refresh_s: 3600}}  # only a push can bring an admin-API budget to another replica
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up}}
  mock: {{type: mock}}
models:
  gated: [{{provider: up, model: gated}}]
  stall: [{{provider: up, model: stall}}]
  gpt-4o-mini: [{{provider: mock, model: gpt-4o-mini}}]
  metered: [{{provider: mock, model: gpt-4o-mini}}]
"""
        configs = [tmp / "replica-a.yaml", tmp / "replica-b.yaml"]  # one log file each
        for config in configs:
            config.write_text(base)
        replicas: list[Served] = []
        try:  # started in parallel
            replicas.append(Served(configs[0], "--workers", "2", "--log-level", "info", wait=False))
            replicas.append(Served(configs[1], "--log-level", "info", wait=False))
            for replica in replicas:
                replica.wait_ready()
            wait_for_log(replicas[0], "Application startup complete.", 2)  # both workers listen for SIGHUP
            yield Cluster(replicas, configs, base, database, upstream)
        finally:
            for replica in replicas:
                replica.stop()
            drop_postgres_database(database)


def wait_for_log(replica: Served, needle: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while replica.text().count(needle) < count:  # an external process: poll, bounded
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not {count} times in:\n{replica.text()[-3000:]}")
        time.sleep(0.02)


def chat(replica: Served, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
    headers = {"authorization": f"Bearer {MASTER}"}
    return httpx.post(replica.root + "/v1/chat/completions", json=body, headers=headers, timeout=10)


def apply(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """`wardgate config apply FILE`, in this process (the command's own code, without an interpreter start)."""
    code = main(["config", "apply", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def test_sighup_reloads_the_file_in_every_worker(cluster: Cluster) -> None:
    first, config = cluster.replicas[0], cluster.configs[0]
    assert chat(first, "added").status_code == 404
    config.write_text(cluster.base + "  added: [{provider: mock, model: gpt-4o-mini}]\n")
    first.proc.send_signal(signal.SIGHUP)  # to the supervisor, which hands it to each worker
    wait_for_log(first, f"config reloaded from {config.resolve()}: models", 2)
    for _ in range(4):  # either worker
        assert chat(first, "added").status_code == 200
    assert "restarting processes" not in first.text()
    assert chat(cluster.replicas[1], "added").status_code == 404  # a file is one replica's


def test_an_applied_route_then_budget_reach_every_worker_of_every_replica(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    replicas, tmp = cluster.replicas, cluster.configs[0].parent
    assert [chat(r, "gpt-4o").status_code for r in replicas] == [404, 404]
    routed = tmp / "routed.yaml"
    routed.write_text(cluster.base + "  gpt-4o: [{provider: mock, model: gpt-4o}]\n")
    code, out, err = apply(routed, capsys)
    assert code == 0, err
    assert "applied as config version 1" in out
    for replica, workers in zip(replicas, (2, 1), strict=True):
        wait_for_log(replica, "config reloaded from config version 1 ", workers)
    for replica in replicas:
        for _ in range(4):
            assert chat(replica, "gpt-4o").status_code == 200

    budgeted = tmp / "budgeted.yaml"
    budget = "budgets:\n  - {name: tiny, scope: model, match: gpt-4o, window: day, limit_tokens: 1, cap: hard}\n"
    budgeted.write_text(routed.read_text() + budget)
    assert apply(budgeted, capsys)[0] == 0
    for replica, workers in zip(replicas, (2, 1), strict=True):
        wait_for_log(replica, "config reloaded from config version 2 ", workers)
    for replica in replicas:
        for _ in range(4):
            refused = chat(replica, "gpt-4o")
            assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
        assert chat(replica, "gpt-4o-mini").status_code == 200


def test_an_invalid_file_is_refused_and_every_replica_keeps_its_config(
    cluster: Cluster, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = cluster.configs[0].parent / "broken.yaml"
    broken.write_text(cluster.base + "  gpt-5: [{provider: nowhere, model: gpt-5}]\n")
    code, _, err = apply(broken, capsys)
    assert code == 1
    assert f"{broken}: models.gpt-5" in err and "nothing applied" in err
    for replica in cluster.replicas:
        assert chat(replica, "gpt-4o-mini").status_code == 200
        assert chat(replica, "gpt-5").status_code == 404


def test_a_budget_made_in_the_admin_api_on_one_replica_is_enforced_by_every_worker_at_once(cluster: Cluster) -> None:
    first, second = cluster.replicas
    for _ in range(4):
        assert chat(first, "metered").status_code == 200
    budget = {"name": "metered-cap", "scope": "model", "match": "metered", "window": "day", "limit_tokens": 1}
    made = httpx.post(
        second.root + "/admin/v1/budgets", json=budget, headers={"authorization": f"Bearer {MASTER}"}, timeout=10
    )
    assert made.status_code in (200, 201), made.text
    deadline = time.monotonic() + 10  # limits.refresh_s is an hour: only the announcement can bring it this soon
    while chat(first, "metered").status_code != 429:  # an external process: poll, bounded
        assert time.monotonic() < deadline, first.text()[-3000:]
        time.sleep(0.02)
    for replica in cluster.replicas:
        for _ in range(4):  # either worker of the first replica
            assert chat(replica, "metered").json()["error"]["code"] == "budget_exceeded"


def test_sigterm_drains_streams_and_flushes_the_ledger(cluster: Cluster) -> None:
    served, upstream = cluster.replicas[0], cluster.upstream
    results = asyncio.run(drain_load.drive(served, upstream))
    assert served.proc.wait(timeout=30) == 0
    drain_load.check_outcomes(results)

    async def ledger() -> list[tuple[str, bool, int, str | None]]:
        conn = await asyncpg.connect(postgres_url(cluster.database))
        try:
            query = "SELECT model, stream, status, error_code FROM usage_events WHERE model IN ('gated', 'stall')"
            return [tuple(row) for row in await conn.fetch(query)]
        finally:
            await conn.close()

    # the usage queue was flushed before exit (its interval, 60 s, never passed): one row per upstream call
    rows = asyncio.run(ledger())
    assert len(rows) == upstream.arrivals == len(results)
    assert sorted(set(rows), key=str) == sorted(
        {
            ("gated", False, 200, None),
            ("gated", True, 200, None),
            ("stall", False, 503, "server_shutting_down"),
            ("stall", True, 503, "server_shutting_down"),
        },
        key=str,
    )
    text = served.text()
    assert f"drain timeout ({DRAIN_S} s) passed" in text
    assert "Traceback" not in text
