"""``Scanner.pending_start`` looks for unfinished values only within the widest match of each spaced pattern from the
text's end (``findings.max_width``), for less work on long texts. It holds back at least what the search of the whole
text holds: a start it finds inside an earlier, finished match (which the whole search steps over) holds more."""

from __future__ import annotations

import random

from tests.guards.test_stream_fast import ALL_GUARDS, BENCH_GUARDS, _stream
from wardgate.config.guards import GuardConfig
from wardgate.guards import pii
from wardgate.guards.engine import compile_guards
from wardgate.guards.findings import max_width
from wardgate.guards.scan import Scanner, ScanSet


class _Unbounded(ScanSet):
    """The same patterns with no width known: every spaced pattern is searched from ``since``."""

    @property
    def spaced(self):  # type: ignore[no-untyped-def]
        return tuple((g, p, None) for g, p in self.patterns if p.spaced)


def test_every_spaced_built_in_pattern_has_a_known_widest_match() -> None:
    spaced = [p for patterns in pii.PATTERNS.values() for p in patterns if p.spaced]
    assert spaced
    for pattern in spaced:
        width = max_width(pattern.rx.pattern, pattern.rx.flags)
        assert width is not None and 8 <= width <= 64, (pattern.entity, width)
    assert max_width(r"\d{3} \d+") is None  # an unbounded repeat: no bound, the whole text is searched
    assert max_width(r"\p{Lu}{2} \d{4}") is None  # `regex`-only syntax the `re` parser cannot read


def test_the_bounded_search_finds_what_the_whole_search_finds() -> None:
    rng = random.Random(2026)
    for guards in (BENCH_GUARDS, ALL_GUARDS):
        compiled = compile_guards([GuardConfig.model_validate(g) for g in guards])
        bounded, whole = Scanner(ScanSet(compiled)), Scanner(_Unbounded(compiled))
        widest = max(w for _, _, w in ScanSet(compiled).spaced if w is not None)
        same = 0
        for _ in range(1500):
            text = _stream(rng) + rng.choice(("", " +44 20 79", " GB82 WEST 1234", " AB 12 3", " 4111 1111"))
            since = rng.randrange(0, len(text) + 1)
            start, reference = bounded.pending_start(text, since), whole.pending_start(text, since)
            assert start <= reference, (text, since)
            assert start == reference or start >= len(text) - widest, (text, since)
            same += start == reference
        assert same > 1400
