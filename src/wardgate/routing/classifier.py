"""How hard is this prompt? A score in [0, 1] that sends easy prompts to a cheap model class and hard ones to a
frontier class.

The built-in classifier is a fixed logistic model over features a prompt shows on its face: length, code, math,
reasoning cues ("prove", "step by step", "trade-offs"), several questions or numbered requirements, a long
conversation, tools, structured output, a requested reasoning effort; and cues of small talk and lookups ("hi",
"translate", "what is"). It reads at most ``_HEAD + _TAIL`` characters of the last user turn, so it costs tens of
microseconds whatever the prompt's size, runs offline and has no dependency. It is a heuristic: good enough to keep
greetings and lookups off a frontier model, not a judge of subtle difficulty. Anything with a
``score(body) -> float`` can replace it (``classifier.plugin``).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

_HEAD, _TAIL = 3000, 1000
_WORD = re.compile(r"[a-z]+")
_ENUMERATED = re.compile(r"\n[ \t]*(?:\d+[.)]|[-*\u2022])[ \t]+\S")
# substring and word cues: str.count and set lookups run in C, unlike a regex alternation tried at every position
_CODE_MARKS = ("```", "def ", "class ", "function", "#include", "import ", "=>", "();", "};", "select ", " fn ", "</")
_MATH_MARKS = (
    "\\frac",
    "\\int",
    "\\sum",
    "\\sqrt",
    "\\lim",
    "$$",
    "^",
    "\u222b",
    "\u221a",
    "\u2211",
    "\u2264",
    "\u2265",
)
_MATH_WORDS = frozenset(
    [
        "integral",
        "derivative",
        "theorem",
        "lemma",
        "matrix",
        "eigenvalue",
        "eigenvector",
        "probability",
        "equation",
        "polynomial",
        "proof",
        "modulo",
        "asymptotic",
        "complexity",
        "logarithm",
        "differential",
        "vector",
    ]
)
_REASONING_WORDS = frozenset(
    [
        "prove",
        "derive",
        "reason",
        "reasoning",
        "analyze",
        "analyse",
        "analysis",
        "compare",
        "contrast",
        "tradeoff",
        "tradeoffs",
        "design",
        "architecture",
        "optimize",
        "optimise",
        "optimization",
        "debug",
        "refactor",
        "evaluate",
        "critique",
        "implication",
        "implications",
        "strategy",
        "algorithm",
        "rigorous",
        "rigorously",
        "plan",
        "justify",
    ]
)
_REASONING_PHRASES = (
    "step by step",
    "step-by-step",
    "trade-off",
    "pros and cons",
    "root cause",
    "explain why",
    "edge case",
    "why does",
    "why is",
)
_EASY_WORDS = frozenset(
    ["hi", "hello", "hey", "thanks", "thank", "translate", "spell", "define", "synonym", "rephrase", "greet"]
)
_EASY_PHRASES = ("capital of", "what time", "one word", "one sentence", "fix the typo", "say hello")

# weights of the logistic model; the bias puts a one-line question near 0.15
_BIAS = -2.2
_W_LENGTH = 1.1  # per decade of characters above 100
_W_CODE = 0.55  # per code cue, up to 4
_W_MATH = 0.6  # per math cue, up to 4
_W_REASONING = 0.75  # per reasoning cue, up to 4
_W_EASY = -0.9  # per small-talk / lookup cue, up to 2
_W_QUESTIONS = 0.3  # per question mark beyond the first, up to 4
_W_ENUMERATED = 0.2  # per listed requirement, up to 6
_W_TURNS = 0.25  # per decade of messages
_W_TOOLS = 0.4
_W_SCHEMA = 0.3
_W_EFFORT = {"minimal": -0.5, "low": -0.3, "medium": 0.3, "high": 1.2}


@runtime_checkable
class DifficultyClassifier(Protocol):
    def score(self, body: Mapping[str, Any]) -> float:
        """0 (trivial) to 1 (needs the strongest model) for an OpenAI-shaped request body."""
        ...


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def _last_user_and_total(body: Mapping[str, Any]) -> tuple[str, int, int]:
    """(the last user turn's text, characters over all turns, number of turns)."""
    messages = body.get("messages")
    if isinstance(messages, list):
        last = ""
        total = 0
        for message in messages:
            if not isinstance(message, dict):
                continue
            content = message.get("content")
            size = len(content) if isinstance(content, str) else len(_text(content))
            total += size
            if message.get("role") == "user":
                last = content if isinstance(content, str) else _text(content)
        return last, total, len(messages)
    prompt = body.get("prompt")
    if isinstance(prompt, list):
        prompt = " ".join(p for p in prompt if isinstance(p, str))
    text = prompt if isinstance(prompt, str) else ""
    return text, len(text), 1


class BuiltinClassifier:
    """The offline heuristic described in the module docstring."""

    def score(self, body: Mapping[str, Any]) -> float:
        text, total, turns = _last_user_and_total(body)
        if len(text) > _HEAD + _TAIL:
            text = text[:_HEAD] + "\n" + text[-_TAIL:]
        z = _BIAS
        if total > 100:
            z += _W_LENGTH * math.log10(total / 100)
        lower = text.lower()
        words = _WORD.findall(lower)
        code = sum(lower.count(mark) for mark in _CODE_MARKS)
        math_cues = sum(lower.count(mark) for mark in _MATH_MARKS) + sum(map(_MATH_WORDS.__contains__, words))
        reasoning = sum(map(_REASONING_WORDS.__contains__, words)) + sum(p in lower for p in _REASONING_PHRASES)
        easy = sum(map(_EASY_WORDS.__contains__, words[:40])) + sum(p in lower for p in _EASY_PHRASES)
        z += _W_CODE * min(code, 4)
        z += _W_MATH * min(math_cues, 4)
        z += _W_REASONING * min(reasoning, 4)
        z += _W_EASY * min(easy, 2)
        z += _W_QUESTIONS * min(max(text.count("?") - 1, 0), 4)
        z += _W_ENUMERATED * min(len(_ENUMERATED.findall(text)), 6)
        if turns > 1:
            z += _W_TURNS * math.log10(turns) * 2
        if body.get("tools"):
            z += _W_TOOLS
        response_format = body.get("response_format")
        if isinstance(response_format, dict) and response_format.get("type") == "json_schema":
            z += _W_SCHEMA
        effort = body.get("reasoning_effort")
        if isinstance(effort, str):
            z += _W_EFFORT.get(effort, 0.0)
        return 1.0 / (1.0 + math.exp(-z))


def load_classifier(plugin: str | None) -> DifficultyClassifier:
    """The built-in classifier, or ``package.module:Name``: a class (built with no arguments) or an object, either
    way with ``score(body) -> float``. Imported once, at start-up."""
    if plugin is None:
        return BuiltinClassifier()
    module_name, _, attribute = plugin.partition(":")
    found: Any = getattr(importlib.import_module(module_name), attribute)
    instance = found() if isinstance(found, type) else found
    if not isinstance(instance, DifficultyClassifier):
        raise TypeError(f"{plugin} has no score(body) method")
    return instance
