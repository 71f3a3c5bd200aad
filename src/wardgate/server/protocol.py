"""uvicorn's httptools protocol with the connection guard: a cap per worker, a deadline and limits for headers.

The subclass adds a few attribute updates per request and counts header bytes as the parser hands them over; its
refusals (431, 408, 503, and 400 for a request the parser rejects) are written in the OpenAI error shape and close
the connection. Nothing is logged per refusal above DEBUG: a client decides how many there are.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import httptools
import orjson
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from wardgate.api.asgi import DISCONNECT, DisconnectSlot
from wardgate.core.errors import InvalidRequest, WardgateError
from wardgate.server.cork import CorkedTransport
from wardgate.server.drain import Drain
from wardgate.server.guard import Admission, ConnectionGuard

log = logging.getLogger("wardgate.server")
LINGER_S = 2.0  # after a refusal, what the client still sends is read and dropped this long (see _refuse)


class HeadersTooLarge(WardgateError):
    status, type, code = 431, "invalid_request_error", "request_header_fields_too_large"


class HeaderTimeout(WardgateError):
    status, type, code = 408, "invalid_request_error", "request_timeout"


class ConnectionLimit(WardgateError):
    status, type, code = 503, "api_error", "connection_limit"


class _Refused(Exception):
    """Raised from a parser callback to stop the parser; the refusal itself is on the protocol."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        guard: ConnectionGuard,
        drain: Drain | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.guard = guard
        self.drain = drain
        limits = guard.limits
        self._max_bytes, self._max_headers = limits.max_header_bytes, limits.max_headers
        self._reading = False  # a request line and headers are under way
        self._received = 0  # raw bytes since they began: bounds what the parser buffers for one header
        self._header_bytes = 0  # request line and headers parsed so far, exactly
        self._header_count = 0
        self._health_only = False
        self._refusal: WardgateError | None = None
        self._discarding = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(cast(asyncio.Transport, CorkedTransport(transport, self.loop)))
        admission = self.guard.admit(self, self.loop.time())
        if admission is Admission.REFUSED:
            transport.close()
            return
        self._health_only = admission is Admission.HEALTH_ONLY
        self._reading = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.guard.forget(self)
        cycle = self.cycle
        super().connection_lost(exc)
        if cycle is not None and not cycle.response_complete:
            slot = cycle.scope.get(DISCONNECT)
            if isinstance(slot, DisconnectSlot) and slot.callback is not None:
                callback, slot.callback = slot.callback, None
                callback()

    def shutdown(self) -> None:
        """uvicorn's shutdown has begun (SIGTERM): the first connection told arms the worker's drain deadline."""
        if self.drain is not None:
            self.drain.begin(self.server_state.tasks)
        super().shutdown()

    def evict(self) -> None:
        self._reading = False
        self.transport.close()

    def header_timeout(self) -> None:
        self._reading = False
        if self._received:
            self._refuse(HeaderTimeout("The request's headers did not arrive in time."))
        else:
            self.transport.close()  # a connection that never sent a byte gets no answer

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        if not self._reading and (self.cycle is None or self.cycle.response_complete):
            self._reading = True  # the next request on a kept-alive connection
            self._received = 0
            self.guard.headers_started(self, self.loop.time())
        if self._reading:
            self._received += len(data)
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError:
            refusal, self._refusal = self._refusal, None
            log.debug("refused a request: %s", refusal or "invalid HTTP")
            self._refuse(refusal or InvalidRequest("Invalid HTTP request received.", code="invalid_http"))
            return
        if self._reading and self._received > self._max_bytes:  # a header still unfinished past the limit
            self._refuse(self._too_large())

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._header_count = 0
        self.scope[DISCONNECT] = DisconnectSlot()  # type: ignore[literal-required]

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._header_bytes += len(url)
        if self._header_bytes > self._max_bytes:
            self._stop(self._too_large())

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        self._header_count += 1
        if self._header_bytes > self._max_bytes:
            self._stop(self._too_large())
        if self._header_count > self._max_headers:
            self._stop(HeadersTooLarge(f"The request has more than {self._max_headers} headers, the most allowed."))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading = False
        self.guard.busy(self)
        if self._health_only and not self.url.startswith(b"/health/"):
            self._stop(ConnectionLimit("The gateway is at its connection limit; try again shortly."))
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.timeout_keep_alive_task is not None:  # uvicorn armed keep-alive: no request left on the connection
            self.guard.idle_again(self)

    def _too_large(self) -> HeadersTooLarge:
        return HeadersTooLarge(f"The request line and headers exceed {self._max_bytes} bytes, the most allowed.")

    def _stop(self, refusal: WardgateError) -> None:
        self._refusal = refusal
        raise _Refused

    def _refuse(self, exc: WardgateError) -> None:
        """Answer with the error and close: the rest of what the client sent cannot be trusted to frame.

        Closing at once, with the client's bytes unread, would make the kernel send a reset that can destroy the
        answer before the client reads it; so the answer is followed by our FIN, and what still arrives is dropped
        until the client closes or ``LINGER_S`` passes (nginx's lingering close)."""
        self._reading = False
        self.guard.forget(self)
        if self.transport.is_closing():
            return
        body = orjson.dumps(exc.to_dict())
        content = [STATUS_LINE[exc.status]]
        for name, value in self.server_state.default_headers:
            content += [name, b": ", value, b"\r\n"]
        content += [
            b"content-type: application/json\r\ncontent-length: ",
            str(len(body)).encode(),
            b"\r\nconnection: close\r\n\r\n",
            body,
        ]
        self.transport.write(b"".join(content))
        if not self.transport.can_write_eof():  # TLS: no half-close
            self.transport.close()
            return
        self._discarding = True
        self.flow.resume_reading()
        self.transport.write_eof()
        self.loop.call_later(LINGER_S, self.transport.close)


class GuardedProtocolFactory:
    """What uvicorn's ``http=`` calls for every connection. Picklable (``--workers N`` spawns processes): each worker
    unpickles its own empty guard."""

    def __init__(self, guard: ConnectionGuard, drain: Drain | None = None) -> None:
        self.guard = guard
        self.drain = drain

    def __call__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> GuardedHttpToolsProtocol:
        return GuardedHttpToolsProtocol(config, server_state, app_state, _loop, guard=self.guard, drain=self.drain)
