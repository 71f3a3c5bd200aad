"""The pure Bedrock Converse translation: OpenAI chat request → Converse body, Converse answer → OpenAI."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.openapi_schema import validate
from wardgate.core.errors import InvalidRequest, UnsupportedOperation
from wardgate.core.usage import Usage
from wardgate.providers.bedrock.translate import FINISH_REASONS, from_wire, to_wire, usage_from_wire

GOLDEN = Path(__file__).parent / "golden" / "bedrock"
CASES = sorted(p.name.removesuffix(".request.json") for p in GOLDEN.glob("*.request.json"))
MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages) or [user("hi")], **fields}


def weather_tool() -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }


def tool_history() -> list[dict[str, Any]]:
    return [
        user("weather?"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "t1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "sunny"},
    ]


# --- golden files -------------------------------------------------------------------------------------


def test_every_required_case_has_a_golden_file() -> None:
    assert {"basic_system", "tool_round_trip", "image_part", "tools_tool_choice", "sampling"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_the_wire_body_matches_the_golden_file(case: str) -> None:
    request = json.loads((GOLDEN / f"{case}.request.json").read_text())
    wire = to_wire(request, MODEL)
    path = GOLDEN / f"{case}.wire.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(wire, indent=2, ensure_ascii=False) + "\n")
    assert wire == json.loads(path.read_text())


# --- request ------------------------------------------------------------------------------------------


def test_consecutive_messages_of_one_role_merge_and_tool_results_join_the_next_user_turn() -> None:
    wire = to_wire(
        chat(user("a"), user([{"type": "text", "text": "b"}]), *tool_history()[1:], user("c"), tools=[weather_tool()]),
        MODEL,
    )
    assert [m["role"] for m in wire["messages"]] == ["user", "assistant", "user"]
    assert wire["messages"][0]["content"] == [{"text": "a"}, {"text": "b"}]
    assert wire["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "sunny"}]}},
        {"text": "c"},
    ]


def test_a_system_message_anywhere_goes_to_the_system_blocks_in_order() -> None:
    wire = to_wire(
        chat({"role": "system", "content": "one"}, user("hi"), {"role": "developer", "content": "two"}), MODEL
    )
    assert wire["system"] == [{"text": "one"}, {"text": "two"}]
    assert wire["messages"] == [{"role": "user", "content": [{"text": "hi"}]}]


def test_tool_call_ids_and_arguments_become_tool_use_blocks() -> None:
    wire = to_wire(chat(*tool_history(), tools=[weather_tool()]), MODEL)
    assert wire["messages"][1] == {
        "role": "assistant",
        "content": [{"toolUse": {"toolUseId": "t1", "name": "get_weather", "input": {}}}],
    }


@pytest.mark.parametrize("arguments", ["not json", "[1, 2]", '"text"'])
def test_tool_call_arguments_must_be_a_json_object(arguments: str) -> None:
    history = tool_history()
    history[1]["tool_calls"][0]["function"]["arguments"] = arguments
    with pytest.raises(InvalidRequest) as caught:
        to_wire(chat(*history, tools=[weather_tool()]), MODEL)
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


def test_an_empty_tool_result_is_an_empty_content_list_not_a_blank_text_block() -> None:
    history = tool_history()
    history[2]["content"] = ""
    wire = to_wire(chat(*history, tools=[weather_tool()]), MODEL)
    assert wire["messages"][2]["content"] == [{"toolResult": {"toolUseId": "t1", "content": []}}]


def test_an_assistant_refusal_part_is_kept_as_text() -> None:
    wire = to_wire(chat(user("x"), {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}), MODEL)
    assert wire["messages"][1]["content"] == [{"text": "No."}]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
        (None, None),
    ],
)
def test_tool_choice_maps_to_converse(choice: Any, expected: dict[str, Any] | None) -> None:
    wire = to_wire(chat(tools=[weather_tool()], tool_choice=choice), MODEL)
    assert wire["toolConfig"].get("toolChoice") == expected


def test_tool_choice_none_withholds_the_tools() -> None:
    wire = to_wire(chat(tools=[weather_tool()], tool_choice="none"), MODEL)
    assert "toolConfig" not in wire


def test_tool_choice_none_is_refused_once_the_conversation_holds_tool_calls() -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        to_wire(chat(*tool_history(), tools=[weather_tool()], tool_choice="none"), MODEL)
    assert caught.value.param == "tool_choice"
    assert caught.value.status == 400
    assert str(caught.value).startswith("bedrock does not support tool_choice 'none'")


def test_a_tool_without_parameters_gets_an_empty_object_schema() -> None:
    wire = to_wire(chat(tools=[{"type": "function", "function": {"name": "now"}}]), MODEL)
    assert wire["toolConfig"]["tools"] == [
        {"toolSpec": {"name": "now", "inputSchema": {"json": {"type": "object", "properties": {}}}}}
    ]


def test_max_completion_tokens_wins_over_max_tokens_and_a_single_stop_string_is_a_list() -> None:
    wire = to_wire(chat(max_tokens=10, max_completion_tokens=20, stop="END"), MODEL)
    assert wire["inferenceConfig"] == {"maxTokens": 20, "stopSequences": ["END"]}
    assert to_wire(chat(max_tokens=10), MODEL)["inferenceConfig"] == {"maxTokens": 10}


def test_a_request_without_parameters_has_no_inference_config() -> None:
    assert to_wire(chat(), MODEL) == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"frequency_penalty": -1}, "frequency_penalty"),
        ({"seed": 42}, "seed"),
        ({"parallel_tool_calls": False, "tools": [weather_tool()]}, "parallel_tool_calls"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"top_k": 5}, "top_k"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"tools": [{"type": "custom", "custom": {"name": "grammar"}}]}, "tools[0].type"),
        ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {}}, "tools": [weather_tool()]}, "tool_choice"),
    ],
)
def test_features_converse_cannot_express_are_refused_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        to_wire(chat(**fields), MODEL)
    assert caught.value.param == param
    assert caught.value.status == 400
    assert str(caught.value).startswith("bedrock does not support")


@pytest.mark.parametrize(
    "fields",
    [
        {"user": "u1", "safety_identifier": "s", "store": True, "metadata": {"k": "v"}, "service_tier": "auto"},
        {"prompt_cache_key": "k"},
        {"n": 1, "logprobs": False, "presence_penalty": 0, "frequency_penalty": 0.0, "logit_bias": {}},
        {"parallel_tool_calls": True, "modalities": ["text"], "seed": None, "response_format": {"type": "text"}},
    ],
)
def test_fields_that_do_not_change_the_answer_are_accepted(fields: dict[str, Any]) -> None:
    assert to_wire(chat(**fields), MODEL) == {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}


def test_a_boolean_is_not_taken_for_a_neutral_number() -> None:
    with pytest.raises(UnsupportedOperation):
        to_wire(chat(n=True), MODEL)


@pytest.mark.parametrize("url", ["https://example.com/cat.png", "http://example.com/cat.png"])
def test_image_urls_are_refused_because_converse_needs_the_bytes(url: str) -> None:
    message = user([{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}])
    with pytest.raises(UnsupportedOperation) as caught:
        to_wire(chat(message), MODEL)
    assert caught.value.param == "messages[0].content[1].image_url.url"


def test_an_image_data_url_must_be_base64() -> None:
    message = user([{"type": "image_url", "image_url": {"url": "data:image/png,rawbytes"}}])
    with pytest.raises(InvalidRequest) as caught:
        to_wire(chat(message), MODEL)
    assert caught.value.param == "messages[0].content[0].image_url.url"


def test_an_image_type_converse_does_not_take_is_refused() -> None:
    message = user([{"type": "image_url", "image_url": {"url": f"data:image/bmp;base64,{PNG}"}}])
    with pytest.raises(UnsupportedOperation, match="image/bmp"):
        to_wire(chat(message), MODEL)


@pytest.mark.parametrize(
    ("message", "param"),
    [
        (user([{"type": "input_audio", "input_audio": {"data": "x", "format": "wav"}}]), "messages[0].content[0]"),
        (user([{"type": "file", "file": {"file_id": "f"}}]), "messages[0].content[0]"),
        ({"role": "function", "name": "f", "content": "x"}, "messages[0].role"),
        ({"role": "system", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}, "messages[0].content[0]"),
    ],
)
def test_content_converse_cannot_take_is_refused(message: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        to_wire(chat(message), MODEL)
    assert caught.value.param == param


def test_the_legacy_function_call_on_an_assistant_message_is_refused() -> None:
    message = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}}
    with pytest.raises(UnsupportedOperation) as caught:
        to_wire(chat(user("x"), message), MODEL)
    assert caught.value.param == "messages[1].function_call"


@pytest.mark.parametrize("control", [{"type": "persistent"}, {"type": "ephemeral", "ttl": "2h"}])
def test_cache_control_beyond_what_converse_offers_is_refused(control: dict[str, Any]) -> None:
    message = user([{"type": "text", "text": "x", "cache_control": control}])
    with pytest.raises(UnsupportedOperation):
        to_wire(chat(message), MODEL)


def test_a_json_schema_response_format_needs_a_schema_object() -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_wire(chat(response_format={"type": "json_schema", "json_schema": {"name": "x"}}), MODEL)
    assert caught.value.param == "response_format.json_schema.schema"


# --- answer -------------------------------------------------------------------------------------------


def converse_answer(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": {"inputTokens": 11, "outputTokens": 7, "totalTokens": 18, **usage},
        "metrics": {"latencyMs": 100},
    }


def test_a_text_answer_becomes_a_chat_completion() -> None:
    out = from_wire(
        converse_answer([{"text": "Hello "}, {"text": "world"}]), model=MODEL, response_id="chatcmpl-1", created=7
    )
    validate("CreateChatCompletionResponse", out)
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello world", "refusal": None},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    assert (out["id"], out["created"], out["model"]) == ("chatcmpl-1", 7, MODEL)
    assert out["usage"]["prompt_tokens"] == 11 and out["usage"]["completion_tokens"] == 7


def test_tool_use_blocks_become_tool_calls_keeping_their_ids() -> None:
    answer = converse_answer(
        [
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "tooluse_abc", "name": "get_weather", "input": {"city": "Paris"}}},
            {"toolUse": {"toolUseId": "tooluse_def", "name": "now", "input": {}}},
        ],
        stop="tool_use",
    )
    out = from_wire(answer, model=MODEL, response_id="chatcmpl-2", created=1)
    validate("CreateChatCompletionResponse", out)
    message = out["choices"][0]["message"]
    assert message["content"] == "Let me check."
    assert message["tool_calls"] == [
        {"id": "tooluse_abc", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "tooluse_def", "type": "function", "function": {"name": "now", "arguments": "{}"}},
    ]
    assert out["choices"][0]["finish_reason"] == "tool_calls"


def test_a_tool_only_answer_has_null_content() -> None:
    answer = converse_answer([{"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}], stop="tool_use")
    assert from_wire(answer, model=MODEL, response_id="x", created=1)["choices"][0]["message"]["content"] is None


def test_reasoning_text_is_kept_apart_from_the_content() -> None:
    answer = converse_answer(
        [{"reasoningContent": {"reasoningText": {"text": "Think.", "signature": "sig"}}}, {"text": "Done."}]
    )
    message = from_wire(answer, model=MODEL, response_id="x", created=1)["choices"][0]["message"]
    assert message["content"] == "Done."
    assert message["reasoning_content"] == "Think."


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("model_context_window_exceeded", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("malformed_model_output", "stop"),
        ("a_reason_added_later", "stop"),
    ],
)
def test_stop_reasons_map_to_openai_finish_reasons(stop: str, finish: str) -> None:
    out = from_wire(converse_answer([{"text": "x"}], stop=stop), model=MODEL, response_id="x", created=1)
    assert out["choices"][0]["finish_reason"] == finish


def test_every_documented_stop_reason_has_a_mapping() -> None:
    documented = {
        "end_turn", "tool_use", "max_tokens", "stop_sequence", "guardrail_intervened", "content_filtered",
        "malformed_model_output", "malformed_tool_use", "model_context_window_exceeded",
    }  # fmt: skip
    assert documented == set(FINISH_REASONS)


def test_cache_reads_and_writes_are_added_to_the_prompt_tokens() -> None:
    usage = usage_from_wire(
        {
            "inputTokens": 5,
            "outputTokens": 9,
            "totalTokens": 314,
            "cacheReadInputTokens": 200,
            "cacheWriteInputTokens": 100,
        }
    )
    assert usage == Usage(input_tokens=305, output_tokens=9, cached_tokens=200, cache_write_tokens=100)
    out = from_wire(
        converse_answer([{"text": "x"}], cacheReadInputTokens=200, cacheWriteInputTokens=100),
        model=MODEL,
        response_id="x",
        created=1,
    )
    assert out["usage"]["prompt_tokens"] == 311
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 200
    assert out["usage"]["total_tokens"] == 318
