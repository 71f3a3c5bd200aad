"""The pure Cohere v2 translation: OpenAI request → Cohere wire body, Cohere answers and stream events → OpenAI."""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from tests.openapi_schema import validate
from wardgate.core.errors import (
    InvalidRequest,
    UnsupportedOperation,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from wardgate.core.usage import Usage
from wardgate.providers import registry
from wardgate.providers.cohere import CohereConfig
from wardgate.providers.cohere.adapter import error_from_body
from wardgate.providers.cohere.embed import embed_from_wire, embed_to_wire, embed_usage_from_wire
from wardgate.providers.cohere.stream import StreamState, chunks_from_event
from wardgate.providers.cohere.translate import from_wire, to_wire, usage_from_wire

GOLDEN = Path(__file__).parent / "golden" / "cohere"
CASES = sorted(p.name.removesuffix(".request.json") for p in GOLDEN.glob("*.request.json"))
MODEL = "command-a-03-2025"


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [user("hi")], **fields}


# --- golden files -------------------------------------------------------------------------------------


def test_every_required_case_has_a_golden_file() -> None:
    assert {"basic_system", "tool_round_trip", "image_part", "tools_tool_choice", "sampling"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_the_wire_body_matches_the_golden_file(case: str) -> None:
    request = json.loads((GOLDEN / f"{case}.request.json").read_text())
    wire = to_wire(request, MODEL, stream=bool(request.get("stream")))
    path = GOLDEN / f"{case}.wire.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(wire, indent=2, ensure_ascii=False) + "\n")
    assert wire == json.loads(path.read_text())


# --- request ------------------------------------------------------------------------------------------


def test_system_and_developer_messages_both_become_system() -> None:
    wire = to_wire(chat(messages=[{"role": "developer", "content": "a"}, {"role": "system", "content": "b"}]), MODEL)
    assert [m["role"] for m in wire["messages"]] == ["system", "system"]
    assert wire["model"] == MODEL


def test_assistant_text_beside_tool_calls_is_sent_as_the_tool_plan() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    wire = to_wire(chat(messages=[user("x"), {"role": "assistant", "content": "Plan.", "tool_calls": [call]}]), MODEL)
    assert wire["messages"][1] == {"role": "assistant", "tool_plan": "Plan.", "tool_calls": [call]}


def test_max_completion_tokens_wins_over_max_tokens() -> None:
    assert to_wire(chat(max_tokens=5, max_completion_tokens=9), MODEL)["max_tokens"] == 9


def test_a_single_stop_string_becomes_a_list() -> None:
    assert to_wire(chat(stop="END"), MODEL)["stop_sequences"] == ["END"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [(None, None), ("auto", None), ("none", "NONE"), ("required", "REQUIRED")],
)
def test_tool_choice_maps_to_cohere_values(choice: str | None, expected: str | None) -> None:
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    wire = to_wire(chat(tools=[tool], tool_choice=choice), MODEL)
    assert wire.get("tool_choice") == expected


def test_tool_choice_none_without_tools_sends_nothing() -> None:
    assert "tool_choice" not in to_wire(chat(tool_choice="none"), MODEL)


def test_a_named_function_that_is_not_among_the_tools_is_a_bad_request() -> None:
    tool = {"type": "function", "function": {"name": "f"}}
    with pytest.raises(InvalidRequest) as caught:
        to_wire(chat(tools=[tool], tool_choice={"type": "function", "function": {"name": "g"}}), MODEL)
    assert caught.value.param == "tool_choice"


def test_a_tool_without_parameters_gets_an_empty_object_schema() -> None:
    wire = to_wire(chat(tools=[{"type": "function", "function": {"name": "now"}}]), MODEL)
    assert wire["tools"] == [
        {"type": "function", "function": {"name": "now", "parameters": {"type": "object", "properties": {}}}}
    ]


def test_json_object_response_format_and_text_format() -> None:
    assert to_wire(chat(response_format={"type": "json_object"}), MODEL)["response_format"] == {"type": "json_object"}
    assert "response_format" not in to_wire(chat(response_format={"type": "text"}), MODEL)


def test_fields_that_do_not_change_the_answer_are_not_sent() -> None:
    wire = to_wire(
        chat(
            user="u",
            store=True,
            metadata={"a": "b"},
            service_tier="auto",
            safety_identifier="s",
            prompt_cache_key="k",
            stream_options={"include_usage": True},
            temperature=None,
        ),
        MODEL,
    )
    assert set(wire) == {"model", "messages"}


def test_cohere_only_fields_pass_through() -> None:
    wire = to_wire(chat(safety_mode="STRICT", thinking={"type": "enabled", "token_budget": 100}, priority=2), MODEL)
    assert wire["safety_mode"] == "STRICT"
    assert wire["thinking"] == {"type": "enabled", "token_budget": 100}
    assert wire["priority"] == 2


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"reasoning_effort": "low"}, "reasoning_effort"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"messages": [{"role": "user", "content": "x", "name": "bob"}]}, "messages[0].name"),
        ({"messages": [{"role": "function", "name": "f", "content": "x"}]}, "messages[0].role"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "messages[0].content[0].type",
        ),
        (
            {"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": "u"}}]}]},
            "messages[0].content[0].type",
        ),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tools[0].type"),
        (
            {
                "tools": [
                    {"type": "function", "function": {"name": "a", "strict": True}},
                    {"type": "function", "function": {"name": "b"}},
                ]
            },
            "tools",
        ),
        ({"tool_choice": {"type": "allowed_tools", "allowed_tools": {}}}, "tool_choice"),
    ],
)
def test_what_cohere_cannot_express_is_refused_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        to_wire(chat(**fields), MODEL)
    assert caught.value.status == 400
    assert caught.value.param == param
    assert str(caught.value).startswith("cohere does not support")


