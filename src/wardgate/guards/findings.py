"""What every detector returns, and the interface the stage and the stream redactor use."""

from __future__ import annotations

import functools
import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the module itself is loaded by the first pattern compiled (a worker with no guards never is)
    import regex


@dataclass(frozen=True, slots=True)
class Finding:
    entity: str  # "email", "aws_access_key", "injection.override", "regex" …
    start: int
    end: int  # the value's span in the scanned text (the part a redaction replaces)
    pattern: Pattern | None = None  # what found it (None: a finding with no span to redact, e.g. injection)


Validator = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class Pattern:
    """One regular expression for one entity. ``group`` names the part that is the value (else the whole match);
    ``check`` validates a candidate (a checksum, an entropy floor); ``until`` marks a value with no bounded length
    (a PEM block): a stream redacts everything after the match until ``until`` has been seen.

    ``hint``: a cheap test a text must pass before the pattern runs (a digit, an ``@``). ``spaced``: a value may
    hold whitespace (a phone number, an IBAN in groups); a stream looks for partial matches of these only, since a
    value without whitespace that may still grow always lies in the text's trailing run of non-space characters."""

    entity: str
    rx: regex.Pattern[str]
    check: Validator | None = None
    group: int = 0
    until: regex.Pattern[str] | None = None
    context: regex.Pattern[str] | None = None  # when set, a keyword that must precede the value (unless strict)
    timeout: float | None = None  # seconds a search may take (custom patterns); TimeoutError past it
    hint: re.Pattern[str] | None = None
    spaced: bool = False
    partial_hint: re.Pattern[str] | None = None  # for a spaced pattern: what a value's first characters contain
    needles: tuple[str, ...] = ()  # literals of which one must be in the text (a key's prefix): a fast skip
    # what is inside every match of this pattern, inside every start of a match that holds whitespace (what the
    # stream redactor's pending_start keeps) and inside each of its needles: literals, or a one-character ``re``
    # class written ``[…]``. A stream whose recent text holds none of them cannot hold a value (guards/stream.py).
    # None: not known, so a stream checked by this pattern takes the full step every time.
    trigger: tuple[str, ...] | None = None

    def scan(self, text: str, strict: bool, out: list[Finding], hints: dict[object, bool] | None = None) -> None:
        needles = self.needles
        if needles:
            for needle in needles:
                if needle in text:
                    break
            else:
                return
        hint = self.hint
        if hint is not None:
            found = hints.get(hint) if hints is not None else None
            if found is None:
                found = hint.search(text) is not None
                if hints is not None:
                    hints[hint] = found
            if not found:
                return
        check, group, context = self.check, self.group, self.context
        for m in self.rx.finditer(text, timeout=self.timeout):
            start, end = m.span(group)
            if start < 0:
                continue
            if check is not None and not check(text[start:end]):
                continue
            if context is not None and not strict and context.search(text, max(0, start - 48), start) is None:
                continue
            out.append(Finding(self.entity, start, end, self))


_SHORT = 48  # characters: up to this many, the class's search costs less than deleting the other bytes


@dataclass(frozen=True, slots=True)
class Trigger:
    """The triggers of several patterns (``Pattern.trigger``). ``full`` is one regular expression of them all (the
    definition); ``ends_in`` looks for them in parts that each scan fast: the one-character triggers as one class
    (for an ASCII text, the bytes left once every other byte is deleted), the literals as one trie, and each group of
    literals with a lookahead as a regular expression that starts with a class or, when a literal follows the
    class, with that literal (the class a lookbehind: the engine then looks for the literal at C speed)."""

    full: re.Pattern[str]
    width: int  # characters of the longest trigger, with the one its lookahead reads
    chars: re.Pattern[str] | None  # the one-character triggers
    ascii_chars: re.Pattern[str] | None  # the same, for an ASCII text: its ASCII members spelled out (a bitmap)
    ascii_drop: bytes | None  # for a longer ASCII text: every byte but the class's ASCII members
    literals: re.Pattern[str] | None  # the longer literals, as a trie (one branch a first character)
    ahead: tuple[tuple[re.Pattern[str], int], ...]  # each with how far after a match's start it begins looking
    items: tuple[str, ...]  # what it was built from (``joined`` builds one of several)

    def ends_in(self, text: str, since: int = 0) -> bool:
        """Whether a trigger in ``text`` ends after ``since`` (``text[:since]`` is known to hold none)."""
        start = max(0, since - self.width + 1)
        if not text.isascii():
            if self.chars is not None and self.chars.search(text, start) is not None:
                return True
        elif len(text) - start > _SHORT:
            drop = self.ascii_drop
            if drop is not None and (text[start:] if start else text).encode().translate(None, drop):
                return True
        elif self.ascii_chars is not None and self.ascii_chars.search(text, start) is not None:
            return True
        literals = self.literals
        if literals is not None and literals.search(text, start) is not None:
            return True
        for rx, skip in self.ahead:  # noqa: SIM110 - a loop, not a generator: this runs on every chunk of every stream
            if rx.search(text, start + skip) is not None:
                return True
        return False


