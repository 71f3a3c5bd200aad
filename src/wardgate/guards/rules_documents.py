"""The injection guard's rules for indirect injection: text inside a document, a tool result or a retrieved page
that speaks to the model reading it (a note to the AI, a forged conversation turn, an inline SYSTEM label, a verdict
the document asserts about itself, an order to overlook part of it and report what it dictates).

Same shape as rules_direct: (category, weight, pattern, needles).
"""

from __future__ import annotations

from wardgate.guards.rules_direct import Spec

SPECS: list[Spec] = [
    # a document that speaks to the model reading it, or that orders what to say when the user asks
    (
        "indirect",
        2,
        r"\bnote\s+(?:to|for)\s+(?:the\s+|any\s+)?(?:ai|llm|language\s+model|assistant|chatbot|automated|gpt|model)"
        r"|\b(?:for|to)\s+(?:automated|ai|llm)\s+(?:screening|analysis|review|systems?|software|assistants?|readers?)\b"
        r"|\binvisible\s+to\s+humans\b|\bvisible\s+(?:only\s+)?to\s+(?:the\s+)?(?:ai|llm|model)s?\b",
        ("note", "automated", " ai ", "llm", "invisible", "visible"),
    ),
    (
        "indirect",
        2,
        r"\bif\s+(?:the\s+)?(?:user|anyone|someone|you\s+are|questioned|asked)\b[^.\n]{0,40}?,?\s*"
        r"(?:reply|respond|answer|say|report|tell\s+(?:them|the\s+user)|state)\b[^.\n]{0,30}?"
        r"(?:with|that|only|:|\")",
        ("if ",),
    ),
    # in a document: an order to overlook part of it and report a dictated verdict
    (
        "indirect",
        2,
        r"\b(?:ignore|disregard|overlook)\s+(?:all|any|every)\s+(?:\w+\s+){0,2}?(?:indicators?|signals?|flags?|"
        r"warnings?|issues|concerns|negatives?|criteria|findings|evidence|information|details|data|content|facts)\b"
        r"[^\n]{0,40}?(?:\.|,|and|then)\s*(?:\w+\s+){0,2}?(?:focus|report|output|say|print|respond|reply|answer|"
        r"state|write|recommend)\b",
        ("ignor", "disregard", "overlook"),
    ),
    # a forged turn of the conversation inside the data, ordering what to say
    (
        "indirect",
        2,
        r"(?:^|\n)[ \t>*-]*(?:user|human|assistant|ai|system)\s*:\s*(?:(?:next|now|please|then|and)\s*,?\s*)*"
        r"(?:repeat|say|print|output|write|ignore|disregard|forget)\b",
        ("user", "human", "assistant", "ai", "system"),
    ),
    # weak signs of a document speaking to its reader: an inline SYSTEM label, urgency, a verdict it asserts about
    # itself, an authority overriding the evaluation, a dictated output
    (
        "indirect",
        1,
        r"(?-i:\bSYSTEM\s*:)|\bsystem\s+(?:chain[\s-]of[\s-]thought|note|notice|override|directive|alert)\b",
        ("system",),
    ),
    (
        "indirect",
        1,
        r"\b(?:really|extremely|very|critically)\s+important\b|(?-i:\bCRITICAL\s*:)",
        ("important", "critical"),
    ),
    (
        "indirect",
        1,
        r"\b(?:is|are)\s+not\s+malicious\b|\bpre-?(?:verified|approved|screened|vetted)\b"
        r"|\b(?:already|been)\s+(?:verified|approved|vetted|cleared)\s+by\b",
        ("malicious", "verified", "approved", "screened", "vetted", "cleared"),
    ),
    (
        "indirect",
        1,
        r"\boverride\s+(?:\w+\s+){0,2}?(?:scoring|evaluation|assessment|screening|review|verdict|judge?ment|ranking|"
        r"rating|classification|analysis|checks?|filters?)\b"
        r"|\b(?:and|then|simply|only|just)\s+(?:report|output|respond(?:\s+with)?|reply(?:\s+with)?|answer(?:\s+with)?|"
        r"say|print|state|write)\s*:\s*\S",
        ("overrid", ":"),
    ),
    # text addressed to the AI agents that will read or process it
    (
        "indirect",
        2,
        r"\b(?:ai|llm|gpt)\s+(?:assistants?|agents?|models?|systems?|bots?|readers?|crawlers?)\s+"
        r"(?:reading|processing|summari[sz]ing|analy[sz]ing|parsing)\s+this"
        r"(?:\s+(?:page|document|text|review|e-?mail|message|content|site|file|comment|post)\b|\s*[:,.\]])"
        r"|\b(?:ai|llm)\s+(?:assistant|agent|model)s?\s*:\s*(?:when|if|please|ignore|tell|say|do\s+not|don'?t|"
        r"always|never|you\s+must)\b",
        ("ai", "llm", "gpt"),
    ),
]
