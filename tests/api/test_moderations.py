"""``POST /v1/moderations`` end to end: the official ``openai`` SDK → Wardgate → the OpenAI fake's moderations.

The answer is relayed as the provider sent it and checked against OpenAI's schema; the provider receives the body
with only ``model`` replaced (OpenAI's default model filled in when the client names none); the ledger row is the
provider's usage exactly (moderations are free and report none: zero tokens, zero cost, still a billable call);
rate limits count it like any call.
"""

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

UPSTREAM_KEY = "sk-fake-upstream-moderations"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}
  chat-only: {{type: perplexity, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}
models:
  omni-moderation-latest: [{{provider: up, model: omni-moderation-2024-09-26}}]
  mod: [{{provider: up, model: text-moderation-stable}}]
  sonar: [{{provider: chat-only, model: sonar}}]
rate_limits:
  - {{name: two-a-minute, scope: project, match: limited, rpm: 2}}
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def test_a_moderation_is_relayed_spec_valid_and_recorded(
    gateway: RunningGateway, client: openai.OpenAI, fake: FakeOpenAI
) -> None:
    raw = client.moderations.with_raw_response.create(model="mod", input=["we attack at dawn", "tea at five"])
    validate("CreateModerationResponse", raw.http_response.json())
    answer = raw.parse()
    assert [result.flagged for result in answer.results] == [True, False]
    assert answer.results[0].categories.violence and answer.results[0].category_scores.violence == 0.9
    assert fake.requests[-1].json == {"model": "text-moderation-stable", "input": ["we attack at dawn", "tea at five"]}
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, raw.headers["x-wardgate-request-id"]))
    assert row is not None
    assert (row["operation"], row["model"], row["deployment"], row["status"], row["billable"]) == (
        "moderations", "mod", "up/text-moderation-stable", 200, True,
    )  # fmt: skip
    assert (row["input_tokens"], row["output_tokens"], row["cost_nanousd"]) == (0, 0, 0)


def test_without_a_model_openais_default_is_asked_for(client: openai.OpenAI, fake: FakeOpenAI) -> None:
    parts: Any = [{"type": "text", "text": "a picture"}, {"type": "image_url", "image_url": {"url": "data:,x"}}]
    answer = client.moderations.create(input=parts)
    assert not answer.results[0].flagged
    assert answer.results[0].category_applied_input_types.violence == ["text", "image"]
    assert fake.requests[-1].json == {"model": "omni-moderation-2024-09-26", "input": parts}


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"model": "mod"}, 400, "input"),
        ({"model": "mod", "input": 5}, 400, "input"),
        ({"model": "mod", "input": [{"type": "audio"}]}, 400, "input[0].type"),
        ({"model": 7, "input": "x"}, 400, "model"),
        ({"model": "nope", "input": "x"}, 404, "model"),
    ],
)
def test_bad_moderation_requests_get_openai_errors(
    gateway: RunningGateway, body: dict[str, Any], status: int, param: str
) -> None:
    answer = httpx.post(gateway.url + "/moderations", json=body, headers={"authorization": f"Bearer {MASTER_KEY}"})
    assert answer.status_code == status
    assert answer.json()["error"]["param"] == param


def test_a_model_whose_provider_cannot_moderate_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.moderations.create(model="sonar", input="x")
    assert caught.value.response.json()["error"]["code"] == "unsupported_by_provider"


def test_a_rate_limit_counts_moderations(gateway: RunningGateway) -> None:
    async def key() -> str:
        project = await gateway.worker.tenancy.create_project("limited")
        return (await gateway.worker.keys.create(project.id))[0]

    with openai.OpenAI(base_url=gateway.url, api_key=gateway.run(key()), max_retries=0) as limited:
        limited.moderations.create(model="mod", input="one")
        limited.moderations.create(model="mod", input="two")
        with pytest.raises(openai.RateLimitError):
            limited.moderations.create(model="mod", input="three")
