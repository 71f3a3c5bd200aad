"""The injection guard's rules for system-prompt extraction: asking the model to repeat, reveal, encode or complete
what it was told before the conversation, by any name (system prompt, initial instructions, initialization string,
"the words above").

Same shape as rules_direct: (category, weight, pattern, needles).
"""

from __future__ import annotations

from wardgate.guards.rules_direct import Spec

SPECS: list[Spec] = [
    (
        "extraction",
        2,
        r"\b(?:reveal|show|print|repeat|output|display|dump|leak|tell\s+me|give\s+me|write\s+out|share|recite|echo|spell\s+out|what\s+(?:is|are|was|were))\s+(?:me\s+)?(?:all\s+|exactly\s+|verbatim\s+)?(?:your|its)\s+(?:full\s+|entire\s+|complete\s+|original\s+|initial\s+|hidden\s+|secret\s+|exact\s+)*(?:system\s+(?:prompt|message|instructions?)|initial\s+(?:prompt|instructions?)|hidden\s+(?:prompt|instructions?)|(?:pre-?)?prompt\s+(?:above|before)|instructions\s+(?:above|you\s+were\s+given))",
        ("system", "initial", "hidden", "prompt", "instruction"),
    ),
    (
        "extraction",
        2,
        r"\b(?:repeat|print|output|copy|recite)\s+(?:all\s+|everything\s+|the\s+(?:words|text|content|lines?)\s+)?(?:above|before\s+this|preceding)\b.{0,40}(?:verbatim|word\s+for\s+word|exactly|starting\s+with|including|code\s*block)",
        ("above", "before", "preceding"),
    ),
    (
        "extraction",
        1,
        r"\b(?:system\s+prompt|initial\s+instructions|hidden\s+instructions)\b",
        ("system", "initial", "hidden"),
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
    ),
    (
        "extraction",
        2,
        r"\b(?:repeat|show|print|reveal|output|tell|display|share|recite|encode|translate|see)\s+(?:me\s+)?(?:\w+\s+){0,3}?"
        r"(?:instructions|text|prompt|rules|message)\s+you\s+(?:were|have\s+been)\s+given\b"
        r"|\b(?:show|repeat|reveal|print|display|output|give|see|dump|leak)\s+(?:me\s+)?(?:\w+\s+){0,2}?(?:the|your)\s+"
        r"system\s+(?:prompt|message|instructions)\b|\brepeat\s+(?:this|the|our)\s+(?:entire|whole|full)\s+conversation\b",
        ("given", "system", "conversation"),
    ),
    (
        "extraction",
        1,
        r"\b(?:repeat|print|output|copy|recite|rewrite)\s+(?:all\s+)?(?:of\s+)?(?:the\s+)?(?:above|preceding|previous)\s+"
        r"(?:text|content|words|prompt|instructions|conversation)\b",
        ("above", "preceding", "previous"),
    ),
    (
        "extraction",
        1,
        r"\b(?:output|print|repeat|display|show|dump|reveal)\s+(?:\w+\s+){0,3}?(?:text|content|everything|words)"
        r"\s+(?:above|before)\b|\bsystem_?prompt\b|\bsystemPrompt\b|\bsystem\s+configuration\b",
        ("above", "before", "system"),
    ),
    # what the model was set up with, asked for by another name
    (
        "extraction",
        2,
        r"\b(?:output|print|show|reveal|display|repeat|return|dump|tell\s+me|give\s+me)\s+(?:me\s+)?(?:the\s+)?"
        r"(?:initiali[sz]ation|your\s+(?:init|startup|start-up|boot|bootstrap|setup|set-up|pre-?conversation|hidden|"
        r"secret))\s+"
        r"(?:string|prompt|text|message|instructions?|parameters|directives|context)\b",
        ("initiali", "init", "start", "boot", "setup", "set-up", "conversation", "hidden", "secret"),
    ),
    # asking for the start of the prompt, or what the model received before the chat
    (
        "extraction",
        2,
        r"\b(?:first|initial|opening|beginning)\s+(?:\d+\s+|few\s+|several\s+)?(?:words|lines|sentences|paragraphs?|"
        r"characters|tokens)\s+of\s+(?:your|the\s+system)\s+(?:prompt|instructions|message)"
        r"|\binstructions\s+you\s+(?:received|got|were\s+given)\s+(?:at|before|when|in)\b",
        ("first", "initial", "opening", "beginning", "received", "got", "given"),
    ),
]
