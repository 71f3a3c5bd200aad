"""Lua calls from concurrent requests, sent to Redis together: one pipeline per round trip instead of one per call.

While a pipeline is in flight, the calls that arrive queue up; when it returns, they all go in the next one. An idle
worker sends a lone call at once (no timer, no added latency); a busy one sends one pipeline per round trip
carrying every reservation and settlement that arrived meanwhile. redis-py's per-command cost (taking a pooled
connection, packing, timing hooks) is paid once per pipeline; each call keeps its own result or error.

Scripts go as ``EVALSHA``; a server that does not know one (restarted, flushed) answers ``NOSCRIPT`` and that call
is retried through ``Script.__call__``, which loads it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

MAX_PIPELINE = 256  # calls per round trip; more wait for the next one


class _Pending:
    __slots__ = ("args", "future", "keys", "script")

    def __init__(self, script: AsyncScript, keys: list[str], args: list[Any], future: asyncio.Future[Any]) -> None:
        self.script, self.keys, self.args, self.future = script, keys, args, future


class ScriptBatcher:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._queue: list[_Pending] = []
        self._sending: asyncio.Task[None] | None = None

    async def call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Pending(script, keys, args, future))
        if self._sending is None:
            self._sending = loop.create_task(self._send())
        return await future

    async def _send(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_PIPELINE], self._queue[MAX_PIPELINE:]
                await self._round_trip(batch)
        except asyncio.CancelledError:  # the worker is closing: nobody is left waiting in silence
            for one in self._queue:
                one.future.cancel()
            self._queue = []
            raise
        finally:
            self._sending = None

    async def _round_trip(self, batch: list[_Pending]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for one in batch:
                pipe.execute_command("EVALSHA", one.script.sha, len(one.keys), *one.keys, *one.args)
            results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # the connection or the pool failed: every call in it fails alike
            for one in batch:
                if not one.future.done():
                    one.future.set_exception(exc if isinstance(exc, Exception) else ConnectionError(str(exc)))
            if not isinstance(exc, Exception):
                raise
            return
        for one, result in zip(batch, results, strict=True):
            if one.future.done():  # its request was cancelled meanwhile
                continue
            if isinstance(result, NoScriptError):
                try:
                    result = await one.script(keys=one.keys, args=one.args)
                except Exception as exc:  # noqa: BLE001 - handed to the caller, who maps Redis errors
                    result = exc
            if isinstance(result, Exception):
                one.future.set_exception(result)
            else:
                one.future.set_result(result)
