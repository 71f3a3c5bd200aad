"""Tool calls are traced (issue 15: child spans for tool calls; the OpenTelemetry MCP and GenAI conventions): a
tools/call through a virtual server is a SERVER span `tools/call {tool}` (mcp.method.name, gen_ai.operation.name
execute_tool, gen_ai.tool.name) with a CLIENT child span for the upstream call, exported over OTLP/HTTP to a real
receiver on loopback; a tool the catalog does not hold never names a span."""

from __future__ import annotations

import asyncio

import mcp_types as types

from tests.fakes.otlp import FakeOTLP
from tests.mcp.client import mcp_session
from tests.mcp.upstream import LoopbackMCP
from tests.support import MASTER_KEY, gateway_from_yaml
from wardgate.telemetry import semconv

SERVER, CLIENT = 2, 3  # the proto's SpanKind values


def test_a_tool_call_is_a_server_span_with_the_upstream_call_as_its_client_child() -> None:
    with LoopbackMCP("streamable_http", "gh") as upstream, FakeOTLP().start() as collector:
        config = f"""
mcp:
  servers:
    github: {{transport: streamable_http, url: "{upstream.url}"}}
  virtual_servers:
    dev: {{servers: [github], prefix: true}}
  tools:
    github.add: {{price_usd: 0.002}}
telemetry:
  otlp_endpoint: {collector.root_url}
  service_name: wardgate-test
"""
        with gateway_from_yaml(config) as gw:

            async def go() -> tuple[types.CallToolResult, types.CallToolResult]:
                async with mcp_session(gw.root + "/mcp/dev", MASTER_KEY) as s:
                    return await s.call_tool("github.add", {"a": 2, "b": 3}), await s.call_tool("nope-x" * 50, {})

            added, unknown = asyncio.run(go())
            assert added.structured_content == {"result": 5} and unknown.is_error
            stage = gw.worker.telemetry
            assert stage is not None and stage.tracing is not None
            gw.run(stage.flush())
    roots = [s for s in collector.spans if s.kind == SERVER]
    assert [r.name for r in roots] == ["tools/call github.add"]  # the unknown tool: no pipeline, no span
    (root,) = roots
    assert root.attributes["mcp.method.name"] == "tools/call"
    assert root.attributes[semconv.OPERATION_NAME] == "execute_tool"
    assert root.attributes[semconv.TOOL_NAME] == "github.add"
    assert root.attributes["wardgate.virtual_server"] == "dev" and root.attributes["wardgate.mcp_server"] == "github"
    assert root.attributes["wardgate.cost_nanousd"] == 2_000_000 and root.status_code != 2
    (child,) = [s for s in collector.spans if s.parent_span_id == root.span_id]
    assert (child.name, child.kind, child.trace_id) == ("execute_tool github.add", CLIENT, root.trace_id)
    assert child.attributes[semconv.TOOL_NAME] == "github.add"
