"""The analytics query on both stores: hourly buckets in UTC, exact sums and the roll-up's p95 (the edge of the
histogram bucket holding the nearest-rank p95) agree with the rows that were written."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import httpx

from tests.support import MASTER_KEY, gateway_from_yaml
from wardgate.api.admin.usage import usd
from wardgate.store.analytics import nearest_rank
from wardgate.store.rollup import bucket_of
from wardgate.store.rollup_tables import BOUNDS
from wardgate.store.usage import UsageEvent, insert_events

START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)


def test_hourly_sums_and_p95_equal_the_rows(store_url: str) -> None:
    rng = random.Random(15)
    events = []
    for i in range(600):
        at = START + timedelta(minutes=rng.randrange(0, 6 * 60), seconds=rng.randrange(60))
        events.append(
            UsageEvent(
                request_id=f"r{i}",
                ts=at,
                principal_kind="key",
                principal_id="k",
                surface="openai",
                operation="chat",
                model=rng.choice(["a", "b"]),
                status=rng.choice([200] * 9 + [502]),
                project_id=rng.choice(["p1", "p2"]),
                input_tokens=rng.randrange(1, 500),
                output_tokens=rng.randrange(1, 500),
                cost_nanousd=rng.randrange(1, 10**7),
                latency_ms=rng.randrange(10, 5000),
                ttft_ms=rng.randrange(5, 900),
            )
        )
    with gateway_from_yaml(f"store: {store_url}\n") as gw:
        gw.run(insert_events(gw.worker.engine, events))
        answer = httpx.get(
            gw.root + "/admin/v1/analytics",
            params={
                "metrics": "spend_usd,requests,tokens_in,tokens_out,errors,latency_p95,ttft_p95",
                "group_by": "project,model",
                "interval": "hour",
                "from": "2026-11-02T00:00:00Z",
                "to": "2026-11-03T00:00:00Z",
            },
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
    assert answer.status_code == 200, answer.text
    groups: dict[tuple[str, str, str], list[UsageEvent]] = defaultdict(list)
    for e in events:
        groups[(e.ts.strftime("%Y-%m-%dT%H:00:00Z"), str(e.project_id), e.model)].append(e)
    rows = {(r["bucket"], r["project"], r["model"]): r for r in answer.json()["rows"]}
    assert set(rows) == set(groups)
    for key, group in groups.items():
        row = rows[key]
        cost = sum(e.cost_nanousd for e in group)
        assert row["cost_nanousd"] == cost and row["spend_usd"] == usd(cost)
        assert row["requests"] == len(group) and row["errors"] == sum(e.status >= 400 for e in group)
        assert row["tokens_in"] == sum(e.input_tokens for e in group)
        assert row["tokens_out"] == sum(e.output_tokens for e in group)
        # from the roll-up: the upper edge of the histogram bucket that holds the nearest-rank p95
        assert row["latency_p95"] == edge(nearest_rank([e.latency_ms for e in group if e.latency_ms is not None], 0.95))
        assert row["ttft_p95"] == edge(nearest_rank([e.ttft_ms for e in group if e.ttft_ms is not None], 0.95))


def edge(value: int | None) -> int | None:
    return None if value is None else BOUNDS[bucket_of(value)]


def test_route_guard_outcome_and_tool_are_dimensions_on_both_stores(store_url: str) -> None:
    """`route`, `route_arm`, `guard_outcome`, `tool` and `virtual_server` come from each row's details (or, for `tool`,
    an MCP tools/call's name): grouped on SQLite's json_extract and PostgreSQL's JSON paths alike, null where absent,
    and the sums of the groups are the rows'."""
    rng = random.Random(18)
    kinds: list[tuple[str, str, dict[str, object] | None]] = [
        ("openai", "chat", {"route": {"strategy": "canary", "deployment": "a", "attempts": 1, "arm": "canary"}}),
        ("openai", "chat", {"route": {"strategy": "canary", "deployment": "b", "attempts": 1, "arm": "stable"}}),
        ("openai", "chat", {"route": {"strategy": "fallback", "deployment": "a", "attempts": 2}}),
        ("openai", "chat", {"guards": {"pii": {"action": "redact"}}, "guard_outcome": "pii=redact"}),
        ("openai", "chat", {"guard_outcome": "injection=block,pii=redact"}),
        ("mcp", "tools/call", {"mcp": {"virtual_server": "dev", "server": "github"}}),
        ("openai", "chat", None),
    ]
    events = []
    for i in range(300):
        surface, operation, details = rng.choice(kinds)
        events.append(
            UsageEvent(
                request_id=f"d{i}",
                ts=START + timedelta(minutes=rng.randrange(0, 120)),
                principal_kind="key",
                principal_id="k",
                surface=surface,
                operation=operation,
                model=rng.choice(["search", "create_issue"]) if surface == "mcp" else "gpt",
                status=200,
                project_id="p1",
                input_tokens=rng.randrange(1, 50),
                cost_nanousd=rng.randrange(1, 10**6),
                details=details,
            )
        )

    def expected(event: UsageEvent) -> tuple[object, ...]:
        details: dict[str, object] = event.details or {}
        route: dict[str, object] = details.get("route", {})  # type: ignore[assignment]
        mcp: dict[str, object] = details.get("mcp", {})  # type: ignore[assignment]
        tool = event.model if event.surface == "mcp" else None
        return route.get("strategy"), route.get("arm"), details.get("guard_outcome"), tool, mcp.get("virtual_server")

    groups: dict[tuple[object, ...], list[UsageEvent]] = defaultdict(list)
    for e in events:
        groups[expected(e)].append(e)
    dimensions = ("route", "route_arm", "guard_outcome", "tool", "virtual_server")
    with gateway_from_yaml(f"store: {store_url}\n") as gw:
        gw.run(insert_events(gw.worker.engine, events))
        answer = httpx.get(
            gw.root + "/admin/v1/analytics",
            params={"metrics": "spend_usd,requests,tokens_in", "group_by": ",".join(dimensions)},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
    assert answer.status_code == 200, answer.text
    rows = {tuple(r[d] for d in dimensions): r for r in answer.json()["rows"]}
    assert set(rows) == set(groups) and len(groups) == 8  # the MCP kind splits into its two tools
    for key, group in groups.items():
        assert rows[key]["requests"] == len(group)
        assert rows[key]["tokens_in"] == sum(e.input_tokens for e in group)
        assert rows[key]["cost_nanousd"] == sum(e.cost_nanousd for e in group)
