"""A real gateway trusting the fake OIDC issuer, called with the official OpenAI SDK using a JWT as the API key."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from tests.identity.issuer import FakeIssuer
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.usage import by_request_id

MESSAGES: list[Any] = [{"role": "user", "content": "hi"}]


def config(issuer: FakeIssuer, **jwt: str) -> str:
    extra = "".join(f", {k}: {v}" for k, v in jwt.items())
    return f"""
identity:
  jwt: {{issuer: "{issuer.url}", audience: wardgate, claims: {{models: wardgate_models}}{extra}}}
providers:
  demo: {{type: mock}}
models:
  chat-model: [{{provider: demo, model: demo-chat}}]
  other-model: [{{provider: demo, model: demo-chat}}]
"""


@pytest.fixture(scope="module")
def module_issuer() -> Iterator[FakeIssuer]:
    with FakeIssuer() as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(module_issuer: FakeIssuer) -> Iterator[RunningGateway]:
    # min refresh 0: a rotation right after start-up is picked up at once (the default waits 60 s between fetches)
    with gateway_from_yaml(config(module_issuer, jwks_min_refresh_s="0")) as gw:
        gw.run(gw.worker.tenancy.create_project("acme", id="prj_acme"))
        gw.run(gw.worker.tenancy.create_team("prj_acme", "ml", id="team_ml"))
        yield gw


def chat(gateway: RunningGateway, token: str, model: str = "chat-model") -> tuple[str, Any]:
    """(the gateway's request id, the answer); the client's own id is sent too and must land beside it."""
    client_id = f"jwt-{uuid.uuid4().hex[:12]}"
    with openai.OpenAI(base_url=gateway.url, api_key=token, max_retries=0) as client:
        raw = client.chat.completions.with_raw_response.create(
            model=model, messages=MESSAGES, extra_headers={"x-wardgate-request-id": client_id}
        )
    assert raw.headers["x-wardgate-client-request-id"] == client_id
    return raw.headers["x-wardgate-request-id"], raw.parse()


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


def refused(gateway: RunningGateway, token: str, error: type[openai.APIStatusError]) -> openai.APIStatusError:
    with pytest.raises(error) as caught:
        chat(gateway, token)
    return caught.value


def test_a_valid_token_is_served_and_charged_to_its_project(gateway: RunningGateway, module_issuer: FakeIssuer) -> None:
    token = module_issuer.token(wardgate_project="acme", wardgate_team="ml")
    request_id, response = chat(gateway, token)
    assert response.choices[0].message.content
    row = ledger_row(gateway, request_id)
    assert (row["principal_kind"], row["principal_id"]) == ("jwt", f"jwt:{module_issuer.url}:alice")
    assert (row["project_id"], row["team_id"], row["user_id"], row["key_id"]) == ("prj_acme", "team_ml", "alice", None)
    assert row["status"] == 200


def test_an_ec_signed_token_and_a_project_id_work_too(gateway: RunningGateway, module_issuer: FakeIssuer) -> None:
    request_id, _ = chat(gateway, module_issuer.token("ES256", wardgate_project="prj_acme"))
    assert ledger_row(gateway, request_id)["project_id"] == "prj_acme"


def test_the_models_claim_narrows_what_the_token_may_use(gateway: RunningGateway, module_issuer: FakeIssuer) -> None:
    token = module_issuer.token(wardgate_project="acme", wardgate_models=["chat-model"])
    chat(gateway, token)
    with pytest.raises(openai.NotFoundError):
        chat(gateway, token, model="other-model")
    with openai.OpenAI(base_url=gateway.url, api_key=token, max_retries=0) as client:
        assert [m.id for m in client.models.list()] == ["chat-model"]


def test_an_expired_token_is_401_token_expired(gateway: RunningGateway, module_issuer: FakeIssuer) -> None:
    error = refused(
        gateway, module_issuer.token(wardgate_project="acme", exp=int(time.time()) - 120), openai.AuthenticationError
    )
    assert error.code == "token_expired" and "expired" in error.message


@pytest.mark.parametrize(
    ("claims", "named"), [({"aud": "another-app"}, "audience"), ({"iss": "http://127.0.0.1:1"}, "issuer")]
)
def test_a_wrong_audience_or_issuer_is_401_naming_it(
    gateway: RunningGateway, module_issuer: FakeIssuer, claims: dict[str, Any], named: str
) -> None:
    error = refused(gateway, module_issuer.token(wardgate_project="acme", **claims), openai.AuthenticationError)
    assert named in error.message and error.code == "invalid_token"


def test_a_tampered_signature_is_401(gateway: RunningGateway, module_issuer: FakeIssuer) -> None:
    header, payload, signature = module_issuer.token(wardgate_project="acme").split(".")
    other = module_issuer.token(wardgate_project="acme", sub="mallory").split(".")[1]
    error = refused(gateway, f"{header}.{other}.{signature}", openai.AuthenticationError)
    assert "signature" in error.message


def test_an_unknown_project_is_403(gateway: RunningGateway, module_issuer: FakeIssuer) -> None:
    error = refused(gateway, module_issuer.token(wardgate_project="ghost"), openai.PermissionDeniedError)
    assert "ghost" in error.message


def test_a_rotated_key_is_accepted_without_a_restart(gateway: RunningGateway, module_issuer: FakeIssuer) -> None:
    old = module_issuer.token(wardgate_project="acme")
    chat(gateway, old)
    module_issuer.rotate()  # new kids; the old keys are no longer published
    new = module_issuer.token(wardgate_project="acme")
    chat(gateway, new)
    chat(gateway, module_issuer.token("ES256", wardgate_project="acme"))
    error = refused(gateway, old, openai.AuthenticationError)
    assert "is not in the issuer's key set (fetched just now)" in error.message


def test_master_and_virtual_keys_still_work_beside_jwt(gateway: RunningGateway) -> None:
    chat(gateway, MASTER_KEY)
    refused(gateway, "sk-wg-not-a-real-key", openai.AuthenticationError)
    refused(gateway, "neither.a.jwt", openai.AuthenticationError)


def test_the_key_set_is_fetched_once_for_many_requests() -> None:
    with FakeIssuer() as issuer, gateway_from_yaml(config(issuer)) as gw:
        gw.run(gw.worker.tenancy.create_project("acme"))
        tokens = [
            issuer.token(alg, wardgate_project="acme", sub=f"user-{i}") for i in range(10) for alg in ("RS256", "ES256")
        ]
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda token: chat(gw, token), tokens))
        for _ in range(5):  # the first made-up kid refetches; the others wait out jwks_min_refresh_s
            with pytest.raises(openai.AuthenticationError):
                chat(gw, issuer.token(kid=f"made-up-{uuid.uuid4().hex}", wardgate_project="acme"))
        assert (issuer.discovery_fetches, issuer.jwks_fetches) == (1, 2)


def test_a_key_published_after_start_up_is_accepted_within_2_s_with_the_default_refresh_window() -> None:
    with FakeIssuer() as issuer, gateway_from_yaml(config(issuer)) as gw:  # jwks_min_refresh_s: 60 (the default)
        gw.run(gw.worker.tenancy.create_project("acme"))
        chat(gw, issuer.token(wardgate_project="acme"))
        issuer.rotate()  # the issuer publishes new keys: the gateway fetched the old set at start-up, just now
        started = time.monotonic()
        _, response = chat(gw, issuer.token(wardgate_project="acme"))
        assert response.choices[0].message.content
        assert time.monotonic() - started < 2.0
        issuer.rotate()  # a second rotation inside the window: refused, and the message says why
        error = refused(gw, issuer.token(wardgate_project="acme"), openai.AuthenticationError)
        assert "when it was fetched" in error.message and "at most every 60 s" in error.message
        assert "does not publish" not in error.message
