"""The access log (``server.access_log: true``): one line per request, after its answer, with no content.

Fields, logfmt: method, path (no query string: it may carry a credential), status, duration, the gateway's request
id, the model asked for and the deployment that answered. Never a prompt, a key or a body. Values a client chose
(path, model) are cut to ``MAX_FIELD`` characters and quoted when they hold anything but plain characters, so one
line stays one bounded line.
"""

from __future__ import annotations

import logging
import re
from time import perf_counter
from typing import Any

import orjson

from wardgate.api.asgi import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("wardgate.access")
CALL_KEY = "wardgate.call"  # the surface puts its Call here (scope extension), so the line can name model and ids
MAX_FIELD = 200
_PLAIN = re.compile(r"[!#-~]*")  # printable ASCII without space, '"' or anything that needs quoting


class AccessLog:
    """ASGI middleware around the whole app; installed only when the access log is on, so it costs nothing off."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        answer: list[Any] = [None, None, None]  # status, request id, deployment

        async def send_and_note(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer[0] = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-wardgate-request-id":
                        answer[1] = value.decode("latin-1")
                    elif name == b"x-wardgate-deployment":
                        answer[2] = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except BaseException:
            if answer[0] is None:
                answer[0] = 500  # uvicorn answers 500 for an application that raised before answering
            raise
        finally:
            call = scope.get(CALL_KEY)
            log.info(
                "method=%s path=%s status=%s duration_ms=%.1f request_id=%s model=%s deployment=%s",
                field(scope["method"]),
                field(scope["path"]),
                answer[0] if answer[0] is not None else "-",
                (perf_counter() - started) * 1000,
                field(call.id if call is not None else answer[1]),
                field(call.model if call is not None else None),
                field(call.deployment.name if call is not None and call.deployment is not None else answer[2]),
            )


def field(value: str | None) -> str:
    if not value:
        return "-"
    value = value[:MAX_FIELD]
    return value if _PLAIN.fullmatch(value) else orjson.dumps(value).decode()
