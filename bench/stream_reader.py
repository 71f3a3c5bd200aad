"""Micro-benchmark of the provider stream readers: CPU per streamed event, no network.

Each adapter's ``open_stream`` runs against a stand-in for ``UpstreamHTTP`` whose response hands out prepared reads
(two events a read, as a provider's small writes usually arrive), so only framing, translation and the reading loop
are measured. Run: ``.venv/bin/python -m bench.stream_reader`` (after ``make test`` has built the venv; the
Bedrock row needs ``wardgate[bedrock]``).
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson

from wardgate.core.call import Call
from wardgate.core.deployment import Deployment

EVENTS = 200  # content events a stream
STREAMS = 50  # streams a round
ROUNDS = 41
PER_READ = 2


class _Content:
    def __init__(self, reads: list[bytes]) -> None:
        self._reads = reads

    async def iter_any(self) -> AsyncIterator[bytes]:
        for data in self._reads:
            yield data


class _Response:
    status = 200
    content_type = "text/event-stream"  # not a whole JSON answer (providers/unstreamed.py)
    headers: dict[str, str] = {}  # noqa: RUF012 - read only

    def __init__(self, reads: list[bytes]) -> None:
        self.content = _Content(reads)

    def release(self) -> None:
        pass

    def close(self) -> None:
        pass


class _HTTP:
    """Answers every request with the same prepared stream (old and new adapter code paths alike)."""

    def __init__(self, reads: list[bytes]) -> None:
        self.reads = reads

    async def post(self, *args: Any, **kwargs: Any) -> _Response:
        return _Response(self.reads)

    async def open(self, *args: Any, **kwargs: Any) -> _Response:
        return _Response(self.reads)


def _reads(frames: list[bytes]) -> list[bytes]:
    return [b"".join(frames[i : i + PER_READ]) for i in range(0, len(frames), PER_READ)]


def openai_stream() -> list[bytes]:
    frames = [
        b"data: "
        + orjson.dumps(
            {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 1,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": f" word{i}"}, "finish_reason": None}],
            }
        )
        + b"\n\n"
        for i in range(EVENTS)
    ]
    return _reads([*frames, b"data: [DONE]\n\n"])


def anthropic_stream() -> list[bytes]:
    def sse(event: dict[str, Any]) -> bytes:
        return b"event: " + event["type"].encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"

    usage = {"input_tokens": 5, "output_tokens": 1}
    start = {
        "type": "message_start",
        "message": {"id": "msg_1", "model": "claude", "role": "assistant", "usage": usage},
    }
    frames = [
        sse(start),
        sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        *(
            sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f" w{i}"}})
            for i in range(EVENTS)
        ),
        sse({"type": "content_block_stop", "index": 0}),
        sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": EVENTS}}),
        sse({"type": "message_stop"}),
    ]
    return _reads(frames)


def gemini_stream() -> list[bytes]:
    def event(i: int, last: bool = False) -> bytes:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": [{"text": f" w{i}"}]}, "index": 0}
        body: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-2.5-flash", "responseId": "r1"}
        if last:
            candidate["finishReason"] = "STOP"
            body["usageMetadata"] = {"promptTokenCount": 5, "candidatesTokenCount": EVENTS, "totalTokenCount": 205}
        return b"data: " + orjson.dumps(body) + b"\r\n\r\n"

    return _reads([event(i, last=i == EVENTS - 1) for i in range(EVENTS)])


def bedrock_stream() -> list[bytes]:
    from tests.fakes.bedrock_logic import event_frame

    frames = [
        event_frame("messageStart", {"role": "assistant"}),
        *(
            event_frame("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": f" w{i}"}})
            for i in range(EVENTS)
        ),
        event_frame("contentBlockStop", {"contentBlockIndex": 0}),
        event_frame("messageStop", {"stopReason": "end_turn"}),
        event_frame("metadata", {"usage": {"inputTokens": 5, "outputTokens": EVENTS, "totalTokens": 5 + EVENTS}}),
    ]
    return _reads(frames)


def openai_adapter(http: Any) -> Any:
    from wardgate.providers.openai import OpenAIAdapter

    return OpenAIAdapter(
        "openai",
        "openai",
        http,
        base_url="http://x",
        headers={},
        operations=frozenset({"chat"}),
        stream_usage=False,
        secrets=(),
    )


def anthropic_adapter(http: Any) -> Any:
    from wardgate.providers.anthropic.adapter import AnthropicAdapter

    return AnthropicAdapter(
        http=http, name="anthropic", base_url="http://x", headers={}, default_max_tokens=64, secrets=()
    )


def gemini_adapter(http: Any) -> Any:
    from wardgate.providers.gemini.adapter import GeminiAdapter

    return GeminiAdapter("gemini", http, "http://x", "AIza-bench")


def bedrock_adapter(http: Any) -> Any:
    from botocore.credentials import Credentials

    from wardgate.providers.bedrock.adapter import BedrockAdapter
    from wardgate.providers.bedrock.sigv4 import Signer

    return BedrockAdapter(
        "bedrock", http, base_url="http://x", signer=Signer(Credentials("AKID", "secret"), "us-east-1")
    )


CASES: dict[str, tuple[Callable[[], list[bytes]], Callable[[Any], Any], str]] = {
    "openai": (openai_stream, openai_adapter, "gpt-4o-mini"),
    "anthropic": (anthropic_stream, anthropic_adapter, "claude-sonnet-4-5"),
    "gemini": (gemini_stream, gemini_adapter, "gemini-2.5-flash"),
    "bedrock": (bedrock_stream, bedrock_adapter, "anthropic.claude-3-5-sonnet-20240620-v1:0"),
}


async def _round(adapter: Any, model: str) -> float:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    started = time.process_time()
    for _ in range(STREAMS):
        call = Call("b", "openai", "chat", "m", body, True, None, 0.0)
        call.deployment = Deployment(name="p/m", provider="p", upstream_model=model, adapter=adapter)
        async for _batch in await adapter.open_stream(call):
            pass
    return time.process_time() - started


async def main(names: list[str]) -> None:
    for name in names:
        make_reads, make_adapter, model = CASES[name]
        adapter = make_adapter(_HTTP(make_reads()))
        await _round(adapter, model)  # warm up
        times = [await _round(adapter, model) for _ in range(ROUNDS)]
        best, median = (t / (STREAMS * EVENTS) * 1e6 for t in (min(times), statistics.median(times)))
        print(f"{name:10s} {best:6.2f} µs CPU per streamed event (best of {ROUNDS} rounds; median {median:.2f})")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:] or list(CASES)))
