"""Every store operation on SQLite and on the real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from wardgate.store.common import Conflict, NotFoundInStore
from wardgate.store.keys import KEY_PREFIX, KeyStore, key_hash
from wardgate.store.tenancy import TenancyStore
from wardgate.store.usage import UsageEvent, aggregate, by_request_id, chargeback, insert_events


async def test_projects_teams_users_agents_and_roles(engine: AsyncEngine) -> None:
    store = TenancyStore(engine)
    project = await store.create_project("search", cost_center="CC-42", allowed_models=["gpt"])
    assert (await store.get_project(project.id)).allowed_models == ("gpt",)
    assert (await store.find_project("search")).id == project.id
    with pytest.raises(Conflict):
        await store.create_project("search")
    team = await store.create_team(project.id, "ranking")
    assert (await store.find_team(project.id, "ranking")).id == team.id
    with pytest.raises(Conflict):
        await store.create_team(project.id, "ranking")
    user = await store.create_user("ada@example.com", name="Ada")
    await store.grant(user.id, "project", project.id, "admin")
    await store.grant(user.id, "team", team.id, "viewer")
    await store.grant(user.id, "project", project.id, "member")  # replaces
    roles = sorted((m.scope_kind, m.role) for m in await store.memberships_of(user.id))
    assert roles == [("project", "member"), ("team", "viewer")]
    agent = await store.create_agent(project.id, "crawler")
    assert [a.id for a in await store.list_agents(project.id)] == [agent.id]
    updated = await store.update_project(project.id, cost_center="CC-7", allowed_models=None)
    assert (updated.cost_center, updated.allowed_models) == ("CC-7", None)
    await store.delete_project(project.id)
    with pytest.raises(NotFoundInStore):
        await store.get_team(team.id)  # cascaded


async def test_keys_are_stored_as_hashes_and_can_be_revoked_and_rotated(engine: AsyncEngine) -> None:
    project = await TenancyStore(engine).create_project("p")
    keys = KeyStore(engine)
    secret, record = await keys.create(project.id, models=["gpt"], name="ci", tags={"env": "prod"})
    assert secret.startswith(KEY_PREFIX) and record.prefix == secret[: len(record.prefix)]
    found = await keys.by_hash(key_hash(secret))
    assert found is not None and found.id == record.id and found.models == ("gpt",) and found.tags == {"env": "prod"}
    assert await keys.by_hash(key_hash(secret + "x")) is None
    now = datetime.now(UTC)
    assert found.usable_at(now)
    new_secret, new_record = await keys.rotate(record.id, overlap=timedelta(minutes=5))
    old = await keys.get(record.id)
    assert old.usable_at(now) and not old.usable_at(now + timedelta(minutes=6))
    assert new_record.rotated_from == record.id and new_secret != secret
    revoked = await keys.revoke(new_record.id)
    assert revoked.revoked_at is not None and not revoked.usable_at(now)
    assert {k.id for k in await keys.list([project.id])} == {record.id, new_record.id}


def event(request_id: str, project: str | None, model: str, cost: int, ts: datetime) -> UsageEvent:
    return UsageEvent(
        request_id=request_id,
        ts=ts,
        principal_kind="key",
        principal_id="k",
        surface="openai",
        operation="chat",
        model=model,
        status=200,
        project_id=project,
        input_tokens=10,
        output_tokens=5,
        cached_tokens=2,
        cost_nanousd=cost,
    )


async def test_usage_batches_are_idempotent_and_aggregate(engine: AsyncEngine) -> None:
    project = await TenancyStore(engine).create_project("billing", cost_center="CC-1")
    t0 = datetime(2026, 11, 3, 12, tzinfo=UTC)
    batch = [
        event("r1", project.id, "gpt", 100, t0),
        event("r2", project.id, "gpt", 50, t0),
        event("r3", project.id, "claude", 7, t0 + timedelta(days=1)),
        event("r4", None, "gpt", 1, t0),
    ]
    await insert_events(engine, batch)
    await insert_events(engine, batch[:2])  # a retried flush
    rows = await aggregate(engine, ["project", "model"], start=t0 - timedelta(days=1), end=t0 + timedelta(days=2))
    by = {(r["project"], r["model"]): r for r in rows}
    assert by[(project.id, "gpt")]["requests"] == 2 and by[(project.id, "gpt")]["cost_nanousd"] == 150
    assert by[(project.id, "claude")]["input_tokens"] == 10
    days = await aggregate(engine, ["day"], project_ids=[project.id])
    assert [(d["day"], d["requests"]) for d in days] == [("2026-11-03", 2), ("2026-11-04", 1)]
    charge = await chargeback(engine, datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert {(c["cost_center"], c["model"], c["cost_nanousd"]) for c in charge if c["project_id"]} == {
        ("CC-1", "claude", 7),
        ("CC-1", "gpt", 150),
    }
    row = await by_request_id(engine, "r1")
    assert row is not None and row["cached_tokens"] == 2
