"""How long the ledger's and the audit trail's batched flushes hold a worker's event loop, in one process, no network.

A worker writes its usage events and audit entries in batches (core/batching.py); every request that arrives while a
flush runs synchronously on the loop waits for it. This runs the gateway's own writers (LedgerWrites, AuditLog,
BatchWriter, a temporary SQLite store with the real migrations) with a batch of N calls of the MCP path (one ledger
row and one audit entry each), while a callback re-queued with call_soon measures every gap between two of its runs:
the longest gap is the longest stretch the loop could not serve a request. Gaps are read on the loop thread's CPU
clock (time.thread_time: what the loop itself computed, the same on a busy and a quiet machine) and on the wall
clock (which adds the wait for the GIL while the driver thread binds parameters, and the machine's own preemption).

With --writer process the rows go to a store writer process (decision 063): what is left on the loop is their pickling.
``busy_cpu_ms``: the loop thread's CPU for the flush (the gaps' sum less the ticks' own cost, their median gap each).

Usage: .venv/bin/python bench/flush_stall.py [--rows 600] [--flushes 7] [--store URL] [--writer process] [--verbose]
Prints one JSON line: the longest gap per flush (CPU and wall, ms), median and worst over the flushes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

from wardgate.core.batching import BatchWriter
from wardgate.core.ids import new_request_id
from wardgate.store.audit import AuditEntry, AuditLog
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.usage import LedgerWrites, UsageEvent, insert_events


def ledger_writes(engine: Any) -> LedgerWrites:
    """The ledger's sink, on this tree's ``LedgerWrites`` (an engine before decision 063, an insert function since)."""
    if "insert" in inspect.signature(LedgerWrites).parameters:
        return LedgerWrites(partial(insert_events, engine))
    return LedgerWrites(engine)


def event() -> UsageEvent:
    return UsageEvent(
        request_id=new_request_id(),
        ts=datetime.now(UTC),
        principal_kind="master",
        principal_id="master",
        surface="mcp",
        operation="tools/call",
        model="add",
        status=200,
        deployment="bench/fast",
        provider="fast",
        latency_ms=1,
        details={"virtual_server": "bench", "server": "fast"},
    )


def entry() -> AuditEntry:
    details: dict[str, Any] = {
        "request_id": new_request_id(),
        "virtual_server": "bench",
        "server": "fast",
        "name": "add",
        "arguments_sha256": "ab" * 32,
        "outcome": "ok",
        "status": 200,
        "duration_ms": 1,
        "cost_usd": "0",
    }
    return AuditEntry("master", "mcp.tools/call", "bench/add", details, datetime.now(UTC))


async def one_flush(ledger: BatchWriter[UsageEvent], audit: BatchWriter[AuditEntry], rows: int) -> dict[str, float]:
    for _ in range(rows):
        ledger.put(event())
        audit.put(entry())
    loop = asyncio.get_running_loop()
    gaps_cpu: list[float] = []
    gaps_wall: list[float] = []
    last = [time.thread_time(), time.perf_counter()]
    running = True

    def tick() -> None:
        cpu, wall = time.thread_time(), time.perf_counter()
        gaps_cpu.append(cpu - last[0])
        gaps_wall.append(wall - last[1])
        last[0], last[1] = time.thread_time(), time.perf_counter()
        if running:
            loop.call_soon(tick)

    loop.call_soon(tick)
    await asyncio.gather(ledger.flush(), audit.flush())
    running = False
    await asyncio.sleep(0)
    idle = statistics.median(gaps_cpu)  # a tick with nothing else to run
    return {
        "busy_cpu_ms": 1000 * (sum(gaps_cpu) - idle * len(gaps_cpu)),
        "max_gap_cpu_ms": 1000 * max(gaps_cpu),
        "max_gap_wall_ms": 1000 * max(gaps_wall),
        "p99_gap_cpu_ms": 1000 * sorted(gaps_cpu)[int(0.99 * len(gaps_cpu))],
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=600, help="calls per flush (one ledger row, one audit entry)")
    parser.add_argument("--flushes", type=int, default=7)
    parser.add_argument("--store", help="a store URL to write to (an empty database); default: a temporary SQLite")
    parser.add_argument("--verbose", action="store_true", help="also print every flush's figures")
    parser.add_argument(
        "--writer", choices=("inline", "process"), default="inline", help="ledger.writer (decision 063)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(args.store or f"sqlite:///{os.path.join(tmp, 'w.db')}")
        await upgrade(engine)
        audit_log = AuditLog(engine, b"k" * 32)
        ledger = BatchWriter("usage-ledger", ledger_writes(engine), max_batch=500, interval_s=3600)
        audit = BatchWriter("audit", audit_log.append, max_batch=500, interval_s=3600)
        writer = None
        if args.writer == "process":  # the worker's end only: the rows are pickled here, written by the child
            from wardgate.store.remote_writes import WriterProcess
            from wardgate.store.usage import LedgerWrites as Writes
            from wardgate.store.writer_process import Opening

            url = args.store or f"sqlite:///{os.path.join(tmp, 'w.db')}"
            writer = WriterProcess(Opening(url, b"k" * 32, 60.0, 0))
            await writer.start()
            ledger = BatchWriter("usage-ledger", Writes(writer.insert_events), max_batch=500, interval_s=3600)
            audit = BatchWriter("audit", writer.append_audit, max_batch=500, interval_s=3600)
        ledger.start()
        audit.start()
        await one_flush(ledger, audit, 50)  # warm-up: statements compiled, the first checkpoint written
        gc.freeze()  # as a worker does once started (app.py): full collections then skip what start-up made
        runs = [await one_flush(ledger, audit, args.rows) for _ in range(args.flushes)]
        if args.verbose:
            print(json.dumps(runs))
        await ledger.stop()
        await audit.stop()
        if writer is not None:
            await writer.close()
        await engine.dispose()
    summary = {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}
    worst = {f"worst_{k}": round(max(r[k] for r in runs), 2) for k in ("max_gap_cpu_ms", "max_gap_wall_ms")}
    load = round(os.getloadavg()[0], 1)
    print(
        json.dumps(
            {"rows": args.rows, "flushes": args.flushes, "writer": args.writer, **summary, **worst, "load": load}
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
