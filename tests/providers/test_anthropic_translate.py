"""The Anthropic translation functions, without I/O: golden wire bodies, refusals, answers and stream events."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import anthropic as fake
from tests.openapi_schema import validate
from wardgate.core.call import Chunk
from wardgate.core.errors import InvalidRequest, UnsupportedOperation, UpstreamError, UpstreamRateLimited
from wardgate.core.usage import Usage
from wardgate.providers.anthropic import AnthropicConfig, build
from wardgate.providers.anthropic.completions import completion_chunk, completion_from_chat, completion_to_chat
from wardgate.providers.anthropic.request import to_wire
from wardgate.providers.anthropic.response import from_wire, usage_from_wire
from wardgate.providers.anthropic.stream import StreamState, translate_event

GOLDEN = Path(__file__).parent / "golden" / "anthropic"
CASES = sorted(p.name.removesuffix(".request.json") for p in GOLDEN.glob("*.request.json"))
MODEL = "claude-sonnet-4-5"


def chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages), **extra}


USER = {"role": "user", "content": "hi"}


# --- golden wire bodies -------------------------------------------------------------------------------------


def test_every_required_golden_case_is_present() -> None:
    required = {"basic_system", "tool_round_trip", "image_parts", "tools_and_choice", "sampling_and_stop"}
    assert required <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_the_wire_body_matches_the_golden_file(case: str) -> None:
    request = json.loads((GOLDEN / f"{case}.request.json").read_text())
    wire = to_wire(request, MODEL)
    expected_path = GOLDEN / f"{case}.wire.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_path.write_text(json.dumps(wire, indent=2, ensure_ascii=False) + "\n")
    assert wire == json.loads(expected_path.read_text())


def test_the_canonical_body_is_not_modified() -> None:
    request = json.loads((GOLDEN / "prompt_caching.request.json").read_text())
    before = json.dumps(request, sort_keys=True)
    to_wire(request, MODEL)
    assert json.dumps(request, sort_keys=True) == before


# --- request translation ------------------------------------------------------------------------------------


def test_the_provider_default_max_tokens_is_used_when_the_client_gives_none() -> None:
    assert to_wire(chat(USER), MODEL, default_max_tokens=777)["max_tokens"] == 777
    assert to_wire(chat(USER, max_tokens=5), MODEL, default_max_tokens=777)["max_tokens"] == 5


def test_consecutive_user_messages_merge_into_one_turn() -> None:
    wire = to_wire(chat(USER, {"role": "user", "content": "again"}), MODEL)
    assert wire["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "again"}]}
    ]


def test_a_system_message_after_the_first_turn_still_goes_to_the_top_level_system() -> None:
    wire = to_wire(chat({"role": "system", "content": "a"}, USER, {"role": "system", "content": "b"}), MODEL)
    assert wire["system"] == "a\n\nb"
    assert wire["messages"] == [{"role": "user", "content": "hi"}]


def test_tool_results_and_the_next_user_text_share_one_user_turn() -> None:
    wire = to_wire(json.loads((GOLDEN / "tool_round_trip.request.json").read_text()), MODEL)
    last = wire["messages"][-1]
    assert [b["type"] for b in last["content"]] == ["tool_result", "tool_result", "text"]
    assert [m["role"] for m in wire["messages"]] == ["user", "assistant", "user"]


def test_empty_tool_arguments_become_an_empty_input() -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "now", "arguments": ""}}
    wire = to_wire(chat(USER, {"role": "assistant", "content": None, "tool_calls": [call]}), MODEL)
    assert wire["messages"][1]["content"] == [{"type": "tool_use", "id": "t1", "name": "now", "input": {}}]


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_tool_arguments_that_are_not_a_json_object_are_a_400_naming_them(arguments: str) -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    with pytest.raises(InvalidRequest) as caught:
        to_wire(chat(USER, {"role": "assistant", "tool_calls": [call]}), MODEL)
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "f"}}, {"type": "tool", "name": "f"}),
    ],
)
def test_tool_choice_maps_to_anthropic_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    assert to_wire(chat(USER, tools=[TOOL], tool_choice=choice), MODEL)["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_tool_use_even_without_tool_choice() -> None:
    wire = to_wire(chat(USER, tools=[TOOL], parallel_tool_calls=False), MODEL)
    assert wire["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    wire = to_wire(chat(USER, tools=[TOOL], tool_choice="required", parallel_tool_calls=False), MODEL)
    assert wire["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


def test_a_tool_without_parameters_gets_an_empty_object_schema() -> None:
    tool = {"type": "function", "function": {"name": "now"}}
    assert to_wire(chat(USER, tools=[tool]), MODEL)["tools"] == [
        {"name": "now", "input_schema": {"type": "object", "properties": {}}}
    ]


def test_ignored_fields_are_not_sent_and_user_becomes_metadata_user_id() -> None:
    wire = to_wire(chat(USER, store=True, metadata={"a": "b"}, service_tier="auto", user="u-1"), MODEL)
    assert wire["metadata"] == {"user_id": "u-1"}
    assert "store" not in wire and "service_tier" not in wire


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"frequency_penalty": 0.5}, "frequency_penalty"),
        ({"presence_penalty": -1}, "presence_penalty"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"seed": 7}, "seed"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"reasoning_effort": "minimal"}, "reasoning_effort"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"some_future_field": 1}, "some_future_field"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        ({"tools": [TOOL], "tool_choice": {"type": "allowed_tools"}}, "tool_choice"),
    ],
)
def test_features_anthropic_cannot_express_are_refused_naming_the_field(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        to_wire(chat(USER, **extra), MODEL)
    assert caught.value.status == 400
    assert caught.value.param == param
    assert str(caught.value).startswith("anthropic does not support ")


@pytest.mark.parametrize(
    ("message", "param"),
    [
        ({"role": "function", "name": "f", "content": "x"}, "messages[0].role"),
        (
            {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]},
            "messages[0].content[0]",
        ),
        (
            {"role": "user", "content": [{"type": "file", "file": {"file_id": "file-abc"}}]},
            "messages[0].content[0].file",
        ),
        (
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,%89PNG"}}]},
            "messages[0].content[0].image_url",
        ),
        (
            {"role": "system", "content": [{"type": "image_url", "image_url": {"url": "https://x"}}]},
            "messages[0].content[0]",
        ),
        ({"role": "assistant", "content": None, "audio": {"id": "audio_1"}}, "messages[0].audio"),
    ],
)
def test_message_content_anthropic_cannot_express_is_refused(message: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        to_wire(chat(message), MODEL)
    assert caught.value.param == param


def test_tool_choice_without_tools_is_a_400() -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_wire(chat(USER, tool_choice="required"), MODEL)
    assert caught.value.param == "tool_choice"


# --- the answer ---------------------------------------------------------------------------------------------

# an answer as the Messages API documents it
DOCUMENTED_ANSWER: dict[str, Any] = {
    "id": "msg_013Zva2CMHLNnXjNJJKqJ2EF",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5-20250929",
    "content": [
        {
            "type": "thinking",
            "thinking": "The user wants weather.",
            "signature": "WaUjzkypQ2mUEVM36O2TxuC06KN8xyfbJwyem2dw3URve/op91XWHOEBLLqIOMfFG/UvLEczmEsUjavL",
        },
        {"type": "text", "text": "I'll check "},
        {"type": "text", "text": "the weather."},
        {
            "type": "tool_use",
            "id": "toolu_01A09q90qw90lq917835lq9",
            "name": "get_weather",
            "input": {"location": "San Francisco, CA"},
        },
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 2095,
        "cache_creation_input_tokens": 100,
        "cache_read_input_tokens": 1000,
        "output_tokens": 503,
        "output_tokens_details": {"thinking_tokens": 400},
    },
}


def test_an_answer_becomes_an_openai_chat_completion() -> None:
    out = from_wire(DOCUMENTED_ANSWER, created=1_700_000_000)
    validate("CreateChatCompletionResponse", out)
    choice = out["choices"][0]
    assert out["id"] == "msg_013Zva2CMHLNnXjNJJKqJ2EF" and out["created"] == 1_700_000_000
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] == "I'll check the weather."
    assert choice["message"]["tool_calls"] == [
        {
            "id": "toolu_01A09q90qw90lq917835lq9",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"location":"San Francisco, CA"}'},
        }
    ]
    assert choice["message"]["reasoning_content"] == "The user wants weather."
    assert choice["message"]["thinking_blocks"] == [DOCUMENTED_ANSWER["content"][0]]


def test_usage_counts_cache_reads_and_writes_inside_the_prompt_tokens() -> None:
    usage = usage_from_wire(DOCUMENTED_ANSWER["usage"])
    assert usage == Usage(
        input_tokens=3195, output_tokens=503, cached_tokens=1000, cache_write_tokens=100, reasoning_tokens=400
    )
    body = from_wire(DOCUMENTED_ANSWER)["usage"]
    assert (body["prompt_tokens"], body["completion_tokens"], body["total_tokens"]) == (3195, 503, 3698)
    assert body["prompt_tokens_details"]["cached_tokens"] == 1000
    assert body["completion_tokens_details"]["reasoning_tokens"] == 400


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
    ],
)
def test_stop_reasons_map_to_finish_reasons(stop_reason: str, finish_reason: str) -> None:
    answer = {**DOCUMENTED_ANSWER, "content": [{"type": "text", "text": "x"}], "stop_reason": stop_reason}
    assert from_wire(answer)["choices"][0]["finish_reason"] == finish_reason


def test_a_tool_only_answer_has_null_content() -> None:
    answer = {**DOCUMENTED_ANSWER, "content": DOCUMENTED_ANSWER["content"][3:]}
    message = from_wire(answer)["choices"][0]["message"]
    assert message["content"] is None
    assert "reasoning_content" not in message


def test_an_assistant_message_sent_back_reproduces_the_blocks_anthropic_returned() -> None:
    message = from_wire(DOCUMENTED_ANSWER)["choices"][0]["message"]
    results = [{"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "15C"}]
    wire = to_wire(chat(USER, message, *results), MODEL)
    content = DOCUMENTED_ANSWER["content"]
    assert wire["messages"][1]["content"] == [
        content[0],
        {"type": "text", "text": "I'll check the weather."},
        content[3],
    ]


# --- streaming ----------------------------------------------------------------------------------------------


def run_events(events: list[dict[str, Any]], include_usage: bool = False) -> tuple[list[Chunk], StreamState]:
    state = StreamState(include_usage=include_usage, created=1)
    chunks = [chunk for event in events for chunk in translate_event(event, state)]
    return chunks, state


def reassemble(chunks: list[Chunk]) -> dict[str, Any]:
    text, reasoning, finish = "", "", None
    calls: dict[int, dict[str, Any]] = {}
    blocks: list[dict[str, Any]] = []
    for chunk in chunks:
        for choice in chunk.data["choices"]:
            delta = choice["delta"]
            text += delta.get("content") or ""
            reasoning += delta.get("reasoning_content") or ""
            blocks += delta.get("thinking_blocks") or []
            for call in delta.get("tool_calls") or []:
                entry = calls.setdefault(call["index"], {"id": None, "name": None, "arguments": ""})
                entry["id"] = call.get("id") or entry["id"]
                entry["name"] = call.get("function", {}).get("name") or entry["name"]
                entry["arguments"] += call.get("function", {}).get("arguments") or ""
            finish = choice["finish_reason"] or finish
    return {"text": text, "reasoning": reasoning, "calls": calls, "blocks": blocks, "finish": finish}


def fake_answer(**body: Any) -> dict[str, Any]:
    request = {"model": "claude-x", "max_tokens": 2000, "messages": [{"role": "user", "content": "one two"}], **body}
    return fake.message(request, "msg_1", cache_read=5, cache_write=7)


def test_a_stream_reassembles_to_the_same_answer_as_the_json_one() -> None:
    tools = [
        {"name": n, "input_schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}}
        for n in ("a", "b")
    ]
    answer = fake_answer(tools=tools, thinking={"type": "enabled", "budget_tokens": 1024})
    chunks, state = run_events(fake.stream_events(answer), include_usage=True)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.data)
    got = reassemble(chunks)
    expected = from_wire(answer)["choices"][0]
    assert chunks[0].data["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert got["finish"] == expected["finish_reason"] == "tool_calls"
    # thinking is content block 0: the tool calls are blocks 1 and 2 but OpenAI tool calls 0 and 1
    assert sorted(got["calls"]) == [0, 1]
    assert [
        {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
        for _, c in sorted(got["calls"].items())
    ] == expected["message"]["tool_calls"]
    assert got["reasoning"] == expected["message"]["reasoning_content"]
    assert got["blocks"] == expected["message"]["thinking_blocks"]
    assert state.finished


def test_streamed_usage_is_the_start_usage_plus_the_cumulative_final_output() -> None:
    answer = fake_answer()
    chunks, state = run_events(fake.stream_events(answer), include_usage=True)
    last = chunks[-1]
    assert last.data["choices"] == [] and last.usage is not None
    assert last.usage == usage_from_wire(answer["usage"])
    assert last.data["usage"] == from_wire(answer)["usage"]
    assert reassemble(chunks)["text"] == "echo: one two"


def test_without_include_usage_there_is_no_usage_chunk_but_the_state_knows_it() -> None:
    answer = fake_answer()
    chunks, state = run_events(fake.stream_events(answer))
    assert all(chunk.data["choices"] for chunk in chunks)
    assert state.current_usage() == usage_from_wire(answer["usage"])


def test_ping_and_unknown_events_produce_nothing() -> None:
    state = StreamState()
    assert translate_event({"type": "ping"}, state) == []
    assert translate_event({"type": "something_new", "x": 1}, state) == []


def test_an_error_event_raises_the_providers_error() -> None:
    event = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(UpstreamError) as caught:
        translate_event(event, StreamState(provider="claude"))
    assert caught.value.message == "claude: Overloaded"
    event = {"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}}
    with pytest.raises(UpstreamRateLimited):
        translate_event(event, StreamState())
    event = {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}}
    with pytest.raises(UpstreamError):
        translate_event(event, StreamState())


# --- legacy completions -------------------------------------------------------------------------------------


def test_a_completion_prompt_becomes_one_user_message() -> None:
    body = {"model": "m", "prompt": ["Say hi"], "max_tokens": 5, "echo": False, "best_of": 1, "stream": False}
    assert completion_to_chat(body) == {
        "model": "m",
        "max_tokens": 5,
        "stream": False,
        "messages": [{"role": "user", "content": "Say hi"}],
    }


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"echo": True}, "echo"),
        ({"best_of": 3}, "best_of"),
        ({"suffix": "end"}, "suffix"),
        ({"logprobs": 2}, "logprobs"),
        ({"prompt": ["a", "b"]}, "prompt"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"thinking": {"type": "enabled"}}, "thinking"),
    ],
)
def test_completion_features_anthropic_cannot_express_are_refused(extra: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        completion_to_chat({"model": "m", "prompt": "x", **extra})
    assert caught.value.param == param


def test_a_completion_answer_and_its_chunks_have_the_text_completion_shape() -> None:
    answer = fake_answer()
    usage = usage_from_wire(answer["usage"])
    out = completion_from_chat(from_wire(answer), usage)
    validate("CreateCompletionResponse", out)
    assert out["choices"][0]["text"] == "echo: one two"
    assert out["usage"] == {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    chunks, _ = run_events(fake.stream_events(answer), include_usage=True)
    converted = [c for c in map(completion_chunk, chunks) if c is not None]
    assert "".join(c.data["choices"][0]["text"] for c in converted if c.data["choices"]) == "echo: one two"
    assert converted[-2].data["choices"][0]["finish_reason"] == "stop"
    assert converted[-1].data["usage"] == out["usage"] and converted[-1].usage == usage


# --- config -------------------------------------------------------------------------------------------------


def test_the_config_sends_the_version_and_beta_headers() -> None:
    config = AnthropicConfig.model_validate(
        {"type": "anthropic", "api_key": "sk-ant-x", "base_url": "http://h:1/", "beta": ["a-1", "b-2"]}
    )
    adapter = build("claude", config, None)  # type: ignore[arg-type]
    assert adapter.url == "http://h:1/v1/messages"
    assert adapter.headers == {
        "x-api-key": "sk-ant-x",
        "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "anthropic-beta": "a-1,b-2",
    }
    assert adapter.supports("chat") and adapter.supports("completions") and not adapter.supports("embeddings")


@pytest.mark.parametrize(
    "fields",
    [{"api_key": ""}, {"api_key": "k", "base_url": "api.anthropic.com"}, {"api_key": "k", "version": "x"}],
)
def test_the_config_refuses_bad_values(fields: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        AnthropicConfig.model_validate({"type": "anthropic", **fields})
