"""The ledger on SQLite and the real PostgreSQL: whatever a client put in a call, its usage event can be written;
refused calls are on the record but never in sums or chargeback; a client's own id is searchable, never unique."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.engine import create_engine, upgrade
from wardgate.store.tenancy import TenancyStore
from wardgate.store.usage import (
    UsageEvent,
    aggregate,
    bounded,
    by_client_request_id,
    by_request_id,
    chargeback,
    describe,
    insert_events,
)

T0 = datetime(2026, 11, 3, 12, tzinfo=UTC)
NOVEMBER = (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))


def event(request_id: str, **values: object) -> UsageEvent:
    fields: dict[str, object] = {
        "request_id": request_id,
        "ts": T0,
        "principal_kind": "key",
        "principal_id": "k",
        "surface": "openai",
        "operation": "chat",
        "model": "gpt",
        "status": 200,
        **values,
    }
    return UsageEvent(**fields)  # type: ignore[arg-type]


async def test_hostile_values_are_bounded_so_each_row_can_be_written_on_its_own(engine: AsyncEngine) -> None:
    hostile = [
        event("nul", model="gpt\x00-4o", client_request_id="c\x00d"),
        event("long", model="m" * 201),
        event("huge", model="h" * 1_000_000, error_code="e" * 500),
        event("surrogate", model="bad\ud800model"),
        event("ints", input_tokens=2**64, output_tokens=-(2**70), latency_ms=2**40, status=10**12),
        event("details", details={"route": {"failed": ["a\x00b", "\udfff"], "n": 2**80}}),
    ]
    for one in hostile:  # each alone: no other row could carry a failing batch
        await insert_events(engine, [bounded(one)])
    stored = {r: await by_request_id(engine, r) for r in ("nul", "long", "huge", "surrogate", "ints", "details")}
    assert all(row is not None for row in stored.values())
    assert stored["nul"] is not None and stored["nul"]["model"] == "gpt-4o"
    assert stored["nul"]["client_request_id"] == "cd"
    assert stored["long"] is not None and stored["long"]["model"] == "m" * 200
    assert (
        stored["huge"] is not None and len(stored["huge"]["model"]) == 200 and len(stored["huge"]["error_code"]) == 64
    )
    assert stored["surrogate"] is not None and stored["surrogate"]["model"] == "bad?model"
    ints = stored["ints"]
    assert ints is not None and (ints["input_tokens"], ints["output_tokens"]) == (2**63 - 1, -(2**63))
    assert (ints["latency_ms"], ints["status"]) == (2**31 - 1, 2**31 - 1)
    details = stored["details"]
    assert details is not None and details["details"]["route"]["failed"] == ["ab", "?"]


def test_bounding_leaves_a_plain_event_as_it_was() -> None:
    plain = event("r1", details={"route": {"strategy": "single"}}, client_request_id="trace-1", cost_nanousd=5)
    assert (
        bounded(event("r1", details={"route": {"strategy": "single"}}, client_request_id="trace-1", cost_nanousd=5))
        == plain
    )


def test_an_event_is_described_in_a_bounded_line() -> None:
    line = describe(event("r1", model="m" * 1_000_000, principal_id="p" * 10_000))
    assert len(line) < 400 and "1000000 chars" in line


async def test_refused_calls_are_on_the_record_but_never_in_sums_or_chargeback(engine: AsyncEngine) -> None:
    project = await TenancyStore(engine).create_project("refusals", cost_center="CC-R")
    await insert_events(
        engine,
        [
            event("paid", project_id=project.id, input_tokens=10, output_tokens=5, cost_nanousd=100),
            event("unknown-model", project_id=project.id, model="nope", status=404, billable=False),
            event("over-budget", project_id=project.id, status=429, error_code="budget_exceeded", billable=False),
        ],
    )
    totals = await aggregate(engine, [], project_ids=[project.id])
    assert (totals[0]["requests"], totals[0]["cost_nanousd"]) == (1, 100)
    by_model = await aggregate(engine, ["model"], project_ids=[project.id])
    assert [r["model"] for r in by_model] == ["gpt"]
    charged = [c for c in await chargeback(engine, *NOVEMBER) if c["project_id"] == project.id]
    assert [(c["model"], c["requests"], c["cost_nanousd"]) for c in charged] == [("gpt", 1, 100)]
    refused = await by_request_id(engine, "over-budget")
    assert refused is not None and refused["billable"] is False and refused["status"] == 429


async def test_a_client_id_shared_by_many_calls_finds_them_all_within_the_callers_projects(
    engine: AsyncEngine,
) -> None:
    tenancy = TenancyStore(engine)
    mine, theirs = await tenancy.create_project("mine"), await tenancy.create_project("theirs")
    await insert_events(
        engine,
        [
            event(f"m{i}", project_id=mine.id, client_request_id="retry-7", ts=T0 + timedelta(seconds=i))
            for i in range(3)
        ]
        + [event("t0", project_id=theirs.id, client_request_id="retry-7")],
    )
    rows = await by_client_request_id(engine, "retry-7", project_ids=[mine.id])
    assert [r["request_id"] for r in rows] == ["m2", "m1", "m0"]  # newest first, none of theirs
    everyone = await by_client_request_id(engine, "retry-7")
    assert len(everyone) == 4
    assert await by_client_request_id(engine, "retry-7", project_ids=[]) == []


async def test_the_migration_marks_earlier_refused_rows_not_billable(store_url: str) -> None:
    from alembic import command
    from sqlalchemy import text

    from wardgate.store import engine as store_engine

    engine = create_engine(store_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(lambda c: command.upgrade(store_engine._alembic_config(c), "0002"))
            await conn.commit()
            columns = (
                "request_id, ts, principal_kind, principal_id, surface, operation, model, status, input_tokens, "
                "output_tokens, cached_tokens, cache_write_tokens, reasoning_tokens, cost_nanousd, cache_hit, stream"
            )
            for request_id, status, tokens in (("answered", 200, 9), ("refused", 404, 0), ("cut", 502, 7)):
                await conn.execute(
                    text(
                        f"INSERT INTO usage_events ({columns}) "
                        "VALUES (:r, :ts, 'key', 'k', 'openai', 'chat', 'm', :s, :t, 0, 0, 0, 0, 0, false, false)"
                    ),
                    {"r": request_id, "ts": T0, "s": status, "t": tokens},
                )
            await conn.commit()
        await upgrade(engine)
        billable = {r: (await by_request_id(engine, r) or {}).get("billable") for r in ("answered", "refused", "cut")}
        assert billable == {"answered": True, "refused": False, "cut": True}
        await insert_events(engine, [event("new", client_request_id="c")])
        assert [r["request_id"] for r in await by_client_request_id(engine, "c")] == ["new"]
    finally:
        await engine.dispose()
