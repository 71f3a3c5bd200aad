"""Service-account OAuth for Vertex AI: a JWT signed with the account's key, traded for an access token.

The flow is Google's "OAuth 2.0 for server to server applications": an RS256 JWT with ``iss`` = the account's
``client_email``, ``scope`` = cloud-platform, ``aud`` = the key file's ``token_uri``, ``iat``/``exp`` one hour
apart, POSTed to ``token_uri`` as ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``. The key file is read
once, when the adapter is built. The token is cached until five minutes before it expires; concurrent requests
that find it stale share one refresh (the first caller starts it, the others await the same task, and a caller
that goes away does not cancel it for the rest).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import orjson

from wardgate.core.deployment import Timeouts
from wardgate.core.errors import UpstreamError
from wardgate.providers.http import UpstreamHTTP, scrub, upstream_errors

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import rsa

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
_LIFETIME_S = 3600
_MARGIN_S = 300
log = logging.getLogger("wardgate")


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_email: str
    private_key: rsa.RSAPrivateKey
    private_key_id: str | None
    token_uri: str

    def __repr__(self) -> str:  # never print the key
        return f"ServiceAccount({self.client_email!r})"


def load_service_account(path: str | Path) -> ServiceAccount:
    """Parse a service-account JSON key file; errors name the file and the problem, never its content."""
    try:
        data = orjson.loads(Path(path).read_bytes())
    except OSError as exc:
        raise ValueError(f"credentials_file {path}: cannot read it ({exc.strerror})") from None
    except orjson.JSONDecodeError:
        raise ValueError(f"credentials_file {path}: not JSON (expected a service-account key file)") from None
    if not isinstance(data, dict) or data.get("type") != "service_account":
        raise ValueError(f'credentials_file {path}: not a service-account key (its "type" must be service_account)')
    missing = [key for key in ("client_email", "private_key") if not data.get(key)]
    if missing:
        raise ValueError(f"credentials_file {path}: missing {', '.join(missing)}")
    try:  # imported here so that a gateway without Vertex providers does not need the package
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
    except ImportError:
        raise ValueError("type vertex needs the cryptography package (pip install cryptography)") from None
    try:
        key = serialization.load_pem_private_key(str(data["private_key"]).encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError(f"credentials_file {path}: private_key is not a PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"credentials_file {path}: private_key must be an RSA key")
    return ServiceAccount(
        client_email=str(data["client_email"]),
        private_key=key,
        private_key_id=data.get("private_key_id"),
        token_uri=str(data.get("token_uri") or DEFAULT_TOKEN_URI),
    )


def _b64url(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def signed_assertion(account: ServiceAccount, now: int, scope: str = SCOPE) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    header = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id
    claims = {
        "iss": account.client_email,
        "scope": scope,
        "aud": account.token_uri,
        "iat": now,
        "exp": now + _LIFETIME_S,
    }
    signing_input = _b64url(orjson.dumps(header)) + b"." + _b64url(orjson.dumps(claims))
    signature = account.private_key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    return (signing_input + b"." + _b64url(signature)).decode()


class AccessTokens:
    """The access token of one service account, cached and refreshed single-flight."""

    def __init__(
        self,
        account: ServiceAccount,
        http: UpstreamHTTP,
        provider: str,
        timeouts: Timeouts,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.account = account
        self.http = http
        self.provider = provider
        self.timeouts = timeouts
        self._clock = clock
        self._token: str | None = None
        self._fresh_until = 0.0
        self._inflight: asyncio.Future[str] | None = None

    @property
    def current(self) -> str | None:
        """The cached token, for scrubbing it out of error messages."""
        return self._token

    async def token(self) -> str:
        if self._token is not None and self._clock() < self._fresh_until:
            return self._token
        task = self._inflight
        if task is None:
            task = asyncio.ensure_future(self._fetch())
            self._inflight = task
            task.add_done_callback(self._settled)
        return await asyncio.shield(task)

    def _settled(self, task: asyncio.Future[str]) -> None:
        if self._inflight is task:
            self._inflight = None
        if not task.cancelled():
            task.exception()  # retrieved here, so a refresh nobody waits for any more does not warn

    async def _fetch(self) -> str:
        assertion = signed_assertion(self.account, int(time.time()))
        form = urlencode({"grant_type": GRANT_TYPE, "assertion": assertion}).encode()
        headers = {"content-type": "application/x-www-form-urlencoded"}
        requested = self._clock()
        response = await self.http.post(self.provider, self.account.token_uri, form, headers, self.timeouts)
        try:
            with upstream_errors(self.provider):
                data = await response.read()
        finally:
            response.release()
        try:
            body = orjson.loads(data)
        except orjson.JSONDecodeError:
            body = {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status != 200 or not isinstance(token, str) or not token:
            reason = body.get("error", "") if isinstance(body, dict) else ""
            log.warning(
                "%s: the token endpoint refused the service account %s (HTTP %s): %s",
                self.provider,
                self.account.client_email,
                response.status,
                scrub(data[:300].decode("utf-8", "replace"), (assertion,)),
            )
            raise UpstreamError(
                f"{self.provider}: could not obtain an access token for the gateway's service account "
                f"(HTTP {response.status}{' ' + reason if isinstance(reason, str) and reason else ''}); "
                "an operator must check this provider's credentials_file.",
                code="upstream_auth_error",
            )
        lifetime = float(body.get("expires_in") or _LIFETIME_S)
        self._token = token
        self._fresh_until = requested + lifetime - min(_MARGIN_S, lifetime / 2)
        return token