# --- answer -------------------------------------------------------------------------------------------


def answer(**fields: Any) -> dict[str, Any]:
    return {
        "id": "a1b2",
        "finish_reason": "COMPLETE",
        "message": {"role": "assistant", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}]},
        "usage": {
            "billed_units": {"input_tokens": 5, "output_tokens": 2},
            "tokens": {"input_tokens": 71, "output_tokens": 2},
        },
        **fields,
    }


def test_a_text_answer_becomes_a_chat_completion() -> None:
    out = from_wire(answer(), MODEL, created=1700000000)
    validate("CreateChatCompletionResponse", out)
    assert out["id"] == "a1b2"
    assert out["model"] == MODEL
    assert out["created"] == 1700000000
    assert out["choices"][0]["message"] == {"role": "assistant", "content": "Hello!", "refusal": None}
    assert out["choices"][0]["finish_reason"] == "stop"
    assert out["usage"]["prompt_tokens"] == 71
    assert out["usage"]["completion_tokens"] == 2
    assert out["usage"]["total_tokens"] == 73


def test_tool_calls_keep_their_ids_and_the_plan_becomes_content() -> None:
    calls = [
        {
            "id": "get_weather_x1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
        }
    ]
    body = answer(
        finish_reason="TOOL_CALL", message={"role": "assistant", "tool_plan": "I will look.", "tool_calls": calls}
    )
    out = from_wire(body, MODEL)
    validate("CreateChatCompletionResponse", out)
    message = out["choices"][0]["message"]
    assert message["content"] == "I will look."
    assert message["tool_calls"] == calls
    assert out["choices"][0]["finish_reason"] == "tool_calls"


def test_tool_calls_without_a_plan_have_null_content() -> None:
    calls = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    out = from_wire(answer(finish_reason="TOOL_CALL", message={"role": "assistant", "tool_calls": calls}), MODEL)
    assert out["choices"][0]["message"]["content"] is None


def test_thinking_blocks_become_reasoning_content() -> None:
    content = [{"type": "thinking", "thinking": "Hmm."}, {"type": "text", "text": "Yes."}]
    out = from_wire(answer(message={"role": "assistant", "content": content}), MODEL)
    validate("CreateChatCompletionResponse", out)
    assert out["choices"][0]["message"]["content"] == "Yes."
    assert out["choices"][0]["message"]["reasoning_content"] == "Hmm."


@pytest.mark.parametrize(
    ("reason", "expected"),
    [("COMPLETE", "stop"), ("STOP_SEQUENCE", "stop"), ("MAX_TOKENS", "length"), ("TOOL_CALL", "tool_calls")],
)
def test_finish_reasons_map_to_openai(reason: str, expected: str) -> None:
    assert from_wire(answer(finish_reason=reason), MODEL)["choices"][0]["finish_reason"] == expected


def test_an_answer_that_ended_in_error_is_raised() -> None:
    with pytest.raises(UpstreamError):
        from_wire(answer(finish_reason="ERROR"), MODEL)
    with pytest.raises(UpstreamTimeout):
        from_wire(answer(finish_reason="TIMEOUT"), MODEL)


def test_usage_counts_tokens_not_billed_units_and_keeps_cached_tokens() -> None:
    usage = {
        "billed_units": {"input_tokens": 50, "output_tokens": 26},
        "tokens": {"input_tokens": 793, "output_tokens": 61},
        "cached_tokens": 176,
    }
    assert usage_from_wire(usage) == Usage(input_tokens=793, output_tokens=61, cached_tokens=176)


