"""Last-Event-ID resumption of the gateway's downstream SSE streams: the client's connection to one replica is cut
mid-stream, and a GET with the last event id it saw, on the other replica, replays what it missed and then the rest
of the stream as the first replica goes on producing it (two gateway processes sharing PostgreSQL and Redis)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import mcp_types as types
import orjson
import pytest

from tests.limits.test_replicas import Replicas, prepare_store
from tests.mcp.upstream import LoopbackMCP
from tests.services import create_postgres_database, drop_postgres_database, postgres_url, redis_url
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.mcp import streams
from wardgate.mcp.streams import END, MemoryStreams, RedisStreams

MASTER = "sk-resume-master-key"
VERSION = "2025-11-25"
ACCEPT = "application/json, text/event-stream"


@pytest.fixture(scope="module")
def upstream() -> Iterator[LoopbackMCP]:
    with LoopbackMCP("streamable_http", "gh") as http:
        yield http


@pytest.fixture(scope="module")
def replicas(upstream: LoopbackMCP, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Replicas, str]]:
    database = create_postgres_database()
    store = postgres_url(database)
    try:
        _, key = asyncio.run(prepare_store(store, "acme"))
        config = tmp_path_factory.mktemp("mcp-resume") / "wardgate.yaml"
        config.write_text(f"""
master_key: {MASTER}
store: {store}
redis: {{url: "{redis_url()}", key_prefix: "wg-resume-{uuid.uuid4().hex[:8]}:"}}
mcp:
  servers:
    github: {{transport: streamable_http, url: "{upstream.url}"}}
  virtual_servers:
    dev: {{servers: [github]}}
  stream_max_events: 4
""")
        group = Replicas(config, store, count=2)
        try:
            group.start()
            yield group, key
        finally:
            group.stop()
    finally:
        drop_postgres_database(database)


def events_of(lines: list[str]) -> list[dict[str, str]]:
    """SSE events (field → value; comments dropped) from the lines of a stream."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in lines:
        if line == "":
            if current:
                out.append(current)
            current = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            current[name] = value[1:] if value.startswith(" ") else value
    if current:
        out.append(current)
    return out


async def read_events(response: httpx2.Response, count: int | None = None) -> list[dict[str, str]]:
    lines: list[str] = []
    async for line in response.aiter_lines():
        lines.append(line)
        if count is not None and line == "" and len(events_of(lines)) >= count:
            break
    return events_of(lines)


class Client:
    def __init__(self, http: httpx2.AsyncClient, ports: list[int], key: str) -> None:
        self.http, self.ports, self.key = http, ports, key
        self.session = ""

    def url(self, replica: int) -> str:
        return f"http://127.0.0.1:{self.ports[replica]}/mcp/dev"

    def headers(self, **extra: str) -> dict[str, str]:
        base = {"Authorization": f"Bearer {self.key}", "Accept": ACCEPT, "mcp-protocol-version": VERSION}
        if self.session:
            base["mcp-session-id"] = self.session
        return {**base, **extra}

    async def initialize(self) -> None:
        init = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"protocolVersion": VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        }
        answer = await self.http.post(self.url(0), json=init, headers=self.headers())
        assert answer.status_code == 200
        self.session = answer.headers["mcp-session-id"]

    def wait_for(self, key: str) -> dict[str, Any]:
        params = {"name": "github.wait_for", "arguments": {"key": key}, "_meta": {"progressToken": "p1"}}
        return {"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": params}

    async def release(self, key: str, replica: int) -> None:
        call = {
            "jsonrpc": "2.0",
            "id": 8,
            "method": "tools/call",
            "params": {"name": "github.release", "arguments": {"key": key}},
        }
        answer = await self.http.post(self.url(replica), json=call, headers=self.headers())
        assert answer.status_code == 200 and f"release {key}" in answer.text

    async def resume(self, replica: int, last_event_id: str, **extra: str) -> httpx2.Response:
        headers = self.headers(**{"last-event-id": last_event_id, "Accept": "text/event-stream", **extra})
        return await self.http.get(self.url(replica), headers=headers)


@contextlib.asynccontextmanager
async def client(ports: list[int], key: str) -> AsyncIterator[Client]:
    async with httpx2.AsyncClient(timeout=30) as http:
        c = Client(http, ports, key)
        await c.initialize()
        yield c


