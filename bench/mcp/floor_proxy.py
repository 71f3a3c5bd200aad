"""The floor for issue 18 point 7: the least a Python MCP pass-through can cost on this machine, to read Wardgate's
added p99 against (as bench/harness/floor/ is for chat).

Compares the bearer key with the master key, parses the JSON-RPC body (a gateway must, to route and govern a call),
forwards it to the upstream with the MCP headers, and relays the answer. No session check, policy, ledger or audit:
what a gateway adds costs on top of this. One process per worker, all on one port (SO_REUSEPORT).

    python bench/mcp/floor_proxy.py aiohttp PORT UPSTREAM_URL KEY    # aiohttp server + aiohttp client
    python bench/mcp/floor_proxy.py uvicorn PORT UPSTREAM_URL KEY    # uvicorn (httptools, uvloop) + aiohttp client
"""

from __future__ import annotations

import sys
from typing import Any

import orjson
from aiohttp import ClientSession, TCPConnector, web

FORWARDED = ("content-type", "accept", "mcp-protocol-version", "mcp-session-id")


def main() -> None:
    mode, port, upstream, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    master = "Bearer " + key
    if mode == "aiohttp":
        serve_aiohttp(port, upstream, master)
    else:
        serve_uvicorn(port, upstream, master)


def serve_aiohttp(port: int, upstream: str, master: str) -> None:
    import uvloop

    async def call(request: web.Request) -> web.Response:
        if request.headers.get("authorization") != master:
            return web.json_response({"error": "bad key"}, status=401)
        message = orjson.loads(await request.read())
        headers = {name: request.headers[name] for name in FORWARDED if name in request.headers}
        async with request.app["s"].post(upstream, data=orjson.dumps(message), headers=headers) as answer:
            body = await answer.read()
            return web.Response(body=body, status=answer.status, headers={"content-type": answer.content_type})

    async def session(app: web.Application) -> Any:
        app["s"] = ClientSession(connector=TCPConnector(limit=0, ttl_dns_cache=None))
        yield
        await app["s"].close()

    uvloop.install()
    app = web.Application()
    app.cleanup_ctx.append(session)
    app.router.add_post("/mcp/bench", call)
    web.run_app(app, host="127.0.0.1", port=port, reuse_port=True, access_log=None, print=None)


def serve_uvicorn(port: int, upstream: str, master: str) -> None:
    import uvicorn

    wanted = {name.encode(): name for name in FORWARDED}
    state: dict[str, ClientSession] = {}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    state["s"] = ClientSession(connector=TCPConnector(limit=0, ttl_dns_cache=None))
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await state["s"].close()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        headers: dict[str, str] = {}
        authorization = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name in wanted:
                headers[wanted[name]] = value.decode("latin-1")
        chunks = []
        while True:
            event = await receive()
            chunks.append(event.get("body", b""))
            if not event.get("more_body"):
                break
        if authorization.decode("latin-1") != master:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        message = orjson.loads(b"".join(chunks))
        async with state["s"].post(upstream, data=orjson.dumps(message), headers=headers) as answer:
            body = await answer.read()
            kind = answer.headers.get("content-type", "application/json").encode("latin-1")
            await send({"type": "http.response.start", "status": answer.status, "headers": [(b"content-type", kind)]})
            await send({"type": "http.response.body", "body": body})

    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop="uvloop", http="httptools", log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main()
