"""A real upstream MCP server for the tests, built on the official SDK's MCPServer (FastMCP's successor in mcp 2).

Served over streamable HTTP or SSE on loopback in a thread (`LoopbackMCP`), or over stdio as a child process:
``python -m tests.mcp.upstream`` (the gateway's stdio upstream).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
import threading
import warnings
from typing import Any, Literal

import mcp_types as types
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.shared.message import ServerMessageMetadata
from pydantic import BaseModel

STARTED: set[str] = set()  # wait_cancel's tags whose call reached the server (which runs in a thread)
CANCELLED: set[str] = set()  # wait_cancel's tags whose call the gateway cancelled


class Gate:
    """Holds the ``gated`` tool's calls until the test opens it: a call in flight, without a sleep."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def reset(self) -> None:
        self.entered.clear()
        self.open.clear()


GATE = Gate()


class Name(BaseModel):
    name: str


def build(name: str = "upstream", relaying: bool = False) -> MCPServer:
    """``relaying``: also the tools that ask the client things mid-call (tests/mcp/test_backchannel*.py)."""
    server = MCPServer(name, log_level="WARNING")

    @server.tool()
    async def gated() -> str:
        """Answers once the test opens GATE (tests/mcp/test_admin_servers.py)."""
        GATE.entered.set()
        opened = await asyncio.to_thread(GATE.open.wait, 30)
        return f"{name}:gated" if opened else f"{name}:gate-timeout"

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return f"{name}:{text}"

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    @server.tool()
    def delete_repo(repo: str) -> str:
        """A dangerous tool that policies hide."""
        return f"deleted {repo}"

    @server.tool()
    def read_file(path: str) -> str:
        """Read a (pretend) file."""
        return f"contents of {path}"

    @server.tool()
    async def hang() -> str:
        """Never answers: the gateway must cut it at timeout_s."""
        await asyncio.Event().wait()
        return "unreachable"

    @server.tool()
    def crash() -> str:
        """Kills the server process (stdio: the gateway restarts it)."""
        os._exit(3)

    @server.tool()
    def pid() -> int:
        """The server's process id (tells a restarted stdio child from the first)."""
        return os.getpid()

    @server.tool()
    async def count(n: int, ctx: Context) -> str:
        """Reports progress n times (relayed to a client that asked with a progress token)."""
        for i in range(1, n + 1):
            await ctx.report_progress(i, n, f"step {i}")
        return f"counted {n}"

    gates: dict[str, asyncio.Event] = {}

    @server.tool()
    async def wait_for(key: str, ctx: Context) -> str:
        """Reports progress, then waits (at most 30 s) until ``release(key)``: a stream still being produced."""
        await ctx.report_progress(1, 2, f"waiting for {key}")
        gate = gates.setdefault(key, asyncio.Event())
        await asyncio.wait_for(gate.wait(), 30)
        await ctx.report_progress(2, 2, f"released {key}")
        return f"released {key}"

    @server.tool()
    async def release(key: str) -> str:
        """Releases the ``wait_for(key)`` calls (even one that starts later)."""
        gates.setdefault(key, asyncio.Event()).set()
        return f"release {key}"

    if relaying:
        _relaying_tools(server)

    @server.completion()
    async def complete(
        ref: types.PromptReference | types.ResourceTemplateReference,
        argument: types.CompletionArgument,
        context: types.CompletionContext | None,
    ) -> types.Completion | None:
        if isinstance(ref, types.PromptReference) and ref.name == "greet" and argument.name == "who":
            return types.Completion(values=[w for w in ("Ada", "Alan", "Grace") if w.startswith(argument.value)])
        return None

    @server.resource("test://greeting")
    def greeting() -> str:
        return f"hello from {name}"

    @server.prompt()
    def greet(who: str) -> str:
        return f"Say hello to {who}."

    return server


def _relaying_tools(server: MCPServer) -> None:
    @server.tool()
    async def ask_sampling(prompt: str, ctx: Context) -> str:
        """Asks the client's model mid-call (sampling/createMessage on the call's stream)."""
        message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))
        with warnings.catch_warnings():  # sampling is deprecated in the newest spec; clients of older ones use it
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            result = await ctx.request_context.session.create_message(
                messages=[message], max_tokens=16, related_request_id=ctx.request_id
            )
        content = result.content
        return f"sampled: {content.text if isinstance(content, types.TextContent) else '?'}"

    @server.tool()
    async def ask_name(ctx: Context) -> str:
        """Asks the user for a name mid-call (elicitation/create on the call's stream); the field has no default."""
        answer = await ctx.elicit("Your name?", Name)
        return f"{answer.action}: {answer.data.name}" if answer.action == "accept" else answer.action

    @server.tool()
    async def ask_roots(ctx: Context) -> str:
        """Asks the client's roots mid-call (roots/list on the call's stream)."""
        related = ServerMessageMetadata(related_request_id=ctx.request_id)
        result = await ctx.request_context.session.send_request(
            types.ListRootsRequest(), types.ListRootsResult, metadata=related
        )
        return ",".join(str(root.uri) for root in result.roots)

    @server.tool()
    async def chatty(ctx: Context) -> str:
        """Logs and reports progress mid-call."""
        with warnings.catch_warnings():  # logging is deprecated in the newest spec; clients of older ones use it
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await ctx.info("working on it")
        await ctx.report_progress(1, 2, "half way")
        return "done"

    @server.tool()
    async def wait_cancel(tag: str) -> str:
        """Waits until cancelled, and records the cancellation under ``tag`` (CANCELLED)."""
        STARTED.add(tag)
        try:
            await asyncio.Event().wait()
        except BaseException:
            CANCELLED.add(tag)
            raise
        return "unreachable"


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        self._ready.set()

    def install_signal_handlers(self) -> None:
        pass


class LoopbackMCP:
    """An MCPServer on 127.0.0.1 in a background thread; ``url`` is its MCP endpoint for the chosen transport."""

    def __init__(
        self,
        transport: Literal["streamable_http", "sse"],
        name: str = "upstream",
        front: Any = None,
        relaying: bool = False,
    ) -> None:
        """``front``: wraps the server's ASGI app (an OAuth front, tests/mcp/test_oauth_upstream.py); ``relaying``:
        with the tools that ask the client things mid-call."""
        server = build(name, relaying)
        app = server.streamable_http_app() if transport == "streamable_http" else server.sse_app()
        if front is not None:
            app = front(app)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}" + ("/mcp" if transport == "streamable_http" else "/sse")
        self._ready = threading.Event()
        config = uvicorn.Config(app, loop="asyncio", lifespan="on", log_level="warning", access_log=False)
        self._server = _Server(config, self._ready)
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve()), daemon=True, name=f"mcp-{port}")

    async def _serve(self) -> None:
        await self._server.serve(sockets=[self._sock])

    def __enter__(self) -> LoopbackMCP:
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("the upstream MCP server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._server.force_exit = True  # open SSE streams would otherwise hold the shutdown
        self._thread.join(timeout=10)
        self._sock.close()


if __name__ == "__main__":  # python -m tests.mcp.upstream [name] [relaying]
    build(sys.argv[1] if len(sys.argv) > 1 else "stdio", "relaying" in sys.argv[2:]).run("stdio")
