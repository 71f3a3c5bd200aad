"""Bench-only probe of a Wardgate worker's event loop and GIL, loaded by ``bench/mcp/rate.py --probe`` through
PYTHONPATH (Python imports ``sitecustomize`` at start-up in every process, spawned workers included).

Inactive unless WG_LOOP_PROBE_DIR is set. Then, in each process that runs a uvicorn server:
- loop lag: a callback asks to run every 10 ms; how late it runs is the time the loop was busy with something
  else (a long callback, a flush building rows, a gc pause, waiting for the GIL);
- GIL wait: a thread sleeps 2 ms in a loop; how late it wakes past that is mostly the time it waited for the GIL;
- full collections: the CPU time of every collection of the oldest generation (gc.callbacks);
- CPU stalls: with WG_LOOP_PROBE_STALL_MS set, a 1 ms timer marks each turn of the loop, and a watchdog thread reads
  the loop thread's CPU clock; when the loop thread has computed more than that many ms since the last mark (a long
  synchronous stretch, not the machine preempting the process), it records the loop thread's stack. The stacks seen
  are written to ``<pid>.stalls.json`` (most common first), from WG_LOOP_PROBE_STALL_AFTER_S after start.
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

    census_at = [time.monotonic() + float(os.environ.get("WG_LOOP_PROBE_CENSUS_S") or "inf")]

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

    stall_s = float(os.environ.get("WG_LOOP_PROBE_STALL_MS", "0") or 0) / 1000
    stalls: dict[str, int] = {}
    mark = [0.0]  # the loop thread's CPU clock at the last turn of the loop

    def stall_watch(main: int, loop: asyncio.AbstractEventLoop) -> None:
        import json
        import sys

        clock = time.pthread_getcpuclockid(main)

        def turn() -> None:
            mark[0] = time.clock_gettime(clock)
            loop.call_later(0.001, turn)

        time.sleep(float(os.environ.get("WG_LOOP_PROBE_STALL_AFTER_S", "0")))  # start-up and warm-up left out
        loop.call_soon_threadsafe(turn)
        last_dump = time.monotonic()
        while True:
            time.sleep(0.0005)
            if mark[0] and time.clock_gettime(clock) - mark[0] > stall_s:
                frame = sys._current_frames().get(main)
                names = []
                while frame is not None and len(names) < 8:
                    code = frame.f_code
                    names.append(f"{code.co_qualname} ({os.path.basename(code.co_filename)}:{frame.f_lineno})")
                    frame = frame.f_back
                key = " < ".join(names)
                stalls[key] = stalls.get(key, 0) + 1
                mark[0] = time.clock_gettime(clock)  # one sample per stall and stall_s of CPU
            if time.monotonic() - last_dump > 2:
                last_dump = time.monotonic()
                where = os.environ.get("WG_LOOP_PROBE_CENSUS_DIR", str(_DIR))
                with open(os.path.join(where, f"{os.getpid()}.stalls.json"), "w") as f:
                    json.dump(sorted(stalls.items(), key=lambda kv: -kv[1]), f, indent=0)

    original = uvicorn.server.Server.serve

    async def serve(self: uvicorn.server.Server, sockets: object = None) -> None:
        await loop_probe()
        threading.Thread(target=gil_probe, daemon=True, name="gil-probe").start()
        if stall_s:
            args = (threading.get_ident(), asyncio.get_running_loop())
            threading.Thread(target=stall_watch, args=args, daemon=True, name="stall-watch").start()
        await original(self, sockets)  # type: ignore[arg-type]

    uvicorn.server.Server.serve = serve  # type: ignore[method-assign]


if _DIR:
    _install()
