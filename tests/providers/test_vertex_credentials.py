"""Vertex AI credentials through google-auth, against the Gemini fake's OAuth token endpoint on loopback: the key
file's ``token_uri`` points there, so google-auth's real JWT-bearer grant is exercised and never reaches Google."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.gemini import FakeGemini
from wardgate.core.deployment import Timeouts
from wardgate.core.errors import UpstreamError, UpstreamUnavailable
from wardgate.providers.gemini.credentials import SCOPE, AccessTokens, load_credentials

API_KEY = "AIzaSyFakeGeminiUpstreamKey000000000000"


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeGemini]:
    with FakeGemini(API_KEY) as fake:
        yield fake


@pytest.fixture(autouse=True)
def fresh(upstream: FakeGemini) -> None:
    upstream.reset()


@pytest.fixture(scope="module")
def key_file(upstream: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return upstream.write_service_account(tmp_path_factory.mktemp("vertex") / "sa.json")


def key_document(tmp_path: Path, token_uri: str, **override: Any) -> Path:
    """A service account the fake does not know (its key is not registered there)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    document = {
        "type": "service_account",
        "client_email": "stranger@x.iam.gserviceaccount.com",
        "private_key_id": "kid1",
        "private_key": pem.decode(),
        "token_uri": token_uri,
        **override,
    }
    path = tmp_path / "sa.json"
    path.write_bytes(orjson.dumps(document))
    return path


async def test_concurrent_requests_share_one_token_refresh_until_it_is_stale(
    upstream: FakeGemini, key_file: Path
) -> None:
    now = [1000.0]
    tokens = AccessTokens(load_credentials(key_file), "vertex", Timeouts(), clock=lambda: now[0])
    first = await asyncio.gather(*(tokens.token() for _ in range(10)))
    assert len(set(first)) == 1 and len(upstream.token_requests) == 1
    assert first[0] in upstream.issued_tokens and tokens.current == first[0]
    now[0] += 3600 - 301  # still fresh: refreshed only within five minutes of expiry
    assert await tokens.token() == first[0] and len(upstream.token_requests) == 1
    now[0] += 2
    second = await asyncio.gather(*(tokens.token() for _ in range(5)))
    assert len(set(second)) == 1 and second[0] != first[0] and len(upstream.token_requests) == 2
    claims = upstream.assertions[0]  # google-auth's grant, as the fake verified it
    assert claims["header"]["alg"] == "RS256" and claims["header"]["kid"] == "fakekeyid0001"
    assert claims["aud"] == "https://oauth2.googleapis.com/token" and SCOPE in claims["scope"].split()
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["iat"] == pytest.approx(time.time(), abs=60)


async def test_a_caller_that_goes_away_does_not_cancel_the_refresh_for_the_others(
    upstream: FakeGemini, key_file: Path
) -> None:
    tokens = AccessTokens(load_credentials(key_file), "vertex", Timeouts())
    leaving = asyncio.ensure_future(tokens.token())
    staying = asyncio.ensure_future(tokens.token())
    await asyncio.sleep(0)  # both are waiting on the one refresh
    leaving.cancel()
    assert await staying in upstream.issued_tokens
    assert leaving.cancelled() and len(upstream.token_requests) == 1


async def test_a_refused_service_account_is_an_auth_error_without_the_assertion(
    upstream: FakeGemini, tmp_path: Path
) -> None:
    tokens = AccessTokens(load_credentials(key_document(tmp_path, upstream.token_url)), "vertex", Timeouts())
    with pytest.raises(UpstreamError) as caught:
        await tokens.token()
    assert caught.value.code == "upstream_auth_error" and caught.value.status == 502
    assert "invalid_grant" in caught.value.message
    assertion = parse_qs(upstream.token_requests[0].body.decode())["assertion"][0]
    assert assertion not in caught.value.message
    assert tokens.current is None


async def test_an_unreachable_token_endpoint_is_upstream_unavailable(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    tokens = AccessTokens(
        load_credentials(key_document(tmp_path, f"http://127.0.0.1:{port}/token")), "vertex", Timeouts()
    )
    with pytest.raises(UpstreamUnavailable, match="could not reach the token endpoint"):
        await tokens.token()


async def test_without_a_key_file_application_default_credentials_are_used(
    upstream: FakeGemini, key_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """google-auth's ADC chain: here GOOGLE_APPLICATION_CREDENTIALS; on GKE the same call finds Workload Identity."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))
    tokens = AccessTokens(load_credentials(None), "vertex", Timeouts())
    assert await tokens.token() in upstream.issued_tokens
    assert upstream.assertions[0]["iss"] == "wardgate@fake-project.iam.gserviceaccount.com"


def test_without_a_key_file_a_missing_adc_file_is_a_start_up_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))
    with pytest.raises(ValueError, match="Application Default Credentials") as caught:
        load_credentials(None)
    assert "credentials_file" in str(caught.value)


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"type": "authorized_user"}, "not a service-account key"),
        ({"client_email": ""}, "missing client_email"),
        ({"private_key": "not a key"}, "not a PEM RSA private key"),
    ],
)
def test_a_bad_key_file_is_named_without_its_content(tmp_path: Path, override: dict[str, Any], problem: str) -> None:
    path = key_document(tmp_path, "http://127.0.0.1:9/token", **override)
    with pytest.raises(ValueError, match=problem) as caught:
        load_credentials(path)
    assert str(path) in str(caught.value) and "PRIVATE" not in str(caught.value)


def test_a_key_file_that_is_not_json_is_named(tmp_path: Path) -> None:
    path = tmp_path / "sa.json"
    path.write_text("nope")
    with pytest.raises(ValueError, match="not JSON"):
        load_credentials(path)
