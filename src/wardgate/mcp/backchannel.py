"""An upstream's server-to-client requests relayed to the downstream client, and a client's cancellations relayed
to the upstream, across replicas (decision 052).

An upstream that asks something during a ``tools/call`` (``sampling/createMessage``, ``elicitation/create``,
``roots/list``) asks it on that call's stream; when the downstream client declared the capability at initialize,
the gateway sends the request on the downstream call's response stream under an id it mints (``wg-`` and 128
random bits: never the upstream's id, not guessable) and waits, within the tool's timeout. The client answers with
a new POST, which a balancer may send to any replica: the replica that holds the id resolves it at once; another
one finds the holder in Redis (``<prefix>mcp:bc:id:<id>``: the holder's channel, the caller and its session) and
publishes the answer there. An answer from another principal or session, or for an id no replica waits on, is
refused the same way (the caller learns nothing about other sessions' ids). Without Redis, the workers of one
server on one host reach each other over Unix sockets (worker_peers.py: the id names the worker that minted it);
another replica cannot take the answer.

A client's ``notifications/cancelled`` for a call in flight cancels it on the replica that holds it: directly, or
through one broadcast channel every replica listens on (no Redis write per call), or without Redis offered to the
other workers on this host.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson

from wardgate.core.errors import WardgateError

if TYPE_CHECKING:
    import redis.asyncio as aioredis

    from wardgate.mcp.worker_peers import WorkerPeers

log = logging.getLogger("wardgate.mcp")
Send = Callable[[dict[str, Any]], Awaitable[None]]
ID_PREFIX = "wg-"
MAX_ID = 64
# the capabilities a client declared at initialize, as letters in its signed session id (sessions.py)
SAMPLING, ELICITATION, ELICITATION_URL, ROOTS = "s", "e", "u", "r"
CANCELLED_CODE = "cancelled"
NO_ANSWER = -32603  # what the upstream gets when its relayed request's call ended before the client answered


class CallCancelled(WardgateError):
    """The client cancelled the call (notifications/cancelled): the ledger's 499 and the audit's ``cancelled``."""

    status = 499
    type = "cancelled"
    code = CANCELLED_CODE


def capabilities_of(params: Any) -> str:
    """The letters of the capabilities an initialize request's params declare (sampling, elicitation, roots)."""
    caps = params.get("capabilities") if isinstance(params, dict) else None
    if not isinstance(caps, dict):
        return ""
    out = ""
    if isinstance(caps.get("sampling"), dict):
        out += SAMPLING
    elicit = caps.get("elicitation")
    if isinstance(elicit, dict):
        # an empty object is form mode (the spec's backwards-compatible reading); url only when named
        out += ELICITATION if not elicit or isinstance(elicit.get("form"), dict) else ""
        out += ELICITATION_URL if isinstance(elicit.get("url"), dict) else ""
    if isinstance(caps.get("roots"), dict):
        out += ROOTS
    return out


