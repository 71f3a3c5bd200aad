"""Token verification and claims → Principal, against the fake issuer and a real tenancy store (no gateway)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization

from tests.identity.issuer import AUDIENCE, FakeIssuer
from wardgate.config.identity import JWTConfig
from wardgate.core.errors import PermissionDenied, Unauthenticated
from wardgate.identity.external import ProjectDirectory
from wardgate.identity.jwt import JWTVerifier, looks_like_jwt
from wardgate.store.tenancy import TenancyStore

SECRET = "a-shared-secret-of-at-least-32-bytes!"


def config(issuer: FakeIssuer, **overrides: Any) -> JWTConfig:
    return JWTConfig.model_validate({"issuer": issuer.url, "audience": AUDIENCE, **overrides})


@pytest.fixture
async def verifier(
    issuer: FakeIssuer, session: aiohttp.ClientSession, tenancy: TenancyStore
) -> AsyncIterator[JWTVerifier]:
    await tenancy.create_project("acme", id="prj_acme", allowed_models=["chat-model", "other-model"])
    await tenancy.create_team("prj_acme", "ml", id="team_ml")
    v = JWTVerifier(config(issuer, claims={"models": "wardgate_models"}), session, ProjectDirectory(tenancy))
    await v.start()
    yield v
    await v.close()


async def reason(v: JWTVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        await v.authenticate(token)
    assert caught.value.status == 401
    return caught.value.message


def test_a_jwt_has_exactly_two_dots() -> None:
    assert looks_like_jwt("a.b.c")
    assert not looks_like_jwt("sk-wg-abc") and not looks_like_jwt("a.b.c.d.e")


async def test_claims_map_to_a_jwt_principal(verifier: JWTVerifier, issuer: FakeIssuer) -> None:
    token = issuer.token(
        wardgate_project="acme", wardgate_team="ml", wardgate_roles=["member", "viewer"], wardgate_models=["chat-model"]
    )
    principal = await verifier.authenticate(token)
    assert principal.kind == "jwt" and principal.id == f"jwt:{issuer.url}:alice"
    assert (principal.project, principal.team, principal.user) == ("prj_acme", "team_ml", "alice")
    assert principal.allowed_models == frozenset({"chat-model"})  # the project's ∩ the token's
    assert principal.tags == {"roles": "member,viewer"}


async def test_without_a_models_claim_the_project_allow_list_applies(verifier: JWTVerifier, issuer: FakeIssuer) -> None:
    principal = await verifier.authenticate(issuer.token(wardgate_project="prj_acme", wardgate_models="other-model x"))
    assert principal.allowed_models == frozenset({"other-model"})
    principal = await verifier.authenticate(issuer.token(wardgate_project="prj_acme"))
    assert principal.allowed_models == frozenset({"chat-model", "other-model"})


async def test_a_token_without_kid_is_checked_against_the_keys_of_its_type(
    verifier: JWTVerifier, issuer: FakeIssuer
) -> None:
    principal = await verifier.authenticate(issuer.token("ES256", kid=None, wardgate_project="acme"))
    assert principal.project == "prj_acme"


class FromNow(int):
    """A time claim relative to when the test runs, not to when it was collected (a long run can start it minutes
    later)."""


@pytest.mark.parametrize(
    ("claims", "expected"),
    [
        ({"exp": FromNow(-120)}, "The token expired."),
        ({"nbf": FromNow(600)}, "not valid yet"),
        ({"aud": "someone-else"}, "audience"),
        ({"iss": "http://127.0.0.1:1"}, "issuer"),
        ({"sub": None}, "'sub' claim"),
        ({"exp": None}, "'exp' claim"),
        ({"wardgate_models": {"a": 1}}, "'wardgate_models' claim must be a list of strings"),
        ({"wardgate_project": ["acme"]}, "'wardgate_project' claim must be a non-empty string"),
    ],
)
async def test_a_failed_check_is_401_naming_what_failed(
    verifier: JWTVerifier, issuer: FakeIssuer, claims: dict[str, Any], expected: str
) -> None:
    now = int(time.time())
    claims = {name: now + value if isinstance(value, FromNow) else value for name, value in claims.items()}
    assert expected in await reason(verifier, issuer.token(**{"wardgate_project": "acme", **claims}))


async def test_an_expired_token_within_the_leeway_is_accepted(verifier: JWTVerifier, issuer: FakeIssuer) -> None:
    await verifier.authenticate(issuer.token(exp=int(time.time()) - 5, wardgate_project="acme"))


async def test_the_expired_code_lets_clients_refresh(verifier: JWTVerifier, issuer: FakeIssuer) -> None:
    with pytest.raises(Unauthenticated) as caught:
        await verifier.authenticate(issuer.token(exp=int(time.time()) - 120, wardgate_project="acme"))
    assert caught.value.code == "token_expired"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_a_tampered_token_is_refused(verifier: JWTVerifier, issuer: FakeIssuer) -> None:
    header, payload, signature = issuer.token(wardgate_project="acme").split(".")
    claims = orjson.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = _b64(orjson.dumps({**claims, "sub": "mallory"}))
    assert "signature" in await reason(verifier, f"{header}.{forged}.{signature}")
    flipped = signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")
    assert "signature" in await reason(verifier, f"{header}.{payload}.{flipped}")


async def test_an_unsigned_token_is_refused(verifier: JWTVerifier, issuer: FakeIssuer) -> None:
    unsigned = jwt.encode(issuer.claims(wardgate_project="acme"), None, algorithm="none")
    assert "'none' is not accepted" in await reason(verifier, unsigned)


async def test_the_rsa_public_key_used_as_an_hmac_secret_is_refused(verifier: JWTVerifier, issuer: FakeIssuer) -> None:
    pem = (
        issuer.keys["RS256"]
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(orjson.dumps({"alg": "HS256", "kid": issuer.keys["RS256"].kid, "typ": "JWT"}))
    payload = _b64(orjson.dumps(issuer.claims(wardgate_project="acme")))
    signature = _b64(hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest())
    assert "'HS256' is not accepted" in await reason(verifier, f"{header}.{payload}.{signature}")


async def test_a_key_of_another_type_under_a_known_kid_is_refused(verifier: JWTVerifier, issuer: FakeIssuer) -> None:
    token = issuer.token("ES256", kid=issuer.keys["RS256"].kid, wardgate_project="acme")
    assert "No signing key" in await reason(verifier, token)


async def test_garbage_and_huge_tokens_are_401(verifier: JWTVerifier) -> None:
    assert "malformed" in await reason(verifier, "not.a.jwt")
    assert "too large" in await reason(verifier, "a." + "b" * 20_000 + ".c")


async def test_an_unknown_project_or_team_is_403(verifier: JWTVerifier, issuer: FakeIssuer) -> None:
    with pytest.raises(PermissionDenied, match="'ghost', which does not exist"):
        await verifier.authenticate(issuer.token(wardgate_project="ghost"))
    with pytest.raises(PermissionDenied, match="no team 'nope'"):
        await verifier.authenticate(issuer.token(wardgate_project="acme", wardgate_team="nope"))
    with pytest.raises(PermissionDenied, match="names no project"):
        await verifier.authenticate(issuer.token())


async def test_project_lookups_are_cached(verifier: JWTVerifier, issuer: FakeIssuer, tenancy: TenancyStore) -> None:
    token = issuer.token(wardgate_project="acme")
    await verifier.authenticate(token)
    await tenancy.update_project("prj_acme", name="renamed")
    assert (await verifier.authenticate(token)).project == "prj_acme"  # within the cache's TTL (1 s)


async def test_a_project_is_optional_when_not_required(
    issuer: FakeIssuer, session: aiohttp.ClientSession, tenancy: TenancyStore
) -> None:
    v = JWTVerifier(config(issuer, require_project=False, claims={"user": "email"}), session, ProjectDirectory(tenancy))
    await v.start()
    principal = await v.authenticate(issuer.token())
    assert (principal.project, principal.user, principal.allowed_models) == (None, "alice@example.com", None)
    await v.close()


async def test_over_long_identities_are_bounded_to_the_ledger_columns(
    verifier: JWTVerifier, issuer: FakeIssuer
) -> None:
    principal = await verifier.authenticate(issuer.token(sub="u" * 300, wardgate_project="acme"))
    assert len(principal.id) <= 128 and principal.id.startswith("jwt:sha256:")
    assert principal.user is not None and len(principal.user) <= 64


async def test_hs256_with_a_shared_secret_needs_no_key_set(
    issuer: FakeIssuer, session: aiohttp.ClientSession, tenancy: TenancyStore
) -> None:
    await tenancy.create_project("acme")
    v = JWTVerifier(config(issuer, algorithms=["HS256"], shared_secret=SECRET), session, ProjectDirectory(tenancy))
    await v.start()
    assert v.jwks is None and issuer.jwks_fetches == 0 and issuer.discovery_fetches == 0
    token = jwt.encode(issuer.claims(wardgate_project="acme"), SECRET, algorithm="HS256")
    assert (await v.authenticate(token)).kind == "jwt"
    wrong = jwt.encode(issuer.claims(wardgate_project="acme"), SECRET + "x", algorithm="HS256")
    assert "signature" in await reason(v, wrong)
    assert "'RS256' is not accepted" in await reason(v, issuer.token(wardgate_project="acme"))
    await v.close()
