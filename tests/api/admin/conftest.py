"""One gateway (mock provider, its own SQLite store) shared by the admin API tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.admin.support import CONFIG, admin
from tests.support import RunningGateway, gateway_from_yaml


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("admin") / "wardgate.db"


@pytest.fixture(scope="module")
def gateway(store_path: Path) -> Iterator[RunningGateway]:
    with gateway_from_yaml(CONFIG.format(path=store_path)) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[httpx.Client]:
    with admin(gateway) as c:
        yield c
