"""`GET /admin/v1/analytics` agrees with the ledger to the token and the nano-dollar, by any dimension and hour, in
JSON and CSV, and shows a caller only its projects."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import Any

import httpx

from tests.api.admin.support import admin
from tests.api.admin.test_usage import Traffic
from tests.api.admin.test_usage import traffic as seeded  # noqa: F401  (the shared traffic fixture)
from tests.support import RunningGateway
from wardgate.api.admin.usage import usd
from wardgate.store.analytics import nearest_rank
from wardgate.store.rollup import bucket_of
from wardgate.store.rollup_tables import BOUNDS

METRICS = "spend_usd,requests,tokens_in,tokens_out,errors,latency_p95,ttft_p95"


def expected(traffic: Traffic, keys: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in traffic.ledger.values():
        groups[tuple(row[k] for k in keys)].append(row)
    return {
        key: {
            "requests": len(rows),
            "tokens_in": sum(r["input_tokens"] for r in rows),
            "tokens_out": sum(r["output_tokens"] for r in rows),
            "cost_nanousd": sum(r["cost_nanousd"] for r in rows),
            "latency_p95": nearest_rank([r["latency_ms"] for r in rows], 0.95),
        }
        for key, rows in groups.items()
    }


def test_by_project_and_model_per_hour_equals_the_ledger(seeded: Traffic, client: httpx.Client) -> None:  # noqa: F811  (the fixture)
    answer = client.get(
        "/admin/v1/analytics", params={"metrics": METRICS, "group_by": "project,model", "interval": "hour"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "analytics" and body["interval"] == "hour"
    want = expected(seeded, ("project_id", "model"))
    got: dict[tuple[Any, ...], dict[str, Any]] = defaultdict(
        lambda: {"requests": 0, "tokens_in": 0, "tokens_out": 0, "cost_nanousd": 0}
    )
    for row in body["rows"]:
        assert row["bucket"].endswith(":00:00Z") and row["spend_usd"] == usd(row["cost_nanousd"])
        assert row["errors"] == 0
        sums = got[(row["project"], row["model"])]
        for name in ("requests", "tokens_in", "tokens_out", "cost_nanousd"):
            sums[name] += row[name]
    for key, sums in want.items():
        assert {k: got[key][k] for k in ("requests", "tokens_in", "tokens_out", "cost_nanousd")} == {
            k: sums[k] for k in ("requests", "tokens_in", "tokens_out", "cost_nanousd")
        }


def test_p95_without_interval_is_the_nearest_rank_of_the_ledger(seeded: Traffic, client: httpx.Client) -> None:  # noqa: F811  (the fixture)
    # by project the roll-up answers: the upper edge of the histogram bucket that holds the nearest-rank p95
    body = client.get("/admin/v1/analytics", params={"metrics": "latency_p95,requests", "group_by": "project"}).json()
    want = expected(seeded, ("project_id",))
    rows = {row["project"]: row for row in body["rows"] if (row["project"],) in want}
    edge = {key: BOUNDS[bucket_of(w["latency_p95"])] for key, w in want.items()}
    assert rows and all(rows[key[0]]["latency_p95"] == edge[key] for key in want if key[0] in rows)
    assert all("bucket" not in row and "spend_usd" not in row for row in body["rows"])
    # by user and status no roll-up has both: the ledger answers, with the exact nearest rank
    body = client.get("/admin/v1/analytics", params={"metrics": "latency_p95", "group_by": "user,status"}).json()
    want = expected(seeded, ("user_id", "status"))
    rows = {(row["user"], row["status"]): row for row in body["rows"]}
    assert set(rows) == set(want) and all(rows[key]["latency_p95"] == want[key]["latency_p95"] for key in want)


def test_csv_with_accept_text_csv(seeded: Traffic, client: httpx.Client) -> None:  # noqa: F811  (the fixture)
    answer = client.get("/admin/v1/analytics", params={"group_by": "model"}, headers={"accept": "text/csv"})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == ["model", "spend_usd", "cost_nanousd", "requests", "tokens_in", "tokens_out", "errors"]
    json_rows = client.get("/admin/v1/analytics", params={"group_by": "model"}).json()["rows"]
    assert [{k: str(v) for k, v in row.items()} for row in json_rows] == rows


def test_a_viewer_sees_only_its_projects(seeded: Traffic, gateway: RunningGateway) -> None:  # noqa: F811  (the fixture)
    with admin(gateway, seeded.viewer_key) as viewer:
        rows = viewer.get("/admin/v1/analytics", params={"group_by": "project"}).json()["rows"]
        assert {row["project"] for row in rows} == {seeded.a["id"]}
        assert viewer.get("/admin/v1/analytics", params={"project": seeded.b["id"]}).status_code in (403, 404)


def test_bad_parameters_are_400s_naming_the_parameter(client: httpx.Client) -> None:
    for params, param in [
        ({"metrics": "spend"}, "metrics"),
        ({"group_by": "project,colour"}, "group_by"),
        ({"interval": "fortnight"}, "interval"),
        ({"from": "yesterday"}, "from"),
    ]:
        answer = client.get("/admin/v1/analytics", params=params)
        assert answer.status_code == 400 and answer.json()["error"]["param"] == param
