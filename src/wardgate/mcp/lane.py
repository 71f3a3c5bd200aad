"""The direct lane for ``tools/call`` to a streamable HTTP upstream: one aiohttp POST of the JSON-RPC request on the
session the SDK's client opened (its ``Mcp-Session-Id`` and negotiated protocol version), the answer read as JSON
or as an SSE stream.

Why not the SDK's ``ClientSession.call_tool``: per call it runs memory streams, a task, a pydantic model of the
request and of the result, and an httpx2 request, which took most of a worker's time (bench/RESULTS.md, issue 18).
The SDK still opens, negotiates and re-opens the session, and carries every other request (and authorizes: an
upstream that answers 401 or 403 sends the call to the SDK's session, whose OAuth provider gets a token; the lane
sends the token the provider holds). Besides the answer, a call's stream may carry what belongs to the call's
downstream client (its ``Peer``, backchannel.py): a server-to-client request (sampling, elicitation, roots) is
relayed to the client when it declared the capability, else answered as the server's ``elicitation`` policy says
(elicitation.py) for an elicitation and with a JSON-RPC error otherwise; progress (the call's own token) and log
notifications are relayed to the client; other notifications are dropped. A call cancelled before its answer (the
client's ``notifications/cancelled``, or the tool's timeout) sends ``notifications/cancelled`` to the upstream.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from typing import Any, Protocol

import aiohttp
import orjson

from wardgate.mcp import elicitation

MAX_ANSWER_BYTES = 64 * 1024 * 1024  # an upstream answer larger than this is a failure, not a memory spike
NOT_RELAYED = -32601
MAX_RESUMES = 5  # a tools/call stream closed before its answer is resumed (Last-Event-ID) at most this often
DEFAULT_RETRY_S = 1.0  # the delay before resuming when the stream named none (the SDK clients' default)
MAX_RETRY_S = 30.0  # an upstream's `retry` is capped: the call's timeout still bounds the whole


class Peer(Protocol):
    """The downstream side of one call, as the lane sees it (backchannel.Downstream)."""

    progress_token: Any  # the client's progress token; None when it asked for no progress

    async def ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The client's answer (``result`` or ``error``) to an upstream's request; None: the policy answers."""
        ...

    async def notify(self, message: dict[str, Any]) -> None:
        """An upstream notification for the client (progress with the client's token, logging)."""
        ...


class _Stream:
    """What a tools/call's SSE stream said so far, kept across its resumptions."""

    __slots__ = ("event_id", "retry_s", "size")

    def __init__(self) -> None:
        self.event_id: str | None = None
        self.retry_s = DEFAULT_RETRY_S
        self.size = 0


class LaneBroken(Exception):
    """The upstream session is unusable (it answered 404 for the session, or the connection failed)."""


class LaneRefused(LaneBroken):
    """The upstream answered 401 or 403: the call needs (another) token, which the SDK's session obtains."""


