"""What the console's tables read, in the admin API: the projects, users, guards and prompts lists paged on the server
(limit and cursor; hostile values are 400s on the parameter at fault, never 500s; a cursor outside the caller's rows is
refused), each key's last use, and the audit entries of one request (the console's drill-down from a ledger row)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.api.admin.support import admin, chat, create_project, create_user, flush, grant, unique, user_key
from tests.support import RunningGateway

LISTS = ("/admin/v1/projects", "/admin/v1/users", "/admin/v1/guards", "/admin/v1/prompts")


def _key(path: str, row: dict[str, Any]) -> str:
    if path.endswith("prompts"):
        return f"{row['project']}/{row['name']}"
    return str(row["name"] if path.endswith("guards") else row["id"])


def _walk(client: httpx.Client, path: str, limit: int) -> tuple[list[str], int]:
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        response = client.get(path, params={"limit": limit, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["data"]) <= limit
        seen += [_key(path, r) for r in body["data"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return seen, pages


def test_each_list_pages_in_order_without_repeats(gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        project = create_project(master)
        for _ in range(4):
            create_project(master)
            create_user(master)
            made = master.post("/admin/v1/prompts", json={"name": unique("p"), "project": project["id"]})
            assert made.status_code == 201, made.text
            guard = {"name": unique("g"), "type": "regex", "patterns": ["zz-never-zz"], "scope": "project"}
            assert master.post("/admin/v1/guards", json={**guard, "match": project["id"]}).status_code == 201
        for path in LISTS:
            whole = master.get(path).json()
            assert whole["next_cursor"] is None and len(whole["data"]) >= 4, path
            expected = [_key(path, r) for r in whole["data"]]
            seen, pages = _walk(master, path, 3)
            assert seen == expected, path
            assert pages == -(-len(expected) // 3), path


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(
    ("params", "param"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "\u00b2"}, "limit"),  # str.isdigit() says yes, int() says no
        ({"limit": "\u0663"}, "limit"),  # an Arabic-Indic 3
        ({"limit": "-1"}, "limit"),
        ({"limit": "1e3"}, "limit"),
        ({"limit": ""}, "limit"),
        ({"limit": "9" * 5000}, "limit"),
        ({"limit": "5", "cursor": "no-such-row"}, "cursor"),
        ({"limit": "5", "cursor": "\x00' OR 1=1 --"}, "cursor"),
        ({"limit": "5", "cursor": "x" * 401}, "cursor"),
        ({"cursor": "anything"}, "cursor"),
    ],
)
def test_hostile_paging_values_are_400s(gateway: RunningGateway, path: str, params: dict[str, str], param: str) -> None:
    with admin(gateway) as master:
        response = master.get(path, params=params)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param


def test_a_cursor_outside_the_callers_rows_is_refused(gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        mine, foreign = create_project(master), create_project(master)
        viewer = create_user(master)
        grant(master, viewer["id"], "project", mine["id"], "viewer")
        viewer_key = user_key(master, mine["id"], viewer["id"])
        stranger = create_user(master)
        foreign_prompt = unique("foreign")
        assert master.post("/admin/v1/prompts", json={"name": foreign_prompt, "project": foreign["id"]}).status_code
    with httpx.Client(base_url=gateway.root, headers={"authorization": f"Bearer {viewer_key}"}) as client:
        assert [p["id"] for p in client.get("/admin/v1/projects", params={"limit": 10}).json()["data"]] == [mine["id"]]
        for path, cursor in (
            ("/admin/v1/projects", foreign["id"]),
            ("/admin/v1/users", stranger["id"]),
            ("/admin/v1/prompts", f"{foreign['id']}/{foreign_prompt}"),
        ):
            response = client.get(path, params={"limit": 1, "cursor": cursor})
            assert response.status_code == 400 and response.json()["error"]["param"] == "cursor", (path, response.text)


def test_keys_show_their_last_use_to_the_hour(gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        project = create_project(master)
        used = master.post("/admin/v1/keys", json={"project": project["id"], "name": "used"}).json()
        idle = master.post("/admin/v1/keys", json={"project": project["id"], "name": "idle"}).json()
        before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        assert chat(gateway, used["key"]).status_code == 200
        flush(gateway)
        after = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        listed = {k["id"]: k for k in master.get("/admin/v1/keys", params={"project": project["id"]}).json()["data"]}
        hour = datetime.fromisoformat(listed[used["id"]]["last_used_hour"].replace("Z", "+00:00"))
        assert before <= hour <= after and listed[idle["id"]]["last_used_hour"] is None
        one = master.get(f"/admin/v1/keys/{used['id']}").json()
        assert one["last_used_hour"] == listed[used["id"]]["last_used_hour"]
        paged = master.get("/admin/v1/keys", params={"project": project["id"], "limit": 1}).json()["data"]
        assert paged[0]["last_used_hour"] == listed[used["id"]]["last_used_hour"]


def test_the_audit_trail_answers_for_one_request(gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        project = create_project(master)
        word = unique("forbidden")
        guard = {"name": unique("words"), "type": "regex", "patterns": [word], "scope": "project"}
        assert master.post("/admin/v1/guards", json={**guard, "match": project["id"]}).status_code == 201
        key = master.post("/admin/v1/keys", json={"project": project["id"]}).json()["key"]
        blocked = chat(gateway, key, text=f"say {word}")
        assert blocked.status_code == 400, blocked.text
        request_id = blocked.headers["x-request-id"]
        passed = chat(gateway, key)
        assert passed.status_code == 200
        flush(gateway)
        assert master.get(f"/admin/v1/usage/{request_id}").status_code == 200  # the ledger row the console starts from
        entries = master.get("/admin/v1/audit", params={"request": request_id}).json()["data"]
        assert entries and {e["details"]["request_id"] for e in entries} == {request_id}
        assert {(e["action"], e["target"]) for e in entries} == {("guard.block", guard["name"])}
        other = master.get("/admin/v1/audit", params={"request": passed.headers["x-request-id"]}).json()["data"]
        assert other == []
        assert master.get("/admin/v1/audit", params={"request": request_id[:-1] + "%"}).json()["data"] == []
        too_long = master.get("/admin/v1/audit", params={"request": "r" * 301})
        assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "request"
