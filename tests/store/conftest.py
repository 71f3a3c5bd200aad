from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.services import create_postgres_database, drop_postgres_database, postgres_url
from wardgate.store.engine import create_engine, upgrade


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    name = create_postgres_database()
    yield name
    drop_postgres_database(name)


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
