"""OpenAI chunk streams → Anthropic stream events: scripted chunk sequences and the exact events they become.

Every event is also checked against the official ``anthropic`` SDK's event types, and the SDK's own accumulator
rebuilds the message from them, which must equal what the JSON answer of the same completion would be.
"""

from __future__ import annotations

from typing import Any

import anthropic.types
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from pydantic import TypeAdapter

from wardgate.api.anthropic_response import to_message
from wardgate.api.anthropic_stream import Event, MessageStream, encode
from wardgate.core.errors import UpstreamError
from wardgate.core.usage import Usage

EVENT = TypeAdapter(anthropic.types.RawMessageStreamEvent)
USAGE = {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17, "prompt_tokens_details": {"cached_tokens": 4}}
ANTHROPIC_USAGE = {
    "input_tokens": 8,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 4,
    "output_tokens": 5,
}


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish, **extra}]
    return {"id": "chatcmpl-s1", "object": "chat.completion.chunk", "created": 1, "model": "up", "choices": choices}


def usage_chunk() -> dict[str, Any]:
    return {**chunk(), "usage": USAGE}


def run(chunks: list[dict[str, Any]], stops: tuple[str, ...] = ()) -> list[Event]:
    state = MessageStream("claude-x", "req1", stops)
    events: list[Event] = []
    for c in chunks:
        events.extend(state.feed(c))
    events.extend(state.close())
    for name, data in events:
        assert EVENT.validate_python(data).type == name
    return events


def start() -> Event:
    message: dict[str, Any] = {
        "id": "msg_s1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 0,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": 0,
        },
    }
    return "message_start", {"type": "message_start", "message": message}


def block_start(index: int, block: dict[str, Any]) -> Event:
    return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}


def delta(index: int, body: dict[str, Any]) -> Event:
    return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": body}


def stop(index: int) -> Event:
    return "content_block_stop", {"type": "content_block_stop", "index": index}


def end(reason: str, sequence: str | None = None, usage: dict[str, int] | None = None) -> list[Event]:
    message_delta = {
        "type": "message_delta",
        "delta": {"stop_reason": reason, "stop_sequence": sequence},
        "usage": usage or ANTHROPIC_USAGE,
    }
    return [("message_delta", message_delta), ("message_stop", {"type": "message_stop"})]


def test_a_text_stream_becomes_one_text_block_and_waits_for_the_usage() -> None:
    chunks = [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hello"}),
        chunk({"content": " world"}),
        chunk({}, "stop"),
        usage_chunk(),
    ]
    assert run(chunks) == [
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Hello"}),
        delta(0, {"type": "text_delta", "text": " world"}),
        stop(0),
        *end("end_turn"),
    ]


def test_the_final_events_are_held_until_the_usage_chunk() -> None:
    state = MessageStream("claude-x", "req1")
    state.feed(chunk({"content": "Hi"}))
    finish = state.feed(chunk({}, "length"))
    assert [name for name, _ in finish] == ["content_block_stop"]
    assert [name for name, _ in state.feed(usage_chunk())] == ["message_delta", "message_stop"]
    assert state.close() == []


def test_without_a_usage_chunk_the_end_of_the_stream_releases_the_final_events_with_the_calls_usage() -> None:
    state = MessageStream("claude-x", "req1")
    state.feed(chunk({"content": "Hi"}))
    state.feed(chunk({}, "length"))
    events = state.close(Usage(input_tokens=12, output_tokens=5, cached_tokens=4))
    assert events == end("max_tokens")


def test_a_usage_on_the_finish_chunk_releases_the_final_events_at_once() -> None:
    state = MessageStream("claude-x", "req1")
    state.feed(chunk({"content": "Hi"}))
    events = state.feed({**chunk({}, "stop"), "usage": USAGE})
    assert events[-2:] == end("end_turn")


def test_a_running_usage_from_before_the_finish_waits_for_the_end_of_the_stream() -> None:
    """Some servers put a running count on every chunk; only one at or after the finish is the final count."""
    state = MessageStream("claude-x", "req1")
    state.feed({**chunk({"content": "Hi"}), "usage": {"prompt_tokens": 12, "completion_tokens": 1}})
    assert [name for name, _ in state.feed(chunk({}, "stop"))] == ["content_block_stop"]
    assert state.close(Usage(input_tokens=12, output_tokens=5, cached_tokens=4)) == end("end_turn")


