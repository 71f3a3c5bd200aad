"""Streamed events passed as the provider's bytes (guards/envelope.py, ``enveloped``): once an event of a choice's
text has been checked the general way and its envelope (the bytes around its text) is known, later events of that
envelope have only their text parsed and encoded. The bytes sent must be exactly those of the general path (each
event parsed, its text replaced, the object re-encoded), and the decisions the same, whatever the text and split."""

from __future__ import annotations

import random
import re
from typing import Any

import orjson
import pytest

from tests.guards.helpers import call, stage, start
from tests.guards.test_stream_fast import ALL_GUARDS, BENCH_GUARDS, TEXTS
from wardgate.core.call import Chunk, Usage
from wardgate.guards.errors import GuardBlocked
from wardgate.guards.state import GuardState

HEAD = (
    b'{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1732400000,"model":"gpt-4o-mini",'
    b'"system_fingerprint":"fp_1","choices":[{"index":%d,"delta":%s,"logprobs":null,"finish_reason":%s}],'
    b'"usage":null}'
)
ODD = [  # texts whose JSON strings hold escapes, quotes, non-ASCII and JSON-looking pieces
    'say "hi"\\n \u00e9t\u00e9 \U0001f600 {"delta":{"content":"x"}}',
    "line one\nline two\ttab \u2028 \x01 end",
    '"},"logprobs":null,"finish_reason":null}],"usage":null}',
]


def _event(text: str | None, *, index: int = 0, finish: str | None = None, role: bool = False) -> bytes:
    delta: dict[str, Any] = {"role": "assistant", "content": ""} if role else {}
    if text is not None:
        delta["content"] = text
    finish_reason = orjson.dumps(finish)
    return HEAD % (index, orjson.dumps(delta), finish_reason)


def _events(text: str, rng: random.Random, index: int = 0) -> list[bytes]:
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(0, 12)))) if len(text) > 1 else []
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]
    return [_event(None, index=index, role=True), *(_event(p, index=index) for p in pieces)] + [
        _event("", index=index, finish="stop")
    ]


def _run(guards: tuple[dict[str, Any], ...], events: list[bytes], raw: bool) -> tuple[list[bytes], object]:
    s = stage(*guards)
    c = call()
    start(s, c)
    out: list[bytes] = []
    try:
        for event in events:
            usage = None
            if b'"usage":{' in event:
                obj = orjson.loads(event)
                chunk = Chunk(obj, raw=event, usage=Usage.from_openai(obj["usage"]))
            else:
                chunk = Chunk(raw=event) if raw else Chunk(orjson.loads(event), usage=usage)
            seen = s.on_chunk(c, chunk)
            if seen is not None:
                out.append(seen.to_bytes())
    except GuardBlocked as exc:
        out.append(b"blocked: " + exc.to_dict()["error"]["param"].encode())
    state = c.guards
    assert isinstance(state, GuardState)
    decisions = {name: (d.action, dict(d.counts), d.snippets) for name, d in state.decisions.items()}
    return out, decisions


@pytest.mark.parametrize("guards", [BENCH_GUARDS, ALL_GUARDS], ids=["bench", "all"])
def test_enveloped_events_are_sent_as_the_general_path_sends_them(guards: tuple[dict[str, Any], ...]) -> None:
    rng = random.Random(11)
    enveloped = 0
    for text in [*TEXTS, *ODD, "Benchmarking an HTTP proxy means measuring its throughput."]:
        for _ in range(4):
            events = _events(text, rng)
            general = _run(guards, events, raw=False)
            fast = _run(guards, events, raw=True)
            assert fast == general, text
            enveloped += len(events)
    assert enveloped > 1000


