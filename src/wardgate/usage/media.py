"""The usage of an audio or image call, from the provider's answer and the request: pure, no I/O.

- Transcriptions and translations: the ``usage`` object of a JSON answer, as OpenAI reports it: ``{"type": "tokens",
  "input_tokens", "output_tokens"}`` (gpt-4o-transcribe and kin) or ``{"type": "duration", "seconds"}`` (whisper-1).
  A ``text``, ``srt`` or ``vtt`` answer carries none.
- Speech: the characters of ``input`` (what text-to-speech is billed by); tokens when the provider reports them.
- Images: the number of images answered, of the request's ``size`` and ``quality`` (their price depends on both),
  and the tokens when the provider reports them (gpt-image-1).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from wardgate.core.usage import Usage

IMAGE_OPERATIONS = frozenset({"images", "image_edits", "image_variations"})
AUDIO_OPERATIONS = frozenset({"transcriptions", "translations", "speech"})
DEFAULT_IMAGE_SIZE = "1024x1024"
DEFAULT_QUALITY = "standard"


def _json(raw: bytes, content_type: str) -> dict[str, Any] | None:
    if "json" not in content_type:
        return None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _tokens(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage()
    if usage.get("type") == "duration":
        seconds = usage.get("seconds")
        return Usage(audio_seconds=float(seconds) if isinstance(seconds, int | float) and seconds > 0 else 0.0)
    return Usage.from_openai(usage)


def media_usage(operation: str, request: Mapping[str, Any], raw: bytes, content_type: str) -> Usage | None:
    """The usage of one answered media call; None when the answer says nothing that can be metered."""
    answer = _json(raw, content_type)
    if operation in ("transcriptions", "translations"):
        if answer is None or not isinstance(answer.get("usage"), dict):
            return None
        return _tokens(answer["usage"])
    if operation == "speech":
        text = request.get("input")
        usage = Usage()
        usage.characters = len(text) if isinstance(text, str) else 0
        return usage
    if operation == "videos":
        return video_usage(request, answer)
    if operation in IMAGE_OPERATIONS:
        if answer is None:
            return None
        data = answer.get("data")
        usage = _tokens(answer.get("usage"))
        usage.images = len(data) if isinstance(data, list) else 0
        usage.image_kind = image_kind(request, answer)
        return usage
    return None


def image_kind(request: Mapping[str, Any], answer: Mapping[str, Any] | None = None) -> str:
    """ "<size>/<quality>" of the images: what the answer says they were, else what was asked, else the defaults."""
    source: Mapping[str, Any] = answer or {}
    size = source.get("size") or request.get("size") or DEFAULT_IMAGE_SIZE
    quality = source.get("quality") or request.get("quality") or DEFAULT_QUALITY
    return f"{str(size)[:32]}/{str(quality)[:32]}"


DEFAULT_VIDEO_SECONDS = "4"  # OpenAI's defaults when a video request names none
DEFAULT_VIDEO_SIZE = "720x1280"


def video_usage(request: Mapping[str, Any], answer: Mapping[str, Any] | None) -> Usage:
    """Seconds of video of a size: what the provider's video job says, else what was asked, else the defaults."""
    source: Mapping[str, Any] = answer or {}
    seconds = source.get("seconds") or request.get("seconds") or DEFAULT_VIDEO_SECONDS
    size = source.get("size") or request.get("size") or DEFAULT_VIDEO_SIZE
    usage = Usage()
    try:
        usage.video_seconds = max(float(seconds), 0.0)
    except (TypeError, ValueError):
        usage.video_seconds = float(DEFAULT_VIDEO_SECONDS)
    usage.video_size = str(size)[:32]
    return usage


def streamed_media_usage(
    operation: str, request: Mapping[str, Any], event: Mapping[str, Any], images: int
) -> Usage | None:
    """The usage of a streamed media call from the event that carries it: the transcript's or the speech's ``usage``
    (tokens, or seconds), or for images the count completed so far of their size and quality, plus the tokens."""
    if operation in IMAGE_OPERATIONS:
        usage = _tokens(event.get("usage"))
        usage.images = images
        usage.image_kind = image_kind(request, event)
        return usage
    if operation == "speech":
        usage = _tokens(event.get("usage"))
        text = request.get("input")
        usage.characters = len(text) if isinstance(text, str) else 0
        return usage
    if not isinstance(event.get("usage"), dict):
        return None
    return _tokens(event["usage"])
