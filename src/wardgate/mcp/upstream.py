"""One upstream MCP server, as one worker holds it: a long-lived client session (the official SDK's client over
streamable HTTP, SSE or a stdio child process), opened at start-up and re-opened with backoff when it fails.

The session belongs to the worker, not to a downstream client: a replica that dies takes nothing a client needs
with it (the next replica serves the client over its own upstream sessions). A call that finds the session broken
(an upstream that went away, a stdio child that crashed) fails with an error result for that call, and the
supervisor reconnects (restarts the child) in the background.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Concatenate, Literal, ParamSpec, TypeVar

import httpx2
import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.sse import sse_client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from wardgate.config.mcp import MCPServerConfig, SSEServerConfig, StdioServerConfig, StreamableHTTPServerConfig
from wardgate.mcp.lane import HTTPLane, LaneBroken, LaneRefused, LaneRPCError
from wardgate.mcp.session_requests import SessionRequests
from wardgate.mcp.stdio_child import bounded_stderr, child_env

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from wardgate.mcp.backchannel import Downstream

log = logging.getLogger("wardgate.mcp")
INITIAL_BACKOFF_S = 0.2
UPSTREAM_ERROR = -32603
ListKind = Literal["resources", "templates", "prompts"]


class UpstreamUnavailable(Exception):
    """The upstream cannot be reached now (not connected, or its session broke during the call)."""


P = ParamSpec("P")
T = TypeVar("T")


def _counted(
    method: Callable[Concatenate[Upstream, P], Awaitable[T]],
) -> Callable[Concatenate[Upstream, P], Awaitable[T]]:
    """Counts the calls using the upstream: one replaced or removed in the admin API is closed once none is left
    (mounts.py)."""

    @functools.wraps(method)
    async def counted(self: Upstream, *args: P.args, **kwargs: P.kwargs) -> T:
        self.busy += 1
        try:
            return await method(self, *args, **kwargs)
        finally:
            self.busy -= 1
            if self.busy == 0 and self._waiter is not None:
                self._waiter.set()

    return counted  # type: ignore[return-value]  # functools.wraps's type is not a Callable to mypy


class Upstream:
    """A supervised client session to one upstream MCP server."""

    def __init__(
        self,
        name: str,
        config: MCPServerConfig,
        redis: aioredis.Redis | None = None,
        prefix: str = "wg:",
        secret: str | None = None,
    ) -> None:
        """``redis``, ``prefix`` and ``secret`` (the master key) keep an OAuth upstream's tokens for every replica;
        without Redis each process authorizes for itself."""
        self.name = name
        self.config = config
        self.session: ClientSession | None = None
        self.server_info: types.InitializeResult | None = None
        self.connects = 0  # sessions opened so far (1 after start-up; each restart adds one)
        self.last_error: str | None = None
        self._ready = asyncio.Event()
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._tools: tuple[types.Tool, ...] | None = None
        self._tools_at = 0.0
        self._lists: dict[str, tuple[float, tuple[Any, ...]]] = {}  # kind → (when, every item of every page)
        self._auth: httpx2.Auth | None = None
        if not isinstance(config, StdioServerConfig) and config.oauth is not None:
            from wardgate.mcp.oauth import provider

            self._auth = provider(
                name,
                config.url,
                config.oauth,
                redis,
                prefix,
                secret or secrets.token_hex(32),
                config.connect_timeout_s,
            )
        # tools/call to a streamable HTTP upstream goes the direct lane (lane.py), on the session the SDK opened
        self._lane = (
            HTTPLane(config.url, dict(config.headers), config.connect_timeout_s, config.elicitation, self._bearer)
            if isinstance(config, StreamableHTTPServerConfig)
            else None
        )
        self._lane_ready = False
        self._asked = SessionRequests(config.elicitation)  # what the upstream asks on the SDK's session
        self.busy = 0  # calls using the upstream now
        self._waiter: asyncio.Event | None = None  # set while a drain waits for busy to reach 0

    def _bearer(self) -> str | None:
        if self._auth is None:
            return None
        from wardgate.mcp.oauth import bearer_of

        return bearer_of(self._auth)

    @property
    def healthy(self) -> bool:
        return self.session is not None

    def describe(self) -> dict[str, Any]:
        """This worker's view of the upstream, for the admin API: never its headers or environment (secrets)."""
        config = self.config
        where = config.command[0] if isinstance(config, StdioServerConfig) else config.url.split("?", 1)[0]
        info = self.server_info
        return {
            "name": self.name,
            "transport": config.transport,
            "target": where,
            "healthy": self.healthy,
            "sessions_opened": self.connects,
            "last_error": self.last_error,
            "protocol_version": info.protocol_version if info is not None else None,
            "server_info": info.server_info.model_dump(mode="json", exclude_none=True) if info is not None else None,
            "tools": sorted(t.name for t in self._tools) if self._tools is not None else None,
        }

    async def drained(self) -> None:
        """Returns once no call uses the upstream (mounts.py closes it then)."""
        while self.busy:
            self._waiter = asyncio.Event()
            await self._waiter.wait()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._supervise(), name=f"mcp-upstream-{self.name}")

    async def wait_ready(self, timeout_s: float) -> bool:
        try:
            async with asyncio.timeout(timeout_s):
                await self._ready.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._lane is not None:
            await self._lane.close()

    async def _supervise(self) -> None:
        backoff = INITIAL_BACKOFF_S
        ceiling = self.config.max_restart_backoff_s if isinstance(self.config, StdioServerConfig) else 30.0
        while True:
            opened = False
            try:
                async with self._connect():
                    opened = True
                    backoff = INITIAL_BACKOFF_S
                    await self._lost.wait()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # noqa: BLE001 - an upstream failure of any kind: logged, then retried
                self.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("MCP upstream %s: session failed (%s); reconnecting", self.name, self.last_error)
            finally:
                self.session = None
                self._lane_ready = False
                self._ready.clear()
                self._lost.clear()
                self._tools = None
                self._lists = {}
            if opened:
                log.info("MCP upstream %s: session lost; reconnecting", self.name)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, ceiling)

    @contextlib.asynccontextmanager
    async def _connect(self) -> AsyncIterator[ClientSession]:
        config = self.config
        async with contextlib.AsyncExitStack() as stack:
            if isinstance(config, StreamableHTTPServerConfig):
                lane = self._lane
                assert lane is not None
                lane.session_id = None

                async def session_of(response: httpx2.Response) -> None:  # the lane uses the SDK's session
                    sid = response.headers.get("mcp-session-id")
                    if sid:
                        lane.session_id = sid

                client = httpx2.AsyncClient(
                    auth=self._auth,
                    event_hooks={"response": [session_of]},
                    headers=config.headers,
                    timeout=httpx2.Timeout(config.connect_timeout_s, read=None),
                    # the client writes a request's headers and body separately: without TCP_NODELAY each call
                    # waits for a delayed ACK (~40 ms on Linux), which capped a worker at ~25 calls per second
                    transport=httpx2.AsyncHTTPTransport(socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]),
                )
                await stack.enter_async_context(client)
                read, write = await stack.enter_async_context(streamable_http_client(config.url, http_client=client))
            elif isinstance(config, SSEServerConfig):
                read, write = await stack.enter_async_context(
                    sse_client(
                        config.url, headers=dict(config.headers), timeout=config.connect_timeout_s, auth=self._auth
                    )
                )
            else:
                errlog = stack.enter_context(bounded_stderr(self.name))
                params = StdioServerParameters(
                    command=config.command[0], args=list(config.command[1:]), env=child_env(config), cwd=config.cwd
                )
                read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
            # sampling, elicitation and roots are declared: the gateway relays them to a downstream client that
            # declared them (backchannel.py); for one that did not, the server's policy answers
            session = await stack.enter_async_context(
                ClientSession(
                    read,
                    write,
                    sampling_callback=self._asked.sampling,
                    elicitation_callback=self._asked.elicitation,
                    list_roots_callback=self._asked.roots,
                    logging_callback=self._asked.log,
                )
            )
            async with asyncio.timeout(config.connect_timeout_s):
                self.server_info = await session.initialize()  # the SDK negotiates the protocol version
            self.session = session
            if self._lane is not None:
                self._lane.protocol_version = self.server_info.protocol_version
                self._lane_ready = True
            self.connects += 1
            self.last_error = None
            self._ready.set()
            yield session

    def _session_or_raise(self) -> ClientSession:
        if self.session is None:
            raise UpstreamUnavailable(f"MCP server {self.name!r} is not connected ({self.last_error or 'starting'})")
        return self.session

    def _broken(self, exc: BaseException) -> UpstreamUnavailable:
        self._lost.set()  # the supervisor re-opens the session (restarts a stdio child)
        return UpstreamUnavailable(f"MCP server {self.name!r} failed during the call ({type(exc).__name__})")

    @_counted
    async def list_tools(self, cache_s: float) -> tuple[types.Tool, ...]:
        loop = asyncio.get_running_loop()
        if self._tools is not None and loop.time() - self._tools_at < cache_s:
            return self._tools
        session = self._session_or_raise()
        tools: list[types.Tool] = []
        cursor: str | None = None
        try:
            with self._asked.in_flight():
                for _ in range(100):  # a bounded number of pages
                    params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                    page = await session.list_tools(params=params)
                    tools.extend(page.tools)
                    cursor = page.next_cursor
                    if not cursor:
                        break
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                raise self._broken(exc) from exc
            raise
        except Exception as exc:
            raise self._broken(exc) from exc
        self._tools, self._tools_at = tuple(tools), loop.time()
        return self._tools

    async def list_all(self, kind: ListKind, max_age_s: float) -> tuple[Any, ...]:
        """Every resource, resource template or prompt the upstream lists (all its pages, at most 100), reused for
        ``max_age_s``. Raises UpstreamUnavailable or MCPError."""
        loop = asyncio.get_running_loop()
        cached = self._lists.get(kind)
        if cached is not None and loop.time() - cached[0] < max_age_s:
            return cached[1]
        items: list[Any] = []
        cursor: str | None = None
        for _ in range(100):
            params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
            if kind == "resources":
                page: Any = await self.request(kind, lambda s, p=params: s.list_resources(params=p))
                items.extend(page.resources)
            elif kind == "templates":
                page = await self.request(kind, lambda s, p=params: s.list_resource_templates(params=p))
                items.extend(page.resource_templates)
            else:
                page = await self.request(kind, lambda s, p=params: s.list_prompts(params=p))
                items.extend(page.prompts)
            cursor = page.next_cursor
            if not cursor:
                break
        self._lists[kind] = (loop.time(), tuple(items))
        return self._lists[kind][1]

    @_counted
    async def call_tool(
        self, tool: str, arguments: dict[str, Any] | None, timeout_s: float, peer: Downstream | None = None
    ) -> types.CallToolResult:
        """On the SDK's session; ``peer``: the call's downstream client (its progress token, and the upstream's
        requests while this is the only request in flight on the session: session_requests.py)."""
        session = self._session_or_raise()
        progress: Any = peer.progress if peer is not None and peer.progress_token is not None else None
        try:
            with self._asked.in_flight(peer):
                async with asyncio.timeout(timeout_s):
                    result = await session.call_tool(tool, arguments, progress_callback=progress)
        except TimeoutError:
            raise
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                raise self._broken(exc) from exc
            raise
        except Exception as exc:
            raise self._broken(exc) from exc
        if not isinstance(result, types.CallToolResult):
            raise UpstreamUnavailable(f"MCP server {self.name!r} asked for input, which the gateway does not relay")
        return result

    @_counted
    async def call_tool_json(
        self, tool: str, arguments: dict[str, Any] | None, timeout_s: float, peer: Downstream | None = None
    ) -> dict[str, Any]:
        """The tool's result as JSON: over the direct lane when the upstream speaks streamable HTTP, else the SDK's
        session. ``peer`` is the call's downstream client: the lane relays the upstream's requests and notifications
        on the call's stream to it (backchannel.py); over the SDK's session (an SSE or stdio upstream) progress is
        relayed, and the upstream's requests while the call is the only request in flight there (session_requests.py).
        Raises TimeoutError, MCPError (the upstream's own error) or UpstreamUnavailable."""
        if self._lane is None:
            result = await self.call_tool(tool, arguments, timeout_s, peer)
            return result.model_dump(mode="json", by_alias=True, exclude_none=True)
        if not self._lane_ready:
            self._session_or_raise()
        try:
            async with asyncio.timeout(timeout_s):
                return await self._lane.call_tool(tool, arguments, peer)
        except LaneRPCError as exc:
            error = exc.error
            code = error.get("code")
            raise MCPError(
                code if isinstance(code, int) else UPSTREAM_ERROR,
                str(error.get("message", ""))[:2000],
                error.get("data"),
            ) from None
        except LaneRefused:  # 401/403: the SDK's session authorizes (a token, a refresh, a scope step-up)
            result = await self.call_tool(tool, arguments, timeout_s, peer)
            return result.model_dump(mode="json", by_alias=True, exclude_none=True)
        except LaneBroken as exc:
            self.last_error = str(exc)
            raise self._broken(exc) from None

    @_counted
    async def request(self, method: str, call: Any) -> Any:
        """Run one other request (resources, prompts, completion) on the session, mapping a broken session."""
        session = self._session_or_raise()
        try:
            with self._asked.in_flight():
                return await call(session)
        except MCPError as exc:
            if exc.code == types.CONNECTION_CLOSED:
                raise self._broken(exc) from exc
            raise
        except Exception as exc:
            raise self._broken(exc) from exc
