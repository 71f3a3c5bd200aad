"""GET /admin/v1/keys paged on the server (limit and cursor), as the console's keys page reads it: every key once,
oldest first, only the caller's projects, and a cursor from another project (or none at all) is a 400."""

from __future__ import annotations

import httpx

from tests.api.admin.support import admin, create_project, create_user, grant, user_key
from tests.support import RunningGateway


def test_keys_page_by_cursor_within_the_callers_projects(gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        mine, other = create_project(master), create_project(master)
        made = [master.post("/admin/v1/keys", json={"project": mine["id"], "name": f"k{i}"}).json() for i in range(7)]
        foreign = master.post("/admin/v1/keys", json={"project": other["id"]}).json()
        whole = master.get("/admin/v1/keys", params={"project": mine["id"]}).json()
        assert [k["id"] for k in whole["data"]] == [k["id"] for k in made] and whole["next_cursor"] is None

        seen, cursor, pages = [], None, 0
        while True:
            params = {"project": mine["id"], "limit": 3, **({"cursor": cursor} if cursor else {})}
            page = master.get("/admin/v1/keys", params=params).json()
            seen += [k["id"] for k in page["data"]]
            pages += 1
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [k["id"] for k in made] and pages == 3  # 3 + 3 + 1, in creation order, none twice

        def refused(params: dict[str, object]) -> str:
            response = master.get("/admin/v1/keys", params=params)
            assert response.status_code == 400, response.text
            return str(response.json()["error"]["param"])

        assert refused({"project": mine["id"], "limit": 3, "cursor": foreign["id"]}) == "cursor"
        assert refused({"limit": 3, "cursor": "key_nothing"}) == "cursor"
        assert refused({"cursor": made[0]["id"]}) == "cursor"  # a cursor without a page size
        assert refused({"limit": 3, "cursor": "key_\x00' OR 1=1"}) == "cursor"
        assert refused({"limit": 0}) == "limit"
        assert refused({"limit": "1001"}) == "limit"

        viewer = create_user(master)
        grant(master, viewer["id"], "project", mine["id"], "viewer")
        viewer_key = user_key(master, mine["id"], viewer["id"])
    with httpx.Client(base_url=gateway.root, headers={"authorization": f"Bearer {viewer_key}"}) as client:
        first = client.get("/admin/v1/keys", params={"limit": 100}).json()
        assert foreign["id"] not in {k["id"] for k in first["data"]} and first["next_cursor"] is None
        across = client.get("/admin/v1/keys", params={"limit": 1, "cursor": foreign["id"]})
        assert across.status_code == 400 and across.json()["error"]["param"] == "cursor"  # not a way to probe ids
