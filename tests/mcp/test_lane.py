"""The direct tools/call lane (mcp/lane.py) reads an upstream's SSE answer as the spec frames it: since protocol
2025-11-25 a server may open the stream with a priming event (an id and an empty ``data:``) and a ``retry:`` field
before the answer (found by the MCP Inspector judge against the reference "everything" server)."""

from __future__ import annotations

import asyncio

import orjson
from aiohttp import web

from wardgate.mcp.lane import HTTPLane


async def _serve_and_call(stream: bytes) -> dict[str, object]:
    async def handler(request: web.Request) -> web.StreamResponse:
        sent = orjson.loads(await request.read())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(stream.replace(b"$ID", str(sent["id"]).encode()))
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/mcp", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    lane = HTTPLane(f"http://127.0.0.1:{port}/mcp", {}, 5.0)
    try:
        return await lane.call_tool("echo", {"message": "hi"})
    finally:
        await lane.close()
        await runner.cleanup()


def test_a_priming_event_and_retry_field_before_the_answer_are_skipped() -> None:
    stream = (
        b"id: 848f5aaa\ndata: \n\n"  # the priming event
        b"retry: 1000\n\n"
        b"event: message\r\nid: 01c0\r\n"
        b'data: {"result":{"content":[{"type":"text","text":"Echo: hi"}]},"jsonrpc":"2.0","id":$ID}\r\n\r\n'
    )
    assert asyncio.run(_serve_and_call(stream)) == {"content": [{"type": "text", "text": "Echo: hi"}]}
