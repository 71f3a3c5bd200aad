"""The direct path of a plain tools/call (mcp/fast.py downstream, mcp/lane.py upstream) answers as the SDK's path
does, leaves to the SDK what it does not handle, and survives an upstream that forgets its session."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import mcp_types as types
import orjson
import pytest

from tests.mcp.client import mcp_session
from tests.mcp.upstream import LoopbackMCP
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

HEADERS = {
    "Authorization": f"Bearer {MASTER_KEY}",
    "Accept": "application/json, text/event-stream",
    "Mcp-Protocol-Version": "2025-06-18",
}


@pytest.fixture(scope="module")
def gateway() -> Iterator[tuple[RunningGateway, LoopbackMCP]]:
    with LoopbackMCP("streamable_http", "gh") as http:
        config = f"""
mcp:
  servers:
    github: {{transport: streamable_http, url: "{http.url}"}}
  virtual_servers:
    flat: {{servers: [github], prefix: false}}
    pre: {{servers: [github], prefix: true}}
"""
        with gateway_from_yaml(config) as gw:
            yield gw, http


def call(name: str, arguments: dict[str, Any], meta: dict[str, Any] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"name": name, "arguments": arguments}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}


def sse_messages(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return [orjson.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:") and line[5:]]


def test_the_direct_path_answers_as_the_sdk_path(gateway: tuple[RunningGateway, LoopbackMCP]) -> None:
    gw, _ = gateway
    url = gw.root + "/mcp/flat"
    with httpx.Client(timeout=10) as http:
        for name, arguments in (("add", {"a": 2, "b": 40}), ("echo", {"text": "hi"}), ("nope", {})):
            direct = sse_messages(http.post(url, json=call(name, arguments), headers=HEADERS))
            # a progress token sends the request through the SDK's server (its reference behaviour)
            via_sdk = sse_messages(http.post(url, json=call(name, arguments, {"progressToken": 1}), headers=HEADERS))
            assert direct == [via_sdk[-1]], name
        assert direct[0]["result"]["isError"] is True  # an unknown tool: an error result, as the SDK answers it
        # an Accept header the SDK refuses is still refused (the direct path leaves it to the SDK)
        refused = http.post(url, json=call("add", {"a": 1, "b": 1}), headers={**HEADERS, "Accept": "text/plain"})
        assert refused.status_code == 406
        batch = http.post(url, json=[call("add", {"a": 1, "b": 1})], headers=HEADERS)
        assert batch.status_code < 500
        # an answer far longer than a line reader's limit, from an upstream that answers in SSE
        big = sse_messages(http.post(url, json=call("echo", {"text": "x" * 300_000}), headers=HEADERS))
        assert big[0]["result"]["content"][0]["text"] == "gh:" + "x" * 300_000


def test_an_upstream_that_forgets_the_session_fails_one_call(gateway: tuple[RunningGateway, LoopbackMCP]) -> None:
    gw, upstream_server = gateway
    assert gw.worker.mcp is not None
    upstream = gw.worker.mcp.upstreams["github"]
    lane = upstream._lane  # noqa: SLF001 - the test ends the upstream session behind the gateway's back
    assert lane is not None and lane.session_id is not None
    opened = upstream.connects
    url = gw.root + "/mcp/flat"
    with httpx.Client(timeout=10) as http:
        ended = http.delete(upstream_server.url, headers={"Mcp-Session-Id": lane.session_id, **HEADERS})
        assert ended.status_code < 300
        failed = sse_messages(http.post(url, json=call("add", {"a": 1, "b": 2}), headers=HEADERS))[0]["result"]
        assert failed["isError"] is True and "github" in failed["content"][0]["text"]

        async def reconnected() -> None:
            for _ in range(500):  # the supervisor re-opens the session: poll with a deadline (10 s)
                if upstream.connects > opened and upstream.healthy:
                    return
                await asyncio.sleep(0.02)
            raise AssertionError("the upstream session was not re-opened")

        gw.run(reconnected())
        again = sse_messages(http.post(url, json=call("add", {"a": 1, "b": 2}), headers=HEADERS))[0]["result"]
        assert again["isError"] is False and again["content"][0]["text"] == "3"


def test_progress_and_completions_are_relayed(gateway: tuple[RunningGateway, LoopbackMCP]) -> None:
    gw, _ = gateway
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, total, message))

    async def go() -> tuple[str, list[str], list[str], list[str]]:
        async with mcp_session(gw.root + "/mcp/flat", MASTER_KEY) as s:
            result = await s.call_tool("count", {"n": 3}, progress_callback=progress)
            block = result.content[0]
            assert isinstance(block, types.TextContent)
            flat = await s.complete(
                types.PromptReference(type="ref/prompt", name="greet"), {"name": "who", "value": "A"}
            )
            none = await s.complete(
                types.PromptReference(type="ref/prompt", name="greet"), {"name": "who", "value": "Z"}
            )
        async with mcp_session(gw.root + "/mcp/pre", MASTER_KEY) as s:
            pre = await s.complete(
                types.PromptReference(type="ref/prompt", name="github.greet"), {"name": "who", "value": "G"}
            )
        return block.text, flat.completion.values, none.completion.values, pre.completion.values

    text, flat, none, pre = asyncio.run(go())
    assert text == "counted 3"
    assert seen == [(1, 3, "step 1"), (2, 3, "step 2"), (3, 3, "step 3")]
    assert (flat, none, pre) == (["Ada", "Alan"], [], ["Grace"])
