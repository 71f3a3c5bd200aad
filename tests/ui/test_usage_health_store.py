"""The console's two ledger reads on SQLite and on the real PostgreSQL: per-day health (errors, nearest-rank p95 of
latency and TTFT, computed by PostgreSQL itself or rank by rank on SQLite) and the cursor pages of ledger rows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.services import create_postgres_database, drop_postgres_database, postgres_url
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.usage import UsageEvent, health, insert_events, ledger_page

DAY = datetime(2026, 11, 3, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'wardgate.db'}"
    name = create_postgres_database()
    request.addfinalizer(lambda: drop_postgres_database(name))
    return postgres_url(name)


@pytest.fixture
async def engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(store_url)
    await upgrade(engine)
    yield engine
    await engine.dispose()


def event(n: int, day: datetime, *, project: str = "prj_a", status: int = 200, ttft: int | None = None) -> UsageEvent:
    return UsageEvent(
        request_id=f"req-{day:%d}-{n}",
        ts=day + timedelta(minutes=n),
        principal_kind="key",
        principal_id="key_1",
        surface="openai",
        operation="chat",
        model="chat",
        status=status,
        project_id=project,
        latency_ms=n,
        ttft_ms=ttft,
    )


async def test_health_per_day_and_ledger_pages(engine: AsyncEngine) -> None:
    first = [event(n, DAY, ttft=n * 10 if n <= 10 else None) for n in range(1, 21)]  # latencies 1..20
    second = [event(n, DAY + timedelta(days=1), status=500 if n % 2 else 200) for n in range(1, 5)]
    foreign = [event(n, DAY, project="prj_b") for n in range(100, 103)]
    await insert_events(engine, [*first, *second, *foreign])
    days = await health(engine, start=DAY, end=DAY + timedelta(days=2), project_ids=["prj_a"])
    assert [(d["day"], d["requests"], d["errors"]) for d in days] == [("2026-11-03", 20, 0), ("2026-11-04", 4, 2)]
    assert (int(days[0]["latency_p95_ms"]), int(days[0]["ttft_p95_ms"])) == (19, 100)  # ranks 19 of 20, 10 of 10
    assert (int(days[1]["latency_p95_ms"]), days[1]["ttft_p95_ms"]) == (4, None)
    everyone = await health(engine, start=DAY, end=DAY + timedelta(days=1))
    assert everyone[0]["requests"] == 23 and int(everyone[0]["latency_p95_ms"]) == 101  # rank 22 of 1..20, 100..102

    page = await ledger_page(engine, {"project": "prj_a"}, limit=10)
    ids = [r["request_id"] for r in page]
    while len(page) == 10:
        page = await ledger_page(engine, {"project": "prj_a"}, before_id=page[-1]["id"], limit=10)
        ids += [r["request_id"] for r in page]
    assert len(ids) == len(set(ids)) == 24
    assert await ledger_page(engine, {"project": "prj_b"}, project_ids=["prj_a"]) == []
