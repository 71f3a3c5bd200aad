"""What the OpenAI SDK relies on: values the spec allows reach the provider unchanged (the provider judges values),
``x-should-retry`` tells it which errors a retry can fix, and ``/v1/models`` describes models from what is known."""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import RecordedRequest
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

USER: list[Any] = [{"role": "user", "content": "hi"}]
AUTH = {"authorization": f"Bearer {MASTER_KEY}"}


def sent_with(fake: FakeOpenAI, marker: str) -> RecordedRequest:
    return fake.wait_for_request(lambda r: isinstance(r.json, dict) and r.json.get("user") == marker)


@pytest.mark.parametrize(
    ("path", "fields"),
    [
        ("/chat/completions", {"max_tokens": 0}),
        ("/chat/completions", {"max_completion_tokens": 0}),
        ("/chat/completions", {"stream_options": {"include_usage": True}, "stream": False}),
        ("/chat/completions", {"stream_options": {"include_usage": True}}),
        ("/chat/completions", {"temperature": 2.5, "top_p": 1.5, "presence_penalty": -3, "frequency_penalty": 7}),
        ("/chat/completions", {"top_logprobs": 50, "logprobs": True}),
        ("/chat/completions", {"response_format": {"type": "yaml"}}),
        ("/chat/completions", {"messages": [{"role": "narrator", "content": "hi"}]}),
        ("/completions", {"max_tokens": 0, "temperature": 9}),
        ("/embeddings", {"encoding_format": "hex", "input": []}),
    ],
)
def test_values_the_spec_allows_reach_the_provider_unchanged(
    gateway: RunningGateway, fake: FakeOpenAI, path: str, fields: dict[str, Any]
) -> None:
    marker = f"values-{path}-{sorted(fields)}"
    base: dict[str, Any] = {
        "/chat/completions": {"model": "gpt", "messages": USER},
        "/completions": {"model": "gpt", "prompt": "hi"},
        "/embeddings": {"model": "emb", "input": "hi"},
    }[path]
    body = {**base, **fields, "user": marker}
    with httpx.Client() as http:
        response = http.post(gateway.url + path, json=body, headers=AUTH)
    assert response.status_code < 500, response.text  # whatever the provider answered, it judged the values
    sent = sent_with(fake, marker).json
    for key, value in fields.items():
        assert sent[key] == value


def test_a_rejected_upstream_key_is_not_retried_by_the_sdk(gateway: RunningGateway, fake: FakeOpenAI) -> None:
    marker = "retry-upstream-auth"
    with (
        openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=2) as client,
        pytest.raises(openai.APIStatusError) as caught,
    ):
        client.chat.completions.create(model="misconfigured", messages=USER, user=marker)
    assert caught.value.status_code == 502
    assert caught.value.response.headers["x-should-retry"] == "false"
    sent_with(fake, marker)
    assert sum(1 for r in fake.requests if isinstance(r.json, dict) and r.json.get("user") == marker) == 1


@pytest.mark.parametrize(
    ("model", "status", "retry"),
    [("rejected", 400, "false"), ("gpt-99", 404, "false"), ("broken", 502, "true"), ("overloaded", 503, "true"),
     ("rate-limited", 429, "true")],
)  # fmt: skip
def test_x_should_retry_says_whether_a_retry_can_help(
    gateway: RunningGateway, model: str, status: int, retry: str
) -> None:
    with httpx.Client() as http:
        response = http.post(gateway.url + "/chat/completions", json={"model": model, "messages": USER}, headers=AUTH)
    assert response.status_code == status
    assert response.headers["x-should-retry"] == retry


def test_a_spent_budget_and_an_oversize_body_are_not_worth_a_retry(fake: FakeOpenAI) -> None:
    config = f"""
server: {{max_body_bytes: 2000}}
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-fake-upstream}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini}}]
budgets:
  - {{name: nothing-left, scope: global, limit_usd: 0.000000001, window: month}}
"""
    with gateway_from_yaml(config) as gw, httpx.Client() as http:
        refused = http.post(gw.url + "/chat/completions", json={"model": "gpt", "messages": USER}, headers=AUTH)
        big = http.post(gw.url + "/chat/completions", content=b"x" * 3000, headers=AUTH)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "budget_exceeded"
    assert refused.headers["x-should-retry"] == "false"
    assert big.status_code == 413
    assert big.headers["x-should-retry"] == "false"


def test_models_are_owned_by_their_vendor_and_dated_from_the_catalog(fake: FakeOpenAI) -> None:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: sk-fake-upstream}}
  claude: {{type: anthropic, base_url: "{fake.url}", api_key: sk-unused}}
  local: {{type: vllm, base_url: "{fake.url}"}}
models:
  gpt: [{{provider: up, model: gpt-4o-mini-2024-07-18}}]
  smart: [{{provider: claude, model: claude-3-5-haiku-20241022}}]
  plain: [{{provider: up, model: gpt-4.1}}]
  mine: [{{provider: local, model: my-finetune}}]
"""
    with gateway_from_yaml(config) as first, gateway_from_yaml(config) as second:
        with openai.OpenAI(base_url=first.url, api_key=MASTER_KEY, max_retries=0) as client:
            models = {m.id: m for m in client.models.list()}
            single = client.models.retrieve("smart")
        with openai.OpenAI(base_url=second.url, api_key=MASTER_KEY, max_retries=0) as client:
            again = {m.id: m for m in client.models.list()}
    assert {name: m.owned_by for name, m in models.items()} == {
        "gpt": "openai", "smart": "anthropic", "plain": "openai", "mine": "vllm"
    }  # fmt: skip
    assert models["gpt"].created == 1721260800  # 2024-07-18, the snapshot the deployment names
    assert models["smart"].created == 1729555200 == single.created  # 2024-10-22
    assert models["plain"].created > 0  # the date the catalog last confirmed it
    assert models["mine"].created == 0  # unknown, and not the start time
    assert {m.id: m.created for m in again.values()} == {m.id: m.created for m in models.values()}
