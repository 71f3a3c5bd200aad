"""Ledger and audit rows written through the driver (one tuple per row; one multi-row statement per chunk on SQLite)
read back exactly as SQLAlchemy reads them, on SQLite and PostgreSQL, across chunk boundaries and with odd values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.core.ids import new_request_id
from wardgate.store import audit
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
    events = [event(i) for i in range(1234)]  # three SQLite chunks of ≤ 500 rows
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
