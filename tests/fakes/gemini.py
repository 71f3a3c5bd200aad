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
  with `write_service_account`, with `aud` = Google's token endpoint `https://oauth2.googleapis.com/token` (as Google
  requires, wherever the key file's `token_uri` sends it), the cloud-platform scope and a lifetime of at most an hour;
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

The answer, its usage and the embeddings: see `gemini_logic`, which builds them. A `:predict` on a model named
`imagen…` is Imagen's image generation (`_imagen`): `sampleCount` images, withheld for a prompt saying `forbidden`.
"""

from __future__ import annotations

import base64
import itertools
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import orjson
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fakes.gemini_logic import (
    BadRequest,
    Meta,
    Reply,
    arguments,
    content_text,
    error_body,
    generate,
    logprobs_result,
    part_text,
    prompt_tokens,
    rate_limit_body,
    reply,
    stream_events,
    usage,
    validate,
)
from tests.fakes.openai_logic import embedding_vector
from tests.fakes.server import LoopbackServer, RecordedRequest, read_request

__all__ = [  # what the fake's users import from here: its own names and, re-exported, the logic's
    "JWT_GRANT",
    "SCOPE",
    "BadRequest",
    "FakeGemini",
    "Meta",
    "RecordedRequest",
    "Reply",
    "arguments",
    "content_text",
    "error_body",
    "generate",
    "logprobs_result",
    "part_text",
    "prompt_tokens",
    "rate_limit_body",
    "reply",
    "stream_events",
    "usage",
    "validate",
]

_GEMINI = re.compile(
    r"/v1beta/models/(?P<model>[^/:]+):(?P<method>generateContent|streamGenerateContent|embedContent|batchEmbedContents|predict)"
)
_VERTEX = re.compile(
    r"/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/publishers/google/models/(?P<model>[^/:]+)"
    r":(?P<method>generateContent|streamGenerateContent|predict)"
)
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # the assertion's aud, whatever URL it is posted to
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(slots=True)
class _Accounts:
    keys: dict[str, rsa.RSAPublicKey] = field(default_factory=dict)


class FakeGemini(LoopbackServer):
    """`url` is the Gemini API base URL (``base_url`` of a ``type: gemini`` provider)."""

    thread_name = "fake-gemini"
    url_path = "/v1beta"
    text_content_type = "text/plain"

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
        super().__init__()
        self.api_key = api_key
        self.embedding_dim = embedding_dim
        self.cached_tokens = cached_tokens
        self.thoughts_tokens = thoughts_tokens
        self.thought_signature = thought_signature
        self.token_lifetime = token_lifetime
        self.token_requests: list[RecordedRequest] = []
        self.assertions: list[dict[str, Any]] = []  # verified JWT claims
        self.issued_tokens: list[str] = []
        self._accounts = _Accounts()
        self._ids = itertools.count(1)

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

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self.token_requests.clear()
            self.assertions.clear()

    # --- serving --------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == "/token" and request.method == "POST":  # neither a model request nor scripted
            recorded = await read_request(request)
            self.token_requests.append(recorded)
            return self._token(recorded.body)
        return await super()._handle(request)

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
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
            return await self._answer(request, model, method, recorded.json, vertex=vertex is not None)
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
        if claims.get("aud") != GOOGLE_TOKEN_AUDIENCE or SCOPE not in str(claims.get("scope", "")).split():
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
        if method == "predict" and model.startswith("imagen"):
            return _json(200, _imagen(payload))
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


def _imagen(payload: Any) -> dict[str, Any]:
    """Imagen's ``:predict``: ``sampleCount`` images (their bytes name the prompt and the index); a prompt with
    ``forbidden`` in it has its every image withheld by the safety filter, ``half-forbidden`` every other one."""
    if not isinstance(payload, dict) or not isinstance((payload.get("instances") or [{}])[0].get("prompt"), str):
        raise BadRequest("Invalid JSON payload received.")
    prompt = payload["instances"][0]["prompt"]
    count = (payload.get("parameters") or {}).get("sampleCount", 4)
    mime = ((payload.get("parameters") or {}).get("outputOptions") or {}).get("mimeType", "image/png")
    predictions: list[dict[str, Any]] = []
    for index in range(count):
        withheld = "half-forbidden" in prompt and index % 2 == 1 or "forbidden" in prompt and "half" not in prompt
        if withheld:
            predictions.append({"raiFilteredReason": "The image was filtered by the fake's safety filter."})
        else:
            image = base64.b64encode(f"{mime}:{prompt}:{index}".encode()).decode()
            predictions.append({"bytesBase64Encoded": image, "mimeType": mime})
    return {"predictions": predictions}


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
