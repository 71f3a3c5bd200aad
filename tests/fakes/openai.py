"""A real HTTP fake of the OpenAI API, and of Azure OpenAI's deployment paths, on loopback.

It serves from its own event loop in a background thread, so sync and async clients alike can call it,
and it records every request. What it answers lives in `openai_logic` and `openai_chat`, where the
deterministic rules are documented; this module is the transport: routing, authentication, failure
modes and the script.

Each request goes through, in order: recording; the next scripted answer, if any (`enqueue`);
authentication (`Authorization: Bearer <key>` on /v1, `api-key` on Azure paths, where a missing
`api-version` query is a 404 first); the failure mode named by the model (the deployment on Azure
paths); the normal answer.

Failure modes, by model name:
- `error-400`, `error-404`, `error-429`, `error-500`, `error-503`: OpenAI's error body with that status;
  429 also carries `retry-after: 7` and `x-ratelimit-*` headers.
- `slow-<ms>`: the normal answer after that many milliseconds.
- `stall`: no answer until the client goes away.
- `stall-stream`: for `stream: true`, the headers and the first chunk, then nothing until the client goes
  away (a non-streaming request gets the normal answer).
- `reset-stream`: for `stream: true`, two chunks and then the connection is dropped mid-body: no final
  chunk, no `[DONE]` (a non-streaming request gets the normal answer).
A client that leaves while the fake is still answering counts in `disconnects` and sets `disconnected`,
so a test can wait on the event instead of sleeping. Connections the fake drops itself do not count.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from tests.fakes import openai_chat as chat
from tests.fakes import openai_logic as logic
from tests.fakes import openai_media as media
from tests.fakes import openai_moderation as moderation
from tests.fakes import openai_realtime_calls as realtime_calls
from tests.fakes import openai_responses as responses
from tests.fakes import rerank_logic
from tests.fakes.server import LoopbackServer, RecordedRequest

_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("POST", re.compile(r"/v1/chat/completions"), "chat"),
    ("POST", re.compile(r"/v1/completions"), "completions"),
    ("POST", re.compile(r"/v1/embeddings"), "embeddings"),
    ("POST", re.compile(r"/v1/moderations"), "moderations"),
    ("POST", re.compile(r"/v1/rerank"), "rerank"),
    ("POST", re.compile(r"/v1/audio/transcriptions"), "transcriptions"),
    ("POST", re.compile(r"/v1/audio/translations"), "translations"),
    ("POST", re.compile(r"/v1/audio/speech"), "speech"),
    ("POST", re.compile(r"/v1/images/generations"), "images"),
    ("POST", re.compile(r"/v1/images/edits"), "image_edits"),
    ("POST", re.compile(r"/v1/images/variations"), "image_variations"),
    ("POST", re.compile(r"/v1/videos"), "videos"),
    ("GET", re.compile(r"/v1/videos"), "video_list"),
    ("GET", re.compile(r"/v1/videos/(?P<video>[^/]+)"), "video"),
    ("DELETE", re.compile(r"/v1/videos/(?P<video>[^/]+)"), "video_delete"),
    ("GET", re.compile(r"/v1/videos/(?P<video>[^/]+)/content"), "video_content"),
    ("POST", re.compile(r"/v1/realtime/client_secrets"), "realtime_secret"),
    ("POST", re.compile(r"/v1/realtime/translations/client_secrets"), "translate_secret"),
    ("POST", re.compile(r"/v1/responses"), "responses"),
    ("POST", re.compile(r"/openai/v1/responses"), "responses"),
    ("POST", re.compile(r"/v1/realtime/calls"), "realtime_call"),
    ("POST", re.compile(r"/v1/realtime/calls/(?P<call>[^/]+)/(?P<action>accept|hangup|refer|reject)"), "call_control"),
    ("GET", re.compile(r"/v1/models"), "models"),
    ("GET", re.compile(r"/v1/models/(?P<model>.+)"), "model"),
    ("POST", re.compile(r"/openai/deployments/(?P<deployment>[^/]+)/chat/completions"), "chat"),
    ("POST", re.compile(r"/openai/deployments/(?P<deployment>[^/]+)/completions"), "completions"),
    ("POST", re.compile(r"/openai/deployments/(?P<deployment>[^/]+)/embeddings"), "embeddings"),
)
_SLOW = re.compile(r"slow-(\d+)")
_MULTIPART = frozenset({"transcriptions", "translations", "image_edits", "image_variations"})
_ID_PREFIX = {"chat": "chatcmpl-fake", "completions": "cmpl-fake"}
_AZURE_NOT_FOUND = {"error": {"code": "404", "message": "Resource not found"}}
_AZURE_UNAUTHORIZED = {
    "error": {
        "code": "401",
        "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to "
        "provide a valid key for an active subscription and use a correct regional API endpoint for your "
        "resource.",
    }
}


class FakeOpenAI(LoopbackServer):
    thread_name = "fake-openai"
    url_path = "/v1"
    # a client that goes away cancels its handler, which is how disconnects are counted
    handler_cancellation = True
    backlog = 1024
    cancel_leftover_tasks = True  # stalled handlers

    def __init__(
        self,
        api_key: str = "sk-fake-upstream",
        *,
        embedding_dim: int = 8,
        cached_tokens: int = 0,
        reasoning_tokens: int = 0,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.embedding_dim = embedding_dim
        self.cached_tokens = cached_tokens
        self.reasoning_tokens = reasoning_tokens
        self.disconnects = 0
        self.disconnected = threading.Event()
        self._arrived = threading.Condition()
        self._ids = itertools.count(1)
        self.videos: dict[str, dict[str, Any]] = {}  # video jobs by id (completed when first read)
        self.calls: dict[str, dict[str, Any]] = {}  # Realtime calls by id: the offer, the session, the actions
        self.responses: dict[str, dict[str, Any]] = {}  # stored Responses API responses by id

    # --- scripting and observation --------------------------------------------------------------------

    def wait_for_request(self, predicate: Callable[[RecordedRequest], bool], timeout: float = 10) -> RecordedRequest:
        """Block until a recorded request matches (tests wait on this, never on a sleep)."""

        def found() -> RecordedRequest | None:
            return next((r for r in reversed(self.requests) if predicate(r)), None)

        with self._arrived:
            match = self._arrived.wait_for(found, timeout)
        if match is None:
            raise TimeoutError("no matching request reached the fake")
        return match

    def reset(self) -> None:
        with self._lock:
            super().reset()
            self.disconnects = 0
            self.disconnected.clear()

    def _note_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1
        self.disconnected.set()

    # --- serving --------------------------------------------------------------------------------------

    def _record(self, recorded: RecordedRequest) -> None:
        super()._record(recorded)
        with self._arrived:
            self._arrived.notify_all()

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        try:
            return await self._answer(request, recorded.json, recorded.body)
        except logic.BadRequest as exc:
            return _json(400, logic.error_body(str(exc), "invalid_request_error", param=exc.param, code=exc.code))
        except (asyncio.CancelledError, ConnectionResetError):
            assert self._stopping is not None
            if not self._stopping.is_set():
                self._note_disconnect()
            raise

    async def _answer(self, request: web.Request, payload: Any, recorded_body: bytes = b"") -> web.StreamResponse:
        route = _route(request.method, request.path)
        if route is None:
            message = f"Invalid URL ({request.method} {request.path})"
            return _json(404, logic.error_body(message, "invalid_request_error"))
        operation, params = route
        deployment = params.get("deployment")
        denied = self._authenticate(request, azure=deployment is not None)
        if denied is not None:
            return denied
        if operation == "models":
            return _json(200, logic.model_list())
        if operation == "model":
            failure = logic.scripted_failure(params["model"])
            if failure is not None:
                return _json(*failure)
            return _json(200, logic.model_object(params["model"]))
        if operation in ("realtime_secret", "translate_secret"):
            return _json(200, logic.client_secret(payload, f"ek_fake{next(self._ids):016d}", int(time.time())))
        if operation == "realtime_call":
            call_id = f"rtc_fake{next(self._ids):016d}"
            return realtime_calls.create(self.calls, call_id, recorded_body, request.headers.get("content-type", ""))
        if operation == "call_control":
            return realtime_calls.control(self.calls, params["call"], params["action"], payload)
        if operation.startswith("video"):
            return self._video(operation, params, payload, recorded_body, request.headers.get("content-type", ""))
        if operation in _MULTIPART:
            return await self._multipart(request, operation, recorded_body, request.headers.get("content-type", ""))
        if not isinstance(payload, dict):
            raise logic.BadRequest(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't "
                "using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent "
                "was not valid JSON.)"
            )
        model = deployment or payload.get("model")
        if not isinstance(model, str) or not model:
            raise logic.BadRequest("you must provide a model parameter")
        early = await self._failure_mode(model)
        if early is not None:
            return early
        if operation == "embeddings":
            return _json(200, logic.embeddings(payload, model, self.embedding_dim))
        if operation == "responses":
            n = next(self._ids)
            ids = (f"resp_fake{n:016d}", f"msg_fake{n:016d}")
            response = responses.answer(
                payload, ids, int(time.time()), self.responses, self.cached_tokens, self.reasoning_tokens
            )
            if payload.get("stream"):
                return await self._events(request, responses.events(response), named=True)
            return _json(200, response)
        if operation == "speech" and payload.get("stream_format") == "sse":
            return await self._events(request, media.speech_events(payload))
        if operation == "images" and payload.get("stream"):
            return await self._events(request, media.image_events(payload, 0))
        if operation == "speech":
            audio, content_type = media.speech(payload)
            return web.Response(status=200, body=audio, content_type=content_type)
        if operation == "images":
            return _json(200, media.images(payload, 0))
        if operation == "rerank":
            try:
                return _json(200, rerank_logic.compatible_answer(payload, model, f"rerank-fake{next(self._ids):016d}"))
            except rerank_logic.RerankError as exc:
                raise logic.BadRequest(str(exc)) from None
        if operation == "moderations":
            return _json(200, moderation.moderation(payload, model, f"modr-fake{next(self._ids):016d}"))
        meta = logic.Meta(
            id=f"{_ID_PREFIX[operation]}{next(self._ids):016d}",
            created=int(time.time()),
            model=model,
            cached_tokens=self.cached_tokens,
            reasoning_tokens=self.reasoning_tokens,
        )
        if operation == "chat":
            _require_messages(payload)
            if payload.get("stream"):
                return await self._stream(request, chat.chat_completion_chunks(payload, meta), model)
            return _json(200, chat.chat_completion(payload, meta))
        if payload.get("stream"):
            return await self._stream(request, logic.completion_chunks(payload, meta), model)
        return _json(200, logic.completion(payload, meta))

    def _video(
        self, operation: str, params: dict[str, str], payload: Any, body: bytes, content_type: str
    ) -> web.StreamResponse:
        if operation == "videos":
            files: dict[str, Any] = {}
            if content_type.startswith("multipart/form-data"):
                payload, files = media.parse_form(body, content_type)
            if not isinstance(payload, dict):
                raise logic.BadRequest("Expected a JSON or multipart body.")
            job = media.video_job(payload, f"video_fake{next(self._ids):016d}", "input_reference" in files)
            self.videos[job["id"]] = job
            return _json(200, job)
        if operation == "video_list":
            return _json(200, {"object": "list", "data": list(self.videos.values()), "has_more": False})
        job = self.videos.get(params["video"])
        if job is None:
            return _json(404, logic.error_body("Video not found.", "invalid_request_error", param="video_id"))
        if operation == "video_delete":
            del self.videos[job["id"]]
            return _json(200, {"id": job["id"], "object": "video.deleted", "deleted": True})
        if operation == "video_content":
            return web.Response(status=200, body=media.FAKE_MP4, content_type="video/mp4")
        job.update(status="completed", progress=100, completed_at=int(time.time()))
        return _json(200, job)

    async def _events(
        self, request: web.Request, events: list[dict[str, Any]], named: bool = False
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream; charset=utf-8"})
        await response.prepare(request)
        for event in events:
            head = b"event: " + event["type"].encode() + b"\n" if named else b""
            await response.write(head + b"data: " + orjson.dumps(event) + b"\n\n")
        await response.write_eof()
        return response

    async def _multipart(
        self, request: web.Request, operation: str, body: bytes, content_type: str
    ) -> web.StreamResponse:
        if not content_type.startswith("multipart/form-data"):
            raise logic.BadRequest("Expected a multipart/form-data body.")
        fields, files = media.parse_form(body, content_type)
        if fields.get("stream") == "true" and operation == "transcriptions" and "file" in files:
            return await self._events(request, media.transcription_events(fields, files))
        if operation in ("transcriptions", "translations"):
            if "file" not in files:
                raise logic.BadRequest("Missing required parameter: 'file'.", param="file")
            answer, answer_type = media.transcription(fields, files, translate=operation == "translations")
            if isinstance(answer, str):
                return web.Response(status=200, text=answer, content_type="text/plain")
            return _json(200, answer)
        images = [name for name in files if name.removesuffix("[]") == "image"]
        if not images:
            raise logic.BadRequest("Missing required parameter: 'image'.", param="image")
        return _json(200, media.images(fields, len(images)))

    def _authenticate(self, request: web.Request, *, azure: bool) -> web.Response | None:
        if azure:
            if "api-version" not in request.query:
                return _json(404, _AZURE_NOT_FOUND)
            if request.headers.get("api-key") != self.api_key:
                return _json(401, _AZURE_UNAUTHORIZED)
            return None
        if "api-key" in request.headers and "Authorization" not in request.headers:  # Azure AI Foundry's v1 API
            presented = request.headers["api-key"]
            return None if presented == self.api_key else _json(401, logic.invalid_api_key_body(presented or None))
        authorization = request.headers.get("Authorization", "")
        scheme, _, presented = authorization.partition(" ")
        if scheme.lower() != "bearer":
            presented = ""
        presented = presented.strip()
        if presented == self.api_key:
            return None
        return _json(401, logic.invalid_api_key_body(presented or None))

    async def _failure_mode(self, model: str) -> web.Response | None:
        failure = logic.scripted_failure(model)
        if failure is not None:
            return _json(*failure)
        slow = _SLOW.fullmatch(model)
        if slow is not None:
            await asyncio.sleep(int(slow.group(1)) / 1000)
        elif model == "stall":
            return await self._stall()
        return None

    async def _stall(self) -> web.Response:
        assert self._stopping is not None
        await self._stopping.wait()
        return _json(503, logic.error_body("The fake is shutting down.", "server_error"))

    async def _stream(self, request: web.Request, chunks: list[dict[str, Any]], model: str) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "x-request-id": _request_id(),
            }
        )
        await response.prepare(request)
        if model == "stall-stream":
            await response.write(_sse(chunks[0]))
            await self._stall()
            return response
        if model == "reset-stream":
            for chunk in chunks[:2]:
                await response.write(_sse(chunk))
            assert request.transport is not None
            request.transport.abort()  # no await follows, so this handler cannot count it as a disconnect
            return response
        for chunk in chunks:
            await response.write(_sse(chunk))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _route(method: str, path: str) -> tuple[str, dict[str, str]] | None:
    for route_method, pattern, operation in _ROUTES:
        match = pattern.fullmatch(path)
        if match is not None and method == route_method:
            return operation, match.groupdict()
    return None


def _require_messages(payload: dict[str, Any]) -> None:
    messages = payload.get("messages")
    if messages is None:
        raise logic.BadRequest(
            "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
        )
    if not isinstance(messages, list) or not messages:
        raise logic.BadRequest(
            "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.",
            param="messages",
            code="empty_array",
        )


_request_ids = itertools.count(1)


def _request_id() -> str:
    return f"req_fake{next(_request_ids):024d}"


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        body=orjson.dumps(body),
        headers={"content-type": "application/json", "x-request-id": _request_id(), **(headers or {})},
    )


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + orjson.dumps(chunk) + b"\n\n"
