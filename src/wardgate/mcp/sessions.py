"""MCP session ids that any replica can check: the id carries its own state (virtual server, principal, expiry),
signed with a key every replica derives from the master key. No replica owns a session, so a load balancer needs
no stickiness and a replica's death loses nothing. A DELETE is remembered in Redis (when configured) until the id
would have expired, so a terminated session answers 404 on every replica: at once on the replica that deleted it,
and within ``RECHECK_S`` on the others (a replica asks Redis about a session at most once per ``RECHECK_S``, not on
every request; the session holds no server state, so the window serves nothing a deleted session could lose).
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
MAX_CHECKED = 100_000  # sessions Redis recently said are live, remembered for RECHECK_S (oldest forgotten first)
RECHECK_S = 1.0


@dataclass(frozen=True, slots=True)
class SessionClaims:
    virtual_server: str
    principal: str  # "<kind>:<id>"
    expires: int
    capabilities: str = ""  # what the client declared at initialize (backchannel.py's letters)


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
        self._live: OrderedDict[str, float] = OrderedDict()  # slot → when Redis last said it was not deleted

    def mint(self, virtual_server: str, principal: str, capabilities: str = "") -> str:
        claims = {"v": virtual_server, "p": principal, "e": int(time.time() + self._ttl_s), "n": os.urandom(9).hex()}
        if capabilities:
            claims["c"] = capabilities
        payload = orjson.dumps(claims)
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
            claims = SessionClaims(str(data["v"]), str(data["p"]), int(data["e"]), str(data.get("c", ""))[:8])
        except (ValueError, KeyError, TypeError):
            return None
        return claims if claims.expires > time.time() else None

    def _slot(self, session_id: str) -> str:
        return hashlib.sha256(session_id.encode("ascii")).hexdigest()[:32]

    async def delete(self, session_id: str, claims: SessionClaims) -> None:
        slot, ttl = self._slot(session_id), max(1, claims.expires - int(time.time()))
        if self._redis is not None:
            await self._redis.set(self._prefix + slot, b"1", ex=ttl)
            self._live.pop(slot, None)
        self._deleted[slot] = claims.expires
        while len(self._deleted) > MAX_LOCAL_DELETED:
            self._deleted.popitem(last=False)

    async def deleted(self, session_id: str) -> bool:
        slot = self._slot(session_id)
        if slot in self._deleted or self._redis is None:
            return slot in self._deleted
        now = time.monotonic()
        checked = self._live.get(slot)
        if checked is not None and now - checked < RECHECK_S:
            return False
        if await self._redis.exists(self._prefix + slot):
            self._live.pop(slot, None)
            return True
        self._live[slot] = now
        self._live.move_to_end(slot)
        while len(self._live) > MAX_CHECKED:
            self._live.popitem(last=False)
        return False