class Downstream:
    """One downstream tools/call in flight: who asked (principal and session), what its client declared, and where a
    message for its client goes (the call's response stream). The lane's ``Peer`` (lane.py)."""

    __slots__ = (
        "actor",
        "asks",
        "backchannel",
        "caps",
        "cancelled",
        "progress_token",
        "request_id",
        "send",
        "session",
        "task",
        "timeout_s",
    )

    def __init__(
        self, actor: str, session: str, request_id: Any, caps: str, send: Send | None, progress_token: Any = None
    ) -> None:
        self.actor, self.session, self.request_id, self.caps = actor, session, request_id, caps
        self.send = send
        self.progress_token = progress_token
        self.backchannel: Backchannel | None = None  # set by the virtual server that runs the call
        self.task: asyncio.Task[Any] | None = None  # set while the upstream call is awaited (cancellation)
        self.cancelled = False
        self.timeout_s = 60.0
        self.asks: set[asyncio.Task[dict[str, Any] | None]] = set()  # relays from outside the call's task

    async def ask_aside(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """``ask`` from another task than the call's (an SDK client session's callback: an SSE or stdio upstream's
        request, upstream.py): bounded by the call's timeout, and given up when the call ends (``end``). None: the
        policy answers."""
        if self.backchannel is None or not self.declares(request.get("method"), request.get("params")):
            return None
        task = asyncio.get_running_loop().create_task(self.ask(request))
        self.asks.add(task)
        try:
            done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
            if done and not task.cancelled():
                return task.result()
            return {"error": {"code": NO_ANSWER, "message": "The client did not answer during the call."}}
        finally:
            task.cancel()
            self.asks.discard(task)

    def end(self) -> None:
        """The call is over: relayed requests still waiting for the client are given up."""
        for task in self.asks:
            task.cancel()

    async def ask(self, request: dict[str, Any]) -> dict[str, Any] | None:
        method, params = request.get("method"), request.get("params")
        if self.backchannel is None or not isinstance(method, str) or not self.declares(method, params):
            return None  # the server's policy answers (elicitation.py)
        return await self.backchannel.ask(self, method, params)

    async def notify(self, message: dict[str, Any]) -> None:
        if self.send is not None:
            await self.send(message)

    async def progress(self, value: float, total: float | None, message: str | None) -> None:
        """The SDK client's progress callback (an SSE or stdio upstream), as a notification with the client's token."""
        params: dict[str, Any] = {"progressToken": self.progress_token, "progress": value}
        if total is not None:
            params["total"] = total
        if message is not None:
            params["message"] = message
        await self.notify({"jsonrpc": "2.0", "method": "notifications/progress", "params": params})

    def declares(self, method: Any, params: Any) -> bool:
        """Whether the client declared the capability ``method`` needs (and the call has a stream to ask on)."""
        if self.send is None:
            return False
        if method == "sampling/createMessage":
            return SAMPLING in self.caps
        if method == "elicitation/create":
            url = isinstance(params, dict) and params.get("mode") == "url"
            return (ELICITATION_URL if url else ELICITATION) in self.caps
        return method == "roots/list" and ROOTS in self.caps

    def started(self, timeout_s: float) -> None:
        """The upstream is about to be asked (in the current task, within ``timeout_s``)."""
        if self.cancelled:  # cancelled before the upstream was asked
            raise CallCancelled("The client cancelled the call.")
        self.timeout_s, self.task = timeout_s, asyncio.current_task()

    def taken_back(self) -> CallCancelled:
        """After the CancelledError that ``cancel`` caused: the task's cancellation is taken back (the client's, not
        the server's), and the call ends with CallCancelled."""
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return CallCancelled("The client cancelled the call.")

    def cancel(self) -> None:
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()


def _key(actor: str, session: str, request_id: Any) -> tuple[str, str, str]:
    return actor, session, str(request_id)  # the SDK's server may hand the id on as a string


class Backchannel:
    """The worker's relayed requests awaiting their answer, and its calls a client may cancel."""

    def __init__(
        self, redis: aioredis.Redis | None = None, prefix: str = "wg:", peers: WorkerPeers | None = None
    ) -> None:
        """``peers``: the other workers on this host (worker_peers.py), used without Redis."""
        self._redis = redis
        self._peers = peers if redis is None else None
        self._route = ""  # with peers: this worker's token and a dot, at the start of every id it mints
        self._prefix = prefix + "mcp:bc:"
        self._channel = self._prefix + "r:" + secrets.token_hex(8)  # this worker's answers
        self._pending: dict[str, tuple[asyncio.Future[dict[str, Any]], str, str]] = {}
        self._calls: dict[tuple[str, str, str], Downstream] = {}
        self._pubsub = redis.pubsub() if redis is not None else None
        self._reader: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._peers is not None and await self._peers.start(self._deliver):
            self._route = self._peers.token + "."
        if self._pubsub is not None:
            try:
                await self._pubsub.subscribe(self._channel, self._prefix + "cancel")
            except Exception as exc:  # noqa: BLE001 - Redis away: this worker takes only what reaches it directly
                log.warning("MCP backchannel: Redis subscription failed (%s)", type(exc).__name__)
                return
            self._reader = asyncio.get_running_loop().create_task(self._read(), name="mcp-backchannel")

    async def close(self) -> None:
        if self._peers is not None:
            await self._peers.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()

    # -- calls in flight (cancellation) -------------------------------------------------------------------------

    def track(self, down: Downstream) -> None:
        self._calls[_key(down.actor, down.session, down.request_id)] = down

    def untrack(self, down: Downstream) -> None:
        key = _key(down.actor, down.session, down.request_id)
        if self._calls.get(key) is down:
            del self._calls[key]
        down.end()

    async def cancel(self, actor: str, session: str, params: Any) -> None:
        """A client's notifications/cancelled: the call it names stops here, or on the replica that holds it."""
        request_id = params.get("requestId") if isinstance(params, dict) else None
        if isinstance(request_id, bool) or not isinstance(request_id, int | str) or len(str(request_id)) > 200:
            return
        if self._cancel_local(actor, session, request_id):
            return
        if self._route and self._peers is not None:  # the other workers on this host
            await self._peers.broadcast({"a": actor, "s": session, "i": request_id})
        if self._redis is not None:
            message = orjson.dumps({"a": actor, "s": session, "i": request_id})
            with contextlib.suppress(Exception):  # Redis away: the call runs to its end, as without Redis
                await self._redis.publish(self._prefix + "cancel", message)

    def _cancel_local(self, actor: str, session: str, request_id: Any) -> bool:
        down = self._calls.get(_key(actor, session, request_id))
        if down is None:
            return False
        down.cancel()
        return True

    # -- relayed requests ---------------------------------------------------------------------------------------

    async def ask(self, down: Downstream, method: str, params: Any) -> dict[str, Any]:
        """Sends ``method`` to the client on the call's stream and returns its answer (``result`` or ``error``).
        The caller bounds the wait (the tool's timeout)."""
        assert down.send is not None
        minted = ID_PREFIX + self._route + secrets.token_urlsafe(16)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[minted] = (future, down.actor, down.session)
        key = self._prefix + "id:" + minted
        try:
            if self._redis is not None:
                holder = orjson.dumps({"r": self._channel, "a": down.actor, "s": down.session})
                try:
                    await self._redis.set(key, holder, ex=max(1, math.ceil(down.timeout_s)))
                except Exception as exc:  # noqa: BLE001 - Redis away: only an answer that reaches this worker counts
                    log.warning("MCP backchannel: the relayed request is not shared (%s)", type(exc).__name__)
            request: dict[str, Any] = {"jsonrpc": "2.0", "id": minted, "method": method}
            if params is not None:
                request["params"] = params
            await down.send(request)
            return await future
        finally:
            self._pending.pop(minted, None)
            if self._redis is not None:
                with contextlib.suppress(Exception):
                    await self._redis.delete(key)

    async def answer(self, actor: str, session: str, message: dict[str, Any]) -> bool:
        """A client's JSON-RPC response: True when a relayed request of this principal and session waited for it
        (here or on another replica); False for anything else, which the caller refuses."""
        minted = message.get("id")
        if not isinstance(minted, str) or not minted.startswith(ID_PREFIX) or len(minted) > MAX_ID:
            return False
        if not well_formed(message):
            return False
        if minted in self._pending:
            return self._resolve(minted, actor, session, message)
        if self._route and self._peers is not None:  # the worker the id names, on this host
            token, dot, _ = minted[len(ID_PREFIX) :].partition(".")
            return bool(dot) and await self._peers.send(token, {"a": actor, "s": session, "m": message})
        if self._redis is None:
            return False
        try:
            raw = await self._redis.get(self._prefix + "id:" + minted)
            holder = orjson.loads(raw) if raw is not None else None
            if not isinstance(holder, dict) or holder.get("a") != actor or holder.get("s") != session:
                return False
            envelope = orjson.dumps({"a": actor, "s": session, "m": message})
            return int(await self._redis.publish(str(holder.get("r")), envelope)) > 0
        except Exception as exc:  # noqa: BLE001 - Redis away (or a damaged entry): not taken, never a 500
            log.warning("MCP backchannel: an answer was not routed (%s)", type(exc).__name__)
            return False

    def _resolve(self, minted: str, actor: str, session: str, message: dict[str, Any]) -> bool:
        waiting = self._pending.get(minted)
        if waiting is None or waiting[1] != actor or waiting[2] != session:
            return False
        future = waiting[0]
        if future.done():
            return False
        future.set_result(_reply_of(message))
        return True

    async def _read(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - Redis away: answers reach only the replica that waits
                log.warning("MCP backchannel: Redis subscription failed (%s)", type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            if message is None or message.get("type") != "message":
                continue
            try:
                await self._deliver(orjson.loads(message["data"]))
            except Exception as exc:  # noqa: BLE001 - one bad message never stops the reader
                log.warning("MCP backchannel: a message was not handled (%s)", type(exc).__name__)

    async def _deliver(self, data: Any) -> bool:
        """An answer or a cancellation from another worker or replica: True when it was for a call held here."""
        if not isinstance(data, dict) or not isinstance(data.get("a"), str) or not isinstance(data.get("s"), str):
            return False
        actor, session = data["a"], data["s"]
        if "m" in data:
            inner = data["m"]
            if not isinstance(inner, dict) or not isinstance(inner.get("id"), str) or not well_formed(inner):
                return False
            return self._resolve(inner["id"], actor, session, inner)
        return self._cancel_local(actor, session, data.get("i"))


def well_formed(message: dict[str, Any]) -> bool:
    """A JSON-RPC response: exactly one of an object ``result`` and an object ``error``."""
    return ("result" in message) != ("error" in message) and isinstance(
        message.get("result", message.get("error")), dict
    )


def _reply_of(message: dict[str, Any]) -> dict[str, Any]:
    """The part of a client's answer the upstream gets: its result, or a well-formed error."""
    result = message.get("result")
    if isinstance(result, dict) and "error" not in message:
        return {"result": result}
    error = message.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    out: dict[str, Any] = {
        "code": code if isinstance(code, int) and not isinstance(code, bool) else -32603,
        "message": str(error.get("message") or "The client did not answer.")[:2000],
    }
    if "data" in error:
        out["data"] = error["data"]
    return {"error": out}