def test_text_then_parallel_tool_calls_open_a_block_each() -> None:
    chunks = [
        chunk({"role": "assistant", "content": "Checking."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "type": "function",
                               "function": {"name": "get_weather", "arguments": ""}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
        chunk({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
                               "function": {"name": "get_time", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
        usage_chunk(),
    ]  # fmt: skip
    assert run(chunks) == [
        start(),
        block_start(0, {"type": "text", "text": ""}),
        delta(0, {"type": "text_delta", "text": "Checking."}),
        stop(0),
        block_start(1, {"type": "tool_use", "id": "call_a", "name": "get_weather", "input": {}}),
        delta(1, {"type": "input_json_delta", "partial_json": '{"city":'}),
        delta(1, {"type": "input_json_delta", "partial_json": '"Paris"}'}),
        stop(1),
        block_start(2, {"type": "tool_use", "id": "call_b", "name": "get_time", "input": {}}),
        delta(2, {"type": "input_json_delta", "partial_json": "{}"}),
        stop(2),
        *end("tool_use"),
    ]


def test_calls_that_share_an_index_but_not_an_id_are_separate_tool_uses() -> None:
    chunks = [
        chunk({"tool_calls": [{"index": 0, "id": "c1", "function": {"name": "f", "arguments": '{"a":1}'}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "c2", "function": {"name": "g", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
        usage_chunk(),
    ]
    events = run(chunks)
    starts = [data["content_block"]["id"] for name, data in events if name == "content_block_start"]
    assert starts == ["c1", "c2"]


def test_reasoning_then_text_is_a_thinking_block_then_a_text_block() -> None:
    chunks = [
        chunk({"role": "assistant", "content": "", "reasoning_content": "Two plus"}),
        chunk({"reasoning_content": " two."}),
        chunk({"content": "4"}),
        chunk({}, "stop"),
        usage_chunk(),
    ]
    assert run(chunks) == [
        start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Two plus"}),
        delta(0, {"type": "thinking_delta", "thinking": " two."}),
        stop(0),
        block_start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "4"}),
        stop(1),
        *end("end_turn"),
    ]


def test_a_signed_thinking_block_closes_the_streamed_one_with_its_signature() -> None:
    """What Wardgate's Anthropic adapter sends: reasoning deltas, then the whole block once it is signed."""
    signed = {"type": "thinking", "thinking": "Two plus two.", "signature": "sig=="}
    chunks = [
        chunk({"reasoning_content": "Two plus"}),
        chunk({"reasoning_content": " two."}),
        chunk({"thinking_blocks": [signed]}),
        chunk({"thinking_blocks": [{"type": "redacted_thinking", "data": "opaque"}]}),
        chunk({"content": "4"}),
        chunk({}, "stop"),
        usage_chunk(),
    ]
    assert run(chunks) == [
        start(),
        block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Two plus"}),
        delta(0, {"type": "thinking_delta", "thinking": " two."}),
        delta(0, {"type": "signature_delta", "signature": "sig=="}),
        stop(0),
        block_start(1, {"type": "redacted_thinking", "data": "opaque"}),
        stop(1),
        block_start(2, {"type": "text", "text": ""}),
        delta(2, {"type": "text_delta", "text": "4"}),
        stop(2),
        *end("end_turn"),
    ]


def test_a_stop_sequence_named_by_the_provider_is_reported() -> None:
    chunks = [chunk({"content": "one"}), chunk({}, "stop", stop_reason="END"), usage_chunk()]
    assert run(chunks, ("END",))[-2:] == end("stop_sequence", "END")


def test_a_stream_that_ends_before_its_finish_reason_is_an_error() -> None:
    state = MessageStream("claude-x", "req1")
    state.feed(chunk({"content": "Hel"}))
    with pytest.raises(UpstreamError, match="ended before the answer was complete"):
        state.close()


def test_tool_arguments_that_do_not_add_up_to_a_json_object_are_an_error() -> None:
    state = MessageStream("claude-x", "req1")
    state.feed(chunk({"tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": '{"a":'}}]}))
    state.feed(chunk({}, "tool_calls"))
    with pytest.raises(UpstreamError, match="not a JSON object"):
        state.feed(usage_chunk())


def test_nothing_follows_message_stop() -> None:
    state = MessageStream("claude-x", "req1")
    state.feed(chunk({"content": "Hi"}))
    state.feed(chunk({}, "stop"))
    state.feed(usage_chunk())
    assert state.feed(chunk({"content": "late"})) == []


def test_events_are_framed_as_named_sse_events() -> None:
    assert encode([("message_stop", {"type": "message_stop"})]) == (
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )


def test_the_sdk_rebuilds_from_the_events_the_message_the_json_answer_gives() -> None:
    calls = [{"id": "call_a", "type": "function", "function": {"name": "f", "arguments": '{"x":1}'}}]
    completion = {
        "id": "chatcmpl-s1",
        "object": "chat.completion",
        "created": 1,
        "model": "up",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Let me see.", "tool_calls": calls},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": USAGE,
    }
    chunks = [
        chunk({"role": "assistant", "content": "Let me see."}),
        chunk({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "f", "arguments": '{"x"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]}),
        chunk({}, "tool_calls"),
        usage_chunk(),
    ]
    snapshot = None
    buffers: dict[int, bytes] = {}
    for _, data in run(chunks):
        snapshot = accumulate_event(event=EVENT.validate_python(data), current_snapshot=snapshot, json_bufs=buffers)
    assert snapshot is not None
    expected = to_message(completion, model="claude-x", fallback_id="req1", usage=None)
    assert snapshot.model_dump(exclude_none=True) == anthropic.types.Message.model_validate(expected).model_dump(
        exclude_none=True
    )
