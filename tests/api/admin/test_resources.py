"""CRUD of every admin resource through a running gateway, with the master key (system admin)."""

from __future__ import annotations

import httpx

from tests.api.admin.support import create_project, create_user, flush, unique
from tests.support import RunningGateway
from wardgate.store.audit import verify
from wardgate.store.tables import audit_log


def test_a_project_is_created_read_changed_listed_and_deleted(client: httpx.Client) -> None:
    name = unique("search")
    created = client.post(
        "/admin/v1/projects",
        json={"name": name, "cost_center": "CC-42", "allowed_models": ["chat"], "metadata": {"owner": "ada"}},
    )
    assert created.status_code == 201
    project = created.json()
    assert project["object"] == "project" and project["name"] == name and project["id"].startswith("prj_")
    assert (project["cost_center"], project["allowed_models"], project["metadata"]) == (
        "CC-42",
        ["chat"],
        {"owner": "ada"},
    )
    assert project["created_at"].endswith("Z")

    assert client.get(f"/admin/v1/projects/{project['id']}").json() == project
    changed = client.patch(f"/admin/v1/projects/{project['id']}", json={"cost_center": "CC-7", "allowed_models": None})
    assert changed.status_code == 200
    assert (changed.json()["cost_center"], changed.json()["allowed_models"], changed.json()["name"]) == (
        "CC-7",
        None,
        name,
    )
    assert project["id"] in [p["id"] for p in client.get("/admin/v1/projects").json()["data"]]

    deleted = client.delete(f"/admin/v1/projects/{project['id']}")
    assert deleted.json() == {"object": "project", "id": project["id"], "deleted": True}
    assert client.get(f"/admin/v1/projects/{project['id']}").status_code == 404
    assert client.delete(f"/admin/v1/projects/{project['id']}").status_code == 404


