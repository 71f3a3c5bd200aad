"""Every odd JWT a client can send is a 401 in the OpenAI error shape, never a 500: headers the library would trip
on or accept too readily (crit, b64, nested tokens, wrong types), and claims of absurd types."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest

from tests.identity.issuer import AUDIENCE, FakeIssuer
from tests.support import RunningGateway, gateway_from_yaml

BODY = {"model": "chat-model", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
def issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(issuer: FakeIssuer) -> Iterator[RunningGateway]:
    config = f"""
identity:
  jwt: {{issuer: "{issuer.url}", audience: {AUDIENCE}, algorithms: [RS256, ES256]}}
providers:
  demo: {{type: mock}}
models:
  chat-model: [{{provider: demo, model: demo-chat}}]
"""
    with gateway_from_yaml(config) as gw:
        gw.run(gw.worker.tenancy.create_project("acme"))
        yield gw


def b64(raw: bytes | str) -> str:
    return base64.urlsafe_b64encode(raw.encode() if isinstance(raw, str) else raw).rstrip(b"=").decode()


def unsigned(header: Any, payload: Any = None, signature: str = "c2ln") -> str:
    """A token with any header at all (JSON text, or raw bytes when it is not JSON)."""
    encode = lambda v: v if isinstance(v, bytes) else json.dumps(v).encode()  # noqa: E731
    return f"{b64(encode(header))}.{b64(encode(payload if payload is not None else {'sub': 'x'}))}.{signature}"


def signed(issuer: FakeIssuer, headers: dict[str, Any] | None = None, alg: str = "RS256", **claims: Any) -> str:
    """Correctly signed by the issuer's current key, with extra header fields or odd claims."""
    key = issuer.keys[alg]
    payload = issuer.claims(wardgate_project="acme", **claims)
    return jwt.encode(payload, key.private, algorithm=alg, headers={"kid": key.kid, **(headers or {})})


def raw_signed(issuer: FakeIssuer, header: dict[str, Any], payload_json: str) -> str:
    """Signed by the issuer over a payload written by hand (values json.dumps cannot produce)."""
    key = issuer.keys["RS256"]
    signing_input = f"{b64(json.dumps({'alg': 'RS256', 'kid': key.kid, **header}))}.{b64(payload_json)}"
    signature = jwt.get_algorithm_by_name("RS256").sign(signing_input.encode(), key.private)
    return f"{signing_input}.{b64(signature)}"


