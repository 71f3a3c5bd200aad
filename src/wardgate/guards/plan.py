"""Which of the guards that apply to a call check its prompt and which its answer: worked out once per set of
applicable guards (``GuardsStage._plan``), not per call."""

from __future__ import annotations

from dataclasses import dataclass

from wardgate.guards.engine import Guard
from wardgate.guards.scan import ScanSet

MAX_PLANS = 1024  # sets of applicable guards whose plan is kept


@dataclass(frozen=True, slots=True)
class Plan:
    guards: tuple[Guard, ...]  # those that apply
    request: tuple[Guard, ...]  # on the prompt
    answer: tuple[Guard, ...]  # redacting guards on the answer (a pseudonymized value is restored, not redacted)
    tools: tuple[Guard, ...]  # tools guards on the answer
    topics: tuple[Guard, ...]
    answer_set: ScanSet  # the answer guards' patterns and trigger, for each call's Scanner

    @classmethod
    def of(cls, guards: list[Guard]) -> Plan:
        answer = [g for g in guards if g.config.on != "request" and g.redacts and g.config.action != "pseudonymize"]
        return cls(
            tuple(guards),
            tuple(g for g in guards if g.config.on != "response"),
            tuple(answer),
            tuple(g for g in guards if g.config.on != "request" and g.config.type == "tools"),
            tuple(g for g in guards if g.config.type == "topics"),
            ScanSet(answer),
        )
