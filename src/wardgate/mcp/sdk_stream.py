"""Messages for a downstream client on the response stream of a request the SDK's server is handling.

The SDK's stateless server can send a request-scoped notification (``ctx.session.send_notification`` with a related
request id), but a server-to-client request it sends waits for an answer on its own transport, which in stateless
mode never sees the answer (that comes with a new POST, maybe to another replica). The relay (backchannel.py) waits
for the answer itself, so it needs only to put the request, under its own id, on the call's stream: the write the
SDK's dispatcher does for its own requests, with the request's id as the related id so that the streamable HTTP
transport routes it onto the call's SSE stream. This reaches two private attributes of the pinned SDK (mcp 2.3.0):
when they are not there, nothing is relayed and the server's policies answer, as before.
"""

from __future__ import annotations

from typing import Any

from mcp.server.context import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata
from mcp_types import JSONRPCNotification, JSONRPCRequest

from wardgate.mcp.backchannel import Send, capabilities_of

SESSION_SCOPE_KEY = "wardgate.mcp.session"  # the ASGI scope key of (session id, declared capabilities)
SSE_SESSION = "sse:"  # a legacy SSE session's key: this prefix and the SDK's session id (surface.py)


def session_of(ctx: ServerRequestContext[Any, Any]) -> tuple[str, str] | None:
    """The session (its id and the capabilities its client declared) the request came with: a streamable HTTP one
    (the capabilities from its signed id), or a legacy SSE one (capabilities None in the scope: the SDK's stateful
    session holds what its client declared at initialize)."""
    request = ctx.request
    found = getattr(request, "scope", {}).get(SESSION_SCOPE_KEY) if request is not None else None
    if not isinstance(found, tuple):
        return None
    if found[1] is None:
        params = ctx.session.client_params
        declared = params.model_dump(mode="json", by_alias=True, exclude_none=True) if params is not None else None
        return found[0], capabilities_of(declared)
    return found


def sender(ctx: ServerRequestContext[Any, Any]) -> Send | None:
    """Writes a JSON-RPC request or notification on the stream of the request ``ctx`` is handling."""
    dctx = getattr(ctx.session, "_request_outbound", None)
    write = getattr(getattr(dctx, "_dispatcher", None), "_write", None)
    if write is None or ctx.request_id is None:
        return None
    metadata = ServerMessageMetadata(related_request_id=ctx.request_id)

    async def send(message: dict[str, Any]) -> None:
        kind = JSONRPCRequest if "id" in message else JSONRPCNotification
        await write(kind.model_validate(message), metadata)

    return send


def silence(ctx: ServerRequestContext[Any, Any]) -> None:
    """The request was cancelled by its client: the SDK writes no answer for it (as for a cancel it received)."""
    dctx = getattr(ctx.session, "_request_outbound", None)
    event = getattr(dctx, "cancel_requested", None)
    if event is not None:
        event.set()