def message(event: dict[str, str]) -> dict[str, Any]:
    parsed = orjson.loads(event["data"])
    assert isinstance(parsed, dict)
    return parsed


def test_a_stream_cut_mid_way_resumes_on_another_replica(replicas: tuple[Replicas, str]) -> None:
    group, key = replicas

    gate = uuid.uuid4().hex

    async def go() -> tuple[list[dict[str, str]], list[dict[str, str]], list[dict[str, str]]]:
        async with client(group.ports, key) as c:
            async with c.http.stream("POST", c.url(0), json=c.wait_for(gate), headers=c.headers()) as first:
                seen = await read_events(first, 2)  # the priming event and the first progress: then the cut
            await c.release(gate, 1)  # the call goes on in replica 0 without its client
            resumed = await c.resume(1, seen[-1]["id"])
            assert resumed.status_code == 200
            rest = events_of(resumed.text.splitlines())
            again = events_of((await c.resume(1, seen[0]["id"])).text.splitlines())  # from the priming event
            return seen, rest, again

    seen, rest, again = asyncio.run(go())
    assert seen[0]["data"] == "" and seen[0]["id"].endswith(":0")  # priming (2025-11-25): an id, no message
    assert message(seen[1])["method"] == "notifications/progress"
    stream = seen[0]["id"].split(":")[0]
    assert [e["id"] for e in rest] == [f"{stream}:2", f"{stream}:3"]
    assert message(rest[0])["method"] == "notifications/progress"
    final = message(rest[1])
    assert final["id"] == 7 and final["result"]["content"][0]["text"] == f"released {gate}"
    assert [e["id"] for e in again] == [f"{stream}:1", f"{stream}:2", f"{stream}:3"]  # exact, in order
    assert again[0] == seen[1] and again[1:] == rest


def test_a_follower_gets_the_rest_as_it_is_produced(replicas: tuple[Replicas, str]) -> None:
    group, key = replicas

    async def go() -> list[dict[str, str]]:
        async with client(group.ports, key) as c:
            gate = uuid.uuid4().hex
            async with c.http.stream("POST", c.url(0), json=c.wait_for(gate), headers=c.headers()) as first:
                seen = await read_events(first, 2)
            headers = c.headers(**{"last-event-id": seen[-1]["id"], "Accept": "text/event-stream"})
            async with c.http.stream("GET", c.url(1), headers=headers) as follower:
                assert follower.status_code == 200
                await c.release(gate, 0)  # released while the follower waits on the other replica
                return await read_events(follower)

    rest = asyncio.run(go())
    assert [message(e).get("method") for e in rest] == ["notifications/progress", None]
    assert message(rest[-1])["id"] == 7


@pytest.mark.parametrize(
    "last_event_id, status",
    [
        ("garbage", 400),
        ("x" * 8_000, 400),
        ("x" * 100_000, 431),  # the HTTP server's own header limit
        ("0" * 32 + ":-1", 400),
        ("0" * 32 + ":99999999999", 400),
        ("g" * 32 + ":1", 400),
        ("0" * 32 + ":1", 404),  # well-formed, unknown
    ],
)
def test_hostile_last_event_ids_are_clean_errors(
    replicas: tuple[Replicas, str], last_event_id: str, status: int
) -> None:
    group, key = replicas

    async def go() -> httpx2.Response:
        async with client(group.ports, key) as c:
            return await c.resume(1, last_event_id)

    answer = asyncio.run(go())
    assert answer.status_code == status
    if status != 431:
        assert answer.json()["error"]["code"] == -32600


def test_another_session_or_principal_cannot_resume_a_stream(replicas: tuple[Replicas, str]) -> None:
    group, key = replicas

    async def go() -> list[int]:
        async with client(group.ports, key) as c:
            gate = uuid.uuid4().hex
            async with c.http.stream("POST", c.url(0), json=c.wait_for(gate), headers=c.headers()) as first:
                seen = await read_events(first, 2)
            await c.release(gate, 1)
            statuses = []
            async with client(group.ports, key) as other:  # the same key, another session
                statuses.append((await other.resume(1, seen[-1]["id"])).status_code)
            async with client(group.ports, MASTER) as admin:  # another principal
                statuses.append((await admin.resume(0, seen[-1]["id"])).status_code)
            statuses.append((await c.resume(1, seen[-1]["id"], **{"mcp-session-id": ""})).status_code)
            statuses.append((await c.resume(1, seen[-1]["id"])).status_code)  # the owner: allowed
            return statuses

    assert asyncio.run(go()) == [404, 404, 404, 200]


