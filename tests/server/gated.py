"""A fake OpenAI upstream whose answers wait for the test: the tool for draining and reloading under load.

``/v1/chat/completions`` by model:
- ``gated``: a stream sends its first chunk at once, then waits for ``release()`` before its last chunk, usage and
  ``[DONE]``; a plain request waits for ``release()`` before its answer;
- ``stall``: the first chunk (or nothing, for a plain request), then nothing until the client goes away.
``arrivals`` counts requests; ``wait_for(n)`` blocks until n have arrived, so a test knows they are all in flight.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any, ClassVar

import orjson
from aiohttp import web

from tests.fakes.server import LoopbackServer, RecordedRequest

USAGE = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}


def _chunk(model: str, choices: list[dict[str, Any]], usage: Any = None) -> bytes:
    body = {
        "id": "chatcmpl-gated",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": model,
        "choices": choices,
        "usage": usage,
    }
    return b"data: " + orjson.dumps(body) + b"\n\n"


def _delta(delta: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
    return [{"index": 0, "delta": delta, "finish_reason": finish}]


class GatedUpstream(LoopbackServer):
    thread_name: ClassVar[str] = "gated-upstream"
    url_path: ClassVar[str] = "/v1"
    handler_cancellation: ClassVar[bool] = True
    cancel_leftover_tasks: ClassVar[bool] = True

    def __init__(self) -> None:
        super().__init__()
        self._released: asyncio.Event | None = None
        self._arrived = threading.Condition()
        self.arrivals = 0

    async def _open(self) -> None:
        self._released = asyncio.Event()
        await super()._open()

    def release(self) -> None:
        """Let every gated answer finish (threadsafe)."""
        assert self._loop is not None and self._released is not None
        self._loop.call_soon_threadsafe(self._released.set)

    def wait_for(self, n: int, timeout: float = 30) -> None:
        with self._arrived:
            if not self._arrived.wait_for(lambda: self.arrivals >= n, timeout):
                raise TimeoutError(f"{self.arrivals} of {n} requests reached the upstream")

    def _record(self, recorded: RecordedRequest) -> None:
        super()._record(recorded)
        with self._arrived:
            self.arrivals += 1
            self._arrived.notify_all()

    async def _serve(self, request: web.Request, recorded: RecordedRequest) -> web.StreamResponse:
        assert self._released is not None and self._stopping is not None
        body = recorded.json if isinstance(recorded.json, dict) else {}
        model = str(body.get("model", ""))
        wait = self._released if model == "gated" else self._stopping
        if not body.get("stream"):
            await wait.wait()
            answer = {
                "id": "chatcmpl-gated",
                "object": "chat.completion",
                "created": 1,
                "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": USAGE,
            }
            return web.json_response(answer)
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_chunk(model, _delta({"role": "assistant", "content": "o"})))
        await wait.wait()
        await response.write(_chunk(model, _delta({"content": "k"})))
        await response.write(_chunk(model, _delta({}, "stop")))
        await response.write(_chunk(model, [], USAGE))
        await response.write(b"data: [DONE]\n\n")
        return response
