"""`mcp:` in the config file changed on a running gateway (SIGHUP, or `--watch`): applied through the hot swap the
admin API's servers use (mcp/mounts.py). A new server and virtual server are served, a removed one stops taking
requests while the call it has in flight finishes, and what is unchanged keeps its upstream session."""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import Iterator
from pathlib import Path

import mcp_types as types
import pytest
from mcp.shared.exceptions import MCPError

from tests.mcp.client import mcp_session
from tests.mcp.upstream import GATE, LoopbackMCP
from tests.support import MASTER_KEY, RunningGateway, _migrated_sqlite
from wardgate.config import load_config
from wardgate.reload.reloader import ConfigReloader

CONFIG = """
master_key: {master}
store: sqlite:///{tmp}/wardgate.db
mcp:
  servers:
{servers}
  virtual_servers:
{virtual}
  tools:
{tools}
"""


def config(tmp: Path, servers: dict[str, str], virtual: dict[str, str], tools: str = "    {}") -> str:
    lines = [f'    {name}: {{transport: streamable_http, url: "{url}"}}' for name, url in servers.items()]
    vs = [f"    {name}: {{servers: [{members}]}}" for name, members in virtual.items()]
    return CONFIG.format(master=MASTER_KEY, tmp=tmp, servers="\n".join(lines), virtual="\n".join(vs), tools=tools)


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[LoopbackMCP, LoopbackMCP, LoopbackMCP]]:
    with (
        LoopbackMCP("streamable_http", "kept") as kept,
        LoopbackMCP("streamable_http", "old") as old,
        LoopbackMCP("streamable_http", "new") as new,
    ):
        yield kept, old, new


def text_of(result: types.CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, types.TextContent)
    return block.text


def test_a_reload_serves_the_files_new_mcp_servers_and_drains_the_removed_ones(
    tmp_path: Path, upstreams: tuple[LoopbackMCP, LoopbackMCP, LoopbackMCP]
) -> None:
    kept, old, new = upstreams
    (tmp_path / "wardgate.db").write_bytes(Path(_migrated_sqlite()).read_bytes())
    path = tmp_path / "wardgate.yaml"
    path.write_text(config(tmp_path, {"keep": kept.url, "old": old.url}, {"stay": "keep", "gone": "old"}))
    gateway = RunningGateway(load_config(path))
    gateway.app.config_path = path  # as `wardgate serve --config`; SIGHUP pokes the reloader (below)
    GATE.reset()
    with gateway.start():
        mcp = gateway.worker.mcp
        assert mcp is not None
        session_before = mcp.upstreams["keep"]
        old_upstream = mcp.upstreams["old"]

        async def go() -> tuple[str, list[str], str, str]:
            async with mcp_session(gateway.root + "/mcp/gone", MASTER_KEY) as gone:
                await gone.list_tools()  # the client checks a result against the listed schema
                pending = asyncio.ensure_future(gone.call_tool("old.gated", {}))
                assert await asyncio.to_thread(GATE.entered.wait, 10)
                # the file drops `old` and `gone`, adds `new` and `fresh`, and gives the kept server's tool a timeout
                path.write_text(
                    config(
                        tmp_path,
                        {"keep": kept.url, "new": new.url},
                        {"stay": "keep", "fresh": "new, keep"},
                        "    keep.echo: {timeout_s: 7}",
                    )
                )
                reloader = gateway.app.reloader
                assert reloader is not None
                loop = gateway._loop
                assert loop is not None
                await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(_sighup(reloader), loop))
                assert old_upstream.busy == 1  # still in use: not closed under the call
                try:  # the removed virtual server takes no new request
                    await gone.list_tools()
                    refused = "served"
                except MCPError as exc:
                    refused = str(exc)
                GATE.open.set()
                answer = text_of(await pending)  # the call in flight finishes on the old objects
            async with mcp_session(gateway.root + "/mcp/fresh", MASTER_KEY) as fresh:
                names = sorted(t.name for t in (await fresh.list_tools()).tools)
                echoed = text_of(await fresh.call_tool("new.echo", {"text": "hi"}))
            return answer, names, echoed, refused

        answer, names, echoed, refused = asyncio.run(go())
        assert answer == "old:gated"
        assert "No virtual MCP server" in refused
        assert "new.echo" in names and "keep.echo" in names and not any(n.startswith("old.") for n in names)
        assert echoed == "new:hi"
        assert set(mcp.upstreams) == {"keep", "new"} and set(mcp.virtual_servers) == {"stay", "fresh"}
        assert mcp.upstreams["keep"] is session_before  # unchanged: its upstream session is kept
        assert mcp.virtual_servers["stay"]._mcp.tools["keep.echo"].timeout_s == 7  # rebuilt with the new settings
        assert gateway.app.settings.mcp is not None and set(gateway.app.settings.mcp.servers) == {"keep", "new"}
        gateway.run(_closed(old_upstream))  # once idle, the removed upstream closes


async def _sighup(reloader: ConfigReloader) -> None:
    """What the worker's SIGHUP handler does (app.py), then a bounded wait until the change is applied or rejected."""
    reloader.decided.clear()
    reloader.poke()
    await asyncio.wait_for(reloader.decided.wait(), 20)


async def _closed(upstream: object) -> None:
    for _ in range(400):  # polled, 20 s deadline
        if upstream._task is None:  # type: ignore[attr-defined]
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the removed upstream was not closed")


def test_mcp_keys_that_need_a_restart_are_reported_and_kept(tmp_path: Path) -> None:
    from wardgate.config import load_config_text
    from wardgate.reload.plan import plan

    base = textwrap.dedent(
        f"""
        master_key: {MASTER_KEY}
        store: sqlite:///unused.db
        mcp:
          servers:
            a: {{transport: streamable_http, url: "http://127.0.0.1:1/mcp"}}
        """
    )
    running = load_config_text(base, source="a.yaml", env={})
    changed = base + "  max_message_bytes: 1000\n  virtual_servers: {v: {servers: [a]}}\n"
    change = plan(running, load_config_text(changed, source="b.yaml", env={}), "b.yaml")
    assert change.changed == ("mcp",) and change.needs_restart == ("mcp.max_message_bytes",)
    assert change.settings.mcp is not None and set(change.settings.mcp.virtual_servers) == {"v"}
    assert change.settings.mcp.max_message_bytes == running.mcp.max_message_bytes  # type: ignore[union-attr]
    off = plan(running, load_config_text(base.split("mcp:")[0], source="c.yaml", env={}), "c.yaml")
    assert off.empty and off.needs_restart == ("mcp",)  # turning the MCP gateway off (or on) needs a restart
