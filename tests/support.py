"""Test support: a real Wardgate on loopback, in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import uvicorn

from wardgate.app import Gateway
from wardgate.assemble import Worker
from wardgate.config import Settings, load_config_text
from wardgate.store.engine import create_engine, upgrade

T = TypeVar("T")

MASTER_KEY = "sk-test-master-key"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready
        self._wake = asyncio.Event()  # bound to the loop that first waits on it: the server's

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()

    async def main_loop(self) -> None:
        """uvicorn's loop (a tick every 0.1 s: the Date header, ``should_exit``), woken at once by ``wake``: a stop
        is not a wait for the next tick."""
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def wake(self) -> None:
        self._wake.set()

    def install_signal_handlers(self) -> None:  # not the main thread
        pass


class RunningGateway:
    """``url`` is the base URL clients use (…/v1); ``root`` the server root."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.app = Gateway(settings)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # asyncio sets TCP_NODELAY
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self.url = self.root + "/v1"
        self._ready = threading.Event()
        config = uvicorn.Config(
            self.app, loop="asyncio", http="httptools", lifespan="on", log_level="warning", access_log=False
        )
        self._server = _Server(config, self._ready)
        self._thread = threading.Thread(target=self._run, name=f"wardgate-{self.port}", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.tmpdir: tempfile.TemporaryDirectory[str] | None = None

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._server.serve(sockets=[self._sock])

    def start(self) -> RunningGateway:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the gateway did not start")
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already (the server failed)
                self._loop.call_soon_threadsafe(self._server.wake)
        self._thread.join(timeout=10)
        self._sock.close()
        if self.tmpdir is not None:
            self.tmpdir.cleanup()

    @property
    def worker(self) -> Worker:
        assert self.app.worker is not None, "the gateway is not running"
        return self.app.worker

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the gateway's own event loop (its store and queues live there)."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def __enter__(self) -> RunningGateway:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


_template: list[str] = []  # the migrated SQLite database, once per test process
_template_lock = threading.Lock()


def _migrated_sqlite() -> str:
    """A SQLite database at the newest migration, made once per process: each gateway started on a default store
    gets a copy, so the migrations (~0.4 s of CPU each) run once per worker, not once per gateway. A new database
    migrated on start stays covered: this is that path, and tests/store start from empty databases themselves."""
    with _template_lock:
        if not _template:
            directory = tempfile.mkdtemp(prefix="wardgate-template-")
            atexit.register(shutil.rmtree, directory, True)
            path = f"{directory}/wardgate.db"

            async def migrate() -> None:
                engine = create_engine(f"sqlite:///{path}")
                try:
                    await upgrade(engine)
                finally:
                    await engine.dispose()  # the last connection closes: the WAL is checkpointed into the file

            failed: list[BaseException] = []

            def run() -> None:  # in a thread of its own: callers may be inside an event loop
                try:
                    asyncio.run(migrate())
                except BaseException as exc:
                    failed.append(exc)

            worker = threading.Thread(target=run)
            worker.start()
            worker.join()
            if failed:
                raise failed[0]
            _template.append(path)
        return _template[0]


def gateway_from_yaml(text: str, env: Mapping[str, str] | None = None) -> RunningGateway:
    """Start a gateway on this config. ``master_key`` defaults to MASTER_KEY and ``store`` to a new SQLite file in a
    temporary directory (removed at stop) when the text has none."""
    if "master_key:" not in text:
        text = f"master_key: {MASTER_KEY}\n" + text
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if "\nstore:" not in "\n" + text:
        tmp = tempfile.TemporaryDirectory(prefix="wardgate-test-")
        shutil.copyfile(_migrated_sqlite(), f"{tmp.name}/wardgate.db")
        text = f"store: sqlite:///{tmp.name}/wardgate.db\n" + text
    try:
        gateway = RunningGateway(load_config_text(text, source="test.yaml", env=env or {}))
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise
    gateway.tmpdir = tmp
    return gateway.start()
