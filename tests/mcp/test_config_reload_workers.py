"""`wardgate serve --workers 2`: SIGHUP after the file's `mcp:` changed swaps the MCP servers on every worker (the
supervisor hands the signal to each, and each applies it through mcp/mounts.py). Every request is a connection of
its own, so both workers answer some: the new virtual server must answer on all of them, the removed one on none."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.limits.test_replicas import free_port
from tests.mcp.upstream import LoopbackMCP

MASTER = "sk-mcp-reload-workers-key"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def config(tmp: Path, url: str, virtual: str) -> str:
    return (
        f"master_key: {MASTER}\nstore: sqlite:///{tmp / 'wardgate.db'}\n"
        f'mcp:\n  servers:\n    gh: {{transport: streamable_http, url: "{url}"}}\n'
        f"  virtual_servers:\n    {virtual}: {{servers: [gh]}}\n"
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[subprocess.Popen[bytes], int, Path, str]]:
    tmp = tmp_path_factory.mktemp("mcp-reload-workers")
    with LoopbackMCP("streamable_http", "gh") as upstream:
        path = tmp / "wardgate.yaml"
        path.write_text(config(tmp, upstream.url, "before"))
        port = free_port()
        log = (tmp / "serve.log").open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDGATE_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "wardgate.cli", "serve", "--config", str(path), "--port", str(port)]
            + ["--workers", "2"],
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=env,
        )
        try:
            deadline = time.monotonic() + 60
            while not _all(port, "before", 200, 4):  # an external process: poll its readiness, bounded
                if proc.poll() is not None:
                    raise RuntimeError((tmp / "serve.log").read_text())
                assert time.monotonic() < deadline, "wardgate serve --workers 2 did not start"
                time.sleep(0.1)
            yield proc, port, path, upstream.url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def _status(port: int, virtual: str) -> int:
    headers = {"Authorization": f"Bearer {MASTER}", "Accept": "application/json, text/event-stream"}
    try:
        with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as http:  # a new connection
            return http.post(f"http://127.0.0.1:{port}/mcp/{virtual}", json=INIT, headers=headers).status_code
    except httpx.TransportError:
        return 0


def _all(port: int, virtual: str, status: int, n: int) -> bool:
    return all(_status(port, virtual) == status for _ in range(n))


def test_sighup_swaps_the_mcp_servers_on_every_worker(
    served: tuple[subprocess.Popen[bytes], int, Path, str],
) -> None:
    proc, port, path, url = served
    path.write_text(config(path.parent, url, "after"))
    os.kill(proc.pid, signal.SIGHUP)  # the supervisor hands it to each worker
    deadline = time.monotonic() + 30
    while _status(port, "after") != 200:  # the first worker that applied it; polled, bounded
        assert time.monotonic() < deadline, "no worker applied the change"
        time.sleep(0.1)
    deadline = time.monotonic() + 30
    while not _all(port, "after", 200, 20):  # then all of them (a worker swaps within its own reload)
        assert time.monotonic() < deadline, "a worker kept the old mcp: section"
        time.sleep(0.1)
    assert [_status(port, "before") for _ in range(20)] == [404] * 20  # gone from every worker
