"""Wardgate as the OAuth client of an upstream MCP server (``mcp.servers.<name>.oauth``, docs/mcp.md). The official
SDK's providers do the protocol (``mcp.client.auth``: protected resource and authorization server metadata
discovery, client ID metadata documents, dynamic registration, PKCE, the resource parameter, scope step-up,
refresh); this module gives them what a gateway has instead of a person and a browser:

- the authorization step of ``authorization_code`` without a user agent: the authorization URL is requested and its
  redirects followed (within ``max_redirects``) until one comes back to ``redirect_uri`` with a code. An
  authorization server that answers with a page instead (a login, a consent screen) fails the flow with that said;
  such an upstream needs consent granted to the client ahead, or ``grant: client_credentials``.
- token storage that replicas share: Redis when configured, the values sealed (Fernet, a key derived from the
  master key), so one replica's token serves the others and a restart does not authorize again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx2
from mcp.client.auth import OAuthClientProvider, OAuthFlowError
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.auth.utils import union_scopes
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import ValidationError

from wardgate.config.mcp import OAuthClientConfig

if TYPE_CHECKING:
    import redis.asyncio as aioredis

log = logging.getLogger("wardgate.mcp")
REDIRECTS = (301, 302, 303, 307, 308)
STORED_TTL_S = 90 * 86_400  # a stored token or registration unused this long is forgotten
MAX_STORED_BYTES = 64 * 1024


class TokenStore:
    """The SDK's ``TokenStorage`` for one upstream: in this process, and in Redis (sealed) when there is one. A
    configured ``client_id`` is the client's record; no registration then replaces it."""

    def __init__(
        self,
        key: str,
        redis: aioredis.Redis | None,
        secret: str,
        fixed_client: OAuthClientInformationFull | None = None,
    ) -> None:
        self._key = key
        self._redis = redis
        derived = hmac.new(secret.encode(), b"wardgate mcp oauth token store", hashlib.sha256).digest()
        from cryptography.fernet import Fernet

        self._fernet = Fernet(base64.urlsafe_b64encode(derived))
        self._fixed_client = fixed_client
        self._tokens: OAuthToken | None = None
        self._client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        stored = await self._load("tokens")
        if stored is not None:
            try:
                self._tokens = OAuthToken.model_validate_json(stored)
            except ValidationError:
                log.warning("MCP OAuth %s: the stored token is damaged; authorizing again", self._key)
        return self._tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self._tokens = tokens
        await self._save("tokens", tokens.model_dump_json(exclude_none=True))

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        if self._fixed_client is not None:
            return self._fixed_client
        stored = await self._load("client")
        if stored is not None:
            try:
                self._client = OAuthClientInformationFull.model_validate_json(stored)
            except ValidationError:
                log.warning("MCP OAuth %s: the stored registration is damaged; registering again", self._key)
        return self._client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        if self._fixed_client is not None:
            return
        self._client = client_info
        await self._save("client", client_info.model_dump_json(exclude_none=True))

    async def _load(self, what: str) -> bytes | None:
        if self._redis is None:
            return None
        from cryptography.fernet import InvalidToken

        try:
            sealed = await self._redis.get(f"{self._key}:{what}")
        except Exception as exc:  # noqa: BLE001 - Redis down: this process's copy serves
            log.warning("MCP OAuth %s: Redis unavailable (%s); using this replica's copy", self._key, exc)
            return None
        if not isinstance(sealed, bytes | str) or len(sealed) > MAX_STORED_BYTES:
            return None
        try:
            return self._fernet.decrypt(sealed if isinstance(sealed, bytes) else sealed.encode())
        except InvalidToken:  # sealed under another master key: authorize again
            return None

    async def _save(self, what: str, value: str) -> None:
        if self._redis is None:
            return
        try:
            await self._redis.set(f"{self._key}:{what}", self._fernet.encrypt(value.encode()), ex=STORED_TTL_S)
        except Exception as exc:  # noqa: BLE001 - kept in this process; the next replica authorizes for itself
            log.warning("MCP OAuth %s: could not store in Redis (%s)", self._key, exc)


