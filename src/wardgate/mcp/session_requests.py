"""What an upstream asks the client on the SDK's client session (``sampling/createMessage``, ``elicitation/create``,
``roots/list``): the session's callbacks.

An SSE or stdio upstream (and a streamable HTTP one outside the direct lane) sends its requests on the one session
the worker holds for every caller, and nothing in such a request names the call that caused it. It is relayed to a
downstream client (backchannel.py, under an id the gateway mints, the answer taken on any replica) only when it can
be about one call: while exactly one request is in flight on the session and it is a ``tools/call`` whose client
declared the capability. Otherwise (no request in flight, several, or a client that did not declare it) the
server's policy answers, as it does for every caller: ``elicitation`` (elicitation.py) for an elicitation, JSON-RPC
error -32601 for sampling and roots. Log messages follow the same rule (relayed, else dropped).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import mcp_types as types

from wardgate.mcp import elicitation

if TYPE_CHECKING:
    from wardgate.mcp.backchannel import Downstream

UPSTREAM_ERROR = -32603
M = TypeVar(
    "M", types.CreateMessageResult, types.CreateMessageResultWithTools, types.ElicitResult, types.ListRootsResult
)


class SessionRequests:
    """One upstream session's requests in flight, and the callbacks that answer what the upstream asks on it."""

    def __init__(self, policy: str) -> None:
        self._policy = policy  # the server's `elicitation` policy
        self._on_session: dict[int, Downstream | None] = {}  # request in flight → its call's client (tools/call)
        self._keys = itertools.count()

    @contextlib.contextmanager
    def in_flight(self, peer: Downstream | None = None) -> Iterator[None]:
        """Around every request on the session; ``peer`` for a tools/call that has a downstream client."""
        key = next(self._keys)
        self._on_session[key] = peer
        try:
            yield
        finally:
            del self._on_session[key]

    async def _relayed(self, method: str, params: Any) -> dict[str, Any] | None:
        """The client's answer (``result`` or ``error``); None: the server's policy answers."""
        peer = self._sole()
        if peer is None:
            return None
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            request["params"] = params.model_dump(mode="json", by_alias=True, exclude_none=True)
        return await peer.ask_aside(request)

    def _sole(self) -> Downstream | None:
        return next(iter(self._on_session.values())) if len(self._on_session) == 1 else None

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        """A log message on the session reaches the caller of the one call in flight (as a streamable HTTP
        upstream's, sent on the call's stream, does); otherwise it is dropped."""
        peer = self._sole()
        if peer is not None:
            message = params.model_dump(mode="json", by_alias=True, exclude_none=True)
            await peer.notify({"jsonrpc": "2.0", "method": "notifications/message", "params": message})

    async def sampling(
        self, context: Any, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        answer = await self._relayed("sampling/createMessage", params)
        if answer is None:
            return not_relayed()
        result = answer.get("result")
        if result is None:
            return _error_of(answer)
        if isinstance(result.get("content"), list):  # a sampling result with tool use
            return _valid(types.CreateMessageResultWithTools, result)
        return _valid(types.CreateMessageResult, result)

    async def elicitation(
        self, context: Any, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        answer = await self._relayed("elicitation/create", params)
        if answer is None:
            asked = params.model_dump(mode="json", by_alias=True, exclude_none=True)
            decided = elicitation.answer(self._policy, asked)
            if decided is None:
                refused = "The gateway does not answer elicitation."
                return types.ErrorData(code=elicitation.NOT_ANSWERED, message=refused)
            return types.ElicitResult.model_validate(decided)
        result = answer.get("result")
        return _error_of(answer) if result is None else _valid(types.ElicitResult, result)

    async def roots(self, context: Any) -> types.ListRootsResult | types.ErrorData:
        answer = await self._relayed("roots/list", None)
        if answer is None:
            return not_relayed()
        result = answer.get("result")
        return _error_of(answer) if result is None else _valid(types.ListRootsResult, result)


def not_relayed() -> types.ErrorData:
    """Sampling and roots the gateway cannot relay: it has no model and no roots of its own."""
    return types.ErrorData(code=elicitation.NOT_ANSWERED, message="The gateway does not relay this request here.")


def _valid(kind: type[M], result: dict[str, Any]) -> M | types.ErrorData:
    """The client's result as the SDK's model; one that is not valid is an error for the upstream, never a crash."""
    try:
        return kind.model_validate(result)
    except ValueError:
        return types.ErrorData(code=types.INVALID_PARAMS, message="The client's answer is not a valid result.")


def _error_of(answer: dict[str, Any]) -> types.ErrorData:
    error = answer.get("error")
    error = error if isinstance(error, dict) else {}
    code = error.get("code")
    return types.ErrorData(
        code=code if isinstance(code, int) and not isinstance(code, bool) else UPSTREAM_ERROR,
        message=str(error.get("message", ""))[:2000],
        data=error.get("data"),
    )
