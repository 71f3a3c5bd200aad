"""The Anthropic surface in front of an OpenAI provider (the OpenAI fake on loopback), driven by the ``anthropic`` SDK.

The fake's numbers are deterministic (``tests/fakes/openai_logic``): one word is one token, every message costs
3 more, the configured cached and reasoning tokens are reported as OpenAI does (inside prompt and completion
tokens). So the usage an Anthropic client sees can be checked to the token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import anthropic
import httpx2
import pytest
from pydantic import TypeAdapter

from tests.fakes.openai import FakeOpenAI
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

EVENT = TypeAdapter(anthropic.types.RawMessageStreamEvent)
UPSTREAM_KEY = "sk-fake-upstream-for-anthropic"
CACHED = 4
REASONING = 2
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER: Any = {
    "name": "get_weather",
    "description": "Current weather of a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=UPSTREAM_KEY, cached_tokens=CACHED, reasoning_tokens=REASONING).start() as f:
        yield f


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI) -> Iterator[RunningGateway]:
    config = f"""
providers:
  up: {{type: openai, base_url: "{fake.url}", api_key: {UPSTREAM_KEY}}}
models:
  claude-fake: [{{provider: up, model: gpt-4o-mini}}]
  rate-limited: [{{provider: up, model: error-429}}]
  broken: [{{provider: up, model: error-500}}]
  reset: [{{provider: up, model: reset-stream}}]
  stall-stream: [{{provider: up, model: stall-stream}}]
"""
    with gateway_from_yaml(config) as gw:
        yield gw


@pytest.fixture
def client(gateway: RunningGateway, fake: FakeOpenAI) -> Iterator[anthropic.Anthropic]:
    fake.reset()
    with anthropic.Anthropic(base_url=gateway.root, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(gateway: RunningGateway, fake: FakeOpenAI) -> AsyncIterator[anthropic.AsyncAnthropic]:
    fake.reset()
    async with anthropic.AsyncAnthropic(base_url=gateway.root, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def text_of(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def check_openai_request(fake: FakeOpenAI) -> dict[str, Any]:
    """The last body the provider got, checked against OpenAI's own schema."""
    body = fake.requests[-1].json
    assert isinstance(body, dict)
    validate("CreateChatCompletionRequest", body)
    return body


def test_the_provider_receives_the_translated_request_and_the_client_exact_usage(
    client: anthropic.Anthropic, fake: FakeOpenAI
) -> None:
    message = client.messages.create(
        model="claude-fake",
        max_tokens=50,
        system="Be brief.",
        extra_body={"temperature": 0.5},
        stop_sequences=["zzz"],
        metadata={"user_id": "user-7"},
        messages=[{"role": "user", "content": "hello there"}],
    )
    assert text_of(message) == "echo: hello there"
    assert message.model == "claude-fake"
    assert message.id.startswith("msg_fake")
    recorded = fake.requests[-1]
    assert recorded.path == "/v1/chat/completions"
    assert check_openai_request(fake) == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hello there"}],
        "max_tokens": 50,
        "temperature": 0.5,
        "stop": ["zzz"],
        "user": "user-7",
    }
    assert recorded.headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert "x-api-key" not in recorded.headers
    assert all(MASTER_KEY not in value for value in recorded.headers.values())
    # prompt: (3 + 2 words) + (3 + 2 words) = 10, of which 4 cached; completion: 3 words + 2 reasoning
    assert message.usage.input_tokens == 10 - CACHED
    assert message.usage.cache_read_input_tokens == CACHED
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.output_tokens == 3 + REASONING


async def test_a_stream_gives_the_same_text_and_the_exact_usage(
    aclient: anthropic.AsyncAnthropic, fake: FakeOpenAI
) -> None:
    kwargs: dict[str, Any] = {
        "model": "claude-fake",
        "max_tokens": 50,
        "messages": [{"role": "user", "content": "one two three four"}],
    }
    plain = await aclient.messages.create(**kwargs)
    async with aclient.messages.stream(**kwargs) as stream:
        events = [event.type async for event in stream]
        final = await stream.get_final_message()
    body = check_openai_request(fake)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert text_of(final) == text_of(plain) == "echo: one two three four"
    assert events[0] == "message_start" and events[-1] == "message_stop"
    assert "message_delta" in events
    assert final.usage.input_tokens == 3 + 4 - CACHED
    assert final.usage.cache_read_input_tokens == CACHED
    assert final.usage.output_tokens == 5 + REASONING
    assert final.usage == plain.usage


def test_raw_stream_events_are_anthropics(client: anthropic.Anthropic) -> None:
    stream = client.messages.create(
        model="claude-fake", max_tokens=50, stream=True, messages=[{"role": "user", "content": "hi you"}]
    )
    with stream:
        events = list(stream)
    kinds = [event.type for event in events]
    assert kinds == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    for event in events:
        EVENT.validate_python(event.to_dict())
    assert events[6].delta.stop_reason == "end_turn"  # type: ignore[union-attr]


