"""Lua calls from concurrent requests, sent to Redis together: one pipeline per round trip instead of one per call.

While a pipeline carrying calls somebody waits on is in flight, the calls that arrive queue up; when it returns,
they all go in the next one. An idle worker sends a lone reservation at once (no timer, no added latency);
settlements linger a few milliseconds for a reservation to ride with (``ScriptBatcher``); a busy worker sends one
pipeline per round trip carrying every reservation and settlement that arrived meanwhile. redis-py's per-command
cost (taking a pooled connection, packing, timing hooks) is paid once per pipeline; each call keeps its own result
or error.

Scripts go as ``EVALSHA``; a server that does not know one (restarted, flushed) answers ``NOSCRIPT`` and that call
is retried through ``Script.__call__``, which loads it.

Calls that can be merged (``merged``: the settlements, which nobody waits on before answering) go further: all those
of one kind that queued up become ONE script call in the next pipeline, built by their ``Merge`` and its answer
split back to each caller. A busy worker then settles a whole round trip's requests with one script run instead of
one per request: Redis's per-call cost (a Lua context, argument tables) and redis-py's packing and parsing are paid
once.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

MAX_PIPELINE = 256  # calls per round trip; more wait for the next one
LINGER_S = 0.005  # how long a settlement waits for a reservation to ride along with


class _Pending:
    __slots__ = ("args", "future", "keys", "script")

    def __init__(self, script: AsyncScript, keys: list[str], args: list[Any], future: asyncio.Future[Any]) -> None:
        self.script, self.keys, self.args, self.future = script, keys, args, future


class Merge(Protocol):
    """How queued calls of one kind become one script call, and its answer one result per call."""

    script: AsyncScript

    def pack(self, items: list[Any]) -> tuple[list[str], list[Any]]: ...

    def unpack(self, items: list[Any], result: Any) -> list[Any]: ...


class _Merged(_Pending):
    __slots__ = ("futures", "items", "merge")

    def __init__(self, merge: Merge, items: list[Any], futures: list[asyncio.Future[Any]], loop: Any) -> None:
        keys, args = merge.pack(items)
        super().__init__(merge.script, keys, args, loop.create_future())
        self.merge, self.items, self.futures = merge, items, futures


class ScriptBatcher:
    """``call``: a call a request waits on (a reservation) goes out at once unless a round trip carrying such calls
    is already in flight, in which case it rides in the next one. ``merged``: a call nobody waits on before
    answering (a settlement) lingers up to ``linger_s`` for a waited-on call to ride along with, and is then sent on
    its own; a settle-only round trip in flight never holds a waited-on call back. So a busy worker sends one
    pipeline per round trip carrying every reservation and settlement that arrived meanwhile, and a worker serving
    one request at a time pays one round trip per request (the last request's settlement rides with the next
    reservation) instead of two."""

    def __init__(self, client: aioredis.Redis, linger_s: float = LINGER_S) -> None:
        self._redis = client
        self._linger_s = linger_s
        self._queue: list[_Pending] = []
        self._merging: dict[int, tuple[Merge, list[Any], list[asyncio.Future[Any]]]] = {}
        self._senders: set[asyncio.Task[None]] = set()
        self._active = 0  # senders started and not finished (the task set empties a loop turn later)
        self._urgent = 0  # of them, those carrying calls somebody waits on
        self._timer: asyncio.TimerHandle | None = None

    async def call(self, script: AsyncScript, keys: list[str], args: list[Any]) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append(_Pending(script, keys, args, future))
        if self._urgent == 0:
            self._start(loop, urgent=True)
        return await future

    async def merged(self, merge: Merge, item: Any) -> Any:
        """Like ``call``, for a call that ``merge`` folds together with the others of its kind queued meanwhile."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        group = self._merging.get(id(merge))
        if group is None:
            group = self._merging[id(merge)] = (merge, [], [])
        group[1].append(item)
        group[2].append(future)
        if self._active == 0:  # a sender in flight takes them when it returns
            self._linger(loop)
        return await future

    def _linger(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._timer is None:
            self._timer = loop.call_later(self._linger_s, self._lingered, loop)

    def _lingered(self, loop: asyncio.AbstractEventLoop) -> None:
        self._timer = None
        if self._merging and self._active == 0:
            self._start(loop, urgent=False)

    def _start(self, loop: asyncio.AbstractEventLoop, *, urgent: bool) -> None:
        if self._timer is not None:  # the lingering calls ride along now
            self._timer.cancel()
            self._timer = None
        if urgent:  # counted from now: calls arriving before the task runs ride in it, not in a sender of their own
            self._urgent += 1
        self._active += 1
        task = loop.create_task(self._send(urgent))
        self._senders.add(task)
        task.add_done_callback(self._senders.discard)

    def _take_merged(self) -> list[_Pending]:
        loop = asyncio.get_running_loop()
        merged: list[_Pending] = []
        for key, (merge, items, futures) in list(self._merging.items()):
            del self._merging[key]
            for start in range(0, len(items), MAX_PIPELINE):  # a bounded script call, however long the queue
                part = slice(start, start + MAX_PIPELINE)
                merged.append(_Merged(merge, items[part], futures[part], loop))
        return merged

    async def _send(self, counted: bool) -> None:
        try:
            while True:
                batch, self._queue = self._queue[:MAX_PIPELINE], self._queue[MAX_PIPELINE:]
                merged = self._take_merged()
                if not batch and not merged:  # another sender took them
                    break
                if bool(batch) != counted:
                    self._urgent += 1 if batch else -1
                    counted = not counted
                # settlements first: a reservation in the same pipeline sees the holds they release
                await self._round_trip(merged + batch)
                if not self._queue:  # calls that queued while this one was in flight go in the next
                    break
        except asyncio.CancelledError:  # the worker is closing: nobody is left waiting in silence
            for one in self._queue:
                one.future.cancel()
            for _, _, futures in self._merging.values():
                for future in futures:
                    future.cancel()
            self._queue = []
            self._merging = {}
            raise
        finally:
            self._active -= 1
            if counted:
                self._urgent -= 1
        if self._merging and self._active == 0:  # settlements that arrived during the last round trip
            self._linger(asyncio.get_running_loop())

    async def _round_trip(self, batch: list[_Pending]) -> None:
        try:
            pipe = self._redis.pipeline(transaction=False)
            for one in batch:
                pipe.execute_command("EVALSHA", one.script.sha, len(one.keys), *one.keys, *one.args)
            results = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # the connection or the pool failed: every call in it fails alike
            error = exc if isinstance(exc, Exception) else ConnectionError(str(exc))
            for one in batch:
                _deliver(one, error)
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
            _deliver(one, result)


def _deliver(one: _Pending, result: Any) -> None:
    """Hand a call its result or error; a merged call splits its result among the calls it carried."""
    if not isinstance(one, _Merged):
        if one.future.done():
            return
        if isinstance(result, Exception):
            one.future.set_exception(result)
        else:
            one.future.set_result(result)
        return
    if not isinstance(result, Exception):
        try:
            results: list[Any] = one.merge.unpack(one.items, result)
        except Exception as exc:  # noqa: BLE001 - an answer of the wrong shape: every caller gets the error
            result = exc
    for index, future in enumerate(one.futures):
        if future.done():
            continue
        if isinstance(result, Exception):
            future.set_exception(result)
        else:
            future.set_result(results[index])
