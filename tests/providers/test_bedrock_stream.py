"""ConverseStream events (real event-stream frames, as the fake sends them) → OpenAI chunks."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.bedrock import encode_frame, encode_header, event_frame, exception_frame
from tests.openapi_schema import validate
from wardgate.core.call import Chunk
from wardgate.core.errors import InvalidRequest, UpstreamError, UpstreamRateLimited, WardgateError
from wardgate.core.usage import Usage
from wardgate.providers.bedrock.stream import StreamState, chunks_from_message
from wardgate.providers.framing.eventstream import EventStreamDecoder, EventStreamMessage

MODEL = "amazon.nova-pro-v1:0"


def decode_message(frame: bytes) -> EventStreamMessage:
    [message] = EventStreamDecoder().feed(frame)
    return message


def state(include_usage: bool = True) -> StreamState:
    return StreamState(response_id="chatcmpl-s", model=MODEL, created=1700000000, include_usage=include_usage)


def run(events: list[tuple[str, dict[str, Any]]], st: StreamState) -> list[Chunk]:
    out: list[Chunk] = []
    for kind, payload in events:
        out.extend(chunks_from_message(decode_message(event_frame(kind, payload)), st, "aws"))
    return out


def deltas(chunks: list[Chunk]) -> list[dict[str, Any]]:
    return [c.data["choices"][0]["delta"] for c in chunks if c.data["choices"]]


USAGE = {
    "inputTokens": 12,
    "outputTokens": 3,
    "totalTokens": 65,
    "cacheReadInputTokens": 40,
    "cacheWriteInputTokens": 10,
}
TEXT_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("messageStart", {"p": "abc", "role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hello"}, "p": "ab"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": " there"}, "p": "ab"}),
    ("contentBlockStop", {"contentBlockIndex": 0, "p": "a"}),
    ("messageStop", {"p": "abcd", "stopReason": "end_turn"}),
    ("metadata", {"metrics": {"latencyMs": 99}, "p": "x", "usage": USAGE}),
]
TOOL_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("messageStart", {"role": "assistant"}),
    ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking."}}),
    ("contentBlockStop", {"contentBlockIndex": 0}),
    (
        "contentBlockStart",
        {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather"}}},
    ),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"city":'}}}),
    ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '"Paris"}'}}}),
    ("contentBlockStop", {"contentBlockIndex": 1}),
    ("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tooluse_2", "name": "now"}}}),
    ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": ""}}}),
    ("contentBlockStop", {"contentBlockIndex": 2}),
    ("messageStop", {"stopReason": "tool_use"}),
    ("metadata", {"metrics": {"latencyMs": 5}, "usage": {"inputTokens": 3, "outputTokens": 4, "totalTokens": 7}}),
]


def test_a_text_stream_becomes_role_content_finish_and_usage_chunks() -> None:
    st = state()
    chunks = run(TEXT_EVENTS, st)
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.data)
    assert deltas(chunks) == [{"role": "assistant", "content": ""}, {"content": "Hello"}, {"content": " there"}, {}]
    assert chunks[3].data["choices"][0]["finish_reason"] == "stop"
    assert all(c.data["id"] == "chatcmpl-s" and c.data["model"] == MODEL for c in chunks)
    last = chunks[-1]
    assert last.data["choices"] == []
    assert last.usage == Usage(input_tokens=62, output_tokens=3, cached_tokens=40, cache_write_tokens=10)
    assert last.data["usage"]["prompt_tokens"] == 62
    assert st.stopped and st.usage == last.usage


def test_without_include_usage_the_usage_is_kept_but_not_sent() -> None:
    st = state(include_usage=False)
    chunks = run(TEXT_EVENTS, st)
    assert all(c.data["choices"] for c in chunks)
    assert st.usage == Usage(input_tokens=62, output_tokens=3, cached_tokens=40, cache_write_tokens=10)


def test_tool_use_blocks_stream_as_openai_tool_call_deltas() -> None:
    chunks = run(TOOL_EVENTS, state())
    for chunk in chunks:
        validate("CreateChatCompletionStreamResponse", chunk.data)
    assert deltas(chunks) == [
        {"role": "assistant", "content": ""},
        {"content": "Checking."},
        {
            "tool_calls": [
                {
                    "index": 0,
                    "id": "tooluse_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ]
        },
        {"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]},
        {
            "tool_calls": [
                {"index": 1, "id": "tooluse_2", "type": "function", "function": {"name": "now", "arguments": ""}}
            ]
        },
        {"tool_calls": [{"index": 1, "function": {"arguments": ""}}]},
        {},
    ]
    assert chunks[-2].data["choices"][0]["finish_reason"] == "tool_calls"


def test_reasoning_deltas_go_to_reasoning_content_and_signatures_are_dropped() -> None:
    chunks = run(
        [
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm."}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
        ],
        state(),
    )
    assert deltas(chunks) == [{"reasoning_content": "Hmm."}]


def test_unknown_events_are_skipped() -> None:
    assert (
        run(
            [("someFutureEvent", {"x": 1}), ("contentBlockStart", {"contentBlockIndex": 0, "start": {"image": {}}})],
            state(),
        )
        == []
    )


def test_tool_input_for_a_block_that_never_started_is_an_upstream_error() -> None:
    with pytest.raises(UpstreamError, match="did not start a tool call"):
        run([("contentBlockDelta", {"contentBlockIndex": 3, "delta": {"toolUse": {"input": "{}"}}})], state())


@pytest.mark.parametrize(
    ("exception", "error", "status"),
    [
        ("throttlingException", UpstreamRateLimited, 429),
        ("validationException", InvalidRequest, 400),
        ("modelStreamErrorException", UpstreamError, 502),
        ("internalServerException", UpstreamError, 502),  # a provider 500 is a gateway 502
        ("serviceUnavailableException", UpstreamError, 503),
        ("somethingNewException", UpstreamError, 502),
    ],
)
def test_exception_frames_raise_the_error_their_type_names(
    exception: str, error: type[WardgateError], status: int
) -> None:
    message = decode_message(exception_frame(exception, "Too many tokens, please wait before trying again."))
    with pytest.raises(error) as caught:
        chunks_from_message(message, state(), "aws")
    assert caught.value.status == status
    assert caught.value.message == f"aws: {exception}: Too many tokens, please wait before trying again."


def test_a_generic_error_frame_is_an_upstream_error_with_its_code_and_message() -> None:
    headers = (
        encode_header(":message-type", "error")
        + encode_header(":error-code", "InternalFailure")
        + encode_header(":error-message", "key AKIAFAKE0000 failed")
    )
    with pytest.raises(UpstreamError) as caught:
        chunks_from_message(decode_message(encode_frame(headers, b"")), state(), "aws", ("AKIAFAKE0000",))
    assert caught.value.message == "aws: InternalFailure: key *** failed"


def test_an_event_whose_payload_is_not_json_is_an_upstream_error() -> None:
    headers = encode_header(":event-type", "contentBlockDelta") + encode_header(":message-type", "event")
    with pytest.raises(UpstreamError, match="not JSON"):
        chunks_from_message(decode_message(encode_frame(headers, b"{oops")), state(), "aws")
