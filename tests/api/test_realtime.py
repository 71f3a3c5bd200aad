"""Realtime end to end: the official ``openai`` SDK's realtime client → Wardgate's ``/v1/realtime`` → a Realtime fake.

Checked: the SDK connects through the gateway and events flow both ways unchanged; each ``response.done`` usage is a
ledger row equal to what the fake reported (text, audio and cached tokens), priced at the catalog's text and audio
rates; a budget that runs out ends the session with an ``error`` event and close code 4029; a bad model, a bad key
and a provider that closes are clean.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import openai
import orjson
import pytest
import websockets
from sqlalchemy import select

from tests.fakes.openai_realtime import FakeRealtime
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.api.realtime import CLOSE_BUDGET
from wardgate.core.usage import Usage
from wardgate.store.tables import usage_events
from wardgate.usage.pricing import cost, load_catalog, to_nanousd

KEY = "sk-fake-realtime"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeRealtime]:
    with FakeRealtime(KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeRealtime) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {KEY}}}
models:
  gpt-realtime: [{{provider: up, model: gpt-realtime}}]
  closing: [{{provider: up, model: close-4000}}]
budgets:
  - {{name: talk, scope: project, match: chatty, window: day, limit_tokens: 30, cap: hard}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


def make_key(gateway: RunningGateway, project: str) -> str:
    async def make() -> str:
        p = await gateway.worker.tenancy.create_project(project)
        secret, _ = await gateway.worker.keys.create(p.id)
        return secret

    return gateway.run(make())


def realtime_rows(gateway: RunningGateway, project: str | None = None) -> list[dict[str, Any]]:
    async def rows() -> list[dict[str, Any]]:
        await gateway.worker.ledger.flush()
        query = select(usage_events).where(usage_events.c.operation == "realtime")
        if project is not None:
            query = query.where(usage_events.c.project_id == project)
        async with gateway.worker.engine.connect() as conn:
            return [dict(r) for r in (await conn.execute(query.order_by(usage_events.c.ts))).mappings()]

    return gateway.run(rows())


async def converse(gateway: RunningGateway, key: str, turns: int) -> list[str]:
    seen: list[str] = []
    client = openai.AsyncOpenAI(base_url=gateway.url, api_key=key, max_retries=0)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        await connection.session.update(session={"type": "realtime", "instructions": "be brief"})
        for _ in range(turns):
            await connection.response.create(response={"instructions": "one two three"})
            async for event in connection:
                seen.append(event.type)
                if event.type == "response.done":
                    break
    return seen


def test_the_sdk_realtime_client_talks_through_the_gateway_and_each_response_is_metered(
    gateway: RunningGateway, fake: FakeRealtime
) -> None:
    before = len(fake.sent)
    seen = asyncio.run(converse(gateway, MASTER_KEY, 2))
    assert seen[0] == "session.created" and seen.count("response.done") == 2
    assert seen.count("response.output_text.delta") == 6
    rows = realtime_rows(gateway)[-2:]
    sent = fake.sent[before:]
    price = load_catalog().lookup("openai", "gpt-realtime")
    assert price is not None and price.audio_input == Decimal(32)
    for row, usage in zip(rows, sent, strict=True):
        assert (row["input_tokens"], row["output_tokens"], row["cached_tokens"]) == (
            usage["input_tokens"], usage["output_tokens"], usage["input_token_details"]["cached_tokens"])  # fmt: skip
        assert row["details"]["audio_input_tokens"] == 4 and row["details"]["audio_output_tokens"] == 1
        metered = Usage(row["input_tokens"], row["output_tokens"], row["cached_tokens"], audio_input_tokens=4,
                        audio_output_tokens=1)  # fmt: skip
        assert row["cost_nanousd"] == to_nanousd(cost(metered, price)) > 0
        assert row["billable"] and row["status"] == 200


def test_a_session_whose_budget_runs_out_is_closed_with_4029(gateway: RunningGateway) -> None:
    key = make_key(gateway, "chatty")

    async def talk() -> tuple[list[dict[str, Any]], int | None]:
        events: list[dict[str, Any]] = []
        url = gateway.url.replace("http", "ws", 1) + "/realtime?model=gpt-realtime"
        async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
            for _ in range(5):
                await ws.send('{"type": "response.create"}')
                try:
                    while True:
                        event = orjson.loads(await ws.recv())
                        events.append(event)
                        if event["type"] in ("response.done", "error"):
                            break
                except websockets.ConnectionClosed:
                    break
                if event["type"] == "error":
                    break
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            return events, ws.close_code

    events, code = asyncio.run(talk())
    assert code == CLOSE_BUDGET
    assert events[-1]["type"] == "error" and events[-1]["error"]["code"] == "budget_exceeded"
    done = [e for e in events if e["type"] == "response.done"]
    assert 1 <= len(done) < 5
    spent = sum(row["input_tokens"] + row["output_tokens"] for row in realtime_rows(gateway, project=None)
                if row["project_id"] is not None)  # fmt: skip
    assert spent >= 30  # the cap was reached by real usage before the session was closed


def test_bad_connections_are_refused_cleanly(gateway: RunningGateway) -> None:
    async def attempt(path: str, key: str) -> Exception:
        url = gateway.url.replace("http", "ws", 1) + path
        try:
            async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {key}"}) as ws:
                await ws.recv()
                await ws.recv()
        except (websockets.InvalidStatus, websockets.ConnectionClosed) as exc:
            return exc
        raise AssertionError("not refused")

    refused = asyncio.run(attempt("/realtime?model=gpt-realtime", "sk-wrong"))
    assert isinstance(refused, websockets.InvalidStatus) and refused.response.status_code == 401
    refused = asyncio.run(attempt("/realtime?model=nope", MASTER_KEY))
    assert isinstance(refused, websockets.InvalidStatus) and refused.response.status_code == 404
    refused = asyncio.run(attempt("/realtime", MASTER_KEY))
    assert isinstance(refused, websockets.InvalidStatus) and refused.response.status_code == 400
    closed = asyncio.run(attempt("/realtime?model=closing", MASTER_KEY))
    assert isinstance(closed, websockets.ConnectionClosed) and closed.rcvd is not None and closed.rcvd.code == 4000
