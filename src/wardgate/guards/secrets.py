"""Credential patterns: cloud and SaaS keys by their documented prefixes and lengths, JWTs, PEM private keys,
connection strings with a password, and high-entropy values assigned to a secret-sounding name."""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import replace

import regex

from wardgate.guards.findings import Pattern, compile_rx

_T = r"(?![A-Za-z0-9_-])"  # the token ends here


def entropy(text: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(text)
    return -sum(c / n * math.log2(c / n) for c in Counter(text).values()) if n else 0.0


_PLACEHOLDERS = ("xxxx", "****", "....", "<", "${", "{{", "%(", "your", "example", "changeme", "placeholder")


def _assigned(text: str) -> bool:
    """A value assigned to ``password=`` and the like that looks generated, not a name or a placeholder."""
    lower = text.lower()
    if any(p in lower for p in _PLACEHOLDERS) or any(c in text for c in "()[]{}"):
        return False  # a placeholder, a call, an index or a literal: code, not a value
    if "." in text and all(part.isidentifier() for part in text.split(".")):
        return False  # a dotted name: module.Class, self.attr
    classes = sum((any(c.islower() for c in text), any(c.isupper() for c in text), any(c.isdigit() for c in text)))
    if "." in text and classes < 3:  # self.password, settings.SECRET, os.environ…
        return False
    if text.isidentifier() and classes < 3:  # a variable name
        return False
    return classes >= 2 and entropy(text) >= (3.0 if len(text) < 16 else 3.3)


def _aws_secret(text: str) -> bool:
    return entropy(text) >= 4.0


PATTERNS: list[Pattern] = [
    Pattern("aws_access_key", compile_rx(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z2-7]{16}\b")),
    Pattern(
        "aws_secret_key",
        compile_rx(r"aws.{0,20}?(?:secret|key).{0,20}?[\"'=:\s]([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])", regex.IGNORECASE),
        _aws_secret,
        group=1,
    ),
    Pattern("gcp_api_key", compile_rx(r"\bAIza[0-9A-Za-z_-]{35}" + _T)),
    Pattern("azure_storage_key", compile_rx(r"AccountKey=([A-Za-z0-9+/]{86}==)"), group=1),
    Pattern("azure_client_secret", compile_rx(r"(?<![\w~.-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![\w~.-])")),
    Pattern("github_token", compile_rx(r"\b(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}" + _T)),
    Pattern("github_token", compile_rx(r"\bgithub_pat_[A-Za-z0-9_]{22,255}" + _T)),
    Pattern("gitlab_token", compile_rx(r"\bgl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_-]{20,64}" + _T)),
    Pattern("slack_token", compile_rx(r"\bxox[abeoprs]-[A-Za-z0-9-]{10,250}" + _T)),
    Pattern("slack_webhook", compile_rx(r"https://hooks\.slack\.com/services/T[A-Z0-9]+/B[A-Z0-9]+/[A-Za-z0-9]{16,}")),
    Pattern("stripe_key", compile_rx(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{16,247}" + _T)),
    Pattern("anthropic_key", compile_rx(r"\bsk-ant-(?:api|admin|sid)\d{2}-[A-Za-z0-9_-]{20,200}" + _T)),
    Pattern("openai_key", compile_rx(r"\bsk-(?!ant-)(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_-]{20,200}" + _T)),
    Pattern("huggingface_token", compile_rx(r"\bhf_[A-Za-z0-9]{30,40}" + _T)),
    Pattern("npm_token", compile_rx(r"\bnpm_[A-Za-z0-9]{36}" + _T)),
    Pattern("sendgrid_key", compile_rx(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}" + _T)),
    Pattern("twilio_key", compile_rx(r"\bSK[0-9a-f]{32}\b")),
    Pattern("jwt", compile_rx(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}" + _T)),
    Pattern(
        "private_key",
        compile_rx(
            r"-----BEGIN (?:[A-Z0-9]+ ){0,3}PRIVATE KEY(?: BLOCK)?-----(?:.*?-----END [A-Z0-9 ]{0,40}-----)?", 16
        ),
        until=compile_rx(r"-----END [A-Z0-9 ]{0,40}-----"),
    ),
    Pattern(
        "connection_string",
        compile_rx(r"\b[a-z][a-z0-9+.-]{1,20}://[^\s:/@]{1,100}:([^\s@/]{3,200})@[\w.-]{1,253}", regex.IGNORECASE),
        group=1,
    ),
    Pattern(
        "assigned_secret",
        compile_rx(
            r"(?:password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key|auth[_-]?key|credentials?|private[_-]?key)"
            r"[\"']?\s{0,3}(?:=|:|=>|:=)\s{0,3}[\"']?([^\s\"',;`]{8,200})",
            regex.IGNORECASE,
        ),
        _assigned,
        group=1,
    ),
]

_PEM_START = re.compile("-")
_HINTS = {"aws_secret_key": re.compile("aws", re.IGNORECASE), "assigned_secret": re.compile("[=:]")}
_NEEDLES = {
    "aws_access_key": ("AKIA", "ASIA", "AGPA", "AIDA", "AROA", "ANPA", "ANVA", "AIPA"),
    "gcp_api_key": ("AIza",),
    "azure_storage_key": ("AccountKey=",),
    "azure_client_secret": ("Q~",),
    "github_token": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    "gitlab_token": ("glpat-", "gldt-", "glrt-", "glptt-", "glcbt-"),
    "slack_token": ("xox",),
    "slack_webhook": ("hooks.slack.com",),
    "stripe_key": ("_live_", "_test_"),
    "anthropic_key": ("sk-ant-",),
    "openai_key": ("sk-",),
    "huggingface_token": ("hf_",),
    "npm_token": ("npm_",),
    "sendgrid_key": ("SG.",),
    "twilio_key": ("SK",),
    "jwt": ("eyJ",),
    "private_key": ("-----BEGIN",),
    "connection_string": ("://",),
}
# what every match holds, and each of its needles too (Pattern.trigger): a character of a fixed prefix or separator
# that is rare in prose, else a piece of the prefix, chosen to end with a rare character (the stream's first test
# looks for the triggers' last characters)
_TRIGGERS: dict[str, tuple[str, ...]] = {
    "aws_access_key": _NEEDLES["aws_access_key"],
    "aws_secret_key": ("aw", "aW", "Aw", "AW"),  # the pattern ignores case; neither letter has another case fold
    "gcp_api_key": ("AIz",),
    "azure_storage_key": ("=",),
    "azure_client_secret": ("Q~",),
    "github_token": ("_",),
    "gitlab_token": ("-",),
    "slack_token": ("xox",),
    "slack_webhook": ("hook",),
    "stripe_key": ("_",),
    "anthropic_key": ("-",),
    "openai_key": ("-",),
    "huggingface_token": ("_",),
    "npm_token": ("_",),
    "sendgrid_key": ("SG",),
    "twilio_key": ("SK",),
    "jwt": ("eyJ",),
    "private_key": ("-",),
    "connection_string": (":",),
    "assigned_secret": ("[=:]",),
}
PATTERNS = [
    replace(
        p,
        hint=_HINTS.get(p.entity),
        needles=_NEEDLES.get(p.entity, ()),
        spaced=p.entity == "private_key",
        partial_hint=_PEM_START if p.entity == "private_key" else None,
        trigger=_TRIGGERS[p.entity],
    )
    for p in PATTERNS
]
