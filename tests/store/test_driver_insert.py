"""Ledger and audit rows written through the driver (one tuple per row; one multi-row statement per chunk on SQLite)
read back exactly as SQLAlchemy reads them, on SQLite and PostgreSQL, across chunk boundaries and with odd values."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from wardgate.core.ids import new_request_id
from wardgate.store import audit, driver_insert, usage
from wardgate.store.driver_insert import CHUNK
from wardgate.store.rollup_tables import ROLLUP_TABLES
from wardgate.store.tables import audit_log, usage_events
from wardgate.store.usage import UsageEvent, bounded, insert_events

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def event(i: int) -> UsageEvent:
    return bounded(
        UsageEvent(
            request_id=f"req-{i:05d}",
            ts=START + timedelta(milliseconds=i),
            principal_kind="key",
            principal_id=f"k{i % 7}",
            surface="openai",
            operation="chat",
            model="m\x00odel" if i == 3 else "gpt-4o-mini",
            status=200 if i % 5 else 429,
            project_id="p1",
            input_tokens=i,
            output_tokens=2 * i,
            cost_nanousd=10**12 + i,
            latency_ms=i % 100,
            stream=bool(i % 2),
            details={"route": {"attempts": 1, "i": i}} if i % 3 else None,
            client_request_id="same-client-id",
            billable=bool(i % 5),
        )
    )


async def test_a_large_batch_reads_back_exactly(engine: AsyncEngine) -> None:
    events = [event(i) for i in range(1234)]  # thirteen chunks of ≤ 100 rows
    await insert_events(engine, events)
    await insert_events(engine, events[:10])  # a retried batch never doubles a row
    async with engine.connect() as conn:
        rows = (await conn.execute(select(usage_events).order_by(usage_events.c.request_id))).mappings().all()
    assert len(rows) == 1234
    for row, sent in zip(rows, events, strict=True):
        assert row["request_id"] == sent.request_id
        assert row["ts"].replace(tzinfo=UTC) == sent.ts
        assert (row["model"], row["status"], row["input_tokens"]) == (sent.model, sent.status, sent.input_tokens)
        assert (row["cost_nanousd"], row["stream"], row["billable"]) == (sent.cost_nanousd, sent.stream, sent.billable)
        assert row["details"] == sent.details
        assert row["client_request_id"] == "same-client-id"
    assert rows[3]["model"] == "model"  # the NUL byte was cleaned before the row reached the driver


async def test_audit_rows_through_the_driver_verify(engine: AsyncEngine) -> None:
    key = audit.audit_key("k" * 40, None)
    entries = [
        audit.AuditEntry(f"key:k{i}", "key.use.denied", f"k{i}", {"reason": "revoked", "i": i}) for i in range(700)
    ]
    await audit.append(engine, entries, key)
    await audit.append(engine, entries[:3], key)
    result = await audit.verify(engine, key)
    assert result.ok and result.total == 703
    async with engine.connect() as conn:
        first = (await conn.execute(select(audit_log).order_by(audit_log.c.seq).limit(1))).mappings().one()
    assert (first["actor"], first["action"], first["n"]) == ("key:k0", "key.use.denied", 1)


def test_request_ids_are_time_ordered_and_distinct() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 24 and int(i, 16) >= 0 for i in ids)
    stamps = [int(i[:12], 16) for i in ids]
    assert stamps == sorted(stamps)  # the index grows at its right edge


async def test_a_batch_whose_commit_answer_was_lost_is_written_once(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger writer looks ids up only after a failed write; a write that committed but whose answer was lost
    (the connection died after COMMIT) is retried without doubling a row or a roll-up count."""
    real = usage.insert_events
    lost = True

    async def commit_then_lose_the_answer(*args: Any) -> None:
        nonlocal lost
        await real(*args)
        if lost:
            lost = False
            raise ConnectionError("connection lost after COMMIT")

    monkeypatch.setattr(usage, "insert_events", commit_then_lose_the_answer)
    writes = usage.LedgerWrites(partial(usage.insert_events, engine))
    batch = [event(i) for i in range(20)]
    with pytest.raises(ConnectionError):
        await writes(batch)
    await writes(batch)  # the batch writer's retry
    await writes([event(i) for i in range(20, 30)])  # fresh ids: no lookup needed, written once too
    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(usage_events))).scalar_one()
        counted = (await conn.execute(select(func.sum(ROLLUP_TABLES["usage_rollup_models"].c.requests)))).scalar_one()
    assert rows == 30 and counted == 30


async def test_odd_json_details_read_back_as_the_generic_serialiser_stores_them(engine: AsyncEngine) -> None:
    """JSON goes through orjson where it can, and the generic serialiser where orjson refuses (integer keys, integers
    past 64 bits): either way the value read back is the one SQLAlchemy's own path would give."""
    odd: list[dict[str, Any] | None] = [
        {"text": 'é ✓ \u2028 "quoted" \\', "nested": [1, 2.5, None, True, {"a": []}]},
        {1: "integer key"},  # type: ignore[dict-item]
        {"big": 2**70},
        None,
    ]
    events = [bounded(UsageEvent(**{**vars_of(event(i)), "details": d})) for i, d in enumerate(odd)]
    await insert_events(engine, events)
    async with engine.connect() as conn:
        rows = (await conn.execute(select(usage_events).order_by(usage_events.c.request_id))).mappings().all()
    expected = [e.details for e in events]  # as `bounded` left them (it caps what a row may hold)
    assert expected[0] == odd[0]
    assert [row["details"] for row in rows] == [expected[0], {"1": "integer key"}, expected[2], None]


