"""An upstream with the conformance suite's server-to-client tools (`test_sampling`, `test_elicitation`,
`test_elicitation_sep1034_defaults`, `test_tool_with_logging`, `test_tool_with_progress`), which the reference
"everything" server lacks, so that the suite's scenarios about sampling, elicitation, logging and progress can run
through Wardgate (bench/mcp/conformance_relay.sh). The official SDK's MCPServer over streamable HTTP.
Usage: .venv/bin/python bench/mcp/relay_upstream.py PORT
"""

from __future__ import annotations

import asyncio
import sys
import warnings
from typing import Literal

import mcp_types as types
import uvicorn
from mcp.server.mcpserver import Context, MCPServer
from mcp.shared.exceptions import MCPDeprecationWarning
from pydantic import BaseModel, Field

warnings.simplefilter("ignore", MCPDeprecationWarning)  # sampling and logging are deprecated in the newest spec
server = MCPServer("relay-upstream", log_level="WARNING")


class Contact(BaseModel):
    username: str = Field(description="User's response")
    email: str = Field(description="User's email address")


class Defaults(BaseModel):
    name: str = "John Doe"
    age: int = 30
    score: float = 95.5
    status: Literal["active", "inactive", "pending"] = "active"
    verified: bool = True


@server.tool()
async def test_sampling(prompt: str, ctx: Context) -> str:
    message = types.SamplingMessage(role="user", content=types.TextContent(type="text", text=prompt))
    result = await ctx.request_context.session.create_message(
        messages=[message], max_tokens=100, related_request_id=ctx.request_id
    )
    content = result.content
    return f"LLM response: {content.text if isinstance(content, types.TextContent) else content}"


@server.tool()
async def test_elicitation(message: str, ctx: Context) -> str:
    answer = await ctx.elicit(message, Contact)
    content = answer.data.model_dump() if answer.action == "accept" else {}
    return f"User response: action={answer.action}, content={content}"


@server.tool()
async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    answer = await ctx.elicit("Please review and update the form fields with defaults", Defaults)
    content = answer.data.model_dump() if answer.action == "accept" else {}
    return f"Elicitation completed: action={answer.action}, content={content}"


@server.tool()
async def test_tool_with_logging(ctx: Context) -> str:
    for text in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await ctx.info(text)
        await asyncio.sleep(0.05)
    return "Logging test completed"


@server.tool()
async def test_tool_with_progress(ctx: Context) -> str:
    for value in (0, 50, 100):
        await ctx.report_progress(value, 100)
        await asyncio.sleep(0.05)
    return "Progress test completed"


if __name__ == "__main__":  # relay_upstream.py PORT [sse] | relay_upstream.py stdio
    if sys.argv[1] == "stdio":
        server.run("stdio")
    else:
        app = server.sse_app() if sys.argv[2:] == ["sse"] else server.streamable_http_app()
        uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