class LaneRPCError(Exception):
    """The upstream answered with a JSON-RPC error: relayed as it said it."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message", "")))
        self.error = error


class HTTPLane:
    def __init__(
        self,
        url: str,
        headers: dict[str, str],
        connect_timeout_s: float,
        elicitation_policy: str = "refuse",
        bearer: Callable[[], str | None] | None = None,
    ) -> None:
        self.url = url
        self._headers = headers
        self._connect_timeout_s = connect_timeout_s
        self._elicitation = elicitation_policy
        self._bearer = bearer
        self.session_id: str | None = None
        self.protocol_version: str | None = None
        self._ids = itertools.count(1)
        self._http: aiohttp.ClientSession | None = None
        self._background: set[asyncio.Task[None]] = set()  # cancellations on their way to the upstream

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60, enable_cleanup_closed=False)
            self._http = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout_s),
                skip_auto_headers=("User-Agent",),
            )
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _request_headers(self) -> dict[str, str]:
        headers = {
            **self._headers,
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
        }
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            headers["Mcp-Protocol-Version"] = self.protocol_version
        token = self._bearer() if self._bearer is not None else None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return headers

    async def call_tool(self, tool: str, arguments: dict[str, Any] | None, peer: Peer | None = None) -> dict[str, Any]:
        """The upstream's ``CallToolResult`` as JSON (its own shape, unvalidated beyond being an object)."""
        request_id = next(self._ids)
        params: dict[str, Any] = {"name": tool}
        if arguments is not None:
            params["arguments"] = arguments
        if peer is not None and peer.progress_token is not None:
            params["_meta"] = {"progressToken": request_id}
        body = orjson.dumps({"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params})
        try:
            return await self._call(body, request_id, peer)
        except asyncio.CancelledError:  # the client cancelled, or the timeout: the upstream may stop working on it
            task = asyncio.get_running_loop().create_task(self._cancelled(request_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            raise

    async def _cancelled(self, request_id: int) -> None:
        params = {"requestId": request_id, "reason": "The gateway's caller cancelled the call or it timed out."}
        body = orjson.dumps({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params})
        try:
            async with asyncio.timeout(self._connect_timeout_s):
                async with self._client().post(self.url, data=body, headers=self._request_headers()) as response:
                    await response.read()
        except (aiohttp.ClientError, OSError, TimeoutError):
            pass  # best effort: the spec's cancellation is advisory

    async def _call(self, body: bytes, request_id: int, peer: Peer | None) -> dict[str, Any]:
        http = self._client()
        try:
            async with http.post(self.url, data=body, headers=self._request_headers()) as response:
                if response.status == 404 and self.session_id:
                    raise LaneBroken("the upstream no longer knows the session (404)")
                if response.status in (401, 403):
                    raise LaneRefused(f"the upstream answered HTTP {response.status}")
                kind = response.headers.get("Content-Type", "").partition(";")[0].strip().lower()
                if response.status >= 400 and kind != "application/json":
                    raise LaneBroken(f"the upstream answered HTTP {response.status}")
                if kind == "text/event-stream":
                    return await self._from_stream(response, request_id, peer)
                raw = await response.content.read(MAX_ANSWER_BYTES + 1)
                if len(raw) > MAX_ANSWER_BYTES:
                    raise LaneBroken("the upstream's answer is too large")
                return _answer(orjson.loads(raw), request_id)
        except (aiohttp.ClientError, OSError, orjson.JSONDecodeError) as exc:
            raise LaneBroken(f"{type(exc).__name__}: {exc}"[:300]) from exc

    async def _from_stream(
        self, response: aiohttp.ClientResponse, request_id: int, peer: Peer | None
    ) -> dict[str, Any]:
        """The answer to ``request_id`` from an SSE stream. A stream the upstream closes before the answer (SEP-1699
        polling) is resumed as the spec says: after the stream's ``retry`` delay, a GET with ``Last-Event-ID``, at
        most MAX_RESUMES times (the call's timeout bounds the whole)."""
        stream = _Stream()
        answer = await self._read_events(response, request_id, stream, peer)
        resumes = 0
        while answer is None:
            if stream.event_id is None or resumes >= MAX_RESUMES:
                raise LaneBroken("the upstream's stream ended without an answer")
            resumes += 1
            await asyncio.sleep(stream.retry_s)
            headers = {k: v for k, v in self._request_headers().items() if k != "Content-Type"}
            headers["Accept"] = "text/event-stream"
            headers["Last-Event-ID"] = stream.event_id
            async with self._client().get(self.url, headers=headers) as again:
                kind = again.headers.get("Content-Type", "").partition(";")[0].strip().lower()
                if again.status != 200 or kind != "text/event-stream":
                    raise LaneBroken(f"the upstream did not resume the stream (HTTP {again.status})")
                answer = await self._read_events(again, request_id, stream, peer)
        return answer

    async def _read_events(
        self, response: aiohttp.ClientResponse, request_id: int, stream: _Stream, peer: Peer | None
    ) -> dict[str, Any] | None:
        """Reads events until the answer (returned) or the stream's end (None), in chunks (an event may be far
        longer than a line reader's limit) and bounded in total over the resumed streams."""
        data: list[bytes] = []
        pending = b""
        async for chunk in response.content.iter_any():
            stream.size += len(chunk)
            if stream.size > MAX_ANSWER_BYTES:
                raise LaneBroken("the upstream's answer is too large")
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                line = line.rstrip(b"\r")
                if line.startswith(b"data:"):
                    data.append(line[5:].removeprefix(b" "))
                elif line.startswith(b"id:"):
                    event_id = line[3:].removeprefix(b" ")
                    if b"\0" not in event_id:  # the SSE spec ignores an id with NUL
                        stream.event_id = event_id[:1024].decode("utf-8", "replace")
                elif line.startswith(b"retry:"):
                    value = line[6:].strip()
                    if value.isdigit():
                        stream.retry_s = min(int(value[:9]) / 1000, MAX_RETRY_S)
                elif not line and data:
                    payload = b"\n".join(data)
                    data = []
                    if not payload:  # an event without data (the 2025-11-25 priming event: an id, `data:` empty)
                        continue  # is not dispatched (the SSE spec), so it is no message
                    message = orjson.loads(payload)
                    if not isinstance(message, dict):
                        continue
                    if "method" in message:
                        if "id" in message:  # a server-to-client request
                            await self._reply(message, peer)
                        elif peer is not None:
                            await _relay_notification(message, request_id, peer)
                        continue
                    if message.get("id") == request_id:
                        return _answer(message, request_id)
        return None

    async def _reply(self, request: dict[str, Any], peer: Peer | None) -> None:
        relayed = await peer.ask(request) if peer is not None else None
        answer = None
        if relayed is None and request.get("method") == "elicitation/create":
            answer = elicitation.answer(self._elicitation, request.get("params"))
        reply: dict[str, Any] = {"jsonrpc": "2.0", "id": request["id"]}
        if relayed is not None:
            reply.update(relayed)
        elif answer is not None:
            reply["result"] = answer
        else:
            reply["error"] = {
                "code": NOT_RELAYED,
                "message": "The gateway does not relay this request for a tools/call.",
            }
        body = orjson.dumps(reply)
        async with self._client().post(self.url, data=body, headers=self._request_headers()) as response:
            await response.read()


async def _relay_notification(message: dict[str, Any], request_id: int, peer: Peer) -> None:
    """The call's progress (under the client's token) and the upstream's log messages go to the client."""
    method, params = message.get("method"), message.get("params")
    if method == "notifications/progress":
        if peer.progress_token is None or not isinstance(params, dict) or params.get("progressToken") != request_id:
            return
        await peer.notify({**message, "params": {**params, "progressToken": peer.progress_token}})
    elif method == "notifications/message":
        await peer.notify(message)


def _answer(message: Any, request_id: int) -> dict[str, Any]:
    if not isinstance(message, dict) or message.get("id") != request_id:
        raise LaneBroken("the upstream's answer is not a JSON-RPC response to the call")
    error = message.get("error")
    if isinstance(error, dict):
        raise LaneRPCError(error)
    result = message.get("result")
    if not isinstance(result, dict) or not isinstance(result.get("content", []), list):
        raise LaneBroken("the upstream's answer has no tool result")
    return result
