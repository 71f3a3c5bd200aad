"""Requests of SSE and stdio upstreams relayed to the downstream client (mcp/session_requests.py), and requests
relayed to a client on the legacy SSE downstream transport: the official SDK client with callbacks → Wardgate →
the SDK's MCPServer over SSE, as a stdio child, and over streamable HTTP (tests/mcp/test_backchannel.py covers a
streamable HTTP upstream under a streamable HTTP client)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import mcp_types as types
import orjson
import pytest
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.mcp.test_governance import rows
from tests.mcp.upstream import CANCELLED, GATE, STARTED, LoopbackMCP
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.mcp import fast
from wardgate.store.tables import audit_log


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningGateway]:
    with (
        LoopbackMCP("sse", "legacy", relaying=True) as sse,
        LoopbackMCP("streamable_http", "gh", relaying=True) as http,
    ):
        command = f'["{sys.executable}", "-m", "tests.mcp.upstream", "files", "relaying"]'
        config = f"""
mcp:
  servers:
    legacy: {{transport: sse, url: "{sse.url}", elicitation: decline}}
    files: {{transport: stdio, command: {command}, elicitation: decline}}
    github: {{transport: streamable_http, url: "{http.url}", elicitation: decline}}
  virtual_servers:
    sse-up: {{servers: [legacy], prefix: false}}
    stdio-up: {{servers: [files], prefix: false}}
    http-up: {{servers: [github], prefix: false}}
  tools:
    legacy.ask_roots: {{timeout_s: 0.5}}
    files.ask_roots: {{timeout_s: 0.5}}
"""
        with gateway_from_yaml(config) as gw:
            yield gw


@pytest.fixture(params=["direct", "sdk"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which downstream path serves a streamable HTTP client's calls: the direct one (mcp/fast.py) or the SDK's."""
    if request.param == "sdk":
        monkeypatch.setattr(fast, "eligible", lambda scope, message: False)
    return str(request.param)


@contextlib.asynccontextmanager
async def client(gw: RunningGateway, vs: str, legacy: bool = False, **callbacks: Any) -> AsyncIterator[ClientSession]:
    """An initialized SDK client session on ``/mcp/{vs}``: streamable HTTP, or the legacy SSE transport."""
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    async with contextlib.AsyncExitStack() as stack:
        if legacy:
            read, write = await stack.enter_async_context(sse_client(f"{gw.root}/mcp/{vs}/sse", headers=auth))
        else:
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=auth, timeout=30))
            read, write = await stack.enter_async_context(
                streamable_http_client(f"{gw.root}/mcp/{vs}", http_client=http)
            )
        session = await stack.enter_async_context(ClientSession(read, write, **callbacks))
        await session.initialize()
        yield session


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


