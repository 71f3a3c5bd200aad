"""Which of many literal needles a text holds, in one pass (an Aho-Corasick automaton, in C): the pre-test of the
injection rules, the persona groups and the encoded-payload cues. A detector whose needles are all absent cannot
match, so it is not run; each needle is a literal that every match of its detector contains (lower case: the
detectors run on the lower-cased text)."""

from __future__ import annotations

from collections.abc import Iterable

import ahocorasick


class Needles:
    """An automaton over a fixed set of needles, built once at import."""

    __slots__ = ("_automaton",)

    def __init__(self, needles: Iterable[str]) -> None:
        automaton = ahocorasick.Automaton()
        for needle in sorted(set(needles)):
            automaton.add_word(needle, needle)
        automaton.make_automaton()
        self._automaton = automaton

    def found(self, text: str) -> set[str]:
        """The needles that occur in ``text`` (anywhere, overlaps included)."""
        return {needle for _, needle in self._automaton.iter(text)}
