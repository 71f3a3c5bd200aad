"""identity.jwt and identity.mtls are checked at load, with messages that name the key and the fix."""

from __future__ import annotations

import pytest

from wardgate.config import load_config_text
from wardgate.config.errors import ConfigError

BASE = "master_key: sk-test-master-key\n"


def problems(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config_text(BASE + text, env={})
    return str(caught.value)


def test_the_defaults() -> None:
    settings = load_config_text(
        BASE + "identity: {jwt: {issuer: 'https://idp.example.com', audience: wardgate}, mtls: {}}"
    )
    jwt, mtls = settings.identity.jwt, settings.identity.mtls
    assert jwt is not None and mtls is not None
    assert jwt.algorithms == ["RS256", "ES256"] and jwt.leeway_s == 30 and jwt.jwks_url is None
    assert (jwt.jwks_ttl_s, jwt.jwks_min_refresh_s, jwt.require_project) == (3600, 60, True)
    assert (jwt.claims.project, jwt.claims.team, jwt.claims.user, jwt.claims.roles, jwt.claims.models) == (
        "wardgate_project",
        "wardgate_team",
        "sub",
        "wardgate_roles",
        None,
    )
    assert (mtls.header, mtls.subject_format, mtls.project_from, mtls.user_from) == (
        "x-forwarded-client-cert",
        "xfcc",
        "OU",
        "CN",
    )
    assert mtls.trusted_proxies is None


@pytest.mark.parametrize(
    ("jwt", "message"),
    [
        ("{issuer: 'https://i'}", "identity.jwt.audience: is required"),
        ("{issuer: 'https://i', audience: a, algorithms: [none]}", "unsigned tokens are never accepted"),
        ("{issuer: 'https://i', audience: a, algorithms: [HS256]}", "HS256 needs shared_secret"),
        ("{issuer: 'https://i', audience: a, algorithms: [HS512], shared_secret: '" + "x" * 40 + "'}", "at least 64"),
        ("{issuer: 'https://i', audience: a, shared_secret: '" + "x" * 40 + "'}", "has no HS256"),
        ("{issuer: 'http://idp.example.com', audience: a}", "issuer: 'http://idp.example.com' must use https"),
        ("{issuer: 'https://i', audience: a, jwks_url: 'http://idp/keys'}", "must use https"),
        ("{issuer: 'https://i', audience: a, leeway: 5}", "identity.jwt.leeway: unknown key"),
        ("{issuer: 'https://i', audience: a, claims: {projects: p}}", "identity.jwt.claims.projects: unknown key"),
    ],
)
def test_unsafe_or_wrong_jwt_settings_are_refused(jwt: str, message: str) -> None:
    assert message in problems(f"identity: {{jwt: {jwt}}}")


def test_an_issuer_without_discovery_is_fine_with_an_explicit_jwks_url() -> None:
    settings = load_config_text(
        BASE + "identity: {jwt: {issuer: my-issuer, audience: a, jwks_url: 'https://idp.example.com/keys'}}"
    )
    assert settings.identity.jwt is not None and settings.identity.jwt.issuer == "my-issuer"


@pytest.mark.parametrize(
    ("mtls", "message"),
    [
        ("{subject_format: pem}", "'pem' is not allowed"),
        ("{header: 'x cert'}", "identity.mtls.header"),
        ("{trusted_proxies: [not-a-network]}", "identity.mtls.trusted_proxies"),
        ("{project_from: '=OU'}", "identity.mtls.project_from"),
    ],
)
def test_wrong_mtls_settings_are_refused(mtls: str, message: str) -> None:
    assert message in problems(f"identity: {{mtls: {mtls}}}")
