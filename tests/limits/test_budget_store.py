"""Budgets made in the admin API: validated as every worker will load them before they are saved, and a bad row
planted in the store is skipped with a warning (log, metric, `GET /admin/v1/budgets`) instead of breaking loading."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import func, select

from tests.api.admin.support import CONFIG, admin, chat
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.tables import budgets, usage_events


@pytest.fixture
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    path = tmp_path_factory.mktemp("budget-store") / "wardgate.db"
    with gateway_from_yaml(CONFIG.format(path=path)) as gw:
        yield gw


def stored_names(gw: RunningGateway) -> list[str]:
    async def names() -> list[str]:
        async with gw.worker.engine.connect() as conn:
            return [r[0] for r in await conn.execute(select(budgets.c.name))]

    return gw.run(names())


def ledger_tokens(gw: RunningGateway) -> int:
    async def total() -> int:
        async with gw.worker.engine.connect() as conn:
            query = select(func.sum(usage_events.c.input_tokens + usage_events.c.output_tokens))
            return int((await conn.execute(query)).scalar_one() or 0)

    return gw.run(total())


def plant(gw: RunningGateway, name: str, config: object) -> None:
    async def insert() -> None:
        now = datetime.now(UTC)
        async with gw.worker.engine.begin() as conn:
            await conn.execute(budgets.insert().values(name=name, config=config, created_at=now, updated_at=now))

    gw.run(insert())


def test_an_absurd_budget_gets_a_400_and_nothing_is_saved(gateway: RunningGateway) -> None:
    with admin(gateway) as client:
        for body in (
            {"name": "huge", "scope": "global", "limit_usd": 1e300, "burst": {"over": 0.5, "duration_s": 60}},
            {"name": "huge", "scope": "global", "limit_usd": -5},
            {"name": "huge", "scope": "global", "limit_tokens": 2**70},
        ):
            response = client.post("/admin/v1/budgets", json=body)
            assert response.status_code == 400, response.text
            assert response.json()["error"]["type"] == "invalid_request_error"
        assert stored_names(gateway) == []
        # the admin API still works: a sane budget is saved and enforced
        ok = client.post("/admin/v1/budgets", json={"name": "sane", "scope": "global", "limit_usd": 5})
        assert ok.status_code == 201 and stored_names(gateway) == ["sane"]


def test_a_bad_stored_row_is_skipped_with_a_warning_and_the_others_still_load(
    gateway: RunningGateway, caplog: pytest.LogCaptureFixture
) -> None:
    plant(
        gateway, "huge", {"name": "huge", "scope": "global", "limit_usd": 1e300, "burst": {"over": 1, "duration_s": 5}}
    )
    plant(gateway, "shapeless", ["not", "a", "budget"])
    plant(gateway, "tiny", {"name": "tiny", "scope": "global", "window": "day", "limit_tokens": 1})
    refresher = gateway.worker.budget_refresher
    assert refresher is not None
    with caplog.at_level("ERROR", logger="wardgate.limits"):
        for _ in range(3):  # every reload: the same warnings, logged once
            gateway.run(refresher.load())
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 2 and all(len(e) <= 300 for e in errors)
    with admin(gateway) as client:
        listed = client.get("/admin/v1/budgets").json()
        warnings = listed["warnings"]
        assert len(warnings) == 2
        assert any("'huge'" in w and "at most 100000000" in w for w in warnings)
        assert any("'shapeless'" in w and "not a JSON object" in w for w in warnings)
        metrics = httpx.get(gateway.root + "/metrics").text
        assert "wardgate_budget_rows_skipped 2" in metrics
    # the valid row is enforced: one token a day refuses the next call
    refused = chat(gateway, MASTER_KEY)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"


def test_a_budget_created_mid_window_starts_from_the_spend_already_in_the_ledger(gateway: RunningGateway) -> None:
    for _ in range(3):
        assert chat(gateway, MASTER_KEY).status_code == 200
    gateway.run(gateway.worker.ledger.flush())
    with admin(gateway) as client:
        spent = ledger_tokens(gateway)
        assert spent > 0
        created = client.post(
            "/admin/v1/budgets", json={"name": "late", "scope": "global", "window": "day", "limit_tokens": spent}
        )
        assert created.status_code == 201
        # the window's spend already fills the new budget: the next call is refused, not counted from zero
        refused = chat(gateway, MASTER_KEY)
        assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
        state = client.get("/admin/v1/budgets/late").json()["data"][0]
        assert state["spent"] == spent


def test_a_reload_that_changes_nothing_keeps_the_compiled_rules(gateway: RunningGateway) -> None:
    """Stored budgets are re-read every limits.refresh_s on every worker; an unchanged row keeps its compiled rule
    (validating them all again ran on the event loop: ~35 ms per 1,000 budgets), a changed one is compiled again."""
    for i in range(3):
        plant(gateway, f"same-{i}", {"name": f"same-{i}", "scope": "project", "match": f"p{i}", "limit_usd": 5})
    refresher = gateway.worker.budget_refresher
    assert refresher is not None
    stage = refresher.stage
    gateway.run(refresher.load())
    first = {rule.config.name: rule for rule in stage.budgets}
    gateway.run(refresher.load())
    assert all(first[rule.config.name] is rule for rule in stage.budgets)

    async def change() -> None:
        async with gateway.worker.engine.begin() as conn:
            new = {"name": "same-1", "scope": "project", "match": "p1", "limit_usd": 7}
            await conn.execute(budgets.update().where(budgets.c.name == "same-1").values(config=new))

    gateway.run(change())
    gateway.run(refresher.load())
    now = {rule.config.name: rule for rule in stage.budgets}
    assert now["same-1"] is not first["same-1"] and now["same-1"].config.limit_usd == 7
    assert now["same-0"] is first["same-0"] and now["same-2"] is first["same-2"]
