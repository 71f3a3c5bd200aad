"""Anthropic in, Anthropic out: the surface in front of Wardgate's Anthropic adapter (the Anthropic fake on loopback).

The canonical OpenAI body sits in between, so this checks that what has no OpenAI field survives the trip through
it: ``cache_control`` where the client put it, signed thinking blocks, ``top_k``, ``thinking``, and the usage with
cache reads and writes apart, to the token.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

UPSTREAM_KEY = "sk-ant-fake-upstream-for-surface"
CACHE_READ = 7
CACHE_WRITE = 5
GOLDEN = Path(__file__).parent / "golden" / "anthropic_surface"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(UPSTREAM_KEY, cache_read_tokens=CACHE_READ, cache_creation_tokens=CACHE_WRITE).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeAnthropic) -> Iterator[RunningGateway]:
    config = f"""
providers:
  ant: {{type: anthropic, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}
models:
  claude: [{{provider: ant, model: claude-upstream}}]
  claude-busy: [{{provider: ant, model: error-529}}]
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway, fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    fake.reset()
    with anthropic.Anthropic(base_url=gateway.root, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(gateway: RunningGateway, fake: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    fake.reset()
    async with anthropic.AsyncAnthropic(base_url=gateway.root, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def golden(case: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((GOLDEN / f"{case}.anthropic.json").read_text(encoding="utf-8"))
    body["model"] = "claude"
    return body


def test_cache_control_reaches_the_upstream_where_the_client_put_it(
    client: anthropic.Anthropic, fake: FakeAnthropic
) -> None:
    request = golden("tool_round_trip")
    client.messages.create(**request)
    sent = fake.last.json
    assert sent["model"] == "claude-upstream"
    assert sent["tools"] == request["tools"]
    assert sent["tool_choice"] == request["tool_choice"]
    assert sent["messages"][:2] == request["messages"][:2]
    first, second, text = sent["messages"][2]["content"]
    assert first == {"type": "tool_result", "tool_use_id": "toolu_01A", "content": "18°C, cloudy"}
    assert second["cache_control"] == {"type": "ephemeral"}
    assert text == {"type": "text", "text": "Summarise, please."}


def test_system_blocks_sampling_and_thinking_reach_the_upstream(
    client: anthropic.Anthropic, fake: FakeAnthropic
) -> None:
    request = {**golden("system_blocks_cache_control"), "max_tokens": 2048}
    client.messages.create(**request, extra_body={"top_k": 5}, thinking={"type": "enabled", "budget_tokens": 1024})
    sent = fake.last.json
    assert sent["system"] == request["system"]
    assert sent["cache_control"] == request["cache_control"]
    assert sent["messages"][2]["content"] == request["messages"][2]["content"]
    assert sent["metadata"] == {"user_id": "user-42"}
    assert sent["top_k"] == 5
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 1024}


def test_the_usage_keeps_cache_reads_and_writes_apart_to_the_token(
    client: anthropic.Anthropic, fake: FakeAnthropic
) -> None:
    message = client.messages.create(model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi there"}])
    keys = ("input_tokens", "cache_read_input_tokens", "cache_creation_input_tokens", "output_tokens")
    assert message.usage.model_dump(include=set(keys)) == {key: fake.usages[-1][key] for key in keys}
    assert message.usage.cache_read_input_tokens == CACHE_READ
    assert message.usage.cache_creation_input_tokens == CACHE_WRITE


async def test_streamed_thinking_keeps_its_signature_for_the_next_turn(
    aclient: anthropic.AsyncAnthropic, fake: FakeAnthropic
) -> None:
    question: list[Any] = [{"role": "user", "content": "What is 27 * 453?"}]
    async with aclient.messages.stream(
        model="claude", max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024}, messages=question
    ) as stream:
        first = await stream.get_final_message()
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.signature.startswith("sig-")
    assert thinking.thinking == "Thinking about: What is 27 * 453?"
    usage = fake.usages[-1]
    assert (first.usage.input_tokens, first.usage.output_tokens) == (usage["input_tokens"], usage["output_tokens"])
    assert first.usage.cache_read_input_tokens == CACHE_READ
    await aclient.messages.create(
        model="claude",
        max_tokens=2048,
        thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[*question, {"role": "assistant", "content": first.content}, {"role": "user", "content": "and?"}],
    )
    sent_back = fake.last.json["messages"][1]["content"][0]
    assert sent_back == {"type": "thinking", "thinking": thinking.thinking, "signature": thinking.signature}


def test_an_overloaded_upstream_is_an_overloaded_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(model="claude-busy", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.type == "overloaded_error"
