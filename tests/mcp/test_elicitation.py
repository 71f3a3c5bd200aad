"""What the gateway answers an upstream's elicitation/create (mcp/elicitation.py), on both paths: the SDK's
session (its callback) and the direct tools/call lane (the request arrives on the call's SSE stream)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from wardgate.mcp.elicitation import answer
from wardgate.mcp.lane import NOT_RELAYED, HTTPLane

FORM = {
    "message": "please confirm",
    "requestedSchema": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "score": {"type": "number", "default": 95.5},
            "status": {"type": "string", "enum": ["active", "inactive"], "default": "active"},
            "verified": {"type": "boolean", "default": True},
            "note": {"type": "string"},  # optional, no default: left out
        },
        "required": ["name", "age"],
    },
}


def test_defaults_accepts_a_form_with_the_schemas_own_defaults() -> None:
    assert answer("defaults", FORM) == {
        "action": "accept",
        "content": {"name": "John Doe", "age": 30, "score": 95.5, "status": "active", "verified": True},
    }


def test_defaults_declines_what_it_would_have_to_make_up() -> None:
    required_without_default = {
        "requestedSchema": {"type": "object", "properties": {"token": {"type": "string"}}, "required": ["token"]}
    }
    assert answer("defaults", required_without_default) == {"action": "decline"}
    wrong_type = {"requestedSchema": {"properties": {"n": {"type": "integer", "default": True}}, "required": ["n"]}}
    assert answer("defaults", wrong_type) == {"action": "decline"}  # a boolean is no JSON Schema integer
    off_enum = {"requestedSchema": {"properties": {"s": {"type": "string", "enum": ["a"], "default": "b"}}}}
    assert answer("defaults", off_enum) == {"action": "accept", "content": {}}  # the invalid default is not sent
    assert answer("defaults", {"mode": "url", "url": "https://pay.example.com", "message": "pay"}) == {
        "action": "decline"
    }
    assert answer("defaults", "not an object") == {"action": "decline"}


def test_decline_and_refuse() -> None:
    assert answer("decline", FORM) == {"action": "decline"}
    assert answer("refuse", FORM) is None


async def _lane_call(policy: str, request_method: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """An upstream whose tools/call stream first sends ``request_method`` to the client and answers the call only
    once the client replied; returns (the call's result, the client's reply)."""
    replied: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()

    async def post(request: web.Request) -> web.StreamResponse:
        message = orjson.loads(await request.read())
        if "method" not in message:  # the client's reply to our request
            replied.set_result(message)
            return web.Response(status=202)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        ask = {"jsonrpc": "2.0", "id": "up-1", "method": request_method, "params": FORM}
        await response.write(b"data: " + orjson.dumps(ask) + b"\n\n")
        reply = await replied
        result = {"content": [{"type": "text", "text": orjson.dumps(reply).decode()}]}
        await response.write(b"data: " + orjson.dumps({"jsonrpc": "2.0", "id": message["id"], "result": result}))
        await response.write(b"\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/mcp", post)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    lane = HTTPLane(f"http://127.0.0.1:{runner.addresses[0][1]}/mcp", {}, 5.0, policy)
    try:
        result = await lane.call_tool("ask", {})
    finally:
        await lane.close()
        await runner.cleanup()
    return result, replied.result()


def test_the_lane_answers_an_elicitation_by_the_policy() -> None:
    result, reply = asyncio.run(_lane_call("defaults", "elicitation/create"))
    assert reply["id"] == "up-1"
    assert reply["result"]["action"] == "accept"
    assert reply["result"]["content"]["name"] == "John Doe"
    assert orjson.loads(result["content"][0]["text"]) == reply


def test_the_lane_refuses_sampling_and_a_refused_elicitation() -> None:
    for policy, method in (("defaults", "sampling/createMessage"), ("refuse", "elicitation/create")):
        _, reply = asyncio.run(_lane_call(policy, method))
        assert reply["error"]["code"] == NOT_RELAYED
        assert "result" not in reply
