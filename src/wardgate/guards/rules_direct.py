"""The injection guard's rules for what a user says to the model: an instruction override, a jailbreak, a forged
role or turn (system-prompt extraction: rules_extraction).

Each rule is (category, weight, pattern, needles): a strong phrase weighs 2, a weak hint 1; the pattern is only tried
when one of the needles is in the lower-cased text (a substring test is far cheaper than a regex search).
"""

from __future__ import annotations

Spec = tuple[str, int, str, tuple[str, ...]]

_PRIOR = (
    r"(?:all\s+|any\s+|the\s+|your\s+|my\s+|these\s+|those\s+|of\s+)*"
    r"(?:previous|prior|above|earlier|preceding|former|original|initial|system|old|existing|given)"
)
_RULES = (
    r"(?:instructions?|prompts?|directions?|directives?|rules|guidelines|commands?|context|orders|programming|"
    r"constraints|guardrails|restrictions|polic(?:y|ies)|messages?|text)"
)

SPECS: list[Spec] = [
    (
        "override",
        2,
        rf"\b(?:ignore|disregard|forget|skip|overlook|bypass|override|neglect|abandon|drop|discard)\s+(?:about\s+)?(?:everything\s+|all\s+)?{_PRIOR}\s+(?:\w+\s+)?{_RULES}",
        (
            "ignor",
            "disregard",
            "forget",
            "skip",
            "overlook",
            "bypass",
            "overrid",
            "neglect",
            "abandon",
            "drop",
            "discard",
        ),
    ),
    (
        "override",
        2,
        r"\b(?:ignore|disregard|forget)\s+(?:everything|all)\s+(?:that\s+)?(?:you\s+)?(?:(?:were|was|have\s+been|have|had)\s+)?"
        r"(?:told|said|written|given|instructed|learned|learnt|know|knew|above|before)",
        ("ignor", "disregard", "forget"),
    ),
    (
        "override",
        2,
        r"\b(?:new|updated|revised|real|actual|true)\s+(?:system\s+)?instructions?\s*(?::|follow|are\b)",
        ("instruction",),
    ),
    (
        "override",
        2,
        rf"\b(?:do\s+not|don'?t|stop)\s+(?:follow(?:ing)?|obey(?:ing)?)\s+{_PRIOR}\s+{_RULES}",
        ("follow", "obey"),
    ),
    (
        "override",
        2,
        r"\binstead\s*,?\s+(?:say|print|output|write|respond\s+with)\b.{0,40}$",
        ("instead",),
    ),
    (
        "override",
        1,
        r"\b(?:ignore|disregard)\s+(?:the\s+)?(?:above|previous|prior)\b",
        ("ignor", "disregard"),
    ),
    (
        "jailbreak",
        2,
        r"\bdo\s+anything\s+now\b|\byou\s+are\s+(?:now\s+)?DAN\b|\bact\s+as\s+DAN\b",
        ("anything", "dan"),
    ),
    (
        "jailbreak",
        2,
        r"\b(?:god|jailbreak|unrestricted|unfiltered|evil|chaos|sudo)\s+mode\s+(?:enabled|on|activated)\b|\benable\s+(?:god|jailbreak|unrestricted)\s+mode\b",
        ("mode",),
    ),
    (
        "jailbreak",
        2,
        r"\b(?:(?:free|freed|released|liberated|unbound)\s+from|broken\s+free\s+of|breaks?\s+free\s+of)\s+(?:the\s+)?(?:typical\s+)?(?:confines|restrictions|rules|limitations|policies|guidelines)\b",
        ("from",),
    ),
    (
        "jailbreak",
        2,
        r"\b(?:no|without\s+any|without)\s+(?:ethical|moral|content)?\s*(?:restrictions|filters|limitations|censorship|guidelines|rules)\b.{0,60}\b(?:answer|respond|reply|comply|you\s+(?:will|must|can))\b",
        ("restriction", "filter", "limitation", "censor", "guideline", "rules"),
    ),
    (
        "jailbreak",
        2,
        r"\b(?:not|never)\s+(?:bound|restricted|limited|confined|constrained)\s+by\s+(?:any\s+)?(?:rules|polic(?:y|ies)|guidelines|openai|anthropic|ethics|restrictions)",
        ("bound", "restricted", "limited"),
    ),
    (
        "jailbreak",
        2,
        r"\b(?:stay|remain|keep)\s+in\s+character\b.{0,80}\b(?:no\s+matter|always|never\s+break|even\s+if)\b",
        ("character",),
    ),
    (
        "jailbreak",
        2,
        r"\b(?:jailbroken|anti-?dan|(?-i:STAN|DUDE|AIM)|mongo\s+tom|evil\s+confidant|betterdan|basedgpt)\b.{0,40}\b(?:prompt|mode|persona|character|respond|answer|you)\b",
        ("jailbr", "dan", "stan", "dude", "aim", "mongo", "confidant", "based"),
    ),
    (
        "jailbreak",
        1,
        r"\b(?:pretend|imagine|roleplay|role-play|act)\b.{0,40}\b(?:no|without)\s+(?:rules|restrictions|limits|filters|ethics)",
        ("rules", "restriction", "limit", "filter", "ethic"),
    ),
    (
        "jailbreak",
        2,
        r"\b(?:no\s+matter\s+how|regardless\s+of\s+how)\s+(?:\w+,?\s+(?:or\s+)?){0,4}"
        r"(?:dangerous|unethical|illegal|immoral|harmful|reckless|inhumane|offensive)\b",
        ("matter", "regardless"),
    ),
    (
        "jailbreak",
        1,
        r"\bDAN\s+(?:mode|prompt|jailbreak)\b|\bdeveloper\s+mode\b",
        ("dan", "developer"),
    ),
    (
        "jailbreak",
        1,
        r"\bhypothetical(?:ly)?\b.{0,60}\b(?:no|without)\s+(?:rules|restrictions|ethics)\b",
        ("hypothetic",),
    ),
    (
        "role_override",
        2,
        r"(?:^|\n)\s*(?:<\|im_start\|>\s*system|\[/?INST\]|<<SYS>>|###\s*(?:system|instruction)s?\s*:?|system\s*(?:prompt|message)?\s*:\s*you\s+(?:are|must|will))",
        ("im_start", "inst]", "<<sys", "###", "system"),
    ),
    (
        "role_override",
        2,
        r"\b(?:from\s+now\s+on|henceforth|for\s+the\s+rest\s+of\s+(?:this|the)\s+conversation)\b.{0,40}\byou\s+(?:are|will|must|shall)\s+(?:no\s+longer|not|only|always)\b",
        ("from", "henceforth", "rest"),
    ),
    (
        "role_override",
        1,
        r"\byou\s+are\s+(?:now|no\s+longer)\s+(?:a|an|the|my)?\s*\w+",
        ("you",),
    ),
    (
        "role_override",
        1,
        r"\bfrom\s+now\s+on\s*,?\s+you\s+(?:are|will|must|shall)\b",
        ("from",),
    ),
    # an override of what comes before or after, or of the rest of a document, then an order to emit something
    (
        "override",
        2,
        r"\b(?:ignore|disregard|forget|skip)\s+(?:(?:all|any|the|this|these|other|everything|every)\s+)*"
        r"(?:(?:previous|prior|above|following|preceding|remaining|other|earlier|and|or|,)\s*)*"
        r"(?:rest\s+of\s+(?:this|the)\s+)?(?:instructions?|directions?|data|info(?:rmation)?|content|text|documents?|"
        r"snippets?|context|input|them|that)\b[^\n]{0,60}?\b(?:and|,|then|instead)\s*(?:\w+\s+){0,3}?"
        r"(?:print|say|output|write|reply|respond|answer|translate|repeat|focus|report|return|state)\b",
        ("ignor", "disregard", "forget", "skip"),
    ),
    (
        "override",
        2,
        r"\b(?:disregard|ignore)\s+(?:all|any|everything|every\w*)\s+(?:\w+\s+){0,2}?(?:except|but)\b",
        ("disregard", "ignor"),
    ),
    # a stop-everything interruption, or an order to emit a quoted text verbatim and nothing else
    (
        "override",
        1,
        r"\b(?:stop\s+everything|nevermind|never\s+mind|new\s+task|attention\s*!|important\s*!+|urgent\s*!+)",
        ("stop", "never", "new task", "attention", "important", "urgent"),
    ),
    (
        "override",
        1,
        r"\b(?:just|only|simply|instead)\s+(?:print|say|output|write|reply\s+with|respond\s+with|repeat)\b"
        r"|\b(?:reply|respond|answer)\s+with\s+only\b|\band\s+(?:absolutely\s+)?nothing\s+else\b",
        ("just", "only", "simply", "instead", "nothing else"),
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
        ("<|", "<end", "[", "<system", "<instruction", "system", "admin", "core instruction"),
    ),
    (
        "role_override",
        2,
        r"(?:^|\n)\s*(?:assistant|ai|chatgpt|bot)\s*:[^\n]*\n+\s*(?:user|human)\s*:[^\n]{0,200}"
        r"\b(?:repeat|print|say|ignore|instead|now|next|following)\b",
        ("assistant", "ai:", "chatgpt", "bot"),
    ),
    # a jailbreak persona: an AI without rules, one that never refuses, or that answers twice (filtered and not)
    (
        "jailbreak",
        2,
        r"\b(?:without|no|zero|not\s+(?:have|follow)\s+any)\s+(?:\w+\s+){0,2}?(?:ethical|moral|legal|content)\s+"
        r"(?:or\s+\w+\s+)?(?:guidelines|restrictions|limits|limitations|boundaries|principles|policies|filters|concerns)"
        r"|\b(?:never|doesn'?t|does\s+not|won'?t|will\s+not|cannot|can'?t)\s+(?:ever\s+)?"
        r"(?:refuse|decline|say\s+(?:no|that\s+(?:it|he|she)\s+can'?t))\b"
        r"|\b(?:doesn'?t|does\s+not|don'?t|never)\s+(?:(?:have|need)\s+to\s+)?(?:follow|care\s+about|abide\s+by|obey)\s+(?:\w+'?s?\s+){0,3}?"
        r"(?:content\s+polic|ethic|moral|rules|guidelines|principles|laws)"
        r"|\b(?:amoral|unethical|unfiltered|uncensored|unrestricted|immoral|unlimited)\s+(?:language\s+)?(?:ai|chatbot|assistant|model|bot|"
        r"character|persona|version)\b",
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
    ),
    (
        "jailbreak",
        1,
        r"\b(?:answer|respond|reply)\s+(?:\w+\s+){0,3}?in\s+(?:two|2)\s+(?:different\s+)?(?:ways|manners)\b",
        ("two", "2 "),
    ),
    # a request for a hateful or harmful text about a group, however it is wrapped (a translation, a refinement)
    (
        "jailbreak",
        2,
        r"\b(?:write|generate|produce|compose|create|say|give)\s+(?:me\s+)?(?:one|a|an|some|\d+|two|three)\s+"
        r"(?:\w+\s+)?(?:toxic|discriminatory|offensive|harmful|hateful|racist|sexist|derogatory|demeaning|"
        r"insulting|negative|unfriendly|hurtful)\s+(?:\w+\s+)?(?:sentences?|statements?|jokes?|comments?|remarks?|"
        r"tweets?|posts?|messages?|paragraphs?|things?|words?)\s+(?:about|against|targeting|on|towards)\b",
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
    ),
    # an order to drop every instruction or rule, or what the model learned from its maker
    (
        "override",
        2,
        r"\b(?:ignore|disregard|forget)\s+(?:all|any|every)\s+(?:of\s+)?(?:your\s+|the\s+|my\s+)?"
        r"(?:instructions|rules|guidelines|directives|programming|restrictions|prompts|commands)\b"
        r"|\bforget\s+(?:everything|all)\s+(?:from|about)\s+(?:chat\s?gpt|openai|your\s+(?:training|programming|rules))",
        ("ignor", "disregard", "forget"),
    ),
    # an order to drop what the model was given, addressed to it ("your"), in any wording
    (
        "override",
        2,
        r"\b(?:ignore|disregard|forget|abandon|discard)\s+(?:all\s+)?(?:of\s+)?your\s+(?:\w+\s+)?(?:instructions|"
        r"guidance|task|rules|guidelines|directives|programming|system\s+prompt|prompt|training|restrictions|"
        r"constraints|orders)\b",
        ("ignor", "disregard", "forget", "abandon", "discard"),
    ),
    # the same order in other languages (Spanish, French, German, Portuguese, Italian)
    (
        "override",
        2,
        r"\b(?:ignora|ignore[sz]?|olvida|oublie[sz]?|ignoriere|vergiss|ignorar|esque[cç]a|dimentica)(?:\s+\w+){0,3}?\s+"
        r"(?:instrucciones|instructions|anweisungen|instru[cç](?:õ|o)es|istruzioni|consignes)\s+"
        r"(?:anteriores|précédentes|precedentes|vorherigen|bisherigen|precedenti|previas|antérieures)\b"
        r"|\b(?:ignora|ignore[sz]?|olvida|oublie[sz]?|ignoriere|vergiss|ignorar|esque[cç]a|dimentica)\s+"
        r"(?:todas\s+las|toutes\s+les|alle|todas\s+as|tutte\s+le)\s+(?:\w+\s+)?"
        r"(?:instrucciones|instructions|anweisungen|instru[cç](?:õ|o)es|istruzioni|consignes)\b",
        ("ignor", "olvida", "oubli", "vergiss", "esque", "dimentica"),
    ),
    # telling the model its safety is off
    (
        "jailbreak",
        2,
        r"\byour\s+(?:safety|content|ethical|moral)\s+(?:filters?|guidelines|restrictions|protocols|rules|checks)\s+"
        r"(?:are|have\s+been|were)\s+(?:now\s+)?(?:disabled|off|removed|lifted|deactivated|turned\s+off|suspended)\b"
        r"|\b(?:safety|content|ethical|moral)\s+(?:filters?|guidelines|restrictions|protocols|rules|checks)\s+"
        r"(?:are|have\s+been)\s+now\s+(?:disabled|off|removed|lifted|deactivated|turned\s+off|suspended)\b",
        ("disabled", "off", "removed", "lifted", "deactivated", "suspended"),
    ),
]
