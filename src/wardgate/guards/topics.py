"""The topics guard: the prompt's user text compared, offline, with ``deny:`` and ``allow:`` topic descriptions by
the bundled sentence-embedding model (all-MiniLM-L6-v2, the semantic cache's; wardgate.embedding).

The text is cut into windows of about 60 words (at most ``MAX_WINDOWS``: the first and last ones of a long text),
each embedded; a window whose cosine similarity to a denied topic reaches the sensitivity's threshold blocks (or
warns), and with ``allow:`` set, a text none of whose windows comes near any allowed topic is off-topic. A
description works best as a short phrase of what is meant ("questions about medication, doses or symptoms"), not
one word.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING

from wardgate.guards.findings import Finding

if TYPE_CHECKING:
    from wardgate.embedding.minilm import MiniLM, Vector

# cosine similarity a window must reach to be on a denied topic, and the least an allowed topic needs
DENY_AT = {"strict": 0.20, "balanced": 0.25, "permissive": 0.32}
ALLOW_AT = {"strict": 0.25, "balanced": 0.15, "permissive": 0.08}
WINDOW_WORDS = 60
MAX_WINDOWS = 8

_lock = threading.Lock()
_model: MiniLM | None = None
_topics: dict[str, Vector] = {}  # description → vector; bounded by the configured descriptions


def model() -> MiniLM:
    global _model
    with _lock:
        if _model is None:
            from wardgate.embedding.minilm import MiniLM

            _model = MiniLM()
        return _model


def _topic(description: str) -> Vector:
    vector = _topics.get(description)
    if vector is None:
        vector = _topics[description] = model().embed(description)
    return vector


def windows(text: str) -> list[str]:
    words = text.split()
    if not words:
        return []
    chunks = [" ".join(words[i : i + WINDOW_WORDS]) for i in range(0, len(words), WINDOW_WORDS)]
    if len(chunks) > MAX_WINDOWS:
        half = MAX_WINDOWS // 2
        chunks = chunks[:half] + chunks[-half:]
    return chunks


def check(texts: Sequence[str], deny: Sequence[str], allow: Sequence[str] | None, sensitivity: str) -> list[Finding]:
    """``topic.denied`` for each denied topic a window is on; ``topic.off_topic`` when allow is set and no window
    is on an allowed topic. CPU-bound (~10-50 ms per window): the stage runs it in a worker thread."""
    vectors = [model().embed(w) for text in texts for w in windows(text)]
    if not vectors:
        return []
    findings: list[Finding] = []
    for description in deny:
        topic = _topic(description)
        if max(float(v @ topic) for v in vectors) >= DENY_AT[sensitivity]:
            findings.append(Finding("topic.denied", 0, 0))
    if allow:
        best = max(float(v @ _topic(d)) for d in allow for v in vectors)
        if best < ALLOW_AT[sensitivity]:
            findings.append(Finding("topic.off_topic", 0, 0))
    return findings
