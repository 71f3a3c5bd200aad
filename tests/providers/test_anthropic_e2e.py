"""A real gateway in front of the Anthropic fake, driven by the official OpenAI SDK, sync and async."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.openapi_schema import validate
from tests.support import MASTER_KEY, RunningGateway, gateway_from_yaml

UPSTREAM_KEY = "sk-ant-api03-fake-upstream-key"
WRONG_KEY = "sk-ant-api03-not-the-right-key"
CACHE_READ, CACHE_WRITE = 11, 13
PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(UPSTREAM_KEY, cache_read_tokens=CACHE_READ, cache_creation_tokens=CACHE_WRITE) as fake:
        yield fake


@pytest.fixture(scope="module")
def gateway(upstream: FakeAnthropic) -> Iterator[RunningGateway]:
    config = f"""
providers:
  claude: {{type: anthropic, api_key: "${{ANTHROPIC_API_KEY}}", base_url: "{upstream.url}", beta: [beta-a, beta-b]}}
  claude-wrong-key: {{type: anthropic, api_key: {WRONG_KEY}, base_url: "{upstream.url}", default_max_tokens: 64}}
models:
  claude: [{{provider: claude, model: claude-sonnet-4-5}}]
  rate-limited: [{{provider: claude, model: error-429}}]
  broken: [{{provider: claude, model: error-500}}]
  overloaded: [{{provider: claude, model: error-529}}]
  fails-mid-stream: [{{provider: claude, model: error-stream}}]
  reset-stream: [{{provider: claude, model: reset-stream}}]
  misconfigured: [{{provider: claude-wrong-key, model: claude-sonnet-4-5}}]
"""
    with gateway_from_yaml(config, env={"ANTHROPIC_API_KEY": UPSTREAM_KEY}) as gw:
        yield gw


@pytest.fixture(autouse=True)
def fresh(upstream: FakeAnthropic) -> None:
    upstream.reset()


@pytest.fixture
def client(gateway: RunningGateway) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


@pytest.fixture
async def aclient(gateway: RunningGateway) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=gateway.url, api_key=MASTER_KEY, max_retries=0) as c:
        yield c


def expected_usage(reported: dict[str, Any]) -> dict[str, int]:
    """What the gateway must report for Anthropic's numbers: cache reads and writes count inside prompt_tokens."""
    prompt = reported["input_tokens"] + reported["cache_read_input_tokens"] + reported["cache_creation_input_tokens"]
    return {
        "prompt_tokens": prompt,
        "completion_tokens": reported["output_tokens"],
        "total_tokens": prompt + reported["output_tokens"],
        "cached_tokens": reported["cache_read_input_tokens"],
        "reasoning_tokens": (reported.get("output_tokens_details") or {}).get("thinking_tokens", 0),
    }


def usage_numbers(usage: Any) -> dict[str, int]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": usage.prompt_tokens_details.cached_tokens,
        "reasoning_tokens": usage.completion_tokens_details.reasoning_tokens,
    }


# --- answers --------------------------------------------------------------------------------------------------


def test_a_chat_answer_is_translated_and_the_fake_receives_the_exact_wire_body(
    client: openai.OpenAI, upstream: FakeAnthropic
) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="claude",
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}],
        max_tokens=100,
        temperature=0.5,
        stop=["zzz"],
        user="u-42",
    )
    validate("CreateChatCompletionResponse", raw.http_response.json())
    response = raw.parse()
    assert response.choices[0].message.content == "echo: Hello there"
    assert response.choices[0].finish_reason == "stop"
    assert raw.headers["x-wardgate-provider"] == "claude"
    sent = upstream.last
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == UPSTREAM_KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.headers["anthropic-beta"] == "beta-a,beta-b"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 100,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Hello there"}],
        "stop_sequences": ["zzz"],
        "temperature": 0.5,
        "metadata": {"user_id": "u-42"},
    }


def test_the_usage_of_an_answer_is_the_providers_to_the_token(client: openai.OpenAI, upstream: FakeAnthropic) -> None:
    response = client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "count me"}])
    reported = upstream.usages[-1]
    assert reported["cache_read_input_tokens"] == CACHE_READ
    assert usage_numbers(response.usage) == expected_usage(reported)


def test_stop_sequences_and_max_tokens_set_the_finish_reason(client: openai.OpenAI) -> None:
    stopped = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "one two three"}], stop="two"
    )
    assert (stopped.choices[0].message.content, stopped.choices[0].finish_reason) == ("echo: one ", "stop")
    cut = client.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "one two three"}], max_completion_tokens=2
    )
    assert (cut.choices[0].message.content, cut.choices[0].finish_reason) == ("echo: one", "length")


def test_a_streamed_answer_concatenates_to_the_plain_answer(client: openai.OpenAI) -> None:
    messages: Any = [{"role": "user", "content": "stream these four words"}]
    plain = client.chat.completions.create(model="claude", messages=messages)
    text = ""
    finish = None
    with client.chat.completions.create(model="claude", messages=messages, stream=True) as stream:
        for chunk in stream:
            validate("CreateChatCompletionStreamResponse", chunk.to_dict())
            text += chunk.choices[0].delta.content or ""
            finish = chunk.choices[0].finish_reason or finish
    assert text == plain.choices[0].message.content == "echo: stream these four words"
    assert finish == "stop"


