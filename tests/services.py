"""The real PostgreSQL and Redis servers of this machine, for backend tests.

Locally, a test that needs one skips with a clear reason when it is not running; in CI (CI=true) an unreachable
service is a failure, so a green CI always means the backends were really tested.
"""

from __future__ import annotations

import os
import socket
import uuid

import pytest

PG_HOST, PG_PORT = os.environ.get("WARDGATE_TEST_PG_HOST", "127.0.0.1"), 5432
REDIS_HOST, REDIS_PORT = os.environ.get("WARDGATE_TEST_REDIS_HOST", "127.0.0.1"), 6379
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    if _reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message} (CI=true: the backend tests must run)")
    pytest.skip(f"{message}; start it to run this test")


def _admin_execute(sql: str) -> None:
    import asyncio

    import asyncpg  # type: ignore[import-untyped]

    async def run() -> None:
        conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user="postgres", database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(run())


def create_postgres_database() -> str:
    require("PostgreSQL", PG_HOST, PG_PORT)
    name = f"wardgate_test_{uuid.uuid4().hex[:12]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    return name


def drop_postgres_database(name: str) -> None:
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_url(name: str) -> str:
    return f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{name}"


def redis_url() -> str:
    require("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"
