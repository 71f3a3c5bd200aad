"""What a request guard found in a text, kept by (guard, text) for the prompts' texts that come back: a chat client
sends the whole conversation again on every turn, and the system prompt, the few-shot examples and the earlier turns
are the same text each time. Only the new turn is scanned; the others cost one dictionary lookup.

Bounded per worker, whatever clients send: at most ``MAX_ENTRIES`` texts and ``MAX_CHARS`` characters in all, the
least recently used dropped first, and a text longer than ``MAX_TEXT`` is never kept. The key is the text itself
(no digest, so no collision can hand one text another's verdict) with the guard's identity; the entry holds the
guard, so a guard replaced by a reload never matches a new one that reuses its ``id``. Only answers are kept: a
guard that fails (a custom pattern timing out) is asked again next time. Answers are not kept: they are new text.
"""

from __future__ import annotations

from wardgate.guards.engine import Guard
from wardgate.guards.scan import Hit, guard_hits

MAX_ENTRIES = 8192
MAX_CHARS = 2_000_000
MAX_TEXT = 32_768


class HitsMemo:
    __slots__ = ("_chars", "_entries", "max_chars", "max_entries", "max_text")

    def __init__(self, max_entries: int = MAX_ENTRIES, max_chars: int = MAX_CHARS, max_text: int = MAX_TEXT) -> None:
        self.max_entries, self.max_chars, self.max_text = max_entries, max_chars, max_text
        self._entries: dict[tuple[int, str], tuple[Guard, list[Hit]]] = {}  # oldest use first
        self._chars = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        return self._chars

    def hits(self, guard: Guard, text: str) -> list[Hit]:
        """``guard_hits(guard, text)``, from memory when this guard saw this text lately. The list is shared: do not
        change it."""
        if len(text) > self.max_text:
            return guard_hits(guard, text)
        key = (id(guard), text)
        entries = self._entries
        entry = entries.pop(key, None)
        if entry is not None and entry[0] is guard:
            entries[key] = entry  # most recently used: last
            return entry[1]
        if entry is not None:  # a guard that is gone, whose id was reused
            self._chars -= len(text)
        hits = guard_hits(guard, text)
        entries[key] = (guard, hits)
        self._chars += len(text)
        while len(entries) > self.max_entries or self._chars > self.max_chars:
            oldest = next(iter(entries))
            del entries[oldest]
            self._chars -= len(oldest[1])
        return hits
