"""An upstream's sampling, elicitation and roots requests relayed to the downstream client on its tools/call's stream,
its log and progress notifications relayed, and the client's cancellation relayed upstream (mcp/backchannel.py):
the official SDK client with callbacks → Wardgate → the SDK's MCPServer over streamable HTTP. Each test runs on both
downstream paths: the direct one (mcp/fast.py) and the SDK's server (the direct path switched off)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import mcp_types as types
import orjson
import pytest
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.mcp.test_governance import rows
from tests.mcp.upstream import CANCELLED, LoopbackMCP
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.mcp import fast
from wardgate.mcp.backchannel import capabilities_of
from wardgate.mcp.sessions import SessionSigner
from wardgate.store.tables import audit_log

HEADERS = {
    "Authorization": f"Bearer {MASTER_KEY}",
    "Accept": "application/json, text/event-stream",
    "Mcp-Protocol-Version": "2025-06-18",
}


@pytest.fixture(scope="module")
def gateway() -> Iterator[RunningGateway]:
    with LoopbackMCP("streamable_http", "gh", relaying=True) as http:
        config = f"""
mcp:
  servers:
    github: {{transport: streamable_http, url: "{http.url}", elicitation: decline}}
  virtual_servers:
    dev: {{servers: [github], prefix: true}}
  tools:
    github.ask_sampling: {{timeout_s: 10}}
    github.ask_roots: {{timeout_s: 0.5}}
"""
        with gateway_from_yaml(config) as gw:
            yield gw


@pytest.fixture(params=["direct", "sdk"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Which downstream path serves the calls; yields the direct path's call count."""
    taken: list[int] = []
    real = fast.tools_call

    async def counted(*args: Any, **kwargs: Any) -> None:
        taken.append(1)
        await real(*args, **kwargs)

    monkeypatch.setattr(fast, "tools_call", counted)
    if request.param == "sdk":
        monkeypatch.setattr(fast, "eligible", lambda scope, message: False)
    yield taken


@contextlib.asynccontextmanager
async def client(gw: RunningGateway, **callbacks: Any) -> AsyncIterator[ClientSession]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {MASTER_KEY}"}, timeout=30) as http,
        streamable_http_client(gw.root + "/mcp/dev", http_client=http) as (read, write),
        ClientSession(read, write, **callbacks) as session,
    ):
        await session.initialize()
        yield session


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def test_sampling_elicitation_and_roots_reach_a_client_that_declared_them(
    gateway: RunningGateway, path: list[int]
) -> None:
    seen: list[Any] = []

    async def sampling(context: Any, params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
        seen.append(context.request_id)
        block = params.messages[0].content
        assert isinstance(block, types.TextContent)
        answer = types.TextContent(type="text", text=f"model says {block.text}")
        return types.CreateMessageResult(role="assistant", content=answer, model="m1")

    async def elicitation(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        seen.append(context.request_id)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def roots(context: Any) -> types.ListRootsResult:
        seen.append(context.request_id)
        return types.ListRootsResult(roots=[types.Root(uri="file:///work/repo")])

    async def go() -> list[str]:
        async with client(
            gateway, sampling_callback=sampling, elicitation_callback=elicitation, list_roots_callback=roots
        ) as s:
            return [
                text_of(await s.call_tool("github.ask_sampling", {"prompt": "hi"})),
                text_of(await s.call_tool("github.ask_name", {})),
                text_of(await s.call_tool("github.ask_roots", {})),
            ]

    assert asyncio.run(go()) == ["sampled: model says hi", "accept: Ada", "file:///work/repo"]
    # the client saw the gateway's ids (unguessable), never the upstream's
    assert len(seen) == 3 and all(isinstance(i, str) and i.startswith("wg-") and len(i) > 20 for i in seen)
    assert len(set(seen)) == 3
    assert len(path) == (3 if path else 0)  # the direct path served the calls, or the SDK's did


def test_a_client_without_the_capability_gets_the_servers_policy(gateway: RunningGateway, path: list[int]) -> None:
    async def go() -> tuple[types.CallToolResult, str]:
        async with client(gateway) as s:  # declares neither sampling nor elicitation
            name = await s.call_tool("github.ask_name", {})
            try:
                sampled = await s.call_tool("github.ask_sampling", {"prompt": "x"})
                return name, "error result" if sampled.is_error else text_of(sampled)
            except MCPError as exc:  # the upstream's tool relays the refusal as its own error
                return name, exc.error.message

    name, sampled = asyncio.run(go())
    assert text_of(name) == "decline"  # the server's `elicitation: decline`
    assert sampled == "The gateway does not relay this request for a tools/call."  # -32601, as before


def test_log_and_progress_reach_the_client_on_the_calls_stream(gateway: RunningGateway, path: list[int]) -> None:
    logged: list[Any] = []
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logged.append(params.data)

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def go() -> tuple[str, str]:
        async with client(gateway, logging_callback=on_log) as s:
            plain = text_of(await s.call_tool("github.chatty", {}))
            with_token = text_of(await s.call_tool("github.chatty", {}, progress_callback=on_progress))
            return plain, with_token

    assert asyncio.run(go()) == ("done", "done")
    assert logged == ["working on it", "working on it"]
    assert progress == [(1.0, 2.0, "half way")]  # only the call that asked with a progress token


async def _until(condition: Any) -> None:
    for _ in range(400):
        if condition():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("condition not met")


def test_a_cancelled_call_is_cancelled_upstream_and_audited(gateway: RunningGateway, path: list[int]) -> None:
    tag = uuid.uuid4().hex
    backchannel = gateway.worker.mcp._backchannel  # type: ignore[union-attr]

    async def go() -> None:
        async with client(gateway) as s:
            call = asyncio.ensure_future(s.call_tool("github.wait_cancel", {"tag": tag}))
            await _until(lambda: any(d.task is not None for d in backchannel._calls.values()))
            call.cancel()  # the SDK client sends notifications/cancelled for it
            with contextlib.suppress(asyncio.CancelledError):
                await call
            await _until(lambda: tag in CANCELLED)  # the upstream's handler was cancelled
            await _until(lambda: not backchannel._calls)

    asyncio.run(go())
    audit = [r for r in gateway.run(rows(gateway, audit_log)) if r["action"] == "mcp.tools/call"]
    cancelled = [r for r in audit if r["details"]["name"] == "github.wait_cancel"]
    assert cancelled[-1]["details"]["outcome"] == "cancelled" and cancelled[-1]["details"]["status"] == 499


def test_a_client_that_never_answers_is_cut_at_the_tools_timeout(gateway: RunningGateway, path: list[int]) -> None:
    backchannel = gateway.worker.mcp._backchannel  # type: ignore[union-attr]

    async def roots(context: Any) -> types.ListRootsResult:
        await asyncio.Event().wait()  # never answers
        raise AssertionError

    async def go() -> types.CallToolResult:
        async with client(gateway, list_roots_callback=roots) as s:
            return await s.call_tool("github.ask_roots", {})

    result = asyncio.run(go())
    assert result.is_error and "did not answer within 0.5 s" in text_of(result)
    assert not backchannel._pending and not backchannel._calls  # nothing left waiting


def _post(http: httpx2.Client, url: str, body: Any, session: str | None = None) -> httpx2.Response:
    headers = {**HEADERS, **({"Mcp-Session-Id": session} if session else {})}
    return http.post(url, content=orjson.dumps(body), headers={**headers, "Content-Type": "application/json"})


def _session(http: httpx2.Client, url: str) -> str:
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {"sampling": {}},
            "clientInfo": {"name": "t", "version": "1"},
        },
    }
    return _post(http, url, init).headers["mcp-session-id"]