async def test_a_streamed_usage_chunk_carries_the_providers_numbers(
    aclient: openai.AsyncOpenAI, upstream: FakeAnthropic
) -> None:
    stream = await aclient.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "usage please"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.to_dict())
    assert chunks[-1].choices == []
    assert usage_numbers(chunks[-1].usage) == expected_usage(upstream.usages[-1])
    assert all(chunk.usage is None for chunk in chunks[:-1])


async def test_without_include_usage_no_usage_chunk_is_sent(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    chunks = [chunk async for chunk in stream]
    assert all(chunk.choices for chunk in chunks)


def test_a_tool_round_trip_reaches_a_final_answer(client: openai.OpenAI, upstream: FakeAnthropic) -> None:
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])
    validate("CreateChatCompletionResponse", first.to_dict())
    assert first.choices[0].finish_reason == "tool_calls"
    calls = first.choices[0].message.tool_calls
    assert calls is not None and len(calls) == 1
    call: Any = calls[0]
    assert call.id.startswith("toolu_")
    assert (call.function.name, call.function.arguments) == ("get_weather", '{"city":"x"}')
    messages.append(first.choices[0].message.model_dump(exclude_none=True))
    messages.append({"role": "tool", "tool_call_id": call.id, "content": "18C and cloudy"})
    final = client.chat.completions.create(model="claude", messages=messages, tools=[WEATHER])
    assert final.choices[0].message.content == "tool said: 18C and cloudy"
    assert final.choices[0].finish_reason == "stop"
    assert upstream.last.json["messages"][1:] == [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": call.id, "name": "get_weather", "input": {"city": "x"}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C and cloudy"}]},
    ]


async def test_streamed_tool_calls_are_numbered_by_call_and_reassemble(aclient: openai.AsyncOpenAI) -> None:
    other: Any = {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}
    plain = await aclient.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "both"}], tools=[WEATHER, other]
    )
    stream = await aclient.chat.completions.create(
        model="claude", messages=[{"role": "user", "content": "both"}], tools=[WEATHER, other], stream=True
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    async for chunk in stream:
        validate("CreateChatCompletionStreamResponse", chunk.to_dict())
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            assert delta.function is not None
            entry["name"] += delta.function.name or ""
            entry["arguments"] += delta.function.arguments or ""
        finish = chunk.choices[0].finish_reason or finish
    assert finish == "tool_calls"
    assert plain.choices[0].message.tool_calls is not None
    expected = {
        i: {"id": c.id, "name": c.function.name, "arguments": c.function.arguments}  # type: ignore[union-attr]
        for i, c in enumerate(plain.choices[0].message.tool_calls)
    }
    assert calls == expected
    assert len(calls) == 2


def test_an_image_input_reaches_the_provider_as_an_image_block(client: openai.OpenAI, upstream: FakeAnthropic) -> None:
    response = client.chat.completions.create(
        model="claude",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "describe"},
                    {"type": "image_url", "image_url": {"url": PIXEL}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                ],
            }
        ],
    )
    assert response.choices[0].message.content == "echo: describe [image] [image]"
    blocks = upstream.last.json["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PIXEL.split(",", 1)[1]},
    }
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}


def test_thinking_blocks_survive_a_multi_turn_round_trip(client: openai.OpenAI, upstream: FakeAnthropic) -> None:
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    messages: list[Any] = [{"role": "user", "content": "Weather in Paris?"}]
    first = client.chat.completions.create(
        model="claude", messages=messages, tools=[WEATHER], max_tokens=2000, extra_body=thinking
    )
    message = first.choices[0].message.model_dump(exclude_none=True)
    assert message["reasoning_content"] == "Thinking about: Weather in Paris?"
    block = message["thinking_blocks"][0]
    assert block["type"] == "thinking" and block["signature"].startswith("sig-")
    assert first.usage is not None
    assert usage_numbers(first.usage) == expected_usage(upstream.usages[-1])
    assert first.usage.completion_tokens_details is not None
    assert first.usage.completion_tokens_details.reasoning_tokens == 5  # "Thinking about: Weather in Paris?"
    messages.append(message)
    messages.append({"role": "tool", "tool_call_id": message["tool_calls"][0]["id"], "content": "sunny"})
    final = client.chat.completions.create(
        model="claude", messages=messages, tools=[WEATHER], max_tokens=2000, extra_body=thinking
    )
    assert final.choices[0].message.content == "tool said: sunny"
    assert upstream.last.json["messages"][1]["content"][0] == block


