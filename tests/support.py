"""Test support: a real Wardgate on loopback, in a thread with its own event loop."""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
from collections.abc import Coroutine, Mapping
from typing import Any, TypeVar

import uvicorn

from wardgate.app import Gateway
from wardgate.assemble import Worker
from wardgate.config import Settings, load_config_text

T = TypeVar("T")

MASTER_KEY = "sk-test-master-key"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()

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


def gateway_from_yaml(text: str, env: Mapping[str, str] | None = None) -> RunningGateway:
    """Start a gateway on this config. ``master_key`` defaults to MASTER_KEY and ``store`` to a new SQLite file in a
    temporary directory (removed at stop) when the text has none."""
    if "master_key:" not in text:
        text = f"master_key: {MASTER_KEY}\n" + text
    tmp: tempfile.TemporaryDirectory[str] | None = None
    if "\nstore:" not in "\n" + text:
        tmp = tempfile.TemporaryDirectory(prefix="wardgate-test-")
        text = f"store: sqlite:///{tmp.name}/wardgate.db\n" + text
    try:
        gateway = RunningGateway(load_config_text(text, source="test.yaml", env=env or {}))
    except BaseException:
        if tmp is not None:
            tmp.cleanup()
        raise
    gateway.tmpdir = tmp
    return gateway.start()
