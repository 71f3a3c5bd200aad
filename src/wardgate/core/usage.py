"""Token usage, normalised across providers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)
class Usage:
    """Tokens of one call by kind.

    ``input_tokens`` includes the cached-read and cache-write tokens (OpenAI's convention: ``prompt_tokens`` counts
    ``cached_tokens``); ``output_tokens`` includes ``reasoning_tokens``. Adapters for providers that count them apart
    (Anthropic) add them up when they normalise, so every later stage reads one convention.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    search_units: int = 0  # rerank searches, where the provider bills them (Cohere's ``billed_units``)
    audio_seconds: float = 0.0  # audio transcribed or translated, where billed by duration (whisper-1)
    characters: int = 0  # text spoken (text-to-speech models billed per character)
    images: int = 0  # images generated, edited or varied
    image_kind: str | None = None  # "<size>/<quality>" of those images, which their price depends on
    audio_input_tokens: int = 0  # of input_tokens, those that were audio (Realtime), priced at price.audio_input
    audio_output_tokens: int = 0  # of output_tokens, those that were audio (Realtime), priced at price.audio_output
    video_seconds: float = 0.0  # seconds of video generated
    video_size: str | None = None  # "<width>x<height>" of that video, which its price depends on

    def media(self) -> dict[str, object]:
        """The non-token units of this usage that are not zero (for the ledger row's details)."""
        out: dict[str, object] = {}
        for name in (
            "search_units",
            "audio_seconds",
            "characters",
            "images",
            "image_kind",
            "video_seconds",
            "video_size",
            "audio_input_tokens",
            "audio_output_tokens",
        ):
            value = getattr(self, name)
            if value:
                out[name] = value
        return out

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def from_openai(cls, usage: dict[str, Any]) -> Usage:
        """Read an OpenAI ``usage`` object (chat, completions, embeddings)."""
        prompt = usage.get("prompt_tokens") or usage.get("input_tokens") or 0
        completion = usage.get("completion_tokens") or usage.get("output_tokens") or 0
        if not prompt and not completion:  # rerank APIs (Jina, vLLM) report only the total: all of it is input
            prompt = usage.get("total_tokens") or 0
        pdetails = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
        cdetails = usage.get("completion_tokens_details") or usage.get("output_tokens_details") or {}
        return cls(
            input_tokens=int(prompt),
            output_tokens=int(completion),
            cached_tokens=int(pdetails.get("cached_tokens") or 0),
            cache_write_tokens=int(pdetails.get("cache_write_tokens") or pdetails.get("cache_creation_tokens") or 0),
            reasoning_tokens=int(cdetails.get("reasoning_tokens") or 0),
        )

    def to_openai(self) -> dict[str, Any]:
        """The OpenAI ``usage`` object for these tokens (cache writes appear only when there are some)."""
        prompt_details: dict[str, int] = {"cached_tokens": self.cached_tokens, "audio_tokens": 0}
        if self.cache_write_tokens:
            prompt_details["cache_write_tokens"] = self.cache_write_tokens
        return {
            "prompt_tokens": self.input_tokens,
            "completion_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "prompt_tokens_details": prompt_details,
            "completion_tokens_details": {
                "reasoning_tokens": self.reasoning_tokens,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
