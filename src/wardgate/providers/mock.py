"""``type: mock``: a provider that answers locally and deterministically, in the OpenAI wire format.

For the demo config (``make run`` works with no provider account and no network), for client integration tests and
for load tests of the gateway itself. It answers every operation: chat (with tool calls built from the tools' JSON
schemas, JSON mode, ``n``, ``max_tokens``, ``stop``), streaming (one chunk per word, usage chunk on request),
legacy completions and embeddings (unit vectors derived from a hash of the input, float or base64).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import struct
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from wardgate.config.schema import TimeoutsConfig
from wardgate.core.call import Call, Chunk, ChunkStream, Result
from wardgate.core.usage import Usage
from wardgate.providers import registry


class MockConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    embedding_dim: Annotated[int, Field(gt=0, le=8192)] = 256
    latency_ms: Annotated[float, Field(ge=0)] = 0.0  # added before every answer, to imitate a real provider
    timeouts: TimeoutsConfig = TimeoutsConfig()


def estimate_tokens(text: str) -> int:
    """About four characters a token, the usual rule of thumb for English."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p.get("text", "[image]") for p in content if isinstance(p, dict))
    return ""


def _example(schema: dict[str, Any]) -> Any:
    kind = schema.get("type")
    if "enum" in schema and schema["enum"]:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties") or {}
        return {k: _example(v) for k, v in props.items() if k in (schema.get("required") or list(props))}
    return {"string": "example", "number": 1.0, "integer": 1, "boolean": True, "array": []}.get(str(kind))


def _tool_calls(body: dict[str, Any]) -> list[dict[str, Any]] | None:
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    choice = body.get("tool_choice", "auto")
    messages = body.get("messages") or []
    if not tools or choice == "none" or (messages and messages[-1].get("role") == "tool"):
        return None
    if isinstance(choice, dict):
        wanted = choice.get("function", {}).get("name")
        tools = [t for t in tools if t["function"]["name"] == wanted] or tools[:1]
    elif body.get("parallel_tool_calls") is False:
        tools = tools[:1]
    calls = []
    for i, tool in enumerate(tools):
        fn = tool["function"]
        args = _example(fn.get("parameters") or {"type": "object"}) or {}
        digest = hashlib.sha256(f"{fn['name']}{i}".encode()).hexdigest()[:24]
        calls.append(
            {
                "id": f"call_{digest}",
                "type": "function",
                "function": {"name": fn["name"], "arguments": orjson.dumps(args).decode()},
            }
        )
    return calls


def _reply(body: dict[str, Any]) -> tuple[str, str]:
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        text = f"The tool answered: {message_text(last)}"
    else:
        users = [m for m in messages if m.get("role") == "user"]
        said = message_text(users[-1]) if users else ""
        text = f"Hello from Wardgate's mock provider. You said: {said}"
    fmt = (body.get("response_format") or {}).get("type")
    if fmt in ("json_object", "json_schema"):
        text = orjson.dumps({"reply": text}).decode()
    finish = "stop"
    stops = body.get("stop")
    for stop in [stops] if isinstance(stops, str) else stops or []:
        if stop and stop in text:
            text = text[: text.index(stop)]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if isinstance(limit, int) and estimate_tokens(text) > limit:
        text, finish = text[: limit * 4], "length"
    return text, finish


def _prompt_tokens(body: dict[str, Any]) -> int:
    return sum(estimate_tokens(message_text(m)) + 3 for m in body.get("messages") or [])


