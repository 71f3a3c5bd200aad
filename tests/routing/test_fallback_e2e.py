"""A real gateway routing between the OpenAI fake and the Anthropic fake: fall-backs across providers, streamed and
not, stalls before the first byte, 429s, canary promotion and the classifier, as a client sees them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml
from wardgate.routing.state import promote, rollback, routing_state
from wardgate.store.usage import by_request_id

OPENAI_KEY = "sk-fake-upstream"
ANTHROPIC_KEY = "sk-ant-api03-fake-upstream-key"
MESSAGES: Any = [{"role": "user", "content": "hi"}]
CHEAP = "price: {input: 0.1, output: 0.4}"
DEAR = "price: {input: 3, output: 15}"


@pytest.fixture(scope="module")
def openai_fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY).start() as fake:
        yield fake


@pytest.fixture(scope="module")
def anthropic_fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(ANTHROPIC_KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic) -> Iterator[RunningGateway]:
    up = f'{{type: openai, base_url: "{openai_fake.url}", api_key: {OPENAI_KEY}}}'
    claude = f'{{type: anthropic, base_url: "{anthropic_fake.url}", api_key: {ANTHROPIC_KEY}}}'
    config = f"""
providers:
  up: {up}
  up2: {up}
  up3: {up}
  claude: {claude}
models:
  resilient:
    strategy: lowest_cost
    deployments:
      - {{provider: up, model: error-500, {CHEAP}}}
      - {{provider: claude, model: claude-sonnet-4-5, {DEAR}}}
  resilient-stream:
    strategy: lowest_cost
    deployments:
      - {{provider: up, model: error-503, {CHEAP}}}
      - {{provider: claude, model: claude-haiku-4-5, {DEAR}}}
  stalls:
    strategy: lowest_cost
    first_chunk_timeout_s: 0.3
    deployments:
      - {{provider: up, model: stall, {CHEAP}}}
      - {{provider: claude, model: claude-3-5-haiku, {DEAR}}}
  mid-stream:
    strategy: lowest_cost
    deployments:
      - {{provider: up, model: reset-stream, {CHEAP}}}
      - {{provider: claude, model: claude-3-7-sonnet, {DEAR}}}
  limited:
    deployments: [{{provider: up2, model: gpt-4o-mini}}]
    fallbacks: [claude-backup]
  claude-backup: [{{provider: claude, model: claude-opus-4-1}}]
  canaried:
    deployments: [{{provider: up3, model: gpt-4o-mini}}]
    canary: {{deployment: {{provider: claude, model: claude-opus-4-5}}, percent: 1}}
  classified:
    strategy: model_class
    classifier: {{easy: economy, hard: frontier, threshold: 0.5}}
    deployments:
      - {{provider: up3, model: gpt-4.1-mini, model_class: economy}}
      - {{provider: claude, model: claude-sonnet-4, model_class: frontier}}
  pinned: [{{provider: up3, model: gpt-4o, pin: gpt-4o-2024-08-06}}]
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture(autouse=True)
def fresh(openai_fake: FakeOpenAI, anthropic_fake: FakeAnthropic) -> None:
    openai_fake.reset()
    anthropic_fake.reset()


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def route_of(headers: httpx.Headers) -> dict[str, str]:
    return dict(part.split("=", 1) for part in headers["x-wardgate-route"].split("; "))


def test_a_failing_openai_deployment_falls_back_to_anthropic_with_an_openai_answer(
    client: openai.OpenAI, gateway: RunningGateway, anthropic_fake: FakeAnthropic
) -> None:
    raw = client.chat.completions.with_raw_response.create(model="resilient", messages=MESSAGES)
    body = raw.http_response.json()
    validate("CreateChatCompletionResponse", body)
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["role"] == "assistant"
    assert body["choices"][0]["message"]["content"] == "echo: hi"
    assert anthropic_fake.last.json["model"] == "claude-sonnet-4-5"
    assert raw.headers["x-wardgate-provider"] == "claude"
    assert route_of(raw.headers) == {
        "strategy": "lowest_cost",
        "deployment": "claude/claude-sonnet-4-5",
        "attempts": "2",
        "failed": "up/error-500:server_error",
    }
    gateway.run(gateway.worker.ledger.flush())
    row = gateway.run(by_request_id(gateway.worker.engine, raw.headers["x-wardgate-request-id"]))
    assert row is not None and row["deployment"] == "claude/claude-sonnet-4-5"  # charged to who answered


def test_a_streamed_call_falls_back_before_its_first_chunk(client: openai.OpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="resilient-stream", messages=MESSAGES, stream=True
    ) as response:
        chunks = list(response.parse())
        headers = response.headers
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.to_dict())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo: hi"
    assert route_of(headers)["failed"] == "up/error-503:server_error"
    assert route_of(headers)["deployment"] == "claude/claude-haiku-4-5"


