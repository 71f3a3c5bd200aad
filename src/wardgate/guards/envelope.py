"""Streamed text events whose envelope repeats, relayed without parsing or encoding it again.

An OpenAI-style stream repeats the same bytes around each event's text: ``{"id":…,"choices":[{"index":0,
"delta":{"content":`` + the text's JSON string + ``},"logprobs":null,"finish_reason":null}],…}``. Once one such
event has been checked the general way, and its bytes are exactly what ``orjson.dumps`` writes for its parsed
object (compact, no duplicate keys, so re-encoding changes nothing but the text), a later event made of the same
prefix and suffix around one JSON string is that same object with another text: the string alone is parsed, the
released text is encoded alone and put back between the prefix and suffix. These are the bytes the general path
writes (it parses the whole event, sets ``delta.content`` and re-encodes it), without parsing or encoding the rest."""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.core.call import Chunk
from wardgate.guards.state import GuardState


def released_text(state: GuardState, index: int, text: str) -> str | None:
    """What a choice's next piece of text releases when only its redactor is needed (not the choice's first chunk,
    no pseudonyms); None when the stage's general per-choice path is needed."""
    redactor = state.texts.get(index)
    names = state.pseudonyms
    scanner = state.response
    if redactor is None or (names is not None and names.values) or scanner is None or not scanner.guards:
        return None
    return redactor.feed(text) if text else ""


GENERAL = Chunk(raw=b"")  # "not an enveloped event: take the general path"
# put in an event's object where its delta and finish reason are, its JSON is split there: quoted, it can only be one
# of the values put there (a string's quotes are escaped inside a JSON string), so it parts them wherever it lies
_MARK = "\ue000wardgate\ue000"
_MARKED = orjson.dumps(_MARK)


def find_envelope(state: GuardState, raw: bytes, data: dict[str, Any], choice: object) -> None:
    """Looks once per call, on its first event of one choice (OpenAI's role event, or a first text event), for the
    bytes around a text event's text: those of this event's object with its delta ``{"content": …}``. So the first
    text event is already in the envelope, and the role event's bytes are all it takes (it is parsed anyway). And
    the bytes around a finish event's reason: this object with its delta ``{}`` and a ``finish_reason``."""
    if type(choice) is not dict or choice.get("finish_reason") or choice.get("logprobs") or data.get("usage"):
        return
    delta = choice.get("delta")
    if type(delta) is not dict:
        return
    state.envelope_tried = True
    index = choice.get("index", 0)
    index = index if isinstance(index, int) else 0
    reasoned = "finish_reason" in choice
    reason = choice.get("finish_reason")
    try:
        choice["delta"] = _MARK
        if reasoned:
            choice["finish_reason"] = _MARK
        parts = orjson.dumps(data).split(_MARKED)
    finally:
        choice["delta"] = delta
        if reasoned:
            choice["finish_reason"] = reason
    if not raw.startswith(parts[0]) or not raw.endswith(parts[-1]):
        return  # the provider does not write as orjson does: no later event would be in the envelope
    if len(parts) == 2:  # no finish reason: a text envelope only
        state.envelope = (parts[0] + b'{"content":', b"}" + parts[1], index)
    elif len(parts) == 3 and parts[0].endswith(b'"delta":'):  # the delta before the reason, as OpenAI writes them
        head, between, tail = parts
        state.envelope = (head + b'{"content":', b"}" + between + orjson.dumps(reason) + tail, index)
        state.finish = (head + b"{}" + between, tail, len(head))


def between(raw: bytes, prefix: bytes, suffix: bytes) -> object:
    """The JSON value an event holds between an envelope's ``prefix`` and ``suffix``; None when it is not wrapped so,
    or not one JSON value (callers want a string, which None is not)."""
    if len(raw) <= len(prefix) + len(suffix) or not raw.startswith(prefix) or not raw.endswith(suffix):
        return None
    try:
        return orjson.loads(raw[len(prefix) : len(raw) - len(suffix)])
    except orjson.JSONDecodeError:
        return None


def finishes(state: GuardState, chunk: Chunk) -> bool:
    """Whether ``chunk`` is the envelope's choice's finish event with an empty delta (``state.finish``), and the
    choice needs nothing but its redactor: its flush is all its check does."""
    finish, raw = state.finish, chunk.raw
    if finish is None or raw is None or chunk.usage is not None or chunk.parsed:
        return False
    reason = between(raw, finish[0], finish[1])
    assert state.envelope is not None
    index = state.envelope[2]
    return type(reason) is str and reason != "" and index not in state.tools and released_text(state, index, "") == ""


def finished(state: GuardState, chunk: Chunk, text: str = "") -> Chunk:
    """What the stage's ``on_chunk`` returns for a finish event (``finishes``), ``text`` of the choice arrived with
    it (a run of text events before it in one read, ``AnswerChunks.on_batch``): what the redactor releases of it and
    then holds, in the event's delta, as the general path writes it; the event as it came when that is nothing;
    ``GENERAL`` if not such an event."""
    if not finishes(state, chunk):
        return GENERAL
    assert state.finish is not None and state.envelope is not None and chunk.raw is not None
    redactor = state.texts[state.envelope[2]]
    released = redactor.feed(text) + redactor.flush() if text else redactor.flush()
    if not released:
        return chunk
    raw, at = chunk.raw, state.finish[2]  # the delta's ``{}``
    return Chunk(raw=raw[:at] + b'{"content":' + orjson.dumps(released) + b"}" + raw[at + 2 :])


def joined_strings(run: list[Chunk], low: int, high: int) -> str | None:
    """The texts of a run of events' JSON strings (each event's bytes less its first ``low`` and last ``high``:
    at least 1, the ``}`` that closes the delta), joined (one parse for them all); None when one of them is not
    exactly one JSON string."""
    try:
        texts = orjson.loads(b"[" + b",".join([chunk.raw[low:-high] for chunk in run]) + b"]")  # type: ignore[index]
    except orjson.JSONDecodeError:
        return None
    if type(texts) is not list or len(texts) != len(run):
        return None
    try:  # each middle holds at least a byte, so as many values as events is one value each
        return "".join(texts)
    except TypeError:  # one of them is not a string
        return None


def enveloped(state: GuardState, envelope: tuple[bytes, bytes, int], raw: bytes) -> Chunk | None:
    """What the stage's ``on_chunk`` returns for an event that is the envelope around one JSON string; ``GENERAL``
    when it is not one, or when its choice needs the general path."""
    prefix, suffix, index = envelope
    text = between(raw, prefix, suffix)
    if type(text) is not str:
        return GENERAL
    released = released_text(state, index, text)
    if released is None:
        return GENERAL
    if not released:  # the envelope's usage is null (checked when it was found): a silent event
        return None
    return Chunk(raw=prefix + orjson.dumps(released) + suffix)