def test_usage_falls_back_to_billed_units_when_tokens_are_absent() -> None:
    assert usage_from_wire({"billed_units": {"input_tokens": 9, "output_tokens": 3}}) == Usage(9, 3)


def test_logprob_items_become_one_entry_each() -> None:
    items = [
        {"text": "Hel", "token_ids": [1], "logprobs": [-0.5]},
        {"text": "lo there", "token_ids": [2, 3], "logprobs": [-0.25, -1.0]},
    ]
    out = from_wire(answer(logprobs=items), MODEL)
    validate("CreateChatCompletionResponse", out)
    entries = out["choices"][0]["logprobs"]["content"]
    assert [(e["token"], e["logprob"]) for e in entries] == [("Hel", -0.5), ("lo there", -1.25)]
    assert entries[1]["bytes"] == list(b"lo there")


# --- stream -------------------------------------------------------------------------------------------


def run(events: list[dict[str, Any]], include_usage: bool = False) -> tuple[list[dict[str, Any]], StreamState]:
    state = StreamState(model=MODEL, created=1700000000, include_usage=include_usage)
    chunks = [c for event in events for c in chunks_from_event(event, state)]
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.data)
    return [c.data for c in chunks], state


START = {
    "id": "s1",
    "type": "message-start",
    "delta": {"message": {"role": "assistant", "content": [], "tool_plan": "", "tool_calls": [], "citations": []}},
}
USAGE = {"billed_units": {"input_tokens": 5, "output_tokens": 2}, "tokens": {"input_tokens": 70, "output_tokens": 2}}


def text_events(*words: str, finish: str = "COMPLETE") -> list[dict[str, Any]]:
    return [
        START,
        {"type": "content-start", "index": 0, "delta": {"message": {"content": {"type": "text", "text": ""}}}},
        *({"type": "content-delta", "index": 0, "delta": {"message": {"content": {"text": w}}}} for w in words),
        {"type": "content-end", "index": 0},
        {"type": "message-end", "delta": {"finish_reason": finish, "usage": USAGE}},
    ]


def test_a_text_stream_becomes_role_content_and_finish_chunks() -> None:
    chunks, state = run(text_events("Hola", " Juan"))
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hola"},
        {"content": " Juan"},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert {c["id"] for c in chunks} == {"s1"}
    assert state.finished
    assert state.usage == Usage(70, 2)


def test_the_usage_chunk_comes_last_and_only_when_asked() -> None:
    chunks, _ = run(text_events("x"), include_usage=True)
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == 70
    assert chunks[-1]["usage"]["completion_tokens"] == 2
    without, _ = run(text_events("x"))
    assert all("usage" not in c for c in without)


