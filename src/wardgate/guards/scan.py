"""Several guards over one text: their hits (each with the action that applies), redaction, and where a value that
may still be growing starts (for the stream redactor)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from wardgate.guards.engine import Guard, GuardFailed
from wardgate.guards.findings import Finding, Pattern, Trigger, joined, max_width

_RANK = {"warn": 0, "redact": 1, "pseudonymize": 1, "block": 2}
_GENERIC = frozenset({"phone", "email", "assigned_secret"})  # on the same span, a more specific entity wins


@dataclass(frozen=True, slots=True)
class Hit:
    finding: Finding
    guard: Guard
    pattern: Pattern | None  # None for injection (no span to redact)

    @property
    def action(self) -> str:
        return self.guard.config.action


def placeholder(entity: str) -> str:
    return f"[{entity.upper()}]"


def mask(value: str) -> str:
    """What an operator may see of a matched value: its first and last characters and its length."""
    if len(value) <= 4:
        return f"…({len(value)} chars)"
    return f"{value[0]}…{value[-1]} ({len(value)} chars)"


OnFailure = Callable[[Guard, BaseException], None]  # raises to fail closed; returns to go on without that guard


def _fail_closed(guard: Guard, exc: BaseException) -> None:
    raise GuardFailed(guard.name) from exc


class ScanSet:
    """Several guards' patterns, those of them whose values hold whitespace, and their joined trigger: worked out
    when a stream first needs them, once per set of guards (a plan's), not once per call."""

    __slots__ = ("_patterns", "_spaced", "_trigger", "guards")

    def __init__(self, guards: Sequence[Guard]) -> None:
        self.guards = tuple(guards)
        self._patterns: tuple[tuple[Guard, Pattern], ...] | None = None
        self._spaced: tuple[tuple[Guard, Pattern, int | None], ...] | None = None
        self._trigger: tuple[Trigger | None] | None = None

    @property
    def patterns(self) -> tuple[tuple[Guard, Pattern], ...]:
        if self._patterns is None:
            self._patterns = tuple((g, p) for g in self.guards for p in g.patterns)
        return self._patterns

    @property
    def spaced(self) -> tuple[tuple[Guard, Pattern, int | None], ...]:
        """The patterns whose values hold whitespace, each with the most characters a match spans (None: no bound)."""
        if self._spaced is None:
            self._spaced = tuple((g, p, max_width(p.rx.pattern, p.rx.flags)) for g, p in self.patterns if p.spaced)
        return self._spaced

    @property
    def trigger(self) -> Trigger | None:
        """What a text must hold for these guards to find anything in it (``Pattern.trigger``); None when that is not
        known (a guard with no patterns to redact, a custom pattern)."""
        if self._trigger is None:
            triggers = tuple(g.trigger for g in self.guards if g.trigger is not None)
            self._trigger = (joined(triggers) if triggers and len(triggers) == len(self.guards) else None,)
        return self._trigger[0]


class Scanner:
    """The guards of one direction (request or response) that apply to one call. A guard that fails is reported
    to ``on_failure`` (which applies its ``on_error``) and, if that returns, left out from then on."""

    __slots__ = ("_set", "on_failure")

    def __init__(self, guards: Sequence[Guard] | ScanSet, on_failure: OnFailure = _fail_closed) -> None:
        self.on_failure = on_failure
        self._set = guards if isinstance(guards, ScanSet) else ScanSet(guards)

    @property
    def guards(self) -> tuple[Guard, ...]:
        return self._set.guards

    @property
    def patterns(self) -> tuple[tuple[Guard, Pattern], ...]:
        return self._set.patterns

    @property
    def spaced(self) -> tuple[tuple[Guard, Pattern, int | None], ...]:
        return self._set.spaced

    @property
    def trigger(self) -> Trigger | None:
        return self._set.trigger

    def _failed(self, guard: Guard, exc: BaseException) -> None:
        self.on_failure(guard, exc)
        self._set = ScanSet([g for g in self.guards if g is not guard])

    def hits(self, text: str) -> list[Hit]:
        """Every guard's findings, overlaps resolved (earliest first, then the strongest action, then the longest).
        GuardFailed (with ``guard`` set) when a guard cannot decide."""
        trigger = self._set.trigger
        if trigger is not None and not trigger.ends_in(text):  # no pattern's trigger: no pattern can match (an
            return []  # answer's plain sentences; the stream redactor's quiet step rests on the same rule)
        raw: list[Hit] = []
        hints: dict[object, bool] = {}  # a hint (a digit, an "@") is looked for once per text
        for guard in self.guards:
            try:
                _find(guard, text, raw, hints)
            except Exception as exc:  # a bug or a timeout in one guard: the stage applies its on_error
                self._failed(guard, exc)
        return raw if len(raw) < 2 else _resolved(raw)

    def pending_start(self, text: str, since: int) -> int:
        """The earliest index >= ``since`` where a value may start that the text's end has not finished: the
        trailing run of non-space characters (where any value without whitespace that may still grow lies), or a
        partial match of a pattern whose values hold whitespace, or such a match that reaches the end or may still
        grow. ``len(text)`` when there is none."""
        end = len(text)
        start = end
        while start > since and not text[start - 1].isspace():
            start -= 1
        if start == since:
            return start
        for guard, pattern, width in self.spaced:
            # an unfinished value is a prefix of a match: it starts no more than the widest match from the end
            low = since if width is None else max(since, end - width)
            hint = pattern.partial_hint
            if hint is not None and hint.search(text, low) is None:
                continue
            try:
                rx, timeout = pattern.rx, pattern.timeout
                for m in rx.finditer(text, low, partial=True, timeout=timeout):
                    s = m.start()
                    if s >= start:
                        break
                    # a match that ends early may still be the start of a longer one ("+44 20" of "+44 20 7946 …")
                    if m.partial or m.end() == end or rx.fullmatch(text, s, partial=True, timeout=timeout):
                        start = s
            except Exception as exc:
                self._failed(guard, exc)
                return self.pending_start(text, since)
        return start

    def long_value(self, text: str, since: int, cut: int) -> Hit | None:
        """A key-like value (a pattern with a literal prefix, already seen) that starts before ``cut`` and is still
        unfinished at the text's end: longer than the hold-back, so it is recognised by its start."""
        end = len(text)
        for guard, pattern in self.patterns:
            needles = pattern.needles
            if not needles or pattern.spaced or not any(n in text for n in needles):
                continue
            try:
                for m in pattern.rx.finditer(text, since, partial=True, timeout=pattern.timeout):
                    if m.start() >= cut:
                        break
                    if m.partial or m.end() == end:
                        return Hit(Finding(pattern.entity, m.start(), end, pattern), guard, pattern)
            except Exception as exc:
                self._failed(guard, exc)
                return None
        return None


def guard_hits(guard: Guard, text: str) -> list[Hit]:
    """``Scanner([guard]).hits(text)`` without the scanner; what the guard raises is raised."""
    trigger = guard.trigger
    if trigger is not None and not trigger.ends_in(text):  # none of its patterns' triggers: nothing to find
        return []
    raw: list[Hit] = []
    _find(guard, text, raw, None)
    return raw if len(raw) < 2 else _resolved(raw)


def _find(guard: Guard, text: str, raw: list[Hit], hints: dict[object, bool] | None) -> None:
    kind = guard.config.type
    if kind == "injection" or kind == "size":
        raw.extend(Hit(f, guard, None) for f in guard.scan(text))
        return
    strict = guard.strict
    found: list[Finding] = []
    for pattern in guard.patterns_for(text):
        pattern.scan(text, strict, found, hints)
    if found:
        raw.extend(Hit(f, guard, f.pattern) for f in found)


def _resolved(raw: list[Hit]) -> list[Hit]:
    raw.sort(key=lambda h: (h.finding.start, -_RANK[h.action], -h.finding.end, h.finding.entity in _GENERIC))
    out: list[Hit] = []
    last_end = -1
    for hit in raw:
        if hit.pattern is None or hit.finding.start >= last_end:
            out.append(hit)
            if hit.pattern is not None:
                last_end = hit.finding.end
    return out


def redact(text: str, hits: Sequence[Hit], base: int = 0) -> str:
    """``text`` (which starts at ``base`` in the scanned text) with every redacting hit replaced by its placeholder;
    a hit that began before ``base`` is replaced from ``base`` on."""
    parts: list[str] = []
    pos = 0
    for hit in hits:
        if hit.pattern is None or hit.action == "warn":
            continue
        start, end = max(hit.finding.start - base, 0), min(hit.finding.end - base, len(text))
        if end <= pos or start >= len(text):
            continue
        parts.append(text[pos:start])
        parts.append(placeholder(hit.finding.entity))
        pos = end
    if not parts:
        return text
    parts.append(text[pos:])
    return "".join(parts)
