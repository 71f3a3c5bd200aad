"""A real WebSocket fake of OpenAI's Realtime API on loopback (``/v1/realtime?model=…``, ``Authorization: Bearer``).

On connect: ``session.created``. ``session.update`` → ``session.updated``. ``response.create`` → ``response.created``,
one ``response.output_text.delta`` per word of the response's ``instructions`` (default ``"hello there"``), then
``response.done`` whose usage is deterministic: 10 input tokens per response so far in the session (2 cached, 4
audio), one output token per word (of which ``audio_output`` are audio). ``sent`` holds every usage reported.
``bench.echo`` is echoed back as is (the relay benchmark). A model ``close-4000`` closes the socket with code 4000
after ``session.created``.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from tests.fakes.server import LoopbackServer, RecordedRequest


class FakeRealtime(LoopbackServer):
    thread_name = "fake-realtime"
    url_path = "/v1"
    backlog = 4096

    def __init__(self, api_key: str = "sk-fake-realtime", *, audio_output: int = 1) -> None:
        super().__init__()
        self.api_key = api_key
        self.audio_output = audio_output
        self.sent: list[dict[str, Any]] = []
        self.sessions = 0
        self._ids = itertools.count(1)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path != "/v1/realtime":
            return web.json_response({"error": {"message": "not found", "type": "invalid_request_error"}}, status=404)
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401)
        model = request.query.get("model", "")
        socket = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await socket.prepare(request)
        self.sessions += 1
        session = {"id": f"sess_{next(self._ids)}", "object": "realtime.session", "model": model}
        await socket.send_str(_event("session.created", session=session))
        if model == "close-4000":
            await socket.close(code=4000)
            return socket
        responses = 0
        async for message in socket:
            if message.type != WSMsgType.TEXT:
                continue
            event = orjson.loads(message.data)
            kind = event.get("type")
            if kind == "bench.echo":
                await socket.send_str(message.data)
            elif kind == "session.update":
                await socket.send_str(_event("session.updated", session=session))
            elif kind == "response.create":
                responses += 1
                await self._respond(socket, event.get("response") or {}, responses)
        return socket

    async def _respond(self, socket: web.WebSocketResponse, options: dict[str, Any], responses: int) -> None:
        response_id = f"resp_{next(self._ids)}"
        words = str(options.get("instructions") or "hello there").split()
        await socket.send_str(_event("response.created", response={"id": response_id, "status": "in_progress"}))
        for word in words:
            await socket.send_str(_event("response.output_text.delta", response_id=response_id, delta=word + " "))
        audio_out = min(self.audio_output, len(words))
        usage = {"total_tokens": 10 * responses + len(words), "input_tokens": 10 * responses,
                 "output_tokens": len(words),
                 "input_token_details": {"text_tokens": 10 * responses - 4, "audio_tokens": 4, "cached_tokens": 2},
                 "output_token_details": {"text_tokens": len(words) - audio_out,
                                          "audio_tokens": audio_out}}  # fmt: skip
        self.sent.append(usage)
        done = {"id": response_id, "object": "realtime.response", "status": "completed", "usage": usage}
        await socket.send_str(_event("response.done", response=done))

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        raise AssertionError("the realtime fake answers in _handle")


_events = itertools.count(1)


def _event(kind: str, **fields: Any) -> str:
    return orjson.dumps({"type": kind, "event_id": f"event_{next(_events)}", **fields}).decode()
