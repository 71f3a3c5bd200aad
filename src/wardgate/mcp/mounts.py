"""The upstreams and virtual servers one worker serves, replaced while it runs (decision 057).

``apply`` builds what changed (a server whose config changed is a new ``Upstream``; a virtual server whose config or
member upstreams changed is a new ``VirtualServer`` with its own session manager), starts it, then swaps the maps in
one assignment each: the next request sees the new set. What was replaced or removed drains in the background: a
virtual server's session manager runs until its in-flight requests (their response streams included) have ended,
an upstream is closed once no call is using it. Both waits are bounded by the longest tool timeout plus 5 s
(``drain_limit``). The admin API's changes and a config reload's (``mcp:`` in the file) go through ``apply`` alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

from wardgate.config.mcp import MCPConfig, MCPServerConfig, VirtualServerConfig
from wardgate.mcp.stored import Effective
from wardgate.mcp.upstream import Upstream
from wardgate.mcp.virtual import VirtualServer

log = logging.getLogger("wardgate.mcp")
BuildUpstream = Callable[[str, MCPServerConfig], Upstream]
BuildVirtual = Callable[[str, VirtualServerConfig, dict[str, Upstream], MCPConfig], VirtualServer]


def tuning(config: MCPConfig) -> tuple[object, ...]:
    """The ``mcp:`` settings a virtual server is built with besides its own entry: one whose tuning changed (a config
    reload) is replaced like one whose entry changed."""
    return config.tools, config.default_timeout_s, config.tools_cache_s, config.list_page_size


def drain_limit(config: MCPConfig) -> float:
    """How long a replaced object may take to finish what it started: the longest tool timeout, plus 5 s."""
    return max([config.default_timeout_s, *(t.timeout_s for t in config.tools.values())]) + 5.0


@dataclass(eq=False)
class Mount:
    """One virtual server as served: its SDK session manager (streamable HTTP), its legacy SSE transport, and the
    count of requests in it."""

    vs: VirtualServer
    manager: StreamableHTTPSessionManager
    sse: SseServerTransport
    tuning: tuple[object, ...] = ()  # the `mcp:` settings it was built with (tuning())
    busy: int = 0  # requests in it now (the surface counts them: plain integer arithmetic on the hot path)
    running: asyncio.Event = field(default_factory=asyncio.Event)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    waiter: asyncio.Event | None = None  # set while a drain waits for busy to reach 0

    def leave(self) -> None:
        self.busy -= 1
        if self.busy == 0 and self.waiter is not None:
            self.waiter.set()

    async def drained(self) -> None:
        while self.busy:
            self.waiter = asyncio.Event()
            await self.waiter.wait()

    async def run(self) -> None:
        try:
            async with self.manager.run():
                self.running.set()
                await self.stop.wait()
        finally:
            self.running.set()  # a manager that failed to start must not hold apply() waiting


class Mounts:
    def __init__(
        self, build_upstream: BuildUpstream, build_virtual: BuildVirtual, config: MCPConfig, max_message_bytes: int
    ) -> None:
        self._build_upstream = build_upstream
        self._build_virtual = build_virtual
        self._max = max_message_bytes
        self.config = config  # the `mcp:` settings new virtual servers are built with (a config reload sets them)
        self._drain_s = drain_limit(config)  # the drain limit of the objects served now
        self.upstreams: dict[str, Upstream] = {}
        self.mounts: dict[str, Mount] = {}
        self.source: dict[tuple[str, str], str] = {}
        self._lock = asyncio.Lock()
        self._draining: set[asyncio.Task[None]] = set()

    async def apply(self, wanted: Effective, wait_s: float = 10.0) -> None:
        """Serve ``wanted``: what is unchanged is kept as it is (its sessions, its cached tool lists)."""
        async with self._lock:
            config = self.config
            settings = tuning(config)
            upstreams: dict[str, Upstream] = {}
            for name, server in wanted.servers.items():
                old = self.upstreams.get(name)
                if old is not None and old.config == server:
                    upstreams[name] = old
                    continue
                try:
                    upstreams[name] = self._build_upstream(name, server)
                except Exception as exc:  # noqa: BLE001 - one server that cannot be built never stops the others
                    log.warning("MCP server %s not served: %s: %s", name, type(exc).__name__, str(exc)[:300])
            mounts: dict[str, Mount] = {}
            for name, virtual in wanted.virtual.items():
                old_mount = self.mounts.get(name)
                if any(s not in upstreams for s in virtual.servers):
                    log.warning("virtual MCP server %s not served: one of its servers is not", name)
                    continue
                members = {s: upstreams[s] for s in virtual.servers}
                if (
                    old_mount is not None
                    and old_mount.vs.config == virtual
                    and old_mount.vs.members == members
                    and old_mount.tuning == settings
                ):
                    mounts[name] = old_mount
                    continue
                vs = self._build_virtual(name, virtual, upstreams, config)
                manager = StreamableHTTPSessionManager(
                    vs.server, stateless=True, json_response=False, max_request_body_size=self._max
                )
                # the legacy SSE transport is kept across a change: a stream opened before it keeps its messages
                sse = (
                    old_mount.sse
                    if old_mount is not None
                    else SseServerTransport(f"/mcp/{name}/messages/", max_request_body_size=self._max)
                )
                mounts[name] = Mount(vs, manager, sse, settings)
            started = [u for n, u in upstreams.items() if self.upstreams.get(n) is not u]
            for upstream in started:
                upstream.start()
            fresh = [m for n, m in mounts.items() if self.mounts.get(n) is not m]
            loop = asyncio.get_running_loop()
            for mount in fresh:
                mount.task = loop.create_task(mount.run(), name=f"mcp-virtual-{mount.vs.name}")
            await asyncio.gather(*(m.running.wait() for m in fresh))
            # bounded: the first tools/list after a change is complete; one that is down appears when it connects
            await asyncio.gather(*(u.wait_ready(wait_s) for u in started))
            retired_mounts = [m for n, m in self.mounts.items() if mounts.get(n) is not m]
            retired_upstreams = [u for n, u in self.upstreams.items() if upstreams.get(n) is not u]
            self.upstreams, self.mounts, self.source = upstreams, mounts, dict(wanted.source)  # the swap
            for name in sorted({m.vs.name for m in retired_mounts} | {u.name for u in retired_upstreams}):
                log.info("MCP %s changed or removed: draining the old one", name)
            # the old objects' calls run to the timeouts they started with
            drain_s, self._drain_s = max(drain_limit(config), self._drain_s), drain_limit(config)
            if retired_mounts or retired_upstreams:
                drain = self._drain(retired_mounts, retired_upstreams, drain_s)
                task = loop.create_task(drain, name="mcp-drain")
                self._draining.add(task)
                task.add_done_callback(self._draining.discard)

    async def _drain(self, mounts: list[Mount], upstreams: list[Upstream], drain_s: float) -> None:
        """The old objects finish what they started, then close: requests first, then the upstreams they used."""
        try:
            async with asyncio.timeout(drain_s):
                await asyncio.gather(*(m.drained() for m in mounts))
                await asyncio.gather(*(u.drained() for u in upstreams))
        except (TimeoutError, asyncio.CancelledError):  # drain_s passed, or the worker is closing: close them now
            pass
        await self._stop(mounts, upstreams)

    @staticmethod
    async def _stop(mounts: list[Mount], upstreams: list[Upstream]) -> None:
        for mount in mounts:
            mount.stop.set()
            if mount.task is not None:
                with contextlib.suppress(Exception):
                    await mount.task
        for upstream in upstreams:
            await upstream.close()

    async def close(self) -> None:
        for task in list(self._draining):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._lock:
            await self._stop(list(self.mounts.values()), list(self.upstreams.values()))
