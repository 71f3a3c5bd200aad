"""The MCP gateway: virtual MCP servers over streamable HTTP, SSE and stdio upstreams (docs/mcp.md)."""
