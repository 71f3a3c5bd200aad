"""A difficulty classifier plug-in, as a user would write one (loaded by import path in the config)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class LengthScorer:
    """Hard when the request asks for more than 100 output tokens."""

    def score(self, body: Mapping[str, Any]) -> float:
        return 1.0 if (body.get("max_tokens") or 0) > 100 else 0.0


NOT_A_SCORER = object()