def test_events_past_the_retention_count_are_not_replayed_inexactly(replicas: tuple[Replicas, str]) -> None:
    """stream_max_events is 4: count(5) streams 5 progress events, the result and the end (seq 1-7); 4-7 are
    kept, so a replay after 3 is exact and one after 2 or 0 would miss events and is refused."""
    group, key = replicas

    async def go() -> tuple[list[dict[str, str]], list[int], list[dict[str, str]]]:
        async with client(group.ports, key) as c:
            call = {
                "jsonrpc": "2.0",
                "id": 9,
                "method": "tools/call",
                "params": {"name": "github.count", "arguments": {"n": 5}, "_meta": {"progressToken": "p"}},
            }
            async with c.http.stream("POST", c.url(0), json=call, headers=c.headers()) as first:
                seen = await read_events(first)
            stream = seen[0]["id"].split(":")[0]
            statuses = [(await c.resume(1, f"{stream}:{n}")).status_code for n in (0, 2)]
            kept = events_of((await c.resume(1, f"{stream}:3")).text.splitlines())
            return seen, statuses, kept

    seen, statuses, kept = asyncio.run(go())
    assert [e["id"].split(":")[1] for e in seen] == ["0", "1", "2", "3", "4", "5", "6"]
    assert statuses == [404, 404]
    assert kept == seen[4:]


# -- one process, no Redis: the in-process store ------------------------------------------------------------------


@pytest.fixture(scope="module")
def single(upstream: LoopbackMCP) -> Iterator[RunningGateway]:
    text = f"""
mcp:
  servers:
    github: {{transport: streamable_http, url: "{upstream.url}"}}
  virtual_servers:
    dev: {{servers: [github]}}
"""
    with gateway_from_yaml(text) as gw:
        yield gw


def test_without_redis_the_replica_that_produced_a_stream_resumes_it(single: RunningGateway) -> None:
    port = int(single.root.rsplit(":", 1)[1])

    async def go() -> tuple[list[dict[str, str]], list[dict[str, str]], int]:
        async with client([port], MASTER_KEY) as c:
            gate = uuid.uuid4().hex
            async with c.http.stream("POST", c.url(0), json=c.wait_for(gate), headers=c.headers()) as first:
                seen = await read_events(first, 2)
            await c.release(gate, 0)
            rest = events_of((await c.resume(0, seen[-1]["id"])).text.splitlines())
            unknown = (await c.resume(0, "f" * 32 + ":1")).status_code
            return seen, rest, unknown

    seen, rest, unknown = asyncio.run(go())
    stream = seen[0]["id"].split(":")[0]
    assert [e["id"] for e in rest] == [f"{stream}:2", f"{stream}:3"] and message(rest[1])["id"] == 7
    assert unknown == 404


# -- the in-process store's bounds --------------------------------------------------------------------------------


async def collect(store: MemoryStreams, stream: str, after: int) -> list[tuple[int, bytes]]:
    out = []
    async for seq, data in store.follow(stream, after, 0.01):
        out.append((seq, data))
        if seq in (END, 0):
            break
    return out


def test_the_memory_store_keeps_the_last_events_and_forgets_expired_streams(monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        store = MemoryStreams(ttl_s=10, max_events=2)
        await store.open("s", "owner")
        for seq in (1, 2, 3):
            await store.append("s", seq, b"e%d" % seq)
        assert await store.trimmed("s", 0) and not await store.trimmed("s", 1)
        assert await collect(store, "s", 1) == [(2, b"e2"), (3, b"e3"), (0, b"")]  # then idle: a keep-alive
        await store.end("s", 4)
        assert await collect(store, "s", 2) == [(3, b"e3"), (END, b"")]
        later = time.monotonic() + 11
        monkeypatch.setattr(streams.time, "monotonic", lambda: later)
        assert await store.owner("s") is None and await collect(store, "s", 0) == []

    asyncio.run(go())


def test_the_memory_store_is_bounded_in_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streams, "MAX_BYTES", 100)

    async def go() -> list[str | None]:
        store = MemoryStreams(ttl_s=10, max_events=10)
        for name in ("a", "b", "c"):
            await store.open(name, "o")
            await store.append(name, 1, b"x" * 40)
        return [await store.owner(name) for name in ("a", "b", "c")]

    assert asyncio.run(go()) == [None, "o", "o"]  # the oldest stream went first


