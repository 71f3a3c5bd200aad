"""The JSON body of a data-plane request: an object, nested at most ``MAX_DEPTH`` levels, or a 400.

One depth limit serves parsing and every later re-encoding. orjson parses 1,024 levels but encodes only 254, so a
body nested between the two would parse, then fail when a stage or an adapter encodes it (a 500). ``MAX_DEPTH`` sits
well under the encoder's limit, leaving room for the levels a translation wraps around client values (a tool's
schema inside a provider's tool declaration); the same limit bounds tool-call arguments that adapters parse from
strings (``too_deep``).

The check costs almost nothing: a body with no more brackets than the limit cannot exceed it; any other is
encoded once by orjson (C, about a gigabyte a second) inside ``_ENCODER_DEPTH - MAX_DEPTH`` extra levels, which fails
exactly when the body is deeper than ``MAX_DEPTH``. A hand-written scan of the bytes was 100 times slower.
"""

from __future__ import annotations

from typing import Any

import orjson

from wardgate.core.errors import InvalidJSON

MAX_DEPTH = 128
_TOO_DEEP = f"The request body is nested more than {MAX_DEPTH} levels deep, the most this gateway accepts."
_ENCODER_DEPTH = 254  # orjson encodes at most this many levels (and parses at most 1,024)


def too_deep(value: Any, raw: bytes | str) -> bool:
    """Whether ``value`` (parsed from the JSON text ``raw``) nests arrays and objects more than ``MAX_DEPTH`` deep."""
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return False
    probe = value
    for _ in range(_ENCODER_DEPTH - MAX_DEPTH):
        probe = [probe]
    try:
        orjson.dumps(probe)
    except orjson.JSONEncodeError:
        return True
    return False


def parse_object(raw: bytes, not_json: str) -> dict[str, Any]:
    """The request's JSON object; ``not_json`` is the message when it is not JSON at all (each surface has its own)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidJSON(_TOO_DEEP if "depth limit" in str(exc) else not_json) from None
    if too_deep(body, raw):
        raise InvalidJSON(_TOO_DEEP)
    if not isinstance(body, dict):
        raise InvalidJSON("The request body must be a JSON object.")
    return body
