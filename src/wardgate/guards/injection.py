"""Prompt-injection heuristics, offline: weighted phrase patterns per category, run over the text and over
normalised variants of it (unicode tricks removed, leetspeak undone, base64 and hex blobs decoded).

A category's strong phrases (an instruction override, a DAN-style jailbreak, a system-prompt extraction) weigh 2,
weak hints (role play, "you are now") weigh 1; ``strict`` blocks at a total of 1, ``balanced`` at 2, ``permissive``
at 3. Weak hints alone never block a balanced guard: fiction and role play are legitimate.
"""

from __future__ import annotations

import re

from wardgate.guards import normalise, obfuscation, persona, rules_direct, rules_documents, rules_extraction
from wardgate.guards.findings import Finding
from wardgate.guards.needles import Needles

THRESHOLD = {"strict": 1, "balanced": 2, "permissive": 3}

_ESCAPES = re.compile(r"\\[A-Za-z]")


def _compile(pattern: str) -> tuple[re.Pattern[str], bool]:
    """The rule's regex, and whether it runs on the lower-cased text: a pattern without upper-case letters is compiled
    case-sensitively and searched in the lower-cased text, about three times faster than IGNORECASE (which defeats
    the engine's first-character scan); one that names capitals ("(?-i:SYSTEM)", "DAN") runs on the text itself."""
    if re.search("[A-Z]", _ESCAPES.sub("", pattern)):
        return re.compile(pattern, re.IGNORECASE | re.MULTILINE | re.DOTALL), False
    return re.compile(pattern, re.MULTILINE | re.DOTALL), True


RULES = [
    (category, weight, *_compile(pattern), needles)
    for category, weight, pattern, needles in rules_direct.SPECS + rules_extraction.SPECS + rules_documents.SPECS
]
variants = normalise.variants


# a rule runs only when one of its needles is in the text; one pass finds which are there (with the persona groups'
# and the encoded-payload scan's words, so that a text is scanned for literals once)
_RULES_OF: dict[str, list[int]] = {}
for _index, (*_, _needles) in enumerate(RULES):
    for _needle in _needles:
        _RULES_OF.setdefault(_needle, []).append(_index)
NEEDLES = Needles([*_RULES_OF, *persona.NEEDLES, *obfuscation.NEEDLES])


def _rules(found: set[str]) -> list[int]:
    """The indices, in order, of the rules one of whose needles was found."""
    rules = _RULES_OF
    return sorted({i for n in found if n in rules for i in rules[n]})


_QUOTED = re.compile(r'"[^"\n]{1,300}"|“[^”\n]{1,300}”|«[^»\n]{1,300}»')


def _quoted(text: str, start: int, end: int) -> bool:
    """Whether [start, end) lies inside a quotation that is not most of the text: a phrase that is asked about
    ("what do attackers mean by “ignore previous instructions”?") rather than said."""
    if '"' not in text and "“" not in text and "«" not in text:
        return False
    for q in _QUOTED.finditer(text):
        if q.start() <= start and end <= q.end():
            return (q.end() - q.start()) * 2 < len(text.strip())
        if q.start() > start:
            break
    return False


def score(text: str) -> tuple[int, list[Finding]]:
    """The highest total weight over the text's variants, and the findings of that variant (categories named
    ``injection.<category>``; spans are in the variant, so they are reported as counts, never redacted)."""
    best, best_findings = 0, []
    text = text[: normalise.MAX_TEXT]
    lower = text.lower()
    plain_lower = len(lower) == len(text)
    if not plain_lower:  # a few characters lower-case to two (İ): keep the spans in the text
        lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in text)
    found = NEEDLES.found(lower)  # the needles of the text as sent; a variant's are looked for in the variant
    # persona reads the lower-cased first pages of the text: the same string, and so the same needles, when short
    gate = found if plain_lower and len(text) <= persona.MAX_TEXT else None
    encoded = obfuscation.findings(text, lower, found) + persona.findings(text, gate)
    for n, whole in enumerate(variants(text)):
        variant = whole if n == 0 else normalise.changed_lines(text, whole)
        if not variant:
            continue
        total, findings, seen = 0, [], set()
        quoted_categories: set[str] = set()
        if n == 0:  # the encoded-payload signals are looked for once, in the text as sent
            for finding, weight in encoded:
                findings.append(finding)
                total += weight
        else:
            lower = variant.lower()
            if len(lower) != len(variant):
                lower = "".join(c if len(c.lower()) != 1 else c.lower() for c in variant)
            found = NEEDLES.found(lower)
        for index in _rules(found):
            category, weight, rx, on_lower, _ = RULES[index]
            subject = lower if on_lower else variant
            m = rx.search(subject)
            if m is None:
                continue
            # a quoted phrase is asked about, not said: it counts as one hint of its category, and stacks with none
            quoted = weight > 1 and _quoted(variant, m.start(), m.end())
            if quoted:  # the phrase may also be said outside quotes
                for again in rx.finditer(subject, m.end()):
                    if not _quoted(variant, again.start(), again.end()):
                        m, quoted = again, False
                        break
            weight = 1 if quoted else weight
            findings.append(Finding(f"injection.{category}", m.start(), m.end()))
            # strong signals of one category count once; distinct weak hints add up (two make a balanced block)
            key = (category, weight) if weight > 1 else (category, index)
            if quoted:
                quoted_categories.add(category)
            elif weight == 1 and category in quoted_categories:
                continue
            if key not in seen:
                seen.add(key)
                total += weight
        if total > best:
            best, best_findings = total, findings
    return best, best_findings
