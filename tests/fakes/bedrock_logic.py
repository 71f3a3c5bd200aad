"""What the fake Bedrock Runtime answers, and how it frames a stream: pure and deterministic (no I/O).

The server, SigV4 checks and scripting are `bedrock`'s; the event-stream framing here is written from the format
description, independently of the gateway's decoder.

What it answers (deterministic):
- a last user turn holding toolResult blocks: "The tool answered: <their text>";
- a toolConfig with tools otherwise: a toolUse of ``toolChoice.tool.name`` or the first tool, its input built
  from the schema; stopReason ``tool_use``;
- else "You said: <the last user text>", plus " (and an image: <format>, <n> bytes)" per image; as
  ``{"reply": …}`` JSON when ``outputConfig`` asks for a JSON schema; cut by ``maxTokens`` (one word, one token:
  stopReason ``max_tokens``) and ``stopSequences`` (``stop_sequence``).
With ``reasoning`` set, a text answer starts with a reasoningContent block (text and signature), as Claude's
extended thinking does; its words count in outputTokens (Bedrock does not report reasoning tokens apart).
Usage: inputTokens = words of every text, toolUse input and toolResult text sent; outputTokens = words (or
tool-input pieces) answered; ``cache_read_tokens``/``cache_write_tokens`` are reported beside them, as Bedrock
does (inputTokens excludes them; totalTokens includes them).
Embeddings: ``amazon.titan-embed-text-v2:0`` (``dimensions`` 256/512/1024, default 1024), ``…-text-v1``
(1536), ``cohere.embed-*`` (1024, at most 96 texts, token count in ``X-Amzn-Bedrock-Input-Token-Count``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_PIECES = re.compile(r"\S+\s*|\s+")
BEDROCK_FAULT = "http://internal.amazon.com/coral/com.amazon.bedrock/"


class BedrockFault(Exception):
    def __init__(self, status: int, error_type: str, message: str, fault: str = BEDROCK_FAULT) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.fault = fault


# --- event-stream framing (written from the format description, independently of the gateway's decoder) -------


def encode_header(name: str, value: Any, kind: int | None = None) -> bytes:
    """One header; ``kind`` forces a value type (2 byte, 3 short, 4 int, 5 long, 8 timestamp), else inferred."""
    raw_name = name.encode()
    out = struct.pack(">B", len(raw_name)) + raw_name
    if kind is None:
        if value is True:
            kind = 0
        elif value is False:
            kind = 1
        elif isinstance(value, int):
            kind = 4
        elif isinstance(value, bytes):
            kind = 6
        elif isinstance(value, str):
            kind = 7
        elif isinstance(value, datetime):
            kind = 8
        elif isinstance(value, uuid.UUID):
            kind = 9
        else:
            raise TypeError(f"no event-stream header type for {value!r}")
    out += struct.pack(">B", kind)
    if kind in (0, 1):
        return out
    if kind == 2:
        return out + struct.pack(">b", value)
    if kind == 3:
        return out + struct.pack(">h", value)
    if kind == 4:
        return out + struct.pack(">i", value)
    if kind == 5:
        return out + struct.pack(">q", value)
    if kind in (6, 7):
        data = value if isinstance(value, bytes) else value.encode()
        return out + struct.pack(">H", len(data)) + data
    if kind == 8:
        millis = int((value - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(milliseconds=1))
        return out + struct.pack(">q", millis)
    return out + value.bytes


def encode_frame(headers: bytes, payload: bytes) -> bytes:
    total = 12 + len(headers) + len(payload) + 4
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_frame(event_type: str, payload: dict[str, Any]) -> bytes:
    headers = (
        encode_header(":event-type", event_type)
        + encode_header(":content-type", "application/json")
        + encode_header(":message-type", "event")
    )
    return encode_frame(headers, orjson.dumps(payload))


def exception_frame(exception_type: str, message: str) -> bytes:
    headers = (
        encode_header(":exception-type", exception_type)
        + encode_header(":content-type", "application/json")
        + encode_header(":message-type", "exception")
    )
    return encode_frame(headers, orjson.dumps({"message": message}))


# --- answers ----------------------------------------------------------------------------------------------


def split_words(text: str) -> list[str]:
    """Pieces that concatenate back to the text exactly: each word with the whitespace after it."""
    return _PIECES.findall(text)


def count_words(text: str) -> int:
    return len(text.split())


def _example(schema: dict[str, Any]) -> Any:
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: _example(v) for k, v in props.items() if k in (schema.get("required") or list(props))}
    return {"string": "example", "number": 1.5, "integer": 1, "boolean": True, "array": []}.get(str(kind))


@dataclass(frozen=True, slots=True)
class Reply:
    text: str | None
    tool_use: dict[str, Any] | None
    stop_reason: str
    input_tokens: int
    output_tokens: int
    reasoning: str | None = None  # a reasoningContent block before the text; its words count as output tokens


def _validate_converse(body: Any) -> None:
    if not isinstance(body, dict):
        raise BedrockFault(400, "SerializationException", "Start of structure or map found where not expected.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BedrockFault(400, "ValidationException", "A conversation must start with a user message.")
    tool_blocks = False
    for i, message in enumerate(messages):
        expected = "user" if i % 2 == 0 else "assistant"
        if message.get("role") != expected:
            raise BedrockFault(
                400,
                "ValidationException",
                "A conversation must alternate between user and assistant roles. Make sure the conversation "
                "alternates between user and assistant roles and try again.",
            )
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise BedrockFault(
                400, "ValidationException", f"The content field in the Message object at messages.{i} is empty."
            )
        for j, block in enumerate(content):
            if "text" in block and not block["text"].strip():
                raise BedrockFault(
                    400,
                    "ValidationException",
                    f"The text field in the ContentBlock object at messages.{i}.content.{j} is blank. Add text to "
                    "the text field, and try again.",
                )
            if "toolUse" in block or "toolResult" in block:
                tool_blocks = True
            if "image" in block:
                image = block["image"]
                if image.get("format") not in ("png", "jpeg", "gif", "webp"):
                    raise BedrockFault(400, "ValidationException", "Invalid image format.")
                try:
                    base64.b64decode(image["source"]["bytes"], validate=True)
                except (KeyError, binascii.Error) as exc:
                    raise BedrockFault(400, "SerializationException", "Invalid Base64 bytes for image.") from exc
    if tool_blocks and not (body.get("toolConfig") or {}).get("tools"):
        raise BedrockFault(
            400,
            "ValidationException",
            "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
        )
    for i, block in enumerate(body.get("system") or []):
        if "text" in block and not block["text"]:
            raise BedrockFault(400, "ValidationException", f"The text field in system.{i} is empty.")


def _input_tokens(body: dict[str, Any]) -> int:
    total = sum(count_words(block.get("text", "")) for block in body.get("system") or [])
    for message in body["messages"]:
        for block in message["content"]:
            if "text" in block:
                total += count_words(block["text"])
            elif "toolUse" in block:
                total += count_words(orjson.dumps(block["toolUse"]["input"]).decode())
            elif "toolResult" in block:
                total += sum(count_words(c.get("text", "")) for c in block["toolResult"]["content"])
            elif "image" in block:
                total += 10
    return total


def converse_reply(body: dict[str, Any], reasoning: str | None = None) -> Reply:
    _validate_converse(body)
    input_tokens = _input_tokens(body)
    last = body["messages"][-1]
    tool_config = body.get("toolConfig") or {}
    results = [block["toolResult"] for block in last["content"] if "toolResult" in block]
    if last["role"] == "user" and results:
        said = " ".join(c["text"] for r in results for c in r["content"] if "text" in c)
        return _text_reply(body, f"The tool answered: {said}", input_tokens, reasoning)
    specs = [tool["toolSpec"] for tool in tool_config.get("tools") or [] if "toolSpec" in tool]
    if specs:
        wanted = ((tool_config.get("toolChoice") or {}).get("tool") or {}).get("name")
        spec = next((s for s in specs if s["name"] == wanted), specs[0])
        tool_input = _example(spec["inputSchema"]["json"]) or {}
        digest = hashlib.sha256(orjson.dumps(body["messages"])).hexdigest()[:22]
        use = {"toolUseId": f"tooluse_{digest}", "name": spec["name"], "input": tool_input}
        pieces = split_arguments(orjson.dumps(tool_input).decode())
        return Reply(None, use, "tool_use", input_tokens, len(pieces))
    texts = [block["text"] for block in last["content"] if "text" in block]
    images = [block["image"] for block in last["content"] if "image" in block]
    text = "You said: " + " ".join(texts)
    for image in images:
        size = len(base64.b64decode(image["source"]["bytes"]))
        text += f" (and an image: {image['format']}, {size} bytes)"
    return _text_reply(body, text, input_tokens, reasoning)


def _text_reply(body: dict[str, Any], text: str, input_tokens: int, reasoning: str | None) -> Reply:
    if "outputConfig" in body:
        text = orjson.dumps({"reply": text}).decode()
    config = body.get("inferenceConfig") or {}
    stop_reason = "end_turn"
    for stop in config.get("stopSequences") or []:
        if stop in text:
            text, stop_reason = text[: text.index(stop)], "stop_sequence"
    limit = config.get("maxTokens")
    if isinstance(limit, int) and count_words(text) > limit:
        text, stop_reason = "".join(split_words(text)[:limit]).rstrip(), "max_tokens"
    output_tokens = count_words(text) + count_words(reasoning or "")
    return Reply(text, None, stop_reason, input_tokens, output_tokens, reasoning)


def split_arguments(arguments: str) -> list[str]:
    size = max(1, min(7, len(arguments) // 3))
    return [arguments[i : i + size] for i in range(0, len(arguments), size)]


def usage_of(reply: Reply, cache_read: int, cache_write: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "inputTokens": reply.input_tokens,
        "outputTokens": reply.output_tokens,
        "totalTokens": reply.input_tokens + reply.output_tokens + cache_read + cache_write,
    }
    if cache_read or cache_write:
        usage["cacheReadInputTokens"] = cache_read
        usage["cacheWriteInputTokens"] = cache_write
    return usage


def converse_answer(reply: Reply, cache_read: int = 0, cache_write: int = 0) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    if reply.reasoning is not None:
        content.append({"reasoningContent": {"reasoningText": {"text": reply.reasoning, "signature": "c2lnbmF0dXJl"}}})
    if reply.text is not None:
        content.append({"text": reply.text})
    if reply.tool_use is not None:
        content.append({"toolUse": reply.tool_use})
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": reply.stop_reason,
        "usage": usage_of(reply, cache_read, cache_write),
        "metrics": {"latencyMs": 321},
    }


def converse_events(reply: Reply, cache_read: int = 0, cache_write: int = 0) -> list[tuple[str, dict[str, Any]]]:
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"p": PADDING[:17], "role": "assistant"})]
    if reply.tool_use is not None:
        use = reply.tool_use
        events.append(
            (
                "contentBlockStart",
                {
                    "contentBlockIndex": 0,
                    "p": PADDING[:5],
                    "start": {"toolUse": {"name": use["name"], "toolUseId": use["toolUseId"]}},
                },
            )
        )
        for piece in split_arguments(orjson.dumps(use["input"]).decode()):
            events.append(
                (
                    "contentBlockDelta",
                    {"contentBlockIndex": 0, "delta": {"toolUse": {"input": piece}}, "p": PADDING[:9]},
                )
            )
    else:
        index = 0
        if reply.reasoning is not None:
            for word in split_words(reply.reasoning):
                delta = {"reasoningContent": {"text": word}}
                events.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": delta, "p": PADDING[:6]}))
            signature = {"reasoningContent": {"signature": "c2lnbmF0dXJl"}}
            events.append(("contentBlockDelta", {"contentBlockIndex": 0, "delta": signature, "p": PADDING[:6]}))
            events.append(("contentBlockStop", {"contentBlockIndex": 0, "p": PADDING[:21]}))
            index = 1
        for word in split_words(reply.text or ""):
            delta = {"text": word}
            events.append(("contentBlockDelta", {"contentBlockIndex": index, "delta": delta, "p": PADDING[:13]}))
    last_block = 1 if reply.tool_use is None and reply.reasoning is not None else 0
    events.append(("contentBlockStop", {"contentBlockIndex": last_block, "p": PADDING[:21]}))
    events.append(("messageStop", {"p": PADDING[:3], "stopReason": reply.stop_reason}))
    events.append(
        (
            "metadata",
            {"metrics": {"latencyMs": 321}, "p": PADDING[:8], "usage": usage_of(reply, cache_read, cache_write)},
        )
    )
    return events


def embedding_vector(text: str, dimensions: int) -> list[float]:
    raw = struct.unpack(f"<{dimensions}I", hashlib.shake_256(text.encode()).digest(4 * dimensions))
    centred = [value / 2**31 - 1.0 for value in raw]
    norm = sum(value * value for value in centred) ** 0.5 or 1.0
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in centred))))


def invoke_answer(model: str, body: Any) -> tuple[dict[str, Any], int]:
    """(answer, input token count) of an InvokeModel call to an embedding model."""
    if not isinstance(body, dict):
        raise BedrockFault(
            400, "ValidationException", "Malformed input request, please reformat your input and try again."
        )
    if "cohere.embed" in model:
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or len(texts) > 96 or "input_type" not in body:
            raise BedrockFault(
                400,
                "ValidationException",
                "Malformed input request: #: required key [input_type] not found or #/texts: expected 1-96 items, "
                "please reformat your input and try again.",
            )
        answer = {
            "embeddings": [embedding_vector(t, 1024) for t in texts],
            "id": str(uuid.UUID(bytes=hashlib.md5(orjson.dumps(texts)).digest())),
            "response_type": "embeddings_floats",
            "texts": [t.lower() for t in texts],
        }
        return answer, sum(count_words(t) for t in texts)
    if "amazon.titan-embed-text" in model:
        text = body.get("inputText")
        allowed = {"inputText", "dimensions", "normalize", "embeddingTypes"} if "v2" in model else {"inputText"}
        if not isinstance(text, str) or not text or set(body) - allowed:
            raise BedrockFault(
                400, "ValidationException", "Malformed input request, please reformat your input and try again."
            )
        dimensions = body.get("dimensions", 1024 if "v2" in model else 1536)
        if dimensions not in (256, 512, 1024, 1536) or ("v2" in model and dimensions == 1536):
            raise BedrockFault(
                400,
                "ValidationException",
                f"Malformed input request: #/dimensions: {dimensions} is not a valid enum value",
            )
        vector = embedding_vector(text, dimensions)
        tokens = count_words(text)
        answer: dict[str, Any] = {"embedding": vector, "inputTextTokenCount": tokens}
        if "v2" in model:
            answer["embeddingsByType"] = {"float": vector}
        return answer, tokens
    if "amazon.titan-image-generator" in model:
        return titan_image_answer(body), 0
    if model.startswith(("stability.", "us.stability.")):
        return stability_answer(body), 0
    raise BedrockFault(400, "ValidationException", "The provided model identifier is invalid.")


TITAN_SIZES = {(1024, 1024), (768, 768), (512, 512), (1152, 640), (1280, 768), (1536, 640), (640, 1152)}


def titan_image_answer(body: dict[str, Any]) -> dict[str, Any]:
    """Titan Image Generator's TEXT_IMAGE: ``numberOfImages`` images (their bytes name the prompt, size and index),
    refused as Bedrock refuses a size Titan does not make; a prompt saying ``forbidden`` is blocked (400)."""
    config = body.get("imageGenerationConfig") or {}
    text = (body.get("textToImageParams") or {}).get("text")
    size = (config.get("width"), config.get("height"))
    if body.get("taskType") != "TEXT_IMAGE" or not isinstance(text, str) or size not in TITAN_SIZES:
        raise BedrockFault(400, "ValidationException", "Malformed input request, please reformat your input.")
    if "forbidden" in text:
        raise BedrockFault(400, "ValidationException", "This request has been blocked by our content filters.")
    count = config.get("numberOfImages", 1)
    images = [base64.b64encode(f"titan:{text}:{size[0]}x{size[1]}:{i}".encode()).decode() for i in range(count)]
    return {"images": images, "error": None}


def stability_answer(body: dict[str, Any]) -> dict[str, Any]:
    """Stability's text-to-image: one image; a prompt saying ``forbidden`` comes back filtered (a finish reason)."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or set(body) - {"prompt", "mode", "aspect_ratio", "output_format", "seed"}:
        raise BedrockFault(400, "ValidationException", "Malformed input request, please reformat your input.")
    image = base64.b64encode(f"stability:{prompt}:{body.get('aspect_ratio')}".encode()).decode()
    reason = "Filter reason: prompt" if "forbidden" in prompt else None
    return {"seeds": [42], "finish_reasons": [reason], "images": [image]}
