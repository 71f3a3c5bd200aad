"""Fixtures shared by the telemetry tests."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator

import pytest

from tests.services import create_postgres_database, drop_postgres_database, postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A new, empty store on each backend: a SQLite file, then a PostgreSQL database of its own (skipped with a
    reason when PostgreSQL is not running, except in CI)."""
    if request.param == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/wardgate.db"
        return
    name = create_postgres_database()
    try:
        yield postgres_url(name)
    finally:
        drop_postgres_database(name)
