"""A real HTTP fake of Google's Gemini API, in both of its homes, and of Google's OAuth token endpoint, on loopback.

It serves from its own event loop in a background thread, so sync and async clients alike can call it, and records
every model request (`requests`) and every token request (`token_requests`).

Routes:
- Google AI Studio: `POST /v1beta/models/{model}:generateContent | :streamGenerateContent | :embedContent |
  :batchEmbedContents`, authenticated by the `x-goog-api-key` header (missing: 403 PERMISSION_DENIED; wrong: 400
  INVALID_ARGUMENT with reason API_KEY_INVALID, as Google answers).
- Vertex AI: `POST /v1/projects/{p}/locations/{l}/publishers/google/models/{model}:generateContent |
  :streamGenerateContent | :predict`, authenticated by `Authorization: Bearer <a token this fake issued>` (else 401
  UNAUTHENTICATED).
- `POST /token`: the service-account JWT-bearer grant. The assertion must be an RS256 JWT signed by a key registered
  with `write_service_account`, with `aud` = this URL, the cloud-platform scope and a lifetime of at most an hour;
  the answer is `{"access_token": "ya29.fake-<n>", "expires_in": token_lifetime, "token_type": "Bearer"}`, else
  400 `{"error": "invalid_grant", …}`. Verified claims are kept in `assertions`.
`streamGenerateContent` needs `alt=sse` (as used by every SDK); events are framed `data: <json>\\r\\n\\r\\n` as
Google sends them.

Each model request goes through, in order: recording; the next scripted answer, if any (`enqueue`);
authentication; the failure mode named by the model; validation (rules the real API enforces that translation can
get wrong, e.g. unknown fields are 400 "Unknown name"); the normal answer.

Failure modes, by model name: `error-<status>` for 400, 403, 404, 429, 500, 503 (Google's error body; 429 carries
`RetryInfo` with `retryDelay: "7s"` and, as Google does, no retry-after header); `blocked` (200, no candidates,
`promptFeedback.blockReason: SAFETY`); `safety` (a candidate stopped with finishReason SAFETY); for streams,
`error-stream` (two events, then an error event) and `reset-stream` (two events, then the connection drops).

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

import asyncio
import base64
import itertools
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from multidict import CIMultiDict

from tests.fakes.openai_logic import embedding_vector, split_words

_GEMINI = re.compile(
    r"/v1beta/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent|embedContent|batchEmbedContents)"
)
_VERTEX = re.compile(
    r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/publishers/google/models/(?P<model>[^/:]+)"
    r":(?P<method>generateContent|streamGenerateContent|predict)"
)
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
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class BadRequest(Exception):
    """A request the real API refuses with 400 INVALID_ARGUMENT."""


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    json: Any
    body: bytes


@dataclass(frozen=True, slots=True)
class _Scripted:
    status: int
    body: bytes
    headers: CIMultiDict[str]


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


# --- the server ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Accounts:
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)


class FakeGemini:
    def __init__(
        self,
        api_key: str = "AIzaFakeUpstreamKey0000000000000000000",
        *,
        embedding_dim: int = 8,
        cached_tokens: int = 0,
        thoughts_tokens: int = 0,
        thought_signature: str | None = None,
        token_lifetime: int = 3600,
    ) -> None:
        self.api_key = api_key
        self.embedding_dim = embedding_dim
        self.cached_tokens = cached_tokens
        self.thoughts_tokens = thoughts_tokens
        self.thought_signature = thought_signature
        self.token_lifetime = token_lifetime
        self.requests: list[RecordedRequest] = []
        self.token_requests: list[RecordedRequest] = []
        self.assertions: list[dict[str, Any]] = []  # verified JWT claims
        self.issued_tokens: list[str] = []
        self._accounts = _Accounts()
        self._script: deque[_Scripted] = deque()
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._port: int | None = None

    # --- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> FakeGemini:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="fake-gemini", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._open(), loop).result(timeout=30)
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()
            self._loop = self._thread = self._runner = None

    def __enter__(self) -> FakeGemini:
        return self if self._thread is not None else self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def _open(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self._port = runner.addresses[0][1]

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def root_url(self) -> str:
        assert self._port is not None, "FakeGemini is not started"
        return f"http://127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        """The Gemini API base URL (``base_url`` of a ``type: gemini`` provider)."""
        return f"{self.root_url}/v1beta"

    @property
    def vertex_url(self) -> str:
        """The Vertex AI base URL (``base_url`` of a ``type: vertex`` provider)."""
        return f"{self.root_url}/v1"

    @property
    def token_url(self) -> str:
        return f"{self.root_url}/token"

    # --- scripting and observation --------------------------------------------------------------------

    def write_service_account(
        self, path: Path, client_email: str = "wardgate@fake-project.iam.gserviceaccount.com"
    ) -> Path:
        """A fresh RSA key, registered here, written as a service-account key file whose token_uri is this fake."""
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self._accounts.keys[client_email] = key.public_key()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        document = {
            "type": "service_account",
            "project_id": "fake-project",
            "private_key_id": "fakekeyid0001",
            "private_key": pem,
            "client_email": client_email,
            "client_id": "100000000000000000001",
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_url,
        }
        path.write_bytes(orjson.dumps(document))
        return path

    def enqueue(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None) -> None:
        """Answer the next model request (before authentication) with this instead of the normal answer."""
        raw = orjson.dumps(body) if isinstance(body, dict) else body.encode()
        merged = CIMultiDict({"content-type": "application/json" if isinstance(body, dict) else "text/plain"})
        merged.update(headers or {})
        self._script.append(_Scripted(status, raw, merged))

    def reset(self) -> None:
        self.requests.clear()
        self.token_requests.clear()
        self.assertions.clear()
        self._script.clear()

    @property
    def last(self) -> RecordedRequest:
        return self.requests[-1]

    # --- serving --------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            payload = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            payload = None
        recorded = RecordedRequest(
            request.method,
            request.path,
            dict(request.query),
            {k.lower(): v for k, v in request.headers.items()},
            payload,
            raw,
        )
        if request.path == "/token" and request.method == "POST":
            self.token_requests.append(recorded)
            return self._token(raw)
        self.requests.append(recorded)
        if self._script:
            scripted = self._script.popleft()
            return web.Response(status=scripted.status, body=scripted.body, headers=scripted.headers)
        gemini = _GEMINI.fullmatch(request.path)
        vertex = _VERTEX.fullmatch(request.path)
        match = gemini or vertex
        if request.method != "POST" or match is None:
            return _json(404, error_body(404, f"Method not found: {request.method} {request.path}"))
        denied = self._authenticate_key(request) if gemini else self._authenticate_token(request)
        if denied is not None:
            return denied
        model, method = match.group("model"), match.group("method")
        try:
            return await self._answer(request, model, method, payload, vertex=vertex is not None)
        except BadRequest as exc:
            return _json(400, error_body(400, str(exc)))

    def _authenticate_key(self, request: web.Request) -> web.Response | None:
        presented = request.headers.get("x-goog-api-key")
        if presented is None:
            message = (
                "Method doesn't allow unregistered callers (callers without established identity). Please use API "
                "Key or other form of API consumer identity to call this API."
            )
            return _json(403, error_body(403, message))
        if presented != self.api_key:
            details = [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ]
            return _json(400, error_body(400, "API key not valid. Please pass a valid API key.", details))
        return None

    def _authenticate_token(self, request: web.Request) -> web.Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token in self.issued_tokens:
            return None
        message = (
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
            "valid authentication credential."
        )
        return _json(401, error_body(401, message))

    def _token(self, raw: bytes) -> web.Response:
        form = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
        if form.get("grant_type") != JWT_GRANT:
            return _json(400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type."})
        claims = self._verify(form.get("assertion", ""))
        if claims is None:
            return _json(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
        self.assertions.append(claims)
        token = f"ya29.fake-{next(self._ids)}"
        self.issued_tokens.append(token)
        return _json(200, {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"})

    def _verify(self, assertion: str) -> dict[str, Any] | None:
        pieces = assertion.split(".")
        if len(pieces) != 3:
            return None
        try:
            header, claims = (orjson.loads(_unb64(p)) for p in pieces[:2])
            signature = _unb64(pieces[2])
        except (ValueError, orjson.JSONDecodeError):
            return None
        key = self._accounts.keys.get(claims.get("iss", ""))
        if header.get("alg") != "RS256" or key is None:
            return None
        try:
            key.verify(signature, f"{pieces[0]}.{pieces[1]}".encode(), padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            return None
        now = time.time()
        iat, exp = claims.get("iat", 0), claims.get("exp", 0)
        if claims.get("aud") != self.token_url or SCOPE not in str(claims.get("scope", "")).split():
            return None
        if not (iat - 300 <= now <= exp) or exp - iat > 3600:
            return None
        return {"header": header, **claims}

    async def _answer(
        self, request: web.Request, model: str, method: str, payload: Any, *, vertex: bool
    ) -> web.StreamResponse:
        failure = _failure(model)
        if failure is not None:
            return failure
        if method in ("embedContent", "batchEmbedContents", "predict"):
            return _json(200, self._embeddings(model, method, payload))
        validate(payload, self.thought_signature)
        meta = Meta(model, f"fake-resp-{next(self._ids)}", self.cached_tokens, self.thoughts_tokens)
        if model == "blocked":
            blocked = {
                "promptFeedback": {
                    "blockReason": "SAFETY",
                    "safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH"}],
                },
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens(payload),
                    "totalTokenCount": prompt_tokens(payload),
                },
                "modelVersion": model,
            }
            if method == "streamGenerateContent":
                return await self._stream(request, [blocked], model)
            return _json(200, blocked)
        if method == "generateContent":
            answer = generate(payload, meta, self.thought_signature)
            if model == "safety":
                for candidate in answer["candidates"]:
                    candidate["finishReason"] = "SAFETY"
                    candidate.pop("content", None)
            return _json(200, answer)
        if request.query.get("alt") != "sse":
            return _json(200, [generate(payload, meta, self.thought_signature)])
        events = stream_events(payload, meta, self.thought_signature)
        if model == "safety":
            events = events[:1] + [{**events[-1], "candidates": [{"finishReason": "SAFETY"}]}]
        return await self._stream(request, events, model)

    def _embeddings(self, model: str, method: str, payload: Any) -> dict[str, Any]:
        if not isinstance(payload, dict):
            raise BadRequest("Invalid JSON payload received.")
        if method == "predict":
            dims = (payload.get("parameters") or {}).get("outputDimensionality") or self.embedding_dim
            predictions = []
            for instance in payload.get("instances") or []:
                text = instance["content"]
                statistics = {"truncated": False, "token_count": len(text.split())}
                predictions.append({"embeddings": {"values": embedding_vector(text, dims), "statistics": statistics}})
            chars = sum(len(i["content"]) for i in payload.get("instances") or [])
            return {"predictions": predictions, "metadata": {"billableCharacterCount": chars}}
        requests = [payload] if method == "embedContent" else payload.get("requests") or []
        vectors = []
        for item in requests:
            if method == "batchEmbedContents" and item.get("model") != f"models/{model}":
                raise BadRequest(f"Model name {item.get('model')} in batch request does not match models/{model}.")
            text = content_text(item.get("content") or {})
            vectors.append({"values": embedding_vector(text, item.get("outputDimensionality") or self.embedding_dim)})
        return {"embedding": vectors[0]} if method == "embedContent" else {"embeddings": vectors}

    async def _stream(self, request: web.Request, events: list[dict[str, Any]], model: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream", "x-fake": "gemini"})
        await response.prepare(request)
        if model in ("error-stream", "reset-stream"):
            for event in events[:2]:
                await response.write(_sse(event))
            if model == "reset-stream":
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write(_sse(error_body(500)))
            await response.write_eof()
            return response
        for event in events:
            await response.write(_sse(event))
        await response.write_eof()
        return response


def _failure(model: str) -> web.Response | None:
    if not model.startswith("error-") or model in ("error-stream",):
        return None
    status = int(model.removeprefix("error-"))
    if status == 429:
        return _json(429, rate_limit_body())
    return _json(status, error_body(status))


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\r\n\r\n"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, body=orjson.dumps(body), headers={"content-type": "application/json", **(headers or {})}
    )
