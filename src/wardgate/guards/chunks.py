"""The guards stage's streamed answers: chunk by chunk (``on_chunk``), or several chunks that arrived together at
once (``on_batch``: a run of text events in the call's envelope checked as one text and released as one event).
Each choice's text goes through its ``TextRedactor`` (stream.py), its tool calls through a ``ToolCallHold``."""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson

from wardgate.core.call import Call, Chunk
from wardgate.guards.engine import Guard
from wardgate.guards.envelope import GENERAL, enveloped, find_envelope, finished, joined_strings, released_text
from wardgate.guards.errors import GuardUnavailable, blocked
from wardgate.guards.pseudonym import StreamRestorer
from wardgate.guards.scan import Hit, redact
from wardgate.guards.state import MAX_CHOICES, Decisions, GuardState
from wardgate.guards.stream import TextRedactor, ToolCallHold
from wardgate.guards.tools import check_call


class AnswerChunks:
    """The chunk hooks of ``GuardsStage`` (a base class of it, so the relay calls them directly)."""

    holdback: int

    def on_batch(self, call: Call, chunks: list[Chunk]) -> list[Chunk]:
        """Chunks that arrived together (one read from the provider): each run of text events in the call's envelope
        is checked as one text and released as one event (in the choice's finish event when that ends the run), the
        others one by one (``on_chunk``). The client gets the same text, in fewer events, no later: they were all in
        hand already (envelope.py)."""
        state = call.guards
        if not isinstance(state, GuardState):
            return chunks
        out: list[Chunk] = []
        if state.envelope is None:  # one by one until an event gives it (OpenAI's role event, the stream's first)
            for i, chunk in enumerate(chunks):
                seen = self.on_chunk(call, chunk)
                if seen is not None:
                    out.append(seen)
                if state.envelope is not None:
                    chunks = chunks[i + 1 :]
                    break
            else:
                return out
        prefix, suffix, index = state.envelope
        # an enveloped event's bytes: ``prefix`` + its text's JSON string + ``suffix``, at least a byte between them
        low, least = len(prefix), len(prefix) + len(suffix)
        start = -1  # where the run under way began in ``chunks`` (-1: none)
        for i, chunk in enumerate(chunks):  # the commonest case first, in as few steps as may be: a run of text
            raw = chunk.raw
            # the bytes are what the check reads and what the client would have received (a parsed chunk's raw
            # bytes are relayed as they are too: a stage that changes its data drops them)
            if (
                raw is not None
                and len(raw) > least
                and raw.startswith(prefix)
                and raw.endswith(suffix)
                and chunk.usage is None
            ):
                if start < 0:
                    start = i
                continue
            if start >= 0:
                run, start = chunks[start:i], -1
                text = joined_strings(run, low, least - low)
                if text is not None:  # the choice's finish: the run's text goes in it (as the general path)
                    done = finished(state, chunk, text)
                    if done is not GENERAL:
                        out.append(done)
                        continue
                self._release_run(call, state, run, text, out)
            seen = self.on_chunk(call, chunk)
            if seen is not None:
                out.append(seen)
        if start >= 0:
            run = chunks[start:]
            self._release_run(call, state, run, joined_strings(run, low, least - low), out)
        return out

    def _release_run(self, call: Call, state: GuardState, run: list[Chunk], text: str | None, out: list[Chunk]) -> None:
        """One event for a run of text events (``text``: theirs, None when one of them is not one JSON string)."""
        assert state.envelope is not None
        prefix, suffix, index = state.envelope
        released = released_text(state, index, text) if text is not None else None
        if released is None:  # not all JSON strings, or a choice that needs the general path
            out.extend(seen for chunk in run if (seen := self.on_chunk(call, chunk)) is not None)
        elif released:  # nothing released: a silent run (the envelope's usage is null)
            out.append(Chunk(raw=prefix + orjson.dumps(released) + suffix))

    def on_chunk(self, call: Call, chunk: Chunk) -> Chunk | None:
        state = call.guards
        if not isinstance(state, GuardState) or state.response is None:
            return chunk
        envelope = state.envelope
        if envelope is not None and chunk.usage is None and chunk.raw is not None and not chunk.parsed:
            out = enveloped(state, envelope, chunk.raw)
            if out is GENERAL:
                out = finished(state, chunk)
            if out is not GENERAL:
                return out
        raw = chunk.raw if chunk.usage is None and not state.envelope_tried else None
        data = chunk.data
        choices = data.get("choices")
        if not isinstance(choices, list) or not choices:
            return chunk
        if len(choices) == 1 and chunk.usage is None:  # most chunks: one choice's next piece of text
            if raw is not None:
                find_envelope(state, raw, data, choices[0])
            released = self._one_text(state, choices[0])
            if released is not None:
                if not released and not data.get("usage"):
                    return None
                envelope = state.envelope
                if raw is not None and envelope is not None:  # found in this event: its bytes with the new text
                    return Chunk(raw=envelope[0] + orjson.dumps(released) + envelope[1])
                return Chunk(data)
        silent = chunk.usage is None and not data.get("usage")
        if len(choices) == 1 and _releases_nothing(choices[0]):  # e.g. OpenAI's role event: sent as it came
            if not self._choice(call, state, choices[0]):  # starts the choice's redactor
                silent = False
            return None if silent else chunk
        for choice in choices:
            if isinstance(choice, dict) and not self._choice(call, state, choice):
                silent = False
        if silent:
            return None
        return Chunk(data, usage=chunk.usage)

    def _choice(self, call: Call, state: GuardState, choice: dict[str, Any]) -> bool:
        """Checks one streamed choice in place; False when what is left of it still says something."""
        index = choice.get("index", 0)
        index = index if isinstance(index, int) else 0
        delta = choice.get("delta")
        if type(delta) is dict and len(delta) == 1 and not choice.get("finish_reason") and not choice.get("logprobs"):
            text = delta.get("content")
            released = released_text(state, index, text) if type(text) is str else None
            if released is not None:
                delta["content"] = released
                return not released
        text_key, holder = ("content", choice.get("delta")) if "delta" in choice else ("text", choice)
        if not isinstance(holder, dict):
            return False
        redactor = state.texts.get(index)
        if redactor is None:
            if len(state.texts) >= MAX_CHOICES:
                raise GuardUnavailable("The answer has more choices than the guards check.")
            scanner = state.response
            assert scanner is not None

            decisions = state.decisions  # not the state: the state holds the redactor (guards/state.py, Decisions)

            def on_hits(hits: list[Hit], scanned: str) -> None:
                apply_hits(decisions, hits, scanned, "response", "answer")

            redactor = state.texts[index] = TextRedactor(scanner, self.holdback, on_hits)
        tools = state.tools.get(index)
        text = holder.get(text_key)
        checks_text = bool(state.response is not None and state.response.guards)
        if not checks_text:  # only tools guards: text passes as it is
            released = text if isinstance(text, str) else ""
        else:
            released = redactor.feed(text) if isinstance(text, str) and text else ""
        deltas = holder.get("tool_calls")
        try:
            calls: list[dict[str, Any]] = []
            if isinstance(deltas, list):
                if tools is None:
                    tools = state.tools[index] = ToolCallHold()
                calls = tools.feed(deltas, partial(check_tool, state))
            finish = choice.get("finish_reason")
            if finish:
                if checks_text:
                    released += redactor.flush()
                if tools is not None:
                    calls += tools.finish(partial(check_tool, state))
        except ValueError as exc:
            raise GuardUnavailable("A streamed tool call could not be checked.") from exc
        names = state.pseudonyms
        if names is not None and names.values:
            restorer = state.restorers.get(index)
            if restorer is None:
                restorer = state.restorers[index] = StreamRestorer(names)
            released = restorer.feed(released) if released else ""
            if finish:
                released += restorer.flush()
        if isinstance(text, str) or released:
            holder[text_key] = released
        if calls:
            holder["tool_calls"] = calls
        elif "tool_calls" in holder:
            del holder["tool_calls"]
        if released or calls or finish or choice.get("logprobs"):
            return False
        rest = [k for k in holder if k != text_key] if text_key == "content" else []
        return not rest

    @staticmethod
    def _one_text(state: GuardState, choice: object) -> str | None:
        """``_choice`` for a choice whose delta is text and nothing else, past its first chunk, without pseudonyms:
        the text released (written into the choice); None when ``_choice`` is needed."""
        if type(choice) is not dict:
            return None
        delta = choice.get("delta")
        if type(delta) is not dict or len(delta) != 1 or choice.get("finish_reason") or choice.get("logprobs"):
            return None
        text = delta.get("content")
        if type(text) is not str:
            return None
        index = choice.get("index", 0)
        released = released_text(state, index if isinstance(index, int) else 0, text)
        if released is not None:
            delta["content"] = released
        return released


