"""Bench-only probe of a Wardgate worker's event loop and GIL, loaded by ``bench/mcp/rate.py --probe`` through
PYTHONPATH (Python imports ``sitecustomize`` at start-up in every process, spawned workers included).

Inactive unless WG_LOOP_PROBE_DIR is set. Then, in each process that runs a uvicorn server:
- loop lag: a callback asks to run every 10 ms; how late it runs is the time the loop was busy with something
  else (a long callback, a flush building rows, a gc pause, waiting for the GIL);
- GIL wait: a thread sleeps 2 ms in a loop; how late it wakes past that is mostly the time it waited for the GIL;
- full collections: the CPU time of every collection of the oldest generation (gc.callbacks).
Samples are (monotonic time, lag seconds); every second the process rewrites ``<dir>/<pid>.loop`` and
``<pid>.gil`` (raw float64 pairs) so the bench can take the samples of one run's window (CLOCK_MONOTONIC is the
same clock in every process). Never imported by Wardgate itself.
"""

from __future__ import annotations

import os

_DIR = os.environ.get("WG_LOOP_PROBE_DIR")


def _install() -> None:
    import array
    import asyncio
    import gc
    import threading
    import time

    import uvicorn.server

    loop_samples = array.array("d")
    gil_samples = array.array("d")
    gc_samples = array.array("d")  # (end time, CPU seconds) of every collection of the oldest generation
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            gc_started[0] = time.thread_time()
        else:  # on the thread's CPU clock: what the collection cost, not how long the machine preempted it
            gc_samples.extend((time.monotonic(), time.thread_time() - gc_started[0]))

    gc.callbacks.append(on_gc)
    period, nap = 0.010, 0.002

    def gil_probe() -> None:
        while True:
            start = time.monotonic()
            time.sleep(nap)
            now = time.monotonic()
            gil_samples.extend((now, now - start - nap))

    census_at = [time.monotonic() + float(os.environ.get("WG_LOOP_PROBE_CENSUS_S", "0") or "inf")]

    def census() -> None:
        """Once (WG_LOOP_PROBE_CENSUS_S after start): what the oldest generation holds besides the frozen objects."""
        import collections
        import json

        young = gc.get_objects(2)
        kinds = collections.Counter(type(o).__qualname__ for o in young)
        modules = collections.Counter(getattr(type(o), "__module__", "?") for o in young)
        summary = {"frozen": gc.get_freeze_count(), "gen2": len(young), "stats": gc.get_stats()}
        summary.update(types=kinds.most_common(25), modules=modules.most_common(25))
        where = os.environ.get("WG_LOOP_PROBE_CENSUS_DIR", str(_DIR))
        with open(os.path.join(where, f"{os.getpid()}.census.json"), "w") as f:
            json.dump(summary, f, indent=1)

    def dump() -> None:
        pid = os.getpid()
        if time.monotonic() >= census_at[0]:
            census_at[0] = float("inf")
            census()
        for suffix, samples in (("loop", loop_samples), ("gil", gil_samples), ("gc2", gc_samples)):
            path = os.path.join(str(_DIR), f"{pid}.{suffix}")
            with open(path + ".tmp", "wb") as f:
                samples.tofile(f)
            os.replace(path + ".tmp", path)

    async def loop_probe() -> None:
        loop = asyncio.get_running_loop()
        due = time.monotonic() + period
        last_dump = time.monotonic()

        def tick() -> None:  # the loop's own clock has 1 ms steps under uvloop: time.monotonic() instead
            nonlocal due, last_dump
            now = time.monotonic()
            loop_samples.extend((now, now - due))
            due = now + period
            loop.call_later(period, tick)
            if now - last_dump >= 1.0:
                last_dump = now
                dump()

        loop.call_later(period, tick)

    original = uvicorn.server.Server.serve

    async def serve(self: uvicorn.server.Server, sockets: object = None) -> None:
        await loop_probe()
        threading.Thread(target=gil_probe, daemon=True, name="gil-probe").start()
        await original(self, sockets)  # type: ignore[arg-type]

    uvicorn.server.Server.serve = serve  # type: ignore[method-assign]


if _DIR:
    _install()
