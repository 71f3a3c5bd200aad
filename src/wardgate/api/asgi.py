"""Plain ASGI plumbing for the data plane: read a bounded body, send JSON, send errors. No framework objects."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from wardgate.core.errors import InvalidRequest, PayloadTooLarge, WardgateError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

JSON = b"application/json"


def query_params(scope: Scope, max_fields: int = 16) -> dict[str, list[str]]:
    """The query string's parameters, at most ``max_fields`` of them from its first 2048 bytes; more is a 400."""
    raw: bytes = scope.get("query_string") or b""
    try:
        return parse_qs(raw.decode("latin-1")[:2048], max_num_fields=max_fields)
    except ValueError:  # parse_qs: "Max number of fields exceeded"
        raise InvalidRequest(
            f"The query string has more than {max_fields} parameters, the most allowed.", code="invalid_query"
        ) from None


class Disconnected(Exception):
    """The client went away before its body was read."""


DISCONNECT = "wardgate.disconnect"  # scope key of the server's DisconnectSlot (server/protocol.py)


class DisconnectSlot:
    """Where the request's handler leaves what to call if the client goes away before the response is complete.

    Wardgate's own server puts one in each request's scope and calls it from the connection's ``connection_lost``: a
    plain callback, where an app on another ASGI server needs a task per request that waits on ``receive()``.
    """

    __slots__ = ("callback",)

    def __init__(self) -> None:
        self.callback: Callable[[], None] | None = None


async def read_body(receive: Receive, limit: int, content_length: int | None) -> bytes:
    if content_length is not None and content_length > limit:
        raise PayloadTooLarge(f"The request body is {content_length} bytes; this gateway accepts at most {limit}.")
    message = await receive()
    if message["type"] == "http.disconnect":
        raise Disconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes, the most this gateway accepts.")
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes, the most this gateway accepts.")
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


async def send_bytes(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]], content_type: bytes = JSON
) -> None:
    headers.append((b"content-type", content_type))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def send_json(send: Send, status: int, obj: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send_bytes(send, status, orjson.dumps(obj), headers if headers is not None else [])


def error_headers(exc: WardgateError, headers: list[tuple[bytes, bytes]] | None = None) -> list[tuple[bytes, bytes]]:
    """``headers`` plus the error's own (``retry-after`` and the like) and ``x-should-retry``."""
    out = headers if headers is not None else []
    for name, value in exc.headers.items():
        out.append((name.encode("latin-1"), value.encode("latin-1")))
    out.append((b"x-should-retry", b"true" if exc.should_retry else b"false"))
    return out


async def send_error(send: Send, exc: WardgateError, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send_json(send, exc.status, exc.to_dict(), error_headers(exc, headers))