def test_a_tool_round_trip(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    question: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.messages.create(
        model="claude-fake",
        max_tokens=100,
        tools=[WEATHER],
        tool_choice={"type": "tool", "name": "get_weather"},
        messages=question,
    )
    body = check_openai_request(fake)
    assert body["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Current weather of a city",
                "parameters": WEATHER["input_schema"],
            },
        }
    ]
    assert first.stop_reason == "tool_use"
    (call,) = first.content
    assert call.type == "tool_use" and call.name == "get_weather" and call.input == {"city": "x"}
    assert call.id.startswith("call_")
    result: Any = {"type": "tool_result", "tool_use_id": call.id, "content": "18 degrees"}
    second = client.messages.create(
        model="claude-fake",
        max_tokens=100,
        tools=[WEATHER],
        messages=[*question, {"role": "assistant", "content": first.content}, {"role": "user", "content": [result]}],
    )
    messages = check_openai_request(fake)["messages"]
    assert messages[1]["tool_calls"] == [
        {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"x"}'}}
    ]
    assert messages[2] == {"role": "tool", "tool_call_id": call.id, "content": "18 degrees"}
    assert second.stop_reason == "end_turn"
    assert text_of(second) == "tool said: 18 degrees"


async def test_a_streamed_tool_call_rebuilds_its_input(aclient: anthropic.AsyncAnthropic) -> None:
    async with aclient.messages.stream(
        model="claude-fake", max_tokens=100, tools=[WEATHER], messages=[{"role": "user", "content": "Weather?"}]
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    assert [(b.type, getattr(b, "input", None)) for b in final.content] == [("tool_use", {"city": "x"})]
    assert final.usage.output_tokens == 2 + REASONING  # one call with one argument


def test_an_image_reaches_the_provider_as_a_data_url(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    message = client.messages.create(
        model="claude-fake",
        max_tokens=100,
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "what is this"}]}],
    )
    assert text_of(message) == "echo: [image] what is this"
    assert check_openai_request(fake)["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
        {"type": "text", "text": "what is this"},
    ]


def test_stop_sequences_cut_the_text(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-fake",
        max_tokens=100,
        stop_sequences=["world"],
        messages=[{"role": "user", "content": "hello world again"}],
    )
    assert text_of(message) == "echo: hello "
    # OpenAI does not say whether a stop sequence ended the text
    assert (message.stop_reason, message.stop_sequence) == ("end_turn", None)


def test_a_stop_sequence_the_provider_names_is_reported(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    fake.enqueue(200, _completion({"role": "assistant", "content": "echo: hello "}, "stop", stop_reason="world"))
    message = client.messages.create(
        model="claude-fake",
        max_tokens=100,
        stop_sequences=["world"],
        messages=[{"role": "user", "content": "hello world again"}],
    )
    assert (message.stop_reason, message.stop_sequence) == ("stop_sequence", "world")


def test_max_tokens_ends_with_max_tokens(client: anthropic.Anthropic) -> None:
    message = client.messages.create(
        model="claude-fake", max_tokens=2, messages=[{"role": "user", "content": "one two three"}]
    )
    assert text_of(message) == "echo: one"
    assert message.stop_reason == "max_tokens"


def test_reasoning_comes_back_as_a_thinking_block(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    fake.enqueue(200, _completion({"role": "assistant", "content": "4", "reasoning_content": "2 + 2 = 4"}))
    message = client.messages.create(model="claude-fake", max_tokens=100, messages=[{"role": "user", "content": "2+2"}])
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "2 + 2 = 4"  # type: ignore[union-attr]


def test_tool_arguments_that_are_not_json_are_a_bad_gateway(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": '}}
    fake.enqueue(200, _completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"))
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(
            model="claude-fake", max_tokens=100, tools=[WEATHER], messages=[{"role": "user", "content": "x"}]
        )
    assert caught.value.status_code == 502
    assert caught.value.type == "api_error"
    assert "not a JSON object" in (caught.value.api_message or "")


def test_a_provider_rate_limit_is_a_rate_limit_error_with_retry_after(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(model="rate-limited", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "7"
    assert caught.value.body == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": caught.value.api_message},
        "request_id": caught.value.response.headers["request-id"],
    }


async def test_a_provider_failure_is_an_api_error_in_anthropic_shape(aclient: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        await aclient.messages.create(model="broken", max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    assert caught.value.type == "api_error"
    assert "The server had an error" in (caught.value.api_message or "")
    with pytest.raises(anthropic.InternalServerError):
        async with aclient.messages.stream(
            model="broken", max_tokens=10, messages=[{"role": "user", "content": "x"}]
        ) as stream:
            await stream.get_final_message()


def test_a_stream_cut_by_the_provider_ends_with_an_error_event(client: anthropic.Anthropic) -> None:
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        client.messages.stream(
            model="reset", max_tokens=100, messages=[{"role": "user", "content": "one two three"}]
        ) as stream,
    ):
        stream.get_final_message()
    assert caught.value.type == "api_error"
    assert caught.value.body["type"] == "error"  # type: ignore[index]


def test_a_client_that_leaves_mid_stream_cancels_the_upstream_request(
    gateway: RunningGateway, fake: FakeOpenAI
) -> None:
    fake.reset()
    body = {"model": "stall-stream", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "x"}]}
    with httpx2.stream("POST", gateway.root + "/v1/messages", headers={"x-api-key": MASTER_KEY}, json=body) as r:
        first = next(r.iter_lines())
    assert first == "event: message_start"
    assert fake.disconnected.wait(timeout=10)


def test_count_tokens_answers_without_calling_the_provider(client: anthropic.Anthropic, fake: FakeOpenAI) -> None:
    counted = client.messages.count_tokens(model="claude-fake", messages=[{"role": "user", "content": "hello world"}])
    assert counted.input_tokens > 0
    assert fake.requests == []


def _completion(message: dict[str, Any], finish: str = "stop", **choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish, **choice}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }
