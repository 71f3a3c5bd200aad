"""A connection flood, run as its own process so that its work does not slow the test's own probes:
``python -m tests.server.flood PORT IDLE SLOWLORIS SECONDS``.

IDLE connections that send nothing and SLOWLORIS connections that send a request's headers a byte every half
second, held until the server closes them or SECONDS have passed since the last one opened. Prints "flooding" once
all are open, then one JSON report: how many opened, how many the server closed, the longest a slowloris lived.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import sys
from time import perf_counter

import orjson

TRICKLE_S = 0.5


async def main(port: int, idle: int, slowloris: int, seconds: float) -> dict[str, float]:
    closed = 0
    longest = 0.0
    refused = 0
    trickling: set[asyncio.StreamWriter] = set()

    async def connection(slow: bool, opened: asyncio.Event) -> None:
        nonlocal closed, longest, refused
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            refused += 1
            opened.set()
            return
        began = perf_counter()
        if slow:
            writer.write(b"GET /health/live HTTP/1.1\r\nhost: wg\r\nx-slow: ")
            trickling.add(writer)
        opened.set()
        try:
            with contextlib.suppress(ConnectionResetError):  # a reset is the server closing too
                while await reader.read(65536):
                    pass
            closed += 1
            if slow:
                longest = max(longest, perf_counter() - began)
        finally:  # also when cancelled at the end of the hold: the server had not closed it
            trickling.discard(writer)
            writer.close()

    async def trickle() -> None:
        while True:
            for writer in list(trickling):
                if not writer.is_closing():
                    writer.write(b"a")
            await asyncio.sleep(TRICKLE_S)

    events = [asyncio.Event() for _ in range(idle + slowloris)]
    ticker = asyncio.create_task(trickle())
    tasks: list[asyncio.Task[None]] = []
    total = idle + slowloris
    for batch in range(0, total, 500):
        upto = min(batch + 500, total)
        tasks += [asyncio.create_task(connection(i >= idle, events[i])) for i in range(batch, upto)]
        await asyncio.gather(*(e.wait() for e in events[batch:upto]))
    print("flooding", flush=True)
    _, pending = await asyncio.wait(tasks, timeout=seconds)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    ticker.cancel()
    return {"opened": total - refused, "closed_by_server": closed, "longest_slowloris_s": longest}


if __name__ == "__main__":
    port, idle, slowloris, seconds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    need = idle + slowloris + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(need, hard), max(need, hard)))  # root may raise the hard one
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    report = asyncio.run(main(port, idle, slowloris, seconds))
    print(orjson.dumps(report).decode(), flush=True)
