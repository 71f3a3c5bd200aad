"""A fake OIDC issuer and a fresh SQLite tenancy store for the identity tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.identity.issuer import FakeIssuer
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.tenancy import TenancyStore


@pytest.fixture
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer() as fake:
        yield fake


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def tenancy(tmp_path: Path) -> AsyncIterator[TenancyStore]:
    engine = create_engine(f"sqlite:///{tmp_path / 'wardgate.db'}")
    await upgrade(engine)
    yield TenancyStore(engine)
    await engine.dispose()