def test_a_streamed_thinking_block_arrives_whole_with_its_signature(client: openai.OpenAI) -> None:
    kwargs: Any = {
        "model": "claude",
        "messages": [{"role": "user", "content": "think"}],
        "max_tokens": 2000,
        "extra_body": {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    }
    plain = client.chat.completions.create(**kwargs).choices[0].message.model_dump()
    reasoning, blocks = "", list[Any]()
    with client.chat.completions.create(stream=True, **kwargs) as stream:
        for chunk in stream:
            extra = chunk.choices[0].delta.model_extra or {}
            reasoning += extra.get("reasoning_content") or ""
            blocks += extra.get("thinking_blocks") or []
    assert reasoning == plain["reasoning_content"]
    assert blocks == plain["thinking_blocks"]


def test_structured_outputs_are_sent_as_output_config(client: openai.OpenAI, upstream: FakeAnthropic) -> None:
    schema: dict[str, object] = {"type": "object", "properties": {"echo": {"type": "string"}}, "required": ["echo"]}
    response = client.chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "json please"}],
        response_format={"type": "json_schema", "json_schema": {"name": "echo", "schema": schema}},
    )
    assert response.choices[0].message.content == '{"echo":"json please"}'
    assert upstream.last.json["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


# --- legacy completions and embeddings --------------------------------------------------------------------------


def test_a_legacy_completion_is_one_user_message(client: openai.OpenAI, upstream: FakeAnthropic) -> None:
    raw = client.completions.with_raw_response.create(model="claude", prompt="Say hi", max_tokens=20)
    validate("CreateCompletionResponse", raw.http_response.json())
    response = raw.parse()
    assert response.choices[0].text == "echo: Say hi"
    assert upstream.last.json["messages"] == [{"role": "user", "content": "Say hi"}]
    assert response.usage is not None
    assert response.usage.prompt_tokens == expected_usage(upstream.usages[-1])["prompt_tokens"]
    stream = client.completions.create(
        model="claude", prompt="Say hi", stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "echo: Say hi"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == response.usage.total_tokens


def test_embeddings_are_refused_with_a_400_naming_the_model(client: openai.OpenAI, upstream: FakeAnthropic) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="claude", input="x")
    assert caught.value.code == "unsupported_by_provider"
    validate("ErrorResponse", caught.value.response.json())
    assert upstream.requests == []


# --- errors -------------------------------------------------------------------------------------------------------


def test_an_unsupported_feature_is_a_400_naming_it_and_nothing_is_sent(
    client: openai.OpenAI, upstream: FakeAnthropic
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="claude", messages=[{"role": "user", "content": "x"}], n=2)
    assert caught.value.param == "n"
    assert caught.value.code == "unsupported_by_provider"
    assert "anthropic does not support" in caught.value.message
    validate("ErrorResponse", caught.value.response.json())
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model="claude", messages=[{"role": "user", "content": "x"}], response_format={"type": "json_object"}
        )
    assert caught.value.param == "response_format"
    assert upstream.requests == []


def test_a_provider_429_is_a_rate_limit_error_with_retry_after(client: openai.OpenAI) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="rate-limited", messages=[{"role": "user", "content": "x"}])
    assert caught.value.response.headers["retry-after"] == "7"
    validate("ErrorResponse", caught.value.response.json())
    assert "rate limit" in caught.value.message


async def test_a_provider_500_is_an_openai_shaped_server_error(aclient: openai.AsyncOpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        await aclient.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 502
    body = caught.value.response.json()
    validate("ErrorResponse", body)
    assert body["error"]["message"] == "claude: Internal server error"
    with pytest.raises(openai.InternalServerError) as caught:
        await aclient.chat.completions.create(model="broken", messages=[{"role": "user", "content": "x"}], stream=True)


def test_an_overloaded_provider_is_a_503(client: openai.OpenAI) -> None:
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="overloaded", messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 503
    assert caught.value.code == "upstream_overloaded"


def test_a_rejected_provider_key_is_a_502_that_does_not_show_the_key(gateway: RunningGateway) -> None:
    with httpx.Client() as http:
        response = http.post(
            gateway.url + "/chat/completions",
            json={"model": "misconfigured", "messages": [{"role": "user", "content": "x"}]},
            headers={"authorization": f"Bearer {MASTER_KEY}"},
        )
    assert response.status_code == 502
    validate("ErrorResponse", response.json())
    assert response.json()["error"]["code"] == "upstream_auth_error"
    assert WRONG_KEY not in response.text and UPSTREAM_KEY not in response.text


def test_an_error_event_mid_stream_reaches_the_client_as_an_error(client: openai.OpenAI) -> None:
    text = ""
    with pytest.raises(openai.APIError) as caught:
        stream = client.chat.completions.create(
            model="fails-mid-stream", messages=[{"role": "user", "content": "x y"}], stream=True
        )
        for chunk in stream:
            text += chunk.choices[0].delta.content or ""
    assert text == "echo:"
    assert caught.value.message == "claude: Overloaded"


def test_a_stream_cut_by_the_provider_ends_with_an_error(client: openai.OpenAI) -> None:
    with pytest.raises(openai.APIError) as caught:
        stream = client.chat.completions.create(
            model="reset-stream", messages=[{"role": "user", "content": "a b c d e"}], stream=True
        )
        for _ in stream:
            pass
    assert caught.value.message.startswith("claude: ")