def test_tool_call_events_become_openai_tool_call_deltas() -> None:
    events = [
        START,
        {"type": "tool-plan-delta", "delta": {"message": {"tool_plan": "Voy"}}},
        {
            "type": "tool-call-start",
            "index": 1,
            "delta": {
                "message": {
                    "tool_calls": {"id": "db_1", "type": "function", "function": {"name": "db", "arguments": ""}}
                }
            },
        },
        {
            "type": "tool-call-delta",
            "index": 1,
            "delta": {"message": {"tool_calls": {"function": {"arguments": '{"q":'}}}},
        },
        {
            "type": "tool-call-delta",
            "index": 1,
            "delta": {"message": {"tool_calls": {"function": {"arguments": "1}"}}}},
        },
        {"type": "tool-call-end", "index": 1},
        {
            "type": "tool-call-start",
            "index": 2,
            "delta": {
                "message": {
                    "tool_calls": {"id": "t_2", "type": "function", "function": {"name": "time", "arguments": "{}"}}
                }
            },
        },
        {"type": "tool-call-end", "index": 2},
        {"type": "message-end", "delta": {"finish_reason": "TOOL_CALL", "usage": USAGE}},
    ]
    chunks, _ = run(events)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[1] == {"content": "Voy"}
    assert deltas[2] == {
        "tool_calls": [{"index": 0, "id": "db_1", "type": "function", "function": {"name": "db", "arguments": ""}}]
    }
    assert deltas[3] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"q":'}}]}
    assert deltas[4] == {"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}
    assert deltas[5]["tool_calls"][0]["index"] == 1
    assert deltas[6] == {"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_thinking_deltas_become_reasoning_content() -> None:
    events = [START, {"type": "content-delta", "index": 0, "delta": {"message": {"content": {"thinking": "Hmm"}}}}]
    chunks, _ = run(events)
    assert chunks[-1]["choices"][0]["delta"] == {"reasoning_content": "Hmm"}


def test_the_event_name_is_used_when_the_json_has_no_type() -> None:
    state = StreamState(model=MODEL, created=1, include_usage=False)
    chunks = chunks_from_event({"delta": {"message": {"content": {"text": "Hi"}}}}, state, "content-delta")
    assert [c.data["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}, {"content": "Hi"}]


def test_a_stream_that_ends_in_error_raises_with_cohere_s_message() -> None:
    state = StreamState(model=MODEL, created=1, include_usage=False)
    end = {"type": "message-end", "delta": {"finish_reason": "ERROR", "error": "bad output"}}
    with pytest.raises(UpstreamError, match="bad output"):
        chunks_from_event(end, state)


def test_citation_and_debug_events_are_passed_over() -> None:
    state = StreamState(model=MODEL, created=1, include_usage=False)
    assert chunks_from_event({"type": "citation-start", "index": 0, "delta": {}}, state) == []
    assert chunks_from_event({"type": "debug", "prompt": "p"}, state) == []


# --- embeddings ---------------------------------------------------------------------------------------


def test_embeddings_request_defaults_to_search_document_floats() -> None:
    wire = embed_to_wire({"model": "e", "input": "hello", "user": "u"}, "embed-v4.0")
    assert wire == {
        "model": "embed-v4.0",
        "texts": ["hello"],
        "input_type": "search_document",
        "embedding_types": ["float"],
    }


def test_embeddings_input_type_and_dimensions_are_sent() -> None:
    wire = embed_to_wire(
        {
            "model": "e",
            "input": ["a", "b"],
            "input_type": "search_query",
            "dimensions": 256,
            "encoding_format": "base64",
            "truncate": "END",
        },
        "embed-v4.0",
    )
    assert wire == {
        "model": "embed-v4.0",
        "texts": ["a", "b"],
        "input_type": "search_query",
        "embedding_types": ["float"],
        "output_dimension": 256,
        "truncate": "END",
    }


@pytest.mark.parametrize(("fields", "param"), [({"input": [[1, 2, 3]]}, "input"), ({"input": "x", "foo": 1}, "foo")])
def test_embeddings_refuse_what_cohere_cannot_embed(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        embed_to_wire({"model": "e", **fields}, "embed-v4.0")
    assert caught.value.param == param


EMBED_ANSWER = {
    "id": "e1",
    "texts": ["a", "b"],
    "embeddings": {"float": [[0.5, -0.25], [1.0, 0.0]]},
    "meta": {"api_version": {"version": "2"}, "billed_units": {"input_tokens": 2}},
    "response_type": "embeddings_by_type",
}


def test_embeddings_answer_becomes_an_openai_list() -> None:
    out = embed_from_wire(EMBED_ANSWER, "embed-v4.0")
    validate("CreateEmbeddingResponse", out)
    assert [d["embedding"] for d in out["data"]] == [[0.5, -0.25], [1.0, 0.0]]
    assert out["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    assert embed_usage_from_wire(EMBED_ANSWER) == Usage(input_tokens=2)


def test_base64_embeddings_are_little_endian_float32() -> None:
    out = embed_from_wire(EMBED_ANSWER, "embed-v4.0", encoding_format="base64")
    packed = base64.b64decode(out["data"][0]["embedding"])
    assert struct.unpack("<2f", packed) == (0.5, -0.25)


# --- errors and config --------------------------------------------------------------------------------


def test_cohere_error_bodies_keep_their_message_and_retry_after() -> None:
    error = error_from_body(
        "co", 429, b'{"id":"x","message":"You are past the per minute request limit"}', {"retry-after": "7"}, ()
    )
    assert isinstance(error, UpstreamRateLimited)
    assert error.message == "co: You are past the per minute request limit"
    assert error.headers == {"retry-after": "7"}


def test_an_invalid_token_status_is_an_authentication_failure_without_detail() -> None:
    error = error_from_body("co", 498, b'{"message":"invalid api token co-secret-123456"}', {}, ("co-secret-123456",))
    assert error.status == 502
    assert error.code == "upstream_auth_error"
    assert "co-secret" not in error.message


def test_a_provider_message_never_carries_the_key() -> None:
    error = error_from_body("co", 400, b'{"message":"bad key co-secret-123456 given"}', {}, ("co-secret-123456",))
    assert "co-secret-123456" not in error.message


def test_the_config_needs_a_key_and_defaults_the_base_url() -> None:
    config = CohereConfig.model_validate({"type": "cohere", "api_key": "k"})
    assert config.base_url == "https://api.cohere.com"
    with pytest.raises(ValueError, match="COHERE_API_KEY"):
        CohereConfig.model_validate({"type": "cohere", "api_key": ""})
    with pytest.raises(ValueError):
        CohereConfig.model_validate({"type": "cohere", "api_key": "k", "organization": "x"})
    ptype = registry.get("cohere")
    assert ptype is not None and ptype.config is CohereConfig
