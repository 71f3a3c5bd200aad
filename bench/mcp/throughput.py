"""tools/call throughput through Wardgate vs direct (issue 18, point 7), one quick run on this machine.

An upstream MCPServer (the SDK's, stateless streamable HTTP) in its own process, one Wardgate worker in front of it,
and an aiohttp client posting JSON-RPC ``tools/call`` at a fixed concurrency. Prints requests per second and latency
percentiles for both. Usage: .venv/bin/python bench/mcp/throughput.py [REQUESTS] [CONCURRENCY]
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time

import aiohttp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KEY = "sk-bench-master-key"
UPSTREAM = """
import uvicorn
from mcp.server.mcpserver import MCPServer
server = MCPServer("fast", log_level="WARNING")
@server.tool()
def add(a: int, b: int) -> int:
    return a + b
app = server.streamable_http_app(stateless_http=True, json_response=True)
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(240):
            try:
                async with http.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError(f"not ready: {url}")


async def load(url: str, headers: dict[str, str], n: int, concurrency: int) -> tuple[float, list[float]]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 1, "b": 2}}}
    headers = {**headers, "Accept": "application/json, text/event-stream", "mcp-protocol-version": "2025-06-18"}
    latencies: list[float] = []
    queue = iter(range(n))

    async def worker(http: aiohttp.ClientSession) -> None:
        for _ in queue:
            start = time.perf_counter()
            async with http.post(url, json=body, headers=headers) as r:
                text = await r.text()
                assert r.status == 200 and '"3"' in text or "3" in text, text[:200]
            latencies.append(time.perf_counter() - start)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        began = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
        return time.perf_counter() - began, sorted(latencies)


def report(name: str, elapsed: float, latencies: list[float]) -> None:
    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    print(f"{name}: {len(latencies) / elapsed:.0f} req/s, p50 {pct(0.5):.1f} ms, p99 {pct(0.99):.1f} ms")


async def measure(up_port: int, gw_port: int, n: int, concurrency: int) -> None:
    await wait_ready(f"http://127.0.0.1:{up_port}/mcp")
    await wait_ready(f"http://127.0.0.1:{gw_port}/health/ready")
    direct = f"http://127.0.0.1:{up_port}/mcp"
    through = f"http://127.0.0.1:{gw_port}/mcp/bench"
    auth = {"Authorization": f"Bearer {KEY}"}
    await load(direct, {}, 200, concurrency)  # warm-up
    await load(through, auth, 200, concurrency)
    report("direct", *(await load(direct, {}, n, concurrency)))
    report("through Wardgate", *(await load(through, auth, n, concurrency)))


def main(n: int, concurrency: int) -> None:
    up_port, gw_port = free_port(), free_port()
    procs = []
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "wardgate.yaml")
        with open(config, "w") as f:
            f.write(
                f"master_key: {KEY}\nstore: sqlite:///{tmp}/w.db\nmcp:\n  servers:\n"
                f'    fast: {{transport: streamable_http, url: "http://127.0.0.1:{up_port}/mcp"}}\n'
                "  virtual_servers:\n    bench: {servers: [fast], prefix: false}\n"
            )
        try:
            procs.append(subprocess.Popen([sys.executable, "-c", UPSTREAM.format(port=up_port)]))
            serve = [os.path.join(ROOT, ".venv/bin/wardgate"), "serve", "--config", config, "--port", str(gw_port)]
            procs.append(subprocess.Popen(serve, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            asyncio.run(measure(up_port, gw_port, n, concurrency))
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=30)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, int(sys.argv[2]) if len(sys.argv) > 2 else 16)
