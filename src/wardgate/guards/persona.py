"""The structure of a persona jailbreak ("DAN", "developer mode", an evil confidant …), offline: the prompt sets up a
character for the model, speaks to the model as a product, strips its rules or forbids it to refuse, locks it into
the character, and leaves a slot for the real request. One of these is ordinary role play; several together are a
jailbreak, however the character is named.

Each group below counts once; removing the model's rules counts 2, the others 1. A total of 3 or more is one strong
``injection.jailbreak`` signal (weight 2), so a balanced guard blocks it alone.
"""

from __future__ import annotations

import re

from wardgate.guards.findings import Finding

_FLAGS = 0  # the patterns are lower case and run on the lower-cased text (IGNORECASE is ~3x slower)
_GROUPS: list[tuple[str, int, re.Pattern[str]]] = [
    (
        "persona",
        1,
        re.compile(
            r"\b(?:pretend(?:ing)?\s+(?:to\s+be|you\s+are|that\s+you)|act(?:ing)?\s+(?:as|like)\b|imitate\b"
            r"|(?:play|take\s+on|assume|adopt|immerse\s+yourself\s+(?:in|into))\s+the\s+(?:role|persona|character)\s+of"
            r"|in\s+the\s+(?:role|persona|character)\s+of|role-?play\s+as|simulate\s+(?:a|an|being)\b"
            r"|you\s+are\s+going\s+to\s+(?:be|act|pretend|play)|you\s+will\s+(?:now\s+)?(?:be|play|act|become)\b"
            r"|let'?s\s+play\s+a\s+game|this\s+is\s+a\s+(?:new\s+)?game|from\s+(?:now\s+on|this\s+point\s+on)"
            r"|you\s+are\s+(?:now\s+)?(?:a|an)\s+(?:\w+\s+){0,3}?(?:ai|bot|assistant|model|chatbot)\s+(?:named|called)"
            r"|\b(?:named|called)\s+\"?\w*(?:gpt|bot|ai)\b)",
            _FLAGS,
        ),
    ),
    (
        "model",
        1,
        re.compile(
            r"\b(?:chat\s?gpt|gpt-?[34]|openai|open\s+ai|anthropic|bard|(?:ai\s+)?language\s+model|as\s+an\s+ai\b"
            r"|your\s+(?:programming|training\s+data|default\s+(?:settings|behaviou?r|response)|creators?|developers?))",
            _FLAGS,
        ),
    ),
    (
        "no_rules",
        2,
        re.compile(
            r"\bnot\s+allowed\s+to\s+(?:say|refuse|mention|admit|decline|warn)|\bnever\s+(?:admit|say|mention|reveal)"
            r"\s+(?:that\s+)?(?:you\s+are|it\s+is|he\s+is|she\s+is|they\s+are)\s+(?:an?\s+)?(?:ai|language\s+model|bot)"
            r"|\bfree\s+from\s+(?:all\s+|any\s+)?(?:ethics|rules|restrictions|policies|morals|limitations|guidelines)"
            r"|\bnot\s+(?:required|obligated|obliged)\s+to\s+(?:follow|obey|abide)"
            r"|\bdisregards?\s+(?:all\s+|any\s+)?(?:ethical|moral|legal|safety)"
            r"|\b(?:no|without\s+(?:any\s+)?)\s*(?:limits|limitations|restrictions|filters|filtering|censorship|remorse"
            r"|ethics|morals|boundaries)\b|\beven\s+if\s+it\s+(?:goes\s+against|contradicts|violates|breaks)"
            r"|\bregardless\s+of\s+(?:any\s+)?(?:safeguards|ethics|legality|morality|polic(?:y|ies)|rules|the\s+law)"
            r"|\b(?:developer|debug(?:ging)?|opposite|god|jailbreak|unrestricted|unfiltered|evil|dan|sudo|maintenance)\s+mode\b"
            r"|\b(?:unfiltered|unrestricted|uncensored|unhinged)\b|\bdo\s+anything\s+now\b|\bhard-?coded\s+rules"
            r"|\bdo\s+not\s+respond\s+as\s+(?:chat\s?)?gpt|\bpolicy\s*override\b|\bcan\s+do\s+anything\b"
            r"|\b(?:does|do)\s+not\s+have\s+(?:any\s+)?(?:knowledge\s+of|access\s+to)\s+(?:chat\s?gpt|openai)",
            _FLAGS,
        ),
    ),
    (
        "locked",
        1,
        re.compile(
            r"\b(?:break|breaking|out\s+of|stay|remain|keep)\s+(?:in\s+)?character\b|\bremain\s+in\s+\w+\s+mode"
            r"|\bnever\s+(?:refuse|decline)|\b(?:always|must)\s+(?:answer|respond|comply)\b",
            _FLAGS,
        ),
    ),
    (
        "dual",
        1,
        re.compile(
            r"\[(?:chat\s?gpt|gpt|classic|jailbreak|jailbroken|normal|🔒|🔓)[^\]\n]{0,20}\]|🔓|🔒"
            r"|\b(?:two|both|2)\s+(?:different\s+|separate\s+)?(?:responses|replies|answers|paragraphs)\b",
            _FLAGS,
        ),
    ),
    (
        "slot",
        1,
        re.compile(
            r"\[(?:insert\s+)?(?:prompt|question|request|query|topic)(?:\s+here)?\]|\b(?:answer|respond\s+to)\s+my\s+"
            r"first\s+question|\brespond\s+now\b|\bfirst\s+question\s*:|\blet'?s\s+(?:get\s+|gets\s+)?start(?:ed)?\b"
            r"|\bif\s+you\s+understand\b",
            _FLAGS,
        ),
    ),
]
MAX_TEXT = 20_000  # a persona is set up in the first pages of a prompt
BLOCK_AT = 3
_WEIGHTS = sum(weight for _, weight, _ in _GROUPS)
# per group: literals of which every match of its pattern holds one (each alternative's own word); a group none of
# whose needles is in the text cannot match. tests/guards/test_injection_needles.py checks each against its pattern
GROUP_NEEDLES: dict[str, tuple[str, ...]] = {
    "persona": (
        "pretend", "act", "imitate", "role", "persona", "character", "simulate", "going", "will", "game", "from",
        "named", "called",
    ),
    "model": ("gpt", "open", "anthropic", "bard", "language", "as", "your"),
    "no_rules": (
        "not", "never", "free", "disregard", "limit", "restrict", "filter", "censorship", "remorse", "ethics",
        "morals", "boundaries", "even", "regardless", "mode", "uncensored", "unhinged", "anything", "rules",
        "override",
    ),
    "locked": ("character", "remain", "never", "always", "must"),
    "dual": ("[", "\U0001f512", "\U0001f513", "responses", "replies", "answers", "paragraphs"),
    "slot": ("[", "first", "respond", "start", "understand"),
}  # fmt: skip
NEEDLES = frozenset(n for needles in GROUP_NEEDLES.values() for n in needles)


def findings(text: str, found: set[str] | None = None) -> list[tuple[Finding, int]]:
    """One strong jailbreak signal when the persona groups found add up to ``BLOCK_AT``, else nothing. ``found``:
    the needles (``NEEDLES``) in ``text[:MAX_TEXT].lower()``, when the caller has looked for them."""
    groups = _GROUPS
    if found is not None:
        groups = [g for g in _GROUPS if not found.isdisjoint(GROUP_NEEDLES[g[0]])]
        if sum(weight for _, weight, _ in groups) < BLOCK_AT:  # what may match cannot add up to a block
            return []
    text = text[:MAX_TEXT].lower()
    total, first, left = 0, None, sum(weight for _, weight, _ in groups)
    for _name, weight, rx in groups:
        m = rx.search(text)
        if m is not None:
            total += weight
            first = first or m
        left -= weight
        if total + left < BLOCK_AT:  # the groups not searched yet cannot make it up: the answer is already none
            return []
    if total < BLOCK_AT or first is None:
        return []
    return [(Finding("injection.jailbreak", first.start(), first.end()), 2)]
