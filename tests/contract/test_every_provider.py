"""Issue 3's acceptance: the same OpenAI SDK script and the same Anthropic SDK script run unchanged against a model
of every provider type, and the usage the gateway reports equals what the provider's fake reported, to the token.

The scripts are what a user writes from each SDK's documentation (the answer's message appended as it came back, the
Anthropic content blocks sent back as they came), with no branch on the provider: what differs between providers
(the text each fake answers, the arguments it fills in) comes from the ``Upstream`` row of ``conftest.py``.
"""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai

from tests.contract.conftest import PROVIDER_TYPES, Upstream
from tests.openapi_schema import validate
from wardgate.providers.presets import PRESETS
from wardgate.providers.registry import provider_types

SYSTEM = "Be brief."
QUESTION = "Say hello to Ada."
WEATHER_QUESTION = "What is the weather in Paris?"
RESULT = '{"temp_c":21}'  # compact JSON: Gemini's fake echoes a function response re-serialised compactly
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
OPENAI_TOOL: Any = {
    "type": "function",
    "function": {"name": "get_weather", "description": "Current weather in a city.", "parameters": WEATHER_SCHEMA},
}
ANTHROPIC_TOOL: Any = {
    "name": "get_weather",
    "description": "Current weather in a city.",
    "input_schema": WEATHER_SCHEMA,
}


def test_every_registered_wire_format_is_in_the_suite() -> None:
    """A new provider type joins this suite; OpenAI-compatible presets share the openai row's wire format."""
    compatible = set(PRESETS) - {"openai"}
    formats = set(provider_types()) - compatible - {"mock"}
    assert formats == set(PROVIDER_TYPES)


# --- the OpenAI SDK script -----------------------------------------------------------------------------------


def openai_usage(usage: Any) -> dict[str, int]:
    prompt_details = usage.prompt_tokens_details
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
        "cached_tokens": prompt_details.cached_tokens,
        "cache_write_tokens": prompt_details.to_dict().get("cache_write_tokens", 0),  # Wardgate's extension
        "reasoning_tokens": usage.completion_tokens_details.reasoning_tokens,
    }


def create(client: openai.OpenAI, upstream: Upstream, **kwargs: Any) -> Any:
    """A chat completion, its JSON checked against OpenAI's schema and the deployment that served it checked."""
    raw = client.chat.completions.with_raw_response.create(model=upstream.model, **kwargs)
    validate("CreateChatCompletionResponse", raw.http_response.json())
    assert raw.headers["x-wardgate-provider"] == upstream.type
    return raw.parse()


def test_openai_sdk_chat(openai_client: openai.OpenAI, upstream: Upstream) -> None:
    completion = create(
        openai_client,
        upstream,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
    )
    choice = completion.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == upstream.says(QUESTION)
    assert choice.finish_reason == "stop"
    assert openai_usage(completion.usage) == upstream.reported().openai()


