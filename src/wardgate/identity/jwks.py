"""An issuer's signing keys (JWKS), held in memory and kept fresh without a restart.

Flow: fetched at start-up (after OIDC discovery when no ``jwks_url`` is configured); looked up by ``kid`` on every
token, CPU only; refreshed in the background once ``ttl_s`` has passed (a request never waits for that), and at once
when a token names a kid we do not hold — which is how a key rotated at the issuer is picked up. That refresh is
single-flight, and only unknown-kid fetches count toward ``min_refresh_s`` (at most one per window), so tokens with
made-up kids cannot make the gateway hammer the issuer, while a key published right after start-up is picked up on
its first token. A failed fetch keeps the keys we have: an issuer outage does not lock out valid tokens.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from wardgate.config.identity import fetchable_url

log = logging.getLogger("wardgate.identity")
MAX_DOCUMENT_BYTES = 1 << 20
MIN_RSA_BITS = 2048  # NIST SP 800-131A; PyJWT warns on every verify below it
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=10)
# algorithm → (key type, curve or None): a key only verifies the algorithms of its own family, so an RSA public key
# can never be used as an HMAC secret (algorithm confusion) and a P-256 key never verifies ES384
_FAMILIES = {
    **{alg: ("RSA", None) for alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")},
    "ES256": ("EC", "P-256"),
    "ES384": ("EC", "P-384"),
    "ES512": ("EC", "P-521"),
    "ES256K": ("EC", "secp256k1"),
    "EdDSA": ("OKP", None),
}


class JWKSUnavailable(Exception):
    """The discovery document or the key set could not be fetched or read; the message says which and why."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    kid: str | None
    kty: str
    crv: str | None
    alg: str | None  # pinned by the JWK's own "alg", when it has one
    key: Any  # a cryptography public key object

    def verifies(self, alg: str) -> bool:
        family = _FAMILIES.get(alg)
        if family is None or (self.alg is not None and self.alg != alg):
            return False
        kty, crv = family
        return self.kty == kty and (crv is None or self.crv == crv)


