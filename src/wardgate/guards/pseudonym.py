"""``action: pseudonymize`` (pii guards): each value in the request becomes a per-request placeholder
(``<EMAIL_1>``; the same value, the same placeholder), and the placeholders the answer repeats are turned back into
the values, in JSON answers, streams (a placeholder split across chunks included) and tool-call arguments. The
values live only in the call's state, never in logs, the audit trail or the cache key."""

from __future__ import annotations

import re

import orjson

_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]{1,30})_(\d{1,6})>")
_PARTIAL = re.compile(r"<(?:[A-Z][A-Z_]{0,30}(?:_\d{0,6})?)?$")  # the start of a placeholder, at the text's end
MAX_VALUES = 10_000  # pseudonyms per call; more values are redacted instead


class Pseudonyms:
    __slots__ = ("_by_value", "_counts", "values")

    def __init__(self) -> None:
        self.values: dict[str, str] = {}  # placeholder → the original value
        self._by_value: dict[tuple[str, str], str] = {}
        self._counts: dict[str, int] = {}

    def placeholder(self, entity: str, value: str) -> str | None:
        """The placeholder of a value (the same one each time it occurs); None past MAX_VALUES."""
        key = (entity, value)
        found = self._by_value.get(key)
        if found is not None:
            return found
        if len(self.values) >= MAX_VALUES:
            return None
        n = self._counts.get(entity, 0) + 1
        self._counts[entity] = n
        name = f"<{entity.upper()}_{n}>"
        self._by_value[key] = name
        self.values[name] = value
        return name

    def restore(self, text: str, *, json_string: bool = False) -> str:
        """``text`` with every known placeholder turned back into its value (escaped for a JSON string's inside
        when ``json_string``: tool-call arguments)."""
        if "<" not in text or not self.values:
            return text

        def value(m: re.Match[str]) -> str:
            original = self.values.get(m.group())
            if original is None:
                return m.group()
            return orjson.dumps(original).decode()[1:-1] if json_string else original

        return _PLACEHOLDER.sub(value, text)


class StreamRestorer:
    """Restores placeholders in a streamed text, holding back only the start of one that may be split."""

    __slots__ = ("_held", "_names")

    def __init__(self, names: Pseudonyms) -> None:
        self._names = names
        self._held = ""

    def feed(self, text: str) -> str:
        text = self._held + text
        m = _PARTIAL.search(text, max(0, len(text) - 40))
        if m is not None:
            self._held, text = text[m.start() :], text[: m.start()]
        else:
            self._held = ""
        return self._names.restore(text)

    def flush(self) -> str:
        held, self._held = self._held, ""
        return self._names.restore(held)
