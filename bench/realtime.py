"""Realtime relay figures (issue 19, done-when 4): per-event relay latency and 1,000 concurrent sessions.

    .venv/bin/python bench/realtime.py                      # 2,000 echoes, then 1,000 sessions
    .venv/bin/python bench/realtime.py --events 5000 --sessions 1000

Processes: the Realtime fake (tests/fakes/openai_realtime.py) in one, `wardgate serve` (one worker, uvloop, the
production protocol) in another, the clients here.

1. Relay latency: one session sends ``bench.echo`` events one at a time; the fake echoes each. The round trip is
   measured directly against the fake and through Wardgate; an event crosses the relay twice (client → provider,
   provider → client), so the relay's cost per event is half the difference of the two round trips, at p50 and p99.
2. Concurrency: ``--sessions`` sessions are opened through Wardgate at once and held open together; each then runs
   one response (``response.create`` → ``response.done``, metered through the pipeline) and closes. Reported: how
   many completed, the time to open them all and to finish, and the ledger rows written (one per response).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

import orjson
import websockets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "sk-bench-realtime-master"
UPSTREAM = """
import sys, threading
sys.path.insert(0, {root!r})
from tests.fakes.openai_realtime import FakeRealtime
fake = FakeRealtime("sk-up").start()
print(fake.port, flush=True)
threading.Event().wait()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def wait_open(url: str, headers: dict[str, str], deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            async with websockets.connect(url, additional_headers=headers):
                return
        except (OSError, websockets.InvalidStatus, websockets.InvalidMessage):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)  # a starting server: poll with a deadline


async def echo_rtts(url: str, headers: dict[str, str], events: int) -> list[float]:
    out = []
    payload = orjson.dumps({"type": "bench.echo", "event_id": "e", "audio": "A" * 512}).decode()
    async with websockets.connect(url, additional_headers=headers, max_size=None) as ws:
        await ws.recv()  # session.created
        for _ in range(events):
            started = time.perf_counter()
            await ws.send(payload)
            await ws.recv()
            out.append(time.perf_counter() - started)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def session(
    url: str, headers: dict[str, str], opened: asyncio.Event, count: list[int], go: asyncio.Event
) -> bool:
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=120) as ws:
            await ws.recv()
            count[0] += 1
            if count[0] == count[1]:
                opened.set()
            await go.wait()
            await ws.send('{"type": "response.create"}')
            while orjson.loads(await ws.recv())["type"] != "response.done":
                pass
            return True
    except (OSError, websockets.WebSocketException, TimeoutError):
        return False


async def measure(up: int, gw: int, events: int, sessions: int, db: str) -> None:
    direct = f"ws://127.0.0.1:{up}/v1/realtime?model=gpt-realtime"
    through = f"ws://127.0.0.1:{gw}/v1/realtime?model=gpt-realtime"
    up_auth, gw_auth = {"Authorization": "Bearer sk-up"}, {"Authorization": f"Bearer {KEY}"}
    await wait_open(direct, up_auth)
    await wait_open(through, gw_auth)
    await echo_rtts(direct, up_auth, 200)  # warm-up
    await echo_rtts(through, gw_auth, 200)
    d = await echo_rtts(direct, up_auth, events)
    t = await echo_rtts(through, gw_auth, events)
    print(f"echo round trip, {events} events: direct p50 {pct(d, .5)*1e3:.3f} ms p99 {pct(d, .99)*1e3:.3f} ms; "
          f"through p50 {pct(t, .5)*1e3:.3f} ms p99 {pct(t, .99)*1e3:.3f} ms")  # fmt: skip
    print(f"relay cost per event (half the difference): p50 {(pct(t, .5) - pct(d, .5)) / 2 * 1e3:.3f} ms, "
          f"p99 {(pct(t, .99) - pct(d, .99)) / 2 * 1e3:.3f} ms")  # fmt: skip
    opened, go, count = asyncio.Event(), asyncio.Event(), [0, sessions]
    started = time.perf_counter()
    tasks = [asyncio.create_task(session(through, gw_auth, opened, count, go)) for _ in range(sessions)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(opened.wait(), 180)
    open_s = time.perf_counter() - started
    print(f"{count[0]} of {sessions} sessions open together after {open_s:.1f} s")
    go.set()
    results = await asyncio.gather(*tasks)
    total_s = time.perf_counter() - started
    print(f"{sum(results)} of {sessions} sessions completed a metered response; total {total_s:.1f} s")
    deadline, rows = time.monotonic() + 30, 0
    while rows < sum(results) and time.monotonic() < deadline:  # the ledger is flushed every second
        await asyncio.sleep(0.5)
        with sqlite3.connect(db) as conn:
            rows = conn.execute("select count(*) from usage_events where operation = 'realtime'").fetchone()[0]
    print(f"ledger rows of operation realtime: {rows}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=1000)
    args = parser.parse_args()
    gw = free_port()
    procs = []
    fake = subprocess.Popen([sys.executable, "-c", UPSTREAM.format(root=ROOT)], stdout=subprocess.PIPE, text=True)
    procs.append(fake)
    assert fake.stdout is not None
    up = int(fake.stdout.readline())
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "wardgate.yaml")
        with open(config, "w") as f:
            f.write(f"master_key: {KEY}\nstore: sqlite:///{tmp}/w.db\nproviders:\n"
                    f'  up: {{type: openai, base_url: "http://127.0.0.1:{up}/v1", api_key: sk-up}}\n'
                    "models:\n  gpt-realtime: [{provider: up, model: gpt-realtime}]\n")  # fmt: skip
        try:
            serve = [os.path.join(ROOT, ".venv/bin/wardgate"), "serve", "--config", config, "--port", str(gw)]
            procs.append(subprocess.Popen(serve, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            asyncio.run(measure(up, gw, args.events, args.sessions, f"{tmp}/w.db"))
        finally:
            for p in procs:
                p.terminate()
                p.wait(timeout=30)


if __name__ == "__main__":
    main()
