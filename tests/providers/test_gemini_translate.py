"""The pure Gemini translation: OpenAI request → generateContent body, Gemini answers and stream events → OpenAI,
embeddings, Google's error bodies and the service-account assertion."""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import ValidationError

from tests.openapi_schema import validate
from wardgate.core.errors import InvalidRequest, UnsupportedOperation, UpstreamError, UpstreamRateLimited
from wardgate.core.usage import Usage
from wardgate.providers import registry
from wardgate.providers.gemini import VertexConfig, embeddings
from wardgate.providers.gemini.errors import google_error, retry_after
from wardgate.providers.gemini.stream import StreamState, chunks_from_event, usage_chunk
from wardgate.providers.gemini.translate import from_wire, to_wire, usage_from_wire

GOLDEN = Path(__file__).parent / "golden" / "gemini"
CASES = sorted(p.name.removesuffix(".request.json") for p in GOLDEN.glob("*.request.json"))
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def chat(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"model": "m", "messages": list(messages) or [user("hi")], **fields}


def wire(body: dict[str, Any], model: str = "gemini-2.5-flash", provider: str = "gemini") -> dict[str, Any]:
    return to_wire(body, model, provider=provider)


def answer(*parts: dict[str, Any], finish: str = "STOP", **extra: Any) -> dict[str, Any]:
    return {
        "candidates": [{"content": {"role": "model", "parts": list(parts)}, "finishReason": finish}],
        "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4, "totalTokenCount": 14},
        "modelVersion": "gemini-2.5-flash",
        "responseId": "resp-1",
        **extra,
    }


# --- golden files -------------------------------------------------------------------------------------


def test_every_required_case_has_a_golden_file() -> None:
    assert {"basic_system", "tool_round_trip", "image_part", "tools_tool_choice", "sampling"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_the_wire_body_matches_the_golden_file(case: str) -> None:
    request = json.loads((GOLDEN / f"{case}.request.json").read_text())
    body = to_wire(request, request["model"])
    path = GOLDEN / f"{case}.wire.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    assert body == json.loads(path.read_text())


# --- requests -----------------------------------------------------------------------------------------


def test_system_and_developer_messages_are_hoisted_into_the_system_instruction_in_order() -> None:
    body = wire(
        chat(
            {"role": "system", "content": "one"},
            user("hi"),
            {"role": "developer", "content": [{"type": "text", "text": "two"}]},
        )
    )
    assert body["systemInstruction"] == {"parts": [{"text": "one"}, {"text": "two"}]}
    assert body["contents"] == [{"role": "user", "parts": [{"text": "hi"}]}]


def test_consecutive_turns_of_one_role_are_merged_and_empty_assistant_turns_dropped() -> None:
    body = wire(chat(user("a"), {"role": "assistant", "content": ""}, user("b")))
    assert body["contents"] == [{"role": "user", "parts": [{"text": "a"}, {"text": "b"}]}]


def test_tool_results_that_are_not_json_objects_are_wrapped_as_result() -> None:
    calls = [
        {"id": f"call_{i}", "type": "function", "function": {"name": f"f{i}", "arguments": "{}"}} for i in range(3)
    ]
    body = wire(
        chat(
            user("go"),
            {"role": "assistant", "content": None, "tool_calls": calls},
            {"role": "tool", "tool_call_id": "call_0", "content": "plain text"},
            {"role": "tool", "tool_call_id": "call_1", "content": "[1, 2]"},
            {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": '{"ok": true}'}]},
        )
    )
    responses = [p["functionResponse"] for p in body["contents"][-1]["parts"]]
    assert responses == [
        {"name": "f0", "response": {"result": "plain text"}},
        {"name": "f1", "response": {"result": [1, 2]}},
        {"name": "f2", "response": {"ok": True}},
    ]
    assert body["contents"][-1]["role"] == "user"


def test_a_tool_result_for_an_unknown_call_is_refused_naming_the_message() -> None:
    with pytest.raises(InvalidRequest) as caught:
        wire(chat(user("go"), {"role": "tool", "tool_call_id": "call_x", "content": "1"}))
    assert caught.value.param == "messages[1].tool_call_id"


def test_tool_call_arguments_must_be_a_json_object() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "[1]"}}
    with pytest.raises(InvalidRequest) as caught:
        wire(chat(user("go"), {"role": "assistant", "tool_calls": [call]}))
    assert caught.value.param == "messages[1].tool_calls[0].function.arguments"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("logit_bias", {"1": 2}),
        ("modalities", ["text", "audio"]),
        ("functions", [{"name": "f"}]),
        ("web_search_options", {}),
        ("thinking", {"type": "enabled"}),
        ("parallel_tool_calls", False),
        ("service_tier", "flex"),
    ],
)
def test_fields_gemini_cannot_express_are_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        wire(chat(**{field: value}))
    assert caught.value.param == field
    assert caught.value.status == 400
    assert str(caught.value).startswith("gemini does not support")


