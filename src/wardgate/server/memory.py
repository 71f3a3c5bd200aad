"""Giving freed memory back to the system (``server.memory_trim_s``).

glibc keeps the memory a process frees for its next allocations. After a worker has served for a while, its heaps
hold free pages between blocks still in use, and RSS creeps up even though nothing the worker keeps grows:
`bench/http_soak.py` (1M requests, every request a different key) saw a worker go from 129.5 to 133.9 MiB at a
steady rate, and one ``malloc_trim(0)`` gave 6.2 MiB of it back. ``malloc_trim`` returns the free pages of every
arena to the system (``madvise``). It runs in a thread: ctypes releases the GIL for the call, so the event loop goes
on serving while glibc walks its arenas.

Only where the C library has ``malloc_trim`` (glibc); elsewhere (musl, macOS) nothing runs."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable

log = logging.getLogger("wardgate.server")


def malloc_trim() -> Callable[[], int] | None:
    """glibc's ``malloc_trim(0)``, or None when the C library has none."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return lambda: int(trim(0))


class MemoryTrimmer:
    """Every ``interval_s``, ``malloc_trim(0)`` in a thread. ``interval_s`` 0: never."""

    def __init__(self, interval_s: float, trim: Callable[[], int] | None = None) -> None:
        self.interval_s = interval_s
        self._trim = trim if trim is not None else malloc_trim()
        self._task: asyncio.Task[None] | None = None
        self.runs = 0
        self.last_s = 0.0  # how long the last trim took (its thread's wall time)

    @property
    def active(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self.interval_s > 0 and self._trim is not None and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._forever(), name="memory-trim")

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.trim_once()

    async def trim_once(self) -> None:
        if self._trim is None:
            return
        began = time.perf_counter()
        try:
            await asyncio.to_thread(self._trim)
        except Exception:  # never fatal: the next interval tries again
            log.exception("malloc_trim failed")
            return
        self.runs += 1
        self.last_s = time.perf_counter() - began

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
