"""The stream redactor's quiet step (guards/stream.py): where neither the new text nor what is kept from earlier
steps holds a trigger of the scanner's patterns, no pattern runs. The triggers must be sound (inside every match,
every start of a match with whitespace, every needle), and the quiet step must give exactly what the full step
gives: the same text released at each step, the same hold-back, whatever the split."""

from __future__ import annotations

import random
import re
import sys

import pytest
import regex

from tests.guards.helpers import call, content, relay, stage, start, text_chunk
from tests.guards.test_detectors import PII_FOUND, SECRETS
from tests.guards.test_stream_fuzz import PII_VALUES
from wardgate.config.guards import GuardConfig
from wardgate.guards import pii, secrets
from wardgate.guards.engine import compile_guards
from wardgate.guards.findings import DIGIT_TRIGGER, Pattern, Trigger, build_trigger, trigger_gate
from wardgate.guards.scan import Hit, Scanner, redact
from wardgate.guards.stream import TextRedactor

ALL_PATTERNS = [p for patterns in pii.PATTERNS.values() for p in patterns] + list(secrets.PATTERNS)
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----"
TEXTS = (
    [text for _, text in PII_FOUND]
    + [f"use {value} here" for _, value in SECRETS]
    + [f"Sure: {value} is it." for value in PII_VALUES]
    + [
        f"key:\n{PEM}\nend",
        "db = postgres://app:Xk29fLq7@db.internal:5432/x",
        'DB_PASSWORD = "h7Gq2mZx9Lp"',
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "AccountKey=" + "A" * 86 + "==",
        "abc1Q~" + "x" * 32,
        "https://hooks.slack.com/services/T0000/B0000/" + "X" * 24,
        "twilio SK" + "0123456789abcdef" * 2 + " ok",
        "npm_" + "a1" * 18,
    ]
)
BENCH_GUARDS = (  # bench/full-guards.yaml's answer guards
    {
        "name": "pii",
        "type": "pii",
        "on": "both",
        "action": "redact",
        "entities": ["email", "phone", "credit_card", "iban"],
    },
    {"name": "secrets", "type": "secrets", "on": "both", "action": "redact"},
)
ALL_GUARDS = (
    {"name": "pii", "type": "pii", "on": "response", "action": "redact", "sensitivity": "strict"},
    {"name": "secrets", "type": "secrets", "on": "response", "action": "redact"},
)


def _trigger(pattern: Pattern) -> Trigger:
    trigger = trigger_gate([pattern])
    assert trigger is not None, pattern.entity
    return trigger


def test_every_built_in_pattern_has_a_trigger_found_in_each_of_its_needles() -> None:
    for pattern in ALL_PATTERNS:
        trigger = _trigger(pattern)
        for needle in pattern.needles:
            assert trigger.full.search(needle), (pattern.entity, needle)


def test_every_match_and_every_spaced_start_of_one_holds_the_trigger() -> None:
    checked = 0
    for pattern in ALL_PATTERNS:
        trigger = _trigger(pattern)
        for text in TEXTS:
            for m in pattern.rx.finditer(text):
                value = m.group(0)
                assert trigger.full.search(value), (pattern.entity, value)
                assert trigger.ends_in(value), (pattern.entity, value)
                for end in range(1, len(value) + 1 if pattern.spaced else 0):  # pending_start looks at spaced ones
                    if any(c.isspace() for c in value[:end]):
                        assert trigger.full.search(value[:end]), (pattern.entity, value[:end])
                        assert trigger.ends_in(value[:end]), (pattern.entity, value[:end])
                checked += 1
    assert checked >= len(TEXTS)


