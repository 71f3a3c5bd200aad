"""Checking an answer while it streams, with a bounded hold-back.

``TextRedactor`` sees a choice's text as it arrives and releases what is safe: everything before the earliest place
where a value may start that the stream has not finished (a partial match of any pattern, or a match that reaches
the end of what arrived), and never holds more than ``holdback`` characters. So a value up to ``holdback`` long is
whole in the buffer before any of it is released, wherever the chunks split it; a longer one is recognised by its
start (``sk-proj-``, ``-----BEGIN … PRIVATE KEY-----``) and the rest of it is dropped as it arrives. Released text
keeps a little context (what came just before), so a keyword before a value (``password=``) is still seen.

``ToolCallHold`` keeps a streamed tool call's deltas until its arguments are complete (the next call starts or the
choice finishes), checks them, then releases the call in one delta: a blocked call never reaches the client.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wardgate.guards.findings import Pattern
from wardgate.guards.scan import Hit, Scanner, redact

if TYPE_CHECKING:
    import regex

CONTEXT_CHARS = 48  # released text kept for the left context of the next scan
# how far back in released text a trigger can still be part of a value that goes on in text not yet scanned. Such a
# value holds whitespace (one without is in the trailing run, which is held), and a value that holds whitespace is
# held whole by ``pending_start`` while it may grow (the spaced patterns), but for ``assigned_secret``, whose key and
# value may be parted by a separator, a quote, three spaces and a quote: 6 characters; 16 leaves a margin. Past it a
# trigger in the context (the "P " of "HTTP proxy": a NINO's start) no longer makes every step a full one
LIVE_CHARS = 16
MAX_TOOL_ARGUMENTS = 1_000_000  # characters of one streamed tool call's arguments; more fails the guard
_TOKEN = re.compile(r"[A-Za-z0-9_\-+/=.~]*")  # ASCII only: the same in `re` as in `regex`

OnHits = Callable[[list[Hit], str], None]  # (hits, scanned text): raises to block; records the decisions


class TextRedactor:
    """One choice's streamed text. Most steps are quiet: when neither the new text nor the few characters before it
    hold a trigger of the scanner's patterns (``Pattern.trigger``: an ``@``, a digit, a ``-`` …) and the text kept
    from earlier steps held none either, no pattern can match or partly match anywhere in the window, so the step
    only moves the cut to the start of the trailing word (or the hold-back's bound) without running a pattern: the
    same cut, text and state as the full step, at a fraction of its cost."""

    __slots__ = ("_ctx", "_forced", "_held", "_holdback", "_on_hits", "_quiet", "_scanner", "_tail", "_until")

    def __init__(self, scanner: Scanner, holdback: int, on_hits: OnHits) -> None:
        self._scanner = scanner
        self._holdback = holdback
        self._on_hits = on_hits
        self._ctx = ""  # released text, kept as context (never released again)
        self._held = ""
        self._until: regex.Pattern[str] | None = None  # dropping text until this marker (a PEM block's end)
        self._tail = False  # dropping the rest of a token (a long key whose start was redacted)
        self._quiet = True  # ctx + held hold no live trigger (nothing held yet)
        self._forced = False  # the last full step released text because the hold-back was full

    @property
    def held(self) -> int:
        return len(self._held)

    def feed(self, text: str) -> str:
        """The part of what arrived so far that may be released now (redacted)."""
        if self._quiet and self._until is None and not self._tail:
            # ``_step`` inlined for its commonest case, a quiet step (most chunks of most answers): no text to drop,
            # and a trigger can end only in the new text (ctx + held hold none), so the new text is all to search
            trigger = self._scanner.trigger
            if trigger is not None:
                ctx, held = self._ctx, self._held
                if not text and not held:
                    return ""
                scan = ctx + held + text
                if not trigger.ends_in(scan, len(scan) - len(text)):
                    return self._quiet_step(scan, len(ctx), False)
        return self._step(self._drop(text), final=False)

    def flush(self) -> str:
        """The stream ended: release the rest."""
        return self._step("", final=True)

    def _drop(self, text: str) -> str:
        if self._until is not None or self._tail:
            self._quiet = False  # the next step looks at the whole window
        if self._until is not None:
            scan = self._held + text
            m = self._until.search(scan)
            if m is None:
                self._held = scan[-self._holdback :]  # enough to see a marker split across chunks
                return ""
            self._until, self._held = None, ""
            text = scan[m.end() :]
        if self._tail:
            token = _TOKEN.match(text)
            assert token is not None
            if token.end() == len(text):
                return ""
            self._tail = False
            text = text[token.end() :]
        return text

    def _step(self, text: str, final: bool) -> str:
        if self._until is not None:
            return ""
        kept = self._ctx + self._held
        scan = kept + text
        base = len(self._ctx)
        end = len(scan)
        if end == base:
            return ""
        trigger = self._scanner.trigger
        if self._quiet and trigger is not None and not trigger.ends_in(scan, len(kept)):
            return self._quiet_step(scan, base, final)  # ctx + held hold no trigger, and the new text ends none
        out = self._full_step(scan, base, final)
        trigger = self._scanner.trigger  # a guard that failed is left out from now on
        # a trigger in the context further back than LIVE_CHARS is dead: what follows it proved it no value's start;
        # but a value the full hold-back cut may go on from anywhere in the context
        live = 0 if self._forced else max(0, len(self._ctx) - LIVE_CHARS)
        self._quiet = (
            trigger is not None
            and self._until is None
            and not self._tail
            and not trigger.ends_in(self._ctx + self._held, live)
        )
        return out

    def _quiet_step(self, scan: str, base: int, final: bool) -> str:
        """``_full_step`` where no pattern can match: release up to the trailing word (the hold-back's bound)."""
        end = len(scan)
        if final or scan[-1].isspace():
            cut = end
        else:  # the trailing run of non-space characters (str.rsplit splits where str.isspace says)
            cut = max(end - len(scan.rsplit(None, 1)[-1]), base, end - self._holdback)
        self._ctx = scan[max(0, cut - CONTEXT_CHARS) : cut]
        self._held = scan[cut:]
        return scan[base:cut]

    def _full_step(self, scan: str, base: int, final: bool) -> str:
        end = len(scan)
        hits = [h for h in self._scanner.hits(scan) if h.finding.end > base]
        self._forced = False
        if final:
            cut = end
        else:
            pending = self._scanner.pending_start(scan, base)
            cut = max(pending, end - self._holdback, base)
            self._forced = cut > pending
            if cut > pending:  # the hold-back is full: a value that began before the cut is longer than it
                long = self._scanner.long_value(scan, base, cut)
                if long is not None:
                    hits.append(long)
        until: Pattern | None = None
        tail = False
        for hit in hits:
            f = hit.finding
            if f.start < cut < f.end or (f.start < cut and f.end == end and not final):
                cut = f.end  # a value the hold-back cannot hold whole: released redacted, its rest dropped
                tail = f.end == end and not final
            closing = hit.pattern.until if hit.pattern is not None else None
            if closing is not None and f.start < cut and not closing.search(scan, f.start, f.end):
                until = hit.pattern
                cut = max(cut, f.end)
        released_hits = [h for h in hits if h.finding.start < cut]
        if released_hits:
            self._on_hits(released_hits, scan)  # raises if one blocks: nothing of this step is released
        out = redact(scan[base:cut], released_hits, base)
        rest = scan[cut:]
        self._ctx = scan[:cut][-CONTEXT_CHARS:]
        self._held = ""
        if until is not None:
            self._until = until.until
            self._ctx = ""
            self._drop_rest(rest)
        elif tail:
            self._tail = True
        else:
            self._held = rest
        return out

    def _drop_rest(self, rest: str) -> None:
        if rest:
            left = self._drop(rest)
            if left:  # the marker was in what already arrived: go on with what follows it
                self._held = left


@dataclass(slots=True)
class _ToolCall:
    index: int
    id: str | None = None
    type: str | None = None
    name: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)
    size: int = 0

    def delta(self, arguments: str) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index}
        if self.id is not None:
            out["id"] = self.id
        out["type"] = self.type or "function"
        out["function"] = {"name": "".join(self.name), "arguments": arguments}
        return out


