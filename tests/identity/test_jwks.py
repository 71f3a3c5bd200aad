"""The issuer's key set: which keys are kept, and when it is fetched (start-up, unknown kid, TTL), without a gateway."""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.identity.issuer import FakeIssuer
from wardgate.identity.jwks import JWKSCache, JWKSUnavailable, parse_jwks


def rsa_jwk(bits: int = 2048, **extra: str) -> dict[str, object]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    return {**RSAAlgorithm.to_jwk(key, as_dict=True), **extra}


def ec_jwk(curve: ec.EllipticCurve, **extra: str) -> dict[str, object]:
    return {**ECAlgorithm.to_jwk(ec.generate_private_key(curve).public_key(), as_dict=True), **extra}


def test_only_usable_signature_keys_are_kept() -> None:
    keys = parse_jwks(
        {
            "keys": [
                rsa_jwk(kid="sig"),
                rsa_jwk(kid="enc", use="enc"),
                {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},  # a shared secret never comes from a JWKS
                {"kty": "RSA", "kid": "broken", "n": "AQAB"},
                rsa_jwk(1024, kid="weak"),
                ec_jwk(ec.SECP256R1(), kid="ec"),
                "not a key",
            ]
        }
    )
    assert [k.kid for k in keys] == ["sig", "ec"]


def test_a_malformed_key_set_is_refused() -> None:
    with pytest.raises(JWKSUnavailable):
        parse_jwks({"no": "keys"})


def test_a_key_only_verifies_algorithms_of_its_own_type_and_curve() -> None:
    [rsa_key, p256, p384, pinned] = parse_jwks(
        {
            "keys": [
                rsa_jwk(kid="r"),
                ec_jwk(ec.SECP256R1(), kid="p256"),
                ec_jwk(ec.SECP384R1(), kid="p384"),
                rsa_jwk(kid="pinned", alg="PS256"),
            ]
        }
    )
    assert rsa_key.verifies("RS256") and rsa_key.verifies("PS512")
    assert not rsa_key.verifies("HS256") and not rsa_key.verifies("ES256") and not rsa_key.verifies("none")
    assert p256.verifies("ES256") and not p256.verifies("ES384")
    assert p384.verifies("ES384") and not p384.verifies("ES256")
    assert pinned.verifies("PS256") and not pinned.verifies("RS256")


async def test_start_discovers_the_jwks_url_and_fetches_it_once(
    issuer: FakeIssuer, session: aiohttp.ClientSession
) -> None:
    cache = JWKSCache(session, issuer.url, None)
    await cache.start()
    assert cache.jwks_url == issuer.url + "/jwks"
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)
    assert cache.knows(issuer.keys["RS256"].kid) and cache.knows(issuer.keys["ES256"].kid)
    for _ in range(50):
        assert cache.candidates(issuer.keys["RS256"].kid, "RS256")
    assert cache.candidates(issuer.keys["RS256"].kid, "ES256") == []
    assert len(cache.candidates(None, "ES256")) == 1
    assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 1)
    await cache.close()


async def test_unknown_kids_refresh_at_most_once_per_min_refresh(
    issuer: FakeIssuer, session: aiohttp.ClientSession
) -> None:
    cache = JWKSCache(session, issuer.url, issuer.url + "/jwks", min_refresh_s=60)
    await cache.start()
    refetched = [await cache.refresh_for_unknown_kid() for _ in range(5)]
    assert refetched == [True, False, False, False, False]
    assert issuer.jwks_fetches == 2  # start-up, then one for the first unknown kid; the rest wait 60 s
    await cache.close()


async def test_a_key_published_right_after_start_up_is_fetched_for_its_first_token(
    issuer: FakeIssuer, session: aiohttp.ClientSession
) -> None:
    cache = JWKSCache(session, issuer.url, issuer.url + "/jwks", min_refresh_s=60)
    await cache.start()
    issuer.rotate()
    assert not cache.knows(issuer.keys["RS256"].kid)
    assert await cache.refresh_for_unknown_kid()  # the start-up fetch does not count toward the window
    assert cache.knows(issuer.keys["RS256"].kid)
    await cache.close()


async def test_concurrent_unknown_kids_share_one_fetch(issuer: FakeIssuer, session: aiohttp.ClientSession) -> None:
    cache = JWKSCache(session, issuer.url, issuer.url + "/jwks", min_refresh_s=0)
    await cache.start()
    issuer.rotate()
    await asyncio.gather(*(cache.refresh_for_unknown_kid() for _ in range(20)))
    assert issuer.jwks_fetches == 2
    assert cache.knows(issuer.keys["RS256"].kid)
    await cache.close()


async def test_a_stale_key_set_is_refreshed_behind_the_request(
    issuer: FakeIssuer, session: aiohttp.ClientSession
) -> None:
    cache = JWKSCache(session, issuer.url, issuer.url + "/jwks", ttl_s=0.05)
    await cache.start()
    old_kid = issuer.keys["RS256"].kid
    issuer.rotate()
    await asyncio.sleep(0.1)
    assert cache.candidates(old_kid, "RS256")  # answered from memory at once, no waiting on the issuer
    for _ in range(100):
        if cache.knows(issuer.keys["RS256"].kid):
            break
        await asyncio.sleep(0.01)
    assert cache.knows(issuer.keys["RS256"].kid) and not cache.knows(old_kid)
    assert issuer.jwks_fetches == 2
    await cache.close()


async def test_a_failed_refresh_keeps_the_keys_it_had(
    issuer: FakeIssuer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    cache = JWKSCache(session, issuer.url, issuer.url + "/jwks", min_refresh_s=0)
    await cache.start()
    kid = issuer.keys["RS256"].kid
    issuer.jwks_status = 503
    with caplog.at_level(logging.WARNING, logger="wardgate.identity"):
        await cache.refresh_for_unknown_kid()
    assert "HTTP 503" in caplog.text
    assert cache.knows(kid)
    await cache.close()


async def test_a_discovery_document_for_another_issuer_is_refused(
    issuer: FakeIssuer, session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    cache = JWKSCache(session, issuer.url + "/other", None)
    with caplog.at_level(logging.WARNING, logger="wardgate.identity"):
        await cache.start()
    assert issuer.jwks_fetches == 0
    assert "404" in caplog.text or "issuer is" in caplog.text


async def test_an_unreachable_issuer_at_start_up_is_logged_not_fatal(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    cache = JWKSCache(session, f"http://127.0.0.1:{port}", None)
    with caplog.at_level(logging.WARNING, logger="wardgate.identity"):
        await cache.start()
    assert "cannot refresh its signing keys" in caplog.text
    assert cache.candidates(None, "RS256") == []
    await cache.close()
