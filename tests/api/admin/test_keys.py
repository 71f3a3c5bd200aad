"""Virtual keys through the admin API, used on the data plane of the same gateway."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from tests.api.admin.support import chat, create_project, create_user
from tests.support import RunningGateway


def test_the_key_is_shown_once_and_never_again(gateway: RunningGateway, client: httpx.Client) -> None:
    project = create_project(client)
    created = client.post("/admin/v1/keys", json={"project": project["name"], "name": "ci", "tags": {"env": "prod"}})
    assert created.status_code == 201
    body = created.json()
    secret = body["key"]
    assert secret.startswith("sk-wg-") and body["prefix"] == secret[: len(body["prefix"])]
    assert (body["project_id"], body["name"], body["tags"], body["status"]) == (
        project["id"],
        "ci",
        {"env": "prod"},
        "active",
    )
    read = client.get(f"/admin/v1/keys/{body['id']}")
    listed = client.get(f"/admin/v1/keys?project={project['id']}")
    everything = client.get("/admin/v1/keys")
    for response in (read, listed, everything):
        assert response.status_code == 200
        assert secret not in response.text and '"key":' not in response.text
    assert read.json()["prefix"] == body["prefix"]
    assert [k["id"] for k in listed.json()["data"]] == [body["id"]]
    assert chat(gateway, secret).status_code == 200


def test_a_revoked_key_is_refused_at_once_on_this_gateway(gateway: RunningGateway, client: httpx.Client) -> None:
    project = create_project(client)
    created = client.post("/admin/v1/keys", json={"project": project["id"]}).json()
    assert chat(gateway, created["key"]).status_code == 200  # now in the key cache
    revoked = client.post(f"/admin/v1/keys/{created['id']}/revoke")
    assert revoked.status_code == 200
    assert revoked.json()["status"] == "revoked" and revoked.json()["revoked_at"] is not None
    refused = chat(gateway, created["key"])
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert client.post(f"/admin/v1/keys/{created['id']}/revoke").status_code == 200  # idempotent
    assert client.post(f"/admin/v1/keys/{created['id']}/rotate").status_code == 409
    assert client.post("/admin/v1/keys/key_nope/revoke").status_code == 404


def test_rotation_keeps_the_old_key_for_the_overlap(gateway: RunningGateway, client: httpx.Client) -> None:
    project = create_project(client)
    old = client.post("/admin/v1/keys", json={"project": project["id"], "models": ["chat"]}).json()
    rotated = client.post(f"/admin/v1/keys/{old['id']}/rotate", json={"overlap_hours": 2})
    assert rotated.status_code == 201
    new = rotated.json()
    assert new["rotated_from"] == old["id"] and new["key"] != old["key"] and new["models"] == ["chat"]
    expires = datetime.fromisoformat(client.get(f"/admin/v1/keys/{old['id']}").json()["expires_at"])
    assert timedelta(hours=1.9) < expires - datetime.now(UTC) <= timedelta(hours=2)
    assert chat(gateway, old["key"]).status_code == 200  # within the overlap
    assert chat(gateway, new["key"]).status_code == 200

    again = client.post(f"/admin/v1/keys/{new['id']}/rotate", json={"overlap_hours": 0}).json()
    assert chat(gateway, new["key"]).status_code == 401  # no overlap: refused at once
    assert chat(gateway, again["key"]).status_code == 200
    default = client.post(f"/admin/v1/keys/{again['id']}/rotate")  # no body: 24 h
    assert default.status_code == 201
    left = datetime.fromisoformat(client.get(f"/admin/v1/keys/{again['id']}").json()["expires_at"]) - datetime.now(UTC)
    assert timedelta(hours=23.9) < left <= timedelta(hours=24)


def test_scope_expiry_and_models_are_checked(gateway: RunningGateway, client: httpx.Client) -> None:
    project = create_project(client, allowed_models=["chat"])
    other = create_project(client)
    team = client.post(f"/admin/v1/projects/{project['id']}/teams", json={"name": "core"}).json()
    agent = client.post(f"/admin/v1/projects/{project['id']}/agents", json={"name": "bot"}).json()
    user = create_user(client)
    scoped = client.post(
        "/admin/v1/keys",
        json={"project": project["id"], "team": "core", "agent": "bot", "user": user["email"], "expires_in_days": 7},
    )
    assert scoped.status_code == 201
    key = scoped.json()
    assert (key["team_id"], key["agent_id"], key["user_id"]) == (team["id"], agent["id"], user["id"])
    assert timedelta(days=6.9) < datetime.fromisoformat(key["expires_at"]) - datetime.now(UTC) <= timedelta(days=7)

    def error(body: dict[str, object]) -> tuple[int, str | None]:
        response = client.post("/admin/v1/keys", json=body)
        return response.status_code, response.json()["error"]["param"]

    past = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert error({"project": project["id"], "expires_at": past}) == (400, "expires_at")
    assert error({"project": project["id"], "expires_at": "2030-01-01"}) == (400, "expires_at")
    assert error({"project": project["id"], "expires_at": future, "expires_in_days": 1})[0] == 400
    assert error({"project": project["id"], "models": ["other"]}) == (400, "models")
    assert error({"project": project["id"], "expires_in_days": "7"}) == (400, "expires_in_days")
    assert error({"project": project["id"], "key": "sk-wg-mine"}) == (400, "key")
    assert client.post("/admin/v1/keys", json={"project": other["id"], "team": team["id"]}).status_code == 404
    assert client.post("/admin/v1/keys", json={"project": project["id"], "agent": "ghost"}).status_code == 404
    assert client.post("/admin/v1/keys", json={"project": project["id"], "expires_at": future}).status_code == 201


def test_a_key_limited_to_some_models_is_refused_the_others(gateway: RunningGateway, client: httpx.Client) -> None:
    project = create_project(client)
    key = client.post("/admin/v1/keys", json={"project": project["id"], "models": ["chat"]}).json()["key"]
    assert chat(gateway, key, "chat").status_code == 200
    assert chat(gateway, key, "other").status_code in (403, 404)


def test_an_expired_key_is_listed_as_expired(client: httpx.Client) -> None:
    project = create_project(client)
    old = client.post("/admin/v1/keys", json={"project": project["id"]}).json()
    client.post(f"/admin/v1/keys/{old['id']}/rotate", json={"overlap_hours": 0})
    statuses = {k["id"]: k["status"] for k in client.get(f"/admin/v1/keys?project={project['id']}").json()["data"]}
    assert statuses[old["id"]] == "expired" and sorted(statuses.values()) == ["active", "expired"]
