"""What every HTTP fake shares: a loopback server on its own event loop, request recording and a script.

`LoopbackServer` runs an aiohttp application on 127.0.0.1 (a free port) from an event loop in a background thread,
so sync and async clients alike can call it. Every request goes to `_handle`, which reads and records it
(`requests`, each a `RecordedRequest`), answers it with the next scripted response if there is one (`enqueue`), and
otherwise hands it to the fake's `_serve`. A fake subclasses it, implements `_serve` and sets the class attributes
that tell it apart: the thread's name, the path of `url` under `root_url`, and the few server options that differ.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Any, ClassVar, Self

import orjson
from aiohttp import web
from multidict import CIMultiDict


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str  # decoded
    raw_path: str  # as sent, percent-encoding included, without the query
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    json: Any  # the parsed body, or None when it is empty or not JSON
    body: bytes


async def read_request(request: web.Request) -> RecordedRequest:
    """The request as a fake records it, body read."""
    raw = await request.read()
    try:
        payload = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        payload = None
    headers = {name.lower(): value for name, value in request.headers.items()}
    raw_path = request.raw_path.split("?", 1)[0]
    return RecordedRequest(request.method, request.path, raw_path, dict(request.query), headers, payload, raw)


@dataclass(frozen=True, slots=True)
class _Scripted:
    status: int
    body: bytes
    headers: CIMultiDict[str]


class LoopbackServer:
    thread_name: ClassVar[str] = "fake-server"
    url_path: ClassVar[str] = ""  # `url` is `root_url` + this
    # a client that goes away cancels its handler (aiohttp's default is to let the handler run to its end)
    handler_cancellation: ClassVar[bool] = False
    backlog: ClassVar[int] = 128  # aiohttp's default
    # at close, cancel the tasks still running on the fake's loop (e.g. handlers stalled on purpose)
    cancel_leftover_tasks: ClassVar[bool] = False
    # the content type `enqueue` gives a str body and a bytes body
    text_content_type: ClassVar[str] = "text/plain; charset=utf-8"
    bytes_content_type: ClassVar[str] = "application/octet-stream"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._script: deque[_Scripted] = deque()
        self._lock = threading.RLock()
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None  # set when the server starts closing

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._thread is not None:
            raise RuntimeError(f"{type(self).__name__} is already started")
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name=self.thread_name, daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=30)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = self._runner = None
            self._port = None

    def __enter__(self) -> Self:
        return self if self._thread is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _open(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(
            app, access_log=None, handler_cancellation=self.handler_cancellation, shutdown_timeout=1.0
        )
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0, backlog=self.backlog).start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def _close(self) -> None:
        if self._stopping is not None:
            self._stopping.set()  # wakes handlers waiting on it, so that shutdown does not wait on them
        if self._runner is not None:
            await self._runner.cleanup()
        if self.cancel_leftover_tasks:
            leftovers = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in leftovers:
                task.cancel()
            await asyncio.gather(*leftovers, return_exceptions=True)

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base URL a client of the API is configured with."""
        return f"{self.root_url}{self.url_path}"

    # --- scripting and observation --------------------------------------------------------------------

    def enqueue(self, status: int, body: dict[str, Any] | str | bytes, headers: dict[str, str] | None = None) -> None:
        """Answer the next request (before authentication) with this, instead of the normal answer."""
        if isinstance(body, dict):
            raw, content_type = orjson.dumps(body), "application/json"
        elif isinstance(body, str):
            raw, content_type = body.encode(), self.text_content_type
        else:
            raw, content_type = body, self.bytes_content_type
        merged = CIMultiDict({"content-type": content_type})
        merged.update(headers or {})
        self._script.append(_Scripted(status, raw, merged))

    def reset(self) -> None:
        """Forget the recorded requests and the script; a fake that observes more forgets that too."""
        with self._lock:
            self.requests.clear()
            self._script.clear()

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    # --- serving --------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        recorded = await read_request(request)
        self._record(recorded)
        if self._script:
            scripted = self._script.popleft()
            return web.Response(status=scripted.status, body=scripted.body, headers=scripted.headers)
        return await self._serve(request, recorded)

    def _record(self, recorded: RecordedRequest) -> None:
        self.requests.append(recorded)

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        """The normal answer: what the fake is a fake of."""
        raise NotImplementedError
