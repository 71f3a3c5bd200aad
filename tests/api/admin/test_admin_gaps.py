"""The admin API's document validates; the audit trail can be read (filtered, paged, by role); cache invalidation
takes a project's name or id and refuses an unknown one; users can be deleted."""

from __future__ import annotations

from unittest.mock import MagicMock

import httpx
from openapi_spec_validator import validate

from tests.api.admin.support import admin, chat, create_project, create_user, flush, grant, unique, user_key
from tests.support import RunningGateway
from wardgate.api.admin.openapi import document
from wardgate.api.admin.resources import operations


def test_the_openapi_document_validates(client: httpx.Client) -> None:
    served = client.get("/admin/openapi.json").json()
    validate(served)  # raises on the first problem
    assert served == document(operations(MagicMock()))
    assert "/admin/v1/audit" in served["paths"] and "/admin/v1/rate-limits" in served["paths"]


def test_the_audit_trail_is_filtered_and_paged_newest_first(gateway: RunningGateway, client: httpx.Client) -> None:
    first = create_project(client)
    for i in range(5):
        assert client.post(f"/admin/v1/projects/{first['id']}/teams", json={"name": f"t{i}"}).status_code == 201
    flush(gateway)
    seen: list[dict[str, object]] = []
    cursor = None
    while True:
        params = {"project": first["name"], "action": "team.", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page = client.get("/admin/v1/audit", params=params).json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["details"]["name"] for e in seen] == ["t4", "t3", "t2", "t1", "t0"]
    assert {e["action"] for e in seen} == {"team.create"} and {e["actor"] for e in seen} == {"master"}
    assert all(e["project"] == first["id"] for e in seen)
    seqs = [e["seq"] for e in seen]
    assert seqs == sorted(seqs, reverse=True)
    created = client.get("/admin/v1/audit", params={"action": "project.create", "project": first["id"]}).json()
    assert [e["target"] for e in created["data"]] == [first["id"]]
    later = client.get("/admin/v1/audit", params={"from": "2999-01-01T00:00:00Z", "project": first["id"]}).json()
    assert later["data"] == []
    assert client.get("/admin/v1/audit", params={"limit": "0"}).status_code == 400
    assert client.get("/admin/v1/audit", params={"project": "no-such-project"}).status_code == 404


def test_a_project_admin_reads_only_their_projects_audit_entries(gateway: RunningGateway, client: httpx.Client) -> None:
    mine, theirs = create_project(client), create_project(client)
    user = create_user(client)
    grant(client, user["id"], "project", mine["id"], "admin")
    key = user_key(client, mine["id"], user["id"])
    client.post(f"/admin/v1/projects/{theirs['id']}/teams", json={"name": "hidden"})
    flush(gateway)
    with admin(gateway, key) as project_admin:
        entries = project_admin.get("/admin/v1/audit", params={"limit": "1000"}).json()["data"]
        assert entries and {e["project"] for e in entries} == {mine["id"]}
        assert project_admin.get("/admin/v1/audit", params={"project": theirs["id"]}).status_code == 404
    viewer = create_user(client)
    grant(client, viewer["id"], "project", mine["id"], "viewer")
    with admin(gateway, user_key(client, mine["id"], viewer["id"])) as read_only:
        assert read_only.get("/admin/v1/audit").status_code == 403


def test_cache_invalidation_takes_a_project_name_or_id_and_404s_an_unknown_one(
    gateway: RunningGateway, client: httpx.Client
) -> None:
    project = create_project(client)
    by_name = client.post("/admin/v1/cache/invalidate", json={"scope": "project", "value": project["name"]})
    assert by_name.status_code == 200 and by_name.json()["value"] == project["id"]
    by_id = client.post("/admin/v1/cache/invalidate", json={"scope": "project", "value": project["id"]})
    assert by_id.json()["generation"] == by_name.json()["generation"] + 1  # the same counter: the name reached it
    for body in ({"scope": "project", "value": unique("nowhere")}, {"scope": "model", "value": "no-such-model"}):
        assert client.post("/admin/v1/cache/invalidate", json=body).status_code == 404


def test_deleting_a_user_removes_their_keys(gateway: RunningGateway, client: httpx.Client) -> None:
    project, user = create_project(client), create_user(client)
    key = user_key(client, project["id"], user["id"])
    assert chat(gateway, key).status_code == 200
    assert client.delete(f"/admin/v1/users/{user['email']}").json() == {
        "object": "user",
        "id": user["id"],
        "deleted": True,
    }
    assert client.get(f"/admin/v1/users/{user['id']}").status_code == 404
    assert chat(gateway, key).status_code == 401
