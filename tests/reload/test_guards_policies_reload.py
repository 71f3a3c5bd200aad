"""A config reload (SIGHUP, `--watch`, `wardgate config apply`) applies the file's `guards:`, `guards_stream:` and
`tool_policies:` on a running gateway: they replace the file's old ones and join those made in the admin API, with
no restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx

from tests.mcp.client import mcp_session
from tests.mcp.upstream import LoopbackMCP
from tests.support import MASTER_KEY, RunningGateway, _migrated_sqlite
from wardgate.config import load_config

BASE = """
master_key: {master}
store: sqlite:///{tmp}/wardgate.db
providers:
  mock: {{type: mock}}
models:
  gpt-4o-mini: [{{provider: mock, model: gpt-4o-mini}}]
"""
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def _reload(gateway: RunningGateway, path: Path, text: str) -> None:
    """Write the file, then what SIGHUP does (app.py), waiting (bounded) until the change is applied or rejected."""
    reloader = gateway.app.reloader
    assert reloader is not None

    async def poke() -> None:
        reloader.decided.clear()
        reloader.poke()
        await asyncio.wait_for(reloader.decided.wait(), 20)

    path.write_text(text)
    gateway.run(poke())


def _chat(gateway: RunningGateway, text: str) -> httpx.Response:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]}
    return httpx.post(gateway.url + "/chat/completions", json=body, headers=AUTH, timeout=10)


def _start(tmp_path: Path, text: str) -> tuple[RunningGateway, Path]:
    (tmp_path / "wardgate.db").write_bytes(Path(_migrated_sqlite()).read_bytes())
    path = tmp_path / "wardgate.yaml"
    path.write_text(text)
    gateway = RunningGateway(load_config(path))
    gateway.app.config_path = path  # as `wardgate serve --config`
    return gateway, path


def test_a_reload_applies_the_files_guards_and_keeps_the_admin_apis(tmp_path: Path) -> None:
    base = BASE.format(master=MASTER_KEY, tmp=tmp_path)
    gateway, path = _start(tmp_path, base)
    email = "write to jane.doe@example.org today"
    with gateway.start():
        assert _chat(gateway, email).status_code == 200
        made = httpx.post(
            gateway.root + "/admin/v1/guards",
            json={"name": "words", "type": "regex", "patterns": ["forbidden-word"], "action": "block"},
            headers=AUTH,
            timeout=10,
        )
        assert made.status_code == 201, made.text
        assert _chat(gateway, "a forbidden-word here").status_code == 400

        guarded = base + (
            "guards:\n  - {name: pii, type: pii, on: request, action: block, entities: [email]}\n"
            "guards_stream: {holdback_chars: 32}\n"
        )
        _reload(gateway, path, guarded)
        blocked = _chat(gateway, email)
        assert blocked.status_code == 400
        error = blocked.json()["error"]
        assert (error["code"], error["param"]) == ("guard_blocked", "pii")
        assert "jane.doe" not in blocked.text  # the matched text is never echoed
        assert _chat(gateway, "a forbidden-word here").status_code == 400  # the admin API's guard is kept
        assert gateway.worker.guards.holdback == 32
        names = {g.name for g in gateway.worker.guards.guards}
        assert names == {"pii", "words"}
        listed = httpx.get(gateway.root + "/admin/v1/guards", headers=AUTH, timeout=10).json()["data"]
        assert {(g["name"], g["source"]) for g in listed} == {("pii", "config"), ("words", "api")}
        taken = {"name": "pii", "type": "regex", "patterns": ["x"], "action": "block"}  # the file's name now
        assert httpx.post(gateway.root + "/admin/v1/guards", json=taken, headers=AUTH, timeout=10).status_code == 409

        _reload(gateway, path, base)  # the file's guard removed: the admin API's stays
        assert _chat(gateway, email).status_code == 200
        assert {g.name for g in gateway.worker.guards.guards} == {"words"}
        assert gateway.worker.guards.holdback == 64
        assert gateway.app.reloader is not None and gateway.app.reloader.reloads == 2


def test_a_reload_applies_the_files_tool_policies(tmp_path: Path) -> None:
    with LoopbackMCP("streamable_http", "gh") as upstream:
        base = BASE.format(master=MASTER_KEY, tmp=tmp_path) + (
            f'mcp:\n  servers:\n    github: {{transport: streamable_http, url: "{upstream.url}"}}\n'
            "  virtual_servers:\n    dev: {servers: [github]}\n"
        )
        gateway, path = _start(tmp_path, base)

        async def listed() -> set[str]:
            async with mcp_session(gateway.root + "/mcp/dev", MASTER_KEY) as session:
                return {t.name for t in (await session.list_tools()).tools}

        with gateway.start():
            before = asyncio.run(listed())
            assert {"github.echo", "github.add"} <= before
            _reload(gateway, path, base + "tool_policies:\n  - {name: no-echo, scope: global, deny: [github.echo]}\n")
            assert asyncio.run(listed()) == before - {"github.echo"}
            listing = httpx.get(gateway.root + "/admin/v1/mcp/tool-policies", headers=AUTH, timeout=10).json()
            assert [(p["name"], p["source"]) for p in listing["data"]] == [("no-echo", "config")]
            _reload(gateway, path, base)
            assert asyncio.run(listed()) == before