def test_fields_that_do_not_change_the_answer_are_ignored() -> None:
    body = wire(
        chat(
            user="u", store=True, metadata={"a": "b"}, safety_identifier="s", prompt_cache_key="k", service_tier="auto"
        )
    )
    assert body == {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        ({"type": "function", "function": {"name": "f"}}, {"mode": "ANY", "allowedFunctionNames": ["f"]}),
        (
            {
                "type": "allowed_tools",
                "allowed_tools": {"mode": "required", "tools": [{"type": "function", "function": {"name": "f"}}]},
            },
            {"mode": "ANY", "allowedFunctionNames": ["f"]},
        ),
    ],
)
def test_tool_choice_becomes_the_function_calling_mode(choice: Any, config: dict[str, Any]) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    body = wire(chat(tools=tools, tool_choice=choice))
    assert body["toolConfig"] == {"functionCallingConfig": config}
    assert body["tools"] == [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object"}}]}]


def test_non_function_tools_are_refused() -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        wire(chat(tools=[{"type": "custom", "custom": {"name": "x"}}]))
    assert caught.value.param == "tools[0].type"


def test_json_object_mode_sets_the_json_mime_type() -> None:
    body = wire(chat(response_format={"type": "json_object"}))
    assert body["generationConfig"] == {"responseMimeType": "application/json"}


def test_max_completion_tokens_wins_over_max_tokens_and_a_stop_string_becomes_a_list() -> None:
    body = wire(chat(max_tokens=5, max_completion_tokens=9, stop="x"))
    assert body["generationConfig"] == {"maxOutputTokens": 9, "stopSequences": ["x"]}


@pytest.mark.parametrize(
    ("model", "effort", "thinking"),
    [
        ("gemini-2.5-flash", "none", {"thinkingBudget": 0}),
        ("gemini-2.5-pro", "high", {"thinkingBudget": 24576}),
        ("gemini-3-pro-preview", "low", {"thinkingLevel": "LOW"}),
        ("gemini-3-flash-preview", "minimal", {"thinkingLevel": "MINIMAL"}),
    ],
)
def test_reasoning_effort_is_a_budget_on_gemini_2_and_a_level_after(
    model: str, effort: str, thinking: dict[str, Any]
) -> None:
    assert wire(chat(reasoning_effort=effort), model)["generationConfig"] == {"thinkingConfig": thinking}


def test_reasoning_effort_none_is_refused_where_thinking_cannot_be_turned_off() -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        wire(chat(reasoning_effort="none"), "gemini-3-pro-preview")
    assert caught.value.param == "reasoning_effort"


def test_audio_and_pdf_parts_become_inline_data() -> None:
    parts = [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
        {"type": "file", "file": {"file_data": "JVBERi0=", "filename": "b.pdf"}},
    ]
    assert wire(chat(user(parts)))["contents"][0]["parts"] == [
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
    ]


@pytest.mark.parametrize(
    ("part", "param"),
    [
        (
            {"type": "image_url", "image_url": {"url": "https://example.com/image"}},
            "messages[0].content[0].image_url.url",
        ),
        ({"type": "image_url", "image_url": {"url": "gs://bucket/a.png"}}, "messages[0].content[0].image_url.url"),
        ({"type": "image_url", "image_url": {"url": "ftp://x/a.png"}}, "messages[0].content[0].image_url.url"),
        ({"type": "file", "file": {"file_id": "file-123"}}, "messages[0].content[0].file"),
        (
            {"type": "input_audio", "input_audio": {"data": "x", "format": "flac"}},
            "messages[0].content[0].input_audio.format",
        ),
    ],
)
def test_media_gemini_cannot_take_is_refused_naming_the_part(part: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        wire(chat(user([part])))
    assert caught.value.param == param


def test_vertex_takes_cloud_storage_uris() -> None:
    part = {"type": "image_url", "image_url": {"url": "gs://bucket/a.png"}}
    body = wire(chat(user([part])), provider="vertex")
    assert body["contents"][0]["parts"] == [{"fileData": {"mimeType": "image/png", "fileUri": "gs://bucket/a.png"}}]


def test_images_of_different_detail_levels_are_refused() -> None:
    url = "data:image/png;base64," + PNG
    parts = [
        {"type": "image_url", "image_url": {"url": url, "detail": "low"}},
        {"type": "image_url", "image_url": {"url": url, "detail": "high"}},
    ]
    with pytest.raises(UnsupportedOperation):
        wire(chat(user(parts)))


def test_a_data_url_that_is_not_base64_is_a_bad_request() -> None:
    with pytest.raises(InvalidRequest) as caught:
        wire(chat(user([{"type": "image_url", "image_url": {"url": "data:image/png,abc"}}])))
    assert caught.value.param == "messages[0].content[0].image_url.url"


# --- answers ------------------------------------------------------------------------------------------


def test_an_answer_becomes_a_valid_chat_completion_with_exact_usage() -> None:
    body = answer({"text": "Hello"}, {"text": " world"}, {"text": "hidden", "thought": True})
    body["usageMetadata"] = {
        "promptTokenCount": 120,
        "cachedContentTokenCount": 100,
        "candidatesTokenCount": 7,
        "thoughtsTokenCount": 30,
        "totalTokenCount": 157,
    }
    completion = from_wire(body, created=1)
    validate("CreateChatCompletionResponse", completion)
    assert completion["id"] == "chatcmpl-resp-1"
    assert completion["choices"][0]["message"]["content"] == "Hello world"
    assert completion["choices"][0]["finish_reason"] == "stop"
    assert completion["usage"]["prompt_tokens"] == 120
    assert completion["usage"]["completion_tokens"] == 37
    assert completion["usage"]["total_tokens"] == 157
    assert completion["usage"]["prompt_tokens_details"]["cached_tokens"] == 100
    assert completion["usage"]["completion_tokens_details"]["reasoning_tokens"] == 30


def test_usage_counts_tool_use_prompt_tokens_as_input() -> None:
    usage = usage_from_wire({"promptTokenCount": 5, "toolUsePromptTokenCount": 3, "candidatesTokenCount": 2})
    assert usage == Usage(input_tokens=8, output_tokens=2)


def test_function_calls_become_tool_calls_whose_ids_carry_the_thought_signature_back() -> None:
    body = answer(
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
        {"functionCall": {"name": "get_time", "args": {}}},
    )
    completion = from_wire(body)
    validate("CreateChatCompletionResponse", completion)
    choice = completion["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    first, second = choice["message"]["tool_calls"]
    assert first["function"] == {"name": "get_weather", "arguments": '{"city":"Paris"}'}
    assert first["id"].startswith("call_") and first["id"].endswith("__thought__c2ln")
    assert "__thought__" not in second["id"]
    assert from_wire(body)["choices"][0]["message"]["tool_calls"] == choice["message"]["tool_calls"]  # stable
    history = chat(
        user("hi"),
        choice["message"],
        {"role": "tool", "tool_call_id": first["id"], "content": "{}"},
        {"role": "tool", "tool_call_id": second["id"], "content": "{}"},
    )
    model_turn = wire(history)["contents"][1]
    assert model_turn["parts"][0] == {
        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
        "thoughtSignature": "c2ln",
    }
    assert model_turn["parts"][1] == {"functionCall": {"name": "get_time", "args": {}}}


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
    ],
)
def test_finish_reasons_are_mapped(reason: str, expected: str) -> None:
    assert from_wire(answer({"text": "x"}, finish=reason))["choices"][0]["finish_reason"] == expected


def test_a_malformed_function_call_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError):
        from_wire(answer(finish="MALFORMED_FUNCTION_CALL"))