@functools.lru_cache(maxsize=64)
def joined(triggers: tuple[Trigger, ...]) -> Trigger:
    """One test for several guards' triggers (a call's answer guards: the same few sets, call after call)."""
    if len(triggers) == 1:
        return triggers[0]
    return build_trigger(tuple(dict.fromkeys(item for t in triggers for item in t.items)))


AHEAD = "(?="  # a trigger item may end in one lookahead: what must follow it (or the text's end) for it to count


def trigger_gate(patterns: Sequence[Pattern]) -> Trigger | None:
    """One test for any of ``patterns``' triggers; None when one of them has none (or there are none)."""
    if not patterns or any(p.trigger is None for p in patterns):
        return None
    return build_trigger(tuple(dict.fromkeys(t for p in patterns for t in p.trigger or ())))


def build_trigger(items: tuple[str, ...]) -> Trigger:
    """An item is a one-character class ``[…]`` or a literal, and may end in a lookahead ``(?=…)``: what must follow
    it, or ``\\Z``, for it to count (a NINO's "B " before a digit or at the end: "HTTP proxy" holds none)."""
    split = [_split(t) for t in items]
    classes = [body for body, ahead in split if body.startswith("[") and not ahead]
    singles = [body for body, ahead in split if not body.startswith("[") and len(body) == 1 and not ahead]
    literals = [body for body, ahead in split if not body.startswith("[") and len(body) > 1 and not ahead]
    if any(c.startswith("[^") or not c.endswith("]") or "]" in c[1:-1] for c, _ in split if c.startswith("[")):
        raise ValueError(f"a trigger class is written [...] and not negated: {items}")
    chars = None
    if classes or singles:
        chars = "[" + "".join(c[1:-1] for c in classes) + "".join(map(re.escape, singles)) + "]"
    # literals with a lookahead that differ only in their first character are one class and their common rest ("A ",
    # "B " … of a NINO's start: ``[AB…] (?=…)``): each group one expression that starts with a class, which the `re`
    # engine scans for at C speed
    groups: dict[tuple[str, str], list[str]] = {}
    for body, ahead in split:
        if ahead and body.startswith("["):
            groups.setdefault(("", ahead), []).append(body)
        elif ahead:
            groups.setdefault((body[1:], ahead), []).append(body[0])
    lookaheads = [
        ((_one_of(firsts) if len(firsts) > 1 or firsts[0].startswith("[") else re.escape(firsts[0])), rest, look)
        for (rest, look), firsts in groups.items()
    ]
    full = "|".join(
        ([chars] if chars else []) + [re.escape(t) for t in literals] + [f + re.escape(r) + a for f, r, a in lookaheads]
    )
    width = max([1] + [len(b) + bool(a) if not b.startswith("[") else 1 + bool(a) for b, a in split])
    return Trigger(
        re.compile(full),
        width,
        re.compile(chars) if chars else None,
        _ascii_class(chars) if chars else None,
        _ascii_drop(chars) if chars else None,
        re.compile(trie(literals)) if literals else None,
        tuple(_ahead(first, rest, look) for first, rest, look in lookaheads),
        items,
    )


def _ahead(first: str, rest: str, look: str) -> tuple[re.Pattern[str], int]:
    """``first`` (one character or a class) + the literal ``rest`` + the lookahead ``look``, as ``ends_in`` searches
    for it: a class followed by a literal becomes the literal, then a lookbehind for the class and the literal, so
    that the engine looks for the literal at C speed; it is searched from one character further (a match at ``p`` of
    the one is a match at ``p + 1`` of the other)."""
    if first.startswith("[") and rest:
        literal = re.escape(rest)
        return re.compile(literal + "(?<=" + first + literal + ")" + look), 1
    return re.compile(first + re.escape(rest) + look), 0


