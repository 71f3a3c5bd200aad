"""The usage endpoints report exactly what the data plane wrote to the ledger, and only the caller's projects."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.admin.support import admin, chat, create_project, create_user, flush, grant, unique, user_key
from tests.support import MASTER_KEY, RunningGateway
from wardgate.api.admin.usage import usd
from wardgate.store.usage import by_request_id


@dataclass
class Traffic:
    a: dict[str, Any]
    b: dict[str, Any]
    team: dict[str, Any]
    user: dict[str, Any]
    ledger: dict[str, dict[str, Any]]  # request id → its ledger row
    viewer_key: str


@pytest.fixture(scope="module")
def traffic(gateway: RunningGateway) -> Iterator[Traffic]:
    with admin(gateway) as root:
        a, b = create_project(root), create_project(root)
        team = root.post(f"/admin/v1/projects/{a['id']}/teams", json={"name": "ranking"}).json()
        user = create_user(root)
        key_a = root.post("/admin/v1/keys", json={"project": a["id"], "team": team["id"], "user": user["id"]}).json()
        key_b = root.post("/admin/v1/keys", json={"project": b["id"]}).json()
        viewer = create_user(root)
        grant(root, viewer["id"], "project", a["id"], "viewer")
        viewer_key = root.post("/admin/v1/keys", json={"project": a["id"], "user": viewer["id"]}).json()["key"]
    ids = []
    for key, model, text in [
        (key_a["key"], "chat", "one two three"),
        (key_a["key"], "chat", "four five six seven eight"),
        (key_a["key"], "other", "nine"),
        (key_b["key"], "chat", "ten eleven"),
        (MASTER_KEY, "chat", "twelve"),
    ]:
        response = chat(gateway, key, model, text)
        assert response.status_code == 200
        ids.append(response.headers["x-wardgate-request-id"])
    flush(gateway)
    ledger = {}
    for request_id in ids:
        row = gateway.run(by_request_id(gateway.worker.engine, request_id))
        assert row is not None
        ledger[request_id] = row
    yield Traffic(a, b, team, user, ledger, viewer_key)


def _sum(rows: list[dict[str, Any]]) -> dict[str, Any]:
    cost = sum(r["cost_nanousd"] for r in rows)
    return {
        "requests": len(rows),
        "input_tokens": sum(r["input_tokens"] for r in rows),
        "output_tokens": sum(r["output_tokens"] for r in rows),
        "cost_nanousd": cost,
        "cost_usd": usd(cost),
    }


def _pick(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("requests", "input_tokens", "output_tokens", "cost_nanousd", "cost_usd")}


def test_usage_by_project_equals_the_ledger(traffic: Traffic, client: httpx.Client) -> None:
    report = client.get("/admin/v1/usage", params={"group_by": "project"})
    assert report.status_code == 200
    rows = {r["project"]: r for r in report.json()["rows"]}
    for project in (traffic.a, traffic.b):
        written = [r for r in traffic.ledger.values() if r["project_id"] == project["id"]]
        assert _pick(rows[project["id"]]) == _sum(written)
        assert rows[project["id"]]["cost_nanousd"] > 0
    assert set(rows[traffic.a["id"]]) >= {"project", "cached_tokens", "reasoning_tokens", "cache_write_tokens"}
    assert "model" not in rows[traffic.a["id"]]  # only the dimensions asked for


def test_usage_by_project_and_model_and_by_team_and_user(traffic: Traffic, client: httpx.Client) -> None:
    report = client.get("/admin/v1/usage", params={"group_by": "project,model", "project": traffic.a["id"]}).json()
    assert report["group_by"] == ["project", "model"]
    by_model = {r["model"]: r for r in report["rows"]}
    for model in ("chat", "other"):
        written = [r for r in traffic.ledger.values() if r["project_id"] == traffic.a["id"] and r["model"] == model]
        assert _pick(by_model[model]) == _sum(written)
    assert _pick(report["totals"]) == _sum([r for r in traffic.ledger.values() if r["project_id"] == traffic.a["id"]])
    people = client.get("/admin/v1/usage", params={"group_by": "team,user", "project": traffic.a["id"]}).json()
    assert [(r["team"], r["user"], r["requests"]) for r in people["rows"]] == [
        (traffic.team["id"], traffic.user["id"], 3)
    ]


def test_the_time_window_bounds_the_report(traffic: Traffic, client: httpx.Client) -> None:
    now = datetime.now(UTC)
    later = client.get("/admin/v1/usage", params={"from": (now + timedelta(hours=1)).isoformat()}).json()
    assert later["rows"] == [] and later["totals"]["requests"] == 0 and later["totals"]["cost_usd"] == "0.000000000"
    around = client.get(
        "/admin/v1/usage",
        params={"from": (now - timedelta(hours=1)).isoformat(), "to": (now + timedelta(hours=1)).isoformat()},
    ).json()
    assert around["totals"]["requests"] >= len(traffic.ledger)
    assert around["from"].endswith("Z") and around["to"].endswith("Z")


def test_bad_query_parameters_are_400(client: httpx.Client) -> None:
    for params, field in [
        ({"group_by": "project,colour"}, "group_by"),
        ({"group_by": ""}, "group_by"),
        ({"from": "yesterday"}, "from"),
        ({"to": "1700000000"}, "to"),
        ({"to": "2026-11-01T00:00:00"}, "to"),
    ]:
        response = client.get("/admin/v1/usage", params=params)
        assert response.status_code == 400 and response.json()["error"]["param"] == field, params


def test_a_viewer_sees_only_their_projects_usage(gateway: RunningGateway, traffic: Traffic) -> None:
    mine = [r for r in traffic.ledger.values() if r["project_id"] == traffic.a["id"]]
    with admin(gateway, traffic.viewer_key) as c:
        report = c.get("/admin/v1/usage", params={"group_by": "project"}).json()
        assert [r["project"] for r in report["rows"]] == [traffic.a["id"]]
        assert _pick(report["totals"]) == _sum(mine)
        assert c.get("/admin/v1/usage", params={"project": traffic.b["id"]}).status_code == 404
        theirs = next(i for i, r in traffic.ledger.items() if r["project_id"] == traffic.b["id"])
        assert c.get(f"/admin/v1/usage/{theirs}").status_code == 404
        own = next(i for i, r in traffic.ledger.items() if r["project_id"] == traffic.a["id"])
        assert c.get(f"/admin/v1/usage/{own}").status_code == 200


def test_one_request_is_its_ledger_row(traffic: Traffic, client: httpx.Client) -> None:
    for request_id, row in traffic.ledger.items():
        response = client.get(f"/admin/v1/usage/{request_id}")
        assert response.status_code == 200
        body = response.json()
        for field in ("project_id", "model", "input_tokens", "output_tokens", "cost_nanousd", "status", "key_id"):
            assert body[field] == row[field], field
        assert body["cost_usd"] == usd(row["cost_nanousd"])
    assert client.get("/admin/v1/usage/no-such-request").status_code == 404


def test_usd_strings_are_exact() -> None:
    assert usd(0) == "0.000000000"
    assert usd(1) == "0.000000001"
    assert usd(123_456_789_012) == "123.456789012"
    assert usd(-5) == "-0.000000005"


def _chat_as(gateway: RunningGateway, key: str, client_id: str, model: str = "chat") -> httpx.Response:
    return httpx.post(
        gateway.url + "/chat/completions",
        headers={"authorization": f"Bearer {key}", "x-wardgate-request-id": client_id},
        json={"model": model, "messages": [{"role": "user", "content": "same id again"}]},
        timeout=10,
    )


def test_a_client_id_finds_every_call_that_sent_it_within_the_callers_projects(
    gateway: RunningGateway, client: httpx.Client
) -> None:
    with admin(gateway) as root:
        mine, theirs = create_project(root), create_project(root)
        viewer = create_user(root)
        grant(root, viewer["id"], "project", mine["id"], "viewer")
        viewer_key = user_key(root, mine["id"], viewer["id"])
        key_mine = root.post("/admin/v1/keys", json={"project": mine["id"]}).json()["key"]
        key_theirs = root.post("/admin/v1/keys", json={"project": theirs["id"]}).json()["key"]
    client_id = unique("retry")
    answers = [_chat_as(gateway, key_mine, client_id) for _ in range(3)]
    answers.append(_chat_as(gateway, key_theirs, client_id))
    assert [a.status_code for a in answers] == [200] * 4
    ids = [a.headers["x-wardgate-request-id"] for a in answers]
    assert len(set(ids)) == 4 and all(a.headers["x-wardgate-client-request-id"] == client_id for a in answers)
    flush(gateway)
    with admin(gateway, viewer_key) as c:
        listed = c.get("/admin/v1/usage/requests", params={"client_request_id": client_id})
        assert listed.status_code == 200, listed.text
        assert {r["request_id"] for r in listed.json()["data"]} == set(ids[:3])  # not the other project's call
        assert c.get(f"/admin/v1/usage/{ids[3]}").status_code == 404
    everyone = client.get("/admin/v1/usage/requests", params={"client_request_id": client_id}).json()
    assert sorted(r["request_id"] for r in everyone["data"]) == sorted(ids)
    assert {(r["client_request_id"], r["billable"]) for r in everyone["data"]} == {(client_id, True)}
    for bad in ("", "two words", "x" * 129, "nul\x00"):
        assert client.get("/admin/v1/usage/requests", params={"client_request_id": bad}).status_code == 400
    assert client.get("/admin/v1/usage/nul%00").status_code == 404


def test_a_refused_call_is_on_the_record_but_not_in_the_report(gateway: RunningGateway, client: httpx.Client) -> None:
    project = create_project(client)
    key = client.post("/admin/v1/keys", json={"project": project["id"], "models": ["chat"]}).json()["key"]
    answered = chat(gateway, key)
    refused = [chat(gateway, key, model) for model in ("nope", "other")]  # unknown; not allowed for this key
    assert answered.status_code == 200 and [r.status_code for r in refused] == [404, 404]
    flush(gateway)
    report = client.get("/admin/v1/usage", params={"project": project["id"], "group_by": "model"}).json()
    assert [r["model"] for r in report["rows"]] == ["chat"] and report["totals"]["requests"] == 1
    for response in refused:
        row = client.get(f"/admin/v1/usage/{response.headers['x-wardgate-request-id']}").json()
        assert (row["status"], row["error_code"], row["billable"]) == (404, "model_not_found", False)
