"""MCP session ids that any replica can check: the id carries its own state (virtual server, principal, expiry),
signed with a key every replica derives from the master key. No replica owns a session, so a load balancer needs
no stickiness and a replica's death loses nothing. A DELETE is remembered in Redis (when configured) until the id
would have expired, so a terminated session answers 404 on every replica.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from collections import OrderedDict
from dataclasses import dataclass

import orjson
import redis.asyncio as aioredis

MAX_ID = 512
MAX_LOCAL_DELETED = 100_000  # one replica without Redis: the deleted ids it remembers, oldest forgotten first


@dataclass(frozen=True, slots=True)
class SessionClaims:
    virtual_server: str
    principal: str  # "<kind>:<id>"
    expires: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, master_key: str, ttl_s: float, redis: aioredis.Redis | None = None, prefix: str = "wg:") -> None:
        self._key = hmac.new(master_key.encode(), b"wardgate mcp session v1", hashlib.sha256).digest()
        self._ttl_s = ttl_s
        self._redis = redis
        self._prefix = prefix + "mcp:deleted:"
        self._deleted: OrderedDict[str, int] = OrderedDict()

    def mint(self, virtual_server: str, principal: str) -> str:
        payload = orjson.dumps(
            {"v": virtual_server, "p": principal, "e": int(time.time() + self._ttl_s), "n": os.urandom(9).hex()}
        )
        body = _b64(payload)
        return f"{body}.{self._mac(body)}"

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()[:18])

    def verify(self, session_id: str) -> SessionClaims | None:
        """The claims of a well-formed, authentic, unexpired id; None for anything else (never an exception)."""
        if len(session_id) > MAX_ID or not session_id.isascii():
            return None
        body, dot, mac = session_id.partition(".")
        if not dot or not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = orjson.loads(_unb64(body))
            claims = SessionClaims(str(data["v"]), str(data["p"]), int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        return claims if claims.expires > time.time() else None

    def _slot(self, session_id: str) -> str:
        return hashlib.sha256(session_id.encode("ascii")).hexdigest()[:32]

    async def delete(self, session_id: str, claims: SessionClaims) -> None:
        slot, ttl = self._slot(session_id), max(1, claims.expires - int(time.time()))
        if self._redis is not None:
            await self._redis.set(self._prefix + slot, b"1", ex=ttl)
            return
        self._deleted[slot] = claims.expires
        while len(self._deleted) > MAX_LOCAL_DELETED:
            self._deleted.popitem(last=False)

    async def deleted(self, session_id: str) -> bool:
        slot = self._slot(session_id)
        if self._redis is not None:
            return bool(await self._redis.exists(self._prefix + slot))
        return slot in self._deleted
