"""The per-call work mcp/backchannel.py adds to a direct tools/call that relays nothing, timed alone on the CPU
clock: the Downstream record, the stream closure, the in-flight maps and the lane's extra coroutine frame.
Usage: .venv/bin/python bench/mcp/relay_cost.py"""

import asyncio
import time
from typing import Any

from wardgate.core.principal import Principal
from wardgate.mcp.audit import actor_of
from wardgate.mcp.backchannel import Backchannel, Downstream

principal = Principal(kind="key", id="k1", project="p")
bc = Backchannel()
inflight: dict[str, Downstream] = {}


async def inner() -> int:
    return 1


async def layer() -> int:  # the lane's extra coroutine frame (call_tool -> _call) with its try/except
    try:
        return await inner()
    except asyncio.CancelledError:
        raise


async def added(n: int) -> None:
    for i in range(n):
        started = False

        async def stream(out: dict[str, Any]) -> None:
            nonlocal started
            started = True

        down = Downstream(actor_of(principal), "sess", i, "", stream)
        down.backchannel = bc
        inflight["c"] = down
        bc.track(down)
        down.started(30.0)
        await layer()
        down.task = None
        inflight.pop("c", None)
        bc.untrack(down)


async def baseline(n: int) -> None:
    for _ in range(n):
        await inner()


async def main() -> None:
    n = 200_000
    for fn in (baseline, added, baseline, added):
        t = time.process_time()
        await fn(n)
        d = time.process_time() - t
        print(fn.__name__, round(d / n * 1e6, 2), "us/call")


asyncio.run(main())
