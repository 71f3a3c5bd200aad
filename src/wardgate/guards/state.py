"""One call's guard state: the decisions taken so far and, for a checked answer, the stream redactors."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from wardgate.guards.engine import Guard
from wardgate.guards.pseudonym import Pseudonyms, StreamRestorer
from wardgate.guards.scan import Hit, Scanner, mask
from wardgate.guards.stream import TextRedactor, ToolCallHold

MAX_SNIPPETS = 5  # masked snippets kept per guard and call, for the audit trail
MAX_CHOICES = 16  # streamed choices checked per call; an answer with more fails the guard


@dataclass(slots=True)
class Decision:
    guard: Guard
    action: str  # "block" | "redact" | "warn" | "error"
    direction: str  # "request" | "response"
    counts: Counter[str] = field(default_factory=Counter)  # per entity type
    snippets: list[str] = field(default_factory=list)


class Decisions(dict[str, Decision]):
    """One call's decisions, by guard name. Apart from ``GuardState`` so that what a call's scanners and redactors
    call back (they record what they find) holds these and not the state that holds them: no reference cycle, so a
    call's guard state goes when the call does, not at the cyclic collector's next pass (guards/stage.py)."""

    __slots__ = ()

    def record(self, guard: Guard, action: str, direction: str, hits: list[Hit], scanned: str) -> None:
        decision = self.get(guard.name)
        if decision is None:
            decision = self[guard.name] = Decision(guard, action, direction)
        elif _RANK[action] > _RANK[decision.action]:
            decision.action = action
        for hit in hits:
            decision.counts[hit.finding.entity] += 1
            if len(decision.snippets) < MAX_SNIPPETS and hit.pattern is not None:
                decision.snippets.append(mask(scanned[hit.finding.start : hit.finding.end]))


@dataclass(slots=True)
class GuardState:
    response: Scanner | None  # the answer's guards, when any apply (tools guards included: then it may be empty)
    tool_guards: tuple[Guard, ...] = ()  # tools guards on the answer
    decisions: Decisions = field(default_factory=Decisions)
    texts: dict[int, TextRedactor] = field(default_factory=dict)  # per streamed choice
    tools: dict[int, ToolCallHold] = field(default_factory=dict)  # per streamed choice, once it calls a tool
    pseudonyms: Pseudonyms | None = None  # when a pseudonymize guard applies: placeholder → value
    restorers: dict[int, StreamRestorer] = field(default_factory=dict)  # per streamed choice
    # a streamed text event's bytes before and after its text's JSON string, when the provider repeats them in each
    # event (guards/stage.py, GuardsStage.on_chunk); looked for once per call
    envelope: tuple[bytes, bytes, int] | None = None  # (prefix, suffix, choice index)
    # and the bytes around that choice's finish reason, in an event whose delta is empty; with where the delta's
    # ``{}`` is (guards/envelope.py, ``finished``)
    finish: tuple[bytes, bytes, int] | None = None
    envelope_tried: bool = False

    def record(self, guard: Guard, action: str, direction: str, hits: list[Hit], scanned: str) -> None:
        self.decisions.record(guard, action, direction, hits, scanned)

    def header(self) -> bytes:
        return ",".join(f"{name}={d.action}" for name, d in self.decisions.items()).encode()


_RANK = {"warn": 0, "error": 0, "redact": 1, "pseudonymize": 1, "block": 2}
