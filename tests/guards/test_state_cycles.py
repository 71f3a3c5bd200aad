"""A call's guard state holds no reference cycle (guards/state.py, Decisions): it goes when the call does, by
reference counting, and never waits for (nor adds work to) the cyclic garbage collector. A served worker's collector
otherwise walked every streamed call's state, its scanner, redactors and tool holds, and promoted them while the call
was still under way."""

from __future__ import annotations

import gc
from collections.abc import Coroutine, Iterator
from typing import Any

import orjson
import pytest

from tests.guards.helpers import call, stage
from wardgate.core.call import Chunk, Result
from wardgate.guards.stage import GuardsStage

GUARDS = (
    {"name": "pii", "type": "pii", "on": "both", "action": "redact"},
    {"name": "secrets", "type": "secrets", "on": "both", "action": "redact"},
    {"name": "tools", "type": "tools", "on": "both", "action": "block", "allow": ["get_*"]},
)


def _run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drives a coroutine that never waits: no event loop, whose own objects would be cyclic garbage."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise AssertionError("the coroutine waited")


def _event(delta: dict[str, Any], finish: str | None = None) -> Chunk:
    choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
    return Chunk(raw=orjson.dumps({"id": "c", "object": "chat.completion.chunk", "choices": [choice], "usage": None}))


def _stream() -> list[Chunk]:
    tool = {"index": 0, "id": "t1", "type": "function", "function": {"name": "get_mail", "arguments": '{"to": "'}}
    more = {"index": 0, "function": {"arguments": 'jane@example.org"}'}}
    return [
        _event({"role": "assistant", "content": ""}),
        _event({"content": "Write to "}),
        _event({"content": "jane@example.org "}),
        _event({"content": "today."}),
        _event({"tool_calls": [tool]}),
        _event({"tool_calls": [more]}),
        _event({}, finish="tool_calls"),
    ]


@pytest.fixture
def no_collector() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _streamed(guards: GuardsStage) -> str:
    c = call({"model": "m", "messages": [{"role": "user", "content": "mail jane@example.org"}]})
    _run(guards.before(c))
    out = guards.on_batch(c, _stream()[:4]) + [seen for e in _stream()[4:] if (seen := guards.on_chunk(c, e))]
    _run(guards.after(c, None, None))
    return b"".join(chunk.to_bytes() for chunk in out).decode()


def test_a_streamed_call_with_redactions_and_tool_calls_leaves_no_cyclic_garbage(no_collector: None) -> None:
    guards = stage(*GUARDS)
    sent = _streamed(guards)
    assert "jane@example.org" not in sent and "[EMAIL]" in sent and "get_mail" in sent
    gc.collect()
    for _ in range(3):
        _streamed(guards)
    assert gc.collect() == 0


def test_a_checked_json_answer_leaves_no_cyclic_garbage(no_collector: None) -> None:
    guards = stage(*GUARDS)

    def one() -> None:
        c = call({"model": "m", "messages": [{"role": "user", "content": "mail jane@example.org"}]}, stream=False)
        _run(guards.before(c))
        body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Sent to jane@example.org."}}]}
        result = Result(raw=orjson.dumps(body), _body=body)
        _run(guards.after(c, result, None))
        assert "[EMAIL]" in result.body["choices"][0]["message"]["content"]

    one()
    gc.collect()
    for _ in range(3):
        one()
    assert gc.collect() == 0
