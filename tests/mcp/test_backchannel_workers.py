"""`wardgate serve --workers 2` without Redis: a client's answer to a relayed request is taken whichever worker it
reaches (mcp/worker_peers.py), not only by the worker holding the call. Each POST is a connection of its own, so
the two workers race to accept it; the test goes on until both have held calls (their tokens in the minted ids),
and every answer must be accepted and reach its call."""

from __future__ import annotations

import os
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
from tests.mcp.upstream import LoopbackMCP

MASTER = "sk-mcp-workers-master-key"
HEADERS = {
    "Authorization": f"Bearer {MASTER}",
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Mcp-Protocol-Version": "2025-06-18",
}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    tmp = tmp_path_factory.mktemp("mcp-workers")
    with LoopbackMCP("streamable_http", "gh", relaying=True) as upstream:
        config = tmp / "wardgate.yaml"
        config.write_text(
            f"master_key: {MASTER}\nstore: sqlite:///{tmp / 'wardgate.db'}\n"
            f'mcp:\n  servers:\n    gh: {{transport: streamable_http, url: "{upstream.url}"}}\n'
            "  virtual_servers:\n    dev: {servers: [gh]}\n"
        )
        port = free_port()
        log = (tmp / "serve.log").open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("WARDGATE_")}
        proc = subprocess.Popen(
            [sys.executable, "-m", "wardgate.cli", "serve", "--config", str(config), "--port", str(port)]
            + ["--workers", "2"],
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=env,
        )
        try:
            _wait_ready(proc, port, tmp / "serve.log")
            yield port
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:  # an external process: poll its readiness, bounded
        if proc.poll() is not None:
            raise RuntimeError(log.read_text())
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("wardgate serve --workers 2 did not start")
        time.sleep(0.05)


def _post(url: str, body: object, session: str | None = None) -> httpx.Response:
    headers = {**HEADERS, **({"Mcp-Session-Id": session} if session else {})}
    with httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=30) as http:  # a new connection
        return http.post(url, content=orjson.dumps(body), headers=headers)


def _data(lines: Iterator[str]) -> dict[str, object]:
    return next(orjson.loads(line[5:]) for line in lines if line.startswith("data:") and line[5:].strip())


def test_an_answer_reaching_either_worker_completes_the_call(two_workers: int) -> None:
    url = f"http://127.0.0.1:{two_workers}/mcp/dev"
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {"sampling": {}}, "clientInfo": {"name": "t"}},
    }
    session = _post(url, init).headers["mcp-session-id"]
    holders: set[str] = set()
    rounds = 0
    while len(holders) < 2 or rounds < 8:
        rounds += 1
        assert rounds <= 200, "one worker held every call"
        call = {
            "jsonrpc": "2.0",
            "id": rounds + 1,
            "method": "tools/call",
            "params": {"name": "gh.ask_sampling", "arguments": {"prompt": str(rounds)}},
        }
        headers = {**HEADERS, "Mcp-Session-Id": session}
        with (
            httpx.Client(limits=httpx.Limits(max_keepalive_connections=0), timeout=30) as http,
            http.stream("POST", url, content=orjson.dumps(call), headers=headers) as stream,
        ):
            lines = stream.iter_lines()
            request = _data(lines)
            minted = str(request["id"])
            holders.add(minted[3:].partition(".")[0])
            answer = {
                "jsonrpc": "2.0",
                "id": minted,
                "result": {"role": "assistant", "content": {"type": "text", "text": f"r{rounds}"}, "model": "m"},
            }
            assert _post(url, answer, session).status_code == 202  # whichever worker accepted the connection
            final = _data(lines)
        assert final["id"] == rounds + 1
        assert final["result"]["content"][0]["text"] == f"sampled: r{rounds}"  # type: ignore[index]
