"""An OAuth-protected upstream, end to end through Wardgate's upstream client (mcp/upstream.py with mcp/oauth.py):
the upstream answers 401 until the gateway has discovered its authorization server, registered (or used its
configured client), obtained a token (authorization code without a person, or client credentials), and the tools
are then listed and called, over the SDK's session and the direct tools/call lane alike. Two upstream clients
sharing Redis (two replicas) ask the authorization server for one token."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
import pytest
import redis.asyncio as aioredis

from tests.mcp.upstream import LoopbackMCP
from tests.services import redis_url
from wardgate.config.mcp import StreamableHTTPServerConfig
from wardgate.mcp.upstream import Upstream

TOKEN = "good-token"


class OAuthFront:
    """A minimal authorization server in front of the MCP app, which it guards with a bearer check."""

    def __init__(self) -> None:
        self.token_requests: list[dict[str, list[str]]] = []
        self.registrations = 0
        self.refused = 0
        self.authorized_calls = 0

    def __call__(self, app: Any) -> Any:
        async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                return await app(scope, receive, send)
            headers = dict(scope["headers"])
            base = f"http://{headers[b'host'].decode()}"
            path = scope["path"]
            if path.startswith("/.well-known/oauth-protected-resource"):
                return await _json(send, 200, {"resource": f"{base}/mcp", "authorization_servers": [base]})
            if path == "/.well-known/oauth-authorization-server":
                return await _json(send, 200, {
                    "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
                    "registration_endpoint": f"{base}/register", "response_types_supported": ["code"],
                    "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
                    "code_challenge_methods_supported": ["S256"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
                })  # fmt: skip
            if path == "/register":
                body = orjson.loads(await _body(receive))
                self.registrations += 1
                return await _json(send, 201, {"client_id": "dyn-1", "redirect_uris": body["redirect_uris"],
                                               "token_endpoint_auth_method": "none"})  # fmt: skip
            if path == "/authorize":
                query = parse_qs(scope["query_string"].decode())
                back = f"{query['redirect_uri'][0]}?{urlencode({'code': 'c1', 'state': query['state'][0]})}"
                await send({"type": "http.response.start", "status": 302, "headers": [(b"location", back.encode())]})
                return await send({"type": "http.response.body", "body": b""})
            if path == "/token":
                self.token_requests.append(parse_qs((await _body(receive)).decode()))
                return await _json(send, 200, {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600})
            if headers.get(b"authorization") != f"Bearer {TOKEN}".encode():
                self.refused += 1
                challenge = f'Bearer resource_metadata="{base}/.well-known/oauth-protected-resource/mcp"'
                return await _json(send, 401, {"error": "invalid_token"}, [(b"www-authenticate", challenge.encode())])
            self.authorized_calls += 1
            return await app(scope, receive, send)

        return asgi


async def _body(receive: Any) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(send: Any, status: int, body: Any, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"), *(extra or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": orjson.dumps(body)})


async def _use(upstream: Upstream) -> tuple[list[str], dict[str, Any]]:
    upstream.start()
    try:
        assert await upstream.wait_ready(30), upstream.last_error
        tools = sorted(t.name for t in await upstream.list_tools(0))
        return tools, await upstream.call_tool_json("add", {"a": 2, "b": 3}, 30)  # the direct lane
    finally:
        await upstream.close()


@pytest.mark.parametrize(
    "oauth",
    [
        {},  # dynamic registration, then the authorization code without a person
        {"client_id": "pre", "client_secret": "s3"},  # a pre-registered client
        {"grant": "client_credentials", "client_id": "gw", "client_secret": "s3", "scopes": ["tools"]},
    ],
)
def test_an_oauth_protected_upstream_is_listed_and_called(oauth: dict[str, Any]) -> None:
    front = OAuthFront()
    with LoopbackMCP("streamable_http", front=front) as server:
        if oauth.get("grant") == "client_credentials":  # the authorization server's issuer: the front's origin
            oauth = {**oauth, "issuer": server.url.removesuffix("/mcp")}
        config = StreamableHTTPServerConfig.model_validate(
            {"transport": "streamable_http", "url": server.url, "oauth": oauth}
        )
        tools, result = asyncio.run(_use(Upstream("crm", config)))
    assert "add" in tools and "echo" in tools
    assert result["content"][0]["text"] == "5"
    assert front.refused >= 1 and front.authorized_calls >= 3  # initialize, tools/list, tools/call …
    grant = front.token_requests[0]["grant_type"] if front.token_requests else None
    assert grant == [oauth.get("grant", "authorization_code")]
    assert front.registrations == (0 if "client_id" in oauth else 1)
    if oauth.get("grant") == "client_credentials":
        assert front.token_requests[0]["scope"] == ["tools"]
    else:
        assert "code_verifier" in front.token_requests[0]  # PKCE


def test_replicas_sharing_redis_ask_for_one_token() -> None:
    url = redis_url()
    prefix = f"wg-test-{uuid.uuid4().hex[:8]}:"
    front = OAuthFront()

    async def two_replicas(server_url: str) -> None:
        config = StreamableHTTPServerConfig.model_validate(
            {"transport": "streamable_http", "url": server_url, "oauth": {"client_id": "pre", "client_secret": "s"}}
        )
        client = aioredis.from_url(url)
        try:
            await _use(Upstream("crm", config, client, prefix, "master"))
            await _use(Upstream("crm", config, client, prefix, "master"))  # the second replica, later
        finally:
            keys = [k async for k in client.scan_iter(f"{prefix}*")]
            if keys:
                await client.delete(*keys)
            await client.aclose()

    with LoopbackMCP("streamable_http", front=front) as server:
        asyncio.run(two_replicas(server.url))
    assert len(front.token_requests) == 1
    assert front.refused == 1  # only the first replica's first request went without the token
