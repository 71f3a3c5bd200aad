"""Wardgate as an upstream's OAuth client (mcp/oauth.py): the authorization step without a person, and the token
store every replica shares (Redis, sealed with the master key). The whole flow against a real authorization server
is the conformance suite's client mode (tests/judges/test_mcp_conformance_client.py)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from mcp.client.auth import OAuthFlowError
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from tests.services import redis_url
from wardgate.config.mcp import OAuthClientConfig
from wardgate.mcp.oauth import HeadlessAuthorization, TokenStore

CALLBACK = "http://localhost/oauth/callback"


Route = Callable[[], web.Response]


async def _authorize(routes: dict[str, Route], start: str, redirects: int = 5) -> object:
    """Runs the headless authorization against an authorization server whose paths answer ``routes`` (a Location
    of ``{base}`` is made absolute), and returns the callback's result or the error raised."""

    async def handle(request: web.Request) -> web.Response:
        return routes[request.path]()

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    headless = HeadlessAuthorization(OAuthClientConfig(redirect_uri=CALLBACK, max_redirects=redirects), 5.0)
    try:
        await headless.redirect(base + start)
        return await headless.callback()
    except OAuthFlowError as exc:
        return exc
    finally:
        await runner.cleanup()


def _to(location: str) -> Route:
    return lambda: web.Response(status=302, headers={"Location": location})


def test_the_code_is_taken_from_the_redirect_back_to_the_callback() -> None:
    routes = {
        "/authorize": _to("/consent?x=1"),  # relative: resolved against the authorization server
        "/consent": _to(f"{CALLBACK}?code=abc&state=s1&iss=https%3A%2F%2Fas.example"),
    }
    result = asyncio.run(_authorize(routes, "/authorize?client_id=c"))
    assert not isinstance(result, Exception)
    assert (result.code, result.state, result.iss) == ("abc", "s1", "https://as.example")  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("routes", "needle"),
    [
        ({"/authorize": lambda: web.Response(text="<form>log in</form>")}, "asks for a person"),
        ({"/authorize": _to(f"{CALLBACK}?error=access_denied&error_description=no")}, "refused: access_denied (no)"),
        ({"/authorize": _to(f"{CALLBACK}?state=s1")}, "without a code"),
        ({"/authorize": _to("/authorize")}, "more than 2 times"),
        ({"/authorize": _to("file:///etc/passwd")}, "not http(s)"),
    ],
)
def test_an_authorization_server_that_needs_a_person_or_refuses_fails_the_flow(
    routes: dict[str, Route], needle: str
) -> None:
    result = asyncio.run(_authorize(routes, "/authorize", redirects=2))
    assert isinstance(result, OAuthFlowError)
    assert needle in str(result)


@pytest.fixture
def redis() -> Iterator[str]:
    yield redis_url()


def test_replicas_share_the_token_and_a_foreign_key_reads_nothing(redis: str) -> None:
    key = f"wg-test-{uuid.uuid4().hex[:8]}:mcp:oauth:crm:x"

    async def go() -> tuple[OAuthToken | None, OAuthToken | None, OAuthClientInformationFull | None, bytes]:
        client = aioredis.from_url(redis)
        try:
            one, two = TokenStore(key, client, "master-1"), TokenStore(key, client, "master-1")
            await one.set_tokens(OAuthToken(access_token="at-1", refresh_token="rt-1", expires_in=3600))
            await one.set_client_info(OAuthClientInformationFull(client_id="dyn-1", client_secret="cs"))
            other = TokenStore(key, client, "another-master-key")
            raw = await client.get(f"{key}:tokens")
            return await two.get_tokens(), await other.get_tokens(), await two.get_client_info(), raw
        finally:
            await client.delete(f"{key}:tokens", f"{key}:client")
            await client.aclose()

    shared, foreign, registration, raw = asyncio.run(go())
    assert shared is not None and shared.access_token == "at-1" and shared.refresh_token == "rt-1"
    assert foreign is None
    assert registration is not None and registration.client_id == "dyn-1"
    assert b"at-1" not in raw and b"rt-1" not in raw  # sealed at rest


def test_a_configured_client_is_never_replaced_by_a_registration() -> None:
    fixed = OAuthClientInformationFull(client_id="pre-registered")

    async def go() -> OAuthClientInformationFull | None:
        store = TokenStore("k", None, "m", fixed)
        await store.set_client_info(OAuthClientInformationFull(client_id="dyn"))
        return await store.get_client_info()

    got = asyncio.run(go())
    assert got is not None and got.client_id == "pre-registered"
