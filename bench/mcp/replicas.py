"""Issue 18, point 4: MCP sessions on three replicas behind a round-robin balancer with no stickiness.

Three `wardgate serve` processes share PostgreSQL and Redis (the services of the test set-up) in front of the SDK's
MCPServer (stateful streamable HTTP, tests/mcp/upstream.py). The client is the official `mcp` SDK client whose HTTP
transport is the balancer: each request (POST, DELETE) goes to the next replica, as an L7 balancer without
affinity does; a connection refused by a dead replica marks it down and the request goes to the next one, as a
proxy's next-upstream retry does.

1. CYCLES cycles of initialize → tools/list → tools/call → DELETE, one after the other, each on a new session:
   counts the "session not found" answers (HTTP 404) to requests of a live session, and any other failure. A 404
   to a request of a session the client already DELETEd (the SDK's background GET stream reconnecting after the
   DELETE) is the correct answer and counted apart.
2. KILLS times: a session is opened and called, the replica that the balancer sends the next request to is killed
   with SIGKILL, and the next tools/call of the same session (never re-initialized) is timed until it answers.
   The killed replica is restarted before the next round.

Prints one JSON line. Usage (from the repo root, PostgreSQL and Redis up):
    .venv/bin/python bench/mcp/replicas.py [--cycles 1000] [--kills 5] [--replicas 3]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx2
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.limits.test_replicas import Replicas, prepare_store  # noqa: E402
from tests.mcp.upstream import LoopbackMCP  # noqa: E402
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url  # noqa: E402


class RoundRobin(httpx2.AsyncBaseTransport):
    """Every request to the next live replica; a refused connection marks the replica down and moves on."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.down: set[int] = set()
        self.methods: list[str] = []  # the JSON-RPC methods (and DELETEs) the client sent, in order
        self.not_found = 0
        self.not_found_on: list[str] = []  # the requests that got a 404 (method, replica)
        self.deleted: set[str] = set()  # sessions the client DELETEd
        self.after_delete = 0  # 404s for a session the client had DELETEd (the SDK's GET stream reconnecting late)
        self._next: Iterator[int] = itertools.cycle(range(len(ports)))
        self._inner = httpx2.AsyncHTTPTransport()

    def peek(self) -> int:
        """The replica the next request goes to (without consuming the turn)."""
        self._next, probe = itertools.tee(self._next)
        for _ in range(len(self.ports)):
            port = self.ports[next(probe)]
            if port not in self.down:
                return port
        raise RuntimeError("every replica is down")

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.content if request.method == "POST" else b""
        method = json.loads(body).get("method", "response") if body else request.method
        self.methods.append(str(method))
        session = request.headers.get("mcp-session-id", "")
        if request.method == "DELETE":
            self.deleted.add(session)
        for _ in range(len(self.ports)):
            port = self.ports[next(self._next)]
            if port in self.down:
                continue
            try:
                request.url = request.url.copy_with(port=port)
                response = await self._inner.handle_async_request(request)
            except httpx2.ConnectError:
                self.down.add(port)
                continue
            if response.status_code == 404 and session in self.deleted:
                self.after_delete += 1  # correct: a terminated session is gone on every replica
            elif response.status_code == 404:
                self.not_found += 1
                self.not_found_on.append(f"{method} on :{port}")
            return response
        raise httpx2.ConnectError("every replica is down")

    async def aclose(self) -> None:
        await self._inner.aclose()


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    return block.text if isinstance(block, types.TextContent) else ""


