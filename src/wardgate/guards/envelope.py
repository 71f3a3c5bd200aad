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
_CONTENT = b'"delta":{"content":'


def find_envelope(state: GuardState, raw: bytes, data: dict[str, Any], choice: object) -> None:
    """Looks once per call, on its first event of one text-only choice, for the bytes around the text."""
    if type(choice) is not dict or choice.get("finish_reason") or choice.get("logprobs"):
        return
    delta = choice.get("delta")
    if type(delta) is not dict or len(delta) != 1 or type(delta.get("content")) is not str or data.get("usage"):
        return
    state.envelope_tried = True
    text = orjson.dumps(delta["content"])
    at = raw.find(_CONTENT + text + b"}")
    if at < 0 or raw.find(_CONTENT, at + 1) >= 0 or orjson.dumps(data) != raw:
        return
    start = at + len(_CONTENT)
    index = choice.get("index", 0)
    state.envelope = (raw[:start], raw[start + len(text) :], index if isinstance(index, int) else 0)


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
    if len(raw) <= len(prefix) + len(suffix) or not raw.startswith(prefix) or not raw.endswith(suffix):
        return GENERAL
    try:
        text = orjson.loads(raw[len(prefix) : len(raw) - len(suffix)])
    except orjson.JSONDecodeError:
        return GENERAL
    if type(text) is not str:
        return GENERAL
    released = released_text(state, index, text)
    if released is None:
        return GENERAL
    if not released:  # the envelope's usage is null (checked when it was found): a silent event
        return None
    return Chunk(raw=prefix + orjson.dumps(released) + suffix)
