"""The identity section of the config: API keys' cache, JWT/OIDC (issuer, keys, claims, admin roles) and mTLS
forwarded by an ingress. Every model forbids unknown keys and is frozen."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


JWT_ASYMMETRIC = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "ES256K", "EdDSA")
JWT_SHARED_SECRET = ("HS256", "HS384", "HS512")
_CLAIM = Annotated[str, Field(min_length=1)]


def fetchable_url(value: str) -> str:
    """https, or plain http to a loopback host only: a JWKS fetched in clear text could be swapped in transit."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} must be an http(s) URL")
    if parts.scheme == "http" and parts.hostname != "localhost":
        try:
            loopback = ip_address(parts.hostname).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(f"{value!r} must use https (plain http is only allowed to a loopback host)")
    return value


class JWTClaimsConfig(Frozen):
    """Which claim of the token holds what. ``project`` and ``team`` may hold an id or a name."""

    project: _CLAIM = "wardgate_project"
    team: _CLAIM | None = "wardgate_team"
    user: _CLAIM = "sub"
    roles: _CLAIM | None = "wardgate_roles"
    models: _CLAIM | None = None  # a list of model names; narrows the project's allow-list


class JWTAdminRole(Frozen):
    """A claim value that grants an admin role: at system level, or on one project (its id or name)."""

    value: Annotated[str, Field(min_length=1, max_length=500)]
    role: Literal["viewer", "member", "admin"]
    project: Annotated[str, Field(min_length=1)] | None = None


class JWTAdminConfig(Frozen):
    """Admin API access for JWT/OIDC users: roles from a claim (``groups``, ``roles`` …) of the token."""

    claim: _CLAIM = "groups"  # a string or a list of strings in the token
    roles: list[JWTAdminRole] = Field(default_factory=list)


class JWTConfig(Frozen):
    issuer: Annotated[str, Field(min_length=1)]
    audience: str | Annotated[list[str], Field(min_length=1)]
    jwks_url: str | None = None  # default: discovered from {issuer}/.well-known/openid-configuration
    algorithms: Annotated[list[str], Field(min_length=1)] = ["RS256", "ES256"]
    shared_secret: SecretStr | None = None  # only for HS256/384/512, which need it
    leeway_s: Annotated[float, Field(ge=0, le=300)] = 30.0
    jwks_ttl_s: Annotated[float, Field(gt=0, le=86_400)] = 3600.0
    jwks_min_refresh_s: Annotated[float, Field(ge=0, le=3600)] = 60.0  # floor between two fetches on an unknown kid
    claims: JWTClaimsConfig = JWTClaimsConfig()
    require_project: bool = True
    admin: JWTAdminConfig | None = None  # unset: JWTs reach the admin API only as a Wardgate user (claims.user)

    @field_validator("jwks_url")
    @classmethod
    def _jwks_url(cls, value: str | None) -> str | None:
        return fetchable_url(value) if value is not None else None

    @field_validator("algorithms")
    @classmethod
    def _algorithms(cls, value: list[str]) -> list[str]:
        for alg in value:
            if alg not in JWT_ASYMMETRIC + JWT_SHARED_SECRET:
                hint = " (unsigned tokens are never accepted)" if alg.lower() == "none" else ""
                raise ValueError(f"{alg!r} is not allowed{hint}; use {', '.join(JWT_ASYMMETRIC + JWT_SHARED_SECRET)}")
        return value

    @model_validator(mode="after")
    def _keys(self) -> Self:
        shared = [a for a in self.algorithms if a in JWT_SHARED_SECRET]
        if shared and self.shared_secret is None:
            raise ValueError(f"{shared[0]} needs shared_secret (or use an asymmetric algorithm such as RS256)")
        if self.shared_secret is not None:
            if not shared:
                raise ValueError("shared_secret is set but algorithms has no HS256/HS384/HS512")
            need = max(int(a[2:]) // 8 for a in shared)  # RFC 7518 §3.2: a key at least as long as the hash
            if len(self.shared_secret.get_secret_value().encode()) < need:
                raise ValueError(f"shared_secret must be at least {need} bytes for {', '.join(shared)}")
        if self.jwks_url is None and len(shared) < len(self.algorithms):
            try:
                fetchable_url(self.issuer)  # the discovery document is fetched from the issuer
            except ValueError as exc:
                raise ValueError(f"issuer: {exc} (or set jwks_url)") from None
        return self


class MTLSConfig(Frozen):
    """The identity an ingress (Envoy, nginx) forwards after verifying the client certificate. Only trusted because
    it is configured: the ingress must strip this header from client requests."""

    header: Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+$")] = "x-forwarded-client-cert"
    subject_format: Literal["xfcc", "dn"] = "xfcc"
    project_from: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9.-]*$")] = "OU"  # a DN attribute; xfcc: or URI
    user_from: Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9.-]*$")] | None = "CN"
    trusted_proxies: Annotated[list[IPvAnyNetwork], Field(min_length=1)] | None = None  # peers allowed to send it


class IdentityConfig(Frozen):
    key_cache_ttl_s: Annotated[float, Field(gt=0, le=3600)] = 1.0  # bounds how long a revoked key still works
    stale_key_s: Annotated[float, Field(ge=0, le=3600)] = 30.0  # a key validated this recently survives a DB outage
    key_use_audit: Literal["all", "denied", "none"] = "all"  # which key-use decisions go to the audit trail
    jwt: JWTConfig | None = None
    mtls: MTLSConfig | None = None