ToolCheck = Callable[[str, str], str]  # (name, arguments) -> arguments as released (redacted); raises to block


class ToolCallHold:
    """One choice's streamed tool calls, held until each is complete and checked (by the ``check`` each step is
    given: the hold keeps no reference to the call's state)."""

    __slots__ = ("_current", "_max")

    def __init__(self, max_chars: int = MAX_TOOL_ARGUMENTS) -> None:
        self._current: _ToolCall | None = None
        self._max = max_chars

    def feed(self, deltas: list[Any], check: ToolCheck) -> list[dict[str, Any]]:
        """Tool-call deltas in; the calls completed by them out (checked)."""
        out: list[dict[str, Any]] = []
        for delta in deltas:
            if not isinstance(delta, dict):
                continue
            index = delta.get("index", 0)
            index = index if isinstance(index, int) else 0
            current = self._current
            if current is None or (
                index != current.index or (delta.get("id") and current.id not in (None, delta["id"]))
            ):
                if current is not None:
                    out.append(_release(current, check))
                current = self._current = _ToolCall(index)
            if isinstance(delta.get("id"), str):
                current.id = delta["id"]
            if isinstance(delta.get("type"), str):
                current.type = delta["type"]
            function = delta.get("function")
            if isinstance(function, dict):
                for key, parts in (("name", current.name), ("arguments", current.arguments)):
                    piece = function.get(key)
                    if isinstance(piece, str) and piece:
                        current.size += len(piece)
                        if current.size > self._max:
                            raise ValueError("a streamed tool call's arguments are too long to check")
                        parts.append(piece)
        return out

    def finish(self, check: ToolCheck) -> list[dict[str, Any]]:
        current, self._current = self._current, None
        return [_release(current, check)] if current is not None else []


def _release(call: _ToolCall, check: ToolCheck) -> dict[str, Any]:
    name = "".join(call.name)
    return call.delta(check(name, "".join(call.arguments)))
