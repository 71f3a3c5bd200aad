"""Letter-substitution ciphers (ROT13, Atbash, the other Caesar shifts), offline: a text hidden this way is made of
word-shaped tokens, so no blob detector sees it. What gives it away is its letter statistics: its letters are far
less English-like than those of its decipherment.

English-likeness is the mean log frequency of a text's letters plus a bonus per pair of adjacent letters that is one
of English's commonest bigrams (both tables are textbook figures, not fitted to any evaluation set).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from operator import mul

# relative letter frequencies of English text, per cent
_FREQ = dict(
    zip(
        string.ascii_lowercase,
        (
            8.2,
            1.5,
            2.8,
            4.3,
            12.7,
            2.2,
            2.0,
            6.1,
            7.0,
            0.15,
            0.77,
            4.0,
            2.4,
            6.7,
            7.5,
            1.9,
            0.095,
            6.0,
            6.3,
            9.1,
            2.8,
            0.98,
            2.4,
            0.15,
            2.0,
            0.074,
        ),
        strict=True,
    )
)
_LOG = {c: math.log(f / 100) for c, f in _FREQ.items()}
_RANKED_LOGS = sorted(_LOG.values(), reverse=True)
_COMMON_PAIRS = (
    "th he in er an re on at en nd ti es or te of ed is it al ar st to nt ng se ha as ou io le ve co me de hi ri ro ic "
    "ne ea ra ce li ch ll be ma si om ur ca el ta la ns di fo ho pe ec pr no ct us ac ot il tr ly"
)
_BIGRAMS = frozenset(_COMMON_PAIRS.split(" "))
_BIGRAM_BONUS = 1.5
_SECONDS: dict[str, str] = {}
for _pair in sorted(_BIGRAMS):
    _SECONDS[_pair[0]] = _SECONDS.get(_pair[0], "") + _pair[1]
# the first letter of each common bigram (so overlapping ones all count): one branch per first letter ("t(?=[ehio])")
_COMMON_AT = re.compile("|".join(f"{a}(?=[{b}])" for a, b in _SECONDS.items()))
_LETTERS = re.compile(r"[A-Za-z]+")
MIN_LETTERS = 4
MAX_TEXT = 240  # longer texts mix languages, names and codes: the statistic is only trusted on a short message
MARGIN = 1.0  # how much more English-like (per letter) the decipherment must be (benign short prompts: under 0.1)


def englishness(text: str) -> float:
    """Per letter: mean log frequency plus the common-bigram bonus (higher is more English-like)."""
    words = _LETTERS.findall(text.lower())
    letters = sum(len(w) for w in words)
    if letters == 0:
        return -100.0
    total = sum(_LOG[c] for w in words for c in w)
    pairs = sum(1 for w in words for a, b in zip(w, w[1:], strict=False) if a + b in _BIGRAMS)
    return (total + _BIGRAM_BONUS * pairs) / letters


_MAPS: list[dict[str, str]] = [
    {a: b for a, b in zip(string.ascii_lowercase, string.ascii_lowercase[::-1], strict=True)},
    *(
        {
            a: b
            for a, b in zip(
                string.ascii_lowercase, string.ascii_lowercase[k:] + string.ascii_lowercase[:k], strict=True
            )
        }
        for k in range(1, 26)
    ),
]


def _tables(mapping: dict[str, str]) -> tuple[dict[str, float], frozenset[tuple[str, str]]]:
    """Per mapping: the log frequency of each letter's image, and the letter pairs whose image is a common bigram."""
    logs = {c: _LOG[mapping[c]] for c in string.ascii_lowercase}
    common = frozenset(
        (a, b) for a in string.ascii_lowercase for b in string.ascii_lowercase if mapping[a] + mapping[b] in _BIGRAMS
    )
    return logs, common


_IDENTITY = _tables({c: c for c in string.ascii_lowercase})
_TABLES = [_tables(m) for m in _MAPS]
# per letter: its image's log frequency under the identity, then under each mapping
_COLUMNS = {c: (_IDENTITY[0][c], *(logs[c] for logs, _ in _TABLES)) for c in string.ascii_lowercase}


def deciphered(text: str, least: int = MIN_LETTERS) -> str | None:
    """The decipherment (Atbash or a Caesar shift, ROT13 among them) that reads as English where ``text`` does not,
    or None. Each mapping is scored from the text's letter and in-word letter-pair counts (not by rewriting it)."""
    if len(text) > MAX_TEXT:
        return None
    words = _LETTERS.findall(text.lower())
    run = "".join(words)
    counts = Counter(run)  # in first-seen order, as the column sums below rely on
    letters = len(run)
    if letters < least or len(counts) < min(4, letters - 1):
        return None  # too short, or an interjection ("hahaha", "Shhhhh")
    # a bound for every mapping at once: no letter bijection scores its letters above the largest counts paired with
    # the largest log frequencies (the rearrangement inequality), nor more common pairs than the text has in-word
    # pairs. Plain English scores within MARGIN of that bound itself, so no mapping can win: most prompts stop here
    # (the slack absorbs float rounding; the exact scores below decide every other text)
    joined = " ".join(words)
    bound = sum(map(mul, sorted(counts.values(), reverse=True), _RANKED_LOGS))
    plain = sum(map(_LOG.__getitem__, run)) + _BIGRAM_BONUS * len(_COMMON_AT.findall(joined))
    if (bound + _BIGRAM_BONUS * (letters - len(words))) / letters < plain / letters + MARGIN - 1e-9:
        return None
    pairs = Counter(zip(joined, joined[1:], strict=False))  # in-word pairs: those across a space are dropped
    for pair in [p for p in pairs if " " in p]:
        del pairs[pair]
    most = _BIGRAM_BONUS * sum(pairs.values())  # the pair bonus if every pair were common: a bound for any mapping

    def common(common_pairs: frozenset[tuple[str, str]]) -> int:
        return sum(n for pair, n in pairs.items() if pair in common_pairs)

    # every mapping's letter total at once: one row per letter of the text, summed column by column (same order of
    # additions as a sum per mapping, so the same floats)
    totals = [sum(column) for column in zip(*[[n * x for x in _COLUMNS[c]] for c, n in counts.items()], strict=True)]
    best = (totals[0] + _BIGRAM_BONUS * common(_IDENTITY[1])) / letters + MARGIN
    best_map = None
    for mapping, (_, common_pairs), total in zip(_MAPS, _TABLES, totals[1:], strict=True):
        if (total + most) / letters <= best:  # cannot win even with every pair common: skip counting them
            continue
        score = (total + _BIGRAM_BONUS * common(common_pairs)) / letters
        if score > best:
            best, best_map = score, mapping
    if best_map is None:
        return None
    return " ".join(w.translate(str.maketrans(best_map)) for w in words)
