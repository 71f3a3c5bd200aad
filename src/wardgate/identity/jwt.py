"""Bearer JWTs from an OIDC issuer → Principal(kind="jwt").

The signature is checked against the issuer's JWKS (identity/jwks.py) or, for HS256/384/512 only, a configured shared
secret; then ``exp``/``nbf`` (with ``leeway_s``), ``iss`` and ``aud``. Only the algorithms configured are accepted,
``none`` never, and a key only verifies algorithms of its own type. Claims then name the project (id or name), team,
user, roles and an optional model allow-list. All of it is CPU work, except a JWKS fetch when a token names a key id
we have not seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import aiohttp
import jwt
from jwt.exceptions import (
    ExpiredSignatureError,
    ImmatureSignatureError,
    InvalidAlgorithmError,
    InvalidAudienceError,
    InvalidIssuedAtError,
    InvalidIssuerError,
    InvalidSignatureError,
    InvalidTokenError,
    MissingRequiredClaimError,
    PyJWTError,
)

from wardgate.config.identity import JWT_SHARED_SECRET, JWTConfig
from wardgate.core.errors import Unauthenticated
from wardgate.core.principal import Principal
from wardgate.identity.external import ProjectDirectory, external_principal
from wardgate.identity.jwks import JWKSCache
from wardgate.identity.keys import looks_like_jwt  # noqa: F401 - defined with the stage that uses it; kept here too

MAX_TOKEN_BYTES = 16 * 1024
MAX_KID_CHARS = 256
ACCEPTED_TYP = frozenset({"jwt", "application/jwt", "at+jwt", "application/at+jwt"})  # RFC 7519, RFC 9068


def token_error(message: str, code: str = "invalid_token") -> Unauthenticated:
    return Unauthenticated(message, code=code)


class JWTVerifier:
    def __init__(self, config: JWTConfig, session: aiohttp.ClientSession, directory: ProjectDirectory) -> None:
        self.config = config
        self.directory = directory
        self._algorithms = tuple(config.algorithms)
        self._secret = config.shared_secret.get_secret_value().encode() if config.shared_secret is not None else None
        asymmetric = any(a not in JWT_SHARED_SECRET for a in self._algorithms)
        self.jwks = (
            JWKSCache(
                session,
                config.issuer,
                config.jwks_url,
                ttl_s=config.jwks_ttl_s,
                min_refresh_s=config.jwks_min_refresh_s,
            )
            if asymmetric
            else None
        )
        self._audience: str | list[str] = config.audience
        self._options: Any = {"require": ["exp", "iss", "aud", "sub"]}

    async def start(self) -> None:
        if self.jwks is not None:
            await self.jwks.start()

    async def close(self) -> None:
        if self.jwks is not None:
            await self.jwks.close()

    async def authenticate(self, token: str) -> Principal:
        return await self.principal(await self.verify(token))

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature, lifetime, issuer and audience hold; else a 401 naming what failed."""
        if len(token) > MAX_TOKEN_BYTES:
            raise token_error("The token is too large.")
        alg, kid = self._header(token)
        keys = await self._keys(alg, kid)
        last: InvalidSignatureError | None = None
        for key in keys:
            try:
                return self._decode(token, key, alg)
            except InvalidSignatureError as exc:  # kid-less tokens: try the next key of the right type
                last = exc
        raise self._error(last or InvalidSignatureError())

    def _header(self, token: str) -> tuple[str, str | None]:
        """The algorithm and key id, once the header is one we understand. Anything else is the client's problem:
        a 401 naming it, never an exception from the JWT library."""
        try:
            header = jwt.get_unverified_header(token)
        except (PyJWTError, ValueError, TypeError, RecursionError):  # RecursionError: a deeply nested header
            raise token_error("The token is malformed (not a signed JWT).") from None
        alg, kid = header.get("alg"), header.get("kid")
        if not isinstance(alg, str) or alg not in self._algorithms:
            shown = repr(alg)[:40] if isinstance(alg, str | None) else type(alg).__name__
            raise token_error(
                f"The token's algorithm {shown} is not accepted; expected one of {list(self._algorithms)}."
            )
        if kid is not None and (not isinstance(kid, str) or len(kid) > MAX_KID_CHARS):
            raise token_error(f"The token's key id (kid) is not a string of at most {MAX_KID_CHARS} characters.")
        if "crit" in header or "b64" in header:  # RFC 7515 §4.1.11: a critical extension we do not know is fatal
            raise token_error("The token's header names critical extensions (crit, b64), which are not supported.")
        typ, cty = header.get("typ"), header.get("cty")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in ACCEPTED_TYP):
            raise token_error("The token's type (typ) is not a JWT (expected JWT or at+jwt).")
        if cty is not None and (not isinstance(cty, str) or cty.upper() == "JWT"):
            raise token_error("Nested tokens (cty JWT) are not accepted.")
        return alg, kid

    async def _keys(self, alg: str, kid: str | None) -> Sequence[Any]:
        if alg in JWT_SHARED_SECRET:
            return [self._secret]
        jwks = self.jwks
        assert jwks is not None, "an asymmetric algorithm is configured"
        if kid is not None and not jwks.knows(kid):
            refetched = await jwks.refresh_for_unknown_kid()
            if not jwks.knows(kid):
                raise token_error(_unknown_kid_message(kid, jwks, refetched=refetched))
        keys = [k.key for k in jwks.candidates(kid, alg)]
        if not keys:
            raise token_error(
                f"No signing key of the issuer verifies {alg} tokens" + (f" (kid {kid!r})." if kid else ".")
            )
        return keys

    def _decode(self, token: str, key: Any, alg: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self._audience,
                issuer=self.config.issuer,
                leeway=self.config.leeway_s,
                options=self._options,
            )
        except InvalidSignatureError:
            raise
        except InvalidTokenError as exc:
            raise self._error(exc) from None
        except (ValueError, TypeError, OverflowError, RecursionError) as exc:  # absurd claim types the library trips on
            raise token_error(f"The token is malformed ({type(exc).__name__}).") from None
        return claims

    def _error(self, exc: InvalidTokenError) -> Unauthenticated:
        match exc:
            case ExpiredSignatureError():
                return token_error("The token expired.", code="token_expired")
            case InvalidSignatureError():
                return token_error("The token's signature is invalid.")
            case InvalidIssuerError():
                return token_error(f"The token's issuer is not trusted (expected {self.config.issuer!r}).")
            case InvalidAudienceError():
                return token_error(f"The token's audience does not include {self._audience!r}.")
            case MissingRequiredClaimError():
                return token_error(f"The token has no {exc.claim!r} claim.")
            case ImmatureSignatureError():
                return token_error("The token is not valid yet (nbf or iat is in the future).")
            case InvalidIssuedAtError():
                return token_error("The token's iat claim is invalid.")
            case InvalidAlgorithmError():
                return token_error("The token's algorithm does not match its signing key.")
        return token_error(f"The token is malformed ({exc}).")

    async def principal(self, claims: dict[str, Any]) -> Principal:
        names = self.config.claims
        sub = _string(claims, "sub")
        assert sub is not None, "required at decode"
        roles = _strings(claims, names.roles) if names.roles is not None else None
        return await external_principal(
            self.directory,
            kind="jwt",
            id=f"jwt:{claims['iss']}:{sub}",
            project_ref=_string(claims, names.project),
            team_ref=_string(claims, names.team) if names.team is not None else None,
            user=_string(claims, names.user),
            models=_strings(claims, names.models) if names.models is not None else None,
            tags={"roles": ",".join(roles)} if roles else {},
            require_project=self.config.require_project,
            source=f"token claim {names.project!r}",
        )


def _unknown_kid_message(kid: str, jwks: JWKSCache, *, refetched: bool) -> str:
    """Say what we know: the key set may be stale (not refetched within the window) or unreachable."""
    head = f"The token was signed with key {kid!r}, which"
    if jwks.failed:
        return (
            f"{head} we do not hold: the issuer's key set could not be fetched (it is retried, at most every "
            f"{jwks.min_refresh_s:g} s)."
        )
    if refetched:
        return f"{head} is not in the issuer's key set (fetched just now)."
    return (
        f"{head} was not in the issuer's key set when it was fetched {jwks.fetched_ago():.0f} s ago; "
        f"it is fetched again for unknown key ids at most every {jwks.min_refresh_s:g} s."
    )


def _string(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str) or not value:
        raise token_error(f"The token's {name!r} claim must be a non-empty string.")
    return value


def _strings(claims: dict[str, Any], name: str) -> list[str] | None:
    """A list claim; a space-separated string is accepted too (the OAuth ``scope`` style)."""
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.split()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise token_error(f"The token's {name!r} claim must be a list of strings.")
    return value