CASES: dict[str, Any] = {
    "crit names an unknown extension": lambda i: signed(i, {"crit": ["x"], "x": 1}),
    "crit is not a list": lambda i: signed(i, {"crit": "x"}),
    "crit is an empty list": lambda i: signed(i, {"crit": []}),
    "b64 false (unencoded payload)": lambda i: signed(i, {"b64": False, "crit": ["b64"]}),
    "b64 false without crit": lambda i: signed(i, {"b64": False}),
    "alg none": lambda i: unsigned({"alg": "none", "kid": i.keys["RS256"].kid}, signature=""),
    "alg unknown": lambda i: unsigned({"alg": "XX999"}),
    "alg HS256 (not configured)": lambda i: unsigned({"alg": "HS256"}),
    "alg is a number": lambda i: unsigned({"alg": 256}),
    "alg is an object": lambda i: unsigned({"alg": {"RS256": True}}),
    "alg missing": lambda i: unsigned({"kid": "k"}),
    "alg ES256 with an RSA key's kid": lambda i: unsigned({"alg": "ES256", "kid": i.keys["RS256"].kid}),
    "alg RS256 with an EC key's kid": lambda i: unsigned({"alg": "RS256", "kid": i.keys["ES256"].kid}),
    "kid missing, bad signature": lambda i: unsigned({"alg": "RS256"}),
    "kid is a number": lambda i: unsigned({"alg": "RS256", "kid": 7}),
    "kid is a list": lambda i: unsigned({"alg": "RS256", "kid": ["a"]}),
    "kid is null": lambda i: unsigned({"alg": "RS256", "kid": None}),
    "kid is huge": lambda i: unsigned({"alg": "RS256", "kid": "k" * 10_000}),
    "kid has control characters": lambda i: unsigned({"alg": "RS256", "kid": "\x00\n\x1b[31m"}),
    "header is a list": lambda i: unsigned(["RS256"]),
    "header is a string": lambda i: unsigned("RS256"),
    "header is null": lambda i: unsigned(b"null"),
    "header is not JSON": lambda i: unsigned(b"{alg: RS256"),
    "header is not UTF-8": lambda i: unsigned(b"\xff\xfe{"),
    "header nests deeply": lambda i: unsigned(b"[" * 5000 + b"]" * 5000),
    "header is NaN": lambda i: unsigned(b"NaN"),
    "header base64 is malformed": lambda i: "@@@.e30.c2ln",
    "header base64 has a bad length": lambda i: "a.e30.c2ln",
    "payload base64 is malformed": lambda i: f"{b64(json.dumps({'alg': 'RS256'}))}.@@@.c2ln",
    "signature base64 is malformed": lambda i: signed(i)[:-3] + "@@@",
    "empty parts": lambda i: "..",
    "typ is not a JWT": lambda i: signed(i, {"typ": "application/json"}),
    "typ is a number": lambda i: signed(i, {"typ": 1}),
    "nested JWT (cty JWT)": lambda i: signed(i, {"cty": "JWT"}),
    "cty is a list": lambda i: signed(i, {"cty": ["JWT"]}),
    "jku points elsewhere, bad signature": lambda i: unsigned({"alg": "RS256", "jku": "http://127.0.0.1:1/jwks"}),
    "embedded jwk, self-signed": lambda i: unsigned({"alg": "RS256", "jwk": {"kty": "RSA", "n": "AQAB", "e": "AQAB"}}),
    "exp is a string": lambda i: signed(i, exp="tomorrow"),
    "exp is a list": lambda i: signed(i, exp=[1]),
    "exp is an object": lambda i: signed(i, exp={"t": 1}),
    "exp is true": lambda i: signed(i, exp=True),
    "exp is Infinity": lambda i: raw_signed(i, {}, f'{{"iss":"{i.url}","aud":"{AUDIENCE}","sub":"a","exp":Infinity}}'),
    "exp is NaN": lambda i: raw_signed(i, {}, f'{{"iss":"{i.url}","aud":"{AUDIENCE}","sub":"a","exp":NaN}}'),
    "exp is 1e400": lambda i: raw_signed(i, {}, f'{{"iss":"{i.url}","aud":"{AUDIENCE}","sub":"a","exp":1e400}}'),
    "nbf is NaN": lambda i: raw_signed(
        i, {}, f'{{"iss":"{i.url}","aud":"{AUDIENCE}","sub":"a","exp":9999999999,"nbf":NaN}}'
    ),
    "iat is a string": lambda i: signed(i, iat="now"),
    "iss is a list": lambda i: raw_signed(
        i, {}, f'{{"iss":["{i.url}"],"aud":"{AUDIENCE}","sub":"a","exp":9999999999}}'
    ),
    "aud is an object": lambda i: signed(i, aud={"a": AUDIENCE}),
    "aud is a number": lambda i: signed(i, aud=1),
    "sub is an object": lambda i: signed(i, sub={"id": 1}),
    "sub is empty": lambda i: signed(i, sub=""),
    "payload is a list": lambda i: raw_signed(i, {}, "[1, 2]"),
    "payload is a number": lambda i: raw_signed(i, {}, "1"),
    "payload nests deeply": lambda i: raw_signed(i, {}, "[" * 5000 + "]" * 5000),
    "expired": lambda i: signed(i, exp=1),
}


@pytest.mark.parametrize("make", CASES.values(), ids=CASES.keys())
def test_an_odd_jwt_is_a_401_in_the_openai_shape(gateway: RunningGateway, issuer: FakeIssuer, make: Any) -> None:
    token = make(issuer)
    response = httpx.post(
        f"{gateway.url}/chat/completions", json=BODY, headers={"authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 401, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["type"] == "invalid_request_error" and error["code"] in ("invalid_token", "token_expired")
    assert len(error["message"]) < 400  # a hostile kid or claim is never echoed whole


def test_a_plain_signed_token_from_the_same_factory_is_served(gateway: RunningGateway, issuer: FakeIssuer) -> None:
    """The cases above fail for their oddity alone: the same construction without it is accepted."""
    for token in (signed(issuer), signed(issuer, {"typ": "JWT"}), signed(issuer, {"typ": "at+jwt"})):
        response = httpx.post(
            f"{gateway.url}/chat/completions", json=BODY, headers={"authorization": f"Bearer {token}"}, timeout=10
        )
        assert response.status_code == 200, response.text
