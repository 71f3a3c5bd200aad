"""SIGTERM under load (issue 20, done-when 2): one `wardgate serve --workers 2` sharing PostgreSQL and Redis, N
streams held open at a gated upstream (each has sent its first chunk), then SIGTERM to the server's process group
(Kubernetes signals the image's PID 1, dumb-init, which passes it to its child's process group). Measures the time
from SIGTERM until readiness stops answering 200 (refused or 503, polled every 2 ms), releases the upstream after
--hold seconds (within `server.drain_timeout_s`, 30), and counts the streams that completed to `[DONE]` with the
whole answer, the process's exit code, and the ledger's rows against the requests the upstream saw.

    .venv/bin/python -m bench.drain [--streams 500] [--hold 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import orjson
from tests.server.gated import GatedUpstream
from tests.server.serve import Served
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url

MASTER = "sk-bench-master-key"


async def stream(client: httpx.AsyncClient) -> bool:
    """True when the stream completed: every chunk, the whole answer, then [DONE]."""
    body = {"model": "gated", "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"authorization": f"Bearer {MASTER}"}
    try:
        async with client.stream("POST", "/v1/chat/completions", json=body, headers=headers) as response:
            lines = [line async for line in response.aiter_lines() if line]
    except httpx.HTTPError:
        return False
    if response.status_code != 200 or not lines or lines[-1] != "data: [DONE]":
        return False
    chunks = [orjson.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c.get("choices"))
    return text == "ok"


async def not_ready_after(root: str, sent: float) -> float:
    """Seconds from ``sent`` until /health/ready stops answering 200."""
    async with httpx.AsyncClient(timeout=1, limits=httpx.Limits(max_keepalive_connections=0)) as probe:
        while True:
            try:
                if (await probe.get(root + "/health/ready")).status_code != 200:
                    return time.perf_counter() - sent
            except httpx.TransportError:  # refused: the listening socket is closed
                return time.perf_counter() - sent
            await asyncio.sleep(0.002)  # another process: poll


async def drive(served: Served, upstream: GatedUpstream, n: int, hold: float) -> tuple[float, int, str]:
    limits = httpx.Limits(max_connections=n + 10, max_keepalive_connections=n + 10)
    async with httpx.AsyncClient(base_url=served.root, timeout=120, limits=limits) as client:
        tasks = [asyncio.ensure_future(stream(client)) for _ in range(n)]
        await asyncio.to_thread(upstream.wait_for, n, 120)  # every stream is open at the upstream
        prober = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.ready_probe",
            "127.0.0.1",
            str(served.port),
            str(hold + 0.5),
            stdout=asyncio.subprocess.PIPE,
        )
        assert prober.stdout is not None
        await prober.stdout.readline()  # the prober has started: its first probe is answered
        await asyncio.sleep(0.1)  # and it has probed a while (200s) before the signal
        sent = time.perf_counter()
        sent_ns = time.monotonic_ns()
        os.killpg(served.proc.pid, signal.SIGTERM)  # the process group, as dumb-init (the image's PID 1) does
        to_not_ready = await not_ready_after(served.root, sent)
        await asyncio.sleep(max(0.0, hold - (time.perf_counter() - sent)))
        upstream.release()
        completed = sum(await asyncio.gather(*tasks))
        probes = await prober.stdout.read()
        await prober.wait()
    return to_not_ready, completed, readiness(probes, sent_ns)


def readiness(output: bytes, sigterm_ns: int) -> str:
    """From the separate prober's probes: the last one sent that still read 200, and the first one that did not,
    in ms after SIGTERM (negative: before it)."""
    probes = [orjson.loads(line) for line in output.splitlines() if line.strip()]
    after = [((p["sent_ns"] - sigterm_ns) / 1e6, p["outcome"]) for p in probes]
    ok = [t for t, outcome in after if outcome == "200"]
    failed = [(t, outcome) for t, outcome in after if outcome != "200" and t >= 0]
    outcomes = sorted({outcome for _, outcome in failed})
    last_ok = f"{max(ok):.0f} ms" if ok else "none"
    first_failed = f"{failed[0][0]:.0f} ms ({failed[0][1]})" if failed else "none"
    return (
        f"prober ({len(probes)} probes): last 200 sent at {last_ok}, first not-200 sent at {first_failed} after "
        f"SIGTERM; outcomes after: {', '.join(outcomes)}"
    )


async def ledger_rows(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM usage_events WHERE model = 'gated'"))
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--hold", type=float, default=2.0, help="seconds after SIGTERM before the upstream answers")
    args = parser.parse_args()
    database = create_postgres_database()
    try:
        with GatedUpstream().start() as upstream, tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "drain.yaml"
            config.write_text(f"""master_key: {MASTER}
store: "{postgres_url(database)}"
redis: {{url: "{redis_url()}", key_prefix: "wgdrain-{uuid.uuid4().hex[:8]}:"}}
server: {{preload_tokenizers: false, max_connections: {args.streams + 100}}}
ledger: {{flush_interval_s: 60}}
providers:
  up: {{type: openai, base_url: "{upstream.url}", api_key: sk-up}}
models:
  gated: [{{provider: up, model: gated}}]
""")
            served = Served(config, "--workers", "2")
            try:
                to_not_ready, completed, probed = asyncio.run(drive(served, upstream, args.streams, args.hold))
                code = served.proc.wait(timeout=60)
            finally:
                served.stop()
            rows = asyncio.run(ledger_rows(postgres_url(database)))
            print(
                f"{args.streams} open streams, SIGTERM, upstream released {args.hold:.1f} s later: readiness not 200 "
                f"after {to_not_ready * 1000:.0f} ms; {completed} completed, {args.streams - completed} dropped; "
                f"exit {code}; upstream saw {upstream.arrivals}, ledger rows {rows} ({upstream.arrivals - rows} lost)"
            )
            print(probed)
    finally:
        drop_postgres_database(database)


if __name__ == "__main__":
    main()