def test_the_envelope_is_used_and_other_events_take_the_general_path() -> None:
    s = stage(*BENCH_GUARDS)
    c = call()
    start(s, c)
    text = "one two three four five six "
    events = _events(text, random.Random(3))
    for event in events[:3]:
        s.on_chunk(c, Chunk(raw=event))
    state = c.guards
    assert isinstance(state, GuardState) and state.envelope is not None
    prefix, suffix, index = state.envelope
    assert index == 0 and prefix.endswith(b'"delta":{"content":') and suffix.startswith(b"}")
    # another choice, a finish, a usage chunk, bytes that are not one JSON string: the general path, same bytes
    for event in [_event("x y ", index=1), _event("z ", finish="length"), prefix + b"12" + suffix]:
        seen = s.on_chunk(c, Chunk(raw=event))
        assert seen is None or orjson.loads(seen.to_bytes())
    with pytest.raises(orjson.JSONDecodeError):  # not JSON: as the general path, the stream fails
        s.on_chunk(c, Chunk(raw=prefix + b'"a","b"' + suffix))


def test_a_provider_whose_bytes_are_not_compact_is_checked_the_general_way() -> None:
    s = stage(*BENCH_GUARDS)
    c = call()
    start(s, c)
    events = [re.sub(rb'":', b'": ', e) for e in _events("alpha beta gamma delta ", random.Random(5))]
    out = []
    for event in events:
        seen = s.on_chunk(c, Chunk(raw=event))
        if seen is not None:
            out.append(orjson.loads(seen.to_bytes())["choices"][0]["delta"].get("content") or "")
    state = c.guards
    assert isinstance(state, GuardState) and state.envelope is None and state.envelope_tried
    assert "".join(out) == "alpha beta gamma delta "


@pytest.mark.parametrize("guards", [BENCH_GUARDS, ALL_GUARDS], ids=["bench", "all"])
def test_a_finish_event_with_an_empty_delta_is_sent_as_the_general_path_sends_it(
    guards: tuple[dict[str, Any], ...],
) -> None:
    """The finish envelope (from the role event): what the redactor held is put into the finish event's delta, byte
    for byte as the general path writes it; with nothing held, the event goes as it came."""
    rng = random.Random(13)
    finishes = 0
    for text in [*TEXTS, *ODD, "Benchmarking an HTTP proxy means measuring its throughput.", "ends in a space "]:
        for reason in ("stop", "length", "content_filter"):
            events = [*_events(text, rng)[:-1], _event(None, finish=reason)]  # the finish's delta is {}
            general = _run(guards, events, raw=False)
            fast = _run(guards, events, raw=True)
            assert fast == general, (text, reason)
            finishes += 1
    assert finishes > 100


def test_the_finish_envelope_is_used_only_for_a_finish_with_an_empty_delta() -> None:
    s = stage(*BENCH_GUARDS)
    c = call()
    start(s, c)
    role, first = _event(None, role=True), _event("Hello there")
    s.on_chunk(c, Chunk(raw=role))
    state = c.guards
    assert isinstance(state, GuardState) and state.finish is not None and state.envelope is not None
    prefix, suffix, at = state.finish
    assert prefix.endswith(b'"finish_reason":') and prefix[at : at + 2] == b"{}"
    assert s.on_chunk(c, Chunk(raw=first)) is not None  # "Hello " released, "there" held
    for odd in (prefix + b'""' + suffix, prefix + b"null" + suffix):
        seen = s.on_chunk(c, Chunk(raw=odd))  # no finish: the general path, which holds the text back
        assert seen is None or "there" not in seen.to_bytes().decode()
    with pytest.raises(orjson.JSONDecodeError):  # not JSON: as the general path, the stream fails
        s.on_chunk(c, Chunk(raw=prefix + b'"a","b"' + suffix))
    finish = Chunk(raw=_event(None, finish="stop"))
    seen = s.on_chunk(c, finish)
    assert seen is not None and orjson.loads(seen.to_bytes())["choices"][0]["delta"] == {"content": "there"}
    again = Chunk(raw=_event(None, finish="stop"))
    assert s.on_chunk(c, again) is again  # nothing held: as it came