def test_a_stream_that_stalls_before_the_first_byte_falls_back(client: openai.OpenAI, openai_fake: FakeOpenAI) -> None:
    with client.chat.completions.with_streaming_response.create(
        model="stalls", messages=MESSAGES, stream=True
    ) as response:
        text = "".join(c.choices[0].delta.content or "" for c in response.parse() if c.choices)
        headers = response.headers
    assert text == "echo: hi"
    assert route_of(headers)["failed"] == "up/stall:stall"
    assert openai_fake.disconnected.wait(10)  # the stalled upstream request was given up, not left hanging


def test_an_error_after_the_first_chunk_reaches_the_client_without_fall_back(
    client: openai.OpenAI, anthropic_fake: FakeAnthropic
) -> None:
    stream = client.chat.completions.create(model="mid-stream", messages=MESSAGES, stream=True)
    with pytest.raises(openai.APIError):
        list(stream)
    assert anthropic_fake.requests == []


def test_a_429_moves_to_the_fall_back_model_and_cools_the_deployment_down(
    client: openai.OpenAI, gateway: RunningGateway, openai_fake: FakeOpenAI
) -> None:
    limit = {
        "error": {"message": "Rate limit reached", "type": "requests", "param": None, "code": "rate_limit_exceeded"}
    }
    openai_fake.enqueue(429, limit, {"retry-after": "20"})
    raw = client.chat.completions.with_raw_response.create(model="limited", messages=MESSAGES)
    assert raw.http_response.json()["choices"][0]["message"]["content"] == "echo: hi"
    assert route_of(raw.headers) == {
        "strategy": "weighted",
        "deployment": "claude/claude-opus-4-1",
        "attempts": "2",
        "failed": "up2/gpt-4o-mini:rate_limit",
        "fallback": "claude-backup",
    }
    state = {entry["deployment"]: entry for entry in routing_state(gateway.worker.routing)}
    assert state["up2/gpt-4o-mini"]["breaker"]["state"] == "open"
    assert state["up2/gpt-4o-mini"]["health"]["failures_by_kind"] == {"rate_limit": 1}
    again = client.chat.completions.with_raw_response.create(model="limited", messages=MESSAGES)
    assert route_of(again.headers)["attempts"] == "1"  # the cooling deployment is skipped
    assert len(openai_fake.requests) == 1


def test_a_canary_is_promoted_and_rolled_back_by_one_call(client: openai.OpenAI, gateway: RunningGateway) -> None:
    first = client.chat.completions.with_raw_response.create(model="canaried", messages=MESSAGES)
    assert route_of(first.headers)["arm"] == "baseline"  # the master key's hash is outside the 1% slice
    promoted = gateway.run(promote(gateway.worker.routing, "canaried"))
    assert promoted["status"] == "promoted"
    after = client.chat.completions.with_raw_response.create(model="canaried", messages=MESSAGES)
    assert route_of(after.headers)["deployment"] == "claude/claude-opus-4-5"
    assert route_of(after.headers)["arm"] == "canary"
    entry = next(e for e in routing_state(gateway.worker.routing) if e["deployment"] == "claude/claude-opus-4-5")
    assert entry["canary"]["status"] == "promoted" and entry["canary"]["arms"]["canary"]["window_ok"] == 1
    gateway.run(rollback(gateway.worker.routing, "canaried"))
    back = client.chat.completions.with_raw_response.create(model="canaried", messages=MESSAGES)
    assert route_of(back.headers)["deployment"] == "up3/gpt-4o-mini"
    with pytest.raises(LookupError):
        gateway.run(promote(gateway.worker.routing, "limited"))


def test_the_classifier_sends_easy_prompts_to_economy_and_hard_ones_to_frontier(client: openai.OpenAI) -> None:
    easy = client.chat.completions.with_raw_response.create(model="classified", messages=MESSAGES)
    decision = route_of(easy.headers)
    assert decision["class"] == "economy" and decision["deployment"] == "up3/gpt-4.1-mini"
    assert float(decision["difficulty"]) < 0.5
    hard_prompt = (
        "Prove step by step that the algorithm below is correct, analyze its complexity and compare the trade-offs:"
        "\n```python\ndef f(xs):\n    return sorted(set(xs))\n```"
    )
    hard = client.chat.completions.with_raw_response.create(
        model="classified", messages=[{"role": "user", "content": hard_prompt}]
    )
    assert route_of(hard.headers)["class"] == "frontier"
    assert route_of(hard.headers)["deployment"] == "claude/claude-sonnet-4"


def test_a_pinned_deployment_sends_the_exact_version(client: openai.OpenAI, openai_fake: FakeOpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="pinned", messages=MESSAGES)
    assert openai_fake.requests[-1].json["model"] == "gpt-4o-2024-08-06"
    assert raw.headers["x-wardgate-deployment"] == "up3/gpt-4o"
    assert route_of(raw.headers) == {"strategy": "single", "deployment": "up3/gpt-4o", "attempts": "1"}
