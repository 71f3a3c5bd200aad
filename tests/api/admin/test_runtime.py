"""Budgets, cache and deployments through the admin API of a running gateway."""

from __future__ import annotations

import httpx

from tests.api.admin.support import admin, chat, create_project, unique
from tests.support import MASTER_KEY, RunningGateway


def test_a_budget_created_in_the_admin_api_is_enforced_at_once(client: httpx.Client, gateway: RunningGateway) -> None:
    name = unique("cap")
    created = client.post(
        "/admin/v1/budgets", json={"name": name, "scope": "global", "window": "day", "limit_tokens": 1, "cap": "hard"}
    )
    assert created.status_code == 201, created.text
    refused = chat(gateway, MASTER_KEY)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    state = client.get(f"/admin/v1/budgets/{name}").json()["data"][0]
    assert (state["limit"], state["unit"], state["scope_value"]) == (1, "tokens", "*")
    assert (
        client.post("/admin/v1/budgets", json={"name": name, "scope": "global", "limit_tokens": 5}).status_code == 409
    )
    bad = client.post("/admin/v1/budgets", json={"name": unique("b"), "scope": "global"})
    assert bad.status_code == 400 and "limit" in bad.json()["error"]["message"]
    assert client.delete(f"/admin/v1/budgets/{name}").json() == {"object": "budget", "id": name, "deleted": True}
    assert chat(gateway, MASTER_KEY).status_code == 200


def test_budget_changes_need_a_system_admin(gateway: RunningGateway) -> None:
    with admin(gateway, "sk-wg-not-a-real-key") as stranger:
        assert (
            stranger.post("/admin/v1/budgets", json={"name": "x", "scope": "global", "limit_tokens": 5}).status_code
            == 401
        )


def test_cache_invalidation_and_stats_answer(client: httpx.Client) -> None:
    project = create_project(client)
    done = client.post("/admin/v1/cache/invalidate", json={"scope": "project", "value": project["id"]})
    assert done.status_code == 200 and done.json()["generation"] >= 1
    assert client.post("/admin/v1/cache/invalidate", json={"scope": "model"}).status_code == 400
    stats = client.get("/admin/v1/cache/stats", params={"group_by": "project,model"})
    assert stats.status_code == 200 and isinstance(stats.json()["data"], list)


def test_deployments_show_health_and_breakers(client: httpx.Client, gateway: RunningGateway) -> None:
    chat(gateway, MASTER_KEY)
    rows = client.get("/admin/v1/deployments").json()["data"]
    assert rows and all("deployment" in r or "name" in r for r in rows)
    assert client.post("/admin/v1/models/chat/canary/promote").status_code == 404  # no canary configured
