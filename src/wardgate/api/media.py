"""Audio and images on the OpenAI surface: ``/v1/audio/transcriptions`` and ``/v1/audio/translations`` (multipart),
``/v1/audio/speech`` (JSON in, audio streamed out), ``/v1/images/generations`` (JSON), ``/v1/images/edits`` and
``/v1/images/variations`` (multipart), ``POST /v1/videos`` (multipart or JSON; its job is recorded as the caller's).

Each is one call through the same pipeline as chat (identity, model access, limits and budgets, routing and
fall-backs, the ledger, audit), with the modality's own usage (seconds, characters, images, tokens: ``usage.media``)
priced by the catalog. Multipart forms are read as they stream in (``api.multipart``), files spooled to disk and
streamed to the provider from there; they are removed when the request ends, however it ends. Answers are relayed as
the provider sent them: JSON, a text transcript (``text``, ``srt``, ``vtt``) or audio bytes, with their content type.

Streams: ``stream: true`` transcriptions and images and ``stream_format: sse`` speech are relayed as SSE events as
the provider sends them (usage from the event that carries it); plain speech as audio bytes.

Refused with a 400 naming the parameter: a multipart route called without a multipart body, a missing ``file`` or
``image``, an unknown ``response_format`` or ``stream_format``, a missing ``prompt`` or ``input``; a model whose
providers have no such endpoint gets ``unsupported_by_provider``; an upload over ``server.max_upload_bytes`` a 413.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from time import perf_counter
from typing import TYPE_CHECKING, Any

from wardgate.api.asgi import JSON, Disconnected, Receive, Scope, Send, read_body, send_bytes, send_error
from wardgate.api.body import parse_object
from wardgate.api.multipart import Form, boundary_of, read_form
from wardgate.api.openai import SSE_HEADERS, DisconnectWatch, answer_failure, id_headers, request_meta, response_headers
from wardgate.api.responses import owner_of
from wardgate.core.call import Call, Operation, Result, end_user_of
from wardgate.core.errors import InvalidRequest, WardgateError
from wardgate.core.relay import Relay

if TYPE_CHECKING:
    from wardgate.core.runtime import Runtime
    from wardgate.store.provider_objects import ProviderObjectStore

log = logging.getLogger("wardgate.api")
TRANSCRIPT_FORMATS = frozenset({"json", "text", "srt", "verbose_json", "vtt", "diarized_json"})
SPEECH_FORMATS = frozenset({"mp3", "opus", "aac", "flac", "wav", "pcm"})
IMAGE_FORMATS = frozenset({"url", "b64_json"})
VIDEO_SECONDS = frozenset({"4", "8", "12"})
VIDEO_SIZES = frozenset({"720x1280", "1280x720", "1024x1792", "1792x1024"})
DEFAULT_VIDEO_MODEL = "sora-2"
DEFAULT_IMAGE_MODEL = "dall-e-2"  # OpenAI's default when an image request names no model
MAX_SPEECH_CHARACTERS = 4096
MAX_PROMPT_CHARACTERS = 32_000


def _text(body: dict[str, Any], name: str, *, required: bool = True, limit: int = MAX_PROMPT_CHARACTERS) -> None:
    value = body.get(name)
    if value is None and not required:
        return
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name)
    if len(value) > limit:
        raise InvalidRequest(f"'{name}' is longer than {limit} characters.", param=name)


def _choice(body: dict[str, Any], name: str, allowed: frozenset[str]) -> None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or value not in allowed):
        raise InvalidRequest(f"Invalid '{name}': expected one of {', '.join(sorted(allowed))}.", param=name)


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def check(operation: Operation, body: dict[str, Any], form: Form | None) -> str:
    """The model asked for, after the checks of the operation (a 400 naming the first bad parameter)."""
    files = {upload.field.removesuffix("[]") for upload in form.uploads} if form is not None else set()
    if operation in ("transcriptions", "translations"):
        if "file" not in files:
            raise InvalidRequest(
                "Missing required parameter: 'file' (the audio file, as a multipart file).", param="file"
            )
        _choice(body, "response_format", TRANSCRIPT_FORMATS)
    elif operation == "speech":
        _text(body, "input", limit=MAX_SPEECH_CHARACTERS)
        voice = body.get("voice")
        if not isinstance(voice, str | dict) or not voice:
            raise InvalidRequest("Missing required parameter: 'voice'.", param="voice")
        _choice(body, "response_format", SPEECH_FORMATS)
        if body.get("stream_format") not in (None, "audio", "sse"):
            raise InvalidRequest("Invalid 'stream_format': expected 'audio' or 'sse'.", param="stream_format")
    elif operation == "videos":
        _text(body, "prompt")
        _choice(body, "seconds", VIDEO_SECONDS)
        _choice(body, "size", VIDEO_SIZES)
        body.setdefault("model", DEFAULT_VIDEO_MODEL)
    else:
        if operation != "image_variations":
            _text(body, "prompt")
        if operation != "images" and "image" not in files:
            raise InvalidRequest("Missing required parameter: 'image' (as a multipart file).", param="image")
        _choice(body, "response_format", IMAGE_FORMATS)
        body.setdefault("model", DEFAULT_IMAGE_MODEL)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("Missing required parameter: 'model'.", param="model")
    return model


class MediaSurface:
    def __init__(
        self, runtime: Callable[[], Runtime], objects: Callable[[], ProviderObjectStore] | None = None
    ) -> None:
        self._runtime = runtime
        self._objects = objects  # where a created video is recorded as its owner's (api/videos.py serves it)

    async def videos(self, scope: Scope, receive: Receive, send: Send) -> None:
        """POST /v1/videos: multipart (the SDK's way, with an optional ``input_reference`` file) or JSON."""
        multipart = boundary_of(_content_type(scope)) is not None
        await self._handle(scope, receive, send, "videos", multipart=multipart)

    async def transcriptions(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "transcriptions", multipart=True)

    async def translations(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "translations", multipart=True)

    async def speech(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "speech", multipart=False)

    async def images(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "images", multipart=False)

    async def image_edits(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "image_edits", multipart=True)

    async def image_variations(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(scope, receive, send, "image_variations", multipart=True)

    async def _handle(
        self, scope: Scope, receive: Receive, send: Send, operation: Operation, *, multipart: bool
    ) -> None:
        started = perf_counter()
        runtime = self._runtime()
        credential, request_id, client_id, length = request_meta(scope)
        form: Form | None = None
        try:
            if multipart:
                boundary = boundary_of(_content_type(scope))
                if boundary is None:
                    raise InvalidRequest("This endpoint takes a multipart/form-data body.", param="file")
                form = await read_form(receive, boundary, runtime.max_upload_bytes, length)
                body = form.values()
            else:
                body = parse_object(await read_body(receive, runtime.max_body_bytes, length), "Invalid JSON body.")
        except Disconnected:
            return
        except WardgateError as exc:
            await send_error(send, exc, id_headers(request_id, client_id))
            return
        watch = DisconnectWatch(receive, scope)
        call: Call | None = None
        try:
            model = check(operation, body, form)
            # audio is relayed as the provider streams it; transcripts, images and speech as SSE when asked for
            stream = operation == "speech" or (operation != "videos" and _truthy(body.get("stream")))
            call = Call(request_id, "openai", operation, model, body, stream, credential, started)
            call.client_request_id = client_id
            call.end_user = end_user_of(body.get("user"))
            call.uploads = tuple(form.uploads) if form is not None else ()
            if runtime.read_client_cert is not None:
                call.client_cert = runtime.read_client_cert(scope)
            scope["wardgate.call"] = call  # for the access log (server/access.py)
            try:
                result = await runtime.pipeline.run(call)
            finally:
                if form is not None:  # the provider has the files (or failed): gone before the client hears back
                    form.close()
            if result.stream is not None:
                events = operation != "speech" or body.get("stream_format") == "sse"
                await _send_stream(send, call, result, watch, events)
                return
            watch.done = True
            if operation == "videos" and result.status == 200:
                await self._keep_video(call, result)
            headers = response_headers(call, perf_counter())
            await send_bytes(send, result.status, result.to_bytes(), headers, result.content_type or JSON)
        except BaseException as exc:
            await answer_failure(exc, send, watch, call, request_id, client_id)
        finally:
            watch.close()
            if form is not None:
                form.close()

    async def _keep_video(self, call: Call, result: Result) -> None:
        """The video job is its creator's project's: only it may read, download or delete it (api/videos.py)."""
        video_id = result.body.get("id") if isinstance(result.body, dict) else None
        if self._objects is None or call.deployment is None or not isinstance(video_id, str):
            return
        if 0 < len(video_id) <= 128 and video_id.isascii() and video_id.isprintable() and "/" not in video_id:
            owner = owner_of(call.principal)
            await self._objects().put(video_id, "video", owner, call.deployment.provider, call.model)


async def _send_stream(send: Send, call: Call, result: Result, watch: DisconnectWatch, events: bool) -> None:
    """Audio bytes, or SSE events (``events``), as they come. A failure once the answer has started cannot become an
    error body: the connection is dropped without the final chunk, so the client sees a cut answer, never a
    complete-looking one."""
    relay = result.stream
    assert isinstance(relay, Relay), "the pipeline hands every stream over as a Relay"
    headers = response_headers(call, perf_counter())
    if events:
        headers = [h for h in headers if h[0] != b"content-type"] + SSE_HEADERS
    elif not any(name == b"content-type" for name, _ in headers):
        headers.append((b"content-type", b"application/octet-stream"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    ended: BaseException | None = None
    try:
        async for batch in relay:
            if events:
                body = b"".join(b"data: " + chunk.to_bytes() + b"\n\n" for chunk in batch)
            else:
                body = batch[0].to_bytes() if len(batch) == 1 else b"".join(chunk.to_bytes() for chunk in batch)
            await send({"type": "http.response.body", "body": body, "more_body": True})
    except Exception as exc:  # the answer has started: it ends incomplete (the server drops the connection)
        ended = exc
        watch.done = True
        log.warning("audio stream %s cut: %s", call.id, exc)
        return
    except BaseException as exc:  # cancelled: the client left
        ended = exc
        raise
    finally:
        await relay.aclose(ended)
    watch.done = True
    await send({"type": "http.response.body", "body": b""})


def _content_type(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"content-type":
            text: str = value.decode("latin-1")
            return text
    return None