def test_a_blocked_prompt_is_a_content_policy_bad_request() -> None:
    with pytest.raises(InvalidRequest) as caught:
        from_wire({"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 3}})
    assert caught.value.status == 400
    assert caught.value.code == "content_policy_violation"
    assert "SAFETY" in str(caught.value)


def test_candidates_without_an_index_are_choice_zero_and_choices_are_ordered() -> None:
    body = answer({"text": "a"})
    body["candidates"] = [
        {"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP", "index": 1},
        {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP"},
    ]
    choices = from_wire(body)["choices"]
    assert [(c["index"], c["message"]["content"]) for c in choices] == [(0, "a"), (1, "b")]


def test_logprobs_become_openai_token_logprobs() -> None:
    body = answer({"text": "Hi"})
    body["candidates"][0]["logprobsResult"] = {
        "chosenCandidates": [{"token": "Hi", "logProbability": -0.5}],
        "topCandidates": [
            {"candidates": [{"token": "Hi", "logProbability": -0.5}, {"token": "Yo", "logProbability": -2}]}
        ],
    }
    completion = from_wire(body)
    validate("CreateChatCompletionResponse", completion)
    assert completion["choices"][0]["logprobs"]["content"] == [
        {
            "token": "Hi",
            "logprob": -0.5,
            "bytes": [72, 105],
            "top_logprobs": [
                {"token": "Hi", "logprob": -0.5, "bytes": [72, 105]},
                {"token": "Yo", "logprob": -2.0, "bytes": [89, 111]},
            ],
        }
    ]


# --- streams ------------------------------------------------------------------------------------------


def test_stream_events_become_valid_chunks_ending_with_finish_and_usage() -> None:
    state = StreamState(model="gemini-2.5-flash", created=1)
    events = [
        {
            "candidates": [{"content": {"parts": [{"text": "Hel"}]}}],
            "usageMetadata": {"promptTokenCount": 5},
            "responseId": "r",
        },
        {
            "candidates": [{"content": {"parts": [{"text": "lo"}]}, "finishReason": "STOP"}],
            "responseId": "r",
            "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
        },
    ]
    chunks = [c for e in events for c in chunks_from_event(e, state)]
    chunks.append(usage_chunk(state))
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk)
    assert [c["choices"][0]["delta"] for c in chunks[:-1]] == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
        {"content": "lo"},
        {},
    ]
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert {c["id"] for c in chunks} == {"chatcmpl-r"}
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 7
    assert state.usage == Usage(input_tokens=5, output_tokens=2)


def test_a_streamed_function_call_is_a_header_chunk_then_its_whole_arguments() -> None:
    state = StreamState(model="m")
    event = answer({"functionCall": {"name": "f", "args": {"a": 1}}})
    chunks = chunks_from_event(event, state)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    non_stream_id = from_wire(event)["choices"][0]["message"]["tool_calls"][0]["id"]
    assert deltas[1] == {
        "tool_calls": [
            {"id": non_stream_id, "type": "function", "index": 0, "function": {"name": "f", "arguments": ""}}
        ]
    }
    assert deltas[2] == {"tool_calls": [{"index": 0, "function": {"arguments": '{"a":1}'}}]}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_a_blocked_prompt_in_a_stream_raises() -> None:
    with pytest.raises(InvalidRequest):
        chunks_from_event({"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}, StreamState(model="m"))


# --- errors -------------------------------------------------------------------------------------------

KEY = "AIzaSyA-secret-key-for-tests-000000000000"


def test_a_429_takes_its_retry_after_from_google_retry_info() -> None:
    body = {
        "error": {
            "code": 429,
            "message": "Quota exceeded.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "6.2s"}],
        }
    }
    error = google_error("g", 429, orjson.dumps(body), {}, (KEY,))
    assert isinstance(error, UpstreamRateLimited)
    assert error.headers == {"retry-after": "7"}
    assert error.message == "g: Quota exceeded."


def test_a_retry_after_header_is_kept_as_sent() -> None:
    error = google_error("g", 429, b'{"error": {"code": 429, "message": "x"}}', {"Retry-After": "3"}, ())
    assert error.headers == {"retry-after": "3"}


def test_an_invalid_api_key_is_the_operators_problem_and_never_echoed() -> None:
    body = {
        "error": {
            "code": 400,
            "message": f"API key not valid: {KEY}",
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }
    error = google_error("g", 400, orjson.dumps(body), {}, (KEY,))
    assert error.status == 502 and error.code == "upstream_auth_error"
    assert KEY not in str(error)


def test_provider_messages_are_scrubbed_of_the_key() -> None:
    body = {"error": {"code": 400, "message": f"bad request for key {KEY}", "status": "INVALID_ARGUMENT"}}
    error = google_error("g", 400, orjson.dumps(body), {}, (KEY,))
    assert error.status == 400 and KEY not in str(error)


@pytest.mark.parametrize(("delay", "header"), [("7s", "7"), ("0.2s", "1"), ("36.9s", "37"), ("soon", None)])
def test_retry_delays_round_up_to_whole_seconds(delay: str, header: str | None) -> None:
    assert retry_after(delay) == header


# --- embeddings ---------------------------------------------------------------------------------------


def test_one_input_uses_embed_content_and_several_batch_embed_contents() -> None:
    assert embeddings.gemini_request({"model": "e", "input": "a", "dimensions": 4}, "gemini-embedding-001") == (
        "embedContent",
        {"content": {"parts": [{"text": "a"}]}, "outputDimensionality": 4},
    )
    method, body = embeddings.gemini_request({"model": "e", "input": ["a", "b"]}, "gemini-embedding-001")
    assert method == "batchEmbedContents"
    assert body == {
        "requests": [
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "a"}]}},
            {"model": "models/gemini-embedding-001", "content": {"parts": [{"text": "b"}]}},
        ]
    }