class HeadlessAuthorization:
    """The SDK's redirect and callback handlers with no person: follows the authorization URL to ``redirect_uri``
    and takes the code (and state, and the RFC 9207 ``iss``) from there."""

    def __init__(self, config: OAuthClientConfig, timeout_s: float) -> None:
        self._callback = _endpoint(config.redirect_uri)
        self._max_redirects = config.max_redirects
        self._timeout_s = timeout_s
        self._result: AuthorizationCodeResult | None = None

    async def redirect(self, url: str) -> None:
        self._result = None
        try:
            await self._follow(url)
        except httpx2.HTTPError as exc:
            raise OAuthFlowError(f"the authorization server could not be reached ({type(exc).__name__})") from exc

    async def _follow(self, url: str) -> None:
        async with httpx2.AsyncClient(follow_redirects=False, timeout=self._timeout_s) as client:
            for _ in range(self._max_redirects + 1):
                if urlsplit(url).scheme not in ("http", "https"):
                    raise OAuthFlowError("the authorization server redirected to a URL that is not http(s)")
                response = await client.get(url)
                location = response.headers.get("location")
                if response.status_code not in REDIRECTS or not location:
                    raise OAuthFlowError(
                        f"the authorization server answered HTTP {response.status_code} instead of redirecting to "
                        "redirect_uri: it asks for a person (grant consent to the client ahead, or use grant "
                        "client_credentials)"
                    )
                url = urljoin(url, location)
                if _endpoint(url) == self._callback:
                    self._result = _code_of(url)
                    return
        raise OAuthFlowError(f"the authorization server redirected more than {self._max_redirects} times")

    async def callback(self) -> AuthorizationCodeResult:
        result, self._result = self._result, None
        if result is None:
            raise OAuthFlowError("no authorization code")
        return result


class _ClientCredentials(ClientCredentialsOAuthProvider):
    """The SDK's client-credentials provider, requesting the configured scopes too: on a 401 the SDK replaces the
    scope with the one the upstream's challenge or metadata names (none, often), which would drop them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._configured_scope = self.context.client_metadata.scope

    async def _exchange_token_client_credentials(self) -> httpx2.Request:
        metadata = self.context.client_metadata
        metadata.scope = union_scopes(self._configured_scope, metadata.scope)
        return await super()._exchange_token_client_credentials()


def _endpoint(url: str) -> tuple[str, str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower(), parts.path or "/"


def _code_of(url: str) -> AuthorizationCodeResult:
    query = parse_qs(urlsplit(url).query)

    def one(name: str) -> str | None:
        values = query.get(name)
        return values[0][:4096] if values else None

    error = one("error")
    if error is not None:
        detail = one("error_description")
        raise OAuthFlowError(
            f"the authorization server refused: {error[:200]}" + (f" ({detail[:300]})" if detail else "")
        )
    code = one("code")
    if not code:
        raise OAuthFlowError("the authorization server redirected back without a code")
    return AuthorizationCodeResult(code=code, state=one("state"), iss=one("iss"))


def provider(
    name: str,
    server_url: str,
    config: OAuthClientConfig,
    redis: aioredis.Redis | None,
    prefix: str,
    secret: str,
    timeout_s: float,
) -> httpx2.Auth:
    """The SDK's OAuth provider for one upstream, with the gateway's storage and authorization step."""
    client_secret = config.client_secret.get_secret_value() if config.client_secret is not None else None
    method = config.token_endpoint_auth_method or ("client_secret_basic" if client_secret else None)
    scope = " ".join(config.scopes) if config.scopes else None
    # one record per upstream URL and client: a changed URL or client_id starts afresh
    digest = hashlib.sha256(f"{server_url}\0{config.client_id or ''}".encode()).hexdigest()[:24]
    key = f"{prefix}mcp:oauth:{name}:{digest}"
    if config.grant == "client_credentials":
        assert config.client_id is not None and client_secret is not None, "validated at load"
        assert method != "none", "validated at load"
        return _ClientCredentials(
            server_url,
            TokenStore(key, redis, secret),
            config.client_id,
            client_secret,
            method or "client_secret_basic",
            scope,
            config.issuer,
        )
    fixed: OAuthClientInformationFull | None = None
    if config.client_id is not None:
        fixed = OAuthClientInformationFull(
            client_id=config.client_id,
            client_secret=client_secret,
            token_endpoint_auth_method=method or "none",
            redirect_uris=[config.redirect_uri],  # type: ignore[list-item]  # pydantic parses the URL
            grant_types=["authorization_code", "refresh_token"],
        )
    metadata: dict[str, Any] = {
        "redirect_uris": [config.redirect_uri],
        "client_name": config.client_name,
        "grant_types": ["authorization_code", "refresh_token"],
    }
    if method is not None:
        metadata["token_endpoint_auth_method"] = method
    headless = HeadlessAuthorization(config, timeout_s)
    return OAuthClientProvider(
        server_url,
        OAuthClientMetadata.model_validate(metadata),
        TokenStore(key, redis, secret, fixed),
        redirect_handler=headless.redirect,
        callback_handler=headless.callback,
        client_metadata_url=config.client_metadata_url,
    )


def bearer_of(auth: httpx2.Auth | None) -> str | None:
    """The access token the provider holds now (for the direct tools/call lane), or None."""
    if not isinstance(auth, OAuthClientProvider):
        return None
    tokens = auth.context.current_tokens
    return tokens.access_token if tokens is not None and auth.context.is_token_valid() else None
