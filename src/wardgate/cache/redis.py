"""The shared tier: answers in Redis, the stampede lock across replicas, and the "filled" notification.

One replica at a time holds a short lock per key (``SET NX PX``) while it calls upstream; the others wait for its
"filled" message on one pub/sub channel (one subscription per replica, not per request), then read the answer.
A leader that dies leaves a lock that expires after ``lock_ttl_s``; its waiters time out to a normal call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from wardgate.cache.entry import CachedAnswer
from wardgate.core.outage import Outage

log = logging.getLogger("wardgate.cache")
RedisFailure = (RedisError, OSError)  # what a Redis call may raise; the cache then degrades to a plain call

# Delete the lock only if we still own it, then tell the waiters: in one step, so none of them can miss both.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
redis.call('PUBLISH', KEYS[2], ARGV[2])
return 1
"""


class RedisTier:
    def __init__(self, client: aioredis.Redis, prefix: str, outage: Outage | None = None) -> None:
        self.client = client
        self.prefix = prefix + "cache:"
        self.channel = self.prefix + "filled"
        self._release = client.register_script(_RELEASE)
        self._notifier = FillNotifier(client, self.channel, outage or Outage("Redis (cache fills)", log, quiet_s=1.0))

    def _entry(self, key: str) -> str:
        return self.prefix + "e:" + key

    def _lock(self, key: str) -> str:
        return self.prefix + "lock:" + key

    async def get(self, key: str) -> CachedAnswer | None:
        data = await self.client.get(self._entry(key))
        return CachedAnswer.decode(data) if isinstance(data, bytes) else None

    async def put(self, key: str, answer: CachedAnswer, ttl_s: float) -> None:
        await self.client.set(self._entry(key), answer.encode(), px=max(1, int(ttl_s * 1000)))

    async def try_lock(self, key: str, ttl_s: float) -> str | None:
        """A token if this replica now leads the call for ``key``, else None (another replica does)."""
        token = os.urandom(8).hex()
        locked = await self.client.set(self._lock(key), token, nx=True, px=max(1, int(ttl_s * 1000)))
        return token if locked else None

    async def release(self, key: str, token: str) -> None:
        await self._release(keys=[self._lock(key), self.channel], args=[token, key])

    async def wait_for_fill(self, key: str, timeout_s: float) -> CachedAnswer | None:
        """Wait for the replica that holds the lock to store the answer; None when it stored nothing or took too
        long (the caller then makes a normal call)."""
        waiter = await self._notifier.register(key)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.get(self._entry(key))
            pipe.exists(self._lock(key))
            data, locked = await pipe.execute()
            if data is None and locked:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
                data = await self.client.get(self._entry(key))
        finally:
            self._notifier.unregister(key, waiter)
        return CachedAnswer.decode(data) if isinstance(data, bytes) else None

    async def close(self) -> None:
        await self._notifier.close()


class FillNotifier:
    """One pub/sub subscription per replica; a message names a key whose lock was released (filled or not)."""

    def __init__(self, client: aioredis.Redis, channel: str, outage: Outage) -> None:
        self._outage = outage
        self._client = client
        self._channel = channel
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()

    async def register(self, key: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, []).append(future)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen(), name="cache-fill-notifier")
        with contextlib.suppress(TimeoutError):
            # only then can no message be missed: the caller reads the key after this
            await asyncio.wait_for(self._subscribed.wait(), 2.0)
        return future

    def unregister(self, key: str, future: asyncio.Future[None]) -> None:
        waiters = self._waiters.get(key)
        if waiters is not None:
            with contextlib.suppress(ValueError):
                waiters.remove(future)
            if not waiters:
                del self._waiters[key]

    async def _listen(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                self._outage.recovered()
                self._subscribed.set()
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is not None and message.get("type") == "message":
                        self._wake(message["data"])
            except RedisFailure as exc:
                self._subscribed.clear()
                self._outage.failed(exc)  # logged once per outage; the subscription is retried with a backoff
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
            finally:
                with contextlib.suppress(*RedisFailure):
                    await pubsub.aclose()

    def _wake(self, data: bytes | str) -> None:
        key = data.decode() if isinstance(data, bytes) else data
        for future in self._waiters.pop(key, ()):
            if not future.done():
                future.set_result(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