def test_duplicate_names_conflict(client: httpx.Client) -> None:
    project = create_project(client)
    again = client.post("/admin/v1/projects", json={"name": project["name"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    other = create_project(client)
    renamed = client.patch(f"/admin/v1/projects/{other['id']}", json={"name": project["name"]})
    assert renamed.status_code == 409
    client.post(f"/admin/v1/projects/{project['id']}/teams", json={"name": "ranking"})
    assert client.post(f"/admin/v1/projects/{project['id']}/teams", json={"name": "ranking"}).status_code == 409


def test_bad_bodies_answer_400_naming_the_field(client: httpx.Client) -> None:
    cases = [
        ({"name": 5}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x", "colour": "red"}, "colour"),
        ({"name": "x", "allowed_models": "chat"}, "allowed_models"),
        ({"name": "bad\x00name"}, "name"),
        ({}, "name"),
    ]
    for body, field in cases:
        response = client.post("/admin/v1/projects", json=body)
        assert response.status_code == 400, body
        error = response.json()["error"]
        assert error["param"] == field and error["type"] == "invalid_request_error" and field in error["message"]
    not_json = client.post("/admin/v1/projects", content=b"{nope", headers={"content-type": "application/json"})
    assert not_json.status_code == 400 and not_json.json()["error"]["code"] == "invalid_json"
    assert client.post("/admin/v1/projects", json=["a list"]).status_code == 400
    project = create_project(client)
    null_name = client.patch(f"/admin/v1/projects/{project['id']}", json={"name": None})
    assert null_name.status_code == 400 and null_name.json()["error"]["param"] == "name"


def test_teams_and_agents_belong_to_a_project(client: httpx.Client) -> None:
    project = create_project(client)
    base = f"/admin/v1/projects/{project['id']}"
    team = client.post(base + "/teams", json={"name": "ranking"})
    assert team.status_code == 201 and team.json()["project_id"] == project["id"]
    assert [t["name"] for t in client.get(base + "/teams").json()["data"]] == ["ranking"]
    agent = client.post(base + "/agents", json={"name": "crawler"})
    assert agent.status_code == 201 and agent.json()["object"] == "agent"
    assert [a["id"] for a in client.get(base + "/agents").json()["data"]] == [agent.json()["id"]]
    assert client.delete(f"/admin/v1/teams/{team.json()['id']}").json()["deleted"] is True
    assert client.get(base + "/teams").json()["data"] == []
    assert client.delete(f"/admin/v1/teams/{team.json()['id']}").status_code == 404
    assert client.get("/admin/v1/projects/prj_nope/teams").status_code == 404
    assert client.post("/admin/v1/projects/prj_nope/agents", json={"name": "a"}).status_code == 404


def test_users_and_their_roles_at_each_tier(client: httpx.Client) -> None:
    project = create_project(client)
    team = client.post(f"/admin/v1/projects/{project['id']}/teams", json={"name": "t"}).json()
    email = f"{unique('ada')}@example.com"
    user = client.post("/admin/v1/users", json={"email": email, "name": "Ada"})
    assert user.status_code == 201 and user.json()["roles"] == []
    user_id = user.json()["id"]
    assert client.post("/admin/v1/users", json={"email": email}).status_code == 409
    assert client.post("/admin/v1/users", json={"email": "not-an-email"}).json()["error"]["param"] == "email"

    roles = f"/admin/v1/users/{user_id}/roles"
    project_role = client.put(roles, json={"scope": "project", "scope_id": project["id"], "role": "admin"})
    assert project_role.json() == {
        "object": "role",
        "user_id": user_id,
        "scope": "project",
        "scope_id": project["id"],
        "role": "admin",
    }
    assert client.put(roles, json={"scope": "team", "scope_id": team["id"], "role": "viewer"}).status_code == 200
    assert client.put(roles, json={"scope": "system", "role": "viewer"}).json()["scope_id"] is None
    assert client.put(roles, json={"scope": "project", "scope_id": project["id"], "role": "member"}).status_code == 200
    seen = client.get(f"/admin/v1/users/{email}").json()  # by email too
    assert seen["id"] == user_id
    assert sorted((r["scope"], r["role"]) for r in seen["roles"]) == [
        ("project", "member"),
        ("system", "viewer"),
        ("team", "viewer"),
    ]
    assert user_id in [u["id"] for u in client.get("/admin/v1/users").json()["data"]]

    removed = client.request("DELETE", roles, json={"scope": "team", "scope_id": team["id"]})
    assert removed.status_code == 200
    assert client.request("DELETE", roles, json={"scope": "system"}).status_code == 200
    assert [(r["scope"], r["role"]) for r in client.get(f"/admin/v1/users/{user_id}").json()["roles"]] == [
        ("project", "member")
    ]

    bad = client.put(roles, json={"scope": "project", "role": "admin"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "scope_id"
    assert client.put(roles, json={"scope": "galaxy", "role": "admin"}).status_code == 400
    assert client.put(roles, json={"scope": "project", "scope_id": project["id"], "role": "owner"}).status_code == 400
    assert client.put(roles, json={"scope": "project", "scope_id": "prj_nope", "role": "admin"}).status_code == 404
    assert client.put("/admin/v1/users/usr_nope/roles", json={"scope": "system", "role": "admin"}).status_code == 404
    assert client.get("/admin/v1/users/usr_nope").status_code == 404


def test_unknown_paths_and_methods_answer_in_the_error_shape(client: httpx.Client) -> None:
    missing = client.get("/admin/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    wrong = client.put("/admin/v1/projects")
    assert wrong.status_code == 405 and "POST" in wrong.headers["allow"]


def test_every_change_is_audited_without_the_key(gateway: RunningGateway, client: httpx.Client) -> None:
    project = create_project(client)
    team = client.post(f"/admin/v1/projects/{project['id']}/teams", json={"name": "t"}).json()
    user = create_user(client)
    client.put(
        f"/admin/v1/users/{user['id']}/roles", json={"scope": "project", "scope_id": project["id"], "role": "viewer"}
    )
    client.post(f"/admin/v1/projects/{project['id']}/agents", json={"name": "bot"})
    created = client.post("/admin/v1/keys", json={"project": project["id"], "team": team["id"]}).json()
    client.post(f"/admin/v1/keys/{created['id']}/rotate", json={"overlap_hours": 1})
    client.post(f"/admin/v1/keys/{created['id']}/revoke")
    client.patch(f"/admin/v1/projects/{project['id']}", json={"cost_center": "CC"})
    client.delete(f"/admin/v1/teams/{team['id']}")
    flush(gateway)

    async def rows() -> list[dict[str, object]]:
        async with gateway.worker.engine.connect() as conn:
            result = await conn.execute(audit_log.select().where(audit_log.c.actor == "master"))
            return [dict(r) for r in result.mappings()]

    entries = gateway.run(rows())
    actions = {str(r["action"]) for r in entries}
    assert {
        "project.create",
        "team.create",
        "user.create",
        "role.grant",
        "agent.create",
        "key.create",
        "key.rotate",
        "key.revoke",
        "project.update",
        "team.delete",
    } <= actions
    key_create = next(r for r in entries if r["action"] == "key.create" and r["target"] == created["id"])
    assert created["prefix"] in str(key_create["details"])
    assert all(created["key"] not in str(r["details"]) for r in entries)
    assert gateway.run(verify(gateway.worker.engine, gateway.worker.audit_log.key)).ok
