"""Resumable downstream SSE streams: a POST answered through the SDK gets event ids (``<stream>:<seq>``, streams.py)
and each event is stored before the client sees it; a client that lost the stream GETs ``Last-Event-ID`` on any
replica and is sent what it missed, then the rest of the stream as it is produced.

The stream outlives its connection: once the answer streams, the client's disconnect is withheld from the SDK's
response (it would cancel the request), so the request runs to its end and its events are stored for the client's
GET. The direct ``tools/call`` path (fast.py) sends one event on a response that is not resumed and pays nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import MutableMapping
from typing import Any

from mcp_types.version import is_version_at_least
from redis.exceptions import RedisError

from wardgate.api.asgi import Receive, Scope, Send
from wardgate.mcp.streams import END, EventsGone, StreamStore, event_id, new_stream_id, parse_event_id

log = logging.getLogger("wardgate.mcp")
SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"x-accel-buffering", b"no"),
]
PRIMING_FROM = "2025-11-25"  # the revision that lets a server open a stream with an id and no message
Refuse = tuple[int, str]  # (HTTP status, message) of a GET that replays nothing


def owner_of(virtual_server: str, actor: str, session_id: str | None) -> str:
    """Who may resume a stream: the virtual server, the principal and (a digest of) the session it was opened in."""
    session = hashlib.sha256(session_id.encode("latin-1")).hexdigest()[:32] if session_id else "-"
    return f"{virtual_server}\n{actor}\n{session}"


def _is_sse_start(event: MutableMapping[str, Any]) -> bool:
    if event.get("status") != 200:
        return False
    return any(k == b"content-type" and v.startswith(b"text/event-stream") for k, v in event.get("headers", []))


class ResumableResponse:
    """The send and receive of one SDK-answered POST: ids on its SSE events, each stored first."""

    def __init__(
        self, store: StreamStore, owner: str, version: str | None, send: Send, receive: Receive, limit_s: float
    ) -> None:
        """``limit_s``: how long a request may run on after its client left (then it is cancelled, as before)."""
        self.stream = new_stream_id()
        self._limit_s = limit_s
        self._store, self._owner, self._send, self._receive = store, owner, send, receive
        self._priming = version is not None and is_version_at_least(version, PRIMING_FROM)
        self._seq = 0
        self._storing = False  # the answer is an SSE stream and its events are being stored
        self._ended = False
        self._gone = False  # the client's connection is closed: events are stored, not sent
        self._done = asyncio.Event()

    async def _deliver(self, event: MutableMapping[str, Any]) -> None:
        if not self._gone:
            try:
                await self._send(event)
            except OSError:  # the connection closed under the write: the stream goes on, stored
                self._gone = True

    async def _store_call(self, what: str, *args: Any) -> None:
        try:
            await getattr(self._store, what)(self.stream, *args)
        except (RedisError, OSError) as exc:  # the stream is still answered; only its resumption is lost
            log.warning("MCP stream %s: not stored (%s); it cannot be resumed", self.stream, type(exc).__name__)
            self._storing = False

    async def send(self, event: MutableMapping[str, Any]) -> None:
        kind = event["type"]
        if kind == "http.response.start":
            if _is_sse_start(event):
                self._storing = True
                try:
                    await self._store.open(self.stream, self._owner)
                except (RedisError, OSError) as exc:
                    log.warning("MCP stream: not stored (%s); it cannot be resumed", type(exc).__name__)
                    self._storing = False
            await self._deliver(event)
            if self._storing and self._priming:
                priming = b"id: " + event_id(self.stream, 0).encode() + b"\r\ndata: \r\n\r\n"
                await self._deliver({"type": "http.response.body", "body": priming, "more_body": True})
            return
        if kind != "http.response.body" or not self._storing:
            await self._deliver(event)
            return
        body: bytes = event.get("body", b"")
        if body and not body.startswith(b":"):  # one SSE event per chunk (sse-starlette); a comment is a ping
            self._seq += 1
            await self._store_call("append", self._seq, body)
            if self._storing:
                body = b"id: " + event_id(self.stream, self._seq).encode() + b"\r\n" + body
                event = {**event, "body": body}
        if not event.get("more_body", False):
            await self.finish()
        await self._deliver(event)

    async def receive(self) -> MutableMapping[str, Any]:
        message = await self._receive()
        if message["type"] == "http.disconnect" and self._storing and not self._done.is_set():
            self._gone = True  # withheld until the answer is complete and stored: the request is not cancelled
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._done.wait(), self._limit_s)
        return message

    async def finish(self) -> None:
        """The stream is complete (or its request ended without completing it): followers stop here."""
        if self._storing and not self._ended:
            self._ended = True
            await self._store_call("end", self._seq + 1)
        self._done.set()


async def replay(
    store: StreamStore, owner: str, last_event_id: str, receive: Receive, send: Send, idle_s: float, limit_s: float
) -> Refuse | None:
    """The events after ``last_event_id`` of a stream the caller owns, then the rest as it is produced, until it is
    complete, the client leaves or ``limit_s`` passed. A refusal (nothing sent yet) is returned for the surface to
    answer in its error shape: a malformed id is a 400, an unknown, foreign or trimmed one a 404."""
    parsed = parse_event_id(last_event_id)
    if parsed is None:
        return 400, "Invalid Last-Event-ID."
    stream, after = parsed
    try:
        found = await store.owner(stream)
        gone = found is not None and await store.trimmed(stream, after)
    except (RedisError, OSError):
        return 503, "The stream store is unavailable; try again."
    if found is None or not hmac.compare_digest(found.encode(), owner.encode()):
        return 404, "No stream for this Last-Event-ID."
    if gone:
        return 404, "The events after this Last-Event-ID are no longer held."
    await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
    left = asyncio.ensure_future(_disconnect(receive))
    deadline = time.monotonic() + limit_s
    try:
        async for seq, data in store.follow(stream, after, idle_s):
            if seq == END or left.done():
                break
            if seq == 0:
                if time.monotonic() > deadline:
                    break
                await send({"type": "http.response.body", "body": b": keep-alive\r\n\r\n", "more_body": True})
                continue
            body = b"id: " + event_id(stream, seq).encode() + b"\r\n" + data
            await send({"type": "http.response.body", "body": body, "more_body": True})
    except (EventsGone, RedisError, OSError) as exc:  # headers are out: the stream just ends; the client may retry
        log.info("MCP stream %s: replay ended early (%s)", stream, type(exc).__name__)
    finally:
        left.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await left
    await send({"type": "http.response.body", "body": b"", "more_body": False})
    return None


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def version_of(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"mcp-protocol-version":
            return str(value.decode("latin-1"))
    return None