def test_openai_sdk_stream(openai_client: openai.OpenAI, upstream: Upstream) -> None:
    stream = openai_client.chat.completions.create(
        model=upstream.model,
        messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": QUESTION}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.to_dict())
    *content, last = chunks
    assert "".join(c.choices[0].delta.content or "" for c in content) == upstream.says(QUESTION)
    assert [c.choices[0].finish_reason for c in content if c.choices[0].finish_reason] == ["stop"]
    assert all(c.usage is None for c in content)
    assert last.choices == []
    assert openai_usage(last.usage) == upstream.reported().openai()


def test_openai_sdk_tool_round_trip(openai_client: openai.OpenAI, upstream: Upstream) -> None:
    messages: list[Any] = [{"role": "user", "content": WEATHER_QUESTION}]
    first = create(openai_client, upstream, messages=messages, tools=[OPENAI_TOOL])
    message = first.choices[0].message
    assert first.choices[0].finish_reason == "tool_calls"
    calls = [(call.function.name, json.loads(call.function.arguments)) for call in message.tool_calls]
    assert calls == [("get_weather", upstream.tool_arguments)]
    assert openai_usage(first.usage) == upstream.reported().openai()

    messages.append(message)
    messages.append({"role": "tool", "tool_call_id": message.tool_calls[0].id, "content": RESULT})
    final = create(openai_client, upstream, messages=messages, tools=[OPENAI_TOOL])
    assert final.choices[0].message.content == upstream.says_after_tool(RESULT)
    assert final.choices[0].finish_reason == "stop"
    assert openai_usage(final.usage) == upstream.reported().openai()


def test_openai_sdk_streamed_tool_call(openai_client: openai.OpenAI, upstream: Upstream) -> None:
    stream = openai_client.chat.completions.create(
        model=upstream.model,
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
        tools=[OPENAI_TOOL],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.to_dict())
    *content, last = chunks
    calls: dict[int, dict[str, str]] = {}
    for chunk in content:
        for delta in chunk.choices[0].delta.tool_calls or []:
            call = calls.setdefault(delta.index, {"name": "", "arguments": ""})
            if delta.function is not None:
                call["name"] += delta.function.name or ""
                call["arguments"] += delta.function.arguments or ""
    assert [(c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        ("get_weather", upstream.tool_arguments)
    ]
    assert [c.choices[0].finish_reason for c in content if c.choices[0].finish_reason] == ["tool_calls"]
    assert openai_usage(last.usage) == upstream.reported().openai()


# --- the Anthropic SDK script --------------------------------------------------------------------------------


def anthropic_usage(usage: anthropic.types.Usage) -> dict[str, int]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_read_input_tokens": usage.cache_read_input_tokens or 0,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens or 0,
        "output_tokens": usage.output_tokens,
    }


def text_of(message: anthropic.types.Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def test_anthropic_sdk_messages_create(anthropic_client: anthropic.Anthropic, upstream: Upstream) -> None:
    raw = anthropic_client.messages.with_raw_response.create(
        model=upstream.model, max_tokens=64, system=SYSTEM, messages=[{"role": "user", "content": QUESTION}]
    )
    assert raw.headers["x-wardgate-provider"] == upstream.type
    message = raw.parse()
    assert message.role == "assistant"
    assert message.model == upstream.model
    assert text_of(message) == upstream.says(QUESTION)
    assert message.stop_reason == "end_turn"
    assert anthropic_usage(message.usage) == upstream.reported().anthropic()


def test_anthropic_sdk_messages_stream(anthropic_client: anthropic.Anthropic, upstream: Upstream) -> None:
    with anthropic_client.messages.stream(
        model=upstream.model, max_tokens=64, system=SYSTEM, messages=[{"role": "user", "content": QUESTION}]
    ) as stream:
        streamed = "".join(stream.text_stream)
        message = stream.get_final_message()
    assert streamed == text_of(message) == upstream.says(QUESTION)
    assert message.stop_reason == "end_turn"
    assert anthropic_usage(message.usage) == upstream.reported().anthropic()


def test_anthropic_sdk_tool_round_trip(anthropic_client: anthropic.Anthropic, upstream: Upstream) -> None:
    messages: list[Any] = [{"role": "user", "content": WEATHER_QUESTION}]
    first = anthropic_client.messages.create(
        model=upstream.model, max_tokens=64, messages=messages, tools=[ANTHROPIC_TOOL]
    )
    assert first.stop_reason == "tool_use"
    uses = [block for block in first.content if block.type == "tool_use"]
    assert [(use.name, use.input) for use in uses] == [("get_weather", upstream.tool_arguments)]
    assert anthropic_usage(first.usage) == upstream.reported().anthropic()

    messages.append({"role": "assistant", "content": first.content})
    messages.append(
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": RESULT}]}
    )
    final = anthropic_client.messages.create(
        model=upstream.model, max_tokens=64, messages=messages, tools=[ANTHROPIC_TOOL]
    )
    assert text_of(final) == upstream.says_after_tool(RESULT)
    assert final.stop_reason == "end_turn"
    assert anthropic_usage(final.usage) == upstream.reported().anthropic()


def test_anthropic_sdk_streamed_tool_use(anthropic_client: anthropic.Anthropic, upstream: Upstream) -> None:
    with anthropic_client.messages.stream(
        model=upstream.model,
        max_tokens=64,
        messages=[{"role": "user", "content": WEATHER_QUESTION}],
        tools=[ANTHROPIC_TOOL],
    ) as stream:
        message = stream.get_final_message()
    assert message.stop_reason == "tool_use"
    uses = [block for block in message.content if block.type == "tool_use"]
    assert [(use.name, use.input) for use in uses] == [("get_weather", upstream.tool_arguments)]
    assert anthropic_usage(message.usage) == upstream.reported().anthropic()
