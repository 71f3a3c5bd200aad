"""The fake OIDC issuer of tests/identity, with the two endpoints of the authorization code flow: ``/authorize``
signs in a fixed user at once (no login page) and ``/token`` trades the code for an ID token only when the PKCE
verifier matches the challenge (S256), the client and the redirect URI are the ones the code was issued for."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.identity.issuer import FakeIssuer


class FakeOIDCProvider(FakeIssuer):
    def __init__(self, client_id: str, claims: dict[str, Any]) -> None:
        super().__init__()
        self.client_id = client_id
        self.user_claims = claims
        self.codes: dict[str, dict[str, str]] = {}
        self.token_refusals: list[str] = []

    async def _open(self) -> None:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self._discovery)
        app.router.add_get("/jwks", self._jwks)
        app.router.add_get("/authorize", self._authorize)
        app.router.add_post("/token", self._token)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def _discovery(self, request: web.Request) -> web.Response:
        self.discovery_fetches += 1
        return web.json_response(
            {
                "issuer": self.url,
                "jwks_uri": self.url + "/jwks",
                "authorization_endpoint": self.url + "/authorize",
                "token_endpoint": self.url + "/token",
            }
        )

    async def _authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return web.Response(status=400, text="authorization code with PKCE S256 only")
        code = base64.urlsafe_b64encode(os.urandom(18)).decode()
        self.codes[code] = {k: q.get(k, "") for k in ("client_id", "redirect_uri", "code_challenge", "nonce")}
        back = q["redirect_uri"] + "?" + urlencode({"code": code, "state": q.get("state", "")})
        raise web.HTTPFound(back)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        issued = self.codes.pop(str(form.get("code", "")), None)
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        problem = None
        if issued is None:
            problem = "unknown or used code"
        elif challenge != issued["code_challenge"]:
            problem = "PKCE verifier does not match"
        elif form.get("client_id") != issued["client_id"] or form.get("redirect_uri") != issued["redirect_uri"]:
            problem = "client or redirect_uri differs"
        if problem is not None or issued is None:
            self.token_refusals.append(str(problem))
            return web.json_response({"error": "invalid_grant", "error_description": problem}, status=400)
        token = self.token(aud=self.client_id, nonce=issued["nonce"], **self.user_claims)
        return web.json_response({"id_token": token, "access_token": "opaque", "token_type": "Bearer"})
