"""Console sign-in through the OIDC issuer of ``identity.jwt``: authorization code with PKCE (RFC 7636, S256).

``GET /admin/v1/session/oidc?next=/ui/…`` sends the browser to the issuer with a fresh state, nonce and code
challenge, kept in a short-lived sealed cookie (SameSite=Lax: the issuer's redirect back is a cross-site
navigation, which a Strict cookie would not survive). The issuer redirects to ``ui.oidc.redirect_url``
(``/admin/v1/session/oidc/callback``), where the code is exchanged for an ID token; the token is verified as every
JWT of the issuer (signature, issuer, audience, lifetime) plus the nonce, and becomes the session's credential, so
the user's roles are those ``identity.jwt.admin`` and their Wardgate user give them, exactly as on the admin API.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
from starlette.requests import Request
from starlette.responses import Response

from wardgate.api.admin.auth import actor_for_credential
from wardgate.api.admin.common import Operation, QueryParam, record
from wardgate.api.admin.schemas import View
from wardgate.api.admin.session_codec import SessionCodec, cookie_of, is_loopback, set_cookie
from wardgate.assemble import Worker
from wardgate.config.schema import OIDC_CALLBACK_PATH, UIOIDCConfig
from wardgate.core.errors import InvalidRequest, NotFound, Unauthenticated

FLOW_COOKIE = "wardgate_oidc"
START_PATH = "/admin/v1/session/oidc"
_FLOW_S = 600
_DISCOVERY_TTL_S = 3600.0
_TIMEOUT = aiohttp.ClientTimeout(total=10)


class Redirect(View):
    """Documentation only: these routes answer with redirects or a small HTML page."""

    location: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def safe_next(raw: str | None) -> str:
    """Only a console page of this origin: never an open redirect."""
    if raw and raw.startswith("/ui/") and "//" not in raw and "\\" not in raw and len(raw) <= 1000:
        return raw
    return "/ui/overview"


class OIDCRoutes:
    def __init__(self, services: Worker) -> None:
        self.services = services
        self._discovery: tuple[float, dict[str, Any]] | None = None

    def _config(self, request: Request) -> tuple[UIOIDCConfig, SessionCodec]:
        oidc = self.services.settings.ui.oidc
        codec: SessionCodec | None = request.app.state.sessions
        if oidc is None or self.services.jwt is None:
            raise NotFound("OIDC sign-in is not configured (ui.oidc).")
        if codec is None:
            raise InvalidRequest("Set `ui.session_secret` or `master_key`.", status=503, code="console_unavailable")
        return oidc, codec

    async def _endpoints(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._discovery is not None and now - self._discovery[0] < _DISCOVERY_TTL_S:
            return self._discovery[1]
        jwt = self.services.settings.identity.jwt
        assert jwt is not None
        url = jwt.issuer.rstrip("/") + "/.well-known/openid-configuration"
        try:
            async with self.services.http.session.get(url, timeout=_TIMEOUT) as answer:
                document = await answer.json(content_type=None) if answer.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            document = None
        if not isinstance(document, dict) or not all(
            isinstance(document.get(k), str) for k in ("authorization_endpoint", "token_endpoint")
        ):
            raise InvalidRequest("The OIDC issuer's discovery document is unavailable.", status=502, code="oidc_error")
        self._discovery = (now, document)
        return document

    async def start(self, request: Request) -> Response:
        oidc, codec = self._config(request)
        endpoints = await self._endpoints()
        verifier, state, nonce = _b64(os.urandom(32)), _b64(os.urandom(16)), _b64(os.urandom(16))
        flow = orjson.dumps(
            {"v": verifier, "s": state, "n": nonce, "next": safe_next(request.query_params.get("next"))}
        )
        sealed, _ = codec.seal(flow.decode(), time.time())
        params = {
            "response_type": "code",
            "client_id": oidc.client_id,
            "redirect_uri": oidc.redirect_url,
            "scope": "openid email profile",
            "state": state,
            "nonce": nonce,
            "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
        }
        endpoint = endpoints["authorization_endpoint"]
        location = endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)
        secure = "" if is_loopback(request.headers.get("host", "")) else "; Secure"
        cookie = f"{FLOW_COOKIE}={sealed}; Path={START_PATH}; Max-Age={_FLOW_S}; HttpOnly; SameSite=Lax{secure}"
        return Response(
            status_code=303, headers={"location": location, "set-cookie": cookie, "cache-control": "no-store"}
        )

    async def callback(self, request: Request) -> Response:
        oidc, codec = self._config(request)
        raw = cookie_of(request.headers.get("cookie"), FLOW_COOKIE)
        flow_session = codec.open(raw, time.time()) if raw else None
        if flow_session is None:
            raise Unauthenticated("The OIDC sign-in expired or was not started here; start again from /ui/signin.")
        flow = orjson.loads(flow_session.credential)
        if int(time.time()) > flow_session.expires_at - int(codec.ttl_s) + _FLOW_S:
            raise Unauthenticated("The OIDC sign-in took too long; start again from /ui/signin.")
        if "error" in request.query_params:
            raise Unauthenticated(f"The issuer refused the sign-in: {request.query_params['error'][:200]}.")
        state, code = request.query_params.get("state", ""), request.query_params.get("code", "")
        if not code or not hmac.compare_digest(state.encode(), str(flow["s"]).encode()):
            raise Unauthenticated("The OIDC answer does not match this sign-in (state).")
        token = await self._exchange(oidc, code, str(flow["v"]))
        claims = await self.services.jwt.verify(token) if self.services.jwt is not None else {}
        if not hmac.compare_digest(str(claims.get("nonce", "")).encode(), str(flow["n"]).encode()):
            raise Unauthenticated("The ID token does not match this sign-in (nonce).")
        actor = await actor_for_credential(token, self.services)
        sealed, _ = codec.seal(token, time.time())
        record(self.services, actor, "console.sign_in", actor.id, {"via": "oidc"})
        ttl = max(1, min(int(codec.ttl_s), int(claims.get("exp", 0)) - int(time.time())))
        target = safe_next(flow.get("next"))
        # a page, not a redirect: the session cookie is SameSite=Strict, and a redirect chain that began at the
        # issuer is cross-site, so the browser would not send it to the next page; a navigation from our own page is
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Signed in</title>'
            f'<meta http-equiv="refresh" content="0;url={target}"></head>'
            f'<body><p><a href="{target}">Continue to the console</a></p></body></html>'
        )
        cleared = f"{FLOW_COOKIE}=; Path={START_PATH}; Max-Age=0; HttpOnly; SameSite=Lax"
        headers = [
            ("set-cookie", set_cookie(sealed, ttl, request.headers.get("host", ""))),
            ("set-cookie", cleared),
            ("cache-control", "no-store"),
            ("content-security-policy", "default-src 'none'"),
        ]
        response = Response(body, media_type="text/html; charset=utf-8")
        for name, value in headers:
            response.headers.append(name, value)
        return response

    async def _exchange(self, oidc: UIOIDCConfig, code: str, verifier: str) -> str:
        endpoints = await self._endpoints()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": oidc.redirect_url,
            "client_id": oidc.client_id,
            "code_verifier": verifier,
        }
        if oidc.client_secret is not None:
            form["client_secret"] = oidc.client_secret.get_secret_value()
        try:
            async with self.services.http.session.post(
                endpoints["token_endpoint"], data=form, timeout=_TIMEOUT
            ) as answer:
                body = await answer.json(content_type=None)
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, ValueError):
            raise InvalidRequest("The OIDC issuer's token endpoint failed.", status=502, code="oidc_error") from None
        token = body.get("id_token") if isinstance(body, dict) else None
        if status != 200 or not isinstance(token, str):
            detail = body.get("error") if isinstance(body, dict) else None
            raise Unauthenticated(f"The issuer did not issue an ID token ({str(detail)[:100] or status}).")
        return token


def methods_view(services: Worker) -> dict[str, bool]:
    return {"key": True, "oidc": services.settings.ui.oidc is not None and services.jwt is not None}


class SignInMethods(View):
    key: bool
    oidc: bool


def operations(services: Worker) -> list[Operation]:
    r = OIDCRoutes(services)

    async def methods(request: Request) -> Response:
        return Response(orjson.dumps(methods_view(services)), media_type="application/json")

    return [
        Operation(
            "GET",
            "/admin/v1/session/methods",
            "How one may sign in to the console (no credential needed)",
            "session",
            methods,
            SignInMethods,
            errors=(),
            extra={"security": []},
        ),
        Operation(
            "GET",
            START_PATH,
            "Start the console's OIDC sign-in: a redirect to the issuer (authorization code + PKCE)",
            "session",
            r.start,
            Redirect,
            303,
            query=(QueryParam("next", "the /ui/ page to open once signed in", {"type": "string"}),),
            errors=(404, 502, 503),
            extra={"security": []},
        ),
        Operation(
            "GET",
            OIDC_CALLBACK_PATH,
            "The issuer's redirect back: exchanges the code, sets the session cookie, opens the console",
            "session",
            r.callback,
            Redirect,
            query=(
                QueryParam("code", "the authorization code", {"type": "string"}),
                QueryParam("state", "the state sent at the start", {"type": "string"}),
            ),
            errors=(401, 404, 502, 503),
            extra={"security": []},
        ),
    ]
