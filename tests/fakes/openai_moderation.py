"""What the fake OpenAI API answers to ``POST /v1/moderations``: pure and deterministic.

One result per input (a string, each string of an array, or the whole array of text and image parts). An input is
flagged for ``violence`` exactly when its text contains the word "attack" (score 0.9, else 0.01 for every
category). Text-only categories apply to ``text``; the others to ``text`` and, when the input has an image, ``image``.
OpenAI reports no usage for moderations (they are free), and neither does the fake.
"""

from __future__ import annotations

from typing import Any

CATEGORIES = (
    "hate", "hate/threatening", "harassment", "harassment/threatening", "illicit", "illicit/violent", "self-harm",
    "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors", "violence", "violence/graphic",
)  # fmt: skip
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"}
)


def moderation(payload: dict[str, Any], model: str, response_id: str) -> dict[str, Any]:
    data = payload.get("input")
    if isinstance(data, list) and data and all(isinstance(x, dict) for x in data):
        inputs: list[tuple[str, bool]] = [
            (" ".join(str(p.get("text") or "") for p in data), any(p.get("type") == "image_url" for p in data))
        ]
    elif isinstance(data, list):
        inputs = [(str(x), False) for x in data]
    else:
        inputs = [(str(data), False)]
    return {"id": response_id, "model": model, "results": [_result(text, image) for text, image in inputs]}


def _result(text: str, image: bool) -> dict[str, Any]:
    violent = "attack" in text.lower().split()
    categories = {name: violent and name == "violence" for name in CATEGORIES}
    scores = {name: 0.9 if categories[name] else 0.01 for name in CATEGORIES}
    applied = {name: ["text", "image"] if image and name in IMAGE_CATEGORIES else ["text"] for name in CATEGORIES}
    return {
        "flagged": violent,
        "categories": categories,
        "category_scores": scores,
        "category_applied_input_types": applied,
    }