def _releases_nothing(choice: object) -> bool:
    """Whether ``_choice`` leaves this choice as it is: no text (or an empty one), no tool calls, not finished (what
    the choice's redactor and restorer hold is released on a later event)."""
    if type(choice) is not dict or choice.get("finish_reason"):
        return False
    delta = choice.get("delta")
    return type(delta) is dict and "tool_calls" not in delta and delta.get("content", "") == ""


def apply_hits(decisions: Decisions, hits: list[Hit], scanned: str, direction: str, what: str) -> None:
    """Records the hits' decisions; raises GuardBlocked when one of them blocks."""
    by_guard: dict[str, list[Hit]] = {}
    for hit in hits:
        by_guard.setdefault(hit.guard.name, []).append(hit)
    block: Guard | None = None
    for group in by_guard.values():
        guard = group[0].guard
        decisions.record(guard, guard.config.action, direction, group, scanned)
        if guard.config.action == "block" and block is None:
            block = guard
    if block is not None:
        raise blocked(block.name, block.config.type, what)


def check_tool(state: GuardState, name: str, arguments: str) -> str:
    if state.tool_guards:
        check_call(state.tool_guards, state.decisions, name)
    scanner = state.response
    if scanner is None or not arguments:
        return arguments
    hits = scanner.hits(arguments)
    if hits:
        apply_hits(state.decisions, hits, arguments, "response", "tool call")
        arguments = redact(arguments, hits)
    if state.pseudonyms is not None:
        arguments = state.pseudonyms.restore(arguments, json_string=True)
    return arguments
