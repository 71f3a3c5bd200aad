"""A fake OIDC issuer on loopback: discovery document and JWKS, with RSA and EC keys generated at start.

It serves from its own event loop in a background thread and counts what it serves, so a test can check that the
gateway fetched the key set once for many requests. ``rotate()`` replaces the published keys by new ones with new
key ids, as an identity provider does when it rotates its signing keys.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

AUDIENCE = "wardgate"
_generation = itertools.count(1)


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str
    alg: str
    private: Any

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        algorithm = RSAAlgorithm if self.alg.startswith("RS") else ECAlgorithm
        out: dict[str, Any] = algorithm.to_jwk(public, as_dict=True)
        out.update(kid=self.kid, use="sig")
        return out


def new_keys() -> dict[str, SigningKey]:
    n = next(_generation)
    return {
        "RS256": SigningKey(f"rsa-{n}", "RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "ES256": SigningKey(f"ec-{n}", "ES256", ec.generate_private_key(ec.SECP256R1())),
    }


class FakeIssuer:
    def __init__(self) -> None:
        self.keys = new_keys()
        self.discovery_fetches = 0
        self.jwks_fetches = 0
        self.jwks_status = 200
        self._port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        assert self._port is not None, "not started"
        return f"http://127.0.0.1:{self._port}"

    # --- tokens --------------------------------------------------------------------------------------------------

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": "alice",
            "iat": now,
            "exp": now + 300,
            "email": "alice@example.com",
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(
        self, alg: str = "RS256", *, kid: str | None = "", headers: dict[str, Any] | None = None, **claims: Any
    ) -> str:
        """A token signed with the current key for ``alg``; ``kid=None`` leaves the key id out."""
        key = self.keys[alg]
        header = {"kid": key.kid if kid == "" else kid, **(headers or {})}
        if header["kid"] is None:
            del header["kid"]
        return jwt.encode(self.claims(**claims), key.private, algorithm=alg, headers=header)

    def rotate(self) -> None:
        self.keys = new_keys()

    # --- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> FakeIssuer:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-issuer", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=30)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> FakeIssuer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _open(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_fetches += 1
        return web.json_response({"issuer": self.url, "jwks_uri": self.url + "/jwks"})

    async def _jwks(self, request: web.Request) -> web.Response:
        self.jwks_fetches += 1
        if self.jwks_status != 200:
            return web.json_response({"error": "unavailable"}, status=self.jwks_status)
        return web.json_response({"keys": [key.jwk() for key in self.keys.values()]})