async def cycles(ports: list[int], key: str, n: int) -> dict[str, object]:
    balancer = RoundRobin(ports)
    failures: list[str] = []
    started = time.monotonic()
    async with httpx2.AsyncClient(transport=balancer, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        for i in range(n):
            try:
                async with (
                    streamable_http_client(f"http://127.0.0.1:{ports[0]}/mcp/dev", http_client=http) as (r, w),
                    ClientSession(r, w) as session,
                ):
                    await session.initialize()
                    names = {t.name for t in (await session.list_tools()).tools}
                    if "github.echo" not in names:
                        failures.append(f"{i}: tools/list without github.echo")
                    got = text_of(await session.call_tool("github.echo", {"text": str(i)}))
                    if got != f"gh:{i}":
                        failures.append(f"{i}: tools/call answered {got[:80]!r}")
            except (MCPError, httpx2.HTTPError, ExceptionGroup) as exc:
                failures.append(f"{i}: {type(exc).__name__}: {str(exc)[:200]}")
    return {
        "cycles": n,
        "seconds": round(time.monotonic() - started, 1),
        "requests": len(balancer.methods),
        "session_not_found": balancer.not_found,
        "session_not_found_on": balancer.not_found_on[:10],
        "not_found_after_delete": balancer.after_delete,
        "by_method": {m: balancer.methods.count(m) for m in sorted(set(balancer.methods))},
        "failures": len(failures),
        "first_failures": failures[:5],
    }


async def kill_once(group: Replicas, key: str, round_: int) -> dict[str, object]:
    balancer = RoundRobin(group.ports)
    for _ in range(round_):  # each round starts on another replica, so each kill hits another one
        next(balancer._next)
    async with (
        httpx2.AsyncClient(transport=balancer, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        streamable_http_client(f"http://127.0.0.1:{group.ports[0]}/mcp/dev", http_client=http) as (r, w),
        ClientSession(r, w) as session,
    ):
        await session.initialize()
        before = text_of(await session.call_tool("github.echo", {"text": "before"}))
        victim_port = balancer.peek()  # the replica the next call is sent to
        victim = group.procs[group.ports.index(victim_port)]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait()
        sent = len(balancer.methods)
        t0 = time.monotonic()
        after = text_of(await session.call_tool("github.echo", {"text": "after"}))
        elapsed = time.monotonic() - t0
        reinitialized = "initialize" in balancer.methods[sent:]
        return {
            "killed_port": victim_port,
            "ok": before == "gh:before" and after == "gh:after",
            "next_call_ms": round(1000 * elapsed, 1),
            "reinitialized": reinitialized,
            "not_found": balancer.not_found,
        }


def restart(group: Replicas, port: int) -> None:
    """Start a replica again on the port of the one that was killed (the balancer's pool stays the same)."""
    single = Replicas(group.config, group.store, count=1)
    single.ports = [port]
    single.start()
    group.procs[group.ports.index(port)] = single.procs[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=3)
    args = parser.parse_args()
    database = create_postgres_database()
    store = postgres_url(database)
    try:
        with LoopbackMCP("streamable_http", "gh") as upstream, tempfile.TemporaryDirectory() as tmp:
            _, key = asyncio.run(prepare_store(store, "acme"))
            config = Path(tmp) / "wardgate.yaml"
            config.write_text(
                f"master_key: sk-bench-replicas\nstore: {store}\n"
                f'redis: {{url: "{redis_url()}", key_prefix: "wg-bench-{uuid.uuid4().hex[:8]}:"}}\n'
                "mcp:\n  servers:\n"
                f'    github: {{transport: streamable_http, url: "{upstream.url}"}}\n'
                "  virtual_servers:\n    dev: {servers: [github]}\n"
            )
            group = Replicas(config, store, count=args.replicas)
            try:
                group.start()
                result: dict[str, object] = {"replicas": args.replicas}
                result["cycles"] = asyncio.run(cycles(group.ports, key, args.cycles))
                kills = []
                for i in range(args.kills):
                    kill = asyncio.run(kill_once(group, key, i))
                    kills.append(kill)
                    restart(group, int(kill["killed_port"]))  # type: ignore[call-overload]
                result["kills"] = kills
                result["load"] = round(os.getloadavg()[0], 1)
                print(json.dumps(result))
            finally:
                group.stop()
    finally:
        drop_postgres_database(database)


if __name__ == "__main__":
    main()