class MockAdapter:
    def __init__(self, name: str, config: MockConfig) -> None:
        self.name = name
        self.type = "mock"
        self.config = config

    def supports(self, operation: str) -> bool:
        return True

    async def _wait(self) -> None:
        if self.config.latency_ms:
            await asyncio.sleep(self.config.latency_ms / 1000)

    async def send(self, call: Call) -> Result:
        await self._wait()
        if call.operation == "embeddings":
            body = self._embeddings(call)
        elif call.operation == "completions":
            body = self._completion(call)
        else:
            body = self._chat(call)
        call.usage = Usage.from_openai(body["usage"])
        return Result.of(body)

    def _chat(self, call: Call) -> dict[str, Any]:
        calls = _tool_calls(call.body)
        text, finish = _reply(call.body)
        n = int(call.body.get("n") or 1)
        message: dict[str, Any] = {"role": "assistant", "content": None if calls else text, "refusal": None}
        if calls:
            message["tool_calls"] = calls
            finish = "tool_calls"
        out_tokens = sum(estimate_tokens(c["function"]["arguments"]) for c in calls) if calls else estimate_tokens(text)
        usage = Usage(input_tokens=_prompt_tokens(call.body), output_tokens=out_tokens * n)
        return {
            "id": f"chatcmpl-mock{call.id[:20]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": call.body.get("model"),
            "system_fingerprint": "fp_wardgate_mock",
            "choices": [{"index": i, "message": message, "logprobs": None, "finish_reason": finish} for i in range(n)],
            "usage": usage.to_openai(),
        }

    def _completion(self, call: Call) -> dict[str, Any]:
        prompt = call.body.get("prompt")
        text = prompt if isinstance(prompt, str) else " ".join(p for p in prompt or [] if isinstance(p, str))
        reply = f" Hello from Wardgate's mock provider. You wrote: {text}"
        usage = Usage(input_tokens=estimate_tokens(text), output_tokens=estimate_tokens(reply))
        return {
            "id": f"cmpl-mock{call.id[:20]}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": call.body.get("model"),
            "choices": [{"index": 0, "text": reply, "logprobs": None, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "total_tokens": usage.total_tokens,
            },
        }

    def _embeddings(self, call: Call) -> dict[str, Any]:
        raw = call.body.get("input")
        inputs = [raw] if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)) else raw
        dim = int(call.body.get("dimensions") or self.config.embedding_dim)
        b64 = call.body.get("encoding_format") == "base64"
        data, tokens = [], 0
        for i, item in enumerate(inputs or []):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            tokens += estimate_tokens(text) if isinstance(item, str) else len(item)
            vector = _vector(text, dim)
            value: Any = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode() if b64 else vector
            data.append({"object": "embedding", "index": i, "embedding": value})
        return {
            "object": "list",
            "data": data,
            "model": call.body.get("model"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }

    async def open_stream(self, call: Call) -> ChunkStream:
        result = await self.send(call)
        return self._stream(call, result.body)

    async def _stream(self, call: Call, body: dict[str, Any]) -> AsyncIterator[list[Chunk]]:
        chat = call.operation == "chat"
        base = {
            "id": body["id"],
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": body["created"],
            "model": body["model"],
        }
        if chat:
            base["system_fingerprint"] = body["system_fingerprint"]
        batch: list[Chunk] = []
        for choice in body["choices"]:
            i = choice["index"]
            if not chat:
                for word in _words(choice["text"]):
                    batch.append(Chunk({**base, "choices": [{"index": i, "text": word, "finish_reason": None}]}))
            else:
                message = choice["message"]
                batch.append(
                    Chunk(
                        {
                            **base,
                            "choices": [
                                {
                                    "index": i,
                                    "delta": {"role": "assistant", "content": ""},
                                    "finish_reason": None,
                                }
                            ],
                        }
                    )
                )
                for word in _words(message["content"] or ""):
                    batch.append(
                        Chunk(
                            {
                                **base,
                                "choices": [{"index": i, "delta": {"content": word}, "finish_reason": None}],
                            }
                        )
                    )
                for k, tc in enumerate(message.get("tool_calls") or []):
                    args = tc["function"]["arguments"]
                    head = {
                        "index": k,
                        "id": tc["id"],
                        "type": "function",
                        "function": {"name": tc["function"]["name"], "arguments": ""},
                    }
                    batch.append(
                        Chunk(
                            {
                                **base,
                                "choices": [{"index": i, "delta": {"tool_calls": [head]}, "finish_reason": None}],
                            }
                        )
                    )
                    for part in (args[: len(args) // 2], args[len(args) // 2 :]):
                        delta = {"tool_calls": [{"index": k, "function": {"arguments": part}}]}
                        batch.append(Chunk({**base, "choices": [{"index": i, "delta": delta, "finish_reason": None}]}))
            finish = {"index": i, "finish_reason": choice["finish_reason"]}
            finish["delta" if chat else "text"] = {} if chat else ""
            batch.append(Chunk({**base, "choices": [finish]}))
        yield batch
        options = call.body.get("stream_options") or {}
        if options.get("include_usage"):
            usage = Usage.from_openai(body["usage"])
            yield [Chunk({**base, "choices": [], "usage": body["usage"]}, usage=usage)]


def _words(text: str) -> list[str]:
    words = text.split(" ")
    return [w if i == 0 else " " + w for i, w in enumerate(words)] if text else []


def _vector(text: str, dim: int) -> list[float]:
    seed = hashlib.sha256(text.encode()).digest()
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        block = hashlib.sha256(seed + counter.to_bytes(4, "little")).digest()
        values.extend((b - 127.5) / 127.5 for b in block)
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


registry.add(
    "mock",
    MockConfig,
    lambda name, config, http: MockAdapter(name, config),
    "built-in deterministic provider (demo, tests, load tests)",
    operations=("chat", "completions", "embeddings"),
)
