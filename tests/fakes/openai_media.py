"""What the fake OpenAI API answers to audio and image requests: pure and deterministic.

Multipart bodies are parsed here (``parse_form``) from the bytes the fake recorded, so tests can check every field
and file the provider received.

- Transcriptions (``json``, the default): ``{"text": "transcript of <filename> (<n> bytes)"}`` with usage: for
  ``whisper-1`` ``{"type": "duration", "seconds": n / 16000}`` (the fake's audio is 16,000 bytes a second), else
  ``{"type": "tokens"}`` with ``n // 100`` audio input tokens and one output token a word of the text. ``text``,
  ``srt`` and ``vtt`` answer that text as ``text/plain`` without usage (as OpenAI does); ``verbose_json`` adds the
  language, the duration and the duration usage.
- Translations: ``{"text": "translation of <filename> (<n> bytes)"}``, no usage (OpenAI reports none).
- Speech: ``FAKEAUDIO:`` and the input's UTF-8 bytes, with the content type of ``response_format`` (mp3 default).
- Streams: a transcription with ``stream`` answers ``transcript.text.delta`` per word, then ``transcript.text.done``
  with the text and the token usage; speech with ``stream_format: sse`` answers ``speech.audio.delta`` (the audio,
  base64) and ``speech.audio.done`` with a usage (one input token a word, one output token a character); images with
  ``stream`` answer ``partial_images`` partial events, then one ``image_generation.completed`` per image with the
  size, quality and the image's share of the usage.
- Images (generations, edits, variations): ``n`` images (default 1) as ``url`` or ``b64_json``; ``gpt-image-1``
  answers its ``size`` and ``quality`` and a token usage: one input text token a prompt word, 100 input image tokens
  an uploaded image, 1,000 output image tokens an image.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header

from tests.fakes.openai_logic import BadRequest

AUDIO_BYTES_PER_SECOND = 16_000
SPEECH_TYPES = {"mp3": "audio/mpeg", "opus": "audio/opus", "aac": "audio/aac", "flac": "audio/flac",
                "wav": "audio/wav", "pcm": "audio/pcm"}  # fmt: skip
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def parse_form(body: bytes, content_type: str) -> tuple[dict[str, Any], dict[str, tuple[str, str, bytes]]]:
    """(text fields — a repeated name as a list —, files by field: (filename, content type, bytes))."""
    _, options = parse_options_header(content_type)
    parts: list[dict[str, Any]] = []
    header: dict[str, bytes] = {}

    def begin() -> None:
        parts.append({"headers": {}, "data": bytearray()})

    def field(data: bytes, start: int, end: int) -> None:
        header["name"] = header.get("name", b"") + data[start:end]

    def value(data: bytes, start: int, end: int) -> None:
        header["value"] = header.get("value", b"") + data[start:end]

    def header_end() -> None:
        parts[-1]["headers"][header.pop("name", b"").lower()] = header.pop("value", b"")

    def data(chunk: bytes, start: int, end: int) -> None:
        parts[-1]["data"] += chunk[start:end]

    callbacks: Any = {"on_part_begin": begin, "on_header_field": field, "on_header_value": value,
                      "on_header_end": header_end, "on_part_data": data}  # fmt: skip
    parser = MultipartParser(options[b"boundary"], callbacks)
    parser.write(body)
    parser.finalize()
    fields: dict[str, Any] = {}
    files: dict[str, tuple[str, str, bytes]] = {}
    for part in parts:
        _, disposition = parse_options_header(part["headers"].get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode()
        if b"filename" in disposition:
            ctype = part["headers"].get(b"content-type", b"application/octet-stream").decode()
            files[name] = (disposition[b"filename"].decode(), ctype, bytes(part["data"]))
        elif name in fields:
            previous = fields[name]
            fields[name] = [*(previous if isinstance(previous, list) else [previous]), part["data"].decode()]
        else:
            fields[name] = part["data"].decode()
    return fields, files


def transcription(
    fields: dict[str, Any], files: dict[str, tuple[str, str, bytes]], *, translate: bool
) -> tuple[Any, str]:
    """(the answer, its content type)."""
    filename, _, audio = files["file"]
    text = f"{'translation' if translate else 'transcript'} of {filename} ({len(audio)} bytes)"
    fmt = fields.get("response_format", "json")
    if fmt in ("text", "srt", "vtt"):
        return text, "text/plain; charset=utf-8"
    seconds = len(audio) / AUDIO_BYTES_PER_SECOND
    if translate:
        return {"text": text}, "application/json"
    if fmt == "verbose_json":
        usage = {"type": "duration", "seconds": seconds}
        return {
            "task": "transcribe",
            "language": "english",
            "duration": seconds,
            "text": text,
            "usage": usage,
        }, "application/json"
    if fields.get("model") == "whisper-1":
        usage: dict[str, Any] = {"type": "duration", "seconds": seconds}
    else:
        audio_tokens, words = len(audio) // 100, len(text.split())
        usage = {"type": "tokens", "input_tokens": audio_tokens, "output_tokens": words,
                 "total_tokens": audio_tokens + words,
                 "input_token_details": {"text_tokens": 0, "audio_tokens": audio_tokens}}  # fmt: skip
    return {"text": text, "usage": usage}, "application/json"


def speech(payload: dict[str, Any]) -> tuple[bytes, str]:
    fmt = payload.get("response_format") or "mp3"
    return b"FAKEAUDIO:" + str(payload.get("input")).encode(), SPEECH_TYPES.get(fmt, "audio/mpeg")


def images(request: dict[str, Any], uploaded: int) -> dict[str, Any]:
    raw = request.get("n")
    if raw is None:
        n = 1
    elif isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= 10:
        n = raw
    elif isinstance(raw, str) and raw.isdigit() and 1 <= int(raw) <= 10:  # a multipart field
        n = int(raw)
    else:  # as OpenAI answers: a 400 naming the parameter
        raise BadRequest(f"Invalid value for 'n': {str(raw)[:50]!r}; expected an integer from 1 to 10.", param="n")
    b64 = request.get("response_format") == "b64_json" or request.get("model") == "gpt-image-1"
    image = {"b64_json": base64.b64encode(PNG).decode()} if b64 else {"url": "https://images.fake.invalid/1.png"}
    answer: dict[str, Any] = {"created": int(time.time()), "data": [dict(image) for _ in range(n)]}
    if request.get("model") == "gpt-image-1":
        words = len(str(request.get("prompt") or "").split())
        answer["size"] = request.get("size") or "1024x1024"
        answer["quality"] = request.get("quality") or "high"
        answer["usage"] = {
            "input_tokens": words + 100 * uploaded,
            "output_tokens": 1000 * n,
            "total_tokens": words + 100 * uploaded + 1000 * n,
            "input_tokens_details": {"text_tokens": words, "image_tokens": 100 * uploaded},
        }
    return answer


FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42FAKEVIDEO"


def video_job(request: dict[str, Any], video_id: str, reference: bool) -> dict[str, Any]:
    """A video job as OpenAI answers its creation: queued, with the model, size and seconds it will have (what
    it is billed by). ``reference`` says an ``input_reference`` file came with it."""
    prompt = request.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        raise BadRequest("Missing required parameter: 'prompt'.", param="prompt")
    return {"id": video_id, "object": "video", "model": request.get("model") or "sora-2", "status": "queued",
            "progress": 0, "created_at": int(time.time()), "completed_at": None, "expires_at": None,
            "prompt": prompt + (" (with a reference)" if reference else ""),
            "size": request.get("size") or "720x1280", "seconds": str(request.get("seconds") or "4"),
            "remixed_from_video_id": None, "error": None}  # fmt: skip


def transcription_events(fields: dict[str, Any], files: dict[str, tuple[str, str, bytes]]) -> list[dict[str, Any]]:
    answer, _ = transcription({**fields, "response_format": "json", "model": "gpt-4o-transcribe"}, files,
                              translate=False)  # fmt: skip
    events: list[dict[str, Any]] = [{"type": "transcript.text.delta", "delta": word + " "}
                                    for word in answer["text"].split()]  # fmt: skip
    events.append({"type": "transcript.text.done", "text": answer["text"], "usage": answer["usage"]})
    return events


def speech_events(payload: dict[str, Any]) -> list[dict[str, Any]]:
    audio, _ = speech(payload)
    text = str(payload.get("input"))
    words = len(text.split())
    usage = {"input_tokens": words, "output_tokens": len(text), "total_tokens": words + len(text)}
    return [{"type": "speech.audio.delta", "audio": base64.b64encode(audio).decode()},
            {"type": "speech.audio.done", "usage": usage}]  # fmt: skip


def image_events(request: dict[str, Any], uploaded: int) -> list[dict[str, Any]]:
    answer = images({**request, "model": "gpt-image-1"}, uploaded)
    events: list[dict[str, Any]] = []
    for n in range(int(request.get("partial_images") or 0)):
        events.append({"type": "image_generation.partial_image", "partial_image_index": n, "b64_json": "AA=="})
    count = len(answer["data"])
    usage = answer["usage"]
    for index, image in enumerate(answer["data"]):
        share = {k: v // count + (v % count if index == 0 else 0) for k, v in usage.items() if isinstance(v, int)}
        events.append({"type": "image_generation.completed", "b64_json": image["b64_json"], "size": answer["size"],
                       "quality": answer["quality"], "usage": share})  # fmt: skip
    return events
