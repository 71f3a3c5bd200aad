"""`/metrics` counts every call, and with `wardgate serve --workers 2` every worker's calls, on each scrape."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.limits.test_replicas import free_port
from wardgate.observability.metrics import Metrics, Sample, WorkerCounters

MASTER = "sk-metrics-master-key"
CONFIG = """
master_key: {master}
store: sqlite:///{store}
providers:
  m: {{type: mock}}
models:
  solo: [{{provider: m, model: gpt-4o-mini}}]
"""


@pytest.fixture(scope="module")
def metrics_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("metrics")
    (path / "stale-from-an-earlier-run.json").write_text('[["wardgate_route_calls_total", {"model": "solo"}, 99, ""]]')
    return path


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory, metrics_dir: Path) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("workers")
    config = tmp / "wardgate.yaml"
    config.write_text(CONFIG.format(master=MASTER, store=tmp / "wardgate.db"))
    port = free_port()
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wardgate.cli", "serve", "--config", str(config), "--port", str(port), "--workers", "2"],
        stdout=log,
        stderr=log,
        start_new_session=True,
        env={**os.environ, "WARDGATE_METRICS_DIR": str(metrics_dir)},
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # an external process: poll its readiness, bounded
            if proc.poll() is not None:
                raise RuntimeError((tmp / "serve.log").read_text())
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("wardgate serve --workers 2 did not start")
            time.sleep(0.05)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


async def fire(port: int, n: int) -> list[int]:
    """One after the other, each on a new connection: both idle workers race to accept it, so both serve some
    (all at once, the first worker to wake would accept the whole backlog)."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        statuses = []
        for _ in range(n):
            r = await http.post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                json={"model": "solo", "messages": [{"role": "user", "content": "hi"}]},
                headers={"authorization": f"Bearer {MASTER}"},
            )
            statuses.append(r.status_code)
        return statuses


def calls_counted(port: int) -> float:
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0)) as http:
        text = http.get(f"http://127.0.0.1:{port}/metrics").text
    found = re.search(r'^wardgate_route_calls_total\{model="solo"\} (\S+)$', text, re.M)
    assert found, text
    return float(found.group(1))


def worker_calls(metrics_dir: Path) -> list[float]:
    files = [orjson.loads(path.read_bytes()) for path in metrics_dir.glob("*.json")]
    return [sum(v for name, _, v, *_ in rows if name == "wardgate_route_calls_total") for rows in files]


def test_every_scrape_of_two_workers_counts_every_call_of_a_single_deployment_model(
    two_workers: int, metrics_dir: Path
) -> None:
    sent = 0
    while sent < 600:  # until both workers have served some (each accept is a race between them)
        assert asyncio.run(fire(two_workers, 20)) == [200] * 20
        sent += 20
        deadline = time.monotonic() + 5
        while sum(calls := worker_calls(metrics_dir)) != sent and time.monotonic() < deadline:
            time.sleep(0.02)  # polling the files each worker publishes every second
        if len(calls) == 2 and min(calls) > 0:
            break
    deadline = time.monotonic() + 5  # the other worker publishes within 1 s; generous for a loaded machine
    while calls_counted(two_workers) != sent and time.monotonic() < deadline:
        time.sleep(0.02)
    assert [calls_counted(two_workers) for _ in range(20)] == [sent] * 20
    calls = worker_calls(metrics_dir)
    assert len(calls) == 2 and min(calls) > 0 and sum(calls) == sent, calls  # an earlier run's file was cleared


async def test_counters_are_summed_over_workers_and_gauges_stay_the_workers_own(tmp_path: Path) -> None:
    one, two = WorkerCounters(tmp_path), WorkerCounters(tmp_path)
    one.publish([Sample("c_total", {"m": "a"}, 3, kind="counter"), Sample("g", {}, 7)])
    two.publish([Sample("c_total", {"m": "a"}, 4, kind="counter"), Sample("c_total", {"m": "b"}, 1, kind="counter")])

    async def own() -> list[Sample]:
        return [Sample("c_total", {"m": "a"}, 5, kind="counter"), Sample("g", {}, 2)]

    metrics = Metrics(one)
    metrics.add(own)
    text = (await metrics.scrape()).decode()
    assert 'c_total{m="a"} 9\n' in text  # this worker's fresh 5 + the other's 4
    assert 'c_total{m="b"} 1\n' in text
    assert "\ng 2\n" in text
