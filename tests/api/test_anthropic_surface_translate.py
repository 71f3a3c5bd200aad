"""The Anthropic surface's pure translations: request → canonical body (golden files), answer → message, errors.

Golden files: ``golden/anthropic_surface/<case>.anthropic.json`` is what an Anthropic client sends,
``<case>.canonical.json`` the canonical OpenAI body the pipeline must get. Regenerate the latter only on purpose:
``UPDATE_GOLDEN=1 pytest tests/api/test_anthropic_surface_translate.py``, then read the diff.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import anthropic.types
import pytest

from tests.openapi_schema import validate
from wardgate.api.anthropic_response import (
    anthropic_usage,
    error_body,
    error_from_openai,
    message_id,
    to_message,
)
from wardgate.api.anthropic_translate import to_canonical
from wardgate.core.errors import (
    InvalidRequest,
    ModelNotFound,
    PayloadTooLarge,
    Unauthenticated,
    UnsupportedOperation,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
)
from wardgate.core.usage import Usage

GOLDEN = Path(__file__).parent / "golden" / "anthropic_surface"
CASES = sorted(p.name.removesuffix(".anthropic.json") for p in GOLDEN.glob("*.anthropic.json"))
# fields and keys the canonical body carries for an Anthropic upstream, which OpenAI's schema does not know
EXTRAS = ("cache_control", "top_k", "thinking", "thinking_blocks", "is_error")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_golden_cases_cover_what_the_surface_translates() -> None:
    assert {"basic_system", "tool_round_trip", "images", "tools_tool_choice", "stop_sampling"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_an_anthropic_request_becomes_the_golden_canonical_body(case: str) -> None:
    request = _load(GOLDEN / f"{case}.anthropic.json")
    canonical = to_canonical(request)
    expected_path = GOLDEN / f"{case}.canonical.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected_path.write_text(json.dumps(canonical, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert canonical == _load(expected_path)


def _without_extras(node: Any) -> Any:
    if isinstance(node, list):
        return [_without_extras(item) for item in node]
    if isinstance(node, dict):
        return {k: _without_extras(v) for k, v in node.items() if k not in EXTRAS}
    return node


@pytest.mark.parametrize("case", CASES)
def test_the_canonical_body_is_an_openai_request_but_for_the_documented_extras(case: str) -> None:
    validate("CreateChatCompletionRequest", _without_extras(_load(GOLDEN / f"{case}.canonical.json")))


def test_translation_does_not_change_the_request() -> None:
    request = _load(GOLDEN / "tool_round_trip.anthropic.json")
    before = copy.deepcopy(request)
    to_canonical(request)
    assert request == before


# --- refusals -------------------------------------------------------------------------------------------------


def _body(**fields: Any) -> dict[str, Any]:
    return {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}], **fields}


def test_max_tokens_is_required_except_when_counting() -> None:
    body = _body()
    del body["max_tokens"]
    with pytest.raises(InvalidRequest) as caught:
        to_canonical(body)
    assert caught.value.param == "max_tokens" and caught.value.status == 400
    assert "max_tokens" not in to_canonical(body, counting=True)


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "bash_20250124", "name": "bash"}]}, "tools[0].type"),
        ({"container": "container_1"}, "container"),
        ({"inference_geo": "us"}, "inference_geo"),
        ({"mcp_servers": []}, "mcp_servers"),
        ({"frequency": 1}, "frequency"),
        (
            {"tools": [{"name": "t", "input_schema": {"type": "object"}, "defer_loading": True}]},
            "tools[0].defer_loading",
        ),
        ({"output_config": {"task_budget": 3}}, "output_config.task_budget"),
    ],
)
def test_features_without_a_canonical_form_are_refused_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        to_canonical(_body(**fields))
    assert caught.value.param == param
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("block", "param"),
    [
        (
            {"type": "document", "source": {"type": "url", "url": "https://x/a.pdf"}},
            "messages[0].content[0].source.type",
        ),
        (
            {"type": "document", "source": {"type": "file", "file_id": "file_1"}},
            "messages[0].content[0].source.type",
        ),
        (
            {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}, "context": "c"},
            "messages[0].content[0].context",
        ),
        (
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "x"},
                "citations": {"enabled": True},
            },
            "messages[0].content[0].citations",
        ),
        ({"type": "image", "source": {"type": "file", "file_id": "file_1"}}, "messages[0].content[0].source.type"),
        ({"type": "search_result", "source": "s", "title": "t", "content": []}, "messages[0].content[0].type"),
    ],
)
def test_content_without_a_canonical_form_is_refused(block: dict[str, Any], param: str) -> None:
    with pytest.raises(UnsupportedOperation) as caught:
        to_canonical(_body(messages=[{"role": "user", "content": [block]}]))
    assert caught.value.param == param


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"model": ""}, "model"),
        ({"messages": []}, "messages"),
        ({"max_tokens": "10"}, "max_tokens"),
        ({"temperature": 1.5}, "temperature"),
        ({"stop_sequences": "END"}, "stop_sequences"),
        ({"messages": [{"role": "tool", "content": "x"}]}, "messages[0].role"),
        ({"tool_choice": {"type": "any"}}, "tool_choice"),
        ({"messages": [{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}]},
         "messages[0].content[0].tool_use_id"),
    ],
)  # fmt: skip
def test_malformed_requests_are_invalid_naming_the_field(fields: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        to_canonical(_body(**fields))
    assert caught.value.param == param
    assert param in caught.value.message


def test_ignored_fields_change_nothing() -> None:
    plain = to_canonical(_body())
    noisy = _body(service_tier="auto", speed="fast", workspace_id="w", user_profile_id="u", diagnostics={})
    assert to_canonical(noisy) == plain


def test_tool_choice_none_keeps_tools_and_never_disables_parallel_calls() -> None:
    tools = [{"name": "t", "input_schema": {"type": "object"}}]
    out = to_canonical(_body(tools=tools, tool_choice={"type": "none", "disable_parallel_tool_use": True}))
    assert out["tool_choice"] == "none" and "parallel_tool_calls" not in out


# --- answers --------------------------------------------------------------------------------------------------


def _completion(message: dict[str, Any], finish: str = "stop", **choice: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None, **choice}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 7, "total_tokens": 27,
                  "prompt_tokens_details": {"cached_tokens": 5}},
    }  # fmt: skip


def test_a_text_answer_becomes_a_message_with_anthropic_usage() -> None:
    body = _completion({"role": "assistant", "content": "Hi!"})
    message = to_message(body, model="claude-sonnet", fallback_id="x", usage=None)
    assert message == {
        "id": "msg_abc123",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet",
        "content": [{"type": "text", "text": "Hi!"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 15,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 5,
            "output_tokens": 7,
        },
    }
    anthropic.types.Message.model_validate(message)


def test_the_calls_own_usage_wins_over_the_body_and_keeps_cache_writes() -> None:
    body = _completion({"role": "assistant", "content": "Hi!"})
    usage = Usage(input_tokens=100, output_tokens=9, cached_tokens=60, cache_write_tokens=30, reasoning_tokens=2)
    message = to_message(body, model="m", fallback_id="x", usage=usage)
    assert message["usage"] == {
        "input_tokens": 10,
        "cache_creation_input_tokens": 30,
        "cache_read_input_tokens": 60,
        "output_tokens": 9,
    }


def test_tool_calls_become_tool_use_blocks_with_parsed_input() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": ""}},
    ]
    body = _completion({"role": "assistant", "content": None, "tool_calls": calls}, "tool_calls")
    message = to_message(body, model="m", fallback_id="x", usage=None)
    assert message["content"] == [
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "get_time", "input": {}},
    ]
    assert message["stop_reason"] == "tool_use"
    anthropic.types.Message.model_validate(message)


@pytest.mark.parametrize("arguments", ['{"city": "Par', "[1, 2]", "null"])
def test_tool_arguments_that_are_not_a_json_object_fail_the_answer(arguments: str) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    body = _completion({"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls")
    with pytest.raises(UpstreamError) as caught:
        to_message(body, model="m", fallback_id="x", usage=None)
    assert caught.value.status == 502 and "not a JSON object" in caught.value.message


@pytest.mark.parametrize(
    ("finish", "expected"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal"),
     ("pause_turn", "pause_turn"), ("something_new", "end_turn")],
)  # fmt: skip
def test_finish_reasons_map_to_stop_reasons(finish: str, expected: str) -> None:
    body = _completion({"role": "assistant", "content": "x"}, finish)
    assert to_message(body, model="m", fallback_id="x", usage=None)["stop_reason"] == expected


def test_a_matched_stop_sequence_is_reported_when_the_provider_names_it() -> None:
    body = _completion({"role": "assistant", "content": "one two"}, "stop", stop_reason="END")
    message = to_message(body, model="m", fallback_id="x", usage=None, stop_sequences=("END",))
    assert (message["stop_reason"], message["stop_sequence"]) == ("stop_sequence", "END")
    other = to_message(body, model="m", fallback_id="x", usage=None, stop_sequences=("STOP",))
    assert (other["stop_reason"], other["stop_sequence"]) == ("end_turn", None)


def test_thinking_comes_back_signed_from_thinking_blocks_else_unsigned_from_reasoning() -> None:
    signed = [{"type": "thinking", "thinking": "hmm", "signature": "sig"}, {"type": "redacted_thinking", "data": "d"}]
    body = _completion({"role": "assistant", "content": "4", "reasoning_content": "hmm", "thinking_blocks": signed})
    assert to_message(body, model="m", fallback_id="x", usage=None)["content"] == [
        *signed,
        {"type": "text", "text": "4"},
    ]
    body = _completion({"role": "assistant", "content": "4", "reasoning_content": "2+2"})
    assert to_message(body, model="m", fallback_id="x", usage=None)["content"] == [
        {"type": "thinking", "thinking": "2+2", "signature": ""},
        {"type": "text", "text": "4"},
    ]


def test_a_refusal_is_text_with_stop_reason_refusal() -> None:
    body = _completion({"role": "assistant", "content": None, "refusal": "I can't help with that."})
    message = to_message(body, model="m", fallback_id="x", usage=None)
    assert message["content"] == [{"type": "text", "text": "I can't help with that."}]
    assert message["stop_reason"] == "refusal"


def test_message_ids_derive_from_the_provider_id() -> None:
    assert message_id("chatcmpl-xyz", "req1") == "msg_xyz"
    assert message_id("msg_01abc", "req1") == "msg_01abc"
    assert message_id(None, "req1") == "msg_req1"


def test_usage_never_reports_negative_input() -> None:
    assert anthropic_usage(Usage(input_tokens=3, cached_tokens=5))["input_tokens"] == 0


# --- errors ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequest("bad"), 400, "invalid_request_error"),
        (UnsupportedOperation("no"), 400, "invalid_request_error"),
        (Unauthenticated("who"), 401, "authentication_error"),
        (ModelNotFound("where"), 404, "not_found_error"),
        (PayloadTooLarge("big"), 413, "request_too_large"),
        (UpstreamRateLimited("slow down"), 429, "rate_limit_error"),
        (UpstreamError("boom"), 502, "api_error"),
        (UpstreamError("busy", status=503, code="upstream_overloaded"), 503, "overloaded_error"),
        (UpstreamTimeout("late"), 504, "timeout_error"),
    ],
)
def test_errors_take_anthropic_shape_and_keep_their_status(error: Any, status: int, kind: str) -> None:
    assert error.status == status
    assert error_body(error, "req_1") == {
        "type": "error",
        "error": {"type": kind, "message": error.message},
        "request_id": "req_1",
    }


def test_an_openai_shaped_error_answer_is_reshaped() -> None:
    body = {"error": {"message": "blocked by policy", "type": "invalid_request_error", "param": None, "code": None}}
    assert error_from_openai(403, body) == {
        "type": "error",
        "error": {"type": "permission_error", "message": "blocked by policy"},
    }
