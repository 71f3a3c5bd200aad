"""One gateway (mock provider, its own SQLite store) shared by the console tests of a module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.admin.support import CONFIG
from tests.support import RunningGateway, gateway_from_yaml


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    path: Path = tmp_path_factory.mktemp("console") / "wardgate.db"
    with gateway_from_yaml(CONFIG.format(path=path)) as gw:
        yield gw
