"""MCP tool policies managed through the admin API. Every worker and replica re-reads them (limits.refresh_s, and at
once when the admin API announces a change)."""

from __future__ import annotations

from wardgate.store.named_configs import NamedConfigStore
from wardgate.store.tables import mcp_tool_policies


class ToolPolicyStore(NamedConfigStore):
    table = mcp_tool_policies
    noun = "tool policy"
