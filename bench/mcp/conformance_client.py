"""Issue 18, point 2: the client under test for the MCP conformance suite's client mode is Wardgate's upstream
client (wardgate.mcp.upstream.Upstream: the SDK's session, supervised, with the direct tools/call lane), driven as
the gateway drives it: connect and initialize, list the tools, and call them with the arguments the scenario's tools
ask for. The suite runs it as `<command> <server url>`, the scenario's name in MCP_CONFORMANCE_SCENARIO.

Usage: node conformance/dist/index.js client --suite core --command ".venv/bin/python bench/mcp/conformance_client.py"
(bench/mcp/conformance_client.sh does this with the pinned suite).
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from wardgate.config.mcp import StreamableHTTPServerConfig
from wardgate.mcp.upstream import Upstream

ARGUMENTS: dict[str, dict[str, Any]] = {"add_numbers": {"a": 5, "b": 3}}


async def main(url: str) -> int:
    config = StreamableHTTPServerConfig.model_validate({"transport": "streamable_http", "url": url})
    upstream = Upstream(os.environ.get("MCP_CONFORMANCE_SCENARIO", "conformance"), config)
    upstream.start()
    try:
        if not await upstream.wait_ready(20):
            print(f"not connected: {upstream.last_error}", file=sys.stderr)
            return 1
        tools = await upstream.list_tools(0)
        print("tools:", [t.name for t in tools])
        for tool in tools:
            result = await upstream.call_tool_json(tool.name, ARGUMENTS.get(tool.name, {}), 20)
            print(tool.name, "->", result)
        return 0
    finally:
        await upstream.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[-1])))
