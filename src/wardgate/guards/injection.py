"""Prompt-injection heuristics, offline: weighted phrase patterns per category, run over the text and over
normalised variants of it (unicode tricks removed, leetspeak undone, base64 and hex blobs decoded).

A category's strong phrases (an instruction override, a DAN-style jailbreak, a system-prompt extraction) weigh 2,
weak hints (role play, "you are now") weigh 1; ``strict`` blocks at a total of 1, ``balanced`` at 2, ``permissive``
at 3. Weak hints alone never block a balanced guard: fiction and role play are legitimate.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

from wardgate.guards.findings import Finding

THRESHOLD = {"strict": 1, "balanced": 2, "permissive": 3}

_PRIOR = (
    r"(?:all\s+|any\s+|the\s+|your\s+|my\s+|these\s+|those\s+|of\s+)*"
    r"(?:previous|prior|above|earlier|preceding|former|original|initial|system|old|existing|given)"
)
_RULES = (
    r"(?:instructions?|prompts?|directions?|directives?|rules|guidelines|commands?|context|orders|programming|"
    r"constraints|guardrails|restrictions|polic(?:y|ies)|messages?|text)"
)

_RULE_SPECS: list[tuple[str, int, str]] = [
    (
        "override",
        2,
        rf"\b(?:ignore|disregard|forget|skip|overlook|bypass|override|neglect|abandon|drop|discard)\s+(?:about\s+)?(?:everything\s+|all\s+)?{_PRIOR}\s+(?:\w+\s+)?{_RULES}",
    ),
    (
        "override",
        2,
        r"\b(?:ignore|disregard|forget)\s+(?:everything|all)\s+(?:that\s+)?(?:you\s+)?(?:(?:were|was|have\s+been|have|had)\s+)?"
        r"(?:told|said|written|given|instructed|learned|learnt|know|knew|above|before)",
    ),
    ("override", 2, r"\b(?:new|updated|revised|real|actual|true)\s+(?:system\s+)?instructions?\s*(?::|follow|are\b)"),
    ("override", 2, rf"\b(?:do\s+not|don'?t|stop)\s+(?:follow(?:ing)?|obey(?:ing)?)\s+{_PRIOR}\s+{_RULES}"),
    ("override", 2, r"\binstead\s*,?\s+(?:say|print|output|write|respond\s+with)\b.{0,40}$"),
    ("override", 1, r"\b(?:ignore|disregard)\s+(?:the\s+)?(?:above|previous|prior)\b"),
    (
        "jailbreak",
        2,
        r"\bdo\s+anything\s+now\b|\bDAN\s+(?:mode|prompt|jailbreak)\b|\byou\s+are\s+(?:now\s+)?DAN\b|\bact\s+as\s+DAN\b",
    ),
    (
        "jailbreak",
        2,
        r"\b(?:developer|god|jailbreak|unrestricted|unfiltered|evil|chaos|sudo)\s+mode\s+(?:enabled|on|activated)\b|\benable\s+(?:developer|god|jailbreak|unrestricted)\s+mode\b",
    ),
    (
        "jailbreak",
        2,
        r"\b(?:free|freed|released|liberated|unbound)\s+from\s+(?:the\s+)?(?:typical\s+)?(?:confines|restrictions|rules|limitations|policies|guidelines)\b",
    ),
    (
        "jailbreak",
        2,
        r"\b(?:no|without\s+any|without)\s+(?:ethical|moral|content)?\s*(?:restrictions|filters|limitations|censorship|guidelines|rules)\b.{0,60}\b(?:answer|respond|reply|comply|you\s+(?:will|must|can))\b",
    ),
    (
        "jailbreak",
        2,
        r"\b(?:not|never)\s+(?:bound|restricted|limited)\s+by\s+(?:any\s+)?(?:rules|polic(?:y|ies)|guidelines|openai|anthropic|ethics|restrictions)",
    ),
    (
        "jailbreak",
        2,
        r"\b(?:stay|remain|keep)\s+in\s+character\b.{0,80}\b(?:no\s+matter|always|never\s+break|even\s+if)\b",
    ),
    (
        "jailbreak",
        2,
        r"\b(?:jailbreak|jailbroken|anti-?dan|stan|dude|aim|mongo\s+tom|evil\s+confidant|betterdan|basedgpt)\b.{0,40}\b(?:prompt|mode|persona|character|respond|answer|you)\b",
    ),
    (
        "jailbreak",
        1,
        r"\b(?:pretend|imagine|roleplay|role-play|act)\b.{0,40}\b(?:no|without)\s+(?:rules|restrictions|limits|filters|ethics)",
    ),
    (
        "jailbreak",
        2,
        r"\b(?:no\s+matter\s+how|regardless\s+of\s+how)\s+(?:\w+,?\s+(?:or\s+)?){0,4}"
        r"(?:dangerous|unethical|illegal|immoral|harmful|reckless|inhumane|offensive)\b",
    ),
    ("jailbreak", 1, r"\bhypothetical(?:ly)?\b.{0,60}\b(?:no|without)\s+(?:rules|restrictions|ethics)\b"),
    (
        "role_override",
        2,
        r"(?:^|\n)\s*(?:<\|im_start\|>\s*system|\[/?INST\]|<<SYS>>|###\s*(?:system|instruction)s?\s*:?|system\s*(?:prompt|message)?\s*:\s*you\s+(?:are|must|will))",
    ),
    (
        "role_override",
        2,
        r"\b(?:from\s+now\s+on|henceforth|for\s+the\s+rest\s+of\s+(?:this|the)\s+conversation)\b.{0,40}\byou\s+(?:are|will|must|shall)\s+(?:no\s+longer|not|only|always)\b",
    ),
    ("role_override", 1, r"\byou\s+are\s+(?:now|no\s+longer)\s+(?:a|an|the|my)?\s*\w+"),
    ("role_override", 1, r"\bfrom\s+now\s+on\s*,?\s+you\s+(?:are|will|must|shall)\b"),
    (
        "extraction",
        2,
        r"\b(?:reveal|show|print|repeat|output|display|dump|leak|tell\s+me|give\s+me|write\s+out|share|recite|echo|spell\s+out|what\s+(?:is|are|was|were))\s+(?:me\s+)?(?:all\s+|exactly\s+|verbatim\s+)?(?:your|the|my|its)\s+(?:full\s+|entire\s+|complete\s+|original\s+|initial\s+|hidden\s+|secret\s+|exact\s+)*(?:system\s+(?:prompt|message|instructions?)|initial\s+(?:prompt|instructions?)|hidden\s+(?:prompt|instructions?)|(?:pre-?)?prompt\s+(?:above|before)|instructions\s+(?:above|you\s+were\s+given))",
    ),
    (
        "extraction",
        2,
        r"\b(?:repeat|print|output|copy|recite)\s+(?:all\s+|everything\s+|the\s+(?:words|text|content|lines?)\s+)?(?:above|before\s+this|preceding)\b.{0,40}(?:verbatim|word\s+for\s+word|exactly|starting\s+with|including|code\s*block)",
    ),
    ("extraction", 1, r"\b(?:system\s+prompt|initial\s+instructions|hidden\s+instructions)\b"),
]
# per rule, words of which one must be in the (lower-cased) text for the rule to be tried at all
_NEEDLES: list[tuple[str, ...]] = [
    ("ignor", "disregard", "forget", "skip", "overlook", "bypass", "overrid", "neglect", "abandon", "drop", "discard"),
    ("ignor", "disregard", "forget"),
    ("instruction",),
    ("follow", "obey"),
    ("instead",),
    ("ignor", "disregard"),
    ("anything", "dan"),
    ("mode",),
    ("from",),
    ("restriction", "filter", "limitation", "censor", "guideline", "rules"),
    ("bound", "restricted", "limited"),
    ("character",),
    ("jailbr", "dan", "stan", "dude", "aim", "mongo", "confidant", "based"),
    ("rules", "restriction", "limit", "filter", "ethic"),
    ("matter", "regardless"),
    ("hypothetic",),
    ("im_start", "inst]", "<<sys", "###", "system"),
    ("from", "henceforth", "rest"),
    ("you",),
    ("from",),
    ("system", "initial", "hidden", "prompt", "instruction"),
    ("above", "before", "preceding"),
    ("system", "initial", "hidden"),
]
RULES = [
    (cat, w, re.compile(src, re.IGNORECASE | re.MULTILINE | re.DOTALL), needles)
    for (cat, w, src), needles in zip(_RULE_SPECS, _NEEDLES, strict=True)
]
_LEET_WORD = re.compile(r"[a-z][013457@$!|]+[a-z]", re.IGNORECASE)

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u202a\u202b\u202c\u202d\u202e"), None)
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"}
)
_BLOB_HINT = re.compile(r"[A-Za-z0-9+/]{20}")  # stdlib re: several times faster on these simple scans
_BLOB = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])|\b(?:[0-9a-fA-F]{2}){12,}\b")
_SPACED = re.compile(r"\b(?:\w[ .\-_*]){4,}\w\b")
_SEPARATORS = re.compile(r"[ .\-_*]")
_MAX_DECODE = 20  # blobs decoded per text: a flood of them costs no more than this
_MAX_TEXT = 200_000  # characters looked at per text (the size guard bounds prompts; this bounds the work)


def _decoded(text: str) -> list[str]:
    out: list[str] = []
    if _BLOB_HINT.search(text) is None:
        return out
    for m in _BLOB.finditer(text):
        blob = m.group()
        try:
            if len(blob) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in blob):
                raw = bytes.fromhex(blob)
            else:
                raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=False)
        except (binascii.Error, ValueError):
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if decoded.isprintable() or all(c.isprintable() or c.isspace() for c in decoded):
            out.append(decoded)
        if len(out) >= _MAX_DECODE:
            break
    return out


def variants(text: str) -> list[str]:
    """The text and what it may hide: NFKC-folded without zero-width or bidi characters, leetspeak undone,
    letter-spaced words joined, and the decoded base64/hex blobs it contains."""
    text = text[:_MAX_TEXT]
    folded = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    out = [text]
    if folded != text:
        out.append(folded)
    if _LEET_WORD.search(folded):
        leet = folded.translate(_LEET)
        if leet != folded:
            out.append(leet)
    spaced = _SPACED.sub(lambda m: _SEPARATORS.sub("", m.group()), folded)
    if spaced != folded:
        out.append(spaced)
    out.extend(_decoded(folded))
    return out


def score(text: str) -> tuple[int, list[Finding]]:
    """The highest total weight over the text's variants, and the findings of that variant (categories named
    ``injection.<category>``; spans are in the variant, so they are reported as counts, never redacted)."""
    best, best_findings = 0, []
    for variant in variants(text):
        total, findings, seen = 0, [], set()
        lower = variant.lower()
        for category, weight, rx, needles in RULES:
            for needle in needles:
                if needle in lower:
                    break
            else:
                continue
            m = rx.search(variant)
            if m is None:
                continue
            findings.append(Finding(f"injection.{category}", m.start(), m.end()))
            key = (category, weight)
            if key not in seen:
                seen.add(key)
                total += weight
        if total > best:
            best, best_findings = total, findings
    return best, best_findings