def vars_of(e: UsageEvent) -> dict[str, Any]:
    return {name: getattr(e, name) for name in e.__dataclass_fields__}


async def test_a_large_batch_leaves_the_event_loop_free_between_chunks(engine: AsyncEngine) -> None:
    """Issue 18: a batch is converted, bound, folded into the roll-ups and hashed CHUNK rows at a time, so requests
    ready meanwhile run between the chunks; the rows and the roll-ups' sums stay exact across chunk boundaries."""
    loop = asyncio.get_running_loop()
    ticks = 0
    running = True

    def tick() -> None:
        nonlocal ticks
        ticks += 1
        if running:
            loop.call_soon(tick)

    events = [event(i) for i in range(10 * CHUNK + 7)]
    entries = [audit.AuditEntry("master", "mcp.tools/call", "vs/t", {"i": i}) for i in range(10 * CHUNK + 7)]
    key = audit.audit_key("k" * 40, None)
    loop.call_soon(tick)
    await insert_events(engine, events)
    ledger_ticks, ticks = ticks, 0
    await audit.append(engine, entries, key)
    running = False
    # ledger rows, then three roll-ups folded and (on SQLite) inserted a chunk at a time; audit rows hashed likewise
    assert ledger_ticks >= 4 * 10 and ticks >= 10
    assert (await audit.verify(engine, key)).ok
    table = ROLLUP_TABLES["usage_rollup_calls"]
    async with engine.connect() as conn:
        rows = (await conn.execute(select(func.count()).select_from(usage_events))).scalar_one()
        sums = (await conn.execute(select(func.sum(table.c.requests), func.sum(table.c.cost_nanousd)))).one()
    assert rows == len(events)
    assert tuple(sums) == (len(events), sum(e.cost_nanousd for e in events))


async def test_sqlite_batches_of_every_size_use_a_handful_of_statement_texts(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver keeps a prepared statement per distinct SQL text (128 per pooled connection, each up to ~1 MB for
    a wide multi-row INSERT): batches of every size must not each mint a text of their own, or a busy worker's
    memory grows by tens of MB. Rows go in pieces of 2^k, so 1 to 100 rows use at most 7 texts."""
    if engine.dialect.name != "sqlite":
        pytest.skip("the multi-row statement is SQLite's")
    texts: set[str] = set()
    real = driver_insert._run_pieces

    async def seen(conn: AsyncConnection, pieces: Sequence[driver_insert.Piece]) -> None:
        texts.update(text for text, _ in pieces if text.startswith("INSERT INTO usage_events"))
        await real(conn, pieces)

    monkeypatch.setattr(driver_insert, "_run_pieces", seen)
    written = 0
    for size in range(1, 101):
        await insert_events(engine, [event(written + i) for i in range(size)])
        written += size
    assert len(texts) <= 7, len(texts)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(usage_events)) == written == 5050


async def test_sqlite_hands_a_batch_to_the_driver_thread_in_a_few_calls(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 18, done-when 7: every call into aiosqlite's thread is a moment that thread needs the GIL, and while the
    loop is busy that costs the loop a forced hand-over. A 1,007-row batch (16 statements of ≤ 64 rows) and its
    three roll-ups go in one call each, not three per statement (cursor, execute, close) as through SQLAlchemy."""
    if engine.dialect.name != "sqlite":
        pytest.skip("aiosqlite's thread is SQLite's")
    calls: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", repr(fn)))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    await insert_events(engine, [event(i) for i in range(10 * CHUNK + 7)], set())  # as the ledger writer calls it
    assert calls.count("_execute_all") == 4, calls  # the ledger rows, then one per roll-up
    assert len(calls) <= 6, calls  # with the commit and the pool's reset (before: 50 calls and more)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(usage_events)) == 10 * CHUNK + 7


async def test_a_refused_row_raises_sqlalchemys_error_and_writes_nothing(engine: AsyncEngine) -> None:
    """The errors of the one-call path are SQLAlchemy's, as through exec_driver_sql (the batch writer bisects on
    them), and the transaction they end writes none of the batch."""
    rows = [list(usage._ROW(event(i))) for i in range(70)]
    rows[66][usage._FIELDS.index("principal_kind")] = None  # NOT NULL: in the second statement (64 + 4 + 2 rows)
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await usage._INSERT.execute(conn, rows)
    async with engine.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(usage_events)) == 0


def test_a_worker_compiles_every_batched_write_before_serving(monkeypatch: pytest.MonkeyPatch) -> None:
    """The roll-ups' upserts (140 columns each) take tens of ms to compile: at start-up, not in the first flush under
    traffic, when every request waiting on the loop would pay for it."""
    from tests.support import gateway_from_yaml
    from wardgate.store import rollup

    assert {id(i) for i in (usage._INSERT, audit._INSERT, *rollup._UPSERTS.values())} <= {
        id(i) for i in driver_insert.EVERY
    }
    for insert in driver_insert.EVERY:
        monkeypatch.setattr(insert, "_prepared", {})
    with gateway_from_yaml(""):
        assert all("sqlite" in insert._prepared for insert in driver_insert.EVERY)
