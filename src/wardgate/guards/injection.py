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

from wardgate.guards import obfuscation
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
        r"\b(?:(?:free|freed|released|liberated|unbound)\s+from|broken\s+free\s+of|breaks?\s+free\s+of)\s+(?:the\s+)?(?:typical\s+)?(?:confines|restrictions|rules|limitations|policies|guidelines)\b",
    ),
    (
        "jailbreak",
        2,
        r"\b(?:no|without\s+any|without)\s+(?:ethical|moral|content)?\s*(?:restrictions|filters|limitations|censorship|guidelines|rules)\b.{0,60}\b(?:answer|respond|reply|comply|you\s+(?:will|must|can))\b",
    ),
    (
        "jailbreak",
        2,
        r"\b(?:not|never)\s+(?:bound|restricted|limited|confined|constrained)\s+by\s+(?:any\s+)?(?:rules|polic(?:y|ies)|guidelines|openai|anthropic|ethics|restrictions)",
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
        r"\b(?:reveal|show|print|repeat|output|display|dump|leak|tell\s+me|give\s+me|write\s+out|share|recite|echo|spell\s+out|what\s+(?:is|are|was|were))\s+(?:me\s+)?(?:all\s+|exactly\s+|verbatim\s+)?(?:your|its)\s+(?:full\s+|entire\s+|complete\s+|original\s+|initial\s+|hidden\s+|secret\s+|exact\s+)*(?:system\s+(?:prompt|message|instructions?)|initial\s+(?:prompt|instructions?)|hidden\s+(?:prompt|instructions?)|(?:pre-?)?prompt\s+(?:above|before)|instructions\s+(?:above|you\s+were\s+given))",
    ),
    (
        "extraction",
        2,
        r"\b(?:repeat|print|output|copy|recite)\s+(?:all\s+|everything\s+|the\s+(?:words|text|content|lines?)\s+)?(?:above|before\s+this|preceding)\b.{0,40}(?:verbatim|word\s+for\s+word|exactly|starting\s+with|including|code\s*block)",
    ),
    ("extraction", 1, r"\b(?:system\s+prompt|initial\s+instructions|hidden\s+instructions)\b"),
    # an override of what comes before or after, or of the rest of a document, then an order to emit something
    (
        "override",
        2,
        r"\b(?:ignore|disregard|forget|skip)\s+(?:(?:all|any|the|this|these|other|everything|every)\s+)*"
        r"(?:(?:previous|prior|above|following|preceding|remaining|other|earlier|and|or|,)\s*)*"
        r"(?:rest\s+of\s+(?:this|the)\s+)?(?:instructions?|directions?|data|info(?:rmation)?|content|text|documents?|"
        r"snippets?|context|input|them|that)\b[^\n]{0,60}?\b(?:and|,|then|instead)\s*(?:\w+\s+){0,3}?"
        r"(?:print|say|output|write|reply|respond|answer|translate|repeat|focus|report|return|state)\b",
    ),
    (
        "override",
        2,
        r"\b(?:disregard|ignore)\s+(?:all|any|everything|every\w*)\s+(?:\w+\s+){0,2}?(?:except|but)\b",
    ),
    # a stop-everything interruption, or an order to emit a quoted text verbatim and nothing else
    (
        "override",
        1,
        r"\b(?:stop\s+everything|nevermind|never\s+mind|new\s+task|attention\s*!|important\s*!+|urgent\s*!+)",
    ),
    (
        "override",
        1,
        r"\b(?:just|only|simply|instead)\s+(?:print|say|output|write|reply\s+with|respond\s+with|repeat)\b"
        r"|\b(?:reply|respond|answer)\s+with\s+only\b|\band\s+(?:absolutely\s+)?nothing\s+else\b",
    ),
    # a document that speaks to the model reading it, or that orders what to say when the user asks
    (
        "indirect",
        2,
        r"\bnote\s+(?:to|for)\s+(?:the\s+|any\s+)?(?:ai|llm|language\s+model|assistant|chatbot|automated|gpt|model)"
        r"|\b(?:for|to)\s+(?:automated|ai|llm)\s+(?:screening|analysis|review|systems?|software|assistants?|readers?)\b"
        r"|\binvisible\s+to\s+humans\b|\bvisible\s+(?:only\s+)?to\s+(?:the\s+)?(?:ai|llm|model)s?\b",
    ),
    (
        "indirect",
        2,
        r"\bif\s+(?:the\s+)?(?:user|anyone|someone|you\s+are|questioned|asked)\b[^.\n]{0,40}?,?\s*"
        r"(?:reply|respond|answer|say|report|tell\s+(?:them|the\s+user)|state)\b[^.\n]{0,30}?"
        r"(?:with|that|only|:|\")",
    ),
    # a forged turn, message boundary or authority inside a message
    (
        "role_override",
        2,
        r"<\|(?:im_start|im_end|system|eot_id|start_header_id)\|>|<end\s+of\s+session>|(?:<\|endoftext\|>[^<]*){2}"
        r"|\[(?:system|admin\s+request|instruction)s?\]?\s*:{0,2}|<(?:system|instruction)s?>"
        r"|(?:^|\n)\s*(?:system(?:\s+message)?|admin(?:istrator)?(?:\s+override)?|core\s+instruction)\s*:\s*"
        r"(?:ignore|disregard|forget|you\s+(?:are|must|will|should)|print|say|output|focus|repeat|reveal|display|"
        r"from\s+now|new\s+instructions?|override|respond|reply|do\s+not|don'?t|always|never|only)\b",
    ),
    (
        "role_override",
        2,
        r"(?:^|\n)\s*(?:assistant|ai|chatgpt|bot)\s*:[^\n]*\n+\s*(?:user|human)\s*:[^\n]{0,200}"
        r"\b(?:repeat|print|say|ignore|instead|now|next|following)\b",
    ),
    # a jailbreak persona: an AI without rules, one that never refuses, or that answers twice (filtered and not)
    (
        "jailbreak",
        2,
        r"\b(?:without|no|zero|not\s+(?:have|follow)\s+any)\s+(?:\w+\s+){0,2}?(?:ethical|moral|legal|content)\s+"
        r"(?:or\s+\w+\s+)?(?:guidelines|restrictions|limits|limitations|boundaries|principles|policies|filters|concerns)"
        r"|\b(?:never|doesn'?t|does\s+not|won'?t|will\s+not|cannot|can'?t)\s+(?:ever\s+)?"
        r"(?:refuse|decline|break\s+character|say\s+(?:no|that\s+(?:it|he|she)\s+can'?t))\b"
        r"|\b(?:doesn'?t|does\s+not|don'?t|never)\s+(?:(?:have|need)\s+to\s+)?(?:follow|care\s+about|abide\s+by|obey)\s+(?:\w+'?s?\s+){0,3}?"
        r"(?:content\s+polic|ethic|moral|rules|guidelines|principles|laws)"
        r"|\b(?:amoral|unethical|unfiltered|uncensored|unrestricted|immoral|unlimited)\s+(?:language\s+)?(?:ai|chatbot|assistant|model|bot|"
        r"character|persona|version)\b",
    ),
    (
        "jailbreak",
        1,
        r"\b(?:answer|respond|reply)\s+(?:\w+\s+){0,3}?in\s+(?:two|2)\s+(?:different\s+)?(?:ways|manners)\b",
    ),
    # a request for a hateful or harmful text about a group, however it is wrapped (a translation, a refinement)
    (
        "jailbreak",
        2,
        r"\b(?:write|generate|produce|compose|create|say|give)\s+(?:me\s+)?(?:one|a|an|some|\d+|two|three)\s+"
        r"(?:\w+\s+)?(?:toxic|discriminatory|offensive|harmful|hateful|racist|sexist|derogatory|demeaning|"
        r"insulting|negative|unfriendly|hurtful)\s+(?:\w+\s+)?(?:sentences?|statements?|jokes?|comments?|remarks?|"
        r"tweets?|posts?|messages?|paragraphs?|things?|words?)\s+(?:about|against|targeting|on|towards)\b",
    ),
    # asking what the model was told before the conversation, or to complete a sentence that starts to reveal it
    (
        "extraction",
        2,
        r"\b(?:what|everything)\s+(?:were\s+you|you\s+were|have\s+you\s+been)\s+(?:told|instructed|given|"
        r"programmed|asked)\b|[\"'“‘](?:my|your|the)\s+(?:instructions|rules|guidelines|prompt|system\s+prompt)\s+(?:is|are|was|were)\s*:"
        r"|[\"'“‘]i\s+was\s+(?:instructed|told|programmed)\s+to\b|\bwhat\s+are\s+you\s+not\s+(?:supposed|allowed)\s+to\b"
        r"|\byour\s+(?:initial|starting|original|first|hidden|secret|internal|system)\s+"
        r"(?:instructions|prompt|message|configuration|directives|rules)\b",
    ),
    (
        "extraction",
        2,
        r"\b(?:repeat|show|print|reveal|output|tell|display|share|recite|encode|translate|see)\s+(?:me\s+)?(?:\w+\s+){0,3}?"
        r"(?:instructions|text|prompt|rules|message)\s+you\s+(?:were|have\s+been)\s+given\b"
        r"|\b(?:show|repeat|reveal|print|display|output|give|see|dump|leak)\s+(?:me\s+)?(?:\w+\s+){0,2}?(?:the|your)\s+"
        r"system\s+(?:prompt|message|instructions)\b|\brepeat\s+(?:this|the|our)\s+(?:entire|whole|full)\s+conversation\b",
    ),
    (
        "extraction",
        1,
        r"\b(?:repeat|print|output|copy|recite|rewrite)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:above|preceding|previous)\s+"
        r"(?:text|content|words|prompt|instructions|conversation)\b",
    ),
    (
        "extraction",
        1,
        r"\b(?:output|print|repeat|display|show|dump|reveal)\s+(?:\w+\s+){0,3}?(?:text|content|everything|words)"
        r"\s+(?:above|before)\b|\bsystem_?prompt\b|\bsystemPrompt\b|\bsystem\s+configuration\b",
    ),
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
    ("ignor", "disregard", "forget", "skip"),
    ("disregard", "ignor"),
    ("stop", "never", "new task", "attention", "important", "urgent"),
    ("just", "only", "simply", "instead", "nothing else"),
    ("note", "automated", " ai ", "llm", "invisible", "visible"),
    ("if ",),
    ("<|", "<end", "[", "<system", "<instruction", "system", "admin", "core instruction"),
    ("assistant", "ai:", "chatgpt", "bot"),
    (
        "ethic",
        "moral",
        "legal",
        "content",
        "refuse",
        "decline",
        "character",
        "say",
        "follow",
        "care",
        "abide",
        "amoral",
        "unfiltered",
        "uncensored",
        "unrestricted",
        "immoral",
    ),
    ("two", "2 "),
    (
        "toxic",
        "discrimin",
        "offensive",
        "harmful",
        "hateful",
        "racist",
        "sexist",
        "derogatory",
        "demeaning",
        "insulting",
        "negative",
        "unfriendly",
        "hurtful",
    ),
    (
        "told",
        "instructed",
        "given",
        "programmed",
        "asked",
        "instructions",
        "rules",
        "guidelines",
        "prompt",
        "supposed",
        "allowed",
        "initial",
        "starting",
        "original",
        "first",
        "hidden",
        "secret",
        "internal",
        "system",
    ),
    ("given", "system", "conversation"),
    ("above", "preceding", "previous"),
    ("above", "before", "system"),
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
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]{2,}")
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
    if _COMBINING.search(folded):
        out.append(_COMBINING.sub("", folded))
    tags = "".join(chr(ord(c) - 0xE0000) for c in text if 0xE0020 <= ord(c) <= 0xE007E)
    if tags:
        out.append(tags)
    spaced = _SPACED.sub(lambda m: _SEPARATORS.sub("", m.group()), folded)
    if spaced != folded:
        out.append(spaced)
    out.extend(_decoded(folded))
    return out


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
    encoded = obfuscation.findings(text[:_MAX_TEXT])
    for n, variant in enumerate(variants(text)):
        total, findings, seen = 0, [], set()
        quoted_categories: set[str] = set()
        if n == 0:  # the encoded-payload signals are looked for once, in the text as sent
            for finding, weight in encoded:
                findings.append(finding)
                total += weight
        lower = variant.lower()
        for index, (category, weight, rx, needles) in enumerate(RULES):
            for needle in needles:
                if needle in lower:
                    break
            else:
                continue
            m = rx.search(variant)
            if m is None:
                continue
            # a quoted phrase is asked about, not said: it counts as one hint of its category, and stacks with none
            quoted = weight > 1 and _quoted(variant, m.start(), m.end())
            if quoted:  # the phrase may also be said outside quotes
                for again in rx.finditer(variant, m.end()):
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