def test_ends_in_answers_as_the_full_expression_from_the_same_start() -> None:
    # ends_in searches in parts (the class by deleting other bytes, the literals as a trie, a class and literal
    # before a lookahead as the literal behind a lookbehind): each answer is the definition's, ``full``, searched
    # from ``since`` less the widest trigger, for ASCII and other texts, every ``since``
    rng = random.Random(11)
    stage_ = stage(*ALL_GUARDS)
    probe = call()
    start(stage_, probe)
    joined = probe.guards.response.trigger  # type: ignore[attr-defined]
    synthetic = [  # lookaheads whose characters are no trigger themselves, classes with and without ASCII members
        build_trigger(("A (?=y)", "B (?=y)", "Kz(?=\\Z)", "kz(?=\\Z)", "[é€]", "hook")),
        build_trigger(("a (?=x|\\Z)", "Q (?=x|\\Z)", "[€ß]")),
        build_trigger(("S (?=1)", "xo")),
    ]
    triggers = [joined, *synthetic, *(_trigger(p) for p in ALL_PATTERNS)]
    alphabet = "aAbBQSWKkxyz0189 -_:=@~.\nJhokéß€𝟙\u00a0"
    texts = [*TEXTS, "Benchmarking an HTTP proxy means measuring its throughput.", "QQ 12", "AB ", "P  1", "hook"]
    texts += ["xA yq.", "B y", "wa xyz", "Q  x", "S 1 2", "okz", "Kz.", "é a", "€ Q x"]  # the synthetic ones
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(600)]
    checked = 0
    for trigger in triggers:
        for text in texts:
            for since in range(len(text) + 1) if len(text) <= 32 else {0, len(text) // 2, len(text) - 2, len(text)}:
                expected = trigger.full.search(text, max(0, since - trigger.width + 1)) is not None
                assert trigger.ends_in(text, since) == expected, (trigger.items, text, since)
                checked += 1
    assert checked > 10_000


def test_every_start_of_a_spaced_match_that_holds_a_space_holds_its_partial_hint() -> None:
    # pending_start runs a spaced pattern's partial matches only where its partial_hint is found; what it must hold
    # back is a match that starts before the text's trailing word, so one that holds a space
    checked = 0
    for pattern in ALL_PATTERNS:
        hint = pattern.partial_hint
        if hint is None:
            continue
        for text in [*TEXTS, "IBAN DE89 3704 0044 0532 0130 00 and NINO QQ 12 34 56 C or QQ123456C"]:
            for m in pattern.rx.finditer(text):
                value = m.group(0)
                for end in range(1, len(value) + 1):
                    if any(c.isspace() for c in value[:end]):
                        assert hint.search(value[:end]), (pattern.entity, value[:end])
                        checked += 1
    assert checked > 50


def test_the_digit_trigger_finds_every_digit_of_the_regex_module() -> None:
    everything = "".join(map(chr, range(sys.maxunicode + 1)))
    digits = "".join(regex.findall(r"\d", everything))
    assert len(re.findall(DIGIT_TRIGGER, digits)) == len(digits) > 600


def test_the_letters_of_case_blind_triggers_have_no_other_case_fold() -> None:
    # aws_secret_key ignores case and is triggered by "aw" in four spellings: no other character folds to a or w
    everything = "".join(map(chr, range(sys.maxunicode + 1)))  # one scan of every code point, not 1.1M matches
    for letter in "aw":
        folds = set(regex.findall(letter, everything, regex.IGNORECASE))
        assert folds == {letter, letter.upper()}


class _FullScanner(Scanner):
    """A scanner that knows no trigger: its redactor takes the full step every time (the reference)."""

    __slots__ = ()

    @property
    def trigger(self) -> None:
        return None


def _noop(hits: list[Hit], scanned: str) -> None:
    return None


WORDS = [
    "the",
    "an",
    "of",
    "proxy",
    "means",
    "measuring",
    "Benchmarking",
    "HTTP",
    "throughput",
    ",",
    ".",
    "!",
    "?",
    "(",
    ")",
    "'",
    '"',
    "latency",
    "know",
    "awful",
    "hook",
    "Kelvin",
    "Zebra",
    "A",
    "GET",
    "x-ray",
    "e-mail",
    "snake_case",
    "key:",
    "a=b",
    "~",
    "@",
    "42",
    "7",
    "\x1c",
    "\xa0",
    "\u2003",
    "é",
    "名前",
    "sk",
    "AK",
    "IA",
    "ey",
    "J",
    "eyJ",
    "aw",
    "password:",
    "api_key =",
    "secret=",
    "token :",
    "h7Gq2mZx9Lp",
    "'",
    "GB82",
    "WEST",
]
VALUES = [value for _, value in SECRETS] + PII_VALUES + [PEM, "jane@example.org", "+44 20 7946 0958"]


def _stream(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(3, 30)):
        parts.append(rng.choice(VALUES) if rng.random() < 0.08 else rng.choice(WORDS))
        parts.append(rng.choice(("", " ", " ", " ", "\n", "  ")))
    return "".join(parts)


def _chunks(text: str, rng: random.Random) -> list[str]:
    out, i = [], 0
    while i < len(text):
        n = rng.choice((1, 1, 2, 3, 4, 5, 6, 8, 12, 70))
        out.append(text[i : i + n])
        i += n
    return out


def _run(scanner: Scanner, pieces: list[str], holdback: int) -> list[tuple[str, int]]:
    redactor = TextRedactor(scanner, holdback, _noop)
    steps = [(redactor.feed(piece), redactor.held) for piece in pieces]
    return [*steps, (redactor.flush(), redactor.held)]


def test_the_quiet_step_releases_what_the_full_step_releases() -> None:
    rng = random.Random(1414)
    quiet = 0
    for guards in (BENCH_GUARDS, ALL_GUARDS):
        compiled = compile_guards([GuardConfig.model_validate(g) for g in guards])
        for _ in range(600):
            text = _stream(rng)
            pieces = _chunks(text, rng)
            holdback = rng.choice((16, 24, 64))
            fast = _run(Scanner(compiled), pieces, holdback)
            full = _run(_FullScanner(compiled), pieces, holdback)
            assert fast == full, (text, pieces, holdback)
            quiet += sum(1 for piece in pieces if not any(c in piece for c in "0123456789@-_:=~"))
    assert quiet > 1000  # the quiet step was offered often


def test_a_trigger_far_back_in_the_context_no_longer_forces_full_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The "P " of "HTTP proxy" (a NINO could start there) stops counting once LIVE_CHARS further characters are
    released; a key whose value comes in a later chunk, past whitespace after its separator, is still found."""
    compiled = compile_guards([GuardConfig.model_validate(g) for g in ALL_GUARDS])
    full_steps = 0
    original = TextRedactor._full_step

    def counted(self: TextRedactor, scan: str, base: int, final: bool) -> str:
        nonlocal full_steps
        full_steps += 1
        return original(self, scan, base, final)

    monkeypatch.setattr(TextRedactor, "_full_step", counted)
    words = [
        "Benchmarking",
        "an",
        "HTTP",
        "proxy",
        "means",
        "measuring",
        "its",
        "throughput,",
        "its",
        "latency",
        "and",
        "its",
        "memory",
        "under",
        "load.",
    ]
    out = _run(Scanner(compiled), [w + " " for w in words], 64)
    assert "".join(text for text, _ in out) == " ".join(words) + " "
    assert full_steps <= 4  # "HTTP " then the few words within LIVE_CHARS of it; none after
    for gap in ("", " ", "   ", " '", "   '", "= '"):
        for split in range(1, 12):
            text = f"HTTP proxy notes: the password:{gap}hunter#GqmZx!Lpw is old."
            pieces = [text[i : i + split] for i in range(0, len(text), split)]
            released = "".join(t for t, _ in _run(Scanner(compiled), pieces, 64))
            assert "hunt" not in released and "xLpw" not in released, (gap, split, released)


def test_prose_takes_no_full_step_and_is_released_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    full_steps: list[int] = []
    original = TextRedactor._full_step

    def counting(self: TextRedactor, scan: str, base: int, final: bool) -> str:
        full_steps.append(1)
        return original(self, scan, base, final)

    guards = stage(*BENCH_GUARDS)
    c = call()
    start(guards, c)
    answer = "Benchmarking an HTTP proxy means measuring its throughput, its latency percentiles and its memory."
    words = re.findall(r"\s*\S+", answer)
    monkeypatch.setattr(TextRedactor, "_full_step", counting)
    out = relay(guards, c, [text_chunk("", role=True), *map(text_chunk, words), text_chunk("", finish="stop")])
    assert content(out) == answer
    assert full_steps == []
    # each word is released once the next one starts, as the full step does
    assert [chunk.data["choices"][0]["delta"].get("content") for chunk in out][1:4] == ["Benchmarking ", "an ", "HTTP "]


SPLIT_TRIGGERS = [
    ("jwt", SECRETS[9][1], ("e", "y", "J")),  # the three letters of the trigger "eyJ" in three chunks
    ("aws_access_key", SECRETS[0][1], ("A", "K", "IA")),
    ("aws_secret_key", "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ("a", "w", "s")),
    ("email", "jane.doe@mail.example.org", ("jane.doe", "@", "mail")),
    ("sendgrid_key", SECRETS[11][1], ("S", "G", ".")),
]


def test_a_trigger_split_across_chunks_is_still_seen() -> None:
    guards = stage(*ALL_GUARDS)
    for entity, value, cuts in SPLIT_TRIGGERS:
        text = f"Here is the thing you asked for {value} and nothing more."
        first = text.index(value)
        pieces = [text[:first]]  # quiet prose first
        rest = value
        for cut in cuts:  # the trigger's characters, a chunk each
            assert rest.startswith(cut)
            pieces.append(cut)
            rest = rest[len(cut) :]
        pieces += [rest, text[first + len(value) :]]
        c = call()
        start(guards, c)
        chunks = [text_chunk(p) for p in pieces[:-1]] + [text_chunk(pieces[-1], finish="stop")]
        got = content(relay(guards, c, chunks))
        scanner = c.guards.response  # type: ignore[attr-defined]
        assert got == redact(text, scanner.hits(text)), entity
        assert value not in got and f"[{entity.upper()}]" in got, entity


def test_a_text_only_chunk_takes_the_short_path_with_the_general_path_s_answer() -> None:
    # the same stream twice: text-only deltas (the stage's short path), and deltas with one more key (the general
    # path, which keeps a chunk whose other keys still say something): the same text released chunk by chunk
    rng = random.Random(7)
    guards = stage(*ALL_GUARDS)
    for _ in range(200):
        pieces = _chunks(_stream(rng), rng)
        outs = []
        for extra in (False, True):
            c = call()
            start(guards, c)
            chunks = [text_chunk("", role=True)]
            for piece in pieces:
                chunk = text_chunk(piece)
                if extra:
                    chunk.data["choices"][0]["delta"]["refusal"] = None
                chunks.append(chunk)
            chunks.append(text_chunk("", finish="stop"))
            out = relay(guards, c, chunks)
            outs.append([ch.data["choices"][0]["delta"].get("content") for ch in out])
        short, general = outs
        assert [t for t in short if t] == [t for t in general if t], pieces
        assert short.count("") == 1 + (short[-1] == "")  # the role chunk, the finish chunk: a silent one is dropped


def test_a_text_with_no_trigger_is_not_scanned_and_nothing_is_missed() -> None:
    """``Scanner.hits`` and ``guard_hits`` skip a text holding none of the patterns' triggers (an answer's plain
    sentences): the same findings as scanning it, on the detectors' own texts and on random streams."""
    from wardgate.guards import scan

    rng = random.Random(77)
    texts = [*TEXTS, "Benchmarking an HTTP proxy means measuring its throughput under a steady load."]
    texts += [_stream(rng) for _ in range(400)]
    plain = [
        "the",
        "an",
        "of",
        "proxy",
        "means",
        "measuring",
        "its",
        "throughput",
        "latency",
        "and",
        "memory",
        "under",
        "a",
        "steady",
        "load",
        "model",
        "answer",
    ]
    texts += [" ".join(rng.choice(plain) for _ in range(rng.randint(3, 40))) + "." for _ in range(100)]
    skipped = 0
    for guards in (BENCH_GUARDS, ALL_GUARDS):
        compiled = compile_guards([GuardConfig.model_validate(g) for g in guards])
        fast, full = Scanner(compiled), _FullScanner(compiled)
        for text in texts:
            assert fast.hits(text) == full.hits(text), text
            for guard in compiled:
                assert scan.guard_hits(guard, text) == _FullScanner([guard]).hits(text), (guard.name, text)
            skipped += fast.trigger is not None and not fast.trigger.ends_in(text)
    assert skipped > 150  # the plain sentences, in both guard sets