def test_hostile_answers_are_refused_cleanly(gateway: RunningGateway) -> None:
    url = gateway.root + "/mcp/dev"
    with httpx2.Client(timeout=10) as http:
        session = _session(http, url)
        for body in (
            {"jsonrpc": "2.0", "id": "wg-" + "A" * 22, "result": {}},  # no relayed request has this id
            {"jsonrpc": "2.0", "id": 5, "result": {}},  # not an id the gateway mints
            {"jsonrpc": "2.0", "id": "wg-x"},  # neither a result nor an error
            {"jsonrpc": "2.0", "id": "wg-x", "result": 3},
            {"jsonrpc": "2.0", "id": "wg-x", "result": {}, "error": {}},
            {"jsonrpc": "2.0", "id": ["wg-x"], "error": {"code": 1}},
            {"jsonrpc": "2.0", "id": "wg-" + "x" * 100, "result": {}},
            {},
        ):
            response = _post(http, url, body, session)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["error"]["code"] == -32600 and response.json()["id"] is None
        # a cancellation of nothing, or of garbage, is a notification: accepted, nothing happens
        for params in ({"requestId": 999}, {"requestId": {"a": 1}}, None, "x"):
            cancel = {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params}
            assert _post(http, url, cancel, session).status_code == 202


def test_an_answer_from_another_session_or_principal_is_refused(gateway: RunningGateway) -> None:
    """Session A's sampling request is answered, with its id, from session B: refused as an unknown id; A's own
    answer then completes the call."""
    url = gateway.root + "/mcp/dev"
    with httpx2.Client(timeout=10) as http:
        a, b = _session(http, url), _session(http, url)
        call = {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "github.ask_sampling", "arguments": {"prompt": "p"}},
        }
        headers = {**HEADERS, "Mcp-Session-Id": a, "Content-Type": "application/json"}
        with http.stream("POST", url, content=orjson.dumps(call), headers=headers) as stream:
            lines = stream.iter_lines()
            request = next(orjson.loads(line[5:]) for line in lines if line.startswith("data:") and line[5:].strip())
            assert request["method"] == "sampling/createMessage" and request["id"].startswith("wg-")
            answer = {
                "jsonrpc": "2.0",
                "id": request["id"],
                "result": {"role": "assistant", "content": {"type": "text", "text": "B"}, "model": "m"},
            }
            assert _post(http, url, answer, b).status_code == 400  # another session
            assert _post(http, url, answer).status_code == 400  # no session at all
            good = {**answer, "result": {**answer["result"], "content": {"type": "text", "text": "A"}}}
            assert _post(http, url, good, a).status_code == 202
            assert _post(http, url, good, a).status_code == 400  # answered already
            final = next(orjson.loads(line[5:]) for line in lines if line.startswith("data:") and line[5:].strip())
        assert final["id"] == 3 and final["result"]["content"][0]["text"] == "sampled: A"


def test_the_declared_capabilities_ride_in_the_signed_session_id() -> None:
    assert (
        capabilities_of({"capabilities": {"sampling": {}, "elicitation": {}, "roots": {"listChanged": True}}}) == "ser"
    )
    assert capabilities_of({"capabilities": {"elicitation": {"url": {}}}}) == "u"  # url mode only
    assert capabilities_of({"capabilities": {"elicitation": {"form": {}, "url": {}}}}) == "eu"
    for hostile in (None, "x", {"capabilities": []}, {"capabilities": {"sampling": True, "roots": "yes"}}):
        assert capabilities_of(hostile) == ""
    signer = SessionSigner("k" * 32, 60)
    claims = signer.verify(signer.mint("dev", "master", "se"))
    assert claims is not None and claims.capabilities == "se"
    old = signer.verify(signer.mint("dev", "master"))  # an id minted before the claim existed reads as none
    assert old is not None and old.capabilities == ""