def parse_jwks(document: Any) -> list[SigningKey]:
    """The signature keys of a JWK Set; keys for encryption, of unknown types or malformed are skipped."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JWKSUnavailable("the key set has no 'keys' list")
    out = []
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or jwk.get("kty") not in ("RSA", "EC", "OKP"):
            continue
        try:
            key = PyJWK(jwk).key
        except (PyJWTError, ValueError, TypeError, KeyError):
            continue
        if hasattr(key, "private_bytes"):  # a private key published by mistake: verify with its public half
            key = key.public_key()
        if jwk["kty"] == "RSA" and key.key_size < MIN_RSA_BITS:
            log.warning("JWKS key %r skipped: RSA %d bits is below %d", jwk.get("kid"), key.key_size, MIN_RSA_BITS)
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        out.append(
            SigningKey(
                kid=kid if isinstance(kid, str) else None,
                kty=jwk["kty"],
                crv=jwk.get("crv") if isinstance(jwk.get("crv"), str) else None,
                alg=alg if isinstance(alg, str) else None,
                key=key,
            )
        )
    return out


async def fetch_json(session: aiohttp.ClientSession, url: str, what: str) -> Any:
    try:
        async with session.get(url, timeout=FETCH_TIMEOUT, headers={"accept": "application/json"}) as response:
            if response.status != 200:
                raise JWKSUnavailable(f"{what} {url}: HTTP {response.status}")
            body = bytearray()
            async for chunk in response.content.iter_chunked(65536):
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise JWKSUnavailable(f"{what} {url}: larger than {MAX_DOCUMENT_BYTES} bytes")
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise JWKSUnavailable(f"{what} {url}: {exc.__class__.__name__} {exc}".rstrip()) from exc
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise JWKSUnavailable(f"{what} {url}: not JSON") from exc


class JWKSCache:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        issuer: str,
        jwks_url: str | None,
        *,
        ttl_s: float = 3600.0,
        min_refresh_s: float = 60.0,
    ) -> None:
        self._session = session
        self.issuer = issuer
        self.jwks_url = jwks_url
        self.ttl_s = ttl_s
        self.min_refresh_s = min_refresh_s
        self._by_kid: dict[str, SigningKey] = {}
        self._keys: list[SigningKey] = []
        self._attempted = float("-inf")  # monotonic time of the last fetch, failed or not
        self._unknown_kid_fetch = float("-inf")  # monotonic time of the last fetch an unknown kid caused
        self._failed = False
        self._inflight: asyncio.Task[None] | None = None
        self.fetches = 0  # key-set fetches, for metrics and tests

    async def start(self) -> None:
        """The start-up fetch. An unreachable issuer is logged, not fatal: virtual keys keep working, and the keys
        are fetched again on the first token after ``min_refresh_s``."""
        await self._refresh_now()

    async def close(self) -> None:
        task, self._inflight = self._inflight, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def candidates(self, kid: str | None, alg: str) -> list[SigningKey]:
        """The keys that may have signed a token with this header; no I/O (a stale set is refreshed behind)."""
        self._refresh_if_due()
        if kid is not None:
            key = self._by_kid.get(kid)
            return [key] if key is not None and key.verifies(alg) else []
        return [k for k in self._keys if k.verifies(alg)]

    def knows(self, kid: str) -> bool:
        return kid in self._by_kid

    @property
    def failed(self) -> bool:
        """The last fetch failed (we hold the keys of an earlier one, or none)."""
        return self._failed

    def fetched_ago(self) -> float:
        return time.monotonic() - self._attempted

    async def refresh_for_unknown_kid(self) -> bool:
        """Fetch the key set at once and wait for it (sharing a fetch already running), unless a fetch caused by an
        unknown kid happened less than ``min_refresh_s`` ago. The start-up and TTL fetches do not count: a key
        published just after start-up must not wait a whole window. Returns whether a fresh key set was awaited."""
        if self._inflight is None:
            now = time.monotonic()
            if now - self._unknown_kid_fetch < self.min_refresh_s:
                return False
            self._unknown_kid_fetch = now
        await asyncio.shield(self._start_refresh())
        return True

    def _refresh_if_due(self) -> None:
        if self._inflight is not None:
            return
        since = time.monotonic() - self._attempted
        if since >= self.ttl_s or (self._failed and since >= self.min_refresh_s):
            self._start_refresh()

    def _start_refresh(self) -> asyncio.Task[None]:
        if self._inflight is None:
            self._inflight = asyncio.get_running_loop().create_task(self._refresh_now())
            self._inflight.add_done_callback(self._done)
        return self._inflight

    def _done(self, task: asyncio.Task[None]) -> None:
        if self._inflight is task:
            self._inflight = None

    async def _refresh_now(self) -> None:
        self._attempted = time.monotonic()
        try:
            url = self.jwks_url or await self._discover()
            self.fetches += 1
            keys = parse_jwks(await fetch_json(self._session, url, "JWKS"))
        except JWKSUnavailable as exc:
            self._failed = True
            log.warning(
                "JWT issuer %s: cannot refresh its signing keys (%s); keeping the %d we have",
                self.issuer,
                exc,
                len(self._keys),
            )
            return
        self._failed = False
        self._keys = keys
        self._by_kid = {k.kid: k for k in keys if k.kid is not None}

    async def _discover(self) -> str:
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = await fetch_json(self._session, url, "OIDC discovery")
        if not isinstance(document, dict) or document.get("issuer") != self.issuer:
            found = document.get("issuer") if isinstance(document, dict) else None
            raise JWKSUnavailable(f"OIDC discovery {url}: issuer is {found!r}, not {self.issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise JWKSUnavailable(f"OIDC discovery {url}: no jwks_uri")
        try:
            self.jwks_url = fetchable_url(jwks_uri)
        except ValueError as exc:
            raise JWKSUnavailable(f"OIDC discovery {url}: jwks_uri {exc}") from None
        return self.jwks_url
