"""What a new config changes in a running worker: pure, tested without I/O.

Only the sections a worker can rebuild while it serves are applied: ``providers``, ``models`` (routes included),
``budgets``, ``rate_limits``, ``guards``, ``guards_stream`` and ``tool_policies``. They are rebuilt into a new
pipeline (or a new set of guards, of tool policies) and swapped in with one assignment, so a request sees either the
old config or the new one, never a mix. ``mcp`` is applied in part (``MCP_HOT``: its
servers, virtual servers and tool settings), through the hot swap the admin API's MCP servers use (mcp/mounts.py).
The other sections, and the rest of ``mcp`` (and turning it on or off), hold what the worker opened at start-up
(the store, Redis, the server's sockets, keys, queues): a change there is reported as needing a restart and the
running value is kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from wardgate.config import Settings
from wardgate.config.errors import ConfigError, ConfigProblem, dotted
from wardgate.config.mcp import MCPConfig

RELOADABLE = ("providers", "models", "budgets", "rate_limits", "guards", "guards_stream", "tool_policies")
# the keys of `mcp:` a running MCP surface takes (mcp/surface.py ``reconfigure``); the others need a restart
MCP_HOT = ("servers", "virtual_servers", "tools", "default_timeout_s", "tools_cache_s", "list_page_size", "admin_stdio")


@dataclass(frozen=True, slots=True)
class Plan:
    settings: Settings  # the running config with the candidate's reloadable sections
    changed: tuple[str, ...]  # reloadable sections that differ: applied
    needs_restart: tuple[str, ...]  # other sections that differ: kept as running, applied at the next restart

    @property
    def empty(self) -> bool:
        return not self.changed


def plan(running: Settings, candidate: Settings, source: str) -> Plan:
    """The merged config; ``ConfigError`` (naming ``source``, the key and the fix) when the merge is invalid, e.g. a
    model the candidate removed is still named by a running section that only a restart would change."""
    fields = type(running).model_fields
    changed = tuple(name for name in RELOADABLE if getattr(running, name) != getattr(candidate, name))
    needs_restart = tuple(
        name
        for name in fields
        if name not in RELOADABLE and name != "mcp" and getattr(running, name) != getattr(candidate, name)
    )
    values: dict[str, Any] = {name: getattr(running, name) for name in fields}
    values.update({name: getattr(candidate, name) for name in RELOADABLE})
    mcp, mcp_restart = _mcp(running.mcp, candidate.mcp)
    if mcp is not running.mcp:
        values["mcp"] = mcp
        changed = (*changed, "mcp")
    needs_restart = (*needs_restart, *mcp_restart)
    try:
        merged = Settings.model_validate(values)  # the cross-section checks, on the merged config
    except ValidationError as exc:
        problems = [
            ConfigProblem(
                dotted(error["loc"]),
                error["msg"],
                "change it together with the sections that need a restart, then restart the gateway",
            )
            for error in exc.errors()
        ]
        raise ConfigError(source, problems) from None
    return Plan(merged, changed, needs_restart)


def _mcp(running: MCPConfig | None, candidate: MCPConfig | None) -> tuple[MCPConfig | None, tuple[str, ...]]:
    """The ``mcp:`` to serve (the running one with the candidate's ``MCP_HOT`` keys) and the keys that differ but
    need a restart. Turning the MCP gateway on or off needs one: the running section is kept whole."""
    if running is None or candidate is None:
        return running, ("mcp",) if running != candidate else ()
    restart = tuple(
        f"mcp.{name}"
        for name in type(running).model_fields
        if name not in MCP_HOT and getattr(running, name) != getattr(candidate, name)
    )
    hot = {name: getattr(candidate, name) for name in MCP_HOT if getattr(running, name) != getattr(candidate, name)}
    # the candidate was validated whole, and its hot keys only refer to one another (servers, virtual servers, tools)
    return (running.model_copy(update=hot) if hot else running), restart
