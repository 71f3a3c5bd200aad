"""The Responses surface's pure translations: request → canonical chat body (golden files), refusals, the answer.

Golden files: ``golden/responses/<case>.responses.json`` is what a Responses client sends,
``<case>.chat.json`` the canonical chat body the pipeline carries (and an OpenAI-family provider receives with
only ``model`` replaced; ``test_responses_surface`` checks that on the wire). ``UPDATE_GOLDEN=1`` rewrites them.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.openapi_schema import validate
from wardgate.api.responses_answer import finish, output_of, skeleton
from wardgate.api.responses_stream import ResponseStream
from wardgate.api.responses_translate import check_request, input_items, to_chat, to_messages
from wardgate.core.errors import InvalidRequest, UpstreamError
from wardgate.core.usage import Usage

GOLDEN = Path(__file__).parent / "golden" / "responses"
CASES = sorted(p.name.removesuffix(".responses.json") for p in GOLDEN.glob("*.responses.json"))


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def canonical(request: dict[str, Any]) -> dict[str, Any]:
    check_request(request)
    return to_chat(request, to_messages(input_items(request["input"])))


def test_the_golden_cases_cover_what_the_surface_translates() -> None:
    assert {"basic_instructions", "message_items", "tool_round_trip", "stream"} <= set(CASES)


@pytest.mark.parametrize("case", CASES)
def test_a_responses_request_becomes_the_golden_chat_body(case: str) -> None:
    request = _load(GOLDEN / f"{case}.responses.json")
    before = copy.deepcopy(request)
    chat = canonical(request)
    expected = GOLDEN / f"{case}.chat.json"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        expected.write_text(json.dumps(chat, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    assert chat == _load(expected)
    assert request == before  # the client's body is not changed
    validate("CreateChatCompletionRequest", chat)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"input": "x"}, "model"),
        ({"model": "m"}, "input"),
        ({"model": "m", "input": 3}, "input"),
        ({"model": "m", "input": "x", "background": True}, "background"),
        ({"model": "m", "input": "x", "conversation": "conv_1"}, "conversation"),
        ({"model": "m", "input": "x", "max_output_tokens": 3}, "max_output_tokens"),
        ({"model": "m", "input": "x", "stream": "yes"}, "stream"),
        ({"model": "m", "input": "x", "metadata": {"k": 1}}, "metadata"),
        ({"model": "m", "input": "x", "previous_response_id": 5}, "previous_response_id"),
        ({"model": "m", "input": "x", "truncation": 5}, "truncation"),
        ({"model": "m", "input": "x", "service_tier": ["x"]}, "service_tier"),
        ({"model": "m", "input": "x", "top_logprobs": -1}, "top_logprobs"),
        ({"model": "m", "input": "x", "reasoning": "high"}, "reasoning"),
    ],
)
def test_a_bad_request_is_refused_naming_the_parameter(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        canonical(body)
    assert caught.value.param == param and caught.value.status == 400


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"text": {"format": {"type": "yaml"}}}, "text.format.type"),
        ({"input": [{"type": "item_reference", "id": "msg_1"}]}, "input[0].type"),
        ({"input": [{"role": "robot", "content": "x"}]}, "input[0].role"),
        ({"input": [{"role": "user", "content": [{"type": "input_image", "file_id": "f"}]}]}, "input[0].content[0]"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0].call_id"),
        ({"input": ["not an object"]}, "input[0]"),
    ],
)
def test_what_the_gateway_cannot_translate_is_refused(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        canonical({"model": "m", "input": "x", **body})
    assert caught.value.param == param


def test_a_completion_becomes_a_spec_valid_response_with_the_usage() -> None:
    completion = {
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "content": "calling",
                    "reasoning_content": "think",
                    "tool_calls": [{"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
                },
            }
        ]
    }
    response = skeleton({"model": "m", "input": "x"}, "resp_1", "m", 1)
    output, reason = output_of(completion)
    finish(response, output, reason, Usage(10, 7, cached_tokens=4, reasoning_tokens=2))
    validate("Response", response)
    assert [item["type"] for item in response["output"]] == ["reasoning", "message", "function_call"]
    assert response["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 17,
    }
    assert response["status"] == "completed"
    # the stored conversation continues with the assistant's turn, reasoning left out
    assert to_messages(response["output"]) == [
        {"role": "assistant", "content": "calling"},
        {"role": "assistant", "content": None, "tool_calls": [completion["choices"][0]["message"]["tool_calls"][0]]},
    ]


def test_a_length_finish_is_an_incomplete_response() -> None:
    response = skeleton({"model": "m", "input": "x"}, "resp_1", "m", 1)
    output, reason = output_of({"choices": [{"message": {"content": "cut"}, "finish_reason": "length"}]})
    finish(response, output, reason, None)
    validate("Response", response)
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}


def test_a_chat_stream_becomes_spec_valid_events_in_sequence() -> None:
    state = ResponseStream(skeleton({"model": "m", "input": "x"}, "resp_1", "m", 1))
    chunks: list[dict[str, Any]] = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "hm"}}]},
        {"choices": [{"index": 0, "delta": {"content": "he"}}]},
        {"choices": [{"index": 0, "delta": {"content": "llo"}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "call_1", "function": {"name": "f"}}]}}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
        {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 3}},
    ]
    events = [event for chunk in chunks for event in state.feed(chunk)]
    events += state.close()
    for event in events:
        validate("ResponseStreamEvent", event)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    kinds = [e["type"] for e in events]
    assert kinds[:3] == ["response.created", "response.in_progress", "response.output_item.added"]
    assert kinds[-1] == "response.completed"
    final = events[-1]["response"]
    assert [item["type"] for item in final["output"]] == ["reasoning", "message", "function_call"]
    assert final["output"][1]["content"][0]["text"] == "hello"
    assert final["output"][2]["arguments"] == "{}" and final["output"][2]["call_id"] == "call_1"
    assert final["usage"]["total_tokens"] == 8


def test_a_stream_cut_before_its_finish_raises() -> None:
    state = ResponseStream(skeleton({"model": "m", "input": "x"}, "resp_1", "m", 1))
    state.feed({"choices": [{"index": 0, "delta": {"content": "par"}}]})
    with pytest.raises(UpstreamError):
        state.close()
