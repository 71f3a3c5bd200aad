"""GET /admin/v1/usage/ledger: the requests behind a usage line, newest first, paged by cursor, only the caller's
projects (the console's drill-down)."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.api.admin.support import admin, chat, create_project, create_user, flush, grant, user_key
from tests.support import RunningGateway


def test_the_ledger_pages_by_cursor_and_keeps_to_the_callers_projects(gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        mine, other = create_project(master), create_project(master)
        key = master.post("/admin/v1/keys", json={"project": mine["id"]}).json()
        foreign = master.post("/admin/v1/keys", json={"project": other["id"]}).json()
        for _ in range(5):
            assert chat(gateway, key["key"]).status_code == 200
        assert chat(gateway, foreign["key"]).status_code == 200
        flush(gateway)
        first = master.get("/admin/v1/usage/ledger", params={"project": mine["id"], "limit": 2}).json()
        assert [r["project_id"] for r in first["data"]] == [mine["id"]] * 2 and first["next_cursor"]
        seen = [r["request_id"] for r in first["data"]]
        cursor = first["next_cursor"]
        while cursor:
            page = master.get("/admin/v1/usage/ledger", params={"project": mine["id"], "limit": 2, "cursor": cursor})
            seen += [r["request_id"] for r in page.json()["data"]]
            cursor = page.json()["next_cursor"]
        assert len(seen) == len(set(seen)) == 5
        by_key = master.get("/admin/v1/usage/ledger", params={"key": key["id"], "model": "chat"}).json()["data"]
        assert {r["request_id"] for r in by_key} == set(seen)
        assert master.get("/admin/v1/usage/ledger", params={"limit": 0}).json()["error"]["param"] == "limit"
        assert master.get("/admin/v1/usage/ledger", params={"from": "yesterday"}).status_code == 400

        viewer = create_user(master)
        grant(master, viewer["id"], "project", mine["id"], "viewer")
        viewer_key = user_key(master, mine["id"], viewer["id"])
    with httpx.Client(base_url=gateway.root, headers={"authorization": f"Bearer {viewer_key}"}) as client:
        everything = client.get("/admin/v1/usage/ledger", params={"limit": 100}).json()["data"]
        assert {r["project_id"] for r in everything} == {mine["id"]}
        refused = client.get("/admin/v1/usage/ledger", params={"project": other["id"]})
        assert refused.status_code == 404  # a foreign project does not exist for them
        assert client.get("/admin/v1/usage/ledger", params={"key": foreign["id"]}).json()["data"] == []


def test_health_counts_errors_and_reads_the_p95_of_latency(gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        project = create_project(master)
        key = master.post("/admin/v1/keys", json={"project": project["id"]}).json()
        for _ in range(3):
            assert chat(gateway, key["key"]).status_code == 200
        assert chat(gateway, key["key"], model="no-such-model").status_code == 404
        flush(gateway)
        ledger = master.get("/admin/v1/usage/ledger", params={"project": project["id"]}).json()["data"]
        latencies = sorted(r["latency_ms"] for r in ledger if r["latency_ms"] is not None)
        days = master.get("/admin/v1/usage/health", params={"project": project["id"]}).json()["data"]
        assert len(days) == 1
        day = days[0]
        assert (day["requests"], day["errors"]) == (4, 1)
        assert day["latency_p95_ms"] == latencies[-1]  # nearest rank: the 95th percentile of four is the largest
        long = master.get("/admin/v1/usage/health", params={"from": "2020-01-01T00:00:00Z", "project": project["id"]})
        assert long.status_code == 200 and long.json()["data"] == days  # clamped to the last 366 days
        assert master.get("/admin/v1/usage/health", params={"from": "x"}).json()["error"]["param"] == "from"


def test_chargeback_from_the_admin_api_keeps_to_the_callers_projects(gateway: RunningGateway) -> None:
    with admin(gateway) as master:
        mine, other = create_project(master, cost_center="CC-1"), create_project(master, cost_center="CC-2")
        for project in (mine, other):
            key = master.post("/admin/v1/keys", json={"project": project["id"]}).json()
            assert chat(gateway, key["key"]).status_code == 200
        flush(gateway)
        month = datetime.now(UTC).strftime("%Y-%m")
        everything = master.get("/admin/v1/chargeback", params={"month": month}).json()["data"]
        assert {mine["id"], other["id"]} <= {r["project_id"] for r in everything}
        text = master.get("/admin/v1/chargeback", params={"month": month, "format": "csv"})
        assert text.headers["content-type"].startswith("text/csv") and mine["name"] in text.text
        assert master.get("/admin/v1/chargeback").json()["error"]["param"] == "month"
        for bad in ("2026-13", "0000-01", "9999-12", "2026-1", "2026-00"):
            assert master.get("/admin/v1/chargeback", params={"month": bad}).status_code == 400, bad
        assert master.get("/admin/v1/chargeback", params={"month": month, "format": "xls"}).status_code == 400
        viewer = create_user(master)
        grant(master, viewer["id"], "project", mine["id"], "viewer")
        viewer_key = user_key(master, mine["id"], viewer["id"])
    with httpx.Client(base_url=gateway.root, headers={"authorization": f"Bearer {viewer_key}"}) as client:
        rows = client.get("/admin/v1/chargeback", params={"month": month}).json()["data"]
        assert {r["project_id"] for r in rows} == {mine["id"]} and rows[0]["cost_center"] == "CC-1"