def test_vertex_embeddings_use_predict_and_report_their_token_counts() -> None:
    assert embeddings.vertex_request({"input": ["a", "b"], "dimensions": 8}) == {
        "instances": [{"content": "a"}, {"content": "b"}],
        "parameters": {"outputDimensionality": 8},
    }
    answer_body = {
        "predictions": [
            {"embeddings": {"values": [0.5], "statistics": {"token_count": 2, "truncated": False}}},
            {"embeddings": {"values": [0.25], "statistics": {"token_count": 3, "truncated": False}}},
        ]
    }
    assert embeddings.vertex_vectors(answer_body) == ([[0.5], [0.25]], 5)


def test_base64_embeddings_are_little_endian_float32() -> None:
    body = embeddings.openai_embeddings([[0.5, -1.0]], "e", "base64", 0)
    validate("CreateEmbeddingResponse", {**body, "data": [{**body["data"][0], "embedding": [0.5, -1.0]}]})
    raw = base64.b64decode(body["data"][0]["embedding"])
    assert struct.unpack("<2f", raw) == (0.5, -1.0)


@pytest.mark.parametrize(("field", "value"), [("input", [[1, 2, 3]]), ("input", [1, 2]), ("task", "x")])
def test_embedding_requests_gemini_cannot_take_are_refused(field: str, value: Any) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        embeddings.gemini_request({"model": "e", "input": "a", field: value}, "m")
    assert caught.value.param == field


