"""How each surface ends a request that failed before its answer started (api/openai.answer_failure), in the
surface's own error shape: a refusal with its status and the call's headers, a bug as a 500 naming the request id
(logged, never its details), a client that left quietly, and any other cancellation on its way.

Driven as plain ASGI with a stand-in pipeline: the failures are raised where the pipeline runs, which no provider
can make happen on demand (a bug, a cancellation at a chosen moment)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from wardgate.api.anthropic import AnthropicSurface
from wardgate.api.asgi import DISCONNECT, DisconnectSlot, Message, Receive, Scope, Send
from wardgate.api.media import MediaSurface
from wardgate.api.openai import OpenAISurface
from wardgate.api.realtime_calls import RealtimeCallsSurface
from wardgate.api.responses import ResponsesSurface
from wardgate.core.call import Call, Result
from wardgate.core.errors import UpstreamRateLimited

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]
Run = Callable[[Call], Awaitable[Result]]


@dataclass
class Surface:
    name: str
    handler: Callable[[Any], Handler]  # the runtime → the surface's handler
    path: str
    content_type: bytes
    body: bytes
    anthropic: bool = False


def _runtime(run: Run) -> Any:
    return SimpleNamespace(
        max_body_bytes=1 << 20,
        max_upload_bytes=1 << 20,
        read_client_cert=None,
        prompts=None,
        responses_model=None,
        pipeline=SimpleNamespace(run=run),
    )


def _unused() -> Any:
    raise AssertionError("no store is reached before the pipeline")


CHAT = orjson.dumps({"model": "gpt", "messages": [{"role": "user", "content": "hi"}]})
SURFACES = [
    Surface("openai", lambda rt: OpenAISurface(lambda: rt).chat, "/v1/chat/completions", b"application/json", CHAT),
    Surface(
        "anthropic",
        lambda rt: AnthropicSurface(lambda: rt).messages,
        "/v1/messages",
        b"application/json",
        orjson.dumps({"model": "gpt", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}),
        anthropic=True,
    ),
    Surface(
        "responses",
        lambda rt: ResponsesSurface(lambda: rt, _unused).create,
        "/v1/responses",
        b"application/json",
        orjson.dumps({"model": "gpt", "input": "hi"}),
    ),
    Surface(
        "media",
        lambda rt: MediaSurface(lambda: rt).images,
        "/v1/images/generations",
        b"application/json",
        orjson.dumps({"model": "img", "prompt": "a cat"}),
    ),
    Surface(
        "realtime_calls",
        lambda rt: RealtimeCallsSurface(lambda: rt, _unused).create,
        "/v1/realtime/calls",
        b"application/sdp",
        b"v=0\r\n",
    ),
]


async def _drive(
    surface: Surface, run: Run, slot: DisconnectSlot | None = None
) -> tuple[list[Message], DisconnectSlot]:
    slot = slot or DisconnectSlot()
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": surface.path,
        "headers": [(b"content-type", surface.content_type), (b"x-client-request-id", b"mine-1")],
        DISCONNECT: slot,
    }
    messages: list[Message] = [{"type": "http.request", "body": surface.body, "more_body": False}]

    async def receive() -> Message:
        return messages.pop(0)

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await surface.handler(_runtime(run))(scope, receive, send)
    return sent, slot


def _answer(sent: list[Message]) -> tuple[int, dict[bytes, bytes], dict[str, Any]]:
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    return sent[0]["status"], dict(sent[0]["headers"]), orjson.loads(sent[1]["body"])


def _error(surface: Surface, body: dict[str, Any]) -> dict[str, Any]:
    if surface.anthropic:
        assert body["type"] == "error" and set(body) == {"type", "error", "request_id"}
        assert set(body["error"]) == {"type", "message"}
    else:
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize("surface", SURFACES, ids=[s.name for s in SURFACES])
async def test_a_bug_is_a_500_in_the_surface_shape_that_names_the_request_id(
    surface: Surface, caplog: pytest.LogCaptureFixture
) -> None:
    async def run(call: Call) -> Result:
        raise RuntimeError("a secret detail")

    with caplog.at_level(logging.ERROR, "wardgate.api"):
        status, headers, body = _answer((await _drive(surface, run))[0])
    request_id = headers[b"x-wardgate-request-id"].decode()
    error = _error(surface, body)
    assert status == 500
    assert error["message"] == f"The gateway failed to handle this request (request id {request_id})."
    assert "secret" not in orjson.dumps(body).decode()
    assert headers[b"x-wardgate-client-request-id"] == b"mine-1"
    assert b"x-wardgate-overhead-ms" not in headers  # the request's id headers only
    if surface.anthropic:
        assert body["request_id"] == request_id and headers[b"request-id"] == request_id.encode()
    else:
        assert error["code"] == "internal_error"
    assert [r.getMessage() for r in caplog.records] == [f"request {request_id} failed"]
    assert "a secret detail" in (caplog.text or "")


@pytest.mark.parametrize("surface", SURFACES, ids=[s.name for s in SURFACES])
async def test_a_refusal_once_there_is_a_call_carries_the_call_headers(surface: Surface) -> None:
    async def run(call: Call) -> Result:
        raise UpstreamRateLimited("Slow down.", headers={"retry-after": "7"})

    status, headers, body = _answer((await _drive(surface, run))[0])
    error = _error(surface, body)
    assert status == 429 and error["message"] == "Slow down."
    assert b"x-wardgate-overhead-ms" in headers and headers[b"retry-after"] == b"7"
    if surface.anthropic:
        assert error["type"] == "rate_limit_error" and headers[b"request-id"] == headers[b"x-wardgate-request-id"]
    else:
        assert error["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize("surface", SURFACES, ids=[s.name for s in SURFACES])
async def test_a_client_that_left_ends_the_request_quietly(surface: Surface) -> None:
    slot = DisconnectSlot()

    async def run(call: Call) -> Result:
        assert slot.callback is not None
        slot.callback()  # the connection is lost while the pipeline runs
        await asyncio.Event().wait()
        raise AssertionError("cancelled")

    sent, _ = await _drive(surface, run, slot)
    assert sent == [] and slot.callback is None  # nothing sent, the watch let go of the slot
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0  # the cancellation was the request's own, taken back


@pytest.mark.parametrize("surface", SURFACES, ids=[s.name for s in SURFACES])
async def test_a_cancellation_while_the_client_is_there_goes_on(surface: Surface) -> None:
    async def run(call: Call) -> Result:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await _drive(surface, run)