def _one_of(firsts: list[str]) -> str:
    return "[" + "".join(f[1:-1] if f.startswith("[") else re.escape(f) for f in firsts) + "]"


def _ascii_class(chars: str) -> re.Pattern[str] | None:
    """The ASCII members of a class, spelled out: the engine tests them with a bitmap (a ``\\d`` or a range of
    astral characters makes it test each character's category instead); None when it has none."""
    rx = re.compile(chars)
    members = [c for c in map(chr, range(128)) if rx.match(c)]
    return re.compile("[" + "".join(map(re.escape, members)) + "]") if members else None


def _ascii_drop(chars: str) -> bytes | None:
    """Every byte but the ASCII members of a class: what ``bytes.translate`` deletes from an ASCII text to leave the
    members it holds (one pass at C speed, no engine step per character); None when the class has no ASCII member."""
    rx = re.compile(chars)
    members = {i for i in range(128) if rx.match(chr(i))}
    return bytes(i for i in range(256) if i not in members) if members else None


def _split(item: str) -> tuple[str, str]:
    at = item.find(AHEAD)
    if at < 0:
        return item, ""
    if not item.endswith(")") or at == 0:
        raise ValueError(f"a trigger's lookahead ends it: {item!r}")
    return item[:at], item[at:]


@functools.lru_cache(maxsize=1024)
def max_width(source: str, flags: int = 0) -> int | None:
    """The most characters a match of ``source`` (a `regex` module pattern, version 0: the `re` syntax) can span,
    lookarounds aside; None when it has no bound or the `re` parser cannot read it. A stream's unfinished value is a
    prefix of a match, so it starts no further back than this from the text's end (``Scanner.pending_start``)."""
    parser = importlib.import_module("re._parser")  # what `re` compiles with (private, no stubs): widths of spans

    try:
        high = parser.parse(source, flags & re.VERBOSE).getwidth()[1]
    except Exception:  # regex-only syntax (\p{…}, possessive quantifiers in old parsers …): not bounded here
        return None
    return int(high) if high < 1 << 16 else None  # an unbounded repeat reads as MAXREPEAT


def compile_rx(source: str, flags: int = 0) -> regex.Pattern[str]:
    import regex

    return regex.compile(source, flags | regex.V0)


def trie(words: list[str]) -> str:
    """A regex that matches, at a position, the longest of ``words`` that starts there (one branch per letter)."""
    root: dict[str, dict] = {}  # type: ignore[type-arg]
    for word in words:
        node = root
        for c in word:
            node = node.setdefault(c, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:  # type: ignore[type-arg]
        alternatives = [re.escape(c) + emit(node[c]) for c in sorted(k for k in node if k)]
        if not alternatives:
            return ""
        body = alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
        return f"(?:{body})?" if "" in node else body

    return emit(root)


def needle_gate(patterns: tuple[Pattern, ...]) -> re.Pattern[str] | tuple[str, ...] | None:
    """What finds whether any needle of ``patterns`` is in a text, in one scan (a few needles: the needles; None when
    no pattern has one): a text without one skips every such pattern at once, as each pattern's own test would."""
    needles = sorted({n for p in patterns for n in p.needles})
    if len(needles) <= 3:  # a few: tested with ``in`` (None when there are none)
        return tuple(needles) or None
    return re.compile(trie(needles), re.DOTALL)


DIGIT = re.compile(r"\d")
# a digit as the `regex` module reads ``\d``, as a trigger: its Unicode tables are newer than the `re` module's, and
# the digits they add are all outside the Basic Multilingual Plane (tests/guards/test_stream_fast.py checks them all)
DIGIT_TRIGGER = r"[\d\U00010000-\U0010FFFF]"


def luhn(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for i, ch in enumerate(digits):
        d = ord(ch) - 48
        if i % 2 == parity:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def only_digits(text: str) -> str:
    return "".join(ch for ch in text if "0" <= ch <= "9")


def resolve(findings: list[Finding]) -> list[Finding]:
    """Sorted by start, overlaps dropped (the earliest, then the longest, wins)."""
    findings.sort(key=lambda f: (f.start, -f.end))
    out: list[Finding] = []
    last_end = -1
    for f in findings:
        if f.start >= last_end:
            out.append(f)
            last_end = f.end
    return out
