"""The three-tier roles: a project the caller has no role in is invisible (404); a visible one they may not change
answers 403; members manage only their own keys; viewers only read; system roles reach every project."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.api.admin.support import admin, create_project, create_user, grant, user_key
from tests.support import RunningGateway


@dataclass
class Tenants:
    mine: dict[str, str]
    theirs: dict[str, str]
    team: dict[str, str]
    admin: httpx.Client
    member: httpx.Client
    viewer: httpx.Client
    team_member: httpx.Client
    admin_id: str
    member_id: str
    viewer_id: str
    team_member_id: str


@pytest.fixture(scope="module")
def tenants(gateway: RunningGateway) -> Iterator[Tenants]:
    with admin(gateway) as root:
        mine, theirs = create_project(root), create_project(root)
        team = root.post(f"/admin/v1/projects/{mine['id']}/teams", json={"name": "ranking"}).json()
        people = {}
        for role in ("admin", "member", "viewer"):
            user = create_user(root)
            grant(root, user["id"], "project", mine["id"], role)
            people[role] = user["id"]
        team_member = create_user(root)
        grant(root, team_member["id"], "team", team["id"], "member")
        people["team_member"] = team_member["id"]
        keys = {role: user_key(root, mine["id"], uid) for role, uid in people.items()}
    clients = {role: admin(gateway, key) for role, key in keys.items()}
    yield Tenants(
        mine,
        theirs,
        team,
        clients["admin"],
        clients["member"],
        clients["viewer"],
        clients["team_member"],
        people["admin"],
        people["member"],
        people["viewer"],
        people["team_member"],
    )
    for c in clients.values():
        c.close()


def test_no_credential_or_a_key_without_a_user_is_401(gateway: RunningGateway, client: httpx.Client) -> None:
    assert httpx.get(gateway.root + "/admin/v1/projects").status_code == 401
    project = create_project(client)
    unbound = client.post("/admin/v1/keys", json={"project": project["id"]}).json()["key"]
    with admin(gateway, unbound) as c:
        response = c.get("/admin/v1/projects")
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    with admin(gateway, "sk-wg-not-a-key") as c:
        assert c.get("/admin/v1/projects").status_code == 401


def test_a_project_admin_cannot_see_another_project(tenants: Tenants) -> None:
    c, theirs = tenants.admin, tenants.theirs["id"]
    assert [p["id"] for p in c.get("/admin/v1/projects").json()["data"]] == [tenants.mine["id"]]
    for method, path, body in [
        ("GET", f"/admin/v1/projects/{theirs}", None),
        ("PATCH", f"/admin/v1/projects/{theirs}", {"cost_center": "stolen"}),
        ("DELETE", f"/admin/v1/projects/{theirs}", None),
        ("GET", f"/admin/v1/projects/{theirs}/teams", None),
        ("POST", f"/admin/v1/projects/{theirs}/teams", {"name": "x"}),
        ("GET", f"/admin/v1/projects/{theirs}/agents", None),
        ("GET", f"/admin/v1/keys?project={theirs}", None),
        ("POST", "/admin/v1/keys", {"project": theirs}),
        ("GET", f"/admin/v1/usage?project={theirs}", None),
    ]:
        response = c.request(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert response.json()["error"]["code"] == "not_found"
    # the same answer as for a project that does not exist: nothing tells the two apart
    assert c.get("/admin/v1/projects/prj_0000").json()["error"]["message"] == "no project 'prj_0000'"
    assert c.get(f"/admin/v1/projects/{theirs}").json()["error"]["message"] == f"no project {theirs!r}"


def test_a_project_admin_manages_their_project(tenants: Tenants) -> None:
    c, mine = tenants.admin, tenants.mine["id"]
    assert c.patch(f"/admin/v1/projects/{mine}", json={"cost_center": "CC-9"}).status_code == 200
    assert c.post(f"/admin/v1/projects/{mine}/agents", json={"name": "helper"}).status_code == 201
    key = c.post("/admin/v1/keys", json={"project": mine, "user": tenants.viewer_id})
    assert key.status_code == 201
    assert c.post(f"/admin/v1/keys/{key.json()['id']}/revoke").status_code == 200
    newcomer = c.post("/admin/v1/users", json={"email": "newcomer@example.com"})
    assert newcomer.status_code == 201
    grant(c, newcomer.json()["id"], "project", mine, "viewer")
    # but creating or deleting projects and system roles stay with system admins
    assert c.post("/admin/v1/projects", json={"name": "mine-too"}).status_code == 403
    assert c.delete(f"/admin/v1/projects/{mine}").status_code == 403
    system = c.put(f"/admin/v1/users/{tenants.admin_id}/roles", json={"scope": "system", "role": "admin"})
    assert system.status_code == 403
    assert c.get("/admin/v1/audit/verify").status_code == 403


def test_a_viewer_reads_but_cannot_write(tenants: Tenants) -> None:
    c, mine = tenants.viewer, tenants.mine["id"]
    assert c.get(f"/admin/v1/projects/{mine}").status_code == 200
    assert c.get(f"/admin/v1/projects/{mine}/teams").status_code == 200
    assert c.get(f"/admin/v1/keys?project={mine}").status_code == 200
    assert c.get("/admin/v1/usage").status_code == 200
    for method, path, body in [
        ("PATCH", f"/admin/v1/projects/{mine}", {"cost_center": "x"}),
        ("POST", f"/admin/v1/projects/{mine}/teams", {"name": "x"}),
        ("POST", f"/admin/v1/projects/{mine}/agents", {"name": "x"}),
        ("DELETE", f"/admin/v1/teams/{tenants.team['id']}", None),
        ("POST", "/admin/v1/keys", {"project": mine}),
        ("POST", "/admin/v1/keys", {"project": mine, "user": tenants.viewer_id}),
        ("PUT", f"/admin/v1/users/{tenants.viewer_id}/roles", {"scope": "project", "scope_id": mine, "role": "admin"}),
        ("POST", "/admin/v1/users", {"email": "someone@example.com"}),
    ]:
        response = c.request(method, path, json=body)
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "permission_denied"


def test_a_member_creates_and_manages_keys_only_for_themselves(tenants: Tenants) -> None:
    c, mine = tenants.member, tenants.mine["id"]
    own = c.post("/admin/v1/keys", json={"project": mine})
    assert own.status_code == 201 and own.json()["user_id"] == tenants.member_id  # defaults to the caller
    assert c.post("/admin/v1/keys", json={"project": mine, "user": tenants.member_id}).status_code == 201
    assert c.post("/admin/v1/keys", json={"project": mine, "user": tenants.viewer_id}).status_code == 403
    assert c.post(f"/admin/v1/keys/{own.json()['id']}/rotate", json={"overlap_hours": 0}).status_code == 201
    assert c.post(f"/admin/v1/keys/{own.json()['id']}/revoke").status_code == 200
    others = tenants.admin.post("/admin/v1/keys", json={"project": mine, "user": tenants.viewer_id}).json()
    assert c.get(f"/admin/v1/keys/{others['id']}").status_code == 200  # may read it
    assert c.post(f"/admin/v1/keys/{others['id']}/revoke").status_code == 403
    assert c.patch(f"/admin/v1/projects/{mine}", json={"cost_center": "x"}).status_code == 403


def test_a_team_role_reaches_the_teams_keys_only(tenants: Tenants) -> None:
    c, mine, team = tenants.team_member, tenants.mine["id"], tenants.team["id"]
    assert [p["id"] for p in c.get("/admin/v1/projects").json()["data"]] == [mine]  # visible, as a viewer
    assert c.post("/admin/v1/keys", json={"project": mine}).status_code == 403
    created = c.post("/admin/v1/keys", json={"project": mine, "team": "ranking"})
    assert created.status_code == 201
    assert (created.json()["team_id"], created.json()["user_id"]) == (team, tenants.team_member_id)
    assert c.get(f"/admin/v1/projects/{tenants.theirs['id']}").status_code == 404


def test_users_outside_the_callers_projects_are_hidden(tenants: Tenants, client: httpx.Client) -> None:
    stranger = create_user(client)
    grant(client, stranger["id"], "project", tenants.theirs["id"], "admin")
    listed = {u["id"] for u in tenants.viewer.get("/admin/v1/users").json()["data"]}
    assert tenants.admin_id in listed and tenants.viewer_id in listed and stranger["id"] not in listed
    assert tenants.viewer.get(f"/admin/v1/users/{stranger['id']}").status_code == 404
    # a project admin may look anyone up (to give them a role) but does not see their other roles
    looked_up = tenants.admin.get(f"/admin/v1/users/{stranger['id']}")
    assert looked_up.status_code == 200 and looked_up.json()["roles"] == []


def test_a_system_viewer_reads_everything_and_changes_nothing(gateway: RunningGateway, tenants: Tenants) -> None:
    with admin(gateway) as root:
        auditor = create_user(root)
        grant(root, auditor["id"], "system", None, "viewer")
        key = user_key(root, tenants.theirs["id"], auditor["id"])
    with admin(gateway, key) as c:
        seen = {p["id"] for p in c.get("/admin/v1/projects").json()["data"]}
        assert {tenants.mine["id"], tenants.theirs["id"]} <= seen
        assert c.get(f"/admin/v1/keys?project={tenants.mine['id']}").status_code == 200
        assert c.patch(f"/admin/v1/projects/{tenants.mine['id']}", json={"cost_center": "x"}).status_code == 403
        assert c.post("/admin/v1/projects", json={"name": "nope"}).status_code == 403
        assert c.get("/admin/v1/audit/verify").status_code == 403


def test_a_system_admin_user_can_do_everything(gateway: RunningGateway, tenants: Tenants) -> None:
    with admin(gateway) as root:
        boss = create_user(root)
        grant(root, boss["id"], "system", None, "admin")
        key = user_key(root, tenants.theirs["id"], boss["id"])
    with admin(gateway, key) as c:
        project = create_project(c)
        assert c.delete(f"/admin/v1/projects/{project['id']}").status_code == 200
        assert c.get("/admin/v1/audit/verify").status_code == 200
        assert c.get(f"/admin/v1/keys?project={tenants.mine['id']}").status_code == 200
