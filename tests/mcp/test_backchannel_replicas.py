"""Relayed requests and cancellations across replicas with no stickiness (mcp/backchannel.py): two gateway processes
sharing PostgreSQL and Redis behind a round-robin balancer, so the client's answer to a relayed request, and its
notifications/cancelled, reach the other replica than the one holding the upstream call."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import mcp_types as types
import pytest
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client

from tests.limits.test_replicas import Replicas
from tests.mcp.test_replicas import RoundRobin, replicas  # noqa: F401  (the two replicas, on the upstream below)
from tests.mcp.upstream import CANCELLED, STARTED, LoopbackMCP


@pytest.fixture(scope="module")
def upstream() -> Iterator[LoopbackMCP]:
    with LoopbackMCP("streamable_http", "gh", relaying=True) as http:
        yield http


class Recording(RoundRobin):
    """The round-robin balancer, remembering which replica got which message; a notifications/cancelled goes to a
    replica other than the one that got the last tools/call (as a balancer may send it)."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(ports)
        self.log: list[tuple[int, bytes]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = request.content if request.method == "POST" else b""
        port = self.ports[next(self._next)]
        if b"notifications/cancelled" in body:
            held = [p for p, b in self.log if b'"tools/call"' in b][-1]
            port = next(p for p in self.ports if p != held)
        self.sent.append(port)
        self.log.append((port, body))
        request.url = request.url.copy_with(port=port)
        return await self._inner.handle_async_request(request)


@contextlib.asynccontextmanager
async def balanced(ports: list[int], key: str, **callbacks: Any) -> AsyncIterator[tuple[ClientSession, Recording]]:
    balancer = Recording(ports)
    async with (
        httpx2.AsyncClient(transport=balancer, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        streamable_http_client(f"http://127.0.0.1:{ports[0]}/mcp/dev", http_client=http) as (read, write),
        ClientSession(read, write, **callbacks) as session,
    ):
        await session.initialize()
        yield session, balancer


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def _port_of(balancer: Recording, *needles: bytes) -> int:
    return next(port for port, body in balancer.log if all(n in body for n in needles))


def test_an_answer_posted_to_another_replica_reaches_the_call(replicas: tuple[Replicas, str]) -> None:  # noqa: F811
    group, key = replicas

    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        answer = types.TextContent(type="text", text="from the client")
        return types.CreateMessageResult(role="assistant", content=answer, model="m1")

    async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        return types.ElicitResult(action="accept", content={"name": "Grace"})

    async def progress(value: float, total: float | None, message: str | None) -> None:
        pass

    async def go() -> tuple[list[str], Recording]:
        async with balanced(group.ports, key, sampling_callback=sampling, elicitation_callback=elicitation) as (
            s,
            balancer,
        ):
            sampled = text_of(await s.call_tool("github.ask_sampling", {"prompt": "p"}))  # the direct path
            # a progress token sends the call through the SDK's server
            named = text_of(await s.call_tool("github.ask_name", {}, progress_callback=progress))
            return [sampled, named], balancer

    texts, balancer = asyncio.run(go())
    assert texts == ["sampled: from the client", "accept: Grace"]
    for tool, answer in ((b"ask_sampling", b'"model"'), (b"ask_name", b'"action"')):
        held = _port_of(balancer, b'"tools/call"', tool)
        answered = _port_of(balancer, b'"wg-', answer)
        assert held != answered  # the answer went to the other replica, and was routed back through Redis


def test_a_cancellation_posted_to_another_replica_reaches_the_upstream(
    replicas: tuple[Replicas, str],  # noqa: F811
) -> None:
    group, key = replicas
    tag = uuid.uuid4().hex

    async def until(condition: Any) -> None:
        for _ in range(400):
            if condition():
                return
            await asyncio.sleep(0.025)
        raise AssertionError("condition not met")

    async def go() -> Recording:
        async with balanced(group.ports, key) as (s, balancer):
            call = asyncio.ensure_future(s.call_tool("github.wait_cancel", {"tag": tag}))
            await until(lambda: tag in STARTED)
            call.cancel()  # the SDK client POSTs notifications/cancelled (to the next replica)
            with contextlib.suppress(asyncio.CancelledError):
                await call
            await until(lambda: tag in CANCELLED)
            return balancer

    balancer = asyncio.run(go())
    assert _port_of(balancer, b'"tools/call"', tag.encode()) != _port_of(balancer, b"notifications/cancelled")


class AnswersElsewhere(RoundRobin):
    """Round robin, except that a client's answer to a relayed request goes to a replica other than the one holding
    the event stream (the first request's)."""

    def __init__(self, ports: list[int]) -> None:
        super().__init__(ports)
        self.answered: list[int] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST" and b'"wg-' in request.content and b'"method"' not in request.content:
            port = next(p for p in self.ports if p != self.sent[0])
            self.answered.append(port)
            self.sent.append(port)
            request.url = request.url.copy_with(port=port)
            return await self._inner.handle_async_request(request)
        return await super().handle_async_request(request)


def test_a_legacy_sse_clients_answer_posted_to_another_replica_reaches_the_call(
    replicas: tuple[Replicas, str],  # noqa: F811
) -> None:
    """The legacy SSE transport: the stream is held by one replica; an answer to a relayed request POSTed to another
    one is relayed to the stream's (sse_relay.py) and taken by the relay there, not by the SDK's session."""
    group, key = replicas
    balancer = AnswersElsewhere(group.ports)

    def client(headers: dict[str, str] | None = None, timeout: httpx2.Timeout | None = None, auth=None):  # type: ignore[no-untyped-def]
        return httpx2.AsyncClient(transport=balancer, headers=headers, timeout=timeout, auth=auth)

    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        block = params.messages[0].content
        assert isinstance(block, types.TextContent)
        answer = types.TextContent(type="text", text=f"for {block.text}")
        return types.CreateMessageResult(role="assistant", content=answer, model="m1")

    async def go() -> list[str]:
        async with (
            sse_client(
                f"http://127.0.0.1:{group.ports[0]}/mcp/dev/sse",
                headers={"Authorization": f"Bearer {key}"},
                httpx_client_factory=client,
            ) as (read, write),
            ClientSession(read, write, sampling_callback=sampling) as session,
        ):
            await session.initialize()
            return [text_of(await session.call_tool("github.ask_sampling", {"prompt": f"p{i}"})) for i in range(2)]

    assert asyncio.run(go()) == ["sampled: for p0", "sampled: for p1"]
    assert len(balancer.answered) == 2 and balancer.sent[0] not in balancer.answered
