"""The MCP surface: ``/mcp/{virtual_server}`` (streamable HTTP) and ``/mcp/{virtual_server}/sse`` (the legacy SSE
transport), in front of the SDK's transports.

Before the SDK sees a request, the surface authenticates the caller (the same identities as LLM calls), bounds and
parses the message (malformed JSON-RPC gets a JSON-RPC error, an oversize one a 413), and checks the session id.
Streamable HTTP runs the SDK's session manager in stateless mode and issues its own signed session ids
(sessions.py), so any replica serves any request of a session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any
from urllib.parse import parse_qs

import orjson

from wardgate.api.asgi import Disconnected, Receive, Scope, Send, read_body
from wardgate.api.openai import request_meta
from wardgate.config.mcp import MCPConfig
from wardgate.config.secrets import SecretBox
from wardgate.core.errors import WardgateError
from wardgate.core.principal import Principal
from wardgate.core.runtime import Authenticate
from wardgate.mcp import fast
from wardgate.mcp.audit import actor_of
from wardgate.mcp.backchannel import Backchannel, capabilities_of
from wardgate.mcp.errors import SCOPE_KEY, UNAUTHORIZED
from wardgate.mcp.http_bits import drop, header, once, replay_body, send_plain, send_rpc_error
from wardgate.mcp.mounts import Mount, Mounts
from wardgate.mcp.policy import ToolPolicies
from wardgate.mcp.resume import ResumableResponse, owner_of, replay, version_of
from wardgate.mcp.sdk_stream import SESSION_SCOPE_KEY, SSE_SESSION
from wardgate.mcp.sessions import SessionClaims, SessionSigner
from wardgate.mcp.sse_relay import SSERelay
from wardgate.mcp.stored import effective
from wardgate.mcp.streams import StreamStore
from wardgate.mcp.upstream import Upstream
from wardgate.mcp.virtual import VirtualServer

log = logging.getLogger("wardgate.mcp")
SESSION_HEADER = b"mcp-session-id"
PARSE_ERROR, INVALID_REQUEST = -32700, -32600
KEEP_ALIVE_S = 5.0  # a followed stream that has nothing new sends a comment this often (and notices a gone client)


def _is_initialize(message: Any) -> bool:
    if isinstance(message, list):
        return any(_is_initialize(m) for m in message)
    return isinstance(message, dict) and message.get("method") == "initialize"


def _initialize_params(message: Any) -> Any:
    for m in message if isinstance(message, list) else [message]:
        if isinstance(m, dict) and m.get("method") == "initialize":
            return m.get("params")
    return None


class MCPSurface:
    def __init__(
        self,
        mounts: Mounts,
        config: MCPConfig,
        authenticate: Authenticate,
        sessions: SessionSigner,
        max_message_bytes: int,
        read_client_cert: Any = None,
        relay: SSERelay | None = None,
        streams: StreamStore | None = None,
        stream_limit_s: float = 300.0,
        backchannel: Backchannel | None = None,
    ) -> None:
        self.mounts = mounts  # the upstreams and virtual servers served now (the config file's and the admin API's)
        self._config = config
        self._authenticate = authenticate
        self._sessions = sessions
        self._max = max_message_bytes
        self._read_client_cert = read_client_cert
        self._relay = relay or SSERelay(None, "", 1)
        self._streams, self._stream_limit_s = streams, stream_limit_s  # Last-Event-ID resumption (resume.py)
        self._backchannel = backchannel or Backchannel()
        self.policies: ToolPolicies | None = None  # with the admin API's policies (manage_policies)
        self._stored_policies: Callable[[], Awaitable[list[tuple[str, Any]]]] | None = None
        self._policy_refresh_s = 5.0
        self._refresher: asyncio.Task[None] | None = None
        self._stored_servers: Callable[[], Awaitable[list[Any]]] | None = None  # with the admin API's servers
        self._box = SecretBox([])
        self._entries: list[Any] = []  # the admin API's servers and virtual servers, as last read

    @property
    def upstreams(self) -> Mapping[str, Upstream]:
        return self.mounts.upstreams

    @property
    def virtual_servers(self) -> Mapping[str, VirtualServer]:
        return {name: mount.vs for name, mount in self.mounts.mounts.items()}

    def manage_servers(self, stored: Callable[[], Awaitable[list[Any]]], box: SecretBox) -> None:
        self._stored_servers, self._box = stored, box

    def manage_policies(
        self, policies: ToolPolicies, stored: Callable[[], Awaitable[list[tuple[str, Any]]]], refresh_s: float
    ) -> None:
        self.policies, self._stored_policies, self._policy_refresh_s = policies, stored, refresh_s

    async def reload_managed(self, wait_s: float = 10.0) -> None:
        """Re-reads the admin API's tool policies, servers and virtual servers (at start, every refresh_s, and when
        a change is announced) and serves them: new upstreams start, replaced and removed ones drain (mounts.py)."""
        if self.policies is not None and self._stored_policies is not None:
            self.policies.replace_stored(await self._stored_policies())
        self._entries = await self._stored_servers() if self._stored_servers is not None else []
        await self.mounts.apply(effective(self._config, self._entries, self._box), wait_s)

    async def reconfigure(self, config: MCPConfig) -> None:
        """A config reload changed the file's ``mcp:`` (its hot keys, reload/plan.py): served through the same swap
        as the admin API's changes, so what is unchanged keeps its sessions and what was replaced or removed drains
        (its in-flight calls finish) before it closes."""
        self._config = config
        self.mounts.config = config
        try:
            await self.reload_managed()
        except Exception as exc:  # noqa: BLE001 - the store away: the file's change applies over the last known
            log.warning("MCP admin objects: re-read failed (%s); keeping the last known", type(exc).__name__)
            await self.mounts.apply(effective(config, self._entries, self._box))

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._policy_refresh_s)
            try:
                await self.reload_managed()
            except Exception as exc:  # noqa: BLE001 - the store away: keep serving the last known
                log.warning("MCP admin objects: re-read failed (%s); keeping the last known", type(exc).__name__)

    async def start(self, wait_s: float = 10.0) -> None:
        """Start-up waits (bounded) for the upstreams, so the first tools/list is complete; one that is down is
        retried in the background and its tools appear when it connects."""
        await self._backchannel.start()  # answers and cancellations relayed from other replicas
        await self.reload_managed(wait_s)
        if self._stored_policies is not None or self._stored_servers is not None:
            self._refresher = asyncio.get_running_loop().create_task(self._refresh(), name="mcp-admin-objects")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.mounts.close()
        await self._relay.close()
        await self._backchannel.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"].split("/")  # "", "mcp", name, [sse | messages]
        name = parts[2] if len(parts) > 2 else ""
        mount = self.mounts.mounts.get(name)  # a virtual server deleted in the admin API is gone from here at once
        if mount is None:
            await send_rpc_error(send, 404, INVALID_REQUEST, f"No virtual MCP server at {scope['path'][:200]}.")
            return
        rest = "/".join(parts[3:]).rstrip("/")
        if rest == "sse" and scope["method"] == "GET":  # a long-lived stream: not what a change waits for
            await self._route(mount, rest, scope, receive, send)
            return
        mount.busy += 1  # a replaced or removed virtual server drains: this request ends before it closes
        try:
            await self._route(mount, rest, scope, receive, send)
        finally:
            mount.leave()

    async def _route(self, mount: Mount, rest: str, scope: Scope, receive: Receive, send: Send) -> None:
        principal = await self._principal(scope, send)
        if principal is None:
            return
        scope[SCOPE_KEY] = principal
        if rest == "":
            await self._streamable(mount, principal, scope, receive, send)
        elif rest == "sse" and scope["method"] == "GET":
            await self._sse_stream(mount, scope, receive, send)
        elif rest == "messages" and scope["method"] == "POST":
            await self._sse_message(mount, principal, scope, receive, send)
        else:
            await send_rpc_error(send, 404, INVALID_REQUEST, f"No MCP endpoint at {scope['path'][:200]}.")

    async def _principal(self, scope: Scope, send: Send) -> Principal | None:
        credential, _, _, _ = request_meta(scope)
        cert = self._read_client_cert(scope) if self._read_client_cert is not None else None
        try:
            return await self._authenticate(credential, None, client_cert=cert)
        except WardgateError as exc:
            status = exc.status if exc.status in (401, 403, 503) else 401
            await send_rpc_error(send, status, UNAUTHORIZED, exc.message, [(b"www-authenticate", b"Bearer")])
            return None

    async def _streamable(self, mount: Mount, principal: Principal, scope: Scope, receive: Receive, send: Send) -> None:
        name, method = mount.vs.name, scope["method"]
        session_id = header(scope, SESSION_HEADER)
        claims = None
        if session_id is not None:
            claims = await self._session_ok(name, principal, session_id)
            if claims is None:
                await send_rpc_error(send, 404, INVALID_REQUEST, "Session not found.")
                return
        if method == "DELETE":
            if session_id is None:
                await send_rpc_error(send, 400, INVALID_REQUEST, "DELETE needs the Mcp-Session-Id header.")
                return
            assert claims is not None
            await self._sessions.delete(session_id, claims)
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        manager = mount.manager
        last_event_id = header(scope, b"last-event-id") if method == "GET" else None
        if last_event_id is not None and self._streams is not None:  # resuming a POST's stream (any replica)
            owner = owner_of(name, actor_of(principal), session_id)
            refused = await replay(
                self._streams, owner, last_event_id, receive, send, KEEP_ALIVE_S, self._stream_limit_s
            )
            if refused is not None:
                await send_rpc_error(send, refused[0], INVALID_REQUEST, refused[1])
            return
        if method != "POST":  # no standalone GET stream: a stateless server has nothing to push on it (spec: 405)
            await send_rpc_error(
                send, 405, INVALID_REQUEST, f"Method {method[:10]} is not allowed here.", [(b"allow", b"POST, DELETE")]
            )
            return
        length = header(scope, b"content-length")
        try:
            body = await read_body(receive, self._max, int(length) if length and length.isdigit() else None)
        except Disconnected:
            return
        except WardgateError:
            await send_rpc_error(send, 413, INVALID_REQUEST, f"The message is larger than {self._max} bytes.")
            return
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            await send_rpc_error(send, 400, PARSE_ERROR, "Parse error: the body is not valid JSON.")
            return
        if not isinstance(message, dict | list) or (isinstance(message, list) and not message):
            await send_rpc_error(send, 400, INVALID_REQUEST, "Invalid request: expected a JSON-RPC object.")
            return
        session, caps = (session_id, claims.capabilities) if session_id is not None and claims is not None else ("", "")
        if fast.eligible(scope, message):
            assert isinstance(message, dict)
            await fast.tools_call(mount.vs, principal, message, send, session, caps)
            return
        if isinstance(message, dict) and await self._back(principal, session, message, send):
            return
        if session:  # for the SDK's handlers: relays to the client and its cancellations (sdk_stream.py)
            scope[SESSION_SCOPE_KEY] = (session, caps)
        if _is_initialize(message) and session_id is None:
            declared = capabilities_of(_initialize_params(message))
            minted = self._sessions.mint(name, actor_of(principal), declared).encode("ascii")

            async def send_with_session(event: MutableMapping[str, Any]) -> None:
                if event["type"] == "http.response.start" and event["status"] < 300:
                    event = {**event, "headers": [*event.get("headers", []), (SESSION_HEADER, minted)]}
                await send(event)

            await manager.handle_request(scope, replay_body(body, receive), send_with_session)
            return
        if self._streams is None or session_id is None:  # resumable: a stream of a session (resume.py)
            await manager.handle_request(scope, replay_body(body, receive), send)
            return
        owner = owner_of(name, actor_of(principal), session_id)
        resumable = ResumableResponse(
            self._streams, owner, version_of(scope), send, replay_body(body, receive), self._stream_limit_s
        )
        try:
            await manager.handle_request(scope, resumable.receive, resumable.send)
        finally:
            await resumable.finish()

    async def _session_ok(self, name: str, principal: Principal, session_id: str) -> SessionClaims | None:
        claims = self._sessions.verify(session_id)
        if claims is None or claims.virtual_server != name or claims.principal != actor_of(principal):
            return None
        return None if await self._sessions.deleted(session_id) else claims

    async def _back(self, principal: Principal, session: str, message: dict[str, Any], send: Send) -> bool:
        """A client's answer to a relayed request, or its cancellation of a call (backchannel.py): 202 when taken;
        an answer no relayed request of this principal and session waits for is a 400 with a JSON-RPC error (the
        streamable HTTP transport's answer to a response it cannot accept). False: the SDK's to handle."""
        if "method" not in message:
            if await self._backchannel.answer(actor_of(principal), session, message):
                await send_plain(send, 202, b"")
            else:
                await send_rpc_error(send, 400, INVALID_REQUEST, "No request of this session waits for this response.")
            return True
        if message.get("method") == "notifications/cancelled" and "id" not in message:
            await self._backchannel.cancel(actor_of(principal), session, message.get("params"))
            await send_plain(send, 202, b"")
            return True
        return False

    async def _sse_stream(self, mount: Mount, scope: Scope, receive: Receive, send: Send) -> None:
        """The legacy transport: one SSE stream per client, its messages POSTed beside it. The stream lives in this
        replica (the SDK's transport); with Redis, a message POSTed to another replica is relayed here
        (sse_relay.py), so no stickiness is needed."""
        vs = mount.vs
        server, transport, principal = vs.server, mount.sse, scope[SCOPE_KEY]
        opened: list[str] = []

        async def deliver(headers: list[tuple[bytes, bytes]], body: bytes) -> None:
            scope = _message_scope(vs.name, opened[0], headers, principal)
            if not await self._sse_answer(principal, opened[0], body, drop):
                await transport.handle_post_message(scope, once(body), drop)

        async def watch(event: MutableMapping[str, Any]) -> None:
            if not opened and event["type"] == "http.response.body":
                found = _ENDPOINT.search(event.get("body", b""))
                if found is not None:
                    opened.append(found.group(1).decode("ascii"))
                    await self._relay.opened(opened[0], actor_of(principal), deliver)
            await send(event)

        try:
            async with transport.connect_sse(scope, receive, watch) as (read, write):
                await server.run(read, write, server.create_initialization_options())
        finally:
            if opened:
                await self._relay.closed(opened[0])

    async def _sse_message(
        self, mount: Mount, principal: Principal, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """A legacy-SSE message: handed to the SDK's transport when this replica holds the session (for the
        principal that opened it), else relayed to the replica that does; anything else is the SDK's 404."""
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        session_id = (query.get("session_id") or [""])[0][:64]
        held = self._relay.held(session_id)
        if held is not None and held.actor != actor_of(principal):
            await send_plain(send, 404, b"Could not find session")
            return
        length = header(scope, b"content-length")
        try:
            body = await read_body(receive, self._max, int(length) if length and length.isdigit() else None)
        except Disconnected:
            return
        except WardgateError:
            await send_rpc_error(send, 413, INVALID_REQUEST, f"The message is larger than {self._max} bytes.")
            return
        if held is not None or not self._relay.shared:
            if held is None or not await self._sse_answer(principal, session_id, body, send):
                scope[SESSION_SCOPE_KEY] = (SSE_SESSION + session_id, None)  # relays to this client (sdk_stream.py)
                await mount.sse.handle_post_message(scope, replay_body(body, receive), send)
            return
        if await self._relay.forward(session_id, actor_of(principal), list(scope["headers"]), body):
            await send_plain(send, 202, b"Accepted")
        else:
            await send_plain(send, 404, b"Could not find session")

    async def _sse_answer(self, principal: Principal, session_id: str, body: bytes, send: Send) -> bool:
        """A legacy-SSE client's answer to a request relayed to it (backchannel.py): taken here, never handed to the
        SDK's session (which did not send the request). False: not such an answer, the SDK's message to handle."""
        if b'"wg-' not in body:  # every relayed request's id starts so: the common message costs no parse here
            return False
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError:
            return False
        if not isinstance(message, dict) or "method" in message:
            return False
        if await self._backchannel.answer(actor_of(principal), SSE_SESSION + session_id, message):
            await send_plain(send, 202, b"Accepted")
        else:
            await send_rpc_error(send, 400, INVALID_REQUEST, "No request of this session waits for this response.")
        return True


_ENDPOINT = re.compile(rb"session_id=([0-9a-f]{32})")


def _message_scope(name: str, session_id: str, headers: list[tuple[bytes, bytes]], principal: Principal) -> Scope:
    return {
        "type": "http",
        "method": "POST",
        "path": f"/mcp/{name}/messages/",
        "raw_path": f"/mcp/{name}/messages/".encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": f"session_id={session_id}".encode(),
        "headers": headers,
        "server": ("127.0.0.1", 0),
        "client": ("127.0.0.1", 0),
        SCOPE_KEY: principal,
        SESSION_SCOPE_KEY: (SSE_SESSION + session_id, None),  # relays to this client (sdk_stream.py)
    }
