"""Issue 18, done-when 7: how long a busy worker's event loop waits for the GIL while the ledger's and the audit
trail's flushes run, in one process, no network.

A worker's SQLite writes run on aiosqlite's thread. Every call handed to that thread (and every statement it steps)
is a moment it needs the GIL back; while the loop is busy, it waits the switch interval (5 ms), then forces the loop
to hand the GIL over and to wait until the thread has been scheduled and is done with it. On a 2-core machine
shared with the load generator, the upstream and another worker, that wait is the scheduler's latency.

This runs the gateway's own writers (LedgerWrites, AuditLog, BatchWriter, a temporary SQLite store with the real
migrations) while "requests" keep the loop about 70 % busy: a callback computes for --spin-ms in Python, then lets
the loop idle --gap-ms. For each callback, the time the loop thread was off the CPU that the run queue does not
explain (wall − thread CPU − its run-queue delay, from /proc/thread-self/schedstat) is time it waited for the GIL:
pure Python, no I/O. Summed per flush, with the callbacks that waited more than 0.5 ms, and the calls handed to the
driver thread (aiosqlite's ``_execute``).

Usage: .venv/bin/python bench/mcp/gil_handoffs.py [--rows 500] [--flushes 7] [--spin-ms 0.7] [--gap-ms 0.3]
       [--switch-interval S]
Prints one JSON line: medians over the flushes (flush_cpu_ms: the process's CPU for the flush, both threads, the
requests' own CPU left out). Run it against another checkout's src with PYTHONPATH for an A/B.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import aiosqlite

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from flush_stall import entry, event, ledger_writes  # noqa: E402  (bench/flush_stall.py: the same MCP rows)

from wardgate.core.batching import BatchWriter  # noqa: E402
from wardgate.store.audit import AuditEntry, AuditLog  # noqa: E402
from wardgate.store.engine import create_engine, upgrade  # noqa: E402
from wardgate.store.usage import UsageEvent  # noqa: E402

HANDED = [0]


def run_delay_s(fd: int) -> float:
    return int(os.pread(fd, 100, 0).split()[1]) / 1e9


async def one_flush(
    ledger: BatchWriter[UsageEvent], audit: BatchWriter[AuditEntry], rows: int, spin: float, gap: float
) -> dict[str, float]:
    for _ in range(rows):
        ledger.put(event())
        audit.put(entry())
    loop = asyncio.get_running_loop()
    fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    waits: list[float] = []
    spun = [0.0]
    running = True

    def request() -> None:
        wall, cpu, queued = time.perf_counter(), time.thread_time(), run_delay_s(fd)
        while time.thread_time() - cpu < spin:
            pass
        spun[0] += time.thread_time() - cpu
        off_cpu = (time.perf_counter() - wall) - (time.thread_time() - cpu) - (run_delay_s(fd) - queued)
        waits.append(max(0.0, off_cpu))
        if running:
            loop.call_later(gap, request)

    handed = HANDED[0]
    start, process_cpu = time.perf_counter(), time.process_time()
    loop.call_soon(request)
    await asyncio.gather(ledger.flush(), audit.flush())
    running = False
    await asyncio.sleep(2 * gap)
    os.close(fd)
    return {
        "flush_ms": 1000 * (time.perf_counter() - start),
        "flush_cpu_ms": 1000 * (time.process_time() - process_cpu - spun[0]),  # both threads, the requests' left out
        "handed_to_driver": HANDED[0] - handed,
        "gil_wait_ms": 1000 * sum(waits),
        "waits_over_0.5ms": sum(w > 0.0005 for w in waits),
        "max_wait_ms": 1000 * max(waits),
        "requests": len(waits),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500, help="calls per flush (one ledger row, one audit entry)")
    parser.add_argument("--flushes", type=int, default=7)
    parser.add_argument("--spin-ms", type=float, default=0.7, help="CPU of one 'request' on the loop")
    parser.add_argument("--gap-ms", type=float, default=0.3, help="idle loop between two 'requests'")
    parser.add_argument("--switch-interval", type=float, help="sys.setswitchinterval (default: Python's 5 ms)")
    parser.add_argument("--verbose", action="store_true", help="also print every flush's figures")
    args = parser.parse_args()
    if args.switch_interval:
        sys.setswitchinterval(args.switch_interval)
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *a: Any, **kw: Any) -> Any:
        HANDED[0] += 1
        return await real(self, fn, *a, **kw)

    aiosqlite.Connection._execute = counted  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite:///{os.path.join(tmp, 'w.db')}")
        await upgrade(engine)
        audit_log = AuditLog(engine, b"k" * 32)
        ledger = BatchWriter("usage-ledger", ledger_writes(engine), max_batch=args.rows, interval_s=3600)
        audit = BatchWriter("audit", audit_log.append, max_batch=args.rows, interval_s=3600)
        ledger.start()
        audit.start()
        spin, gap = args.spin_ms / 1000, args.gap_ms / 1000
        await one_flush(ledger, audit, 50, spin, gap)  # warm-up: statements compiled, the first checkpoint written
        gc.freeze()
        runs = [await one_flush(ledger, audit, args.rows, spin, gap) for _ in range(args.flushes)]
        if args.verbose:
            print(json.dumps(runs))
        await ledger.stop()
        await audit.stop()
        await engine.dispose()
    summary = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
    print(json.dumps({"rows": args.rows, "flushes": args.flushes, **summary, "load": round(os.getloadavg()[0], 1)}))


if __name__ == "__main__":
    try:
        import uvloop  # the workers' loop (uvicorn picks it when installed)

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())
