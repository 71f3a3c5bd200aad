"""For the MCP conformance suite, which has no header option: adds `Authorization: Bearer KEY` and relays the rest
as it is (streams included). Usage: credential_proxy.py TARGET_ROOT PORT KEY"""

import sys

from aiohttp import ClientSession, ClientTimeout, web

TARGET, PORT, KEY = sys.argv[1], int(sys.argv[2]), sys.argv[3]
HOP = {"host", "content-length", "transfer-encoding", "connection"}


async def handle(request: web.Request) -> web.StreamResponse:
    session: ClientSession = request.app["session"]
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
    headers["Authorization"] = f"Bearer {KEY}"
    body = await request.read()
    async with session.request(request.method, TARGET + request.path_qs, headers=headers, data=body) as upstream:
        response = web.StreamResponse(status=upstream.status)
        for k, v in upstream.headers.items():
            if k.lower() not in HOP:
                response.headers[k] = v
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


async def start(app: web.Application) -> None:
    app["session"] = ClientSession(timeout=ClientTimeout(total=None))


app = web.Application()
app.on_startup.append(start)
app.router.add_route("*", "/{tail:.*}", handle)
web.run_app(app, host="127.0.0.1", port=PORT, print=None)