class Answers:
    """A client's callbacks that answer every relayed request, recording the ids it saw."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    async def sampling(self, context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        self.seen.append(context.request_id)
        block = params.messages[0].content
        assert isinstance(block, types.TextContent)
        answer = types.TextContent(type="text", text=f"model says {block.text}")
        return types.CreateMessageResult(role="assistant", content=answer, model="m1")

    async def elicitation(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.seen.append(context.request_id)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def roots(self, context: Any) -> types.ListRootsResult:
        self.seen.append(context.request_id)
        return types.ListRootsResult(roots=[types.Root(uri="file:///work/repo")])

    def callbacks(self) -> dict[str, Any]:
        return {"sampling_callback": self.sampling, "elicitation_callback": self.elicitation,
                "list_roots_callback": self.roots}  # fmt: skip


async def _relayed_three(gw: RunningGateway, vs: str, legacy: bool, answers: Answers) -> list[str]:
    async with client(gw, vs, legacy, **answers.callbacks()) as s:
        return [
            text_of(await s.call_tool("ask_sampling", {"prompt": "hi"})),
            text_of(await s.call_tool("ask_name", {})),
            text_of(await s.call_tool("ask_roots", {})),
        ]


@pytest.mark.parametrize("vs", ["sse-up", "stdio-up"])
def test_sse_and_stdio_upstreams_requests_reach_a_client_that_declared_them(
    gateway: RunningGateway, vs: str, path: str
) -> None:
    answers = Answers()
    got = asyncio.run(_relayed_three(gateway, vs, False, answers))
    assert got == ["sampled: model says hi", "accept: Ada", "file:///work/repo"]
    # the client saw the gateway's ids (unguessable), never the upstream's
    assert len(set(answers.seen)) == 3 and all(str(i).startswith("wg-") and len(str(i)) > 20 for i in answers.seen)


@pytest.mark.parametrize("vs", ["http-up", "sse-up", "stdio-up"])
def test_a_legacy_sse_client_gets_the_relayed_requests(gateway: RunningGateway, vs: str) -> None:
    answers = Answers()
    got = asyncio.run(_relayed_three(gateway, vs, True, answers))
    assert got == ["sampled: model says hi", "accept: Ada", "file:///work/repo"]
    assert len(set(answers.seen)) == 3 and all(str(i).startswith("wg-") for i in answers.seen)


@pytest.mark.parametrize("vs", ["sse-up", "stdio-up"])
def test_a_client_without_the_capability_gets_the_servers_policy(gateway: RunningGateway, vs: str) -> None:
    async def go() -> tuple[str, str]:
        async with client(gateway, vs) as s:  # declares neither sampling nor elicitation
            name = await s.call_tool("ask_name", {})
            try:
                sampled = await s.call_tool("ask_sampling", {"prompt": "x"})
                return text_of(name), text_of(sampled)
            except MCPError as exc:  # the upstream's tool relays the refusal as its own error
                return text_of(name), exc.error.message

    name, sampled = asyncio.run(go())
    assert name == "decline"  # the server's `elicitation: decline`
    assert sampled == "The gateway does not relay this request here."  # -32601, as before


def test_a_request_that_could_be_about_two_calls_gets_the_policy(gateway: RunningGateway) -> None:
    """An SSE upstream's request names no call: while another call is in flight on the worker's session to that
    upstream it could belong to either, so it is not relayed (the server's policy answers)."""
    answers = Answers()
    GATE.reset()

    async def go() -> tuple[str, str]:
        async with client(gateway, "sse-up") as other, client(gateway, "sse-up", **answers.callbacks()) as s:
            gated = asyncio.ensure_future(other.call_tool("gated", {}))
            await asyncio.to_thread(GATE.entered.wait, 30)
            try:
                name = text_of(await s.call_tool("ask_name", {}))
            finally:
                GATE.open.set()
            return name, text_of(await gated)

    assert asyncio.run(go()) == ("decline", "legacy:gated")
    assert answers.seen == []


async def _until(condition: Any) -> None:
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("condition not met")


@pytest.mark.parametrize("vs", ["sse-up", "stdio-up"])
def test_a_client_that_never_answers_is_cut_at_the_tools_timeout(gateway: RunningGateway, vs: str) -> None:
    backchannel = gateway.worker.mcp._backchannel  # type: ignore[union-attr]

    async def roots(context: Any) -> types.ListRootsResult:
        await asyncio.Event().wait()  # never answers
        raise AssertionError

    async def go() -> types.CallToolResult:
        async with client(gateway, vs, list_roots_callback=roots) as s:
            result = await s.call_tool("ask_roots", {})
            await _until(lambda: not backchannel._pending and not backchannel._calls)  # nothing left waiting
            return result

    result = asyncio.run(go())
    assert result.is_error and "did not answer within 0.5 s" in text_of(result)


def test_a_cancelled_call_on_an_sse_upstream_is_cancelled_upstream_and_audited(gateway: RunningGateway) -> None:
    tag = uuid.uuid4().hex
    backchannel = gateway.worker.mcp._backchannel  # type: ignore[union-attr]

    async def go() -> None:
        async with client(gateway, "sse-up") as s:
            call = asyncio.ensure_future(s.call_tool("wait_cancel", {"tag": tag}))
            await _until(lambda: tag in STARTED)
            call.cancel()  # the SDK client sends notifications/cancelled for it
            with contextlib.suppress(asyncio.CancelledError):
                await call
            await _until(lambda: tag in CANCELLED)  # the upstream's handler was cancelled
            await _until(lambda: not backchannel._calls)

    asyncio.run(go())
    audit = [r for r in gateway.run(rows(gateway, audit_log)) if r["action"] == "mcp.tools/call"]
    cancelled = [r for r in audit if r["details"]["name"] == "legacy.wait_cancel"]
    assert cancelled[-1]["details"]["outcome"] == "cancelled" and cancelled[-1]["details"]["status"] == 499


def test_a_legacy_sse_answer_no_request_waits_for_is_refused(gateway: RunningGateway) -> None:
    """On the legacy SSE transport a response carrying a gateway id goes to the relay, never to the SDK's session:
    one no relayed request of this session waits for is a 400 with a JSON-RPC error."""

    async def go() -> list[int]:
        auth = {"Authorization": f"Bearer {MASTER_KEY}"}
        async with httpx2.AsyncClient(headers=auth, timeout=10) as http:
            endpoint: asyncio.Future[str] = asyncio.get_running_loop().create_future()

            async def follow() -> None:  # holds the SSE stream open while the test POSTs beside it
                async with http.stream("GET", f"{gateway.root}/mcp/sse-up/sse") as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith("data:") and not endpoint.done():
                            endpoint.set_result(line[5:].strip())

            reader = asyncio.ensure_future(follow())
            url = gateway.root + await endpoint
            out = []
            for body in (
                {"jsonrpc": "2.0", "id": "wg-" + "A" * 22, "result": {}},
                {"jsonrpc": "2.0", "id": "wg-x", "result": 3},
                {"jsonrpc": "2.0", "id": "wg-" + "x" * 100, "result": {}},
            ):
                response = await http.post(
                    url, content=orjson.dumps(body), headers={"Content-Type": "application/json"}
                )
                out.append(response.status_code)
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            return out

    assert asyncio.run(go()) == [400, 400, 400]


@pytest.mark.parametrize("vs", ["sse-up", "stdio-up"])
def test_log_and_progress_of_an_sse_or_stdio_upstream_reach_the_caller(gateway: RunningGateway, vs: str) -> None:
    logged: list[Any] = []
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logged.append(params.data)

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def go() -> str:
        async with client(gateway, vs, logging_callback=on_log) as s:
            return text_of(await s.call_tool("chatty", {}, progress_callback=on_progress))

    assert asyncio.run(go()) == "done"
    assert logged == ["working on it"] and progress == [(1.0, 2.0, "half way")]
