"""The tools guard: tool-name globs allowed or denied per scope. A disallowed tool is removed from the request's
``tools`` (and legacy ``functions``) before it goes upstream; a disallowed tool in a returned ``tool_calls`` is
refused (the call never reaches the client: streamed calls are held until checked, guards/stream.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wardgate.core.call import Call
from wardgate.guards.engine import Guard
from wardgate.guards.errors import blocked
from wardgate.guards.state import Decisions, GuardState


def tool_name(tool: Any) -> str | None:
    """The name of a tool as offered (OpenAI ``{type: function, function: {name}}``, or a legacy function)."""
    if not isinstance(tool, dict):
        return None
    function = tool.get("function")
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return str(function["name"])
    for key in ("name", "type"):
        if isinstance(tool.get(key), str):
            return str(tool[key])
    return None


def filter_request(call: Call, guard: Guard, state: GuardState) -> None:
    body = call.body
    removed = 0
    for key in ("tools", "functions"):
        offered = body.get(key)
        if not isinstance(offered, list):
            continue
        kept = []
        for tool in offered:
            name = tool_name(tool)
            if name is not None and not guard.allows_tool(name):
                removed += 1
                if guard.config.action == "warn":
                    kept.append(tool)
            else:
                kept.append(tool)
        if guard.config.action != "warn" and len(kept) != len(offered):
            if kept:
                body[key] = kept
            else:
                del body[key]
    chosen = _chosen(body.get("tool_choice")) or _chosen(body.get("function_call"))
    if chosen is not None and not guard.allows_tool(chosen):
        state.record(guard, "block" if guard.config.action == "block" else "warn", "request", [], "")
        state.decisions[guard.name].counts["tool_choice"] += 1
        if guard.config.action == "block":
            raise blocked(guard.name, "tools", "request")
    if removed:
        state.record(guard, "redact" if guard.config.action == "block" else "warn", "request", [], "")
        state.decisions[guard.name].counts["tool_removed"] += removed
    if guard.config.action == "block" and "tools" not in body and "functions" not in body:
        for key in ("tool_choice", "parallel_tool_calls", "function_call"):
            body.pop(key, None)  # nothing left to choose from: upstream would refuse these


def _chosen(choice: Any) -> str | None:
    if isinstance(choice, dict):
        name = tool_name(choice)
        return name if name not in ("function", None) else None
    return None


def check_call(guards: Sequence[Guard], decisions: Decisions, name: str) -> None:
    """A tool call in an answer: refused (GuardBlocked) when a blocking tools guard does not allow it."""
    for guard in guards:
        if guard.allows_tool(name):
            continue
        action = guard.config.action
        decisions.record(guard, action, "response", [], "")
        decisions[guard.name].counts["tool_call"] += 1
        if action == "block":
            raise blocked(guard.name, "tools", "tool call")
