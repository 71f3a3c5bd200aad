"""Issue 18, point 2: the client under test for the MCP conformance suite's client mode is Wardgate's upstream
client (wardgate.mcp.upstream.Upstream: the SDK's session, supervised, with the direct tools/call lane), driven as
the gateway drives it: connect and initialize, list the tools, and call them with the arguments the scenario's tools
ask for. The suite runs it as `<command> <server url>`, the scenario's name in MCP_CONFORMANCE_SCENARIO.

The upstream is configured as an operator would configure one that may be OAuth-protected (docs/mcp.md): an
`oauth:` block (the client ID metadata document's URL is the one the suite's authorization server expects; a
pre-registered client's id and secret come from MCP_CONFORMANCE_CONTEXT when the scenario gives them) and
`elicitation: defaults`. The same configuration serves every scenario: nothing here depends on the scenario's name.

Usage: node conformance/dist/index.js client --suite core --command ".venv/bin/python bench/mcp/conformance_client.py"
(bench/mcp/conformance_client.sh and tests/judges/test_mcp_conformance_client.py do this with the pinned suite).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from wardgate.config.mcp import StreamableHTTPServerConfig
from wardgate.mcp.upstream import Upstream

# the arguments a tool gets: its schema's defaults, else a value of each required property's type
SAMPLE: dict[str, Any] = {"number": 1, "integer": 1, "string": "x", "boolean": True, "array": [], "object": {}}
CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"


def arguments_for(schema: dict[str, Any]) -> dict[str, Any]:
    properties = schema.get("properties") or {}
    out: dict[str, Any] = {}
    for name in schema.get("required") or []:
        field = properties.get(name) or {}
        out[name] = field["default"] if "default" in field else SAMPLE.get(field.get("type", "string"), "x")
    return out


def server_config(url: str) -> StreamableHTTPServerConfig:
    oauth: dict[str, Any] = {"client_metadata_url": CLIENT_METADATA_URL}
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    if context.get("client_id"):
        oauth["client_id"] = context["client_id"]
        if context.get("client_secret"):
            oauth["client_secret"] = context["client_secret"]
    return StreamableHTTPServerConfig.model_validate(
        {"transport": "streamable_http", "url": url, "oauth": oauth, "elicitation": "defaults"}
    )


async def main(url: str) -> int:
    upstream = Upstream(os.environ.get("MCP_CONFORMANCE_SCENARIO", "conformance").replace("/", "-"), server_config(url))
    upstream.start()
    try:
        if not await upstream.wait_ready(20):
            print(f"not connected: {upstream.last_error}", file=sys.stderr)
            return 1
        tools = await upstream.list_tools(0)
        print("tools:", [t.name for t in tools])
        for tool in tools:
            result = await upstream.call_tool_json(tool.name, arguments_for(tool.input_schema), 20)
            print(tool.name, "->", result)
        return 0
    finally:
        await upstream.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[-1])))