# --- configuration ------------------------------------------------------------------------------------


def _key_file(tmp_path: Path, **override: Any) -> tuple[Path, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    document = {
        "type": "service_account",
        "client_email": "sa@p.iam.gserviceaccount.com",
        "private_key_id": "kid1",
        "private_key": pem.decode(),
        "token_uri": "https://oauth2.example/token",
        **override,
    }
    path = tmp_path / "sa.json"
    path.write_bytes(orjson.dumps(document))
    return path, key


@pytest.mark.parametrize(
    ("location", "base_url", "endpoint"),
    [
        ("us-central1", None, "https://us-central1-aiplatform.googleapis.com/v1"),
        ("global", None, "https://aiplatform.googleapis.com/v1"),
        ("europe-west4", "http://127.0.0.1:9/v1/", "http://127.0.0.1:9/v1"),
    ],
)
def test_the_vertex_endpoint_follows_the_location(
    tmp_path: Path, location: str, base_url: str | None, endpoint: str
) -> None:
    path, _ = _key_file(tmp_path)
    config = VertexConfig(type="vertex", project="p", location=location, credentials_file=path, base_url=base_url)
    assert config.endpoint() == endpoint


def test_vertex_config_refuses_names_that_would_change_the_url(tmp_path: Path) -> None:
    path, _ = _key_file(tmp_path)
    with pytest.raises(ValidationError, match="project"):
        VertexConfig(type="vertex", project="p/../x", credentials_file=path)
    with pytest.raises(ValidationError, match="credentials_file"):
        VertexConfig(type="vertex", project="p", credentials_file=tmp_path / "missing.json")


def test_both_types_are_registered() -> None:
    types = registry.provider_types()
    assert types["gemini"].config.__name__ == "GeminiConfig"
    assert types["vertex"].config is VertexConfig
