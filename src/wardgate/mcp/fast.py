"""The direct path of a plain ``tools/call`` on the streamable HTTP endpoint: the surface answers it itself instead
of handing it to the SDK's stateless session manager, which per request builds a transport, a task group, memory
streams, a server session and pydantic models of the request and the answer (most of a worker's time in the
issue-18 profile). The answer is framed exactly as the SDK frames it (one SSE ``message`` event).

Only a request the SDK would accept as is takes this path: JSON content, an Accept header that names both
``application/json`` and ``text/event-stream``, a handshake-era protocol version (or none), and params of just
``name``, ``arguments`` and a ``_meta`` without a progress token. Anything else (batches, other methods, odd
headers, a progress token) goes to the SDK, so its answers, errors included, stay the reference.
"""

from __future__ import annotations

from typing import Any

import orjson
from mcp.shared.exceptions import MCPError
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS

from wardgate.api.asgi import Scope, Send
from wardgate.core.principal import Principal
from wardgate.mcp.audit import actor_of
from wardgate.mcp.backchannel import CallCancelled, Downstream
from wardgate.mcp.virtual import VirtualServer

PARAM_KEYS = frozenset(("name", "arguments", "_meta"))
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]


def _headers_ok(scope: Scope) -> bool:
    json_body = accepts_json = accepts_sse = False
    version_ok = True
    for key, value in scope["headers"]:
        if key == b"content-type":
            json_body = value.split(b";", 1)[0].strip().lower() == b"application/json"
        elif key == b"accept":
            kinds = [part.split(b";", 1)[0].strip().lower() for part in value.split(b",")]
            accepts_json = b"application/json" in kinds
            accepts_sse = b"text/event-stream" in kinds
        elif key == b"mcp-protocol-version":
            version_ok = value.decode("latin-1") in HANDSHAKE_PROTOCOL_VERSIONS
    return json_body and accepts_json and accepts_sse and version_ok


def eligible(scope: Scope, message: Any) -> bool:
    """A single, well-formed tools/call request the SDK would take as is (see the module's docstring)."""
    if not isinstance(message, dict) or message.get("method") != "tools/call" or message.get("jsonrpc") != "2.0":
        return False
    request_id = message.get("id")
    if isinstance(request_id, bool) or not isinstance(request_id, int | str) or len(message) != 4:
        return False
    params = message.get("params")
    if not isinstance(params, dict) or not isinstance(params.get("name"), str) or not params.keys() <= PARAM_KEYS:
        return False
    arguments = params.get("arguments")
    if arguments is not None and not isinstance(arguments, dict):
        return False
    meta = params.get("_meta")
    if meta is not None and (not isinstance(meta, dict) or "progressToken" in meta):
        return False
    return _headers_ok(scope)


async def tools_call(
    vs: VirtualServer, principal: Principal, message: dict[str, Any], send: Send, session: str = "", caps: str = ""
) -> None:
    """Answers the call with one SSE event; when the upstream sends something for the client first (a relayed
    request, progress, a log message: backchannel.py), the stream starts with it and the answer follows. A call the
    client cancelled ends its stream without an answer."""
    params = message["params"]
    started = False

    async def stream(out: dict[str, Any]) -> None:
        nonlocal started
        if not started:
            started = True
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
        await send({"type": "http.response.body", "body": _event(out), "more_body": True})

    down = Downstream(actor_of(principal), session, message["id"], caps, stream)
    answer: dict[str, Any] | None
    try:
        result = await vs.call_tool(principal, params["name"], params.get("arguments"), down)
        answer = {"jsonrpc": "2.0", "id": message["id"], "result": result}
    except CallCancelled:
        answer = None
    except MCPError as exc:
        answer = {"jsonrpc": "2.0", "id": message["id"], "error": exc.error.model_dump(mode="json", exclude_none=True)}
    body = _event(answer) if answer is not None else b""
    if started:
        await send({"type": "http.response.body", "body": body})
        return
    headers = [*SSE_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _event(message: dict[str, Any]) -> bytes:
    return b"event: message\r\ndata: " + orjson.dumps(message) + b"\r\n\r\n"
