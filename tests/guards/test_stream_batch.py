"""Chunks that arrive together (one read from the provider) go through the guards at once (GuardsStage.on_batch via
core.relay.BatchHook): a run of text events in the call's envelope is checked as one text and released as one event.
Whatever the batches, the client gets the same text as chunk by chunk, and no value leaks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from tests.guards.helpers import call, stage, start
from tests.guards.test_stream_fuzz import GUARDS, VALUES, pieces
from wardgate.core.call import Call, Chunk
from wardgate.core.relay import BatchHook, Relay
from wardgate.guards.scan import redact
from wardgate.guards.stage import GuardsStage

_LOOP = asyncio.new_event_loop()


def _event(text: str | None = None, *, role: bool = False, finish: str | None = None) -> Chunk:
    delta: dict[str, Any] = {}
    if role:
        delta["role"] = "assistant"
    if text is not None:
        delta["content"] = text
    data = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        "usage": None,
    }
    return Chunk(raw=orjson.dumps(data))  # as the provider's bytes reach the stage: not parsed


def _events(parts: list[str]) -> list[Chunk]:
    return [_event("", role=True), *(_event(p) for p in parts), _event(finish="stop")]


async def _source(batches: list[list[Chunk]]) -> AsyncIterator[list[Chunk]]:
    for batch in batches:
        yield batch


def _relay(s: GuardsStage, c: Call, batches: list[list[Chunk]]) -> list[Chunk]:
    relay = Relay(c, _source(batches))
    hook = s.chunk_hook(c)
    assert isinstance(hook, BatchHook)
    relay.set_hooks((hook,))

    async def drain() -> list[Chunk]:
        return [chunk async for batch in relay for chunk in batch]

    return _LOOP.run_until_complete(drain())


def _text(chunks: list[Chunk]) -> str:
    out = ""
    for chunk in chunks:
        for choice in orjson.loads(chunk.to_bytes())["choices"]:
            out += choice["delta"].get("content") or ""
    return out


def _batched(chunks: list[Chunk], rng: random.Random) -> list[list[Chunk]]:
    out, i = [], 0
    while i < len(chunks):
        n = rng.choice((1, 2, 3, 5, len(chunks)))
        out.append(chunks[i : i + n])
        i += n
    return out


def test_batches_release_what_chunk_by_chunk_releases_and_no_value_leaks() -> None:
    rng = random.Random(7)
    guards = stage(*GUARDS)
    cases = 0
    for value in VALUES:
        text = f"Our HTTP proxy says: {value} is it."
        probe = call()
        start(guards, probe)
        expected = redact(text, probe.guards.response.hits(text))  # type: ignore[attr-defined]
        assert value not in expected
        for _ in range(40):
            cuts = sorted(rng.sample(range(1, len(text)), rng.randint(1, min(8, len(text) - 1))))
            one_by_one = call()  # each stream its own events: the general path writes into the chunk it checks
            start(guards, one_by_one)
            single = _relay(guards, one_by_one, [[e] for e in _events(pieces(text, cuts))])
            together = call()
            start(guards, together)
            merged = _relay(guards, together, _batched(_events(pieces(text, cuts)), rng))
            assert _text(single) == _text(merged) == expected, (value, cuts)
            assert len(merged) <= len(single)
            cases += 1
    assert cases == 40 * len(VALUES)


def test_a_run_of_text_events_becomes_one_event() -> None:
    guards = stage(*GUARDS)
    c = call()
    start(guards, c)
    sentence = "Benchmarking an HTTP proxy means measuring its throughput and latency under load."
    words = sentence.split(" ")
    events = _events([w + " " for w in words])
    out = _relay(guards, c, [events])
    # the role event starts the choice and gives the envelope, so the first text event starts the run; the choice's
    # finish event ends it and carries its text, as chunk by chunk it carries what the redactor held
    assert len(out) == 2
    assert out[0].raw == events[0].raw
    assert _text(out) == " ".join(words) + " "
    assert orjson.loads(out[1].to_bytes())["choices"][0]["finish_reason"] == "stop"
    # the finish in the next read: the run is one event of its own
    again = call()
    start(guards, again)
    events = _events([w + " " for w in words])
    out = _relay(guards, again, [events[:-1], events[-1:]])
    assert len(out) == 3
    assert _text(out) == " ".join(words) + " "
    assert out[2].raw == events[-1].raw  # nothing held: the finish event as it came


def test_a_first_text_event_without_a_role_event_before_it_is_checked_as_chunk_by_chunk() -> None:
    guards = stage(*GUARDS)
    for value in VALUES:
        text = f"Hello there, {value} is it."
        parts = pieces(text, [3, 7, 20, len(text) - 4])

        together, one_by_one = call(), call()
        start(guards, together)
        start(guards, one_by_one)
        # no role event first: the choice has no redactor yet (each stream its own events: they are written into)
        merged = _relay(guards, together, [[*(_event(p) for p in parts), _event(finish="stop")]])
        single = _relay(guards, one_by_one, [[e] for e in [*(_event(p) for p in parts), _event(finish="stop")]])
        assert _text(merged) == _text(single)
        assert value not in _text(merged)


def test_events_that_are_not_one_json_string_take_the_general_path() -> None:
    guards = stage(*GUARDS)
    c = call()
    start(guards, c)
    first, second = _event("Hello "), _event("there ")
    envelope_prefix = first.raw[: first.raw.index(b'"Hello ')]  # type: ignore[index]
    envelope_suffix = first.raw[first.raw.index(b'"Hello ') + len(b'"Hello "') :]  # type: ignore[index]
    hostile = Chunk(raw=envelope_prefix + b'"a","b"' + envelope_suffix)  # not one string: not valid JSON either
    number = Chunk(raw=envelope_prefix + b"42" + envelope_suffix)

    def events() -> list[Chunk]:
        return [
            _event("", role=True),
            Chunk(raw=first.raw),
            Chunk(raw=second.raw),
            Chunk(raw=number.raw),
            Chunk(raw=hostile.raw),
            _event("and more "),
            _event(finish="stop"),
        ]

    with pytest.raises(orjson.JSONDecodeError):  # the general path parses the invalid event, as chunk by chunk does
        _relay(guards, c, [events()])
    again = call()
    start(guards, again)
    out = _relay(guards, again, [[e for e in events() if e.raw != hostile.raw]])
    one = call()
    start(guards, one)
    single = _relay(guards, one, [[e] for e in [e for e in events() if e.raw != hostile.raw]])
    assert _text(out) == _text(single) == "Hello there and more "


def test_pseudonymized_answers_are_restored_across_a_batch() -> None:
    guards = stage({"name": "pii", "type": "pii", "on": "both", "action": "pseudonymize", "entities": ["email"]})
    c = call({"model": "m", "messages": [{"role": "user", "content": "Write to jane@example.org please"}]})
    start(guards, c)
    assert "<EMAIL_1>" in c.body["messages"][0]["content"]
    events = _events(["I wrote to <EMA", "IL_1> as ", "asked."])
    out = _relay(guards, c, [events])
    assert _text(out) == "I wrote to jane@example.org as asked."


def test_an_event_the_guards_leave_as_it_is_is_relayed_as_it_came() -> None:
    guards = stage(*GUARDS)
    for batches in ([_events(["Hello ", "there."])], [[e] for e in _events(["Hello ", "there."])]):
        c = call()
        start(guards, c)
        role = batches[0][0]
        raw = role.raw
        out = _relay(guards, c, batches)
        assert out[0] is role and out[0].raw == raw  # not parsed and written again
        assert _text(out) == "Hello there."
