// A fast local MCP upstream for the tools/call throughput bench (issue 18, point 7): streamable HTTP, stateless,
// JSON answers, one tool `add`. Node's http module only (no dependency), so the upstream costs the 2-core machine
// little next to Wardgate and the load generator. Not a test double for behaviour: the tests use the SDK's server.
// Usage: PORT=8123 node bench/mcp/fast_upstream.cjs
"use strict";
const http = require("http");

const TOOL = {
  name: "add",
  description: "Add two integers.",
  inputSchema: {
    type: "object",
    properties: { a: { type: "integer" }, b: { type: "integer" } },
    required: ["a", "b"],
  },
};

function answer(message) {
  const { id, method, params } = message;
  if (method === "initialize") {
    return {
      jsonrpc: "2.0",
      id,
      result: {
        protocolVersion: (params && params.protocolVersion) || "2025-06-18",
        capabilities: { tools: { listChanged: false } },
        serverInfo: { name: "fast-upstream", version: "1" },
      },
    };
  }
  if (method === "tools/list") return { jsonrpc: "2.0", id, result: { tools: [TOOL] } };
  if (method === "ping") return { jsonrpc: "2.0", id, result: {} };
  if (method === "tools/call") {
    const args = (params && params.arguments) || {};
    const sum = Number(args.a) + Number(args.b);
    return { jsonrpc: "2.0", id, result: { content: [{ type: "text", text: String(sum) }], isError: false } };
  }
  return { jsonrpc: "2.0", id, error: { code: -32601, message: `Method not found: ${method}` } };
}

const server = http.createServer((req, res) => {
  if (req.method === "DELETE") {
    res.writeHead(200).end();
    return;
  }
  if (req.method !== "POST") {
    res.writeHead(405, { allow: "POST" }).end();
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let message;
    try {
      message = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (e) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } }));
      return;
    }
    if (message.id === undefined) {
      res.writeHead(202).end();
      return;
    }
    const body = JSON.stringify(answer(message));
    res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 60000;
server.listen(Number(process.env.PORT || 8123), "127.0.0.1");
