"""``POST /v1/realtime/client_secrets`` and ``/v1/realtime/translations/client_secrets``: ephemeral Realtime keys
minted at the provider on the governed path (identity, model access, budgets, a ledger row that never holds the
secret), driven by the official SDK against the OpenAI fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.store.usage import by_request_id

KEY = "sk-realtime-secrets-upstream"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {KEY}}}
  chat-only: {{type: perplexity, base_url: "{fake.url}", api_key: {KEY}}}
models:
  gpt-realtime: [{{provider: up, model: gpt-realtime-2025-08-28}}]
  gpt-realtime-translate: [{{provider: up, model: gpt-realtime-translate-1}}]
  voice: [{{provider: up, model: gpt-realtime-mini}}]
  sonar: [{{provider: chat-only, model: sonar}}]
  tts: [{{provider: up, model: tts-1}}]
budgets:
  - {{name: minting, scope: project, match: minters, window: day, limit_usd: 0.0004, cap: hard}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway, fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    fake.reset()
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def ledger_row(gateway: RunningGateway, request_id: str) -> dict[str, Any]:
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, request_id))
    assert row is not None
    return row


def test_a_client_secret_is_minted_at_the_provider_with_the_deployments_model_and_recorded(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    raw = client.realtime.client_secrets.with_raw_response.create(
        session={"type": "realtime", "model": "voice", "instructions": "be brief"},
        expires_after={"anchor": "created_at", "seconds": 120},
    )
    body = raw.http_response.json()
    validate("RealtimeCreateClientSecretResponse", body)
    secret = raw.parse()
    assert secret.value.startswith("ek_fake")
    sent = fake.last
    assert sent.path == "/v1/realtime/client_secrets" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json["session"] == {"type": "realtime", "model": "gpt-realtime-mini", "instructions": "be brief"}
    assert sent.json["expires_after"] == {"anchor": "created_at", "seconds": 120}
    assert raw.headers["x-wardgate-deployment"] == "up/gpt-realtime-mini"
    row = ledger_row(gateway, raw.headers["x-wardgate-request-id"])
    assert (row["operation"], row["model"], row["status"], row["billable"]) == ("realtime_secret", "voice", 200, True)
    assert (row["input_tokens"], row["output_tokens"], row["cost_nanousd"]) == (0, 0, 0)
    assert row["details"]["client_secret"] == {"session_model": "gpt-realtime-mini", "expires_at": secret.expires_at}
    assert secret.value not in repr(row)  # the secret is relayed, never recorded


def test_a_request_naming_no_model_is_routed_on_openais_default(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    secret = client.realtime.client_secrets.create()
    assert secret.value.startswith("ek_")
    assert fake.last.json == {"session": {"type": "realtime", "model": "gpt-realtime-2025-08-28"}}


def test_a_transcription_session_is_passed_on_without_a_model(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    session: Any = {"type": "transcription", "audio": {"input": {"transcription": {"model": "whisper-1"}}}}
    client.realtime.client_secrets.create(session=session)
    assert fake.last.json["session"] == session


def test_a_translation_secret_too(gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI) -> None:
    secrets = client.realtime.translations.client_secrets
    raw = secrets.with_raw_response.create(session={"model": "gpt-realtime-translate"})
    secret = raw.parse()
    assert secret.value.startswith("ek_fake")
    assert fake.last.path == "/v1/realtime/translations/client_secrets"
    assert fake.last.json["session"]["model"] == "gpt-realtime-translate-1"
    assert ledger_row(gateway, raw.headers["x-wardgate-request-id"])["operation"] == "translate_secret"


def _post(gateway: RunningGateway, path: str, body: Any, key: str = MASTER_KEY) -> httpx.Response:
    return httpx.post(gateway.url + path, headers={"authorization": f"Bearer {key}"}, json=body, timeout=30)


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/realtime/client_secrets", {"session": {"model": "nope"}}, 404, "model"),
        ("/realtime/client_secrets", {"session": {"model": "sonar"}}, 400, "model"),
        ("/realtime/client_secrets", {"session": "gpt-realtime"}, 400, "session"),
        ("/realtime/client_secrets", {"session": {"model": 7}}, 400, "session.model"),
        ("/realtime/client_secrets", {"expires_after": {"seconds": "soon"}}, 400, "expires_after.seconds"),
        ("/realtime/client_secrets", [1], 400, None),
        ("/realtime/translations/client_secrets", {}, 400, "session"),
    ],
)
def test_bad_requests_get_openai_errors_and_reach_no_provider(
    gateway: RunningGateway, fake: FakeOpenAI, path: str, body: Any, status: int, param: str | None
) -> None:
    fake.reset()
    response = _post(gateway, path, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["param"] == param
    assert not fake.requests


def test_an_unknown_key_mints_nothing(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    fake.reset()
    response = _post(gateway, "/realtime/client_secrets", {}, key="sk-not-a-key")
    assert response.status_code == 401 and not fake.requests


def test_a_spent_budget_refuses_minting(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    async def key() -> str:
        project = await gateway.worker.tenancy.create_project("minters")
        return (await gateway.worker.keys.create(project.id))[0]

    with openai.OpenAI(base_url=gateway.url, api_key=gateway.run(key()), max_retries=0) as minter:
        assert minter.realtime.client_secrets.create().value.startswith("ek_")
        for _ in range(3):  # $0.00015 each at $15 per 1M characters: $0.00045 spent of $0.0004
            minter.audio.speech.create(model="tts", voice="alloy", input="x" * 10)
        fake.reset()
        with pytest.raises(openai.RateLimitError) as caught:
            minter.realtime.client_secrets.create()
    assert caught.value.response.json()["error"]["code"] == "budget_exceeded"
    assert not fake.requests
