"""`wardgate serve --workers 2` with an OTLP endpoint: each worker exports its own cumulative series under its own
``service.instance.id`` (never one series fed by two workers), and the two workers' series, summed, are exactly what
the server's `/metrics` shows (it sums the workers the same way). A real server process, a real receiver."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from functools import partial
from typing import Any

import httpx
import pytest

from tests.fakes.otlp import FakeOTLP
from tests.limits.test_replicas import free_port
from tests.observability.test_metrics_workers import fire
from tests.telemetry.test_metrics import parse
from tests.telemetry.test_otlp_metrics import prometheus_view, scraped_view

MASTER = "sk-metrics-master-key"  # as tests.observability.test_metrics_workers.fire sends
CONFIG = """
master_key: {master}
store: sqlite:///{store}
providers:
  m: {{type: mock}}
models:
  solo: [{{provider: m, model: gpt-4o-mini}}]
telemetry:
  otlp_endpoint: {endpoint}
  service_name: two-workers
  metrics: {{export_interval_s: 1}}
"""


@pytest.fixture(scope="module")
def collector() -> Iterator[FakeOTLP]:
    with FakeOTLP().start() as fake:
        yield fake


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory, collector: FakeOTLP) -> Iterator[tuple[int, Any]]:
    tmp = tmp_path_factory.mktemp("otlp-workers")
    config = tmp / "wardgate.yaml"
    config.write_text(CONFIG.format(master=MASTER, store=tmp / "wardgate.db", endpoint=collector.root_url))
    port = free_port()
    log = (tmp / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "wardgate.cli", "serve", "--config", str(config), "--port", str(port), "--workers", "2"],
        stdout=log,
        stderr=log,
        start_new_session=True,
        env={**os.environ, "WARDGATE_METRICS_DIR": str(tmp / "metrics")},
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
        yield port, proc
    finally:
        stop(proc)
        log.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def requests_by_instance(collector: FakeOTLP) -> dict[str, float]:
    return {
        instance: sum(float(p.value or 0) for p in points if p.name == "wardgate_requests")
        for instance, points in collector.latest().items()
    }


def counted(collector: FakeOTLP, n: int) -> bool:
    return sum(requests_by_instance(collector).values()) == n


def summed(views: list[dict[Any, tuple[Any, ...]]]) -> dict[Any, tuple[Any, ...]]:
    """Series by series, as /metrics sums the workers: counts, sums and each bucket added."""
    out: dict[Any, list[Any]] = defaultdict(list)
    for view in views:
        for key, values in view.items():
            if key not in out:
                out[key] = list(values)
                continue
            total = out[key]
            for i, v in enumerate(values):
                total[i] = (
                    tuple(a + b for a, b in zip(total[i], v, strict=True)) if isinstance(v, tuple) else total[i] + v
                )
    return {k: tuple(v) for k, v in out.items()}


def test_each_worker_exports_its_own_series_and_together_they_are_what_metrics_shows(
    two_workers: tuple[int, Any], collector: FakeOTLP
) -> None:
    port, proc = two_workers
    sent = 0
    while sent < 600:  # until both workers have served some (each accept is a race between them)
        assert asyncio.run(fire(port, 20)) == [200] * 20
        sent += 20
        collector.wait_until(partial(counted, collector, sent))
        if len(counts := requests_by_instance(collector)) == 2 and min(counts.values()) > 0:
            break
    # no traffic from here: every worker's next export and /metrics show the same final state
    deadline = time.monotonic() + 10
    while True:  # /metrics sums files the workers publish every second
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", headers={"connection": "close"}).text
        if sum(v for _, v in parse(text)[1]["wardgate_requests_total"]) == sent or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    stop(proc)  # each worker sends its last counts as it shuts down
    latest = collector.latest()
    assert len(latest) == 2  # two service.instance.id values
    services = {p.resource["service.name"] for points in latest.values() for p in points}
    assert services == {"two-workers"}
    counts = requests_by_instance(collector)
    assert sum(counts.values()) == sent and min(counts.values()) > 0, counts
    # the same series in both workers' exports, each with its own worker's counts: never one series fed by both
    views = [prometheus_view(points) for points in latest.values()]
    shared = set(views[0]) & set(views[1])
    assert any(k[0] == "gen_ai_client_operation_duration_seconds" for k in shared)
    assert all(len({p.start_ns for p in points}) == 1 for points in latest.values())  # each worker's own start
    together = summed(views)
    assert together == scraped_view(text, {name for name, _ in together})
