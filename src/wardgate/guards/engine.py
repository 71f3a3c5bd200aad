"""A guard compiled from its config: which calls it applies to, what it finds in a text, and how it redacts."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase

from wardgate.config.guards import DEFAULT_PII_ENTITIES, GuardConfig
from wardgate.core.call import Call
from wardgate.guards.findings import Finding, Pattern, Trigger, compile_rx, needle_gate, resolve, trigger_gate

_REGEX_TIMEOUT_S = 0.05  # a custom pattern that backtracks for longer than this fails (and follows on_error)


class GuardFailed(Exception):
    """The guard itself could not decide (a custom pattern timed out, a bug): the stage applies ``on_error``."""


def scope_values(config: GuardConfig, call: Call) -> tuple[str, ...]:
    """The values a call has for a guard's scope, as budgets define them (a project by id or by name)."""
    principal, scope = call.principal, config.scope
    if scope == "global":
        return ("*",)
    if scope == "model":
        return (call.model,)
    if principal is None:
        return ()
    if scope == "project":
        return tuple(v for v in (principal.project, principal.project_name) if v)
    if scope == "team":
        return (principal.team,) if principal.team else ()
    if scope == "user":
        return (principal.user,) if principal.user else ()
    return (principal.id,) if principal.kind == "key" else ()


@dataclass(frozen=True, slots=True)
class Guard:
    config: GuardConfig
    patterns: tuple[Pattern, ...]  # pii, secrets, regex
    # a cheap pre-test per text: ``gate`` finds whether a needle of any pattern is there, ``hints`` are the patterns'
    # distinct hints; ``subsets[2 * needled + hinted]`` are the patterns, in order, that such a text may match (each
    # pattern still applies its own needle and hint tests). A plain sentence runs none of them.
    gate: re.Pattern[str] | tuple[str, ...] | None = None
    hints: tuple[re.Pattern[str], ...] = ()
    subsets: tuple[tuple[Pattern, ...], ...] = ()
    trigger: Trigger | None = None  # what a text must hold for this guard to find anything (stream fast path)

    def patterns_for(self, text: str) -> tuple[Pattern, ...]:
        subsets = self.subsets
        if not subsets:
            return self.patterns
        gate = self.gate
        if gate is None:
            needled = False
        elif isinstance(gate, tuple):  # a needle or two: ``in`` is quicker than a scan
            needled = False
            for needle in gate:
                if needle in text:
                    needled = True
                    break
        else:
            needled = gate.search(text) is not None
        hinted = False
        for hint in self.hints:
            if hint.search(text) is not None:
                hinted = True
                break
        return subsets[2 * needled + hinted]

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def strict(self) -> bool:
        return self.config.sensitivity == "strict"

    @property
    def redacts(self) -> bool:
        return self.config.type in ("pii", "secrets", "regex")

    def allows_tool(self, name: str) -> bool:
        """A tools guard: whether a tool of this name may be offered or called (deny wins over allow)."""
        config = self.config
        if any(fnmatchcase(name, glob) for glob in config.deny):
            return False
        return config.allow is None or any(fnmatchcase(name, glob) for glob in config.allow)

    def applies(self, call: Call) -> bool:
        values = scope_values(self.config, call)
        if not values:
            return False
        return self.config.match is None or self.config.match in values

    def scan(self, text: str) -> list[Finding]:
        """What this guard finds in one text; GuardFailed when it cannot tell."""
        kind = self.config.type
        if kind == "topics":
            from wardgate.guards import topics

            config = self.config
            return topics.check([text], config.deny, config.allow, config.sensitivity)
        if kind == "injection":
            from wardgate.guards import injection  # loaded by compile_guard already: a dict lookup

            total, findings = injection.score(text)
            return findings if total >= injection.THRESHOLD[self.config.sensitivity] else []
        out: list[Finding] = []
        strict = self.strict
        try:
            for pattern in self.patterns_for(text):
                pattern.scan(text, strict, out)
        except TimeoutError as exc:
            raise GuardFailed(f"guard {self.name!r}: a pattern took too long") from exc
        return resolve(out)


def _custom(source: str) -> Pattern:
    # a pattern written by a project admin must not stall the worker: the regex module bounds its time
    return Pattern("regex", compile_rx(source), timeout=_REGEX_TIMEOUT_S, spaced=True)


def compile_guard(config: GuardConfig) -> Guard:
    kind = config.type
    patterns: list[Pattern] = []
    # each detector (and the regex module under it) is imported by the first guard of its type: a worker with
    # no guards never loads them
    if kind == "injection":
        from wardgate.guards import injection  # noqa: F401 - loaded now, not by the first request
    elif kind == "pii":
        from wardgate.guards import pii

        for entity in config.entities or DEFAULT_PII_ENTITIES:
            patterns.extend(pii.patterns(entity, config.sensitivity))
    elif kind == "secrets":
        from wardgate.guards import secrets

        patterns.extend(secrets.PATTERNS)
    elif kind == "regex":
        patterns.extend(_custom(source) for source in config.patterns)
    hints = tuple(dict.fromkeys(p.hint for p in patterns if p.hint is not None))
    subsets = tuple(
        tuple(p for p in patterns if (needled or not p.needles) and (hinted or p.hint is None))
        for needled in (False, True)
        for hinted in (False, True)
    )
    trigger = trigger_gate(patterns) if kind in ("pii", "secrets", "regex") else None
    return Guard(config, tuple(patterns), needle_gate(tuple(patterns)), hints, subsets, trigger)


def compile_guards(configs: Sequence[GuardConfig]) -> tuple[Guard, ...]:
    return tuple(compile_guard(c) for c in configs)
