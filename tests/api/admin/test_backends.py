"""The store-level parts of the admin side on SQLite and on the real PostgreSQL: the key hash lookup, the CLI's
commands, the chargeback month, tamper detection, and the admin API itself on a PostgreSQL-backed gateway."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.api.admin.support import CONFIG, admin, chat, create_project, create_user, flush, grant
from tests.services import create_postgres_database, drop_postgres_database, postgres_url
from tests.support import RunningGateway, gateway_from_yaml
from wardgate import cli
from wardgate.store.audit import AuditEntry, append
from wardgate.store.common import NotFoundInStore
from wardgate.store.engine import create_engine, upgrade
from wardgate.store.keys import KeyStore, key_hash
from wardgate.store.tables import audit_log
from wardgate.store.tenancy import TenancyStore
from wardgate.store.usage import UsageEvent, insert_events


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


@pytest.fixture
def config(tmp_path: Path, store_url: str) -> str:
    path = tmp_path / "wardgate.yaml"
    path.write_text(f"store: {store_url}\n")
    return str(path)


async def wardgate(*argv: str) -> int:
    """The CLI runs its own event loop: give it a thread."""
    return await asyncio.to_thread(cli.main, list(argv))


async def test_hash_of_finds_the_digest_a_key_is_cached_under(engine: AsyncEngine) -> None:
    project = await TenancyStore(engine).create_project("p")
    keys = KeyStore(engine)
    secret, record = await keys.create(project.id)
    assert await keys.hash_of(record.id) == key_hash(secret)
    with pytest.raises(NotFoundInStore):
        await keys.hash_of("key_nope")


async def test_cli_keys_and_projects(engine: AsyncEngine, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await wardgate("projects", "create", "search", "--cost-center", "CC-1", "--config", config) == 0
    assert await wardgate("keys", "create", "--project", "search", "--expires", "2099-01-01", "--config", config) == 0
    out = capsys.readouterr().out
    key = next(line.split()[1] for line in out.splitlines() if line.startswith("key "))
    record = await KeyStore(engine).by_hash(key_hash(key))
    assert record is not None and record.expires_at == datetime(2099, 1, 1, tzinfo=UTC)
    assert await wardgate("keys", "rotate", record.id, "--overlap", "2h", "--config", config) == 0
    assert await wardgate("keys", "revoke", record.id, "--config", config) == 0
    assert (await KeyStore(engine).get(record.id)).revoked_at is not None
    assert await wardgate("projects", "create", "search", "--config", config) == 1
    assert "already exists" in capsys.readouterr().err


async def test_chargeback_covers_the_calendar_month_in_utc(
    engine: AsyncEngine, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = await TenancyStore(engine).create_project("billing", cost_center="CC-9")

    def event(request_id: str, ts: datetime, model: str, cost: int) -> UsageEvent:
        return UsageEvent(
            request_id,
            ts,
            "key",
            "key_1",
            "openai",
            "chat",
            model,
            200,
            project_id=project.id,
            input_tokens=10,
            output_tokens=5,
            cost_nanousd=cost,
        )

    await insert_events(
        engine,
        [
            event("before", datetime(2026, 10, 31, 23, 59, 59, tzinfo=UTC), "gpt", 1),
            event("first", datetime(2026, 11, 1, tzinfo=UTC), "gpt", 1_500_000_000),
            event("last", datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC), "gpt", 7),
            event("other-model", datetime(2026, 11, 15, tzinfo=UTC), "claude", 3),
            event("after", datetime(2026, 12, 1, tzinfo=UTC), "gpt", 1),
        ],
    )
    assert await wardgate("export", "chargeback", "--month", "2026-11", "--config", config) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows == [
        {"project_id": project.id, "project": "billing", "cost_center": "CC-9", "model": "claude", "requests": "1",
         "tokens": "15", "cost_usd": "0.000000003"},
        {"project_id": project.id, "project": "billing", "cost_center": "CC-9", "model": "gpt", "requests": "2",
         "tokens": "30", "cost_usd": "1.500000007"},
    ]  # fmt: skip
    assert await wardgate("export", "chargeback", "--month", "2026-12", "--config", config) == 0
    assert len(list(csv.DictReader(io.StringIO(capsys.readouterr().out)))) == 1


async def test_cli_audit_verify_detects_an_edited_row(
    engine: AsyncEngine, config: str, capsys: pytest.CaptureFixture[str]
) -> None:
    await append(engine, [AuditEntry("master", "project.create", f"prj_{i}", {"i": i}) for i in range(4)])
    assert await wardgate("audit", "verify", "--config", config) == 0
    assert "4 rows" in capsys.readouterr().out
    async with engine.begin() as conn:
        await conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(actor="someone-else"))
    assert await wardgate("audit", "verify", "--config", config) == 1
    assert "seq=3" in capsys.readouterr().err


@pytest.fixture(scope="module")
def pg_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    name = create_postgres_database()
    config = CONFIG.replace("sqlite:///{path}", postgres_url(name)).replace("{{", "{").replace("}}", "}")
    try:
        with gateway_from_yaml(config) as gw:
            yield gw
    finally:
        drop_postgres_database(name)


def test_the_admin_api_on_postgresql(pg_gateway: RunningGateway) -> None:
    with admin(pg_gateway) as c:
        project = create_project(c, metadata={"big": 2**70, "text": "nul \u0000 inside"}, allowed_models=["chat"])
        assert c.get(f"/admin/v1/projects/{project['id']}").json()["metadata"] == {
            "big": 2**70,
            "text": "nul \u0000 inside",
        }
        assert c.post("/admin/v1/projects", json={"name": "nul\u0000name"}).status_code == 400
        assert c.post("/admin/v1/projects", json={"name": project["name"]}).status_code == 409
        team = c.post(f"/admin/v1/projects/{project['id']}/teams", json={"name": "t"}).json()
        user = create_user(c)
        grant(c, user["id"], "team", team["id"], "member")
        key = c.post("/admin/v1/keys", json={"project": project["id"], "team": "t", "user": user["email"]}).json()
        assert chat(pg_gateway, key["key"]).status_code == 200
        flush(pg_gateway)
        report = c.get("/admin/v1/usage", params={"group_by": "project,team,user,model,day"}).json()
        assert [(r["project"], r["team"], r["user"], r["model"], r["requests"]) for r in report["rows"]] == [
            (project["id"], team["id"], user["id"], "chat", 1)
        ]
        assert report["rows"][0]["day"] == datetime.now(UTC).strftime("%Y-%m-%d")
        assert c.post(f"/admin/v1/keys/{key['id']}/revoke").status_code == 200
        assert chat(pg_gateway, key["key"]).status_code == 401
        assert c.delete(f"/admin/v1/projects/{project['id']}").status_code == 200
        flush(pg_gateway)
        verified = c.get("/admin/v1/audit/verify").json()
        assert verified["ok"] is True and verified["rows"] >= 6
