"""Building a guards stage and a call for it, and driving chunks through it as the relay does."""

from __future__ import annotations

import asyncio
from typing import Any

from wardgate.config.guards import GuardConfig
from wardgate.core.call import Call, Chunk
from wardgate.guards.engine import compile_guards
from wardgate.guards.stage import GuardsStage


def stage(*guards: dict[str, Any], holdback: int = 64) -> GuardsStage:
    return GuardsStage(compile_guards([GuardConfig.model_validate(g) for g in guards]), holdback, None)


def call(body: dict[str, Any] | None = None, *, stream: bool = True, operation: str = "chat") -> Call:
    body = body if body is not None else {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    return Call("req-1", "openai", operation, "m", body, stream, None, 0.0)  # type: ignore[arg-type]


_LOOP = asyncio.new_event_loop()  # one loop for every call in these unit tests: asyncio.run per call costs more


def start(s: GuardsStage, c: Call) -> None:
    assert _LOOP.run_until_complete(s.before(c)) is None


def text_chunk(text: str, *, finish: str | None = None, role: bool = False) -> Chunk:
    delta: dict[str, Any] = {"content": text}
    if role:
        delta["role"] = "assistant"
    return Chunk(
        {
            "id": "c1",
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def relay(s: GuardsStage, c: Call, chunks: list[Chunk]) -> list[Chunk]:
    out = []
    for chunk in chunks:
        seen = s.on_chunk(c, chunk)
        if seen is not None:
            out.append(seen)
    return out


def content(chunks: list[Chunk]) -> str:
    return "".join(
        choice["delta"].get("content") or "" for chunk in chunks for choice in chunk.data.get("choices") or ()
    )