# -- the official SDK client resumes by itself --------------------------------------------------------------------


class CutStream(httpx2.AsyncByteStream):
    """A response body that breaks (a network error) after its first ``events`` SSE events."""

    def __init__(self, inner: Any, events: int) -> None:
        self.inner, self.events = inner, events

    async def __aiter__(self) -> AsyncIterator[bytes]:
        buffer = b""
        async for chunk in self.inner:
            buffer += chunk
            ends = [i for i in range(len(buffer)) if buffer.startswith(b"\r\n\r\n", i)]
            if len(ends) >= self.events:
                yield buffer[: ends[self.events - 1] + 4]
                raise httpx2.ReadError("cut")
        yield buffer

    async def aclose(self) -> None:
        await self.inner.aclose()


class CutThenResume(httpx2.AsyncBaseTransport):
    """POSTs go to replica 0, GETs to replica 1; the answer of the wait_for call is cut after two events."""

    def __init__(self, ports: list[int]) -> None:
        self.ports, self.resumed = ports, []
        self._inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        port = self.ports[1] if request.method == "GET" else self.ports[0]
        request.url = request.url.copy_with(port=port)
        if request.method == "GET":
            self.resumed.append(request.headers.get("last-event-id"))
        response = await self._inner.handle_async_request(request)
        if request.method == "POST" and b"wait_for" in request.content:
            response.stream = CutStream(response.stream, 2)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def test_the_sdk_client_resumes_a_cut_stream_on_another_replica(replicas: tuple[Replicas, str]) -> None:
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    group, key = replicas
    gate = uuid.uuid4().hex
    transport = CutThenResume(group.ports)

    async def go() -> tuple[str, list[float]]:
        progress: list[float] = []
        async with (
            httpx2.AsyncClient(transport=transport, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
            streamable_http_client(f"http://127.0.0.1:{group.ports[0]}/mcp/dev", http_client=http) as (read, write),
            ClientSession(read, write) as session,
            httpx2.AsyncClient(timeout=30) as other,
        ):
            await session.initialize()
            releaser = Client(other, group.ports, key)
            await releaser.initialize()

            async def on_progress(value: float, total: float | None, message: str | None) -> None:
                progress.append(value)
                if value == 1:
                    await releaser.release(gate, 1)

            result = await session.call_tool("github.wait_for", {"key": gate}, progress_callback=on_progress)
            block = result.content[0]
            assert isinstance(block, types.TextContent)
            return block.text, progress

    text, progress = asyncio.run(go())
    assert text == f"released {gate}" and progress == [1, 2]
    resumed = [r for r in transport.resumed if r is not None]  # the others: standalone GET streams (405)
    assert len(resumed) == 1 and resumed[0].endswith(":1")  # resumed after the first progress, on replica 1


@pytest.mark.parametrize("blocking", [8, 0])
def test_the_redis_store_follows_blocking_or_polling(monkeypatch: pytest.MonkeyPatch, blocking: int) -> None:
    """A follower reads what another writer appends, in order, to the end marker: in a blocking read, or (past
    MAX_BLOCKING followers of a worker) by polling."""
    import redis.asyncio as aioredis

    monkeypatch.setattr(streams, "MAX_BLOCKING", blocking)

    async def go() -> tuple[list[tuple[int, bytes]], str | None, bool]:
        client = aioredis.Redis.from_url(redis_url())
        try:
            store = RedisStreams(client, f"wg-t-{uuid.uuid4().hex[:8]}:", 60, 10, 0.2)
            await store.open("s", "owner")
            await store.append("s", 1, b"one")

            async def produce() -> None:
                await store.append("s", 2, b"two")
                await store.end("s", 3)

            got: list[tuple[int, bytes]] = []
            async with asyncio.timeout(10):
                async for seq, data in store.follow("s", 0, 5):
                    got.append((seq, data))
                    if seq == 1:
                        await produce()
                    if seq == END:
                        break
            return got, await store.owner("s"), await store.trimmed("s", 0)
        finally:
            await client.aclose()

    got, owner, trimmed = asyncio.run(go())
    assert got == [(1, b"one"), (2, b"two"), (END, b"")] and owner == "owner" and not trimmed
