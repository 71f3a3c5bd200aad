"""The store writer process (``ledger.writer: process``, decision 063) on SQLite and the real PostgreSQL: rows handed to
it arrive exactly once, roll-ups included; the audit chain it writes verifies with its checkpoints; stopping drains
what is queued; a writer process that dies is started again and no row is lost or doubled; a row the store refuses
is set aside alone, as with the inline writer."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import uvloop
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.core.batching import BatchWriter
from wardgate.store import audit
from wardgate.store.audit import AuditEntry
from wardgate.store.remote_writes import StoreWriteRefused, WriterProcess
from wardgate.store.rollup_tables import ROLLUP_TABLES
from wardgate.store.tables import audit_checkpoints, audit_log, usage_events
from wardgate.store.usage import LedgerWrites, UsageEvent
from wardgate.store.writer_process import Opening

KEY = b"k" * 32
T0 = datetime(2026, 12, 7, 12, tzinfo=UTC)


def event(request_id: str) -> UsageEvent:
    return UsageEvent(request_id, T0, "key", "k", "mcp", "tools/call", "fast.add", 200, input_tokens=3, cost_nanousd=7)


def entry(i: int) -> AuditEntry:
    return AuditEntry("key:k", "mcp.tools/call", "bench/add", {"i": i, "outcome": "ok"})


@pytest.fixture
async def writer(store_url: str, engine: AsyncEngine) -> AsyncIterator[WriterProcess]:
    process = WriterProcess(Opening(store_url, KEY, 3600.0, 0))
    await process.start()
    yield process
    await process.close()


def queues(writer: WriterProcess) -> tuple[BatchWriter[UsageEvent], BatchWriter[AuditEntry]]:
    ledger = BatchWriter("ledger", LedgerWrites(writer.insert_events), max_batch=50, min_backoff_s=0.01)
    trail = BatchWriter("audit", writer.append_audit, max_batch=50, min_backoff_s=0.01)
    ledger.start()
    trail.start()
    return ledger, trail


async def count(engine: AsyncEngine, table: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]


async def rolled_up(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        total = await conn.execute(select(func.sum(ROLLUP_TABLES["usage_rollup_models"].c.requests)))
        return int(total.scalar_one() or 0)


async def test_rows_arrive_once_and_the_chain_it_writes_verifies(writer: WriterProcess, engine: AsyncEngine) -> None:
    ledger, trail = queues(writer)
    for i in range(230):  # several batches, and chunks of pickled rows within them
        ledger.put(event(f"r{i}"))
        trail.put(entry(i))
    await ledger.flush()
    await trail.flush()
    assert await count(engine, usage_events) == 230 == await rolled_up(engine)
    assert await count(engine, audit_log) == 230
    await ledger.stop()
    await trail.stop()
    await writer.close()  # signs the head
    result = await audit.verify(engine, KEY)
    assert result.ok and result.rows == 230
    assert await count(engine, audit_checkpoints) >= 1
    assert writer.started == 1


async def test_stopping_drains_what_is_queued_and_signs_the_final_head(
    writer: WriterProcess, engine: AsyncEngine
) -> None:
    ledger, trail = queues(writer)
    for i in range(120):
        ledger.put(event(f"d{i}"))
        trail.put(entry(i))
    await ledger.stop()  # no flush first: stopping is the drain
    await trail.stop()
    await writer.close()
    assert await count(engine, usage_events) == 120 == await rolled_up(engine)
    async with engine.connect() as conn:
        head = (await conn.execute(select(func.max(audit_log.c.seq)))).scalar_one()
        signed = (await conn.execute(select(func.max(audit_checkpoints.c.seq)))).scalar_one()
    assert signed == head
    assert (await audit.verify(engine, KEY)).ok


async def test_a_writer_process_that_dies_is_started_again_and_no_row_is_lost_or_doubled(
    writer: WriterProcess, engine: AsyncEngine
) -> None:
    ledger, trail = queues(writer)
    for i in range(60):
        ledger.put(event(f"a{i}"))
        trail.put(entry(i))
    await ledger.flush()
    await trail.flush()
    first = writer.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)  # the next writes fail (sent to it, or refused once its socket closed): retried
    for i in range(60, 140):
        ledger.put(event(f"a{i}"))
        trail.put(entry(i))
    await ledger.flush()
    await trail.flush()
    assert writer.started == 2 and writer.pid != first
    assert await count(engine, usage_events) == 140 == await rolled_up(engine)
    assert await count(engine, audit_log) == 140
    await ledger.stop()
    await trail.stop()
    await writer.close()
    assert (await audit.verify(engine, KEY)).ok


async def test_a_signal_to_the_whole_process_group_leaves_it_to_the_worker_to_end(
    writer: WriterProcess, engine: AsyncEngine
) -> None:
    ledger, trail = queues(writer)
    ledger.put(event("first"))
    await ledger.flush()  # it has answered: its signal handlers are set
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGTERM)  # a service manager stopping everything: the worker drains, then closes it
    os.kill(writer.pid, signal.SIGINT)
    for i in range(30):
        ledger.put(event(f"s{i}"))
        trail.put(entry(i))
    await ledger.stop()
    await trail.stop()
    await writer.close()
    assert writer.started == 1
    assert await count(engine, usage_events) == 31 and await count(engine, audit_log) == 30


def held_descriptors(pid: int) -> set[str]:
    """What each open descriptor of a process names. The child is still starting, so a descriptor listed may be
    closed before it is read: such a one was opened by the child itself (an inherited one stays open from exec)."""
    held = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            held.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except FileNotFoundError:
            continue
    return held


def test_it_holds_none_of_its_workers_descriptors(tmp_path: Path) -> None:
    async def check() -> None:
        with socket.create_server(("127.0.0.1", 0)) as listening:  # as a worker's: open when the writer starts,
            listening.set_inheritable(True)  # and inheritable (uvicorn hands it to its workers that way)
            process = WriterProcess(Opening(f"sqlite:///{tmp_path / 'w.db'}", KEY, 3600.0, 0))
            await process.start()
            try:
                inode = f"socket:[{os.fstat(listening.fileno()).st_ino}]"
                assert process.pid is not None
                assert inode not in held_descriptors(process.pid)  # else a drained port would go on accepting
            finally:
                await process.close()

    uvloop.run(check())  # the loop `wardgate serve` runs (its own subprocess support leaked them)


async def test_a_row_the_store_refuses_is_set_aside_alone(writer: WriterProcess, engine: AsyncEngine) -> None:
    with pytest.raises(StoreWriteRefused):
        await writer.insert_events([event("x"), event(None)], None)  # type: ignore[arg-type]  # request_id NOT NULL
    ledger, trail = queues(writer)
    for i in range(10):
        ledger.put(event(f"b{i}") if i != 4 else event(None))  # type: ignore[arg-type]
    await ledger.flush()
    assert ledger.rejected_total == 1 and await count(engine, usage_events) == 9  # the refused pair rolled back
    await ledger.stop()
    await trail.stop()
