"""Fixtures shared by every test. No test reaches the network: only loopback connections are allowed."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _is_loopback(address: Any) -> bool:
    if isinstance(address, str | bytes):  # AF_UNIX path
        return True
    host = address[0]
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests never reach the network (tried {address!r})")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if not _is_loopback(address):
        raise ConnectionRefusedError(f"tests never reach the network (tried {address!r})")
    return _real_connect_ex(self, address)


@pytest.fixture(autouse=True, scope="session")
def _loopback_only() -> Iterator[None]:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    yield
    socket.socket.connect = _real_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]


# `make test` runs `pytest -n auto --dist loadfile`: a worker takes a whole file at a time. xdist orders the files by
# their number of tests (most first), which leaves the few-test judges (minutes each) for the end: one worker then
# runs them alone while the others are done. The longest files go first instead (longest-first keeps the workers
# busy to the end); the rest keep their collection order. Figures: bench/RESULTS.md, "the suite's wall time".
SLOW_FILES_FIRST = (
    "tests/judges/test_openai_sdk_suite.py",
    "tests/judges/test_data_plane_fuzz.py",
    "tests/api/admin/test_openapi_fuzz.py",
    "tests/judges/test_mcp_conformance_client.py",
    "tests/limits/test_replicas_exact.py",
    "tests/identity/test_revocation_push.py",
    "tests/ui/test_console_governance.py",
    "tests/reload/test_catalog_replicas.py",
    "tests/limits/test_replicas.py",
)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist's "most tests first"; SLOW_FILES_FIRST instead
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {path: i for i, path in enumerate(SLOW_FILES_FIRST)}
    first = len(SLOW_FILES_FIRST)
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], first))  # stable: the rest keep their order
