"""Tool names: canonical (``<server>.<tool>``, what config, policies and budgets name) and as a virtual server lists
them (prefixed with the server and a separator, or bare). Pure functions over config."""

from __future__ import annotations

from collections.abc import Iterable
from fnmatch import fnmatchcase

from wardgate.config.mcp import ToolFilter, VirtualServerConfig


def canonical(server: str, tool: str) -> str:
    return f"{server}.{tool}"


def matches_any(name: str, globs: Iterable[str]) -> bool:
    """Case-sensitive shell globs (``*``, ``?``, ``[…]``), so ``github.delete_*`` never matches ``GitHub.Delete``."""
    return any(fnmatchcase(name, glob) for glob in globs)


def exposed(tool_filter: ToolFilter, name: str) -> bool:
    return matches_any(name, tool_filter.include) and not matches_any(name, tool_filter.exclude)


def listed_name(virtual: VirtualServerConfig, server: str, tool: str) -> str:
    return f"{server}{virtual.separator}{tool}" if virtual.prefix else tool


def resolve(virtual: VirtualServerConfig, listed: str) -> tuple[str, str] | None:
    """(server, upstream tool) for a name as the virtual server lists it; None when it names no member server."""
    if not virtual.prefix:
        return None  # bare names are resolved against the catalog (catalog.py)
    server, sep, tool = listed.partition(virtual.separator)
    if not sep or not tool or server not in virtual.servers:
        return None
    return server, tool
