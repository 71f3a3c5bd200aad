"""The legacy SSE transport across replicas, with no stickiness: a client holds its event stream open on one
replica and POSTs its messages to ``/mcp/{vs}/messages/?session_id=…``, which a load balancer may send to any
replica. The replica holding the stream records the session's owner (the principal) in Redis and subscribes to the
session's channel; a replica that gets a message for a session it does not hold checks the owner and publishes the
message there. No subscriber (the holder died, the session ended) or another principal: 404, as the SDK answers an
unknown session. Without Redis a session is served by the replica that holds it (docs/mcp.md).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

log = logging.getLogger("wardgate.mcp")
Deliver = Callable[[list[tuple[bytes, bytes]], bytes], Awaitable[None]]
FORWARDED_HEADERS = (b"content-type", b"host", b"origin")  # what the SDK's transport looks at in a message POST


@dataclass(frozen=True, slots=True)
class HeldSession:
    actor: str
    deliver: Deliver  # hands a message (its headers and body) to the SDK's transport of this session


class SSERelay:
    def __init__(self, redis: aioredis.Redis | None, prefix: str, ttl_s: float) -> None:
        self._redis = redis
        self._prefix = prefix + "mcp:sse:"
        self._ttl = max(1, int(ttl_s))
        self._held: dict[str, HeldSession] = {}
        self._pubsub = redis.pubsub() if redis is not None else None
        self._reader: asyncio.Task[None] | None = None

    @property
    def shared(self) -> bool:
        return self._redis is not None

    def held(self, session_id: str) -> HeldSession | None:
        return self._held.get(session_id)

    async def opened(self, session_id: str, actor: str, deliver: Deliver) -> None:
        self._held[session_id] = HeldSession(actor, deliver)
        if self._redis is None or self._pubsub is None:
            return
        await self._pubsub.subscribe(self._prefix + "msg:" + session_id)
        await self._redis.set(self._prefix + "owner:" + session_id, actor.encode(), ex=self._ttl)
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read(), name="mcp-sse-relay")

    async def closed(self, session_id: str) -> None:
        self._held.pop(session_id, None)
        if self._redis is None or self._pubsub is None:
            return
        with contextlib.suppress(Exception):  # Redis away: the owner key expires on its own
            await self._pubsub.unsubscribe(self._prefix + "msg:" + session_id)
            await self._redis.delete(self._prefix + "owner:" + session_id)

    async def forward(self, session_id: str, actor: str, headers: list[tuple[bytes, bytes]], body: bytes) -> bool:
        """Publishes a message to the replica holding the session; False when none holds it for this principal."""
        if self._redis is None:
            return False
        owner = await self._redis.get(self._prefix + "owner:" + session_id)
        if owner is None or (owner.decode("utf-8", "replace") if isinstance(owner, bytes) else str(owner)) != actor:
            return False
        kept = [[k.decode("latin-1"), v.decode("latin-1")] for k, v in headers if k in FORWARDED_HEADERS]
        envelope = orjson.dumps({"h": kept, "b": base64.b64encode(body).decode("ascii")})
        return int(await self._redis.publish(self._prefix + "msg:" + session_id, envelope)) > 0

    async def _read(self) -> None:
        assert self._pubsub is not None
        while self._held:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: the held streams stay local until it is back
                log.warning("MCP SSE relay: Redis subscription failed (%s)", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            channel = message["channel"]
            channel = channel.decode("ascii", "replace") if isinstance(channel, bytes) else str(channel)
            session_id = channel.rsplit(":", 1)[-1]
            held = self._held.get(session_id)
            if held is None:
                continue
            try:
                data = orjson.loads(message["data"])
                headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in data["h"]]
                await held.deliver(headers, base64.b64decode(data["b"]))
            except Exception as exc:  # noqa: BLE001 - one bad message never stops the relay
                log.warning("MCP SSE relay: a message for %s was not delivered (%s)", session_id, type(exc).__name__)

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
