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
