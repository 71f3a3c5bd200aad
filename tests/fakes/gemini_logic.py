"""What the fake Gemini API answers: pure, deterministic builders of Gemini wire bodies (no I/O).

The server (routes, authentication, failure modes, the OAuth token endpoint) is `gemini`.

The answer (`reply`), first rule that applies:
1. the last turn holds `functionResponse` parts: "tool said: " + the first one's `response` as compact JSON;
2. `tools` declare functions and `toolConfig.functionCallingConfig.mode` is not NONE: `functionCall`s of the
   `allowedFunctionNames` if given, else of the first declaration, with each `required` property of its
   `parametersJsonSchema` filled by type (string "x", number/integer 1, boolean true, array [], object {}; the
   first `enum` value if any); each carries `thoughtSignature` when the fake is configured with one, and a
   request whose history holds a functionCall without that signature is refused as Gemini 3 refuses it;
3. `responseMimeType: application/json`: `{"echo": "<last user text>"}`;
4. "echo: " + the last user turn's text (text parts joined by a space; media "[image]" or "[media]").
`stopSequences` cut a text reply before the earliest one; `maxOutputTokens` keeps that many words (MAX_TOKENS).
`candidateCount` candidates, all alike; `index` is omitted when 0, as proto3 JSON omits it.

Usage: promptTokenCount = Σ over the system instruction and contents of (3 + words) + the configured
`cached_tokens` (Google counts cached tokens inside the prompt and again in cachedContentTokenCount);
candidatesTokenCount = Σ over candidates of the reply's words (a function call counts 1 + its number of args);
thoughtsTokenCount = the configured `thoughts_tokens`. Streams put a prompt-only usageMetadata on every event and
the full one on the last. Embeddings: `openai_logic.embedding_vector` of each text; Vertex reports
`statistics.token_count` = words, the Gemini API no token counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from tests.fakes.openai_logic import split_words

_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_MESSAGES = {
    400: "Request contains an invalid argument.",
    403: "Permission denied on resource project fake.",
    404: "models/error-404 is not found for API version v1beta, or is not supported for generateContent.",
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_ARGUMENT_BY_TYPE: dict[str, Any] = {
    "string": "x",
    "number": 1,
    "integer": 1,
    "boolean": True,
    "array": [],
    "object": {},
}
_GENERATION_FIELDS = frozenset(
    {
        "temperature",
        "topP",
        "topK",
        "candidateCount",
        "maxOutputTokens",
        "stopSequences",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseLogprobs",
        "logprobs",
        "thinkingConfig",
        "mediaResolution",
    }
)
_REQUEST_FIELDS = frozenset(
    {"contents", "systemInstruction", "tools", "toolConfig", "generationConfig", "safetySettings"}
)
_PART_FIELDS = frozenset({"text", "inlineData", "fileData", "functionCall", "functionResponse"})


class BadRequest(Exception):
    """A request the real API refuses with 400 INVALID_ARGUMENT."""


# --- the answers (pure) -------------------------------------------------------------------------------


def error_body(status: int, message: str | None = None, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {
        "code": status,
        "message": message or _MESSAGES.get(status, "Error."),
        "status": _STATUS.get(status, "UNKNOWN"),
    }
    if details:
        error["details"] = details
    return {"error": error}


def rate_limit_body() -> dict[str, Any]:
    return error_body(
        429,
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_requests"}],
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "7s"},
        ],
    )


def part_text(part: dict[str, Any]) -> str:
    if "text" in part:
        return str(part["text"])
    media = part.get("inlineData") or part.get("fileData")
    if media is not None:
        return "[image]" if str(media.get("mimeType", "")).startswith("image/") else "[media]"
    return ""


def content_text(content: dict[str, Any]) -> str:
    return " ".join(t for t in (part_text(p) for p in content.get("parts") or []) if t)


def prompt_tokens(body: dict[str, Any]) -> int:
    contents = list(body.get("contents") or [])
    if body.get("systemInstruction"):
        contents.append(body["systemInstruction"])
    return sum(3 + len(content_text(c).split()) for c in contents)


def arguments(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties") or {}
    out = {}
    for name in schema.get("required") or []:
        prop = props.get(name) or {}
        out[name] = prop["enum"][0] if prop.get("enum") else _ARGUMENT_BY_TYPE.get(prop.get("type"), "x")
    return out


@dataclass(slots=True)
class Reply:
    parts: list[dict[str, Any]]
    finish: str
    tokens: int  # per candidate


def reply(body: dict[str, Any], signature: str | None = None) -> Reply:
    contents = body.get("contents") or []
    last = contents[-1] if contents else {}
    responses = [p["functionResponse"] for p in last.get("parts") or [] if "functionResponse" in p]
    config = body.get("generationConfig") or {}
    if responses:
        text = "tool said: " + orjson.dumps(responses[0].get("response")).decode()
    else:
        declarations = [d for t in body.get("tools") or [] for d in t.get("functionDeclarations") or []]
        calling = (body.get("toolConfig") or {}).get("functionCallingConfig") or {}
        if declarations and calling.get("mode", "AUTO") != "NONE":
            allowed = calling.get("allowedFunctionNames")
            chosen = [d for d in declarations if d["name"] in allowed] if allowed else declarations[:1]
            parts = []
            for declaration in chosen:
                args = arguments(declaration.get("parametersJsonSchema") or declaration.get("parameters") or {})
                part: dict[str, Any] = {"functionCall": {"name": declaration["name"], "args": args}}
                if signature:
                    part["thoughtSignature"] = signature
                parts.append(part)
            return Reply(parts, "STOP", sum(1 + len(p["functionCall"]["args"]) for p in parts))
        users = [c for c in contents if c.get("role", "user") == "user"]
        said = content_text(users[-1]) if users else ""
        if config.get("responseMimeType") == "application/json":
            text = orjson.dumps({"echo": said}).decode()
        else:
            text = "echo: " + said
    finish = "STOP"
    cuts = [i for i in (text.find(s) for s in config.get("stopSequences") or [] if s) if i >= 0]
    if cuts:
        text = text[: min(cuts)]
    limit = config.get("maxOutputTokens")
    if limit is not None and len(text.split()) > limit:
        text, finish = "".join(split_words(text)[:limit]), "MAX_TOKENS"
    return Reply([{"text": text}], finish, len(text.split()))


def logprobs_result(text: str, top: int) -> dict[str, Any]:
    chosen, tops = [], []
    for position, word in enumerate(split_words(text)):
        logprob = -round(0.01 * (position + 1), 4)
        chosen.append({"token": word, "logProbability": logprob, "tokenId": position})
        alternatives = [{"token": word, "logProbability": logprob, "tokenId": position}]
        alternatives += [
            {"token": f" alt{k}", "logProbability": logprob - k, "tokenId": 1000 + k} for k in range(1, top)
        ]
        tops.append({"candidates": alternatives[: max(top, 0)]})
    return {"topCandidates": tops, "chosenCandidates": chosen}


def validate(body: Any, signature: str | None) -> None:
    if not isinstance(body, dict):
        raise BadRequest("Invalid JSON payload received.")
    for key in body:
        if key not in _REQUEST_FIELDS:
            raise BadRequest(f'Invalid JSON payload received. Unknown name "{key}": Cannot find field.')
    contents = body.get("contents")
    if not contents:
        raise BadRequest("* GenerateContentRequest.contents: contents is not specified")
    for i, content in enumerate(contents):
        if content.get("role", "user") not in ("user", "model"):
            raise BadRequest(f"Please use a valid role: user, model. (contents[{i}])")
        for j, part in enumerate(content.get("parts") or []):
            data = [k for k in part if k in _PART_FIELDS]
            unknown = [k for k in part if k not in _PART_FIELDS and k not in ("thoughtSignature", "thought")]
            if unknown:
                raise BadRequest(
                    f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at 'contents[{i}].parts[{j}]'"
                )
            if len(data) != 1:
                raise BadRequest(f"contents[{i}].parts[{j}]: exactly one data field must be set")
            if "functionResponse" in part and not isinstance(part["functionResponse"].get("response"), dict):
                raise BadRequest(f"contents[{i}].parts[{j}].function_response.response must be an object")
            if "functionCall" in part and signature and part.get("thoughtSignature") != signature:
                raise BadRequest(
                    f"Function call is missing a thought_signature in functionCall parts. This is required for tools"
                    f" to work correctly. Additional data, function call `{part['functionCall'].get('name')}`,"
                    f" position {j + 1}."
                )
    config = body.get("generationConfig") or {}
    for key in config:
        if key not in _GENERATION_FIELDS:
            raise BadRequest(f"Invalid JSON payload received. Unknown name \"{key}\" at 'generation_config'.")
    if "responseJsonSchema" in config and config.get("responseMimeType") != "application/json":
        raise BadRequest("responseJsonSchema needs responseMimeType application/json")
    for tool in body.get("tools") or []:
        for declaration in tool.get("functionDeclarations") or []:
            if not declaration.get("name"):
                raise BadRequest(
                    "* GenerateContentRequest.tools[0].function_declarations[0].name: Name cannot be empty."
                )
            if "parameters" in declaration and "parametersJsonSchema" in declaration:
                raise BadRequest("parameters and parametersJsonSchema are mutually exclusive")


@dataclass(slots=True)
class Meta:
    model: str
    response_id: str
    cached_tokens: int = 0
    thoughts_tokens: int = 0


def usage(body: dict[str, Any], answer: Reply, n: int, meta: Meta) -> dict[str, Any]:
    prompt = prompt_tokens(body) + meta.cached_tokens
    out: dict[str, Any] = {"promptTokenCount": prompt, "candidatesTokenCount": n * answer.tokens}
    total = prompt + n * answer.tokens + meta.thoughts_tokens
    out["totalTokenCount"] = total
    if meta.cached_tokens:
        out["cachedContentTokenCount"] = meta.cached_tokens
    if meta.thoughts_tokens:
        out["thoughtsTokenCount"] = meta.thoughts_tokens
    return out


def _candidate(index: int, parts: list[dict[str, Any]], finish: str | None) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
    if finish:
        candidate["finishReason"] = finish
    if index:
        candidate["index"] = index
    return candidate


def generate(body: dict[str, Any], meta: Meta, signature: str | None) -> dict[str, Any]:
    answer = reply(body, signature)
    config = body.get("generationConfig") or {}
    n = int(config.get("candidateCount") or 1)
    candidates = []
    for index in range(n):
        candidate = _candidate(index, answer.parts, answer.finish)
        if config.get("responseLogprobs"):
            text = "".join(p.get("text", "") for p in answer.parts)
            candidate["logprobsResult"] = logprobs_result(text, int(config.get("logprobs") or 0))
        candidates.append(candidate)
    return {
        "candidates": candidates,
        "usageMetadata": usage(body, answer, n, meta),
        "modelVersion": meta.model,
        "responseId": meta.response_id,
    }


def stream_events(body: dict[str, Any], meta: Meta, signature: str | None) -> list[dict[str, Any]]:
    answer = reply(body, signature)
    n = int((body.get("generationConfig") or {}).get("candidateCount") or 1)
    head = {"modelVersion": meta.model, "responseId": meta.response_id}
    early = {"promptTokenCount": prompt_tokens(body) + meta.cached_tokens}
    pieces: list[list[dict[str, Any]]] = (
        [[{"text": w}] for w in split_words(answer.parts[0]["text"])] or [[{"text": ""}]]
        if "text" in answer.parts[0]
        else [answer.parts]
    )
    events = []
    for k, parts in enumerate(pieces):
        finish = answer.finish if k == len(pieces) - 1 else None
        candidates = [_candidate(index, parts, finish) for index in range(n)]
        events.append({"candidates": candidates, "usageMetadata": early, **head})
    events[-1]["usageMetadata"] = usage(body, answer, n, meta)
    return events
